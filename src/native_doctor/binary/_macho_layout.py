"""The layout of one thin Mach-O image, as the writers need it (not the reader's model).

A :class:`Layout` lists every load command with its bytes and position, and the few facts an
edit must respect: where the header padding ends (the first section's or segment's file bytes),
the ``__TEXT`` and ``__LINKEDIT`` segments, and the ``LC_CODE_SIGNATURE`` command.
References: ``<mach-o/loader.h>`` (mach_header, load_command, segment_command(_64), section(_64),
linkedit_data_command).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from native_doctor.errors import BinaryFormatError, NativeDoctorError

__all__ = ["Command", "Layout", "MachOWriteError", "Segment", "fat_slices", "is_fat", "parse_layout"]


class MachOWriteError(NativeDoctorError, ValueError):
    """A Mach-O edit or signature cannot be made (the message says why)."""


MH_MAGIC, MH_MAGIC_64 = 0xFEEDFACE, 0xFEEDFACF
FAT_MAGIC, FAT_MAGIC_64 = 0xCAFEBABE, 0xCAFEBABF
LC_SEGMENT, LC_SEGMENT_64 = 0x1, 0x19
LC_CODE_SIGNATURE = 0x1D
#: Section types with no file bytes (S_ZEROFILL, S_GB_ZEROFILL, S_THREAD_LOCAL_ZEROFILL).
_ZEROFILL = frozenset({0x1, 0xC, 0x12})
MAX_FAT_ARCHS = 64


@dataclass(frozen=True, slots=True)
class Command:
    """One load command: its type, its bytes (cmdsize long) and its offset in the image."""

    cmd: int
    data: bytes
    offset: int


@dataclass(frozen=True, slots=True)
class Segment:
    """A segment command's file and memory extent, and where its fields sit in the image."""

    name: str
    index: int  # position in Layout.commands
    vmsize: int
    fileoff: int
    filesize: int


@dataclass(frozen=True, slots=True)
class Layout:
    """What the writers need to know about one thin image."""

    order: str  # struct byte order: "<" or ">"
    is64: bool
    cputype: int
    filetype: int
    header_size: int
    commands: tuple[Command, ...]
    #: End of the header padding: the lowest file offset holding section or segment data.
    padding_end: int
    text: Segment | None
    linkedit: Segment | None

    @property
    def commands_end(self) -> int:
        return self.header_size + sum(len(c.data) for c in self.commands)

    @property
    def alignment(self) -> int:
        """Load commands are padded to 8 bytes in 64-bit images, 4 in 32-bit ones."""
        return 8 if self.is64 else 4

    def signature(self) -> Command | None:
        return next((c for c in self.commands if c.cmd == LC_CODE_SIGNATURE), None)


def is_fat(data: bytes) -> bool:
    return len(data) >= 4 and struct.unpack_from(">I", data)[0] in (FAT_MAGIC, FAT_MAGIC_64)


def fat_slices(data: bytes) -> list[tuple[int, int, int, int, int]]:
    """``(cputype, cpusubtype, offset, size, align)`` of each slice of a fat file, checked in bounds."""
    if len(data) < 8:
        raise BinaryFormatError("fat header is truncated", offset=0)
    magic, count = struct.unpack_from(">II", data)
    wide = magic == FAT_MAGIC_64
    entry = 32 if wide else 20
    if not 0 < count <= MAX_FAT_ARCHS or 8 + count * entry > len(data):
        raise BinaryFormatError(f"fat header: nfat_arch {count} does not fit the file", offset=4)
    slices = []
    for i in range(count):
        at = 8 + i * entry
        if wide:
            cputype, subtype, offset, size, align, _ = struct.unpack_from(">iIQQII", data, at)
        else:
            cputype, subtype, offset, size, align = struct.unpack_from(">iIIII", data, at)
        if offset < 8 + count * entry or offset + size > len(data) or align > 20:
            raise BinaryFormatError(f"fat slice {i} lies outside the file", offset=at)
        slices.append((cputype, subtype, offset, size, align))
    return slices


def parse_layout(data: bytes, *, size: int | None = None) -> Layout:
    """The layout of a thin image; :class:`BinaryFormatError` for anything malformed.

    ``size`` is the image's size when ``data`` holds only its header and load commands.
    """
    image_size = len(data) if size is None else size
    if len(data) < 28:
        raise BinaryFormatError("Mach-O header is truncated", offset=0)
    order = next((o for o in "<>" if struct.unpack_from(o + "I", data)[0] in (MH_MAGIC, MH_MAGIC_64)), None)
    if order is None:
        raise BinaryFormatError("not a thin Mach-O image (bad magic number)", offset=0)
    magic, cputype, _sub, filetype, ncmds, sizeofcmds, _flags = struct.unpack_from(order + "IiIIIII", data)
    is64 = magic == MH_MAGIC_64
    header_size = 32 if is64 else 28
    if header_size + sizeofcmds > len(data) or ncmds > sizeofcmds // 8:
        raise BinaryFormatError(
            f"load commands (ncmds {ncmds}, sizeofcmds {sizeofcmds}) do not fit", offset=16
        )
    commands: list[Command] = []
    at = header_size
    end = header_size + sizeofcmds
    for i in range(ncmds):
        if at + 8 > end:
            raise BinaryFormatError(f"load command {i} is outside sizeofcmds", offset=at)
        cmd, size = struct.unpack_from(order + "II", data, at)
        if size < 8 or size % 4 or at + size > end:
            raise BinaryFormatError(f"load command {i}: bad cmdsize {size}", offset=at)
        commands.append(Command(cmd, data[at : at + size], at))
        at += size
    return _with_segments(image_size, order, is64, cputype, filetype, header_size, commands)


def _with_segments(
    image_size: int,
    order: str,
    is64: bool,
    cputype: int,
    filetype: int,
    header_size: int,
    commands: list[Command],
) -> Layout:
    padding_end = image_size
    text = linkedit = None
    for index, c in enumerate(commands):
        if c.cmd not in (LC_SEGMENT, LC_SEGMENT_64):
            continue
        seg_fmt = "16s4Q2i2I" if c.cmd == LC_SEGMENT_64 else "16s4I2i2I"
        seg_size, sect_size = (72, 80) if c.cmd == LC_SEGMENT_64 else (56, 68)
        if len(c.data) < seg_size:
            raise BinaryFormatError("segment command is truncated", offset=c.offset)
        name_b, _vmaddr, vmsize, fileoff, filesize, _mp, _ip, nsects, _fl = struct.unpack_from(
            order + seg_fmt, c.data, 8
        )
        if fileoff + filesize > image_size:
            raise BinaryFormatError("segment file bytes lie outside the image", offset=c.offset)
        name = name_b.rstrip(b"\0").decode("latin-1")
        segment = Segment(name, index, vmsize, fileoff, filesize)
        if name == "__TEXT":
            text = segment
        elif name == "__LINKEDIT":
            linkedit = segment
        if fileoff > 0 and filesize > 0:
            padding_end = min(padding_end, fileoff)
        if seg_size + nsects * sect_size > len(c.data):
            raise BinaryFormatError("section headers do not fit their segment command", offset=c.offset)
        wide = c.cmd == LC_SEGMENT_64
        for s in range(nsects):
            at = seg_size + s * sect_size
            size = struct.unpack_from(order + ("Q" if wide else "I"), c.data, at + 40 if wide else at + 36)[0]
            offset, _align, _reloff, _nreloc, flags = struct.unpack_from(
                order + "5I", c.data, at + (48 if wide else 40)
            )
            if offset and size and flags & 0xFF not in _ZEROFILL:
                padding_end = min(padding_end, offset)
    return Layout(order, is64, cputype, filetype, header_size, tuple(commands), padding_end, text, linkedit)
