"""Deep reading (``read_binary(..., deep=True)``): symbol tables and debug information sizes.

Synthetic files are built at test time from ``deep_src/`` (gcc and cross gcc for ELF, clang +
ld64.lld with a stand-in libSystem for Mach-O, mingw-w64 gcc and clang + lld for PE) and compared
with the reference tools: ``readelf --dyn-syms`` / ``nm -D`` / ``readelf -S``, ``llvm-nm``,
``llvm-objdump --macho``, ``llvm-readobj --coff-imports --coff-exports`` and ``objdump -h``. Real wheels
of the corpus and system libraries are read the same way, and Hypothesis mutates and truncates
the synthetic files: deep reading must end in a ``BinaryInfo`` or a ``BinaryFormatError``.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _corpus import CorpusWheel, ensure, wheels
from _toolchain import require, run, unavailable
from native_doctor.binary import BinaryFormat, BinaryInfo, BytesSource, read_binary
from native_doctor.errors import BinaryFormatError

SRC = Path(__file__).parent / "deep_src"
SYSTEM_LIB_DIR = Path("/usr/lib/x86_64-linux-gnu")
FUZZ = settings(
    max_examples=int(os.environ.get("NATIVE_DOCTOR_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize="NATIVE_DOCTOR_FUZZ_EXAMPLES" not in os.environ,
)


def deep(path: Path) -> BinaryInfo:
    return read_binary(BytesSource(path.read_bytes()), deep=True)


def shallow_part(info: BinaryInfo) -> BinaryInfo:
    """``info`` with the deep fields reset, as a reading without ``deep`` gives it."""
    return replace(
        info,
        deep=False,
        imported_symbols=(),
        weak_imported_symbols=(),
        exported_symbols=(),
        debug_bytes=None,
        imports_by_library=MappingProxyType({}),
        slices=tuple(shallow_part(s) for s in info.slices),
    )


def _strip_version(name: str) -> str:
    return name.split("@", 1)[0]


# ================================================================================================
# ELF
# ================================================================================================

_ELF_COMPILERS = {"x86_64": "gcc", "i686": "i686-linux-gnu-gcc", "s390x": "s390x-linux-gnu-gcc"}
_ELF_COMPILERS["ppc"] = "powerpc-linux-gnu-gcc"
#: name -> extra link/compile arguments of libdeep (all link libdep.so).
_ELF_VARIANTS = {
    "gnu-g": ("-g", "-Wl,--hash-style=gnu"),
    "sysv-g": ("-g", "-Wl,--hash-style=sysv"),
    "both": ("-Wl,--hash-style=both",),
    "stripped": ("-g", "-s", "-Wl,--hash-style=gnu"),
    "zdebug": ("-g", "-Wl,--compress-debug-sections=zlib-gnu"),
}


@pytest.fixture(scope="session")
def elf_built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``<arch>/<variant>/libdeep.so`` for every compiler found (x86_64 is required)."""
    root = tmp_path_factory.mktemp("deep-elf")
    built: dict[str, Path] = {}
    for arch, compiler in _ELF_COMPILERS.items():
        cc = require(compiler) if arch == "x86_64" else shutil.which(compiler)
        if cc is None:
            continue
        out = root / arch
        out.mkdir()
        run(cc, "-shared", "-fPIC", "-Wl,-soname,libdep.so", "elf_dep.c", "-o", out / "libdep.so", cwd=SRC)
        variants = _ELF_VARIANTS if arch == "x86_64" else {k: _ELF_VARIANTS[k] for k in ("gnu-g", "sysv-g")}
        for variant, extra in variants.items():
            target = out / variant / "libdeep.so"
            target.parent.mkdir()
            run(cc, "-shared", "-fPIC", *extra, "elf_lib.c", f"-L{out}", "-ldep", "-o", target, cwd=SRC)
            built[f"{arch}/{variant}"] = target
    return built


def _readelf_symbol_bindings(path: Path) -> tuple[set[str], set[str], set[str]]:
    """(imported, imported only with WEAK binding, exported) per ``readelf --dyn-syms -W`` (which
    reads .dynsym by section header)."""
    imported: set[str] = set()
    strong: set[str] = set()
    exported: set[str] = set()
    pattern = re.compile(r"^\s*\d+: [0-9a-f]+\s+\S+\s+\w+\s+(\w+)\s+(\w+)\s+(?:\[[^\]]*\]\s+)?(\w+)\s+(\S+)")
    for line in run(require("readelf"), "--dyn-syms", "-W", path).splitlines():
        m = pattern.match(line)
        if m is None:
            continue
        bind, vis, ndx, name = m.groups()
        if bind == "LOCAL":
            continue
        if ndx == "UND":
            imported.add(_strip_version(name))
            if bind != "WEAK":
                strong.add(_strip_version(name))
        elif vis in ("DEFAULT", "PROTECTED"):
            exported.add(_strip_version(name))
    return imported, imported - strong, exported


def _nm_symbols(path: Path) -> tuple[set[str], set[str]]:
    """(imported, exported) per ``nm -D --undefined-only`` / ``nm -D --defined-only``."""
    nm = require("nm")

    def names(option: str) -> set[str]:
        return {_strip_version(line.split()[-1]) for line in run(nm, "-D", option, path).splitlines() if line}

    return names("--undefined-only"), names("--defined-only")


def _readelf_debug_bytes(path: Path) -> int:
    """Sum of the ``.debug_*`` / ``.zdebug_*`` section sizes listed by ``readelf -S -W``."""
    total = 0
    pattern = re.compile(r"^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)")
    for line in run(require("readelf"), "-S", "-W", path).splitlines():
        m = pattern.match(line)
        if m and m.group(1).startswith((".debug_", ".zdebug_")) and m.group(2) != "NOBITS":
            total += int(m.group(3), 16)
    return total


_ELF_NAMES = [
    f"{a}/{v}" for a in _ELF_COMPILERS for v in _ELF_VARIANTS if a == "x86_64" or v in ("gnu-g", "sysv-g")
]


@pytest.mark.toolchain
@pytest.mark.parametrize("name", _ELF_NAMES)
def test_elf_synthetic(elf_built: dict[str, Path], name: str) -> None:
    if name not in elf_built:
        require(_ELF_COMPILERS[name.split("/", maxsplit=1)[0]])  # skips (locally) or fails (CI) with its name
    path = elf_built[name]
    info = deep(path)
    assert info.deep
    imported, weak, exported = _readelf_symbol_bindings(path)
    assert set(info.imported_symbols) == imported
    assert set(info.weak_imported_symbols) == weak
    assert "maybe_missing" in weak and "puts" not in weak
    assert set(info.exported_symbols) == exported
    assert list(info.imported_symbols) == sorted(imported)
    assert {"dep_value", "dep_counter", "maybe_missing", "puts"} <= imported
    assert {"deep_public", "deep_weak", "deep_protected", "deep_print", "exported_counter"} <= exported
    assert not {"deep_hidden", "deep_static"} & (imported | exported)
    assert info.debug_bytes == _readelf_debug_bytes(path)
    assert (info.debug_bytes > 0) == (name.endswith(("-g", "zdebug")))
    if name.startswith("x86_64/"):
        assert (set(info.imported_symbols), set(info.exported_symbols)) == _nm_symbols(path)
    assert shallow_part(info) == read_binary(path.read_bytes())


@pytest.mark.toolchain
def test_elf_compressed_debug_sections_are_zdebug(elf_built: dict[str, Path]) -> None:
    names = run(require("readelf"), "-S", "-W", elf_built["x86_64/zdebug"])
    if ".zdebug_info" not in names:
        unavailable("this ld writes no .zdebug_* sections")
    assert deep(elf_built["x86_64/zdebug"]).debug_bytes == _readelf_debug_bytes(elf_built["x86_64/zdebug"])


def _without_section_headers(data: bytes) -> bytes:
    """A 64-bit little-endian ELF file with e_shoff, e_shnum and e_shstrndx zeroed."""
    out = bytearray(data)
    struct.pack_into("<Q", out, 0x28, 0)
    struct.pack_into("<HH", out, 0x3C, 0, 0)
    return bytes(out)


@pytest.mark.toolchain
@pytest.mark.parametrize("variant", ["gnu-g", "sysv-g"])
def test_elf_symbols_need_no_section_headers(elf_built: dict[str, Path], variant: str) -> None:
    """DT_SYMTAB sized by DT_HASH / DT_GNU_HASH: the section headers are only for debug_bytes."""
    data = elf_built[f"x86_64/{variant}"].read_bytes()
    full = read_binary(data, deep=True)
    bare = read_binary(_without_section_headers(data), deep=True)
    assert bare.debug_bytes is None
    assert bare.deep
    assert (bare.imported_symbols, bare.exported_symbols) == (full.imported_symbols, full.exported_symbols)


@pytest.mark.toolchain
def test_elf_static_executable_has_no_dynamic_symbols(tmp_path: Path) -> None:
    out = tmp_path / "static"
    (tmp_path / "main.c").write_text("int main(void) { return 0; }\n")
    run(require("gcc"), "-static", "-g", tmp_path / "main.c", "-o", out)
    info = deep(out)
    assert (info.imported_symbols, info.exported_symbols) == ((), ())
    assert info.debug_bytes == _readelf_debug_bytes(out) > 0


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
    "liblzma.so.5",
)


@pytest.mark.parametrize("name", [*SYSTEM_FILES, "/usr/bin/python3", "/bin/ls"])
def test_elf_system_files_match_nm(name: str) -> None:
    path = SYSTEM_LIB_DIR / name if "/" not in name else Path(name)
    if not path.exists():
        unavailable(f"{path} is not installed here")
    info = deep(path)
    imported, exported = _nm_symbols(path)
    assert set(info.imported_symbols) == imported
    assert set(info.exported_symbols) == exported
    assert info.debug_bytes == _readelf_debug_bytes(path)


# ================================================================================================
# Mach-O
# ================================================================================================

_MACHO_TARGETS = {"arm64": "arm64-apple-macos11", "x86_64": "x86_64-apple-macos10.12"}


@pytest.fixture(scope="session")
def macho_built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """libdeep.dylib (-g: stabs), deep.so (bundle), deep.o (-g: __DWARF sections), per arch and fat."""
    clang = require("clang-14", "clang")
    ld = require("ld64.lld-14", "ld64.lld")
    lipo = require("llvm-lipo-14", "llvm-lipo")
    root = tmp_path_factory.mktemp("deep-macho")
    built: dict[str, Path] = {}
    for arch, target in _MACHO_TARGETS.items():
        link = [
            clang,
            "-target",
            target,
            "-fuse-ld=lld",
            f"--ld-path={ld}",
            "-mlinker-version=711",
            "-nostdlib",
        ]
        system = root / f"libSystem-{arch}.dylib"
        run(
            *link,
            "-shared",
            "-Wl,-install_name,/usr/lib/libSystem.B.dylib",
            SRC / "macho_sys.c",
            "-o",
            system,
        )
        for name, mode in (("libdeep.dylib", "-shared"), ("deep.so", "-bundle")):
            out = root / f"{arch}-{name}"
            run(*link, mode, "-g", SRC / "macho_lib.c", system, "-o", out)
            built[f"{arch}/{name}"] = out
        obj = root / f"{arch}-deep.o"
        run(clang, "-target", target, "-g", "-c", SRC / "macho_lib.c", "-o", obj)
        built[f"{arch}/deep.o"] = obj
    for name in ("libdeep.dylib", "deep.so", "deep.o"):
        out = root / f"universal2-{name}"
        run(lipo, "-create", built[f"x86_64/{name}"], built[f"arm64/{name}"], "-output", out)
        built[f"universal2/{name}"] = out
    return built


def _llvm_nm(path: Path, arch: str, *options: str) -> set[str]:
    text = run(require("llvm-nm-14", "llvm-nm"), *options, f"--arch={arch}", path)
    names = set()
    for line in text.splitlines():
        if not line.strip() or line.endswith(":"):
            continue
        name = line.split()[-1]
        names.add(name[1:] if name.startswith("_") else name)
    return names


def _otool_dwarf_bytes(path: Path, arch: str) -> int:
    """Sizes of the sections whose segname is __DWARF, per ``llvm-objdump --macho --private-headers``
    (``llvm-otool-14 -arch`` ignores the architecture of a fat file)."""
    objdump = require("llvm-objdump-14", "llvm-objdump")
    text = run(objdump, "--macho", f"--arch={arch}", "--private-headers", path)
    total = 0
    for m in re.finditer(r"sectname \S+\n\s+segname (\S+)\n\s+addr \S+\n\s+size (0x[0-9a-f]+)", text):
        if m.group(1) == "__DWARF":
            total += int(m.group(2), 16)
    return total


_MACHO_NAMES = [
    f"{a}/{n}" for a in ("arm64", "x86_64", "universal2") for n in ("libdeep.dylib", "deep.so", "deep.o")
]


@pytest.mark.toolchain
@pytest.mark.parametrize("name", _MACHO_NAMES)
def test_macho_synthetic(macho_built: dict[str, Path], name: str) -> None:
    path = macho_built[name]
    info = deep(path)
    assert info.deep
    for image in info.slices or (info,):
        assert image.deep
        assert set(image.imported_symbols) == _llvm_nm(path, image.arch, "-u")
        expected = _llvm_nm(path, image.arch, "-U", "-g")
        if name.endswith(".o"):
            # llvm-nm -g counts private externals (N_PEXT | N_EXT, hidden visibility in an object
            # file); the static linker makes them local, so they are no export.
            expected.discard("deep_hidden")
        assert set(image.exported_symbols) == expected
        assert {"sys_value", "sys_other"} <= set(image.imported_symbols)
        assert {"deep_public", "deep_data", "PyInit_deep"} <= set(image.exported_symbols)
        assert "deep_hidden" not in image.exported_symbols
        assert image.debug_bytes == _otool_dwarf_bytes(path, image.arch)
        assert (image.debug_bytes > 0) == name.endswith(".o")
    if info.slices:
        assert info.imported_symbols == tuple(sorted(set().union(*(s.imported_symbols for s in info.slices))))
        assert info.exported_symbols == tuple(sorted(set().union(*(s.exported_symbols for s in info.slices))))
        assert info.debug_bytes == max(s.debug_bytes or 0 for s in info.slices)
    assert shallow_part(info) == read_binary(path.read_bytes())


@pytest.mark.toolchain
def test_macho_without_dysymtab_reads_every_symbol(macho_built: dict[str, Path]) -> None:
    """With LC_DYSYMTAB turned into an unknown command, the whole symbol table is scanned."""
    data = bytearray(macho_built["arm64/libdeep.dylib"].read_bytes())
    ncmds, offset = struct.unpack_from("<I", data, 16)[0], 32
    for _ in range(ncmds):
        cmd, size = struct.unpack_from("<II", data, offset)
        if cmd == 0xB:  # LC_DYSYMTAB
            struct.pack_into("<I", data, offset, 0x7F)
        offset += size
    full = deep(macho_built["arm64/libdeep.dylib"])
    scanned = read_binary(bytes(data), deep=True)
    assert (scanned.imported_symbols, scanned.exported_symbols) == (
        full.imported_symbols,
        full.exported_symbols,
    )


# ================================================================================================
# PE
# ================================================================================================


@pytest.fixture(scope="session")
def pe_built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """deeplib.dll (gcc, -g and -s), deepuser.dll / deepdelay.dll (clang + lld), per arch."""
    clang = require("clang")
    require("ld.lld")
    dlltool = require("llvm-dlltool", "llvm-dlltool-14")
    root = tmp_path_factory.mktemp("deep-pe")
    built: dict[str, Path] = {}
    for arch, triple, machine in (
        ("x86_64", "x86_64-w64-mingw32", "i386:x86-64"),
        ("x86", "i686-w64-mingw32", "i386"),
    ):
        gcc = require(f"{triple}-gcc")
        out = root / arch
        out.mkdir()
        run(gcc, "-shared", "-g", SRC / "pe_lib.c", "-o", out / "deeplib.dll")
        run(gcc, "-shared", "-s", SRC / "pe_lib.c", "-o", out / "deeplib-stripped.dll")
        run(dlltool, "-m", machine, "-d", SRC / "pe_lib.def", "-l", out / "libdeeplib.a")
        libgcc = Path(run(gcc, "-print-libgcc-file-name").strip()).parent
        link: list[str | Path] = [
            clang,
            f"--target={triple}",
            "-fuse-ld=lld",
            "-shared",
            SRC / "pe_user.c",
            f"-L{out}",
            "-ldeeplib",
        ]
        run(*link, f"-L{libgcc}", "-o", out / "deepuser.dll")
        run(*link, f"-L{libgcc}", "-Wl,--delayload=deeplib.dll", "-o", out / "deepdelay.dll")
        for name in ("deeplib.dll", "deeplib-stripped.dll", "deepuser.dll", "deepdelay.dll"):
            built[f"{arch}/{name}"] = out / name
    out = root / "arm64"
    out.mkdir()
    run(dlltool, "-m", "arm64", "-d", SRC / "pe_lib.def", "-l", out / "libdeeplib.a")
    run(
        clang, "--target=aarch64-w64-mingw32", "-fuse-ld=lld", "-nostdlib", "-shared", "-s",
        "-Wl,--entry=DllMainCRTStartup", SRC / "pe_user.c", SRC / "pe_entry.c", out / "libdeeplib.a",
        "-o", out / "deepuser.dll",
    )  # fmt: skip
    built["arm64/deepuser.dll"] = out / "deepuser.dll"
    return built


@dataclass
class PeReference:
    imports: dict[str, set[str]]
    exports: set[str]


def _readobj(path: Path) -> PeReference:
    """``llvm-readobj --coff-imports --coff-exports``: "Symbol: name (hint)" per import (name
    empty for an ordinal import, the number being the ordinal), "Name:" per export."""
    text = run(require("llvm-readobj-14", "llvm-readobj"), "--coff-imports", "--coff-exports", path)
    ref = PeReference({}, set())
    block = ""
    dll = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line in ("Import {", "DelayImport {", "Export {") and raw.startswith(line[0]):
            block = line
        elif m := re.fullmatch(r"Name: (.*)", line):
            if block == "Export {":
                if m.group(1):
                    ref.exports.add(m.group(1))
            else:
                dll = m.group(1)
                ref.imports.setdefault(dll, set())
        elif m := re.fullmatch(r"Symbol: (.*) \((\d+)\)", line):
            ref.imports[dll].add(m.group(1) or f"#{m.group(2)}")
    return ref


def _objdump_debug_bytes(path: Path) -> int:
    """``.debug*`` section sizes per ``objdump -h``, plus the COFF symbol and string tables,
    which GNU ld and lld put at the end of the file (PointerToSymbolTable per ``llvm-readobj``)."""
    total = 0
    for m in re.finditer(
        r"^\s*\d+ (\.debug\S*)\s+([0-9a-f]+)", run(require("x86_64-w64-mingw32-objdump"), "-h", path), re.M
    ):
        total += int(m.group(2), 16)
    headers = run(require("llvm-readobj-14", "llvm-readobj"), "--file-headers", path)
    found = re.search(r"PointerToSymbolTable: (0x[0-9A-Fa-f]+)", headers)
    assert found is not None, headers
    pointer = int(found.group(1), 16)
    return total + (path.stat().st_size - pointer if pointer else 0)


_PE_NAMES = [
    *(
        f"{a}/{n}"
        for a in ("x86_64", "x86")
        for n in ("deeplib.dll", "deeplib-stripped.dll", "deepuser.dll", "deepdelay.dll")
    ),
    "arm64/deepuser.dll",
]


@pytest.mark.toolchain
@pytest.mark.parametrize("name", _PE_NAMES)
def test_pe_synthetic(pe_built: dict[str, Path], name: str) -> None:
    path = pe_built[name]
    info = deep(path)
    ref = _readobj(path)
    assert info.deep
    assert {dll: set(names) for dll, names in info.imports_by_library.items()} == ref.imports
    assert list(info.imports_by_library) == list(dict.fromkeys(info.needed + info.delay_needed))
    assert info.imported_symbols == tuple(sorted(set().union(*ref.imports.values())))
    assert set(info.exported_symbols) == ref.exports
    if "deeplib" in name:
        assert {"deep_add", "deep_mul", "deep_data"} <= set(info.exported_symbols)
        assert info.debug_bytes == _objdump_debug_bytes(path)
        assert (info.debug_bytes > 0) == ("stripped" not in name)
    else:
        assert info.exported_symbols == ("PyInit_deepuser",)
        assert set(info.imports_by_library["deeplib.dll"]) == {"deep_add", "deep_mul", "#7"}
    assert shallow_part(info) == read_binary(path.read_bytes())


# ================================================================================================
# Real wheels
# ================================================================================================

_CORPUS = [
    ("cryptography", "manylinux-x86_64"),
    ("cryptography", "win-amd64"),
    ("cryptography", "macos-universal2"),
    ("numpy", "win-amd64"),
    ("numpy", "macos-arm64"),
]


def _corpus_params() -> list[object]:
    params: list[object] = []
    for project, family in _CORPUS:
        for entry in wheels(family=family, name=project)[:1]:
            params.append(pytest.param(entry, id=entry.filename, marks=pytest.mark.corpus))
    return params


@pytest.mark.parametrize("entry", _corpus_params())
def test_corpus_wheel_deep(entry: CorpusWheel) -> None:
    """Every native member reads deeply; extension modules export PyInit_* and import Py* API."""
    extensions = 0
    with zipfile.ZipFile(ensure(entry)) as archive:
        for member in archive.infolist():
            if not member.filename.endswith((".so", ".pyd", ".dll", ".dylib")):
                continue
            info = read_binary(archive.read(member), deep=True)
            assert info.deep and info.debug_bytes is not None, member.filename
            assert info.imported_symbols, member.filename
            if re.search(r"\.(cpython-|abi3|cp\d+-win)|\.pyd$", member.filename):
                extensions += 1
                assert any(s.startswith("PyInit_") for s in info.exported_symbols), member.filename
                assert any(s.startswith(("Py", "_Py")) for s in info.imported_symbols), member.filename
            if info.format is BinaryFormat.PE:
                assert set(info.imports_by_library) == set(info.all_needed)
    assert extensions


# ================================================================================================
# Fuzzing
# ================================================================================================


class RecordingSource(BytesSource):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[tuple[int, int]] = []

    def read_at(self, offset: int, length: int) -> bytes:
        self.reads.append((offset, length))
        return super().read_at(offset, length)


@dataclass(frozen=True, repr=False)
class Seed:
    data: bytes
    #: Byte ranges a clean deep reading touches (at most 4 KiB of each).
    hot: tuple[tuple[int, int], ...]

    def __repr__(self) -> str:  # Hypothesis prints the fixture on failure
        return f"Seed({self.data[:4]!r}..., {len(self.data)} bytes)"


@pytest.fixture(scope="session")
def seeds(elf_built: dict[str, Path], macho_built: dict[str, Path], pe_built: dict[str, Path]) -> list[Seed]:
    paths = [
        elf_built[n] for n in ("x86_64/gnu-g", "x86_64/sysv-g", "s390x/sysv-g", "ppc/gnu-g") if n in elf_built
    ]
    paths += [macho_built["universal2/libdeep.dylib"], macho_built["arm64/deep.o"]]
    paths += [pe_built["x86_64/deeplib.dll"], pe_built["x86/deepdelay.dll"], pe_built["x86_64/deepuser.dll"]]
    found = []
    for path in paths:
        data = path.read_bytes()
        source = RecordingSource(data)
        read_binary(source, deep=True)
        hot = {(o, min(o + n, o + 4096, len(data))) for o, n in source.reads if 0 <= o < len(data)}
        found.append(Seed(data, tuple(sorted(hot))))
    return found


def check_total(data: bytes) -> None:
    try:
        info = read_binary(data, deep=True)
    except BinaryFormatError:
        return
    assert isinstance(info, BinaryInfo)
    assert info.deep


_word = st.tuples(
    st.sampled_from([1, 2, 4, 8]),
    st.integers(0, 2**32),
    st.sampled_from([0, 1, 0x7F, 0xFF, 0xFFFF, 2**31, 2**32 - 1, 2**64 - 1]) | st.integers(0, 2**64 - 1),
    st.sampled_from(["little", "big"]),
)


@pytest.mark.toolchain
@FUZZ
@given(seed_index=st.integers(0, 99), words=st.lists(_word, min_size=1, max_size=8))
def test_fuzz_mutated(seeds: list[Seed], seed_index: int, words: list[tuple[int, int, int, str]]) -> None:
    seed = seeds[seed_index % len(seeds)]
    data = bytearray(seed.data)
    for width, pos, value, order in words:
        start, end = seed.hot[pos % len(seed.hot)]
        at = max(4, start + pos % max(1, end - start - width))
        data[at : at + width] = (value % 2 ** (8 * width)).to_bytes(
            width, "little" if order == "little" else "big"
        )
    check_total(bytes(data))


@pytest.mark.toolchain
@FUZZ
@given(data=st.data())
def test_fuzz_truncated(seeds: list[Seed], data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(seeds)).data
    check_total(seed[: data.draw(st.integers(0, len(seed)))])
