"""Bounded random access to the bytes of one binary.

Readers never see files or zip archives: they see a :class:`ByteSource`, something that can
return the bytes at an offset and knows its size. The sources layer supplies implementations
(a file on disk, a member of a wheel decompressed on demand); this module has the in-memory one
and :class:`View`, the bounds-checked cursor every reader parses with.
"""

from __future__ import annotations

import struct
from typing import Protocol

from native_doctor.errors import BinaryFormatError

__all__ = ["MAX_STRING", "ByteSource", "BytesSource", "View"]

#: Longest NUL-terminated string a reader accepts (library names, paths, symbol versions).
MAX_STRING = 4096


class ByteSource(Protocol):
    """Random-access, read-only bytes of one file."""

    @property
    def size(self) -> int:
        """Total size in bytes."""
        ...

    def read_at(self, offset: int, length: int) -> bytes:
        """Return up to ``length`` bytes at ``offset`` (fewer only at the end of the data)."""
        ...


class BytesSource:
    """A :class:`ByteSource` over bytes already in memory."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._data = bytes(data)

    @property
    def size(self) -> int:
        return len(self._data)

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            return b""
        return self._data[offset : offset + length]


class View:
    """Bounds-checked reads from a :class:`ByteSource`, optionally shifted by a base offset.

    A fat Mach-O slice is a ``View`` with ``base`` at the slice's offset. Every read that would
    leave ``[base, base + limit)`` raises :class:`BinaryFormatError` naming what was being read.
    """

    __slots__ = ("base", "limit", "source")

    def __init__(self, source: ByteSource, base: int = 0, limit: int | None = None) -> None:
        total = source.size
        if base < 0 or base > total:
            raise BinaryFormatError(f"slice offset {base} is outside the file ({total} bytes)", offset=base)
        self.source = source
        self.base = base
        self.limit = total - base if limit is None else limit
        if self.limit < 0 or base + self.limit > total:
            raise BinaryFormatError(
                f"slice [{base}, {base + self.limit}) is outside the file ({total} bytes)", offset=base
            )

    def sub(self, offset: int, length: int, what: str) -> View:
        """A view of ``length`` bytes at ``offset`` (relative to this view)."""
        self._check(offset, length, what)
        return View(self.source, self.base + offset, length)

    def bytes(self, offset: int, length: int, what: str) -> bytes:
        """Exactly ``length`` bytes at ``offset``."""
        self._check(offset, length, what)
        data = self.source.read_at(self.base + offset, length)
        if len(data) != length:
            raise BinaryFormatError(f"{what}: short read at offset {offset}", offset=self.base + offset)
        return data

    def unpack(self, fmt: str | struct.Struct, offset: int, what: str) -> tuple[int, ...]:
        """``struct.unpack`` at ``offset``; ``fmt`` must carry its byte-order prefix."""
        st = fmt if isinstance(fmt, struct.Struct) else struct.Struct(fmt)
        return st.unpack(self.bytes(offset, st.size, what))

    def cstring(self, offset: int, what: str, *, max_length: int = MAX_STRING) -> str:
        """The NUL-terminated string at ``offset``, decoded leniently (UTF-8, bad bytes as \\xNN escapes)."""
        if offset < 0 or offset >= self.limit:
            raise BinaryFormatError(f"{what}: string offset {offset} outside the data", offset=offset)
        chunk = self.source.read_at(self.base + offset, min(max_length + 1, self.limit - offset))
        end = chunk.find(b"\0")
        if end < 0:
            raise BinaryFormatError(f"{what}: unterminated string at offset {offset}", offset=offset)
        return chunk[:end].decode("utf-8", "backslashreplace")

    def _check(self, offset: int, length: int, what: str) -> None:
        if offset < 0 or length < 0 or offset + length > self.limit:
            raise BinaryFormatError(
                f"{what}: bytes [{offset}, {offset + length}) are outside the data ({self.limit} bytes)",
                offset=self.base + max(offset, 0),
            )
