"""Reading regular files only: a FIFO or a directory planted where a file is expected is refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from native_doctor.sources._file import NotRegularFileError, read_regular


@pytest.mark.parametrize("size", [0, 1, 10, 5000], ids=lambda n: f"{n}-bytes")
@pytest.mark.parametrize("limit", [1, 11, 10**6], ids=lambda n: f"limit-{n}")
def test_read_regular_reads_at_most_the_limit(tmp_path: Path, size: int, limit: int) -> None:
    path = tmp_path / "file.py"
    path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    assert read_regular(str(path), limit) == path.read_bytes()[:limit]


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_read_regular_refuses_what_is_not_a_regular_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "module.py"
    if kind == "fifo":
        os.mkfifo(path)  # a plain open would wait for a writer forever
    else:
        path.mkdir()
    with pytest.raises(NotRegularFileError, match="not read"):
        read_regular(str(path), 100)
