"""A :class:`~native_doctor.binary.ByteSource` over a file on disk (positional reads, no mmap).

Only regular files are opened: a named pipe or a device planted where a library or a RECORD is
expected would block a plain ``open`` forever (a FIFO waits for a writer) or stream without end
(``/dev/zero``). :func:`open_regular` opens without blocking and checks the type of what it opened.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

__all__ = ["FileSource", "NotRegularFileError", "open_regular", "read_regular", "read_regular_status"]


class NotRegularFileError(OSError):
    """The path names a FIFO, a device, a socket or a directory, not a regular file."""


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def open_regular(path: str | Path) -> io.FileIO:
    """Open ``path`` for unbuffered binary reading if it is a regular file.

    The file is opened with ``O_NONBLOCK`` (so a FIFO cannot block the open) and its type is
    checked on the open descriptor (so it cannot be swapped between a check and the open).

    :raises NotRegularFileError: it is not a regular file (nothing was read from it).
    :raises OSError: it cannot be opened.
    """
    flags = (
        os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    )
    descriptor = os.open(path, flags)
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"{path}: {_kind(mode)}, not read")
        return io.FileIO(descriptor, "rb", closefd=True)
    except BaseException:
        os.close(descriptor)
        raise


def read_regular(path: str, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file at ``path``, read in one call of the size the
    file has (no buffer of ``limit`` bytes for a small file; thousands of files per run).

    :raises NotRegularFileError: it is not a regular file (nothing was read from it).
    :raises OSError: it cannot be opened or read.
    """
    return read_regular_status(path, limit)[0]


def read_regular_status(path: str, limit: int) -> tuple[bytes, os.stat_result]:
    """:func:`read_regular`, and the state of the file read, taken on the open descriptor before
    reading (no ``stat`` of the path besides: the state of exactly the file read)."""
    descriptor = os.open(path, _FLAGS)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise NotRegularFileError(f"{path}: {_kind(status.st_mode)}, not read")
        wanted = min(status.st_size + 1, limit)  # one more: a file that grew shows it
        data = os.read(descriptor, wanted)  # a regular file: short only at its end
        if len(data) == wanted < limit:
            data += os.read(descriptor, limit - wanted)  # it grew since fstat
        return data, status
    finally:
        os.close(descriptor)


class FileSource:
    """Random-access reads of one regular file; use as a context manager to close it."""

    __slots__ = ("_file", "_size")

    def __init__(self, path: str | Path) -> None:
        self._file = open_regular(path)
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
