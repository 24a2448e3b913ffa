"""Random access to one member of a zip archive without extracting it.

:mod:`zipfile` reads members as forward-only streams: seeking backwards in a deflated member
restarts decompression from the start. Binary readers jump around (ELF: header, then the dynamic
segment far into the file, then string tables near the start), so :class:`ZipMemberSource`
gives them random access at the cost of a *prefix cache*: a deflated member is decompressed
forward, once, only as far as the furthest byte asked for, and the bytes are kept. A stored
(uncompressed) member needs no cache: reads go straight to its bytes in the archive.
See docs/design.md ("Reading wheel members") for the measurements behind this.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from typing import IO

from native_doctor.errors import InvalidArchiveError

__all__ = ["ZipMemberSource"]

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_MAGIC = b"PK\x03\x04"
#: Decompress at least this much at a time once past the first read (fewer Python-level calls).
_CHUNK = 1 << 20
#: The first read of a member (its magic number) decompresses only this much.
_FIRST_CHUNK = 1 << 14


class ZipMemberSource:
    """A :class:`~native_doctor.binary.ByteSource` over one member of an open :class:`zipfile.ZipFile`."""

    __slots__ = ("_archive", "_cache", "_data_offset", "_info", "_stream")

    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        self._archive = archive
        self._info = info
        self._cache = bytearray()
        self._stream: IO[bytes] | None = None
        self._data_offset: int | None = None

    @property
    def size(self) -> int:
        return self._info.file_size

    @property
    def cached_bytes(self) -> int:
        """How many bytes were decompressed so far (for performance accounting)."""
        return len(self._cache) if self._data_offset is None else 0

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        length = min(length, self.size - offset)
        if self._info.compress_type == zipfile.ZIP_STORED and not self._info.flag_bits & 0x1:
            return self._read_stored(offset, length)
        self._fill(offset + length)
        return bytes(self._cache[offset : offset + length])

    def close(self) -> None:
        """Release the decompression stream and the cache."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._cache = bytearray()

    def _read_stored(self, offset: int, length: int) -> bytes:
        fp = self._archive.fp
        if fp is None:
            raise InvalidArchiveError("the archive is closed")
        if self._data_offset is None:
            self._data_offset = self._locate_data(fp)
        fp.seek(self._data_offset + offset)
        data = fp.read(length)
        if len(data) != length:
            raise InvalidArchiveError(f"{self._info.filename}: member data is truncated")
        return data

    def _locate_data(self, fp: IO[bytes]) -> int:
        """Offset of the member's data: after its local header, whose name/extra lengths may differ."""
        fp.seek(self._info.header_offset)
        header = fp.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_MAGIC:
            raise InvalidArchiveError(f"{self._info.filename}: bad local file header")
        fields = _LOCAL_HEADER.unpack(header)
        name_length, extra_length = fields[-2], fields[-1]
        return self._info.header_offset + _LOCAL_HEADER.size + name_length + extra_length

    def _fill(self, end: int) -> None:
        if len(self._cache) >= end:
            return
        if self._stream is None:
            try:
                self._stream = self._archive.open(self._info)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError) as exc:
                raise InvalidArchiveError(f"{self._info.filename}: cannot read member: {exc}") from exc
        want = end - len(self._cache)
        want = max(want, _CHUNK if self._cache else _FIRST_CHUNK)
        try:
            while len(self._cache) < end:
                block = self._stream.read(want)
                if not block:
                    break
                self._cache += block
                want = max(end - len(self._cache), _CHUNK)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            raise InvalidArchiveError(f"{self._info.filename}: cannot decompress member: {exc}") from exc
