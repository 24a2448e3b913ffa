"""Tests for the PE/COFF reader.

Fixtures are built at test time from ``pe_src/`` with mingw-w64 (GNU ld) and clang + lld; the
reader is compared with two reference tools (binutils ``objdump -p``, LLVM ``llvm-readobj`` /
``llvm-objdump``), fed hand-made header-only images for what no toolchain here emits, and fuzzed.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _toolchain import require, run
from _versioninfo import version_resource
from native_doctor.binary import BinaryFormat, BinaryInfo, FileKind, read_binary
from native_doctor.binary._bytes import BytesSource
from native_doctor.binary.pe import MAX_DESCRIPTORS, read_pe
from native_doctor.errors import BinaryFormatError

if TYPE_CHECKING:
    from collections.abc import Callable

SRC = Path(__file__).parent / "pe_src"
FUZZ_EXAMPLES = int(os.environ.get("NATIVE_DOCTOR_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- building fixtures ----------------------------------------------------------------------------


def _mingw(out: Path, triple: str) -> Path:
    """foo.dll, user.dll, app.exe, gui.exe with the GNU toolchain (GNU ld) for ``triple``."""
    gcc = require(f"{triple}-gcc")
    out.mkdir()
    run(gcc, "-shared", "-o", out / "foo.dll", SRC / "foo.c", f"-Wl,--out-implib,{out / 'libfoo.dll.a'}")
    run(gcc, "-shared", "-o", out / "user.dll", SRC / "user.c", f"-L{out}", "-lfoo", "-luser32")
    run(gcc, "-o", out / "app.exe", SRC / "app.c")
    run(gcc, "-mwindows", "-o", out / "gui.exe", SRC / "gui.c")
    return out


def _delay(out: Path, triple: str, dlltool_machine: str, user32_def: str) -> Path:
    """delay.dll: user.c linked by clang + lld with foo.dll and USER32.dll delay-loaded.

    GNU ld cannot fill the delay-load data directory; lld's ``--delayload`` needs short-format
    import libraries, which llvm-dlltool makes from the .def files.
    """
    gcc = require(f"{triple}-gcc")
    clang = require("clang")
    require("ld.lld")
    dlltool = require("llvm-dlltool", "llvm-dlltool-14")
    out.mkdir()
    run(dlltool, "-m", dlltool_machine, "-d", SRC / "foo.def", "-l", out / "libfoo.a")
    run(dlltool, "-m", dlltool_machine, "-d", SRC / user32_def, "-l", out / "libuser32.a")
    libgcc_dir = Path(run(gcc, "-print-libgcc-file-name").strip()).parent
    run(
        clang, f"--target={triple}", "-fuse-ld=lld", "-shared", "-o", out / "delay.dll", SRC / "user.c",
        f"-L{out}", "-lfoo", "-luser32", f"-L{libgcc_dir}",
        "-Wl,--delayload=foo.dll", "-Wl,--delayload=USER32.dll",
    )  # fmt: skip
    return out


def _bare(out: Path, target: str, dlltool_machine: str) -> Path:
    """bare.dll for a target without a mingw runtime here (arm64, armv7): no CRT, clang + lld."""
    clang = require("clang")
    require("ld.lld")
    dlltool = require("llvm-dlltool", "llvm-dlltool-14")
    out.mkdir()
    run(dlltool, "-m", dlltool_machine, "-d", SRC / "foo.def", "-l", out / "libfoo.a")
    run(
        clang, f"--target={target}", "-fuse-ld=lld", "-nostdlib", "-shared",
        "-Wl,--entry=DllMainCRTStartup", "-o", out / "bare.dll", SRC / "bare.c", out / "libfoo.a",
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def mingw64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _mingw(tmp_path_factory.mktemp("pe") / "mingw64", "x86_64-w64-mingw32")


@pytest.fixture(scope="session")
def versioned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """foo.c linked by mingw-w64 gcc with a VERSIONINFO resource, FileVersion 14.51.36260.0."""
    out = tmp_path_factory.mktemp("versioned")
    gcc = require("x86_64-w64-mingw32-gcc")
    run(gcc, "-shared", "-o", out / "versioned.dll", SRC / "foo.c", version_resource(out, 51, 36260))
    return out / "versioned.dll"


@pytest.fixture(scope="session")
def mingw32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _mingw(tmp_path_factory.mktemp("pe") / "mingw32", "i686-w64-mingw32")


@pytest.fixture(scope="session")
def delay64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _delay(
        tmp_path_factory.mktemp("pe") / "delay64", "x86_64-w64-mingw32", "i386:x86-64", "user32_x64.def"
    )


@pytest.fixture(scope="session")
def delay32(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _delay(tmp_path_factory.mktemp("pe") / "delay32", "i686-w64-mingw32", "i386", "user32_x86.def")


@pytest.fixture(scope="session")
def arm64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bare(tmp_path_factory.mktemp("pe") / "arm64", "aarch64-w64-mingw32", "arm64")


@pytest.fixture(scope="session")
def armv7(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bare(tmp_path_factory.mktemp("pe") / "armv7", "armv7-w64-mingw32", "arm")


# --- expectations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One synthetic file and what the reader must say about it."""

    id: str
    fixture: str
    file: str
    arch: str
    bits: int
    kind: FileKind
    #: DLLs that must be in ``needed`` (compared case-insensitively; order is checked against the
    #: reference tools).
    needed: frozenset[str]
    dll_name: str | None = None
    subsystem: str | None = None
    #: Exact ``delay_needed``, lowercased.
    delay_needed: tuple[str, ...] = ()
    #: DLLs that must not be in ``needed``.
    not_needed: frozenset[str] = field(default_factory=frozenset)


_CRT = frozenset({"kernel32.dll", "msvcrt.dll"})
_USER = _CRT | {"foo.dll", "user32.dll"}


_DLL = FileKind.SHARED_LIBRARY
_EXE = FileKind.EXECUTABLE
_FOO = frozenset({"foo.dll"})
_DELAYED = ("foo.dll", "user32.dll")


def _cases(prefix: str, fixture: str, arch: str, bits: int) -> list[Case]:
    return [
        Case(f"{prefix}-dll-exports", fixture, "foo.dll", arch, bits, _DLL, _CRT, "foo.dll"),
        Case(f"{prefix}-dll-imports", fixture, "user.dll", arch, bits, _DLL, _USER, "user.dll"),
        Case(f"{prefix}-exe-console", fixture, "app.exe", arch, bits, _EXE, _CRT, None, "windows_cui"),
        Case(f"{prefix}-exe-gui", fixture, "gui.exe", arch, bits, _EXE, _CRT | {"user32.dll"}, None,
             "windows_gui"),
    ]  # fmt: skip


CASES = [
    *_cases("x86_64", "mingw64", "x86_64", 64),
    *_cases("x86", "mingw32", "x86", 32),
    Case("x86_64-delayload", "delay64", "delay.dll", "x86_64", 64, _DLL, _CRT, "delay.dll",
         delay_needed=_DELAYED, not_needed=frozenset(_DELAYED)),
    Case("x86-delayload", "delay32", "delay.dll", "x86", 32, _DLL, _CRT, "delay.dll",
         delay_needed=_DELAYED, not_needed=frozenset(_DELAYED)),
    Case("arm64-dll", "arm64", "bare.dll", "arm64", 64, _DLL, _FOO, "bare.dll"),
    Case("armv7-dll", "armv7", "bare.dll", "arm", 32, _DLL, _FOO, "bare.dll"),
]  # fmt: skip


def _path(request: pytest.FixtureRequest, case: Case) -> Path:
    directory: Path = request.getfixturevalue(case.fixture)
    return directory / case.file


def _read(path: Path) -> BinaryInfo:
    return read_binary(path.read_bytes())


def _lower(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n.lower() for n in names)


@pytest.mark.toolchain
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_synthetic(request: pytest.FixtureRequest, case: Case) -> None:
    info = _read(_path(request, case))
    assert info.format is BinaryFormat.PE
    assert (info.arch, info.bits, info.byteorder, info.kind) == (case.arch, case.bits, "little", case.kind)
    needed = set(_lower(info.needed))
    assert case.needed <= needed, info.needed
    assert not case.not_needed & needed, info.needed
    assert len(set(_lower(info.needed))) == len(info.needed), "a DLL listed twice"
    assert _lower(info.delay_needed) == case.delay_needed
    assert info.dll_name == case.dll_name
    if case.subsystem is not None:
        assert info.subsystem == case.subsystem
    assert info.linker_version is not None
    assert re.fullmatch(r"\d+\.\d+", info.linker_version)


@pytest.mark.toolchain
def test_mingw_links_msvcrt(mingw64: Path) -> None:
    """A later check relies on mingw's default CRT showing up, spelt as mingw writes it."""
    for name in ("foo.dll", "user.dll", "app.exe", "gui.exe"):
        assert "msvcrt.dll" in _read(mingw64 / name).needed


@pytest.mark.toolchain
def test_reads_only_headers_and_directories(mingw64: Path) -> None:
    """Section table and import descriptors in one read each; a small fraction of the file overall."""
    data = (mingw64 / "user.dll").read_bytes()
    source = _CountingSource(data)
    info = read_pe(source)
    assert info.needed
    layout = _Layout(data)
    assert (layout.section_table, layout.section_count * 40) in source.reads
    import_offset = layout.offset_of(layout.directory(1)[0])
    assert next(r for r in source.reads if r[0] == import_offset)[1] >= 20 * (len(info.needed) + 1)
    assert sum(length for _, length in source.reads) < 4096 < len(data)


# --- differential tests -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """What a reference tool reports."""

    needed: tuple[str, ...]
    delay_needed: tuple[str, ...] | None  # None: the tool does not show delay-load imports
    dll_name: str | None
    arch: str


_OBJDUMP_FORMATS = {"pei-x86-64": "x86_64", "pei-i386": "x86"}


def _objdump(path: Path) -> Reference:
    """binutils ``objdump -p``: "DLL Name:" lines of the import tables, "Name" of the export table."""
    text = run(require("x86_64-w64-mingw32-objdump"), "-p", path)
    fmt = re.search(r"file format (\S+)", text)
    assert fmt is not None
    export = re.search(r"^Name\s+[0-9a-f]+ (.+)$", text, re.M)
    return Reference(
        needed=tuple(re.findall(r"^\tDLL Name: (.+)$", text, re.M)),
        delay_needed=None,  # binutils 2.40 lists the delay-load directory entry but not its contents
        dll_name=export.group(1) if export else None,
        arch=_OBJDUMP_FORMATS[fmt.group(1)],
    )


_LLVM_MACHINES = {"0x14C": "x86", "0x8664": "x86_64", "0xAA64": "arm64", "0x1C4": "arm"}


def _llvm(path: Path) -> Reference:
    """``llvm-readobj --file-headers --coff-imports`` and ``llvm-objdump -p`` (the export DLL name)."""
    text = run(require("llvm-readobj", "llvm-readobj-14"), "--file-headers", "--coff-imports", path)
    machine = re.search(r"Machine: \S+ \((0x[0-9A-F]+)\)", text)
    assert machine is not None
    exports = run(require("llvm-objdump", "llvm-objdump-14"), "-p", path)
    dll_name = re.search(r"^ DLL name: (.+)$", exports, re.M)
    return Reference(
        needed=tuple(re.findall(r"^Import \{\n  Name: (.+)$", text, re.M)),
        delay_needed=tuple(re.findall(r"^DelayImport \{\n  Name: (.+)$", text, re.M)),
        dll_name=dll_name.group(1) if dll_name else None,
        arch=_LLVM_MACHINES[machine.group(1)],
    )


def _compare(info: BinaryInfo, ref: Reference) -> None:
    assert info.needed == ref.needed
    if ref.delay_needed is not None:
        assert info.delay_needed == ref.delay_needed
    assert info.dll_name == ref.dll_name
    assert info.arch == ref.arch


@pytest.mark.toolchain
@pytest.mark.parametrize(
    "case", [c for c in CASES if c.arch in _OBJDUMP_FORMATS.values()], ids=lambda c: c.id
)
def test_matches_objdump(request: pytest.FixtureRequest, case: Case) -> None:
    path = _path(request, case)
    _compare(_read(path), _objdump(path))


@pytest.mark.toolchain
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matches_llvm(request: pytest.FixtureRequest, case: Case) -> None:
    path = _path(request, case)
    _compare(_read(path), _llvm(path))


@pytest.mark.toolchain
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_header_fields_match_llvm(request: pytest.FixtureRequest, case: Case) -> None:
    path = _path(request, case)
    text = run(require("llvm-readobj", "llvm-readobj-14"), "--file-headers", path)
    major = re.search(r"MajorLinkerVersion: (\d+)", text)
    minor = re.search(r"MinorLinkerVersion: (\d+)", text)
    subsystem = re.search(r"Subsystem: IMAGE_SUBSYSTEM_(\w+) \(", text)
    assert major and minor and subsystem
    info = _read(path)
    assert info.linker_version == f"{major.group(1)}.{minor.group(1)}"
    assert info.subsystem == subsystem.group(1).lower()


# --- byte surgery on real files ---------------------------------------------------------------------


class _Layout:
    """Independent, minimal PE walker used to locate fields for byte surgery."""

    def __init__(self, data: bytes | bytearray) -> None:
        self.data = data
        self.pe: int
        (self.pe,) = struct.unpack_from("<I", data, 0x3C)
        self.coff = self.pe + 4
        self.section_count: int
        optional_size: int
        self.section_count, optional_size = struct.unpack_from("<H12xH", data, self.coff + 2)
        self.optional = self.coff + 20
        (magic,) = struct.unpack_from("<H", data, self.optional)
        self.pe32_plus = magic == 0x20B
        self.directories = self.optional + (112 if self.pe32_plus else 96)
        self.section_table = self.optional + optional_size

    @property
    def image_base(self) -> int:
        fmt, at = ("<Q", 24) if self.pe32_plus else ("<I", 28)
        return int(struct.unpack_from(fmt, self.data, self.optional + at)[0])

    def directory(self, index: int) -> tuple[int, int]:
        rva, size = struct.unpack_from("<II", self.data, self.directories + 8 * index)
        return int(rva), int(size)

    def directory_offset(self, index: int) -> int:
        return self.directories + 8 * index

    def offset_of(self, rva: int) -> int:
        for i in range(self.section_count):
            vsize, va, _, raw = struct.unpack_from("<IIII", self.data, self.section_table + 40 * i + 8)
            if va <= rva < va + vsize:
                return int(raw + rva - va)
        raise AssertionError(f"RVA {rva:#x} not in a section")


class _CountingSource(BytesSource):
    """A BytesSource recording every read."""

    __slots__ = ("reads",)

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[tuple[int, int]] = []

    def read_at(self, offset: int, length: int) -> bytes:
        self.reads.append((offset, length))
        return super().read_at(offset, length)


def _with_machine(data: bytes, machine: int) -> bytes:
    patched = bytearray(data)
    struct.pack_into("<H", patched, _Layout(data).coff, machine)
    return bytes(patched)


@pytest.mark.toolchain
@pytest.mark.parametrize(
    ("machine", "arch"),
    [(0xA641, "arm64ec"), (0xA64E, "arm64x"), (0x200, "ia64"), (0x5064, "unknown-0x5064")],
    ids=["arm64ec", "arm64x", "ia64", "unknown-riscv64"],
)
def test_machine_surgery(arm64: Path, machine: int, arch: str) -> None:
    """lld 14 cannot link ARM64EC/ARM64X images: patch Machine in a real arm64 DLL instead."""
    info = read_pe(BytesSource(_with_machine((arm64 / "bare.dll").read_bytes(), machine)))
    assert (info.arch, info.bits, info.needed, info.dll_name) == (arch, 64, ("foo.dll",), "bare.dll")


@pytest.mark.toolchain
def test_vc6_style_delay_descriptors(delay32: Path) -> None:
    """Attributes without dlattrRva: the descriptor holds VAs (Visual C++ 6); ImageBase is subtracted."""
    data = bytearray((delay32 / "delay.dll").read_bytes())
    layout = _Layout(data)
    table = layout.offset_of(layout.directory(13)[0])
    for i in range(2):
        at = table + 32 * i
        fields = list(struct.unpack_from("<8I", data, at))
        assert fields[0] & 1
        fields = [0] + [f + layout.image_base if f else 0 for f in fields[1:7]] + [fields[7]]
        struct.pack_into("<8I", data, at, *fields)
    info = read_pe(BytesSource(bytes(data)))
    assert _lower(info.delay_needed) == ("foo.dll", "user32.dll")


@pytest.mark.toolchain
def test_rva_inside_headers(mingw64: Path) -> None:
    """An RVA below the first section maps to the same file offset (the headers are mapped at RVA 0)."""
    data = bytearray((mingw64 / "foo.dll").read_bytes())
    layout = _Layout(data)
    data[0x40:0x48] = b"hdr.dll\0"  # inside the DOS stub
    struct.pack_into("<I", data, layout.offset_of(layout.directory(0)[0]) + 12, 0x40)
    assert read_pe(BytesSource(bytes(data))).dll_name == "hdr.dll"


def _patched(data: bytes, edits: list[tuple[int, bytes]]) -> bytes:
    out = bytearray(data)
    for at, value in edits:
        out[at : at + len(value)] = value
    return bytes(out)


MALFORMED = [
    # (id, edit maker, message fragment)
    ("pe-signature", lambda lay: [(lay.pe, b"PX\0\0")], "DOS program"),
    ("ne-signature", lambda lay: [(lay.pe, b"NE\0\0")], "16-bit"),
    ("e_lfanew-outside", lambda lay: [(0x3C, b"\xff\xff\xff\x7f")], "DOS program"),
    ("rom-magic", lambda lay: [(lay.optional, b"\x07\x01")], "ROM image"),
    ("bad-magic", lambda lay: [(lay.optional, b"\x0b\x03")], "optional header magic"),
    ("optional-header-truncated", lambda lay: [(lay.coff + 16, b"\x10\x00")], "optional header"),
    ("section-table-outside", lambda lay: [(lay.coff + 2, b"\xff\xff")], "section table"),
    ("import-rva-unmapped", lambda lay: [(lay.directory_offset(1), b"\x00\x00\x00\x70")],
     "not inside any section"),
    ("import-name-unmapped", lambda lay: [(lay.offset_of(lay.directory(1)[0]) + 12, b"\xf0\xff\xff\x7f")],
     "DLL name"),
    ("import-name-zero", lambda lay: [(lay.offset_of(lay.directory(1)[0]) + 12, b"\0\0\0\0")], "no DLL name"),
    ("export-rva-unmapped", lambda lay: [(lay.directory_offset(0), b"\x00\x00\x00\x70")], "export directory"),
]  # fmt: skip


@pytest.mark.toolchain
@pytest.mark.parametrize(("edit", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed(mingw64: Path, edit: Callable[[_Layout], list[tuple[int, bytes]]], message: str) -> None:
    data = (mingw64 / "user.dll").read_bytes()
    edits = edit(_Layout(data))
    with pytest.raises(BinaryFormatError, match=message):
        read_pe(BytesSource(_patched(data, edits)))


# --- hand-made images -------------------------------------------------------------------------------


def _image(
    *,
    machine: int = 0x8664,
    magic: int = 0x20B,
    characteristics: int = 0x22,
    subsystem: int = 3,
    linker: tuple[int, int] = (14, 38),
    rva_count: int = 16,
    optional_size: int | None = None,
    names_at: int = 0x200,
    imports: tuple[bytes, ...] = (),
) -> bytes:
    """A header-only PE image: the import table and names live in the headers (no sections)."""
    pe32_plus = magic == 0x20B
    dir_offset = 112 if pe32_plus else 96
    size = dir_offset + 8 * rva_count if optional_size is None else optional_size
    optional = bytearray(max(size, dir_offset + 8 * 16))
    struct.pack_into("<HBB", optional, 0, magic, *linker)
    struct.pack_into("<I", optional, 60, 0x1000)  # SizeOfHeaders: everything below is mapped
    struct.pack_into("<H", optional, 68, subsystem)
    struct.pack_into("<I", optional, dir_offset - 4, rva_count)
    table = names_at
    names = table + 20 * (len(imports) + 1)
    if imports:
        struct.pack_into("<II", optional, dir_offset + 8, table, 20 * (len(imports) + 1))
    header = bytearray(0x1000)
    header[:2] = b"MZ"
    struct.pack_into("<I", header, 0x3C, 0x40)
    header[0x40:0x44] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", header, 0x44, machine, 0, 0, 0, 0, size, characteristics)
    header[0x58 : 0x58 + size] = optional[:size]
    for i, name in enumerate(imports):
        struct.pack_into("<5I", header, table + 20 * i, 0, 0, 0, names, 0)
        header[names : names + len(name) + 1] = name + b"\0"
        names += len(name) + 1
    return bytes(header)


@pytest.mark.parametrize(
    ("machine", "magic", "arch", "bits"),
    [
        (0x14C, 0x10B, "x86", 32),
        (0x8664, 0x20B, "x86_64", 64),
        (0xAA64, 0x20B, "arm64", 64),
        (0xA641, 0x20B, "arm64ec", 64),
        (0xA64E, 0x20B, "arm64x", 64),
        (0x1C4, 0x10B, "arm", 32),
        (0x200, 0x20B, "ia64", 64),
        (0x5064, 0x20B, "unknown-0x5064", 64),
        (0x0, 0x10B, "unknown-0x0", 32),
    ],
    ids=["x86", "x86_64", "arm64", "arm64ec", "arm64x", "armnt", "ia64", "riscv64", "unknown"],
)
def test_machine_names(machine: int, magic: int, arch: str, bits: int) -> None:
    info = read_binary(_image(machine=machine, magic=magic))
    assert (info.arch, info.bits) == (arch, bits)


@pytest.mark.parametrize(
    ("value", "name"),
    [(1, "native"), (2, "windows_gui"), (3, "windows_cui"), (10, "efi_application"),
     (16, "windows_boot_application"), (0, "unknown"), (99, "unknown-99")],
    ids=str,
)  # fmt: skip
def test_subsystem_names(value: int, name: str) -> None:
    assert read_binary(_image(subsystem=value)).subsystem == name


@pytest.mark.parametrize(
    ("characteristics", "optional", "kind"),
    [
        (0x2022, True, FileKind.SHARED_LIBRARY),
        (0x0022, True, FileKind.EXECUTABLE),
        (0x0020, True, FileKind.OTHER),
        (0x0000, False, FileKind.OBJECT),
    ],
    ids=["dll", "exe", "no-executable-flag", "no-optional-header"],
)
def test_kinds(characteristics: int, optional: bool, kind: FileKind) -> None:
    info = read_binary(_image(characteristics=characteristics, optional_size=None if optional else 0))
    assert info.kind is kind


@pytest.mark.toolchain
def test_versioninfo_file_version(versioned: Path, mingw64: Path) -> None:
    """FileVersion from VS_FIXEDFILEINFO, as pycurl's msvcp140 copy carries 14.51.36260.0."""
    assert read_binary(versioned.read_bytes()).file_version == "14.51.36260.0"
    assert read_binary((mingw64 / "foo.dll").read_bytes()).file_version is None  # no resources


@pytest.mark.toolchain
def test_malformed_version_resource_is_no_version(versioned: Path) -> None:
    """Resources take no part in loading: a broken one leaves the rest of the image readable."""
    data = versioned.read_bytes()
    layout = _Layout(data)
    rva, _ = layout.directory(2)
    start = layout.offset_of(rva)
    broken = bytearray(data)
    struct.pack_into("<I", broken, start + 16 + 4, 0x8FFFFFF0)  # RT_VERSION's subdirectory: nowhere
    info = read_binary(bytes(broken))
    assert info.file_version is None
    assert info.needed == read_binary(data).needed


def test_linker_version() -> None:
    assert read_binary(_image(linker=(14, 38))).linker_version == "14.38"
    assert read_binary(_image(linker=(2, 40), magic=0x10B, machine=0x14C)).linker_version == "2.40"


def test_imports_in_headers_case_preserved() -> None:
    info = read_binary(_image(imports=(b"KERNEL32.dll", b"python312.dll", b"VCRUNTIME140.dll")))
    assert info.needed == ("KERNEL32.dll", "python312.dll", "VCRUNTIME140.dll")


def test_data_directories_bounded_by_count() -> None:
    """An import directory beyond NumberOfRvaAndSizes does not exist."""
    assert read_binary(_image(imports=(b"a.dll",), rva_count=1)).needed == ()
    assert read_binary(_image(imports=(b"a.dll",), rva_count=2)).needed == ("a.dll",)
    # A NumberOfRvaAndSizes claiming more than SizeOfOptionalHeader holds is clipped to it.
    assert read_binary(_image(imports=(b"a.dll",), rva_count=0xFFFFFFFF, optional_size=112 + 16)).needed == (
        "a.dll",
    )


def test_import_table_without_terminator() -> None:
    """Descriptors up to the end of the mapped data without a null entry."""
    data = bytearray(_image(imports=(b"a.dll",)))
    data[0x180:0x186] = b"b.dll\0"
    for at in range(0x200, len(data) - 19, 20):
        struct.pack_into("<5I", data, at, 0, 0, 0, 0x180, 0)
    with pytest.raises(BinaryFormatError, match="no terminating null entry"):
        read_binary(bytes(data))


@pytest.mark.toolchain
@pytest.mark.parametrize("zero_fill", [True, False], ids=["zero-fill-terminates", "no-zero-fill"])
def test_import_table_ending_with_file_data(mingw64: Path, zero_fill: bool) -> None:
    """Descriptors moved to the very end of a section's file data: the terminator is only in memory.

    With VirtualSize > SizeOfRawData the loader sees zeros after the last descriptor (terminated);
    with VirtualSize == SizeOfRawData the table runs off its section.
    """
    data = bytearray((mingw64 / "user.dll").read_bytes())
    layout = _Layout(data)
    rva, _ = layout.directory(1)
    expected = read_pe(BytesSource(bytes(data))).needed
    table = bytes(data[layout.offset_of(rva) : layout.offset_of(rva) + 20 * len(expected)])
    for i in range(layout.section_count):  # a section with room for the table after VirtualSize
        header = layout.section_table + 40 * i
        vsize, va, raw_size, raw = struct.unpack_from("<IIII", data, header + 8)
        if raw_size - vsize >= len(table):
            break
    else:
        pytest.fail("no section with slack for the import table")
    data[raw + raw_size - len(table) : raw + raw_size] = table
    struct.pack_into("<I", data, header + 8, raw_size + (0x100 if zero_fill else 0))
    struct.pack_into("<II", data, layout.directory_offset(1), va + raw_size - len(table), len(table))
    if zero_fill:
        assert read_pe(BytesSource(bytes(data))).needed == expected
    else:
        with pytest.raises(BinaryFormatError, match="no terminating null entry"):
            read_pe(BytesSource(bytes(data)))


def test_descriptor_cap() -> None:
    data = bytearray(_image())
    big = bytearray(0x200 + 20 * (MAX_DESCRIPTORS + 2) + 16)
    big[: len(data)] = data
    struct.pack_into("<I", big, 0x58 + 60, len(big))  # SizeOfHeaders covers it all
    struct.pack_into("<II", big, 0x58 + 112 + 8, 0x200, 20)
    big[-8:] = b"x.dll\0\0\0"
    for i in range(MAX_DESCRIPTORS + 1):
        struct.pack_into("<5I", big, 0x200 + 20 * i, 0, 0, 0, len(big) - 8, 0)
    with pytest.raises(BinaryFormatError, match=f"more than {MAX_DESCRIPTORS}"):
        read_binary(bytes(big))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"MZ", "too short for a DOS header"),
        (b"MZ" + bytes(62), "DOS program"),
        (b"MZ" + bytes(58) + b"\x40\0\0\0" + b"PE\0\0" + bytes(10), "COFF file header"),
    ],
    ids=["short", "dos-program", "truncated-coff"],
)
def test_not_pe(data: bytes, message: str) -> None:
    with pytest.raises(BinaryFormatError, match=message):
        read_binary(data)


# --- fuzzing ----------------------------------------------------------------------------------------


def _parse_or_reject(data: bytes) -> None:
    try:
        info = read_binary(data)
    except BinaryFormatError:
        return
    assert isinstance(info, BinaryInfo)
    assert info.format is BinaryFormat.PE


def _fuzz_ranges(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges worth mutating: headers and section table, import/delay-import/export data."""
    layout = _Layout(data)
    ranges = [(0, layout.section_table + 40 * layout.section_count)]
    for index, span in ((0, 0x80), (1, 0x400), (2, 0x400), (13, 0x200)):
        rva, size = layout.directory(index)
        if rva:
            # The table itself and what follows it (lookup tables, names).
            start = layout.offset_of(rva)
            ranges += [(start, start + max(size, 4)), (start, min(len(data), start + span))]
    return ranges


@pytest.fixture(scope="session")
def fuzz_target(mingw64: Path) -> tuple[bytes, list[tuple[int, int]]]:
    """user.dll (GNU ld: imports, exports) and its ranges worth mutating."""
    data = (mingw64 / "user.dll").read_bytes()
    return data, _fuzz_ranges(data)


@pytest.fixture(scope="session")
def fuzz_delay_target(delay32: Path) -> tuple[bytes, list[tuple[int, int]]]:
    """delay.dll (lld, PE32: imports, delay imports, exports) and its ranges worth mutating."""
    data = (delay32 / "delay.dll").read_bytes()
    return data, _fuzz_ranges(data)


_INTERESTING = st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x1000, 0x200])


def _mutate(original: bytes, ranges: list[tuple[int, int]], data: st.DataObject) -> bytes:
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8), label="edits")):
        low, high = data.draw(st.sampled_from(ranges), label="range")
        at = data.draw(st.integers(low, max(low, min(high, len(original)) - 4)), label="offset")
        if data.draw(st.booleans(), label="word"):
            value = data.draw(_INTERESTING | st.integers(0, 0xFFFFFFFF), label="value")
            struct.pack_into("<I", mutated, at, value)
        else:
            mutated[at] = data.draw(st.integers(0, 255), label="byte")
    return bytes(mutated)


@pytest.mark.toolchain
@FUZZ
@given(data=st.data())
def test_fuzz_mutations(fuzz_target: tuple[bytes, list[tuple[int, int]]], data: st.DataObject) -> None:
    _parse_or_reject(_mutate(*fuzz_target, data))


@pytest.mark.toolchain
@FUZZ
@given(data=st.data())
def test_fuzz_delay_mutations(
    fuzz_delay_target: tuple[bytes, list[tuple[int, int]]], data: st.DataObject
) -> None:
    _parse_or_reject(_mutate(*fuzz_delay_target, data))


@pytest.mark.toolchain
@FUZZ
@given(data=st.data())
def test_fuzz_version_resource_mutations(versioned: Path, data: st.DataObject) -> None:
    original = versioned.read_bytes()
    mutated = _mutate(original, _fuzz_ranges(original), data)
    try:
        info = read_binary(mutated)
    except BinaryFormatError:
        return
    assert info.file_version is None or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", info.file_version)


@pytest.mark.toolchain
@FUZZ
@given(length=st.integers(0, 1 << 16))
def test_fuzz_truncation(fuzz_target: tuple[bytes, list[tuple[int, int]]], length: int) -> None:
    _parse_or_reject(fuzz_target[0][:length])


@FUZZ
@given(tail=st.binary(max_size=4096))
def test_fuzz_random_after_mz(tail: bytes) -> None:
    _parse_or_reject(b"MZ" + tail)


@FUZZ
@given(
    coff=st.binary(min_size=20, max_size=20),
    magic=st.sampled_from([b"\x0b\x01", b"\x0b\x02"]),
    body=st.binary(max_size=2048),
)
def test_fuzz_random_after_pe_signature(coff: bytes, magic: bytes, body: bytes) -> None:
    """Random COFF header and optional header behind a valid DOS header and PE signature."""
    head = bytearray(0x40)
    head[:2] = b"MZ"
    struct.pack_into("<I", head, 0x3C, 0x40)
    _parse_or_reject(bytes(head) + b"PE\0\0" + coff + magic + body)
