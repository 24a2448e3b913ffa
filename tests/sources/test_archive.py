"""The archive layer: stdlib failures become InvalidArchiveError, budgets stop reads; and a fuzz
campaign over mutated wheels and zip sdists (longer with ``--hypothesis-profile=hostile``)."""

from __future__ import annotations

import contextlib
import lzma
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _hostile import ELF_HEADER, lzma_member, plain, wheel_members, write_zip
from native_doctor.deps import infer
from native_doctor.deps.report import _sdist_texts
from native_doctor.errors import InvalidArchiveError, NativeDoctorError, ReadLimitError
from native_doctor.sources._archive import InflationBudget, archive_error, archive_errors, read_text
from native_doctor.sources.wheel import read_wheel


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        pytest.param(zlib.error("invalid block type"), "corrupt deflate stream", id="zlib"),
        pytest.param(lzma.LZMAError("Corrupt input data"), "corrupt LZMA stream", id="lzma"),
        pytest.param(RuntimeError("password required"), "encrypted member", id="encrypted"),
        pytest.param(NotImplementedError("method 99"), "unsupported compression method", id="method"),
        pytest.param(
            UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid"),
            "a member name is not valid UTF-8",
            id="name",
        ),
        pytest.param(struct.error("unpack requires 4 bytes"), "truncated archive structure", id="struct"),
        pytest.param(zipfile.BadZipFile("Bad CRC-32"), "corrupt zip structure", id="badzip"),
    ],
)
def test_each_stdlib_failure_gets_its_reason(exc: Exception, reason: str) -> None:
    error = archive_error("a.whl: x.so", exc)
    assert isinstance(error, InvalidArchiveError)
    assert str(error).startswith(f"a.whl: x.so: {reason}")


def test_the_projects_own_errors_pass_through_unchanged() -> None:
    with pytest.raises(ReadLimitError), archive_errors("x"):
        raise ReadLimitError("budget")
    with pytest.raises(InvalidArchiveError, match=r"^inner$"), archive_errors("outer"):
        raise InvalidArchiveError("inner")


def test_a_long_reason_is_cut() -> None:
    assert len(str(archive_error("x", OSError("y" * 100_000)))) < 300


def test_the_budget_is_shared_and_remembers_what_it_stopped() -> None:
    budget = InflationBudget(100)
    budget.spend("a", 60)
    with pytest.raises(ReadLimitError, match=r"stopped reading at b .*1 member .*: b$"):
        budget.spend("b", 60)
    with pytest.raises(ReadLimitError, match=r"stopped reading at b .*2 members .*: b, c$"):
        budget.spend("c", 1)  # once spent, every further read stops at once
    assert budget.spent and budget.skipped == ["b", "c"]


def test_the_budget_grows_with_the_archive_above_a_floor() -> None:
    small, large = InflationBudget.for_archive(1000), InflationBudget.for_archive(1 << 30)
    assert small.limit == 256 << 20 and large.limit == 50 << 30


def test_text_members_are_read_no_further_than_the_limit(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "t.zip", [plain("big.txt", b"a" * 5000)])
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("big.txt")
        assert read_text(archive, info, limit=100, truncate=True) == "a" * 100
        with pytest.raises(InvalidArchiveError, match="larger than 100 bytes"):
            read_text(archive, info, limit=100)


# --- fuzz: any mutation of a wheel or a zip sdist gives a result or the project's error -----------


def _base_wheel() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        extra = [
            plain("demo/_x.so", ELF_HEADER + bytes(300)),
            lzma_member("demo/_y.so", ELF_HEADER + bytes(64)),
        ]
        path = write_zip(Path(tmp) / "demo-1.0-py3-none-linux_x86_64.whl", wheel_members("demo", extra))
        return path.read_bytes()


def _base_sdist() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        members = [
            plain("demo-1.0/pyproject.toml", b"[build-system]\nrequires = ['meson-python']\n"),
            plain("demo-1.0/meson.build", b"project('d', 'c')\ndependency('zlib')\n"),
            plain("demo-1.0/PKG-INFO", b"Metadata-Version: 2.1\nName: demo\n"),
        ]
        return write_zip(Path(tmp) / "demo-1.0.zip", members).read_bytes()


WHEEL_BYTES = _base_wheel()
SDIST_BYTES = _base_sdist()


def mutations(base: bytes) -> st.SearchStrategy[bytes]:
    """``base`` with a few bytes overwritten, and possibly truncated."""
    edits = st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255)), min_size=1, max_size=8)
    cut = st.integers(len(base) // 2, len(base))

    def apply(changes: list[tuple[int, int]], end: int) -> bytes:
        data = bytearray(base)
        for position, value in changes:
            data[position] = value
        return bytes(data[:end])

    return st.builds(apply, edits, cut)


@given(data=mutations(WHEEL_BYTES))
def test_fuzz_a_mutated_wheel_reads_or_raises_the_projects_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo-1.0-py3-none-linux_x86_64.whl"
        path.write_bytes(data)
        try:
            artifact = read_wheel(path, deep=True, verify_record=True)
        except NativeDoctorError:
            return
        assert artifact.name == "demo"


@given(data=mutations(SDIST_BYTES))
def test_fuzz_a_mutated_zip_sdist_reads_or_raises_the_projects_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo-1.0.zip"
        path.write_bytes(data)
        for read in (_sdist_texts, infer.read_sdist):
            with contextlib.suppress(NativeDoctorError):
                read(path)
