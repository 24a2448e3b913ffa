"""Random access to one member of a zip archive without extracting it.

:mod:`zipfile` reads members as forward-only streams: seeking backwards in a deflated member
restarts decompression from the start. Binary readers jump around (ELF: header, then the dynamic
segment far into the file, then string tables near the start), so :class:`ZipMemberSource`
gives them random access with bounded memory:

* a stored member is read in place, straight from the archive;
* a deflated member is inflated forward, once, only as far as the furthest byte asked for.
  The first ``PREFIX_LIMIT`` bytes (where headers, string and version tables live) are kept,
  and so is a sliding window of the last ``WINDOW_LIMIT`` bytes inflated (where the ELF dynamic
  segment or a PE import table is found). A read outside both restarts inflation from the start:
  correct, only slower, and rare for real binaries.

Other compression methods fall back to :mod:`zipfile`'s own stream through the same cache.
Every read returns the whole range asked for or raises (a range longer than both caches is
gathered as it is inflated), and every inflated byte is charged to the archive's
:class:`~native_doctor.sources._archive.InflationBudget` when one is given.
See docs/design.md ("Reading wheel members") for the measurements behind this.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections import deque
from typing import IO

from native_doctor.errors import InvalidArchiveError
from native_doctor.sources._archive import InflationBudget, archive_errors

__all__ = ["PREFIX_LIMIT", "WINDOW_LIMIT", "ZipMemberSource"]

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_MAGIC = b"PK\x03\x04"
#: Bytes kept from the start of a compressed member.
PREFIX_LIMIT = 64 << 20
#: Bytes kept from the most recently inflated part of a compressed member.
WINDOW_LIMIT = 16 << 20
#: Inflate at most this much output per step once past the first read.
_CHUNK = 1 << 20
#: The first read of a member (its magic number) inflates only this much.
_FIRST_CHUNK = 1 << 14
_INPUT_BLOCK = 1 << 18


class _Inflater:
    """A forward-only stream of a member's uncompressed bytes."""

    __slots__ = (
        "_archive",
        "_budget",
        "_decompressor",
        "_info",
        "_input_left",
        "_input_offset",
        "_stream",
        "position",
    )

    def __init__(
        self,
        archive: zipfile.ZipFile,
        info: zipfile.ZipInfo,
        data_offset: int | None,
        budget: InflationBudget | None = None,
    ) -> None:
        self._archive = archive
        self._info = info
        self._budget = budget
        self.position = 0
        self._stream: IO[bytes] | None = None
        self._decompressor: zlib._Decompress | None = None
        self._input_offset = data_offset or 0
        self._input_left = info.compress_size
        if data_offset is None:
            with archive_errors(f"{info.filename}: cannot read member"):
                self._stream = archive.open(info)
        else:
            self._decompressor = zlib.decompressobj(-zlib.MAX_WBITS)

    def read(self, limit: int) -> bytes:
        """Up to ``limit`` more bytes (empty at the end of the member)."""
        with archive_errors(f"{self._info.filename}: cannot decompress member"):
            block = self._read_raw(limit) if self._stream is None else self._stream.read(limit)
        if self._budget is not None and block:
            self._budget.spend(self._info.filename, len(block))
        self.position += len(block)
        return block

    def _read_raw(self, limit: int) -> bytes:
        decompressor = self._decompressor
        assert decompressor is not None
        while True:
            pending = decompressor.unconsumed_tail
            if not pending and self._input_left > 0:
                pending = self._next_input()
            block = decompressor.decompress(pending, limit)
            if block or decompressor.eof or (not decompressor.unconsumed_tail and self._input_left <= 0):
                return block

    def _next_input(self) -> bytes:
        fp = self._archive.fp
        if fp is None:
            raise InvalidArchiveError("the archive is closed")
        fp.seek(self._input_offset)
        data = fp.read(min(_INPUT_BLOCK, self._input_left))
        if not data:
            raise InvalidArchiveError(f"{self._info.filename}: compressed data is truncated")
        self._input_offset += len(data)
        self._input_left -= len(data)
        return data

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()


class ZipMemberSource:
    """A :class:`~native_doctor.binary.ByteSource` over one member of an open :class:`zipfile.ZipFile`."""

    __slots__ = (
        "_archive",
        "_budget",
        "_data_offset",
        "_inflated",
        "_inflater",
        "_info",
        "_prefix",
        "_window",
        "_window_size",
    )

    def __init__(
        self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: InflationBudget | None = None
    ) -> None:
        self._archive = archive
        self._info = info
        #: Shared by every read of the archive: inflating past it raises ReadLimitError.
        self._budget = budget
        self._data_offset: int | None = None
        self._inflater: _Inflater | None = None
        self._prefix = bytearray()
        self._window: deque[tuple[int, bytes]] = deque()
        self._window_size = 0
        #: Total bytes inflated, restarts included (for performance accounting).
        self._inflated = 0

    @property
    def size(self) -> int:
        return self._info.file_size

    @property
    def inflated_bytes(self) -> int:
        """How many bytes were decompressed so far, restarts included (0 for stored members)."""
        return self._inflated

    def read_at(self, offset: int, length: int) -> bytes:
        """Exactly the bytes ``[offset, offset + length)`` clipped to the member's size.

        :raises InvalidArchiveError: the member's data is shorter than its declared size, or
            corrupt; never a short result.
        :raises ReadLimitError: the archive's inflation budget is spent.
        """
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        length = min(length, self.size - offset)
        if self._is_stored():
            return self._read_stored(offset, length)
        end = offset + length
        if end <= len(self._prefix):
            return bytes(self._prefix[offset:end])
        parts, position = self._cached(offset, end)
        if position < end:
            inflater = self._inflater_at(position)
            while position < end:
                start = inflater.position
                block = inflater.read(_CHUNK if start else max(_FIRST_CHUNK, min(end, _CHUNK)))
                if not block:
                    break
                self._keep(start, block)
                if start + len(block) > position >= start:
                    take = block[position - start : end - start]
                    parts.append(take)
                    position += len(take)
        if position != end:
            raise InvalidArchiveError(
                f"{self._info.filename}: member data ends at byte {position}, "
                f"before its declared size of {self.size} bytes"
            )
        return b"".join(parts)

    def _cached(self, offset: int, end: int) -> tuple[list[bytes], int]:
        """The kept bytes from ``offset`` on (prefix, then window), and where they stop."""
        parts: list[bytes] = []
        position = offset
        if position < len(self._prefix):
            parts.append(bytes(self._prefix[position : min(end, len(self._prefix))]))
            position = min(end, len(self._prefix))
        for start, block in self._window:
            if position >= end:
                break
            if start <= position < start + len(block):
                take = block[position - start : end - start]
                parts.append(take)
                position += len(take)
        return parts, position

    def close(self) -> None:
        """Release the decompression state and the cached bytes."""
        if self._inflater is not None:
            self._inflater.close()
            self._inflater = None
        self._prefix = bytearray()
        self._window.clear()
        self._window_size = 0

    # --- stored members -------------------------------------------------------------------------

    def _is_stored(self) -> bool:
        return self._info.compress_type == zipfile.ZIP_STORED and not self._info.flag_bits & 0x1

    def _read_stored(self, offset: int, length: int) -> bytes:
        fp = self._archive.fp
        if fp is None:
            raise InvalidArchiveError("the archive is closed")
        fp.seek(self._locate_data() + offset)
        data = fp.read(length)
        if len(data) != length:
            raise InvalidArchiveError(f"{self._info.filename}: member data is truncated")
        return data

    def _locate_data(self) -> int:
        """Offset of the member's data: after its local header, whose name/extra lengths may differ."""
        if self._data_offset is None:
            fp = self._archive.fp
            if fp is None:
                raise InvalidArchiveError("the archive is closed")
            fp.seek(self._info.header_offset)
            header = fp.read(_LOCAL_HEADER.size)
            if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_MAGIC:
                raise InvalidArchiveError(f"{self._info.filename}: bad local file header")
            fields = _LOCAL_HEADER.unpack(header)
            name_length, extra_length = fields[-2], fields[-1]
            self._data_offset = self._info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        return self._data_offset

    # --- compressed members ---------------------------------------------------------------------

    def _inflater_at(self, offset: int) -> _Inflater:
        """The inflater, restarted when ``offset`` was inflated before but is no longer kept."""
        inflater = self._inflater
        if inflater is not None and offset >= inflater.position:
            return inflater
        if inflater is not None:
            inflater.close()
            self._window.clear()
            self._window_size = 0
        raw = self._info.compress_type == zipfile.ZIP_DEFLATED and not self._info.flag_bits & 0x1
        inflater = _Inflater(self._archive, self._info, self._locate_data() if raw else None, self._budget)
        self._inflater = inflater
        self._skip_prefix(inflater)
        return inflater

    def _skip_prefix(self, inflater: _Inflater) -> None:
        """Inflate (and drop) what the prefix already holds, so the stream continues after it."""
        while inflater.position < len(self._prefix):
            block = inflater.read(min(_CHUNK, len(self._prefix) - inflater.position))
            if not block:
                break
            self._inflated += len(block)

    def _keep(self, start: int, block: bytes) -> None:
        self._inflated += len(block)
        room = PREFIX_LIMIT - len(self._prefix)
        if start == len(self._prefix) and room > 0:
            self._prefix += block[:room]
            block, start = block[room:], start + room
            if not block:
                return
        self._window.append((start, block))
        self._window_size += len(block)
        while self._window_size - len(self._window[0][1]) >= WINDOW_LIMIT:
            self._window_size -= len(self._window.popleft()[1])
