"""ZipMemberSource: random access into stored and deflated members equals the plain bytes."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native_doctor.errors import InvalidArchiveError
from native_doctor.sources._zip import ZipMemberSource

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
