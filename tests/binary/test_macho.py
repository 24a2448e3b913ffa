"""Tests for the Mach-O reader.

Four sources of binaries:

* hand-assembled images (``tiny``, ``fat``), toolchain-free, for exact field checks and every
  malformed case;
* synthetic dylibs, bundles and executables compiled at test time from ``macho_src/`` with clang 14
  and ld64.lld 14 (no macOS SDK: ``-nostdlib`` and a stand-in libSystem), compared field by field
  with ``llvm-otool -l`` / ``-hv`` (fat slices: ``llvm-objdump --macho --arch``);
* every Mach-O file of the macOS wheels of the real-wheel corpus, compared the same way;
* byte surgery on those synthetic files for what no toolchain here writes: big-endian thin images
  (ppc/ppc64), FAT_MAGIC_64 wrappers, i386 / x86_64h / arm64e cpu types, LC_LOAD_UPWARD_DYLIB and
  LC_LAZY_LOAD_DYLIB commands, commands written without their LC_REQ_DYLD bit.

Hypothesis then mutates, truncates and randomizes all of them: the reader must return a
``BinaryInfo`` or raise ``BinaryFormatError``, nothing else.
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _corpus import CorpusWheel, corpus_params, ensure
from _toolchain import require, run
from native_doctor.binary import (
    SNIFF_BYTES,
    BinaryFormat,
    BinaryInfo,
    BytesSource,
    FileKind,
    read_binary,
    sniff,
)
from native_doctor.binary.macho import CpuType, read_macho
from native_doctor.errors import BinaryFormatError

SRC = Path(__file__).parent / "macho_src"
FUZZ = settings(
    max_examples=int(os.environ.get("NATIVE_DOCTOR_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

LC_REQ_DYLD = 0x80000000
LC_LOAD_DYLIB = 0xC
LC_ID_DYLIB = 0xD
LC_LOAD_WEAK_DYLIB = 0x18 | LC_REQ_DYLD
LC_RPATH = 0x1C | LC_REQ_DYLD
LC_REEXPORT_DYLIB = 0x1F | LC_REQ_DYLD
LC_LAZY_LOAD_DYLIB = 0x20
LC_LOAD_UPWARD_DYLIB = 0x23 | LC_REQ_DYLD
LC_VERSION_MIN_MACOSX = 0x24
LC_VERSION_MIN_IPHONEOS = 0x25
LC_BUILD_VERSION = 0x32
DYLIB_CMDS = {LC_LOAD_DYLIB, LC_ID_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB}
DYLIB_CMDS |= {LC_LAZY_LOAD_DYLIB, LC_LOAD_UPWARD_DYLIB}


def parse(data: bytes) -> BinaryInfo:
    """``read_macho`` over in-memory bytes."""
    return read_macho(BytesSource(data))


def must_parse_or_reject(data: bytes) -> None:
    """The fuzzing oracle: a ``BinaryInfo`` or a ``BinaryFormatError``, nothing else."""
    try:
        info = parse(data)
    except BinaryFormatError:
        return
    assert isinstance(info, BinaryInfo)


# --- hand-assembled images ---------------------------------------------------------------------


def _ver(text: str) -> int:
    """Encode ``"10.13.4"`` as loader.h's ``xxxx.yy.zz`` nibbles."""
    parts = [int(p) for p in text.split(".")] + [0, 0]
    return parts[0] << 16 | parts[1] << 8 | parts[2]


def _pad(body: bytes, align: int) -> bytes:
    return body + b"\0" * (-len(body) % align)


def dylib_cmd(cmd: int, name: str, order: str = "<", align: int = 8) -> bytes:
    """A ``dylib_command`` with its name right after the 24-byte structure."""
    fixed = struct.pack(order + "4I", 24, 2, 0x10000, 0x10000)
    payload = _pad(fixed + name.encode() + b"\0", align)
    return struct.pack(order + "2I", cmd, 8 + len(payload)) + payload


def rpath_cmd(path: str, order: str = "<", align: int = 8) -> bytes:
    payload = _pad(struct.pack(order + "I", 12) + path.encode() + b"\0", align)
    return struct.pack(order + "2I", LC_RPATH, 8 + len(payload)) + payload


def build_version_cmd(platform: int, minos: str, sdk: str, order: str = "<", ntools: int = 1) -> bytes:
    tools = struct.pack(order + "2I", 3, 0x2A0000) * ntools
    return (
        struct.pack(order + "6I", LC_BUILD_VERSION, 24 + len(tools), platform, _ver(minos), _ver(sdk), ntools)
        + tools
    )


def version_min_cmd(cmd: int, version: str, sdk: str, order: str = "<") -> bytes:
    return struct.pack(order + "4I", cmd, 16, _ver(version), _ver(sdk) if sdk else 0)


def tiny(
    commands: list[bytes],
    *,
    order: str = "<",
    is64: bool = True,
    cputype: int = CpuType.ARM64,
    cpusubtype: int = 0,
    filetype: int = 6,
    ncmds: int | None = None,
    sizeofcmds: int | None = None,
) -> bytes:
    """A header plus ``commands`` (enough for the reader; no segments)."""
    magic = 0xFEEDFACF if is64 else 0xFEEDFACE
    area = b"".join(commands)
    header = struct.pack(
        order + "Ii5I",
        magic,
        cputype,
        cpusubtype,
        filetype,
        len(commands) if ncmds is None else ncmds,
        len(area) if sizeofcmds is None else sizeofcmds,
        0x85,
    )
    return header + (b"\0\0\0\0" if is64 else b"") + area


def fat(slices: list[bytes], *, magic64: bool = False, align: int = 4096) -> bytes:
    """Wrap thin images in a fat header (FAT_MAGIC or FAT_MAGIC_64), each slice page-aligned."""
    entry = 32 if magic64 else 20
    offset = -(-(8 + entry * len(slices)) // align) * align
    table, body = b"", b""
    for data in slices:
        order = "<" if data[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe") else ">"
        cputype, subtype = struct.unpack_from(order + "iI", data, 4)
        if magic64:
            table += struct.pack(">iIQQII", cputype, subtype, offset, len(data), 12, 0)
        else:
            table += struct.pack(">iIIII", cputype, subtype, offset, len(data), 12)
        gap = _pad(data, align)
        body += gap
        offset += len(gap)
    head = struct.pack(">II", 0xCAFEBABF if magic64 else 0xCAFEBABE, len(slices)) + table
    return _pad(head, align) + body


LIB = [
    dylib_cmd(LC_ID_DYLIB, "@rpath/libtiny.dylib"),
    dylib_cmd(LC_LOAD_DYLIB, "@rpath/libfoo.dylib"),
    dylib_cmd(LC_LOAD_WEAK_DYLIB, "@rpath/libweak.dylib"),
    dylib_cmd(LC_REEXPORT_DYLIB, "/usr/lib/libz.1.dylib"),
    dylib_cmd(LC_LOAD_UPWARD_DYLIB, "@loader_path/libup.dylib"),
    dylib_cmd(LC_LAZY_LOAD_DYLIB, "/usr/lib/liblazy.dylib"),
    rpath_cmd("@loader_path/../lib"),
    rpath_cmd("/opt/lib"),
    build_version_cmd(1, "10.13.4", "13.1"),
]
LIB_NEEDED = (
    "@rpath/libfoo.dylib",
    "@rpath/libweak.dylib",
    "/usr/lib/libz.1.dylib",
    "@loader_path/libup.dylib",
    "/usr/lib/liblazy.dylib",
)


def _cmds(order: str, align: int) -> list[bytes]:
    return [
        dylib_cmd(LC_ID_DYLIB, "@rpath/libtiny.dylib", order, align),
        dylib_cmd(LC_LOAD_DYLIB, "@rpath/libfoo.dylib", order, align),
        dylib_cmd(LC_LOAD_WEAK_DYLIB, "@rpath/libweak.dylib", order, align),
        rpath_cmd("@loader_path/../lib", order, align),
        version_min_cmd(LC_VERSION_MIN_IPHONEOS, "9.0", "10.2", order),
    ]


TINY_VARIANTS = {
    "le64-arm64": tiny(_cmds("<", 8)),
    "be64-ppc64": tiny(_cmds(">", 8), order=">", cputype=CpuType.POWERPC64),
    "le32-armv7": tiny(_cmds("<", 4), is64=False, cputype=CpuType.ARM, cpusubtype=9),
    "be32-ppc": tiny(_cmds(">", 4), order=">", is64=False, cputype=CpuType.POWERPC),
}


def test_tiny_library_all_dylib_commands() -> None:
    info = parse(tiny(LIB))
    assert info == BinaryInfo(
        format=BinaryFormat.MACHO,
        arch="arm64",
        bits=64,
        byteorder="little",
        kind=FileKind.SHARED_LIBRARY,
        needed=LIB_NEEDED,
        rpath=("@loader_path/../lib", "/opt/lib"),
        install_name="@rpath/libtiny.dylib",
        weak_needed=("@rpath/libweak.dylib",),
        min_os="10.13.4",
        sdk="13.1",
        os_platform="macos",
    )


@pytest.mark.parametrize("variant", TINY_VARIANTS, ids=list(TINY_VARIANTS))
def test_tiny_byte_orders_and_widths(variant: str) -> None:
    info = parse(TINY_VARIANTS[variant])
    order, arch = variant.split("-")
    assert (info.arch, info.bits, info.byteorder) == (
        arch,
        64 if "64" in order else 32,
        "big" if order.startswith("be") else "little",
    )
    assert info.needed == ("@rpath/libfoo.dylib", "@rpath/libweak.dylib")
    assert info.weak_needed == ("@rpath/libweak.dylib",)
    assert info.rpath == ("@loader_path/../lib",)
    assert info.install_name == "@rpath/libtiny.dylib"
    assert (info.os_platform, info.min_os, info.sdk) == ("ios", "9.0", "10.2")


@pytest.mark.parametrize(
    ("cputype", "cpusubtype", "arch"),
    [
        (CpuType.X86_64, 3, "x86_64"),
        (CpuType.X86_64, 0x80000003, "x86_64"),  # CPU_SUBTYPE_LIB64 capability bit
        (CpuType.X86_64, 8, "x86_64h"),
        (CpuType.ARM64, 0, "arm64"),
        (CpuType.ARM64, 2, "arm64e"),
        (CpuType.ARM64, 0x80000002, "arm64e"),  # CPU_SUBTYPE_PTRAUTH_ABI
        (CpuType.ARM64_32, 1, "arm64_32"),
        (CpuType.X86, 3, "i386"),
        (CpuType.POWERPC, 0, "ppc"),
        (CpuType.POWERPC64, 0, "ppc64"),
        (CpuType.ARM, 9, "armv7"),
        (CpuType.ARM, 11, "armv7s"),
        (CpuType.ARM, 12, "armv7k"),
        (99, 0, "unknown-99"),
        (-1, 0, "unknown--1"),
    ],
    ids=lambda v: str(v) if isinstance(v, str) else None,
)
def test_arch_names(cputype: int, cpusubtype: int, arch: str) -> None:
    assert parse(tiny([], cputype=cputype, cpusubtype=cpusubtype)).arch == arch


@pytest.mark.parametrize(
    ("filetype", "kind"),
    [
        (1, FileKind.OBJECT),
        (2, FileKind.EXECUTABLE),
        (6, FileKind.SHARED_LIBRARY),
        (8, FileKind.BUNDLE),
        (4, FileKind.OTHER),
        (11, FileKind.OTHER),
        (153, FileKind.OTHER),
    ],
    ids=["object", "execute", "dylib", "bundle", "core", "kext", "bogus"],
)
def test_kinds(filetype: int, kind: FileKind) -> None:
    assert parse(tiny([], filetype=filetype)).kind is kind


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (build_version_cmd(1, "11.0", "12.3"), ("macos", "11.0", "12.3")),
        (build_version_cmd(2, "14.0.1", "15.0"), ("ios", "14.0.1", "15.0")),
        (build_version_cmd(6, "13.1", "0.0"), ("maccatalyst", "13.1", None)),
        (build_version_cmd(7, "14.0", "15.0"), ("iossimulator", "14.0", "15.0")),
        (build_version_cmd(5, "6.0", "6.0"), ("bridgeos", "6.0", "6.0")),
        (build_version_cmd(11, "1.0", "1.0"), ("visionos", "1.0", "1.0")),
        (build_version_cmd(77, "1.0", "1.0"), ("unknown-77", "1.0", "1.0")),
        (build_version_cmd(1, "11.0", "11.0", ntools=0), ("macos", "11.0", "11.0")),
        (version_min_cmd(LC_VERSION_MIN_MACOSX, "10.9", "10.15"), ("macos", "10.9", "10.15")),
        (version_min_cmd(LC_VERSION_MIN_MACOSX, "10.13.4", ""), ("macos", "10.13.4", None)),
        (version_min_cmd(0x2F, "12.0", "12.0"), ("tvos", "12.0", "12.0")),
        (version_min_cmd(0x30, "5.0", "6.0"), ("watchos", "5.0", "6.0")),
    ],
    ids=[
        "build-macos",
        "build-ios-patch",
        "build-catalyst-no-sdk",
        "build-iossim",
        "build-bridgeos",
        "build-visionos",
        "build-unknown",
        "build-no-tools",
        "min-macos",
        "min-macos-patch-no-sdk",
        "min-tvos",
        "min-watchos",
    ],
)
def test_platform_versions(command: bytes, expected: tuple[str, str, str | None]) -> None:
    info = parse(tiny([command]))
    assert (info.os_platform, info.min_os, info.sdk) == expected


def test_first_platform_command_wins() -> None:
    """A zippered binary carries macos then maccatalyst LC_BUILD_VERSIONs: the first is reported."""
    info = parse(tiny([build_version_cmd(1, "10.15", "11.0"), build_version_cmd(6, "13.1", "14.0")]))
    assert (info.os_platform, info.min_os) == ("macos", "10.15")


def test_commands_without_lc_req_dyld_bit() -> None:
    cmds = [
        dylib_cmd(LC_LOAD_WEAK_DYLIB & ~LC_REQ_DYLD, "libw.dylib"),
        dylib_cmd(LC_LOAD_UPWARD_DYLIB & ~LC_REQ_DYLD, "libu.dylib"),
        rpath_cmd("/x"),
    ]
    cmds[2] = struct.pack("<I", 0x1C) + cmds[2][4:]
    info = parse(tiny(cmds))
    assert (info.needed, info.weak_needed, info.rpath) == (
        ("libw.dylib", "libu.dylib"),
        ("libw.dylib",),
        ("/x",),
    )


def test_duplicate_needed_kept_once_in_first_position() -> None:
    cmds = [
        dylib_cmd(LC_LOAD_DYLIB, "a"),
        dylib_cmd(LC_REEXPORT_DYLIB, "b"),
        dylib_cmd(LC_REEXPORT_DYLIB, "a"),
    ]
    assert parse(tiny(cmds)).needed == ("a", "b")


def test_fat_merges_slices() -> None:
    x86 = tiny(
        [dylib_cmd(LC_LOAD_DYLIB, "x"), rpath_cmd("/r1"), version_min_cmd(0x24, "10.9", "10.15")],
        cputype=CpuType.X86_64,
    )
    arm = tiny(
        [
            dylib_cmd(LC_ID_DYLIB, "@rpath/id"),
            dylib_cmd(LC_LOAD_WEAK_DYLIB, "w"),
            dylib_cmd(LC_LOAD_DYLIB, "x"),
            rpath_cmd("/r2"),
            build_version_cmd(1, "11.0", "12.0"),
        ]
    )
    for magic64 in (False, True):
        info = parse(fat([x86, arm], magic64=magic64))
        assert info.arch == "universal2"
        assert info.archs == ("x86_64", "arm64")
        assert info.needed == ("x", "w")
        assert info.weak_needed == ("w",)
        assert info.rpath == ("/r1", "/r2")
        assert info.install_name == "@rpath/id"
        assert (info.min_os, info.sdk, info.os_platform) == ("11.0", "10.15", "macos")
        assert (info.bits, info.byteorder, info.kind) == (64, "little", FileKind.SHARED_LIBRARY)
        assert info.slices == (parse(x86), parse(arm))


def test_fat_arch_names_and_min_os_numeric() -> None:
    a = tiny([version_min_cmd(0x24, "10.10", "")], cputype=CpuType.X86, is64=False)
    b = tiny([version_min_cmd(0x24, "10.9", "", ">")], cputype=CpuType.POWERPC, order=">", is64=False)
    info = parse(fat([a, b]))
    assert (info.arch, info.bits, info.min_os, info.byteorder) == ("i386+ppc", 32, "10.10", "little")


def test_read_binary_dispatches_fat() -> None:
    assert read_binary(fat([tiny([])])).arch == "arm64"


# --- malformed input ---------------------------------------------------------------------------

GOOD = tiny(LIB)


def _with(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    buf = bytearray(data)
    struct.pack_into(fmt, buf, offset, *values)
    return bytes(buf)


def _cmd_offset(index: int, commands: list[bytes] = LIB, header: int = 32) -> int:
    return header + sum(len(c) for c in commands[:index])


MALFORMED = {
    "empty": (b"", "magic"),
    "bad-magic": (b"\0" * 64, "not a Mach-O"),
    "header-truncated": (GOOD[:20], "mach header"),
    "commands-truncated": (GOOD[:100], "load commands"),
    "ncmds-too-many": (_with(GOOD, 16, "<I", 10_000), "cannot fit"),
    "sizeofcmds-huge": (_with(GOOD, 20, "<I", 0xFFFFFFF0), "sizeofcmds"),
    "cmdsize-zero": (_with(GOOD, _cmd_offset(1) + 4, "<I", 0), "cmdsize 0"),
    "cmdsize-unaligned": (_with(GOOD, _cmd_offset(1) + 4, "<I", 44), "cmdsize 44"),
    "cmdsize-past-area": (_with(GOOD, _cmd_offset(8) + 4, "<I", 4096), "load command 8"),
    "lc-str-past-command": (_with(GOOD, _cmd_offset(1) + 8, "<I", 200), "string offset 200"),
    "lc-str-inside-struct": (_with(GOOD, _cmd_offset(1) + 8, "<I", 4), "inside the 24-byte"),
    "rpath-str-inside-struct": (_with(GOOD, _cmd_offset(6) + 8, "<I", 8), "inside the 12-byte"),
    "unterminated-name": (
        tiny([struct.pack("<3I", LC_LOAD_DYLIB, 32, 24) + b"\0" * 12 + b"abcdefgh"]),
        "unterminated",
    ),
    "ntools-too-many": (
        tiny([build_version_cmd(1, "11.0", "11.0")[:20] + struct.pack("<I", 5) + b"\0" * 8]),
        "tool entries",
    ),
    "version-min-short": (tiny([struct.pack("<2I", LC_VERSION_MIN_MACOSX, 8)]), "smaller than a version_min"),
    "fat-zero-archs": (struct.pack(">II", 0xCAFEBABE, 0) + b"\0" * 64, "nfat_arch 0"),
    "fat-many-archs": (struct.pack(">II", 0xCAFEBABE, 1000) + b"\0" * 64, "nfat_arch 1000"),
    "fat-table-truncated": (struct.pack(">II", 0xCAFEBABE, 3) + b"\0" * 20, "fat_arch table"),
    "fat-slice-outside": (struct.pack(">II5I", 0xCAFEBABE, 1, 12, 0, 4096, 10_000, 12), "fat slice 0"),
    "fat-slice-overlaps-header": (_with(fat([GOOD]), 16, ">I", 0), "overlaps the fat header"),
    "fat-in-fat": (fat([fat([GOOD])]), "itself a fat file"),
    "fat-cputype-mismatch": (_with(fat([GOOD]), 8, ">i", CpuType.X86_64), "cputype"),
    "fat64-offset-huge": (_with(fat([GOOD], magic64=True), 16, ">Q", 2**63), "fat slice 0"),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed(case: str) -> None:
    data, message = MALFORMED[case]
    with pytest.raises(BinaryFormatError, match=message):
        parse(data)


def test_error_offsets_are_absolute() -> None:
    """An error inside a fat slice names the offset in the whole file."""
    bad = _with(GOOD, _cmd_offset(1) + 4, "<I", 0)
    with pytest.raises(BinaryFormatError) as thin:
        parse(bad)
    with pytest.raises(BinaryFormatError) as in_fat:
        parse(fat([bad], align=4096))
    assert thin.value.offset == _cmd_offset(1)
    assert in_fat.value.offset == 4096 + _cmd_offset(1)


class RecordingSource:
    """A ByteSource that remembers every read."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads: list[tuple[int, int]] = []

    @property
    def size(self) -> int:
        return len(self.data)

    def read_at(self, offset: int, length: int) -> bytes:
        self.reads.append((offset, length))
        return self.data[offset : offset + length]


def _areas(data: bytes) -> list[tuple[int, int]]:
    """``[start, end)`` of the parts a reader may read: fat table and each image's header + commands."""
    if data[:4] in (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"):
        is64 = data[3] == 0xBF
        (count,) = struct.unpack_from(">I", data, 4)
        areas = [(0, 8 + count * (32 if is64 else 20))]
        for i in range(count):
            fmt, at = (">QQ", 8 + i * 32 + 8) if is64 else (">II", 8 + i * 20 + 8)
            offset, size = struct.unpack_from(fmt, data, at)
            areas += [(offset + a, offset + b) for a, b in _areas(data[offset : offset + size])]
        return areas
    order = "<" if data[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe") else ">"
    header = 32 if data[:4] in (b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xcf") else 28
    (sizeofcmds,) = struct.unpack_from(order + "I", data, 20)
    return [(0, header + sizeofcmds)]


def assert_reads_only_headers(data: bytes) -> None:
    src = RecordingSource(data)
    read_macho(src)
    areas = _areas(data)
    for offset, length in src.reads:
        assert any(a <= offset and offset + length <= b for a, b in areas), (offset, length, areas)
    # one read for the magic number, two for a fat header and its table, then per image one for
    # the header and one for all its load commands
    images = len(areas) - 1 if data[:3] == b"\xca\xfe\xba" else len(areas)
    assert len(src.reads) == 1 + 2 * (len(areas) - images) + 2 * images, src.reads
    for start, end in areas[len(areas) - images :]:
        header = 32 if data[start : start + 4] in (b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa\xcf") else 28
        assert (start + header, end - start - header) in src.reads


def test_reads_only_headers_tiny() -> None:
    assert_reads_only_headers(tiny(LIB))
    assert_reads_only_headers(fat([tiny(LIB), tiny(LIB, cputype=CpuType.X86_64)], magic64=True))


# --- synthetic binaries from clang + ld64.lld ----------------------------------------------------


@dataclass(frozen=True)
class Build:
    """One synthetic Mach-O: how to link it, and what the reader must find in it."""

    name: str
    target: str
    platform: str  # -platform_version PLATFORM,MIN,SDK
    source: str
    mode: str = "-shared"  # or -bundle, or "" for an executable
    install_name: str | None = None
    libs: tuple[str, ...] = ()  # other builds linked normally
    weak: tuple[str, ...] = ()  # other builds linked with -weak_library
    reexport: tuple[str, ...] = ()  # other builds linked with -reexport_library
    rpaths: tuple[str, ...] = ()


def _family(arch: str, target: str, platform: str) -> list[Build]:
    sysname, foo, weak = f"libSystem-{arch}", f"libfoo-{arch}", f"libweak-{arch}"
    return [
        Build(sysname, target, platform, "system.c", install_name="/usr/lib/libSystem.B.dylib"),
        Build(foo, target, platform, "foo.c", install_name="@rpath/libfoo.dylib"),
        Build(weak, target, platform, "weak.c", install_name="@rpath/libweak.dylib"),
        Build(
            f"libbar-{arch}",
            target,
            platform,
            "bar.c",
            install_name="@rpath/libbar.dylib",
            libs=(foo, sysname),
            weak=(weak,),
            rpaths=("@loader_path/../lib", "@loader_path"),
        ),
        Build(
            f"ext-{arch}.so",
            target,
            platform,
            "ext.c",
            mode="-bundle",
            libs=(foo, sysname),
            rpaths=("@loader_path/.dylibs",),
        ),
        Build(
            f"main-{arch}",
            target,
            platform,
            "main.c",
            mode="",
            libs=(foo, sysname),
            rpaths=("@executable_path/../lib",),
        ),
        Build(
            f"libre-{arch}",
            target,
            platform,
            "foo.c",
            install_name="@rpath/libre.dylib",
            libs=(sysname,),
            reexport=(weak,),
        ),
    ]


BUILDS = [
    *_family("arm64", "arm64-apple-macos11", "macos,11.0,12.3"),
    *_family("x86_64", "x86_64-apple-macos10.9", "macos,10.9,10.15"),
    Build(
        "libfoo-x86_64-10.13.4",
        "x86_64-apple-macos10.13",
        "macos,10.13.4,11.0",
        "foo.c",
        install_name="@rpath/libfoo.dylib",
    ),
    Build(
        "libfoo-x86_64-10.12",
        "x86_64-apple-macos10.12",
        "macos,10.12,11.1",
        "foo.c",
        install_name="@rpath/libfoo.dylib",
    ),
    Build(
        "libfoo-armv7-ios9", "armv7-apple-ios9", "ios,9.0,10.0", "foo.c", install_name="@rpath/libfoo.dylib"
    ),
    Build(
        "libfoo-arm64-ios14",
        "arm64-apple-ios14",
        "ios,14.0,15.0",
        "foo.c",
        install_name="@rpath/libfoo.dylib",
    ),
    Build(
        "libfoo-arm64-iossim",
        "arm64-apple-ios14-simulator",
        "ios-simulator,14.0,15.0",
        "foo.c",
        install_name="/f",
    ),
    Build(
        "libfoo-arm64-catalyst",
        "arm64-apple-ios14-macabi",
        "mac-catalyst,14.0,15.0",
        "foo.c",
        install_name="/f",
    ),
    Build("libfoo-arm64-tvos", "arm64-apple-tvos12", "tvos,12.0,13.0", "foo.c", install_name="/f"),
    Build(
        "libfoo-arm64_32-watchos", "arm64_32-apple-watchos5", "watchos,5.0,6.0", "foo.c", install_name="/f"
    ),
]
#: name -> (inputs) built with llvm-lipo -create
FATS = {
    "libbar-universal2": ("libbar-x86_64", "libbar-arm64"),
    "ext-universal2.so": ("ext-x86_64.so", "ext-arm64.so"),
    "libfoo-ios-fat": ("libfoo-armv7-ios9", "libfoo-arm64-ios14"),
}


def _link(build: Build, out: Path, done: dict[str, Path], clang: str, ld: str) -> None:
    args: list[str | Path] = [clang, "-target", build.target, "-fuse-ld=lld", f"--ld-path={ld}"]
    args += ["-mlinker-version=711", "-nostdlib", f"-Wl,-platform_version,{build.platform}"]
    args += build.mode.split()
    if build.install_name:
        args.append(f"-Wl,-install_name,{build.install_name}")
    args += [f"-Wl,-rpath,{r}" for r in build.rpaths]
    args += [SRC / build.source, *(done[n] for n in build.libs)]
    args += [f"-Wl,-weak_library,{done[n]}" for n in build.weak]
    args += [f"-Wl,-reexport_library,{done[n]}" for n in build.reexport]
    run(*args, "-o", out)


@pytest.fixture(scope="session")
def tools() -> dict[str, str]:
    return {
        "clang": require("clang-14", "clang"),
        "ld": require("ld64.lld-14", "ld64.lld"),
        "lipo": require("llvm-lipo-14", "llvm-lipo"),
        "otool": require("llvm-otool-14", "llvm-otool"),
        "objdump": require("llvm-objdump-14", "llvm-objdump"),
    }


@pytest.fixture(scope="session")
def built(tools: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every synthetic binary, by name."""
    out = tmp_path_factory.mktemp("macho")
    done: dict[str, Path] = {}
    for build in BUILDS:
        path = out / build.name
        _link(build, path, done, tools["clang"], tools["ld"])
        done[build.name] = path
    for name, inputs in FATS.items():
        run(tools["lipo"], "-create", *(done[i] for i in inputs), "-output", out / name)
        done[name] = out / name
    return done


ALL_NAMES = [b.name for b in BUILDS] + list(FATS)


# --- the reference tool ------------------------------------------------------------------------

_OTOOL_PLATFORMS = {
    "LC_VERSION_MIN_MACOSX": "macos",
    "LC_VERSION_MIN_IPHONEOS": "ios",
    "LC_VERSION_MIN_TVOS": "tvos",
    "LC_VERSION_MIN_WATCHOS": "watchos",
}
_OTOOL_DYLIBS = {
    "LC_LOAD_DYLIB",
    "LC_LOAD_WEAK_DYLIB",
    "LC_REEXPORT_DYLIB",
    "LC_LOAD_UPWARD_DYLIB",
    "LC_LAZY_LOAD_DYLIB",
}


def _reference(
    tools: dict[str, str], path: Path, arch: str | None, otool_flag: str, objdump_flag: str
) -> str:
    """``llvm-otool FLAG`` for a thin file; ``llvm-objdump --macho --arch=ARCH FLAG`` for a fat slice.

    llvm-otool 14 ignores ``-arch``: ``llvm-otool-14 -arch arm64 -l`` on an x86_64 + arm64 file
    prints the x86_64 slice (cputype 16777223), so slices go to llvm-objdump, whose output has the
    same layout.
    """
    if arch is None:
        return run(tools["otool"], otool_flag, path)
    return run(tools["objdump"], "--macho", f"--arch={arch}", objdump_flag, path)


def parse_load_commands(text: str) -> list[dict[str, str]]:
    """``llvm-otool -l`` output, one dict per load command (first value of each key)."""
    commands: list[dict[str, str]] = []
    for line in text.splitlines():
        if line.startswith("Load command"):
            commands.append({})
        elif commands and len(parts := line.split(None, 1)) == 2:
            commands[-1].setdefault(parts[0], parts[1].strip())
    return commands


def otool_summary(tools: dict[str, str], path: Path, arch: str | None = None) -> dict[str, object]:
    """The fields the reader reports, as the reference tool sees them."""
    return summarize(parse_load_commands(_reference(tools, path, arch, "-l", "--private-headers")))


def summarize(commands: list[dict[str, str]]) -> dict[str, object]:
    """The fields the reader reports, from parsed ``llvm-otool -l`` load commands."""
    needed: list[str] = []
    weak: list[str] = []
    rpath: list[str] = []
    summary: dict[str, object] = {"install_name": None, "os_platform": None, "min_os": None, "sdk": None}
    for c in commands:
        cmd = c.get("cmd", "")
        if cmd in _OTOOL_DYLIBS:
            needed.append(c["name"].rsplit(" (offset", 1)[0])
            if cmd == "LC_LOAD_WEAK_DYLIB":
                weak.append(needed[-1])
        elif cmd == "LC_ID_DYLIB" and summary["install_name"] is None:
            summary["install_name"] = c["name"].rsplit(" (offset", 1)[0]
        elif cmd == "LC_RPATH":
            rpath.append(c["path"].rsplit(" (offset", 1)[0])
        elif cmd == "LC_BUILD_VERSION" and summary["os_platform"] is None:
            summary.update(os_platform=c["platform"].lower(), min_os=c["minos"], sdk=c["sdk"])
        elif cmd in _OTOOL_PLATFORMS and summary["os_platform"] is None:
            summary.update(os_platform=_OTOOL_PLATFORMS[cmd], min_os=c["version"], sdk=c["sdk"])
    if summary["sdk"] == "n/a":
        summary["sdk"] = None
    summary.update(
        needed=tuple(dict.fromkeys(needed)), weak_needed=tuple(dict.fromkeys(weak)), rpath=tuple(rpath)
    )
    return summary


def otool_header(tools: dict[str, str], path: Path, arch: str | None = None) -> tuple[int, str]:
    """(bits, filetype) from ``llvm-otool -hv``."""
    lines = _reference(tools, path, arch, "-hv", "--private-header").splitlines()
    values = lines[-1].split()
    return (64 if values[0] == "MH_MAGIC_64" else 32), values[4]


_FILETYPES = {"DYLIB": FileKind.SHARED_LIBRARY, "BUNDLE": FileKind.BUNDLE, "EXECUTE": FileKind.EXECUTABLE}


def ours(info: BinaryInfo) -> dict[str, object]:
    return {
        "needed": info.needed,
        "weak_needed": info.weak_needed,
        "rpath": info.rpath,
        "install_name": info.install_name,
        "os_platform": info.os_platform,
        "min_os": info.min_os,
        "sdk": info.sdk,
    }


@pytest.mark.toolchain
@pytest.mark.parametrize("name", ALL_NAMES)
def test_differential_otool(name: str, built: dict[str, Path], tools: dict[str, str]) -> None:
    path = built[name]
    info = read_binary(path.read_bytes())
    images = [(s, s.arch) for s in info.slices] if info.slices else [(info, None)]
    for image, arch in images:
        assert ours(image) == otool_summary(tools, path, arch), arch
        bits, filetype = otool_header(tools, path, arch)
        assert (image.bits, image.kind) == (bits, _FILETYPES[filetype])


def _by_name(name: str) -> Build:
    return next(b for b in BUILDS if b.name == name)


EXPECTED = {
    "libbar-arm64": {
        "arch": "arm64",
        "kind": FileKind.SHARED_LIBRARY,
        "needed": ("@rpath/libfoo.dylib", "/usr/lib/libSystem.B.dylib", "@rpath/libweak.dylib"),
        "weak_needed": ("@rpath/libweak.dylib",),
        "rpath": ("@loader_path/../lib", "@loader_path"),
        "install_name": "@rpath/libbar.dylib",
        "min_os": "11.0",
        "sdk": "12.3",
        "os_platform": "macos",
    },
    "libbar-x86_64": {
        "arch": "x86_64",
        "kind": FileKind.SHARED_LIBRARY,
        "needed": ("@rpath/libfoo.dylib", "/usr/lib/libSystem.B.dylib", "@rpath/libweak.dylib"),
        "weak_needed": ("@rpath/libweak.dylib",),
        "rpath": ("@loader_path/../lib", "@loader_path"),
        "install_name": "@rpath/libbar.dylib",
        "min_os": "10.9",
        "sdk": "10.15",
        "os_platform": "macos",
    },
    "libbar-universal2": {
        "arch": "universal2",
        "bits": 64,
        "min_os": "11.0",
        "sdk": "10.15",
        "install_name": "@rpath/libbar.dylib",
    },
    "ext-arm64.so": {"kind": FileKind.BUNDLE, "install_name": None, "rpath": ("@loader_path/.dylibs",)},
    "main-x86_64": {"kind": FileKind.EXECUTABLE, "install_name": None, "rpath": ("@executable_path/../lib",)},
    "libre-arm64": {"needed": ("/usr/lib/libSystem.B.dylib", "@rpath/libweak.dylib")},
    "libfoo-x86_64-10.13.4": {"min_os": "10.13.4", "sdk": "11.0", "os_platform": "macos"},
    "libfoo-x86_64-10.12": {"min_os": "10.12", "sdk": "11.1"},
    "libfoo-armv7-ios9": {"arch": "armv7", "bits": 32, "min_os": "9.0", "os_platform": "ios"},
    "libfoo-arm64_32-watchos": {"arch": "arm64_32", "bits": 32, "min_os": "5.0", "os_platform": "watchos"},
    "libfoo-arm64-iossim": {"os_platform": "iossimulator", "min_os": "14.0", "sdk": "15.0"},
    "libfoo-arm64-catalyst": {"os_platform": "maccatalyst"},
    "libfoo-arm64-tvos": {"os_platform": "tvos", "min_os": "12.0", "sdk": "13.0"},
    "libfoo-ios-fat": {  # sdk from the first slice (armv7), min_os the highest
        "arch": "arm64+armv7",
        "bits": 64,
        "min_os": "14.0",
        "sdk": "10.0",
        "needed": (),
    },
}


@pytest.mark.toolchain
@pytest.mark.parametrize("name", EXPECTED)
def test_synthetic_expected(name: str, built: dict[str, Path]) -> None:
    info = read_binary(built[name].read_bytes())
    assert {k: getattr(info, k) for k in EXPECTED[name]} == EXPECTED[name]


@pytest.mark.toolchain
@pytest.mark.parametrize("name", ALL_NAMES)
def test_synthetic_reads_only_headers(name: str, built: dict[str, Path]) -> None:
    assert_reads_only_headers(built[name].read_bytes())


# --- byte surgery on synthetic files -------------------------------------------------------------


def _walk(data: bytes, order: str, header: int) -> list[tuple[int, int, int]]:
    """(offset, cmd, cmdsize) of each load command of a thin image."""
    ncmds, _ = struct.unpack_from(order + "II", data, 16)
    out, offset = [], header
    for _ in range(ncmds):
        cmd, size = struct.unpack_from(order + "II", data, offset)
        out.append((offset, cmd, size))
        offset += size
    return out


def to_big_endian(data: bytes, cputype: int) -> bytes:
    """Rewrite a little-endian thin image as big-endian (header and the commands the reader reads)."""
    buf = bytearray(data)
    is64 = data[:4] == b"\xcf\xfa\xed\xfe"
    header = 32 if is64 else 28

    def swap(offset: int, count: int = 1) -> None:
        for i in range(count):
            (value,) = struct.unpack_from("<I", buf, offset + 4 * i)
            struct.pack_into(">I", buf, offset + 4 * i, value)

    commands = _walk(data, "<", header)
    swap(0, 7)
    struct.pack_into(">iI", buf, 4, cputype, 0)
    for offset, cmd, _size in commands:
        swap(offset, 2)
        if cmd in DYLIB_CMDS:
            swap(offset + 8, 4)
        elif cmd == LC_RPATH:
            swap(offset + 8)
        elif cmd == LC_BUILD_VERSION:
            (ntools,) = struct.unpack_from("<I", data, offset + 20)
            swap(offset + 8, 4 + 2 * ntools)
        elif cmd in (LC_VERSION_MIN_MACOSX, LC_VERSION_MIN_IPHONEOS, 0x2F, 0x30):
            swap(offset + 8, 2)
    return bytes(buf)


@pytest.mark.toolchain
@pytest.mark.parametrize(
    ("name", "cputype", "arch"),
    [("libbar-arm64", CpuType.POWERPC64, "ppc64"), ("libfoo-armv7-ios9", CpuType.POWERPC, "ppc")],
)
def test_big_endian_by_byte_surgery(name: str, cputype: int, arch: str, built: dict[str, Path]) -> None:
    data = built[name].read_bytes()
    swapped = parse(to_big_endian(data, cputype))
    assert swapped == replace(parse(data), arch=arch, byteorder="big")


@pytest.mark.toolchain
def test_fat64_by_byte_surgery(built: dict[str, Path], tools: dict[str, str]) -> None:
    """Re-wrap the thin slices of the lipo-made universal2 file in a FAT_MAGIC_64 header."""
    thin = [built["libbar-x86_64"].read_bytes(), built["libbar-arm64"].read_bytes()]
    data = fat(thin, magic64=True)
    assert data[:4] == b"\xca\xfe\xba\xbf"
    info = parse(data)
    assert info == parse(built["libbar-universal2"].read_bytes())
    assert_reads_only_headers(data)
    # llvm-otool reads FAT_MAGIC_64 too
    path = built["libbar-universal2"].parent / "libbar-fat64"
    path.write_bytes(data)
    for image in info.slices:
        assert ours(image) == otool_summary(tools, path, image.arch)


@pytest.mark.toolchain
@pytest.mark.parametrize(
    ("name", "cputype", "cpusubtype", "arch"),
    [
        ("libfoo-armv7-ios9", CpuType.X86, 3, "i386"),
        ("libbar-x86_64", CpuType.X86_64, 8, "x86_64h"),
        ("libbar-arm64", CpuType.ARM64, 0x80000002, "arm64e"),
    ],
    ids=["i386", "x86_64h", "arm64e"],
)
def test_cpu_types_by_byte_surgery(
    name: str, cputype: int, cpusubtype: int, arch: str, built: dict[str, Path]
) -> None:
    data = _with(built[name].read_bytes(), 4, "<iI", cputype, cpusubtype)
    assert parse(data).arch == arch
    universal = parse(fat([data, built["libbar-arm64" if arch != "i386" else "libbar-x86_64"].read_bytes()]))
    assert arch in universal.archs


@pytest.mark.toolchain
def test_i386_x86_64_fat(built: dict[str, Path]) -> None:
    i386 = _with(built["libfoo-armv7-ios9"].read_bytes(), 4, "<iI", CpuType.X86, 3)
    info = parse(fat([built["libbar-x86_64"].read_bytes(), i386]))
    assert (info.arch, info.bits, info.archs) == ("i386+x86_64", 64, ("x86_64", "i386"))


@pytest.mark.toolchain
@pytest.mark.parametrize(
    ("new_cmd", "weak"),
    [(LC_LOAD_UPWARD_DYLIB, False), (LC_LAZY_LOAD_DYLIB, False), (LC_LOAD_WEAK_DYLIB & ~LC_REQ_DYLD, True)],
    ids=["upward", "lazy", "weak-without-req-dyld"],
)
def test_dylib_commands_by_byte_surgery(
    new_cmd: int, weak: bool, built: dict[str, Path], tools: dict[str, str]
) -> None:
    """lld 14 writes no upward or lazy dylib commands: rewrite libbar's LC_LOAD_DYLIB of libfoo."""
    data = built["libbar-arm64"].read_bytes()
    offset = next(o for o, cmd, _ in _walk(data, "<", 32) if cmd == LC_LOAD_DYLIB)
    patched = _with(data, offset, "<I", new_cmd)
    info = parse(patched)
    assert info.needed == parse(data).needed
    assert ("@rpath/libfoo.dylib" in info.weak_needed) is weak
    if new_cmd & LC_REQ_DYLD or new_cmd == LC_LAZY_LOAD_DYLIB:
        path = built["libbar-arm64"].parent / f"libbar-{new_cmd:x}"
        path.write_bytes(patched)
        assert ours(info) == otool_summary(tools, path)


# --- fuzzing -----------------------------------------------------------------------------------

_WORDS = st.sampled_from([0, 1, 7, 8, 12, 24, 0xFF, 0x1000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF8, 0xFFFFFFFF])


@st.composite
def _mutations(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    areas = [(a, min(b, len(data))) for a, b in _areas(bytes(data)) if a < len(data)]
    for _ in range(draw(st.integers(1, 8))):
        start, end = draw(st.sampled_from(areas))
        pos = draw(st.integers(start, max(start, end - 1)))
        if draw(st.booleans()):
            data[pos] = draw(st.integers(0, 255))
        elif pos + 4 <= len(data):
            pos -= pos % 4
            struct.pack_into(
                draw(st.sampled_from(["<I", ">I"])), data, pos, draw(_WORDS | st.integers(0, 2**32 - 1))
            )
    return bytes(data)


TINY_SEEDS = [
    tiny(LIB),
    *TINY_VARIANTS.values(),
    fat([tiny(LIB), TINY_VARIANTS["le32-armv7"]]),
    fat([tiny(LIB)], magic64=True),
]
MAGICS = [
    b"\xfe\xed\xfa\xce",
    b"\xce\xfa\xed\xfe",
    b"\xfe\xed\xfa\xcf",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"\xca\xfe\xba\xbf",
]


@FUZZ
@given(data=_mutations(TINY_SEEDS))
def test_fuzz_mutated_tiny(data: bytes) -> None:
    must_parse_or_reject(data)


@FUZZ
@given(seed=st.sampled_from(TINY_SEEDS), cut=st.integers(0, 10_000))
def test_fuzz_truncated_tiny(seed: bytes, cut: int) -> None:
    must_parse_or_reject(seed[: cut % (len(seed) + 1)])


@FUZZ
@given(magic=st.sampled_from(MAGICS), rest=st.binary(max_size=512))
def test_fuzz_random_with_magic(magic: bytes, rest: bytes) -> None:
    must_parse_or_reject(magic + rest)


@pytest.fixture(scope="session")
def real_seeds(built: dict[str, Path]) -> list[bytes]:
    names = ["libbar-arm64", "libbar-x86_64", "libfoo-armv7-ios9", "ext-universal2.so", "libbar-universal2"]
    return [built[n].read_bytes() for n in names]


@pytest.mark.toolchain
def test_fuzz_mutated_synthetic(real_seeds: list[bytes]) -> None:
    @FUZZ
    @given(data=_mutations(real_seeds))
    def check(data: bytes) -> None:
        must_parse_or_reject(data)

    check()


@pytest.mark.toolchain
def test_fuzz_truncated_synthetic(real_seeds: list[bytes]) -> None:
    @FUZZ
    @given(seed=st.sampled_from(real_seeds), cut=st.integers(0, 40_000))
    def check(seed: bytes, cut: int) -> None:
        must_parse_or_reject(seed[: cut % (len(seed) + 1)])

    check()


# --- real wheels -------------------------------------------------------------------------------

MACOS_WHEELS = [
    p for family in ("macos-x86_64", "macos-arm64", "macos-universal2") for p in corpus_params(family=family)
]


def _split_otool(text: str, paths: list[Path]) -> dict[Path, str]:
    """Cut the output of one ``llvm-otool -l`` run over several files at each ``path:`` line."""
    parts: dict[Path, list[str]] = {}
    by_header = {f"{p}:": p for p in paths}
    current: list[str] | None = None
    for line in text.splitlines():
        if line in by_header:
            current = parts.setdefault(by_header[line], [])
        elif current is not None:
            current.append(line)
    return {p: "\n".join(lines) for p, lines in parts.items()}


@pytest.mark.toolchain
@pytest.mark.parametrize("entry", MACOS_WHEELS)
def test_corpus_differential(entry: CorpusWheel, tools: dict[str, str], tmp_path: Path) -> None:
    """Every Mach-O file of each macOS corpus wheel reads as llvm-otool (or llvm-objdump) reads it."""
    infos: dict[Path, BinaryInfo] = {}
    with zipfile.ZipFile(ensure(entry)) as zf:
        for index, member in enumerate(zf.infolist()):
            with zf.open(member) as fh:
                if sniff(fh.read(SNIFF_BYTES)) is not BinaryFormat.MACHO:
                    continue
            data = zf.read(member)
            path = tmp_path / str(index)
            path.write_bytes(data)
            infos[path] = read_binary(data)
            assert_reads_only_headers(data)
    assert infos, "no Mach-O file in a macOS wheel"
    thin = [p for p, info in infos.items() if not info.slices]
    if thin:  # one llvm-otool run for all thin files
        outputs = _split_otool(run(tools["otool"], "-l", *thin), thin)
        for path in thin:
            assert ours(infos[path]) == summarize(parse_load_commands(outputs[path])), path
    for path, info in infos.items():
        for image in info.slices:
            assert ours(image) == otool_summary(tools, path, image.arch), (path, image.arch)
