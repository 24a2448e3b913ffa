"""Loader rules (``platforms.loader``) on synthetic wheels built from source at test time.

Every binary is compiled by a real toolchain (gcc for ELF, clang + ld64.lld for Mach-O, mingw-w64
gcc and clang + lld for PE) from ``tests/fixtures_src/``, packed into a wheel with
``make_wheel`` and read back with ``read_wheel``; the assertions are on the ``Dependency``
records ``inspect_artifact`` resolves.

On Linux the host's own ld.so is a second oracle: every ELF wheel is also extracted and its
extension opened with ``ctypes.CDLL`` in a clean subprocess (no ``LD_LIBRARY_PATH``). The
extension must load exactly when native-doctor finds nothing external among the libraries it
pulls in.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from _toolchain import host_only, require, run
from _wheels import make_wheel
from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.model import Dependency, Resolution
from native_doctor.sources.wheel import read_wheel

pytestmark = pytest.mark.toolchain

TESTS = Path(__file__).resolve().parent.parent
SRC = TESTS / "fixtures_src"
MACHO_SYSTEM_C = TESTS / "binary" / "macho_src" / "system.c"

B, S, E = Resolution.BUNDLED, Resolution.SYSTEM, Resolution.EXTERNAL

#: An expected dependency: (resolution, bundled member or None, text ``via`` must contain).
Want = tuple[Resolution, str | None, str]


@dataclass(frozen=True)
class Case:
    """A wheel (member -> built binary name) and what must be true of some of its dependencies."""

    id: str
    members: Mapping[str, str]
    #: (binary member, needed name) -> expectation.
    want: Mapping[tuple[str, str], Want]
    filename: str = "mypkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    extra: Mapping[str, bytes] = field(default_factory=dict)


def _inspect(tmp_path: Path, case: Case, built: Mapping[str, Path]) -> Inspection:
    members = {m: built[name].read_bytes() for m, name in case.members.items()}
    members.update(case.extra)
    return inspect_artifact(read_wheel(make_wheel(tmp_path, case.filename, members)))


def _deps(inspection: Inspection) -> dict[tuple[str, str], Dependency]:
    return {(b.native.path, d.name): d for b in inspection.binaries for d in b.dependencies}


def _check(inspection: Inspection, case: Case) -> None:
    deps = _deps(inspection)
    for key, (resolution, member, via) in case.want.items():
        assert key in deps, f"{key} not among {sorted(deps)}"
        dep = deps[key]
        assert (dep.resolution, dep.member) == (resolution, member), dep
        assert via in dep.via, dep
    for dep in deps.values():  # a bundled dependency always names a member of the wheel
        assert (dep.member is not None) == (dep.resolution is Resolution.BUNDLED), dep
        if dep.member is not None:
            assert dep.member in case.members, dep


# --- ELF ------------------------------------------------------------------------------------------

_ORIGIN_LIBS = "$ORIGIN/../mypkg.libs"
_RPATH = ("-Wl,--disable-new-dtags", f"-Wl,-rpath,{_ORIGIN_LIBS}")
_RUNPATH = ("-Wl,--enable-new-dtags", f"-Wl,-rpath,{_ORIGIN_LIBS}")
DT_SONAME, DT_RUNPATH, SHT_DYNAMIC = 14, 29, 6


def _soname_to_runpath(path: Path) -> None:
    """Turn the DT_SONAME entry of an ELF64 LE file into DT_RUNPATH (same string).

    No linker writes DT_RPATH and DT_RUNPATH with different values; linking with an RPATH and a
    SONAME, then retagging the SONAME, gives a file with both.
    """
    data = bytearray(path.read_bytes())
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    for n in range(shnum):
        (sh_type,) = struct.unpack_from("<I", data, shoff + n * shentsize + 4)
        if sh_type == SHT_DYNAMIC:
            offset, size = struct.unpack_from("<QQ", data, shoff + n * shentsize + 0x18)
            for entry in range(offset, offset + size, 16):
                if struct.unpack_from("<q", data, entry)[0] == DT_SONAME:
                    struct.pack_into("<q", data, entry, DT_RUNPATH)
                    path.write_bytes(bytes(data))
                    return
    raise AssertionError(f"{path}: no DT_SONAME to retag")


@dataclass(frozen=True)
class ElfBuild:
    """``gcc -shared`` of chain.c: NAME (and CALLEE) as -D, linked with earlier builds."""

    name: str
    soname: str | None
    define: str
    callee: str | None = None
    libs: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    runpath_from_soname: bool = False


ELF_BUILDS = [
    ElfBuild("libleaf.so", "libleaf.so", "leaf_value"),
    ElfBuild("libmid.so", "libmid.so", "mid_value", "leaf_value", ("libleaf.so",)),
    ElfBuild(
        "runpath/libmid.so",
        "libmid.so",
        "mid_value",
        "leaf_value",
        ("libleaf.so",),
        ("-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/../nowhere"),
    ),
    ElfBuild("libtop.so", "libtop.so", "top_value", "mid_value", ("libmid.so",)),
    ElfBuild("libfoo.so.1", "libfoo.so.1", "foo_value"),
    ElfBuild("ext-rpath-leaf.so", None, "PyInit_ext", "leaf_value", ("libleaf.so",), _RPATH),
    ElfBuild("ext-runpath-leaf.so", None, "PyInit_ext", "leaf_value", ("libleaf.so",), _RUNPATH),
    ElfBuild(
        "ext-rpath-and-runpath-leaf.so",
        "$ORIGIN/../nowhere",  # becomes the DT_RUNPATH
        "PyInit_ext",
        "leaf_value",
        ("libleaf.so",),
        _RPATH,
        runpath_from_soname=True,
    ),
    ElfBuild("ext-leaf.so", None, "PyInit_ext", "leaf_value", ("libleaf.so",)),
    ElfBuild(
        "ext-system.so",
        None,
        "PyInit_ext",
        "foo_value",
        ("libfoo.so.1",),
        (*_RPATH, "-Wl,--no-as-needed", "-lm", "-lc"),
    ),
    ElfBuild("ext-rpath-mid.so", None, "PyInit_ext", "mid_value", ("libmid.so",), _RPATH),
    ElfBuild("ext-runpath-mid.so", None, "PyInit_ext", "mid_value", ("libmid.so",), _RUNPATH),
    ElfBuild(
        "ext-runpath-mid-leaf.so",
        None,
        "PyInit_ext",
        "mid_value",
        ("libmid.so", "libleaf.so"),
        ("-Wl,--no-as-needed", *_RUNPATH),
    ),
    ElfBuild("ext-rpath-top.so", None, "PyInit_ext", "top_value", ("libtop.so",), _RPATH),
    ElfBuild(
        "ext-origin-dot.so",
        None,
        "PyInit_ext",
        "leaf_value",
        ("libleaf.so",),
        ("-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN.libs"),
    ),
    ElfBuild(
        "ext-origin-underscore.so",
        None,
        "PyInit_ext",
        "leaf_value",
        ("libleaf.so",),
        ("-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN_libs"),
    ),
]


@pytest.fixture(scope="session")
def elf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every ELF build, by name (x86_64, gcc and GNU ld)."""
    gcc = require("gcc")
    out = tmp_path_factory.mktemp("loader-elf")
    done: dict[str, Path] = {}
    for build in ELF_BUILDS:
        path = out / build.name
        path.parent.mkdir(parents=True, exist_ok=True)
        args: list[str | Path] = [gcc, "-shared", "-fPIC", f"-DNAME={build.define}", SRC / "chain.c"]
        if build.callee:
            args.append(f"-DCALLEE={build.callee}")
        if build.soname:
            args.append(f"-Wl,-soname,{build.soname}")
        args += [*build.flags, *(done[lib] for lib in build.libs), "-o", path]
        run(*args)
        if build.runpath_from_soname:
            _soname_to_runpath(path)
        done[build.name] = path
    return done


def test_surgery_gives_both_rpath_and_runpath(elf: dict[str, Path]) -> None:
    dynamic = run(require("readelf"), "-d", "--wide", elf["ext-rpath-and-runpath-leaf.so"])
    assert f"(RPATH)              Library rpath: [{_ORIGIN_LIBS}]" in dynamic
    assert "(RUNPATH)            Library runpath: [$ORIGIN/../nowhere]" in dynamic
    assert "(SONAME)" not in dynamic


EXT, LIBS = "mypkg/ext.so", "mypkg.libs"
LEAF, MID, TOP = f"{LIBS}/libleaf.so", f"{LIBS}/libmid.so", f"{LIBS}/libtop.so"

ELF_CASES = [
    Case(
        "rpath-origin-finds-bundled",
        {EXT: "ext-rpath-leaf.so", LEAF: "libleaf.so"},
        {(EXT, "libleaf.so"): (B, LEAF, f"RPATH {_ORIGIN_LIBS}")},
    ),
    Case(
        "runpath-origin-finds-bundled",
        {EXT: "ext-runpath-leaf.so", LEAF: "libleaf.so"},
        {(EXT, "libleaf.so"): (B, LEAF, f"RUNPATH {_ORIGIN_LIBS}")},
    ),
    Case(
        "runpath-present-rpath-ignored",
        {EXT: "ext-rpath-and-runpath-leaf.so", LEAF: "libleaf.so"},
        {(EXT, "libleaf.so"): (E, None, f"a copy is at {LEAF}")},
    ),
    Case(
        "shipped-but-not-on-search-path",
        {EXT: "ext-leaf.so", LEAF: "libleaf.so"},
        {(EXT, "libleaf.so"): (E, None, f"not found on the search path (a copy is at {LEAF}")},
    ),
    Case(
        "policy-libs-system-unlisted-external",
        {EXT: "ext-system.so"},
        {
            (EXT, "libc.so.6"): (S, None, "manylinux policy library"),
            (EXT, "libm.so.6"): (S, None, "manylinux policy library"),
            (EXT, "libfoo.so.1"): (E, None, "not found on the search path"),
        },
    ),
    Case(
        "chain-inherits-loader-rpath",
        {EXT: "ext-rpath-mid.so", MID: "libmid.so", LEAF: "libleaf.so"},
        {
            (EXT, "libmid.so"): (B, MID, f"RPATH {_ORIGIN_LIBS}"),
            (MID, "libleaf.so"): (B, LEAF, f"RPATH {_ORIGIN_LIBS} of {EXT}"),
        },
    ),
    Case(
        "chain-loader-runpath-not-inherited",
        {EXT: "ext-runpath-mid.so", MID: "libmid.so", LEAF: "libleaf.so"},
        {
            (EXT, "libmid.so"): (B, MID, f"RUNPATH {_ORIGIN_LIBS}"),
            (MID, "libleaf.so"): (E, None, f"a copy is at {LEAF}"),
        },
    ),
    Case(
        "chain-requester-runpath-blocks-loader-rpath",
        {EXT: "ext-rpath-mid.so", MID: "runpath/libmid.so", LEAF: "libleaf.so"},
        {
            (EXT, "libmid.so"): (B, MID, f"RPATH {_ORIGIN_LIBS}"),
            (MID, "libleaf.so"): (E, None, f"a copy is at {LEAF}"),
        },
    ),
    Case(
        "chain-already-loaded-by-loader",
        {EXT: "ext-runpath-mid-leaf.so", MID: "libmid.so", LEAF: "libleaf.so"},
        {
            (EXT, "libleaf.so"): (B, LEAF, f"RUNPATH {_ORIGIN_LIBS}"),
            (MID, "libleaf.so"): (B, LEAF, f"already loaded by {EXT}"),
        },
    ),
    Case(  # libmid is found only through ext's RPATH, and is libleaf's loader in turn (bc9c794)
        "chain-three-levels-inherits-rpath",
        {EXT: "ext-rpath-top.so", TOP: "libtop.so", MID: "libmid.so", LEAF: "libleaf.so"},
        {
            (EXT, "libtop.so"): (B, TOP, f"RPATH {_ORIGIN_LIBS}"),
            (TOP, "libmid.so"): (B, MID, f"RPATH {_ORIGIN_LIBS} of {EXT}"),
            (MID, "libleaf.so"): (B, LEAF, f"RPATH {_ORIGIN_LIBS} of {EXT}"),
        },
    ),
    Case(  # glibc is_dst(): "$ORIGIN" ends at any non-identifier character, not only at "/"
        "origin-followed-by-dot-expands",
        {EXT: "ext-origin-dot.so", LEAF: "libleaf.so"},
        {(EXT, "libleaf.so"): (B, LEAF, "RPATH $ORIGIN.libs")},
    ),
    Case(  # is_dst(): "$ORIGIN_libs" is no token; ld.so looks for a literal directory (bc9c794)
        "origin-followed-by-identifier-is-literal",
        {EXT: "ext-origin-underscore.so", "mypkg_libs/libleaf.so": "libleaf.so"},
        {(EXT, "libleaf.so"): (E, None, "a copy is at mypkg_libs/libleaf.so")},
    ),
]


def _ids(case: Case) -> str:
    return case.id


@pytest.mark.parametrize("case", ELF_CASES, ids=_ids)
def test_elf_resolution(case: Case, elf: dict[str, Path], tmp_path: Path) -> None:
    _check(_inspect(tmp_path, case, elf), case)


def _reachable_external(inspection: Inspection, start: str) -> set[str]:
    """External names among the libraries ``start`` pulls in, following bundled members."""
    by_path = {b.native.path: b for b in inspection.binaries}
    seen, todo, external = {start}, [start], set()
    while todo:
        for dep in by_path[todo.pop()].dependencies:
            if dep.resolution is Resolution.EXTERNAL:
                external.add(dep.name)
            elif dep.member is not None and dep.member not in seen:
                seen.add(dep.member)
                todo.append(dep.member)
    return external


def _ld_so_loads(path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_", "PYTHON"))}
    code = "import ctypes, sys; ctypes.CDLL(sys.argv[1])"
    return subprocess.run(
        [sys.executable, "-I", "-c", code, str(path)], capture_output=True, text=True, env=env, check=False
    )


@host_only(sys.platform == "linux" and os.uname().machine == "x86_64", "needs an x86_64 Linux host")
@pytest.mark.parametrize("case", ELF_CASES, ids=_ids)
def test_elf_resolution_matches_ld_so(case: Case, elf: dict[str, Path], tmp_path: Path) -> None:
    """The host's ld.so loads the extracted extension iff native-doctor finds nothing external.

    libc.so.6 and libm.so.6 are on every glibc host, and libfoo.so.1 is on none; so on this host
    "system" means loadable and "external" means not.
    """
    inspection = _inspect(tmp_path, case, elf)
    site = tmp_path / "site"
    with zipfile.ZipFile(inspection.artifact.path) as archive:
        archive.extractall(site)
    external = _reachable_external(inspection, EXT)
    proc = _ld_so_loads(site / EXT)
    if external:
        assert proc.returncode != 0, f"ld.so loaded it, native-doctor says {external} are external"
        assert any(f"{name}: cannot open shared object file" in proc.stderr for name in external), proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr


# --- Mach-O ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MachoBuild:
    """clang + ld64.lld of chain.c (arm64, macOS 11), linked with earlier builds."""

    name: str
    define: str
    callee: str | None = None
    install_name: str | None = None
    libs: tuple[str, ...] = ()
    rpaths: tuple[str, ...] = ()


_SYSTEM = "libSystem.dylib"
MACHO_BUILDS = [
    MachoBuild("libx.dylib", "x_value", install_name="@loader_path/../.dylibs/libx.dylib"),
    MachoBuild("liby.dylib", "y_value", install_name="@rpath/liby.dylib"),
    MachoBuild("libleaf.dylib", "leaf_value", install_name="@rpath/libleaf.dylib"),
    MachoBuild("libmid.dylib", "mid_value", "leaf_value", "@rpath/libmid.dylib", ("libleaf.dylib", _SYSTEM)),
    MachoBuild("libtop.dylib", "top_value", "mid_value", "@rpath/libtop.dylib", ("libmid.dylib", _SYSTEM)),
    MachoBuild("libbrew.dylib", "brew_value", install_name="/opt/homebrew/lib/libfoo.dylib"),
    MachoBuild("ext-delocate.so", "PyInit_ext", "x_value", libs=("libx.dylib", _SYSTEM)),
    MachoBuild(
        "ext-rpath.so",
        "PyInit_ext",
        "y_value",
        libs=("liby.dylib", _SYSTEM),
        rpaths=("@loader_path/.dylibs",),
    ),
    MachoBuild("ext-no-rpath.so", "PyInit_ext", "y_value", libs=("liby.dylib", _SYSTEM)),
    MachoBuild(
        "ext-mid.so",
        "PyInit_ext",
        "mid_value",
        libs=("libmid.dylib", _SYSTEM),
        rpaths=("@loader_path/.dylibs",),
    ),
    MachoBuild(
        "ext-top.so",
        "PyInit_ext",
        "top_value",
        libs=("libtop.dylib", _SYSTEM),
        rpaths=("@loader_path/.dylibs",),
    ),
    MachoBuild("ext-brew.so", "PyInit_ext", "brew_value", libs=("libbrew.dylib", _SYSTEM)),
]


def macho_linker() -> Callable[..., None]:
    """``link(out, *args)`` with clang 14 + ld64.lld 14 for arm64 macOS 11 (no SDK: -nostdlib)."""
    clang = require("clang-14", "clang")
    ld = require("ld64.lld-14", "ld64.lld")

    def link(
        out: Path, *args: str | Path, target: str = "arm64-apple-macos11", platform: str = "macos,11.0,12.0"
    ) -> None:
        run(
            clang, "-target", target, "-fuse-ld=lld", f"--ld-path={ld}", "-mlinker-version=711",
            "-nostdlib", f"-Wl,-platform_version,{platform}", *args, "-o", out,
        )  # fmt: skip

    return link


@pytest.fixture(scope="session")
def macho(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every Mach-O build, by name, plus the stand-in libSystem."""
    link = macho_linker()
    out = tmp_path_factory.mktemp("loader-macho")
    done = {_SYSTEM: out / _SYSTEM}
    link(done[_SYSTEM], "-shared", "-Wl,-install_name,/usr/lib/libSystem.B.dylib", MACHO_SYSTEM_C)
    for build in MACHO_BUILDS:
        args: list[str | Path] = ["-shared" if build.install_name else "-bundle", f"-DNAME={build.define}"]
        if build.callee:
            args.append(f"-DCALLEE={build.callee}")
        if build.install_name:
            args.append(f"-Wl,-install_name,{build.install_name}")
        args += [f"-Wl,-rpath,{r}" for r in build.rpaths]
        args += [SRC / "chain.c", *(done[lib] for lib in build.libs)]
        link(out / build.name, *args)
        done[build.name] = out / build.name
    return done


MAC = "mypkg-1.0-cp312-cp312-macosx_11_0_arm64.whl"
MEXT, DYLIBS = "mypkg/ext.so", "mypkg/.dylibs"
MACHO_CASES = [
    Case(
        "loader-path-delocate-layout",
        {"mypkg/_core/ext.so": "ext-delocate.so", f"{DYLIBS}/libx.dylib": "libx.dylib"},
        {
            ("mypkg/_core/ext.so", "@loader_path/../.dylibs/libx.dylib"): (
                B,
                f"{DYLIBS}/libx.dylib",
                "@loader_path",
            ),
            ("mypkg/_core/ext.so", "/usr/lib/libSystem.B.dylib"): (S, None, "macOS system library"),
        },
        MAC,
    ),
    Case(
        "rpath-own-lc-rpath",
        {MEXT: "ext-rpath.so", f"{DYLIBS}/liby.dylib": "liby.dylib"},
        {(MEXT, "@rpath/liby.dylib"): (B, f"{DYLIBS}/liby.dylib", "LC_RPATH @loader_path/.dylibs")},
        MAC,
    ),
    Case(
        "rpath-without-lc-rpath-external",
        {MEXT: "ext-no-rpath.so", f"{DYLIBS}/liby.dylib": "liby.dylib"},
        {(MEXT, "@rpath/liby.dylib"): (E, None, f"a copy is at {DYLIBS}/liby.dylib")},
        MAC,
    ),
    Case(
        "rpath-through-loader-lc-rpath",
        {
            MEXT: "ext-mid.so",
            f"{DYLIBS}/libmid.dylib": "libmid.dylib",
            f"{DYLIBS}/libleaf.dylib": "libleaf.dylib",
        },
        {
            (MEXT, "@rpath/libmid.dylib"): (B, f"{DYLIBS}/libmid.dylib", "LC_RPATH @loader_path/.dylibs"),
            (f"{DYLIBS}/libmid.dylib", "@rpath/libleaf.dylib"): (
                B,
                f"{DYLIBS}/libleaf.dylib",
                f"LC_RPATH @loader_path/.dylibs of {MEXT}",
            ),
        },
        MAC,
    ),
    Case(  # dyld follows LC_RPATH up every loader, however it was found (bc9c794)
        "rpath-through-loader-chain-three-levels",
        {
            MEXT: "ext-top.so",
            f"{DYLIBS}/libtop.dylib": "libtop.dylib",
            f"{DYLIBS}/libmid.dylib": "libmid.dylib",
            f"{DYLIBS}/libleaf.dylib": "libleaf.dylib",
        },
        {
            (f"{DYLIBS}/libtop.dylib", "@rpath/libmid.dylib"): (
                B,
                f"{DYLIBS}/libmid.dylib",
                f"LC_RPATH @loader_path/.dylibs of {MEXT}",
            ),
            (f"{DYLIBS}/libmid.dylib", "@rpath/libleaf.dylib"): (
                B,
                f"{DYLIBS}/libleaf.dylib",
                f"LC_RPATH @loader_path/.dylibs of {MEXT}",
            ),
        },
        MAC,
    ),
    Case(
        "absolute-homebrew-external-system-lib",
        {MEXT: "ext-brew.so"},
        {
            (MEXT, "/opt/homebrew/lib/libfoo.dylib"): (E, None, "not found on the search path"),
            (MEXT, "/usr/lib/libSystem.B.dylib"): (S, None, "macOS system library"),
        },
        MAC,
    ),
]


@pytest.mark.parametrize("case", MACHO_CASES, ids=_ids)
def test_macho_resolution(case: Case, macho: dict[str, Path], tmp_path: Path) -> None:
    _check(_inspect(tmp_path, case, macho), case)


# --- PE -------------------------------------------------------------------------------------------

_DEFS = {
    "foo": ("foo.dll", "dep_value"),
    "FOO": ("FOO.DLL", "dep_value"),
    "python312": ("python312.dll", "py_value"),
    "vcruntime140": ("vcruntime140.dll", "vcrt_value"),
    "msvcp140": ("msvcp140.dll", "msvcp_value"),
    "missing": ("missing.dll", "missing_value"),
}


@pytest.fixture(scope="session")
def pe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """foo.dll (mingw gcc), and two extensions linked by clang + lld against llvm-dlltool import
    libraries: ``ext.pyd`` (foo.dll, python312.dll, vcruntime140.dll, msvcp140.dll, KERNEL32.dll,
    and missing.dll delay-loaded) and ``upper.pyd`` (only FOO.DLL, upper case)."""
    gcc = require("x86_64-w64-mingw32-gcc")
    clang = require("clang")
    require("ld.lld")
    dlltool = require("llvm-dlltool", "llvm-dlltool-14")
    out = tmp_path_factory.mktemp("loader-pe")
    run(gcc, "-shared", "-o", out / "foo.dll", SRC / "pe_dep.c")
    for stem, (dll, symbol) in _DEFS.items():
        (out / f"{stem}.def").write_text(f"LIBRARY {dll}\nEXPORTS\n    {symbol}\n")
        run(dlltool, "-m", "i386:x86-64", "-d", out / f"{stem}.def", "-l", out / f"lib{stem}.a")
    libgcc_dir = Path(run(gcc, "-print-libgcc-file-name").strip()).parent
    common = [clang, "--target=x86_64-w64-mingw32", "-fuse-ld=lld", "-shared", f"-L{out}", f"-L{libgcc_dir}"]
    run(
        *common, SRC / "pe_ext.c", "-lfoo", "-lpython312", "-lvcruntime140", "-lmsvcp140", "-lmissing",
        "-Wl,--delayload=missing.dll", "-o", out / "ext.pyd",
    )  # fmt: skip
    run(*common, "-DONLY_DEP", SRC / "pe_ext.c", "-lFOO", "-o", out / "upper.pyd")
    return {"foo.dll": out / "foo.dll", "ext.pyd": out / "ext.pyd", "upper.pyd": out / "upper.pyd"}


WIN = "mypkg-1.0-cp312-cp312-win_amd64.whl"
PYD = "mypkg/_ext.pyd"
_HOOK = b"import os\nos.add_dll_directory(os.path.join(os.path.dirname(__file__), os.pardir, 'mypkg.libs'))\n"
PE_CASES = [
    Case(
        "same-directory-and-system",
        {PYD: "ext.pyd", "mypkg/foo.dll": "foo.dll"},
        {
            (PYD, "foo.dll"): (B, "mypkg/foo.dll", "same directory"),
            (PYD, "KERNEL32.dll"): (S, None, "Windows system DLL"),
            (PYD, "python312.dll"): (S, None, "the Python DLL"),
            (PYD, "vcruntime140.dll"): (S, None, "ships with CPython"),
            (PYD, "msvcp140.dll"): (E, None, "not found on the search path"),
            ("mypkg/foo.dll", "KERNEL32.dll"): (S, None, "Windows system DLL"),
        },
        WIN,
    ),
    Case(
        "add-dll-directory-hook",
        {PYD: "ext.pyd", "mypkg.libs/foo.dll": "foo.dll"},
        {(PYD, "foo.dll"): (B, "mypkg.libs/foo.dll", "DLL directory mypkg.libs")},
        WIN,
        {"mypkg/__init__.py": _HOOK},
    ),
    Case(
        "libs-dir-without-hook-external",
        {PYD: "ext.pyd", "mypkg.libs/foo.dll": "foo.dll"},
        {(PYD, "foo.dll"): (E, None, "a copy is at mypkg.libs/foo.dll")},
        WIN,
        {"mypkg/__init__.py": b"from mypkg._ext import *  # no add_dll_directory\n"},
    ),
    Case(
        "case-insensitive-name",
        {PYD: "upper.pyd", "mypkg/foo.dll": "foo.dll"},
        {(PYD, "FOO.DLL"): (B, "mypkg/foo.dll", "same directory")},
        WIN,
    ),
    Case(
        "case-insensitive-copy-elsewhere",
        {PYD: "upper.pyd", "other/foo.dll": "foo.dll"},
        {(PYD, "FOO.DLL"): (E, None, "a copy is at other/foo.dll")},
        WIN,
    ),
]


@pytest.mark.parametrize("case", PE_CASES, ids=_ids)
def test_pe_resolution(case: Case, pe: dict[str, Path], tmp_path: Path) -> None:
    _check(_inspect(tmp_path, case, pe), case)


def test_pe_delay_loaded_missing_dll_is_lazy_external(pe: dict[str, Path], tmp_path: Path) -> None:
    case = Case("delay", {PYD: "ext.pyd", "mypkg/foo.dll": "foo.dll"}, {}, WIN)
    deps = _deps(_inspect(tmp_path, case, pe))
    missing = deps[(PYD, "missing.dll")]
    assert (missing.resolution, missing.lazy) == (E, True)
    assert [d.name for d in deps.values() if d.lazy] == ["missing.dll"]  # imports stay eager


def test_pe_external_libraries(pe: dict[str, Path], tmp_path: Path) -> None:
    case = Case("ext", {PYD: "ext.pyd", "mypkg/foo.dll": "foo.dll"}, {}, WIN)
    assert _inspect(tmp_path, case, pe).external_libraries == ("missing.dll", "msvcp140.dll")
