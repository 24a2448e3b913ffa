"""Read the loader-relevant facts of a Mach-O file: thin (32/64-bit, either byte order) or fat.

Only the headers and the load commands are read, never the segments' contents: a thin image costs
two reads (the ``mach_header`` and, in one piece, its ``sizeofcmds`` bytes of load commands), a fat
file one more for its ``fat_arch`` table. Everything is parsed through :class:`View`, and any
malformed count, offset, size or string raises :class:`BinaryFormatError`.

The layouts are Apple's ``<mach-o/loader.h>`` and ``<mach-o/fat.h>``; the comments quote them
where fields are interpreted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import TYPE_CHECKING

from native_doctor.binary._bytes import ByteSource, View
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.errors import BinaryFormatError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["CpuType", "FatMagic", "FileType", "LoadCommand", "MachMagic", "Platform", "read_macho"]


class MachMagic(IntEnum):
    """``mach_header.magic`` read as a big-endian ``uint32``.

    loader.h: ``MH_MAGIC 0xfeedface`` / ``MH_CIGAM 0xcefaedfe`` ("NXSwapInt(MH_MAGIC)"), and
    ``MH_MAGIC_64 0xfeedfacf`` / ``MH_CIGAM_64 0xcffaedfe`` for the 64-bit ``mach_header_64``.
    """

    MH_MAGIC = 0xFEEDFACE
    MH_CIGAM = 0xCEFAEDFE
    MH_MAGIC_64 = 0xFEEDFACF
    MH_CIGAM_64 = 0xCFFAEDFE


_MACH_MAGICS = frozenset(MachMagic)


class FatMagic(IntEnum):
    """fat.h: "All structures defined here are always written and read to/from disk in big-endian order."."""

    FAT_MAGIC = 0xCAFEBABE
    FAT_MAGIC_64 = 0xCAFEBABF


#: loader.h / machine.h: ``CPU_ARCH_ABI64 0x01000000`` ("64 bit ABI"),
#: ``CPU_ARCH_ABI64_32 0x02000000`` ("ABI for 64-bit hardware with 32-bit types; LP32").
CPU_ARCH_ABI64 = 0x01000000
CPU_ARCH_ABI64_32 = 0x02000000
#: machine.h: ``CPU_SUBTYPE_MASK 0xff000000`` ("mask for feature flags"), e.g. ``CPU_SUBTYPE_LIB64``.
CPU_SUBTYPE_MASK = 0xFF000000


class CpuType(IntEnum):
    """``cpu_type_t`` values of ``<mach/machine.h>`` that have a name here."""

    X86 = 7  # CPU_TYPE_X86 == CPU_TYPE_I386
    X86_64 = 7 | CPU_ARCH_ABI64
    ARM = 12
    ARM64 = 12 | CPU_ARCH_ABI64
    ARM64_32 = 12 | CPU_ARCH_ABI64_32
    POWERPC = 18
    POWERPC64 = 18 | CPU_ARCH_ABI64


#: ``cpu_subtype_t`` values (feature bits masked off) that name a distinct architecture.
_SUBTYPE_NAMES: dict[tuple[int, int], str] = {
    (CpuType.X86_64, 8): "x86_64h",  # CPU_SUBTYPE_X86_64_H "Haswell feature subset"
    (CpuType.ARM64, 2): "arm64e",  # CPU_SUBTYPE_ARM64E
    (CpuType.ARM, 6): "armv6",  # CPU_SUBTYPE_ARM_V6
    (CpuType.ARM, 9): "armv7",  # CPU_SUBTYPE_ARM_V7
    (CpuType.ARM, 11): "armv7s",  # CPU_SUBTYPE_ARM_V7S
    (CpuType.ARM, 12): "armv7k",  # CPU_SUBTYPE_ARM_V7K
}

#: Names for a cputype whatever its subtype.
_CPU_NAMES: dict[int, str] = {
    CpuType.X86: "i386",
    CpuType.X86_64: "x86_64",
    CpuType.ARM: "arm",
    CpuType.ARM64: "arm64",
    CpuType.ARM64_32: "arm64_32",
    CpuType.POWERPC: "ppc",
    CpuType.POWERPC64: "ppc64",
}


class FileType(IntEnum):
    """``mach_header.filetype`` (loader.h "Constants for the filetype field")."""

    MH_OBJECT = 0x1  # "relocatable object file"
    MH_EXECUTE = 0x2  # "demand paged executable file"
    MH_FVMLIB = 0x3
    MH_CORE = 0x4
    MH_PRELOAD = 0x5
    MH_DYLIB = 0x6  # "dynamically bound shared library"
    MH_DYLINKER = 0x7
    MH_BUNDLE = 0x8  # "dynamically bound bundle file"
    MH_DYLIB_STUB = 0x9
    MH_DSYM = 0xA
    MH_KEXT_BUNDLE = 0xB
    MH_FILESET = 0xC


_KINDS: dict[int, FileKind] = {
    FileType.MH_EXECUTE: FileKind.EXECUTABLE,
    FileType.MH_DYLIB: FileKind.SHARED_LIBRARY,
    FileType.MH_BUNDLE: FileKind.BUNDLE,
    FileType.MH_OBJECT: FileKind.OBJECT,
}

#: loader.h: "After MacOS X 10.1 when a new load command is added that is required to be understood
#: by the dynamic linker for the image to execute properly the LC_REQ_DYLD bit will be or'ed into
#: the load command constant."
LC_REQ_DYLD = 0x80000000


class LoadCommand(IntEnum):
    """The ``load_command.cmd`` values this reader interprets, with LC_REQ_DYLD masked off.

    The low bits alone identify a command (loader.h never reuses them with and without the bit),
    so commands are matched on ``cmd & ~LC_REQ_DYLD``: a weak, re-export, upward or rpath command
    written without the bit is still recognized.
    """

    LC_SEGMENT = 0x1  # "segment of this file to be mapped"
    LC_SYMTAB = 0x2  # "link-edit stab symbol table info"
    LC_DYSYMTAB = 0xB  # "dynamic link-edit symbol table info"
    LC_LOAD_DYLIB = 0xC  # "load a dynamically linked shared library"
    LC_ID_DYLIB = 0xD  # "dynamically linked shared lib ident"
    LC_SEGMENT_64 = 0x19  # "64-bit segment of this file to be mapped"
    LC_LOAD_WEAK_DYLIB = (
        0x18  # (0x18 | LC_REQ_DYLD) "load a dynamically linked shared library that is allowed to be missing"
    )
    LC_RPATH = 0x1C  # (0x1c | LC_REQ_DYLD) "runpath additions"
    LC_REEXPORT_DYLIB = 0x1F  # (0x1f | LC_REQ_DYLD) "load and re-export dylib"
    LC_LAZY_LOAD_DYLIB = 0x20  # "delay load of dylib until first use"
    LC_LOAD_UPWARD_DYLIB = 0x23  # (0x23 | LC_REQ_DYLD) "load upward dylib"
    LC_VERSION_MIN_MACOSX = 0x24  # "build for MacOSX min OS version"
    LC_VERSION_MIN_IPHONEOS = 0x25  # "build for iPhoneOS min OS version"
    LC_VERSION_MIN_TVOS = 0x2F  # "build for AppleTV min OS version"
    LC_VERSION_MIN_WATCHOS = 0x30  # "build for Watch min OS version"
    LC_BUILD_VERSION = 0x32  # "build for platform min OS version"


class Platform(IntEnum):
    """``build_version_command.platform`` (loader.h "Known values for the platform field")."""

    MACOS = 1
    IOS = 2
    TVOS = 3
    WATCHOS = 4
    BRIDGEOS = 5
    MACCATALYST = 6
    IOSSIMULATOR = 7
    TVOSSIMULATOR = 8
    WATCHOSSIMULATOR = 9
    DRIVERKIT = 10
    VISIONOS = 11  # PLATFORM_XROS
    VISIONOSSIMULATOR = 12  # PLATFORM_XROS_SIMULATOR


_DYLIB_COMMANDS = frozenset(
    {
        LoadCommand.LC_LOAD_DYLIB,
        LoadCommand.LC_LOAD_WEAK_DYLIB,
        LoadCommand.LC_REEXPORT_DYLIB,
        LoadCommand.LC_LAZY_LOAD_DYLIB,
        LoadCommand.LC_LOAD_UPWARD_DYLIB,
    }
)

_VERSION_MIN_PLATFORMS: dict[int, str] = {
    LoadCommand.LC_VERSION_MIN_MACOSX: "macos",
    LoadCommand.LC_VERSION_MIN_IPHONEOS: "ios",
    LoadCommand.LC_VERSION_MIN_TVOS: "tvos",
    LoadCommand.LC_VERSION_MIN_WATCHOS: "watchos",
}

#: ``sizeof(struct mach_header)`` (7 fields of 4 bytes) and ``mach_header_64`` (plus ``reserved``).
_HEADER_SIZE_32 = 28
_HEADER_SIZE_64 = 32
#: ``struct load_command { uint32_t cmd; uint32_t cmdsize; }``.
_LOAD_COMMAND_SIZE = 8
#: ``struct dylib_command``: cmd, cmdsize, ``struct dylib { union lc_str name; uint32_t timestamp;
#: uint32_t current_version; uint32_t compatibility_version; }``.
_DYLIB_COMMAND_SIZE = 24
#: ``struct rpath_command { cmd; cmdsize; union lc_str path; }``.
_RPATH_COMMAND_SIZE = 12
#: ``struct build_version_command { cmd; cmdsize; platform; minos; sdk; ntools; }``, followed by
#: ``ntools`` ``struct build_tool_version { uint32_t tool; uint32_t version; }``.
_BUILD_VERSION_SIZE = 24
_BUILD_TOOL_SIZE = 8
#: ``struct version_min_command { cmd; cmdsize; uint32_t version; uint32_t sdk; }``.
_VERSION_MIN_SIZE = 16
#: ``struct fat_header { uint32_t magic; uint32_t nfat_arch; }``.
_FAT_HEADER_SIZE = 8
#: ``struct fat_arch`` (cputype, cpusubtype, offset, size, align: 5 x 32 bits) and ``fat_arch_64``
#: (cputype, cpusubtype, uint64 offset, uint64 size, align, reserved).
_FAT_ARCH_SIZE = 20
_FAT_ARCH_64_SIZE = 32

#: More architectures than any real fat file carries (``sniff`` accepts at most 30).
MAX_FAT_ARCHS = 64
#: Real load-command areas are a few kilobytes; refuse to buffer absurd ones.
MAX_SIZEOFCMDS = 16 * 1024 * 1024


class _Preloaded:
    """A :class:`ByteSource` holding only ``data``, found at ``start`` in a source of ``size`` bytes.

    A header, the fat_arch table or the load commands are read once into memory and then parsed
    through a :class:`View` over this object, so bounds checks and error offsets stay those of the
    whole file.
    """

    __slots__ = ("_data", "_size", "_start")

    def __init__(self, size: int, start: int, data: bytes) -> None:
        self._size = size
        self._start = start
        self._data = data

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, length: int) -> bytes:
        rel = offset - self._start
        if rel < 0 or length < 0:
            return b""
        return self._data[rel : rel + length]


def _load(view: View, offset: int, length: int, what: str) -> View:
    """Read ``length`` bytes at ``offset`` of ``view`` in one read; a :class:`View` over them.

    The returned view starts at ``offset`` (its offsets are relative to it) and reports errors at
    absolute file offsets, like every other view.
    """
    data = view.bytes(offset, length, what)
    start = view.base + offset
    return View(_Preloaded(view.source.size, start, data), start, length)


@dataclass(slots=True)
class _Commands:
    """What the load-command walk of one thin image collected."""

    needed: list[str] = field(default_factory=list)
    weak_needed: list[str] = field(default_factory=list)
    rpath: list[str] = field(default_factory=list)
    install_name: str | None = None
    min_os: str | None = None
    sdk: str | None = None
    os_platform: str | None = None
    #: Deep reading only: LC_SYMTAB (symoff, nsyms, stroff, strsize), LC_DYSYMTAB (iextdefsym,
    #: nextdefsym, iundefsym, nundefsym) and the bytes of debugging information (``__DWARF``).
    symtab: tuple[int, int, int, int] | None = None
    dysymtab: tuple[int, int, int, int] | None = None
    debug_bytes: int = 0


def read_macho(source: ByteSource, *, deep: bool = False) -> BinaryInfo:
    """Parse a thin or fat Mach-O file from its headers and load commands.

    :raises BinaryFormatError: the bytes are not a well-formed Mach-O file.
    """
    view = View(source)
    (magic,) = view.unpack(">I", 0, "Mach-O magic number")
    if magic in (FatMagic.FAT_MAGIC, FatMagic.FAT_MAGIC_64):
        return _read_fat(view, FatMagic(magic), deep=deep)
    return _read_thin(view, expected_cputype=None, deep=deep)


# --- fat files ---------------------------------------------------------------------------------


def _read_fat(view: View, magic: FatMagic, *, deep: bool) -> BinaryInfo:
    """Parse a fat file: its ``fat_header``, ``fat_arch`` table and every slice as a thin image."""
    # fat.h: "struct fat_header { uint32_t magic; uint32_t nfat_arch; /* number of structs that follow */ }"
    (nfat_arch,) = view.unpack(">I", 4, "fat header")
    if not 0 < nfat_arch <= MAX_FAT_ARCHS:
        raise BinaryFormatError(
            f"fat header: nfat_arch {nfat_arch} is not in 1..{MAX_FAT_ARCHS}", offset=view.base + 4
        )
    is64 = magic is FatMagic.FAT_MAGIC_64
    entry_size = _FAT_ARCH_64_SIZE if is64 else _FAT_ARCH_SIZE
    table_end = _FAT_HEADER_SIZE + nfat_arch * entry_size
    table = _load(view, _FAT_HEADER_SIZE, nfat_arch * entry_size, "fat_arch table")
    # fat.h fat_arch: "cpu_type_t cputype; cpu_subtype_t cpusubtype; uint32_t offset /* file offset
    # to this object file */; uint32_t size /* size of this object file */; uint32_t align /* alignment
    # as a power of 2 */"; fat_arch_64 widens offset and size to uint64_t and adds uint32_t reserved.
    layout = struct.Struct(">iiQQII" if is64 else ">iiIII")
    slices: list[BinaryInfo] = []
    for index in range(nfat_arch):
        what = f"fat slice {index}"
        cputype, _subtype, offset, size, *_ = table.unpack(layout, index * entry_size, what)
        if offset < table_end:
            raise BinaryFormatError(
                f"{what}: offset {offset} overlaps the fat header ({table_end} bytes)",
                offset=view.base + _FAT_HEADER_SIZE + index * entry_size,
            )
        slice_view = view.sub(offset, size, what)
        slices.append(_read_thin(slice_view, expected_cputype=cputype, deep=deep))
    return _merge_slices(slices)


def _merge_slices(slices: list[BinaryInfo]) -> BinaryInfo:
    """The top-level :class:`BinaryInfo` of a fat file, summarizing its ``slices``."""
    first = slices[0]
    deep = all(s.deep for s in slices)
    archs = sorted(s.arch for s in slices)
    arch = "universal2" if archs == ["arm64", "x86_64"] else "+".join(archs)
    min_oses = [s.min_os for s in slices if s.min_os is not None]
    return BinaryInfo(
        format=BinaryFormat.MACHO,
        arch=arch,
        bits=64 if any(s.bits == 64 for s in slices) else 32,
        byteorder=first.byteorder,
        kind=first.kind,
        needed=_union(s.needed for s in slices),
        rpath=_union(s.rpath for s in slices),
        install_name=next((s.install_name for s in slices if s.install_name is not None), None),
        weak_needed=_union(s.weak_needed for s in slices),
        min_os=max(min_oses, key=_version_key) if min_oses else None,
        sdk=first.sdk,
        os_platform=first.os_platform,
        slices=tuple(slices),
        deep=deep,
        imported_symbols=tuple(sorted(set().union(*(s.imported_symbols for s in slices)))),
        exported_symbols=tuple(sorted(set().union(*(s.exported_symbols for s in slices)))),
        # The largest slice's: a check asks whether debug information ships, not how much in all.
        debug_bytes=max(s.debug_bytes or 0 for s in slices) if deep else None,
    )


def _union(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    """The strings of ``groups`` without repeats, in first-seen order."""
    seen: dict[str, None] = {}
    for group in groups:
        seen.update(dict.fromkeys(group))
    return tuple(seen)


def _version_key(version: str) -> tuple[int, ...]:
    """Sort key comparing rendered versions numerically (``"10.13.4" < "11.0"``)."""
    return tuple(int(part) for part in version.split("."))


# --- thin images -------------------------------------------------------------------------------


def _read_thin(view: View, *, expected_cputype: int | None, deep: bool = False) -> BinaryInfo:
    """Parse one thin image: its ``mach_header`` (32 or 64-bit, either byte order) and load commands."""
    head = _load(view, 0, _HEADER_SIZE_32, "mach header")  # the fields both widths share
    (magic,) = head.unpack(">I", 0, "Mach-O magic number")
    if magic not in _MACH_MAGICS:
        if magic in (FatMagic.FAT_MAGIC, FatMagic.FAT_MAGIC_64) and expected_cputype is not None:
            raise BinaryFormatError("fat slice is itself a fat file", offset=view.base)
        raise BinaryFormatError(f"not a Mach-O file (magic 0x{magic:08x})", offset=view.base)
    # MH_MAGIC/MH_MAGIC_64 read big-endian means a big-endian file; their byte swaps (the CIGAMs)
    # mean a little-endian one.
    big = magic in (MachMagic.MH_MAGIC, MachMagic.MH_MAGIC_64)
    is64 = magic in (MachMagic.MH_MAGIC_64, MachMagic.MH_CIGAM_64)
    order = ">" if big else "<"
    # loader.h: "struct mach_header { uint32_t magic; cpu_type_t cputype; cpu_subtype_t cpusubtype;
    # uint32_t filetype; uint32_t ncmds; uint32_t sizeofcmds; uint32_t flags; }" (+ reserved in _64).
    cputype, cpusubtype, filetype, ncmds, sizeofcmds, _flags = head.unpack(order + "iIIIII", 4, "mach header")
    if expected_cputype is not None and cputype != expected_cputype:
        raise BinaryFormatError(
            f"fat slice: fat_arch cputype {expected_cputype} but the slice's mach header says {cputype}",
            offset=view.base + 4,
        )
    header_size = _HEADER_SIZE_64 if is64 else _HEADER_SIZE_32
    commands = _walk_commands(view, order, header_size, ncmds, sizeofcmds, align=8 if is64 else 4, deep=deep)
    info = BinaryInfo(
        format=BinaryFormat.MACHO,
        arch=_arch_name(cputype, cpusubtype),
        bits=64 if is64 else 32,
        byteorder="big" if big else "little",
        kind=_KINDS.get(filetype, FileKind.OTHER),
        # A library named by two commands (lld 14 writes both LC_LOAD_DYLIB and LC_REEXPORT_DYLIB
        # for ``-reexport-l``) is loaded once: keep its first position.
        needed=_union([tuple(commands.needed)]),
        rpath=tuple(commands.rpath),
        install_name=commands.install_name,
        weak_needed=_union([tuple(commands.weak_needed)]),
        min_os=commands.min_os,
        sdk=commands.sdk,
        os_platform=commands.os_platform,
    )
    if not deep:
        return info
    imported, exported = _read_symbols(view, order, is64, commands)
    return replace(
        info,
        deep=True,
        imported_symbols=imported,
        exported_symbols=exported,
        debug_bytes=commands.debug_bytes,
    )


def _arch_name(cputype: int, cpusubtype: int) -> str:
    """The conventional name of a ``cputype``/``cpusubtype`` pair (``unknown-<cputype>`` if none)."""
    # machine.h: the high byte of cpusubtype holds capability bits (CPU_SUBTYPE_MASK), e.g.
    # CPU_SUBTYPE_LIB64 on x86_64 executables or the pointer-authentication ABI version on arm64e.
    subtype = cpusubtype & ~CPU_SUBTYPE_MASK
    named = _SUBTYPE_NAMES.get((cputype, subtype))
    if named is not None:
        return named
    return _CPU_NAMES.get(cputype, f"unknown-{cputype}")


def _walk_commands(
    view: View, order: str, header_size: int, ncmds: int, sizeofcmds: int, *, align: int, deep: bool = False
) -> _Commands:
    """Read the ``sizeofcmds`` bytes after the header in one piece and interpret its ``ncmds`` commands."""
    if sizeofcmds > MAX_SIZEOFCMDS:
        raise BinaryFormatError(
            f"mach header: sizeofcmds {sizeofcmds} exceeds {MAX_SIZEOFCMDS}", offset=view.base + 20
        )
    # Every command is at least a ``struct load_command`` (8 bytes), so ncmds is bounded by the area.
    if ncmds * _LOAD_COMMAND_SIZE > sizeofcmds:
        raise BinaryFormatError(
            f"mach header: {ncmds} load commands cannot fit in sizeofcmds {sizeofcmds}",
            offset=view.base + 16,
        )
    area = _load(view, header_size, sizeofcmds, "load commands")
    cmd_struct = struct.Struct(order + "II")
    result = _Commands()
    offset = 0
    for index in range(ncmds):
        what = f"load command {index}"
        cmd, cmdsize = area.unpack(cmd_struct, offset, what)
        # loader.h: "The cmdsize field is the size in bytes of the particular load command structure
        # plus anything that follows it that is a part of the load command ... The cmdsize for 32-bit
        # architectures MUST be a multiple of 4 bytes and for 64-bit architectures MUST be a multiple
        # of 8 bytes"
        if cmdsize < _LOAD_COMMAND_SIZE or cmdsize % align:
            raise BinaryFormatError(
                f"{what}: cmdsize {cmdsize} is not a multiple of {align} of at least {_LOAD_COMMAND_SIZE}",
                offset=area.base + offset,
            )
        command = area.sub(offset, cmdsize, what)
        _interpret(command, order, cmd & ~LC_REQ_DYLD, what, result)
        if deep:
            _interpret_deep(command, order, cmd & ~LC_REQ_DYLD, what, result)
        offset += cmdsize
    return result


def _interpret(command: View, order: str, cmd: int, what: str, result: _Commands) -> None:
    """Record what one load command (``cmd`` without LC_REQ_DYLD) contributes to ``result``."""
    if cmd in _DYLIB_COMMANDS:
        name = _lc_str(command, order, _DYLIB_COMMAND_SIZE, f"{what} ({LoadCommand(cmd).name})")
        result.needed.append(name)
        if cmd == LoadCommand.LC_LOAD_WEAK_DYLIB:
            result.weak_needed.append(name)
    elif cmd == LoadCommand.LC_ID_DYLIB:
        name = _lc_str(command, order, _DYLIB_COMMAND_SIZE, f"{what} (LC_ID_DYLIB)")
        if result.install_name is None:
            result.install_name = name
    elif cmd == LoadCommand.LC_RPATH:
        result.rpath.append(_lc_str(command, order, _RPATH_COMMAND_SIZE, f"{what} (LC_RPATH)"))
    elif cmd == LoadCommand.LC_BUILD_VERSION:
        _build_version(command, order, what, result)
    elif cmd in _VERSION_MIN_PLATFORMS:
        _version_min(command, order, _VERSION_MIN_PLATFORMS[cmd], what, result)


def _lc_str(command: View, order: str, struct_size: int, what: str) -> str:
    """The string an ``lc_str`` at offset 8 of ``command`` points to, kept inside the command.

    loader.h: "union lc_str { uint32_t offset; /* offset to the string */ ... }. The strings are
    stored just after the load command structure and the offset is from the start of the load
    command structure. The size of the string is reflected in the cmdsize field of the load command."
    """
    (offset,) = command.unpack(order + "I", 8, what)
    if offset < struct_size:
        raise BinaryFormatError(
            f"{what}: string offset {offset} points inside the {struct_size}-byte command structure",
            offset=command.base + 8,
        )
    return command.cstring(offset, what)


def _build_version(command: View, order: str, what: str, result: _Commands) -> None:
    """Interpret an LC_BUILD_VERSION command (the first platform command wins)."""
    # loader.h: "struct build_version_command { ... uint32_t platform; uint32_t minos; /* X.Y.Z is
    # encoded in nibbles xxxx.yy.zz */ uint32_t sdk; /* X.Y.Z is encoded in nibbles xxxx.yy.zz */
    # uint32_t ntools; /* number of tool entries following this */ }"
    _cmd, cmdsize, platform, minos, sdk, ntools = command.unpack(order + "6I", 0, what)
    if _BUILD_VERSION_SIZE + ntools * _BUILD_TOOL_SIZE > cmdsize:
        raise BinaryFormatError(
            f"{what} (LC_BUILD_VERSION): {ntools} tool entries do not fit in cmdsize {cmdsize}",
            offset=command.base + 20,
        )
    if result.os_platform is None:
        result.os_platform = _platform_name(platform)
        result.min_os = _version(minos)
        result.sdk = _version(sdk) if sdk else None


def _version_min(command: View, order: str, platform: str, what: str, result: _Commands) -> None:
    """Interpret an LC_VERSION_MIN_* command (the first platform command wins)."""
    # loader.h: "struct version_min_command { ... uint32_t version; /* X.Y.Z is encoded in nibbles
    # xxxx.yy.zz */ uint32_t sdk; /* X.Y.Z is encoded in nibbles xxxx.yy.zz */ }"
    if command.limit < _VERSION_MIN_SIZE:
        raise BinaryFormatError(
            f"{what}: cmdsize {command.limit} is smaller than a version_min_command",
            offset=command.base,
        )
    _cmd, _cmdsize, version, sdk = command.unpack(order + "4I", 0, what)
    if result.os_platform is None:
        result.os_platform = platform
        result.min_os = _version(version)
        result.sdk = _version(sdk) if sdk else None


def _platform_name(platform: int) -> str:
    """``macos``, ``ios``, ``maccatalyst``, ... for a ``PLATFORM_*`` value; ``unknown-<n>`` else."""
    try:
        return Platform(platform).name.lower()
    except ValueError:
        return f"unknown-{platform}"


def _version(encoded: int) -> str:
    """Render an ``xxxx.yy.zz`` nibble-encoded version: ``"11.0"``, ``"10.13.4"`` (zero patch dropped)."""
    major, minor, patch = encoded >> 16, (encoded >> 8) & 0xFF, encoded & 0xFF
    return f"{major}.{minor}.{patch}" if patch else f"{major}.{minor}"


# --- deep reading: the symbol table and the __DWARF segment ------------------------------------

#: Most symbol table entries read.
MAX_SYMBOLS = 2_000_000
#: ``struct symtab_command { cmd; cmdsize; symoff; nsyms; stroff; strsize; }``.
_SYMTAB_COMMAND_SIZE = 24
#: ``struct dysymtab_command``: cmd, cmdsize, ilocalsym, nlocalsym, iextdefsym, nextdefsym,
#: iundefsym, nundefsym, ... (the rest, 48 bytes, is not used).
_DYSYMTAB_PREFIX_SIZE = 32
#: ``segment_command``: cmd, cmdsize, char segname[16], vmaddr, vmsize, fileoff, filesize, maxprot,
#: initprot, nsects, flags (the four addresses and sizes are uint64_t in ``segment_command_64``).
_SEGMENT_32 = "16sIIIIiiII"
_SEGMENT_64 = "16sQQQQiiII"
#: ``struct section`` / ``section_64``: sectname[16], segname[16], addr, size, ... (68 / 80 bytes).
_SECTION_32 = ("16s16sII", 68)
_SECTION_64 = ("16s16sQQ", 80)
_DWARF_SEGMENT = b"__DWARF"
#: ``struct nlist { uint32_t n_strx; uint8_t n_type; uint8_t n_sect; int16_t n_desc; uint32_t
#: n_value; }``; ``nlist_64`` has ``uint16_t n_desc; uint64_t n_value``.
_NLIST_32 = "IBBhI"
_NLIST_64 = "IBBHQ"

#: nlist.h: "N_STAB 0xe0 /* if any of these bits set, a symbolic debugging entry */",
#: "N_PEXT 0x10 /* private external symbol bit */", "N_TYPE 0x0e /* mask for the type bits */",
#: "N_EXT 0x01 /* external symbol bit, set for external symbols */".
N_STAB = 0xE0
N_PEXT = 0x10
N_TYPE = 0x0E
N_EXT = 0x01
#: Values of ``n_type & N_TYPE``: "N_UNDF 0x0 /* undefined, n_sect == NO_SECT */", "N_ABS 0x2
#: /* absolute, n_sect == NO_SECT */", "N_SECT 0xe /* defined in section number n_sect */", "N_PBUD
#: 0xc /* prebound undefined (defined in a dylib) */".
N_UNDF = 0x0
N_ABS = 0x2
N_SECT = 0xE
N_PBUD = 0xC


def _interpret_deep(command: View, order: str, cmd: int, what: str, result: _Commands) -> None:
    """Record LC_SYMTAB, LC_DYSYMTAB and ``__DWARF`` segments (deep reading only)."""
    if cmd == LoadCommand.LC_SYMTAB:
        _need(command, _SYMTAB_COMMAND_SIZE, f"{what} (LC_SYMTAB)")
        symoff, nsyms, stroff, strsize = command.unpack(order + "4I", 8, what)
        result.symtab = (symoff, nsyms, stroff, strsize)
    elif cmd == LoadCommand.LC_DYSYMTAB:
        _need(command, _DYSYMTAB_PREFIX_SIZE, f"{what} (LC_DYSYMTAB)")
        _ilocal, _nlocal, iextdef, nextdef, iundef, nundef = command.unpack(order + "6I", 8, what)
        result.dysymtab = (iextdef, nextdef, iundef, nundef)
    elif cmd in (LoadCommand.LC_SEGMENT, LoadCommand.LC_SEGMENT_64):
        result.debug_bytes += _dwarf_bytes(command, order, is64=cmd == LoadCommand.LC_SEGMENT_64, what=what)


def _need(command: View, size: int, what: str) -> None:
    if command.limit < size:
        raise BinaryFormatError(
            f"{what}: cmdsize {command.limit} is smaller than {size}", offset=command.base
        )


def _dwarf_bytes(command: View, order: str, *, is64: bool, what: str) -> int:
    """``filesize`` of a ``__DWARF`` segment (a dSYM); in an object file, its ``__DWARF`` sections' sizes.

    loader.h: an MH_OBJECT file has "one unnamed segment" holding every section, so its debug
    sections are told apart by the section's own ``segname``.
    """
    fmt = order + (_SEGMENT_64 if is64 else _SEGMENT_32)
    segment = struct.Struct(fmt)
    _need(command, 8 + segment.size, what)
    segname, _vmaddr, _vmsize, _fileoff, filesize, _max, _init, nsects, _flags = segment.unpack(
        command.bytes(8, segment.size, what)
    )
    if segname.rstrip(b"\0") == _DWARF_SEGMENT:
        return int(filesize)
    section_fmt, section_size = _SECTION_64 if is64 else _SECTION_32
    section = struct.Struct(order + section_fmt)
    first = 8 + segment.size
    if first + nsects * section_size > command.limit:
        raise BinaryFormatError(f"{what}: {nsects} sections do not fit in cmdsize", offset=command.base)
    total = 0
    for index in range(nsects):
        _sectname, sect_segname, _addr, size = section.unpack(
            command.bytes(first + index * section_size, section.size, what)
        )
        if sect_segname.rstrip(b"\0") == _DWARF_SEGMENT:
            total += size
    return total


def _read_symbols(
    view: View, order: str, is64: bool, commands: _Commands
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(imported, exported) external symbol names, leading ``_`` removed, each sorted and unique."""
    if commands.symtab is None:
        return (), ()
    symoff, nsyms, stroff, strsize = commands.symtab
    if nsyms > MAX_SYMBOLS:
        raise BinaryFormatError(f"LC_SYMTAB: {nsyms} symbols are too many", offset=view.base)
    first, count = _external_range(nsyms, commands.dysymtab, view.base)
    if count == 0:
        return (), ()
    nlist = struct.Struct(order + (_NLIST_64 if is64 else _NLIST_32))
    table = view.bytes(symoff + first * nlist.size, count * nlist.size, "symbol table")
    imported: set[int] = set()
    exported: set[int] = set()
    for strx, n_type, _sect, _desc, value in nlist.iter_unpack(table):
        if n_type & N_STAB or not n_type & N_EXT or strx == 0:
            continue
        kind = n_type & N_TYPE
        # nlist.h: "If the type is N_UNDF and the N_EXT bit is set, and n_value is non-zero, it is a
        # common symbol" (object files only): defined by the static linker, neither list.
        if kind == N_PBUD or (kind == N_UNDF and value == 0):
            imported.add(strx)
        elif kind in (N_SECT, N_ABS) and not n_type & N_PEXT:
            exported.add(strx)
    strings = view.bytes(stroff, strsize, "string table")
    return _names(strings, imported, view.base), _names(strings, exported, view.base)


def _external_range(nsyms: int, dysymtab: tuple[int, int, int, int] | None, base: int) -> tuple[int, int]:
    """(first index, count) of the symbols to read: LC_DYSYMTAB's external groups if present.

    loader.h: the symbols "are grouped by their type into three groups: local symbols, defined
    external symbols, undefined external symbols" and LC_DYSYMTAB gives each group's index and count.
    """
    if dysymtab is None:
        return 0, nsyms
    iextdef, nextdef, iundef, nundef = dysymtab
    if iextdef + nextdef > nsyms or iundef + nundef > nsyms:
        raise BinaryFormatError(f"LC_DYSYMTAB: symbol groups run past nsyms {nsyms}", offset=base)
    groups = [(start, start + n) for start, n in ((iextdef, nextdef), (iundef, nundef)) if n]
    if not groups:
        return 0, 0
    first = min(start for start, _ in groups)
    return first, max(end for _, end in groups) - first


def _names(strings: bytes, indexes: set[int], base: int) -> tuple[str, ...]:
    """The sorted, unique names at ``indexes`` of the string table, one leading ``_`` removed."""
    names: set[str] = set()
    for index in indexes:
        end = strings.find(b"\0", index)
        if index >= len(strings) or end < 0:
            raise BinaryFormatError(f"symbol name {index} is outside the string table", offset=base)
        raw = strings[index + 1 if strings.startswith(b"_", index) else index : end]
        if raw:
            names.add(raw.decode("utf-8", "backslashreplace"))
    return tuple(sorted(names))
