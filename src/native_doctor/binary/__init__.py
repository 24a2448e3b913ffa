"""Pure readers for ELF, Mach-O and PE/COFF files, producing one :class:`BinaryInfo` model.

``sniff`` decides from a file's first bytes whether it is a native binary at all (cheap enough to
run on every member of a wheel); ``read_binary`` parses it. Both take bytes or a
:class:`ByteSource`, never a path or an archive.
"""

from __future__ import annotations

import struct

from native_doctor.binary._bytes import ByteSource, BytesSource
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.errors import BinaryFormatError

__all__ = [
    "SNIFF_BYTES",
    "BinaryFormat",
    "BinaryInfo",
    "ByteSource",
    "BytesSource",
    "FileKind",
    "read_binary",
    "sniff",
]

#: How many leading bytes :func:`sniff` needs.
SNIFF_BYTES = 8

_MACHO_MAGICS = {b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe"}
_FAT_MAGICS = {b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"}
#: A Java class file also starts with 0xCAFEBABE, followed by its version (major >= 45); a fat
#: Mach-O header has the architecture count there, which is small.
_MAX_FAT_ARCHS = 30


def sniff(head: bytes) -> BinaryFormat | None:
    """The format whose magic number ``head`` starts with, or None if it is no native binary."""
    magic = head[:4]
    if magic == b"\x7fELF":
        return BinaryFormat.ELF
    if magic in _MACHO_MAGICS:
        return BinaryFormat.MACHO
    if magic in _FAT_MAGICS and len(head) >= 8:
        (count,) = struct.unpack(">I", head[4:8])
        return BinaryFormat.MACHO if 0 < count <= _MAX_FAT_ARCHS else None
    if head[:2] == b"MZ":
        return BinaryFormat.PE
    return None


def read_binary(data: bytes | ByteSource, *, deep: bool = False) -> BinaryInfo:
    """Parse one binary of any supported format.

    :param deep: also read the symbol tables and section sizes (``imported_symbols``,
        ``exported_symbols``, ``debug_bytes``): what checks need, at the cost of reading further
        into the file (ELF section headers sit at its end).
    :raises BinaryFormatError: the bytes are not a well-formed binary of a supported format.
    """
    source: ByteSource = BytesSource(data) if isinstance(data, bytes | bytearray) else data
    fmt = sniff(source.read_at(0, SNIFF_BYTES))
    if fmt is BinaryFormat.ELF:
        from native_doctor.binary.elf import read_elf

        return read_elf(source, deep=deep)
    if fmt is BinaryFormat.MACHO:
        from native_doctor.binary.macho import read_macho

        return read_macho(source, deep=deep)
    if fmt is BinaryFormat.PE:
        from native_doctor.binary.pe import read_pe

        return read_pe(source, deep=deep)
    raise BinaryFormatError("not an ELF, Mach-O or PE file (unknown magic number)", offset=0)
