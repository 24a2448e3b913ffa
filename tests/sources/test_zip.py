"""ZipMemberSource: random access into stored and deflated members equals the plain bytes."""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native_doctor.errors import InvalidArchiveError, ReadLimitError
from native_doctor.sources._archive import InflationBudget
from native_doctor.sources._zip import PREFIX_LIMIT, WINDOW_LIMIT, ZipMemberSource

DATA = os.urandom(3 << 20) + bytes(range(256)) * 4096


@pytest.fixture(scope="module", params=[zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def archive(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    path = tmp_path_factory.mktemp("zip") / "a.zip"
    with zipfile.ZipFile(path, "w", compression=request.param) as out:
        out.writestr("pad.txt", b"x" * 1000)
        out.writestr("data.bin", DATA)
    return zipfile.ZipFile(path)


@settings(max_examples=60, deadline=None)
@given(reads=st.lists(st.tuples(st.integers(-10, len(DATA) + 10), st.integers(0, 70000)), max_size=8))
def test_random_reads_match_the_member(archive: zipfile.ZipFile, reads: list[tuple[int, int]]) -> None:
    source = ZipMemberSource(archive, archive.getinfo("data.bin"))
    assert source.size == len(DATA)
    for offset, length in reads:
        expected = DATA[offset : offset + length] if offset >= 0 else b""
        assert source.read_at(offset, length) == expected


def test_deflated_member_is_decompressed_only_as_far_as_asked(archive: zipfile.ZipFile) -> None:
    info = archive.getinfo("data.bin")
    source = ZipMemberSource(archive, info)
    source.read_at(0, 8)
    if info.compress_type == zipfile.ZIP_DEFLATED:
        assert 8 <= source.inflated_bytes < len(DATA) // 10
    source.close()


def test_truncated_archive_member_raises_project_error(tmp_path: Path) -> None:
    path = tmp_path / "t.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.writestr("data.bin", os.urandom(1 << 20))
    with zipfile.ZipFile(path) as good:
        info = good.getinfo("data.bin")
    blob = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len("data.bin") + 100
    blob[start : start + 50000] = bytes(50000)  # corrupt the deflate stream
    path.write_bytes(bytes(blob))
    with zipfile.ZipFile(path) as broken:
        source = ZipMemberSource(broken, broken.getinfo("data.bin"))
        with pytest.raises(InvalidArchiveError):
            source.read_at((1 << 20) - 10, 10)


# --- reads past the kept prefix (issue 8: llvmlite's 54.7 MB .rdata read came back short) ----------

_BLOCK = 4096


def _counting_bytes(size: int) -> bytes:
    """``size`` bytes where every 4 KiB block repeats its own index: any range is checkable."""
    return b"".join(struct.pack("<Q", n) * (_BLOCK // 8) for n in range(size // _BLOCK))


@pytest.fixture(scope="module")
def big_member(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = _counting_bytes(PREFIX_LIMIT + WINDOW_LIMIT + (8 << 20))
    path = tmp_path_factory.mktemp("big") / "big.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        out.writestr("lib.dll", data)
    return path, data


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        pytest.param(-(1 << 20), 1 << 20, id="last-MiB"),
        pytest.param(PREFIX_LIMIT - (8 << 20), 55 << 20, id="54.7MB-across-the-prefix-end"),
        pytest.param(PREFIX_LIMIT + (1 << 20), 20 << 20, id="middle-longer-than-the-window"),
        pytest.param(0, PREFIX_LIMIT + WINDOW_LIMIT + (8 << 20), id="whole-member"),
    ],
)
def test_a_read_past_the_prefix_returns_the_whole_range(
    big_member: tuple[Path, bytes], offset: int, length: int
) -> None:
    path, data = big_member
    start = offset % len(data)
    with zipfile.ZipFile(path) as archive:
        source = ZipMemberSource(archive, archive.getinfo("lib.dll"))
        source.read_at(len(data) - 16, 16)  # inflate to the end first: the range must come back anyway
        got = source.read_at(start, length)
        assert len(got) == min(length, len(data) - start)
        assert got == data[start : start + length]
        assert source.read_at(start + 5, 3) == data[start + 5 : start + 8]  # and again, in the middle


def test_a_member_shorter_than_its_declared_size_raises(tmp_path: Path) -> None:
    path = tmp_path / "short.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as out:
        out.writestr("lib.so", b"\x7fELF" + bytes(1 << 16))
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("lib.so")
        info.file_size += 1000  # the central directory claims more than the stream holds
        source = ZipMemberSource(archive, info)
        with pytest.raises(InvalidArchiveError, match="before its declared size"):
            source.read_at(1 << 15, 1 << 16)


def test_the_inflation_budget_stops_a_read(big_member: tuple[Path, bytes]) -> None:
    path, data = big_member
    budget = InflationBudget(8 << 20)
    with zipfile.ZipFile(path) as archive:
        source = ZipMemberSource(archive, archive.getinfo("lib.dll"), budget)
        assert source.read_at(0, 4096) == data[:4096]
        with pytest.raises(ReadLimitError, match=r"stopped reading at lib\.dll.*: lib\.dll$"):
            source.read_at(len(data) - 10, 10)
    assert budget.skipped == ["lib.dll"]
