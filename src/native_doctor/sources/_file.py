"""A :class:`~native_doctor.binary.ByteSource` over a file on disk (positional reads, no mmap)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["FileSource"]


class FileSource:
    """Random-access reads of one file; use as a context manager to close it."""

    __slots__ = ("_file", "_size")

    def __init__(self, path: str | Path) -> None:
        self._file = Path(path).open("rb", buffering=0)  # noqa: SIM115 - closed by close()/__exit__
        self._size = self._file.seek(0, 2)

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length <= 0 or offset >= self._size:
            return b""
        self._file.seek(offset)
        return self._file.read(min(length, self._size - offset)) or b""

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
