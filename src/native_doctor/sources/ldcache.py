"""Read glibc's dynamic-linker cache, ``/etc/ld.so.cache``, without running ``ldconfig``.

Three layouts exist (glibc ``sysdeps/generic/dl-cache.h``):

* old: ``"ld.so-1.7.0"``, ``nlibs``, then ``nlibs`` 12-byte entries ``(flags, key, value)``; the string
  offsets count from the end of the entry array;
* compat: the old layout followed, at the next 8-byte boundary, by the new one ("hidden" in the old
  string table, so both share one string table);
* new (glibc >= 2.32 default): ``"glibc-ld.so.cache1.1"``, ``nlibs``, ``len_strings``, an endianness
  byte, the extension offset, then ``nlibs`` 24-byte entries ``(flags, key, value, osversion, hwcap)``;
  the string offsets count from the start of this header.

When both are present the new part wins, as in ``ldconfig -p``; a corrupt new part falls back to the
old one. Everything is bounded by the input: counts are checked against the size before any loop.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, replace
from pathlib import Path

from native_doctor.errors import BinaryFormatError

__all__ = [
    "DEFAULT_PATH",
    "CacheEntry",
    "arch_for_machine",
    "entry_type",
    "parse_ld_cache",
    "read_ld_cache",
]

DEFAULT_PATH = "/etc/ld.so.cache"
OLD_MAGIC = b"ld.so-1.7.0"
NEW_MAGIC = b"glibc-ld.so.cache1.1"
_OLD_HEADER = 16  # 11-byte magic, 1 byte padding, uint32 nlibs
_OLD_ENTRY = 12  # int32 flags, uint32 key, uint32 value
_NEW_HEADER = 48  # magic+version (20), nlibs, len_strings, flags byte + 3 pad, extension_offset, 3 unused
_NEW_ENTRY = 24  # flags, key, value, osversion_unused, uint64 hwcap
_MAX_STRING = 4096  # PATH_MAX: no name or path in a real cache is longer
_MAX_READ = 64 << 20
_EXTENSION_MAGIC = 0xEAA42174
_TAG_GLIBC_HWCAPS = 1
_HWCAP_EXTENSION = 1 << 62  # DL_CACHE_HWCAP_EXTENSION: the low 32 bits index the hwcaps names

FLAG_TYPE_MASK = 0x00FF
FLAG_REQUIRED_MASK = 0xFF00
FLAG_ELF = 0x0001
FLAG_ELF_LIBC5 = 0x0002
FLAG_ELF_LIBC6 = 0x0003
FLAG_SPARC_LIB64 = 0x0100
FLAG_IA64_LIB64 = 0x0200
FLAG_X8664_LIB64 = 0x0300
FLAG_S390_LIB64 = 0x0400
FLAG_POWERPC_LIB64 = 0x0500
FLAG_MIPS64_LIBN32 = 0x0600
FLAG_MIPS64_LIBN64 = 0x0700
FLAG_X8664_LIBX32 = 0x0800
FLAG_ARM_LIBHF = 0x0900
FLAG_AARCH64_LIB64 = 0x0A00
FLAG_ARM_LIBSF = 0x0B00
FLAG_MIPS_LIB32_NAN2008 = 0x0C00
FLAG_MIPS64_LIBN32_NAN2008 = 0x0D00
FLAG_MIPS64_LIBN64_NAN2008 = 0x0E00
FLAG_RISCV_FLOAT_ABI_SOFT = 0x0F00
FLAG_RISCV_FLOAT_ABI_DOUBLE = 0x1000
FLAG_LARCH_FLOAT_ABI_SOFT = 0x1100
FLAG_LARCH_FLOAT_ABI_DOUBLE = 0x1200

#: The ABI an entry's "required" bits name, spelt like ``uname -m`` where that is unambiguous. Entries
#: without such bits (i386, 32-bit ARM/MIPS/PowerPC...) have ``arch`` None.
_ARCH = {
    FLAG_SPARC_LIB64: "sparc64",
    FLAG_IA64_LIB64: "ia64",
    FLAG_X8664_LIB64: "x86_64",
    FLAG_S390_LIB64: "s390x",
    FLAG_POWERPC_LIB64: "ppc64",
    FLAG_MIPS64_LIBN32: "mips64-n32",
    FLAG_MIPS64_LIBN64: "mips64",
    FLAG_X8664_LIBX32: "x32",
    FLAG_ARM_LIBHF: "armhf",
    FLAG_AARCH64_LIB64: "aarch64",
    FLAG_ARM_LIBSF: "armel",
    FLAG_MIPS_LIB32_NAN2008: "mips-nan2008",
    FLAG_MIPS64_LIBN32_NAN2008: "mips64-n32-nan2008",
    FLAG_MIPS64_LIBN64_NAN2008: "mips64-nan2008",
    FLAG_RISCV_FLOAT_ABI_SOFT: "riscv-soft-float",
    FLAG_RISCV_FLOAT_ABI_DOUBLE: "riscv-double-float",
    FLAG_LARCH_FLOAT_ABI_SOFT: "loongarch-soft-float",
    FLAG_LARCH_FLOAT_ABI_DOUBLE: "loongarch-double-float",
}
_MACHINE_ARCH = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "ppc64": "ppc64",
    "ppc64le": "ppc64",
    "s390x": "s390x",
    "sparc64": "sparc64",
    "ia64": "ia64",
    "riscv64": "riscv-double-float",
    "loongarch64": "loongarch-double-float",
}
_TYPES = {0x0000: "libc4", FLAG_ELF: "ELF", FLAG_ELF_LIBC5: "libc5", FLAG_ELF_LIBC6: "libc6"}


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cache entry: a library file name (usually the soname) and the path the loader maps it to."""

    name: str
    path: str
    flags: int
    #: The ABI named by the flags' required bits (``"x86_64"``, ``"aarch64"``), None when there are none.
    arch: str | None
    #: The new format's hwcap word (0 for ordinary entries, and for every old-format entry).
    hwcap: int = 0
    #: The ``glibc-hwcaps`` subdirectory the entry is for (``"x86-64-v3"``), from the cache's
    #: extension directory (glibc >= 2.33); None for ordinary entries.
    hwcaps: str | None = None


def entry_type(flags: int) -> str:
    """The flags' type part as ``ldconfig -p`` prints it (``libc6``, ``ELF``, ``unknown``)."""
    return _TYPES.get(flags & FLAG_TYPE_MASK, "unknown")


def arch_for_machine(machine: str) -> str | None:
    """The :attr:`CacheEntry.arch` a process on ``machine`` (``platform.machine()``) loads, if known.

    None for machines whose native libraries carry no required bits (i686, 32-bit ARM...).
    """
    return _MACHINE_ARCH.get(machine.lower())


def parse_ld_cache(data: bytes) -> list[CacheEntry]:
    """Every entry of an ``ld.so.cache`` image, in file order (the loader's lookup order).

    :raises BinaryFormatError: not an ld.so cache, or one whose header or entries point outside it.
    """
    view = memoryview(data)
    if bytes(view[: len(OLD_MAGIC)]) == OLD_MAGIC:
        return _parse_old_or_compat(view)
    if bytes(view[: len(NEW_MAGIC)]) == NEW_MAGIC:
        return _parse_new(view, 0)
    raise BinaryFormatError("not an ld.so cache (no 'ld.so-1.7.0' or 'glibc-ld.so.cache1.1' magic)", offset=0)


def read_ld_cache(path: str | os.PathLike[str] = DEFAULT_PATH) -> list[CacheEntry]:
    """:func:`parse_ld_cache` of a file; a missing file (musl, macOS, Windows) gives ``[]``.

    :raises BinaryFormatError: the file exists but is not a readable cache.
    :raises OSError: the file exists but cannot be read.
    """
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(_MAX_READ + 1)
    except FileNotFoundError:
        return []
    if len(data) > _MAX_READ:
        raise BinaryFormatError(f"{path}: larger than {_MAX_READ} bytes; not an ld.so cache")
    return parse_ld_cache(data)


def _parse_old_or_compat(view: memoryview) -> list[CacheEntry]:
    size = len(view)
    if size < _OLD_HEADER:
        raise BinaryFormatError("ld.so cache header truncated", offset=size)
    # The old format is in the writer's byte order: pick the one whose count fits the file.
    order = _old_byte_order(view)
    (nlibs,) = struct.unpack_from(order + "I", view, 12)
    strings = _OLD_HEADER + nlibs * _OLD_ENTRY
    if strings > size:
        raise BinaryFormatError(f"ld.so cache claims {nlibs} entries; the file is too short", offset=12)
    new_start = (strings + 7) & ~7
    if bytes(view[new_start : new_start + len(NEW_MAGIC)]) == NEW_MAGIC:
        try:
            return _parse_new(view, new_start)
        except BinaryFormatError:
            pass  # the loader falls back to the old entries too
    entries: list[CacheEntry] = []
    for index in range(nlibs):
        flags, key, value = struct.unpack_from(order + "iII", view, _OLD_HEADER + index * _OLD_ENTRY)
        entries.append(_entry(view, strings, flags, key, value, 0))
    return entries


def _old_byte_order(view: memoryview) -> str:
    room = (len(view) - _OLD_HEADER) // _OLD_ENTRY
    little, big = struct.unpack_from("<I", view, 12)[0], struct.unpack_from(">I", view, 12)[0]
    return ">" if little > room >= big else "<"


def _parse_new(view: memoryview, start: int) -> list[CacheEntry]:
    size = len(view)
    if size - start < _NEW_HEADER:
        raise BinaryFormatError("ld.so cache (new format) header truncated", offset=size)
    endian = view[start + 28] & 3
    if endian == 3:
        order = ">"
    elif endian == 2:
        order = "<"
    elif endian == 1:
        raise BinaryFormatError("ld.so cache marks its byte order invalid", offset=start + 28)
    else:  # unset (glibc < 2.33): the writer's order; pick the one whose count fits
        room = (size - start - _NEW_HEADER) // _NEW_ENTRY
        order = ">" if struct.unpack_from("<I", view, start + 20)[0] > room else "<"
    nlibs, len_strings = struct.unpack_from(order + "II", view, start + 20)
    table_end = start + _NEW_HEADER + nlibs * _NEW_ENTRY
    if table_end > size:
        raise BinaryFormatError(
            f"ld.so cache claims {nlibs} entries; the file is too short", offset=start + 20
        )
    if table_end + len_strings > size:
        raise BinaryFormatError("ld.so cache string table runs past the end of the file", offset=start + 24)
    subdirs = _hwcaps_subdirs(view, start, order)
    entries: list[CacheEntry] = []
    for index in range(nlibs):
        offset = start + _NEW_HEADER + index * _NEW_ENTRY
        flags, key, value, _os, hwcap = struct.unpack_from(order + "iIIIQ", view, offset)
        entry = _entry(view, start, flags, key, value, hwcap)
        if hwcap >> 32 == _HWCAP_EXTENSION >> 32 and (hwcap & 0xFFFFFFFF) < len(subdirs):
            entry = replace(entry, hwcaps=subdirs[hwcap & 0xFFFFFFFF])
        entries.append(entry)
    return entries


def _hwcaps_subdirs(view: memoryview, start: int, order: str) -> list[str | None]:
    """The glibc-hwcaps subdirectory names of the extension directory; [] when absent or corrupt.

    The directory and section offsets count from the start of the file (glibc's ``file_base``); the
    names, like every other string, from the new header. (``ldconfig -p`` reads the names from the
    file start too, so it prints garbage for compat caches.)
    """
    (ext,) = struct.unpack_from(order + "I", view, start + 32)
    size = len(view)
    if ext == 0 or ext + 8 > size:
        return []
    magic, count = struct.unpack_from(order + "II", view, ext)
    if magic != _EXTENSION_MAGIC or count > (size - ext - 8) // 16:
        return []
    for index in range(count):
        tag, _flags, offset, length = struct.unpack_from(order + "IIII", view, ext + 8 + index * 16)
        if tag != _TAG_GLIBC_HWCAPS:
            continue
        if length % 4 or offset + length > size:
            return []
        names: list[str | None] = []
        for position in range(offset, offset + length, 4):
            (name,) = struct.unpack_from(order + "I", view, position)
            try:
                names.append(_string(view, start + name))
            except BinaryFormatError:
                names.append(None)
        return names
    return []


def _entry(view: memoryview, base: int, flags: int, key: int, value: int, hwcap: int) -> CacheEntry:
    return CacheEntry(
        name=_string(view, base + key),
        path=_string(view, base + value),
        flags=flags,
        arch=_ARCH.get(flags & FLAG_REQUIRED_MASK),
        hwcap=hwcap,
    )


def _string(view: memoryview, offset: int) -> str:
    if offset >= len(view):
        raise BinaryFormatError("ld.so cache string offset points past the end of the file", offset=offset)
    chunk = bytes(view[offset : offset + _MAX_STRING + 1])
    end = chunk.find(b"\0")
    if end < 0:
        raise BinaryFormatError("ld.so cache string is not NUL-terminated", offset=offset)
    return os.fsdecode(chunk[:end])
