"""Tests for the ELF reader: synthetic binaries from real toolchains, readelf as an oracle, fuzzing.

Fixtures are built at test time from ``elf_src/`` by gcc and cross gcc (i686: 32-bit little
endian, s390x: 64-bit big endian, powerpc: 32-bit big endian) into one session directory.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _toolchain import require, run, unavailable
from native_doctor.binary import BinaryInfo, BytesSource, FileKind, elf, read_binary
from native_doctor.binary.elf import read_elf
from native_doctor.errors import BinaryFormatError

pytestmark = pytest.mark.toolchain

SRC = Path(__file__).parent / "elf_src"
SYSTEM_LIB_DIR = Path("/usr/lib/x86_64-linux-gnu")

# --------------------------------------------------------------------------------------------
# Building the synthetic binaries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How to build one synthetic binary: compiler, arguments, binaries it links against."""

    compiler: str
    #: Arguments after the compiler; ``{out}`` is the output path, ``{dir}`` the build directory.
    args: tuple[str, ...]
    deps: tuple[str, ...] = ()
    #: The linker may legitimately refuse (text relocations): skip instead of failing.
    may_refuse: bool = False


def _shared(compiler: str, soname: str, *sources: str, extra: tuple[str, ...] = ()) -> Recipe:
    return Recipe(compiler, ("-shared", "-fPIC", f"-Wl,-soname,{soname}", *extra, *sources, "-o", "{out}"))


_VERSIONED = ("-Wl,--version-script=" + str(SRC / "versioned.map"),)
_CONSUMER = ("-shared", "-fPIC", "consumer.c", "-L{dir}", "-lbase", "-o", "{out}")
_CROSS = {"i686": "i686-linux-gnu-gcc", "s390x": "s390x-linux-gnu-gcc", "ppc": "powerpc-linux-gnu-gcc"}

RECIPES: dict[str, Recipe] = {
    "libbase.so": _shared("gcc", "libbase.so", "base.c"),
    "librpath.so": Recipe(
        "gcc",
        (*_CONSUMER, "-Wl,-rpath,$ORIGIN/../lib", "-Wl,-rpath,/opt/x::/opt/y", "-Wl,--disable-new-dtags"),
        deps=("libbase.so",),
    ),
    "librunpath.so": Recipe(
        "gcc",
        (*_CONSUMER, "-Wl,-rpath,$ORIGIN/../lib", "-Wl,--enable-new-dtags"),
        deps=("libbase.so",),
    ),
    "libversioned.so": _shared("gcc", "libversioned.so", "versioned.c", extra=_VERSIONED),
    "versioned_user": Recipe(
        "gcc", ("versioned_user.c", "{dir}/libversioned.so", "-o", "{out}"), deps=("libversioned.so",)
    ),
    "libexecstack.so": _shared("gcc", "libexecstack.so", "base.c", extra=("-Wl,-z,execstack",)),
    "libtextrel.so": Recipe(
        "gcc",
        ("-shared", "-fno-pic", "-mcmodel=large", "-Wl,-z,notext", "textrel.c", "-o", "{out}"),
        may_refuse=True,
    ),
    "libisa_v3.so": _shared("gcc", "libisa_v3.so", "base.c", extra=("-Wl,-z,x86-64-v3",)),
    "libisa_v4.so": _shared("gcc", "libisa_v4.so", "base.c", extra=("-Wl,-z,x86-64-v4",)),
    "i686/libisa_v2.so": _shared("i686-linux-gnu-gcc", "libisa_v2.so", "base.c", extra=("-Wl,-z,x86-64-v2",)),
    "pie": Recipe("gcc", ("-fPIE", "-pie", "main.c", "-o", "{out}")),
    "nopie": Recipe("gcc", ("-fno-pie", "-no-pie", "main.c", "-o", "{out}")),
    "static": Recipe("gcc", ("-static", "-fno-pie", "-no-pie", "main.c", "-o", "{out}")),
    "static-pie": Recipe("gcc", ("-static-pie", "-fPIE", "main.c", "-o", "{out}")),
    "object.o": Recipe("gcc", ("-c", "base.c", "-o", "{out}")),
}
for _arch, _cc in _CROSS.items():
    RECIPES[f"{_arch}/libversioned.so"] = _shared(_cc, "libversioned.so", "versioned.c", extra=_VERSIONED)
    RECIPES[f"{_arch}/versioned_user"] = Recipe(
        _cc,
        ("versioned_user.c", "{dir}/libversioned.so", "-Wl,-rpath,$ORIGIN", "-o", "{out}"),
        deps=(f"{_arch}/libversioned.so",),
    )


class Builder:
    """Builds recipes on demand into one directory and remembers the results."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[str, Path] = {}

    def get(self, name: str) -> Path:
        """The built binary ``name`` (skipped when a toolchain is missing or the linker refuses)."""
        if name in self._built:
            return self._built[name]
        recipe = RECIPES[name]
        compiler = require(recipe.compiler)
        for dep in recipe.deps:
            self.get(dep)
        out = self.root / name
        out.parent.mkdir(parents=True, exist_ok=True)
        args = [a.format(out=out, dir=out.parent) for a in recipe.args]
        if recipe.may_refuse:
            proc = subprocess.run([compiler, *args], cwd=SRC, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                unavailable(f"the linker refuses to build {name}: {proc.stderr.strip()[-300:]}")
        else:
            run(compiler, *args, cwd=SRC)
        self._built[name] = out
        return out


@pytest.fixture(scope="session")
def builder(tmp_path_factory: pytest.TempPathFactory) -> Builder:
    return Builder(tmp_path_factory.mktemp("elf"))


def parse(path: Path) -> BinaryInfo:
    return read_elf(BytesSource(path.read_bytes()))


# --------------------------------------------------------------------------------------------
# Expected values for the synthetic binaries
# --------------------------------------------------------------------------------------------

_VERS = {"libversioned.so": ("VERS_1.0", "VERS_2.0")}

#: name -> {BinaryInfo field: expected value}; "symbol_versions" lists only the files to check.
EXPECTED: dict[str, dict[str, object]] = {
    "libbase.so": {"kind": FileKind.SHARED_LIBRARY, "soname": "libbase.so", "interpreter": None},
    "librpath.so": {
        "needed": ("libbase.so",),
        "rpath": ("$ORIGIN/../lib", "/opt/x", "/opt/y"),
        "runpath": (),
        "soname": None,
    },
    "librunpath.so": {"needed": ("libbase.so",), "rpath": (), "runpath": ("$ORIGIN/../lib",)},
    "libversioned.so": {"soname": "libversioned.so", "version_definitions": ("VERS_1.0", "VERS_2.0")},
    "versioned_user": {
        "kind": FileKind.EXECUTABLE,
        "needed": ("libversioned.so", "libc.so.6"),
        "symbol_versions": _VERS,
        "version_definitions": (),
    },
    "libexecstack.so": {"executable_stack": True, "text_relocations": False},
    "libtextrel.so": {"text_relocations": True},
    "libisa_v3.so": {"x86_isa_level": 3},
    "libisa_v4.so": {"x86_isa_level": 4},
    "pie": {"kind": FileKind.EXECUTABLE, "interpreter": "/lib64/ld-linux-x86-64.so.2", "x86_isa_level": 1},
    "nopie": {"kind": FileKind.EXECUTABLE, "interpreter": "/lib64/ld-linux-x86-64.so.2"},
    "static": {"kind": FileKind.EXECUTABLE, "interpreter": None, "needed": (), "symbol_versions": {}},
    "static-pie": {"kind": FileKind.EXECUTABLE, "interpreter": None, "needed": (), "soname": None},
    "object.o": {
        "kind": FileKind.OBJECT,
        "needed": (),
        "interpreter": None,
        "executable_stack": None,
        "x86_isa_level": None,
    },
}
_NATIVE = {"arch": "x86_64", "bits": 64, "byteorder": "little"}
_CROSS_EXPECTED = {
    "i686": ({"arch": "i686", "bits": 32, "byteorder": "little"}, "/lib/ld-linux.so.2"),
    "s390x": ({"arch": "s390x", "bits": 64, "byteorder": "big"}, "/lib/ld64.so.1"),
    "ppc": ({"arch": "ppc", "bits": 32, "byteorder": "big"}, "/lib/ld.so.1"),
}
for _name in list(EXPECTED):
    EXPECTED[_name] = {**_NATIVE, "executable_stack": False, **EXPECTED[_name]}
EXPECTED["i686/libisa_v2.so"] = {**_CROSS_EXPECTED["i686"][0], "x86_isa_level": 2}
for _arch, (_ident, _interp) in _CROSS_EXPECTED.items():
    EXPECTED[f"{_arch}/libversioned.so"] = {
        **_ident,
        "kind": FileKind.SHARED_LIBRARY,
        "soname": "libversioned.so",
        "version_definitions": ("VERS_1.0", "VERS_2.0"),
        **({} if _arch == "i686" else {"x86_isa_level": None}),
    }
    EXPECTED[f"{_arch}/versioned_user"] = {
        **_ident,
        "kind": FileKind.EXECUTABLE,
        "interpreter": _interp,
        "needed": ("libversioned.so", "libc.so.6"),
        "runpath": ("$ORIGIN",),
        "symbol_versions": _VERS,
    }


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_synthetic_binary(builder: Builder, name: str) -> None:
    info = parse(builder.get(name))
    for attr, expected in EXPECTED[name].items():
        actual = getattr(info, attr)
        if attr == "symbol_versions" and expected:
            assert isinstance(expected, Mapping)
            actual = {key: actual[key] for key in expected if key in actual}
        assert actual == expected, f"{attr}: {actual!r} != {expected!r}"


def test_dispatcher_routes_elf(builder: Builder) -> None:
    path = builder.get("libbase.so")
    assert read_binary(path.read_bytes()) == parse(path)


# --------------------------------------------------------------------------------------------
# Differential tests against readelf
# --------------------------------------------------------------------------------------------


@dataclass
class ReadelfView:
    """What ``readelf -d -V -l --wide`` says about the fields under test."""

    needed: list[str] = field(default_factory=list)
    soname: str | None = None
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()
    interpreter: str | None = None
    symbol_versions: dict[str, set[str]] = field(default_factory=dict)
    version_definitions: list[str] = field(default_factory=list)


_DYN = re.compile(r"\((NEEDED|SONAME|RPATH|RUNPATH)\)\s+(?:Shared library|Library \w+): \[(.*)\]$")
_INTERP = re.compile(r"\[Requesting program interpreter: (.*)\]$")
_VERDEF = re.compile(r"Rev: \d+\s+Flags: (.+?)\s+Index: \d+\s+Cnt: \d+\s+Name: (\S+)")
_VERNEED_FILE = re.compile(r"Version: \d+\s+File: (\S+)\s+Cnt: \d+")
_VERNEED_NAME = re.compile(r"Name: (\S+)\s+Flags: .*Version: \d+")


def readelf(path: Path) -> ReadelfView:
    """Parse readelf's text output for the fields the reader fills."""
    out = run(require("readelf"), "-d", "-V", "-l", "--wide", path)
    view = ReadelfView()
    section = ""
    current: set[str] | None = None
    for line in out.splitlines():
        if line.startswith("Version definition section"):
            section = "verdef"
        elif line.startswith("Version needs section"):
            section = "verneed"
        elif line.startswith(("Version symbols section", "Dynamic section", "Program Headers")):
            section = ""
        if m := _INTERP.search(line):
            view.interpreter = m.group(1)
        elif m := _DYN.search(line):
            _readelf_dynamic(view, m.group(1), m.group(2))
        elif section == "verdef" and (m := _VERDEF.search(line)):
            if "BASE" not in m.group(1) and m.group(2) not in view.version_definitions:
                view.version_definitions.append(m.group(2))
        elif section == "verneed" and (m := _VERNEED_FILE.search(line)):
            current = view.symbol_versions.setdefault(m.group(1), set())
        elif section == "verneed" and current is not None and (m := _VERNEED_NAME.search(line)):
            current.add(m.group(1))
    return view


def _readelf_dynamic(view: ReadelfView, tag: str, value: str) -> None:
    if tag == "NEEDED":
        view.needed.append(value)
    elif tag == "SONAME":
        view.soname = value
    elif tag == "RPATH":
        view.rpath = tuple(p for p in value.split(":") if p)
    else:
        view.runpath = tuple(p for p in value.split(":") if p)


def assert_matches_readelf(path: Path) -> None:
    info = parse(path)
    ref = readelf(path)
    assert info.needed == tuple(ref.needed)
    assert info.soname == ref.soname
    assert info.rpath == ref.rpath
    assert info.runpath == ref.runpath
    assert info.interpreter == ref.interpreter
    assert dict(info.symbol_versions) == {k: tuple(sorted(v)) for k, v in ref.symbol_versions.items()}
    assert list(info.symbol_versions) == list(ref.symbol_versions)  # verneed chain order
    assert info.version_definitions == tuple(ref.version_definitions)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_synthetic_matches_readelf(builder: Builder, name: str) -> None:
    assert_matches_readelf(builder.get(name))


SYSTEM_FILES = (
    "libstdc++.so.6",
    "libc.so.6",
    "libm.so.6",
    "libz.so.1",
    "libgcc_s.so.1",
    "libssl.so.3",
    "libcrypto.so.3",
    "libpython3.11.so.1.0",
    "libffi.so.8",
    "libsqlite3.so.0",
    "libexpat.so.1",
    "libcurl.so.4",
    "liblzma.so.5",
)


def _system_file(name: str) -> Path:
    path = SYSTEM_LIB_DIR / name if "/" not in name else Path(name)
    if not path.exists():
        unavailable(f"{path} is not installed here")
    return path


@pytest.mark.parametrize("name", [*SYSTEM_FILES, "/usr/bin/python3", "/bin/ls"])
def test_system_file_matches_readelf(name: str) -> None:
    assert_matches_readelf(_system_file(name))


# --------------------------------------------------------------------------------------------
# Reading little: no section headers, few reads
# --------------------------------------------------------------------------------------------


class RecordingSource(BytesSource):
    """A BytesSource that remembers every read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[tuple[int, int]] = []

    def read_at(self, offset: int, length: int) -> bytes:
        self.reads.append((offset, length))
        return super().read_at(offset, length)


def _section_header_table(data: bytes) -> tuple[int, int]:
    order = "<" if data[5] == 1 else ">"
    if data[4] == 2:
        shoff, shentsize, shnum = struct.unpack_from(order + "Q", data, 0x28) + struct.unpack_from(
            order + "HH", data, 0x3A
        )
    else:
        shoff, shentsize, shnum = struct.unpack_from(order + "I", data, 0x20) + struct.unpack_from(
            order + "HH", data, 0x2E
        )
    return shoff, shoff + shentsize * shnum


@pytest.mark.parametrize("name", ["libstdc++.so.6", "libc.so.6", "libpython3.11.so.1.0"])
def test_reads_few_bytes_and_no_section_headers(name: str) -> None:
    data = _system_file(name).read_bytes()
    source = RecordingSource(data)
    full = read_elf(source)
    assert len(source.reads) <= 10, source.reads
    assert sum(length for _, length in source.reads) <= 64 * 1024, source.reads
    start, end = _section_header_table(data)
    assert all(offset + length <= start or offset >= end for offset, length in source.reads)
    # Cutting the file before the section headers (and everything after) changes nothing.
    assert read_elf(BytesSource(data[: max(o + n for o, n in source.reads)])) == full


def test_reads_dynamic_segment_once(builder: Builder) -> None:
    data = builder.get("librpath.so").read_bytes()
    dyn_offset, dyn_size = _dynamic_segment(data)
    source = RecordingSource(data)
    read_elf(source)
    covering = [(o, n) for o, n in source.reads if o <= dyn_offset < o + n]
    assert len(covering) == 1
    assert covering[0][0] + covering[0][1] >= dyn_offset + dyn_size


def _dynamic_segment(data: bytes) -> tuple[int, int]:
    """(p_offset, p_filesz) of PT_DYNAMIC in a 64-bit little-endian file."""
    phoff, phentsize, phnum = struct.unpack_from("<Q", data, 0x20) + struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize
        )
        if p_type == 2:
            return p_offset, p_filesz
    raise AssertionError("no PT_DYNAMIC")


# --------------------------------------------------------------------------------------------
# Byte surgery: header fields no toolchain here produces, and malformed files
# --------------------------------------------------------------------------------------------


def _patched(data: bytes, offset: int, fmt: str, *values: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, *values)
    return bytes(out)


@pytest.mark.parametrize(
    ("machine", "arch"),
    [
        pytest.param(183, "aarch64", id="aarch64"),
        pytest.param(40, "armv7l", id="arm"),
        pytest.param(21, "ppc64le", id="ppc64le"),
        pytest.param(243, "riscv64", id="riscv64"),
        pytest.param(258, "loongarch64", id="loongarch64"),
        pytest.param(8, "mips64", id="mips64"),
        pytest.param(22, "s390x", id="s390x"),
        pytest.param(0x1234, "unknown-4660", id="unknown"),
    ],
)
def test_machine_names(builder: Builder, machine: int, arch: str) -> None:
    data = _patched(builder.get("libbase.so").read_bytes(), 18, "<H", machine)
    info = read_elf(BytesSource(data))
    assert info.arch == arch
    assert info.x86_isa_level is None  # only read for x86 machines


def test_core_file_kind(builder: Builder) -> None:
    data = _patched(builder.get("libbase.so").read_bytes(), 16, "<H", 4)  # ET_CORE
    assert read_elf(BytesSource(data)).kind is FileKind.OTHER


@pytest.mark.parametrize(
    ("offset", "fmt", "value", "message"),
    [
        pytest.param(4, "B", 3, "class", id="bad-class"),
        pytest.param(5, "B", 0, "data encoding", id="bad-data"),
        pytest.param(0x38, "<H", 0xFFFF, "PN_XNUM", id="pn-xnum"),
        pytest.param(0x36, "<H", 8, "too small", id="small-phentsize"),
        pytest.param(0x20, "<Q", 1 << 40, "program header table", id="phoff-outside"),
        pytest.param(0, "B", 0, "magic", id="bad-magic"),
    ],
)
def test_malformed_header(builder: Builder, offset: int, fmt: str, value: int, message: str) -> None:
    data = _patched(builder.get("libbase.so").read_bytes(), offset, fmt, value)
    with pytest.raises(BinaryFormatError, match=message):
        read_elf(BytesSource(data))


def _dynamic_entries(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(file offset, tag, value) of each entry of a 64-bit little-endian file's dynamic segment."""
    offset, size = _dynamic_segment(data)
    for pos in range(offset, offset + size, 16):
        tag, value = struct.unpack_from("<QQ", data, pos)
        yield pos, tag, value
        if tag == 0:
            return


def _set_dynamic(data: bytes, tag: int, change: Callable[[int], int]) -> bytes:
    for pos, entry_tag, value in _dynamic_entries(data):
        if entry_tag == tag:
            return _patched(data, pos + 8, "<Q", change(value))
    raise AssertionError(f"no dynamic tag {tag:#x}")


@pytest.mark.parametrize(
    ("tag", "change", "message"),
    [
        pytest.param(5, lambda v: v + (1 << 40), "DT_STRTAB", id="strtab-unmapped"),
        pytest.param(1, lambda v: 1 << 30, "outside the dynamic string table", id="needed-index"),
        pytest.param(10, lambda v: 3, "outside the dynamic string table", id="strsz-too-small"),
        pytest.param(0x6FFFFFFE, lambda v: v + (1 << 40), "DT_VERNEED", id="verneed-unmapped"),
    ],
)
def test_malformed_dynamic(builder: Builder, tag: int, change: Callable[[int], int], message: str) -> None:
    data = _set_dynamic(builder.get("versioned_user").read_bytes(), tag, change)
    with pytest.raises(BinaryFormatError, match=message):
        read_elf(BytesSource(data))


def test_verneed_pointing_at_garbage(builder: Builder) -> None:
    data = builder.get("versioned_user").read_bytes()
    strtab = next(value for _pos, tag, value in _dynamic_entries(data) if tag == 5)
    data = _set_dynamic(data, 0x6FFFFFFE, lambda v: strtab)  # DT_VERNEED -> the string table
    with pytest.raises(BinaryFormatError, match="vn_version"):
        read_elf(BytesSource(data))


def test_larger_verneednum_stops_at_end_of_chain(builder: Builder) -> None:
    """Like glibc, the chain ends at vn_next == 0 whatever DT_VERNEEDNUM says."""
    path = builder.get("versioned_user")
    data = _set_dynamic(path.read_bytes(), 0x6FFFFFFF, lambda v: 1 << 20)
    assert read_elf(BytesSource(data)) == parse(path)


def test_textrel_flag_alone(builder: Builder) -> None:
    """DF_TEXTREL in DT_FLAGS counts even without a DT_TEXTREL entry."""
    data = builder.get("libtextrel.so").read_bytes()
    for pos, tag, _value in _dynamic_entries(data):
        if tag == 22:  # DT_TEXTREL -> an unused tag
            data = _patched(data, pos, "<Q", 0x6FFFFE00)
    assert read_elf(BytesSource(data)).text_relocations is True


def test_pie_without_df_1_pie_is_a_shared_library(builder: Builder) -> None:
    data = _set_dynamic(builder.get("pie").read_bytes(), 0x6FFFFFFB, lambda v: v & ~0x08000000)
    assert read_elf(BytesSource(data)).kind is FileKind.SHARED_LIBRARY


def test_isa_level_from_pt_note_without_pt_gnu_property(builder: Builder) -> None:
    """Without PT_GNU_PROPERTY the property note is found in a PT_NOTE segment (8-byte aligned)."""
    data = bytearray(builder.get("libisa_v3.so").read_bytes())
    phoff, phentsize, phnum = struct.unpack_from("<Q", data, 0x20) + struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        if struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 0x6474E553:
            struct.pack_into("<I", data, phoff + i * phentsize, 0)  # PT_GNU_PROPERTY -> PT_NULL
            break
    else:
        pytest.fail("no PT_GNU_PROPERTY")
    assert read_elf(BytesSource(bytes(data))).x86_isa_level == 3


# Hand-made files: one PT_LOAD maps the whole file at address 0, PT_DYNAMIC sits at 0x200.
_STRTAB = b"\0libfoo.so\0V1\0"  # "libfoo.so" at 1, "V1" at 11
_STRTAB_AT = 0x1000
_TABLES_AT = 0x2000


def tiny_elf(dynamic: list[tuple[int, int]], tables: bytes = b"") -> bytes:
    """A 64-bit little-endian ET_DYN file with the given dynamic entries and version tables."""
    size = _TABLES_AT + len(tables)
    dyn_size = 16 * len(dynamic)
    phdrs = [(1, 5, 0, 0, 0, size, size, 0x1000), (2, 6, 0x200, 0x200, 0x200, dyn_size, dyn_size, 8)]
    data = bytearray(size)
    data[:16] = b"\x7fELF\x02\x01\x01" + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", data, 16, 3, 62, 1, 0, 64, 0, 0, 64, 56, len(phdrs), 64, 0, 0)
    for i, phdr in enumerate(phdrs):
        struct.pack_into("<IIQQQQQQ", data, 64 + 56 * i, *phdr)
    for i, entry in enumerate(dynamic):
        struct.pack_into("<QQ", data, 0x200 + 16 * i, *entry)
    data[_STRTAB_AT : _STRTAB_AT + len(_STRTAB)] = _STRTAB
    data[_TABLES_AT:] = tables
    return bytes(data)


_STRINGS = [(5, _STRTAB_AT), (10, len(_STRTAB))]  # DT_STRTAB, DT_STRSZ


def _verneed(cnt: int, aux: int, nxt: int) -> bytes:
    return struct.pack("<HHIII", 1, cnt, 1, aux, nxt)


def _vernaux(nxt: int) -> bytes:
    return struct.pack("<IHHII", 0, 0, 2, 11, nxt)


def test_tiny_elf_reads() -> None:
    tables = _verneed(1, 16, 0) + _vernaux(0)
    info = read_elf(BytesSource(tiny_elf([(1, 1), *_STRINGS, (0x6FFFFFFE, _TABLES_AT), (0, 0)], tables)))
    assert info.needed == ("libfoo.so",)
    assert dict(info.symbol_versions) == {"libfoo.so": ("V1",)}
    assert info.kind is FileKind.SHARED_LIBRARY
    assert info.executable_stack is None


def test_version_entries_are_budgeted(monkeypatch: pytest.MonkeyPatch) -> None:
    """vn_cnt and DT_VERNEEDNUM are attacker-controlled: a shared budget bounds the walk."""
    monkeypatch.setattr(elf, "MAX_VERSION_ENTRIES", 50)
    aux = _vernaux(16) * 40 + _vernaux(0)
    size = 16 + len(aux)
    tables = _verneed(41, 16, size) + aux + _verneed(41, 16, 0) + aux
    data = tiny_elf([*_STRINGS, (0x6FFFFFFE, _TABLES_AT), (0x6FFFFFFF, 2), (0, 0)], tables)
    with pytest.raises(BinaryFormatError, match="too many entries"):
        read_elf(BytesSource(data))


def test_dynamic_entries_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without DT_NULL, at most MAX_DYNAMIC_ENTRIES entries are read."""
    monkeypatch.setattr(elf, "MAX_DYNAMIC_ENTRIES", 10)
    data = tiny_elf([*_STRINGS, *[(1, 1)] * 20])
    assert read_elf(BytesSource(data)).needed == ("libfoo.so",) * 8


def test_strings_without_strtab() -> None:
    with pytest.raises(BinaryFormatError, match="no DT_STRTAB"):
        read_elf(BytesSource(tiny_elf([(1, 1), (0, 0)])))


def test_unterminated_string() -> None:
    data = tiny_elf([(5, _STRTAB_AT), (10, 5), (1, 1), (0, 0)])  # "libf" without its NUL in DT_STRSZ
    with pytest.raises(BinaryFormatError, match="unterminated"):
        read_elf(BytesSource(data))


# --------------------------------------------------------------------------------------------
# Fuzzing: every input yields a BinaryInfo or a BinaryFormatError, nothing else
# --------------------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=int(os.environ.get("NATIVE_DOCTOR_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize="NATIVE_DOCTOR_FUZZ_EXAMPLES" not in os.environ,
)


@dataclass(frozen=True)
class Seed:
    """A real file to mutate, and the byte ranges a clean parse of it reads."""

    data: bytes
    hot: tuple[tuple[int, int], ...]


@pytest.fixture(scope="session")
def seeds(builder: Builder) -> list[Seed]:
    """Synthetic files of each class and byte order, and a system library."""
    paths = []
    for name in (
        "versioned_user",
        "librpath.so",
        "i686/versioned_user",
        "s390x/libversioned.so",
        "ppc/versioned_user",
    ):
        if shutil.which(RECIPES[name].compiler):
            paths.append(builder.get(name))
    if (SYSTEM_LIB_DIR / "libz.so.1").exists():
        paths.append(SYSTEM_LIB_DIR / "libz.so.1")
    if not paths:
        unavailable("no seed binaries (no compiler, no libz.so.1)")
    found = []
    for path in paths:
        source = RecordingSource(path.read_bytes())
        read_elf(source)
        hot = tuple((o, min(o + n, source.size)) for o, n in source.reads if o < source.size)
        found.append(Seed(path.read_bytes(), hot))
    return found


def check_total(data: bytes) -> None:
    """Parsing ends in a BinaryInfo or a BinaryFormatError."""
    try:
        info = read_binary(data)
    except BinaryFormatError:
        return
    assert isinstance(info, BinaryInfo)


_interesting = st.sampled_from([0, 1, 0x7F, 0x80, 0xFF])


_word = st.tuples(
    st.sampled_from([1, 2, 4, 8]),
    st.integers(0, 2**32),
    st.sampled_from([0, 1, 0x7F, 0xFF, 0xFFFF, 2**31, 2**64 - 1]) | st.integers(0, 2**64 - 1),
    st.sampled_from(["little", "big"]),
)


@FUZZ
@given(seed_index=st.integers(0, 99), words=st.lists(_word, min_size=1, max_size=8))
def test_fuzz_mutated(seeds: list[Seed], seed_index: int, words: list[tuple[int, int, int, str]]) -> None:
    """Overwrite bytes and whole words (offsets, sizes, counts) where the reader looks."""
    seed = seeds[seed_index % len(seeds)]
    data = bytearray(seed.data)
    for width, pos, value, order in words:
        start, end = seed.hot[pos % len(seed.hot)]
        at = max(4, start + pos % max(1, end - start - width))
        word = (value % 2 ** (8 * width)).to_bytes(width, "little" if order == "little" else "big")
        data[at : at + width] = word
    check_total(bytes(data))


@FUZZ
@given(data=st.data())
def test_fuzz_truncated(seeds: list[Seed], data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(seeds)).data
    check_total(seed[: data.draw(st.integers(0, len(seed)))])


@FUZZ
@given(
    ident=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    tail=st.binary(max_size=2048),
)
def test_fuzz_random_bytes(ident: tuple[int, int], tail: bytes) -> None:
    check_total(b"\x7fELF" + bytes(ident) + tail)
