"""Tag analysis (``analysis.inspect_artifact``) on synthetic wheels built from source at test time.

The binaries come from ``tests/fixtures_src/`` (gcc and i686 cross gcc for ELF, clang + ld64.lld
and llvm-lipo for Mach-O, mingw-w64 gcc for PE); each case packs some of them into a wheel with
``make_wheel`` and checks the platform summary: ``qualifies_for``, ``archs``, ``libc``, and the
repair tool's traces.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest

from _toolchain import require, run
from _wheels import make_wheel
from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.model import Resolution, TargetOS
from native_doctor.sources.wheel import read_wheel

pytestmark = pytest.mark.toolchain

SRC = Path(__file__).resolve().parent / "fixtures_src"


# --- builds ---------------------------------------------------------------------------------------

#: glibc_version.c variant -> the newest GLIBC_x.y it needs (checked with readelf below).
GLIBC_NEEDS = {
    "none": None,
    "2_14": "GLIBC_2.14",
    "2_28": "GLIBC_2.28",
    "2_30": "GLIBC_2.30",
    "2_34": "GLIBC_2.34",
}


def _elf(out: Path) -> dict[str, Path]:
    gcc = require("gcc")
    done: dict[str, Path] = {}
    for variant in GLIBC_NEEDS:
        done[f"glibc-{variant}"] = out / f"libglibc-{variant}.so"
        run(
            gcc,
            "-shared",
            "-fPIC",
            f"-DNEED_{variant}",
            SRC / "glibc_version.c",
            "-o",
            done[f"glibc-{variant}"],
        )
    done["libleaf"] = out / "libleaf.so"
    run(
        gcc,
        "-shared",
        "-fPIC",
        "-DNAME=leaf_value",
        "-Wl,-soname,libleaf.so",
        SRC / "chain.c",
        "-o",
        done["libleaf"],
    )
    done["libfoo"] = out / "libfoo.so.1"
    run(
        gcc,
        "-shared",
        "-fPIC",
        "-DNAME=foo_value",
        "-Wl,-soname,libfoo.so.1",
        SRC / "chain.c",
        "-o",
        done["libfoo"],
    )
    for lib, soname in (("libleaf", "leaf"), ("libfoo", "foo")):
        done[f"ext-{soname}"] = out / f"ext-{soname}.so"
        run(
            gcc, "-shared", "-fPIC", "-DNAME=PyInit_ext", f"-DCALLEE={soname}_value", SRC / "chain.c",
            "-Wl,--disable-new-dtags", "-Wl,-rpath,$ORIGIN/../mypkg.libs", done[lib],
            "-o", done[f"ext-{soname}"],
        )  # fmt: skip
    # musl: a stand-in libc.musl-x86_64.so.1 and an extension linked only against it.
    done["musl-libc"] = out / "libc.musl-x86_64.so.1"
    run(
        gcc,
        "-shared",
        "-fPIC",
        "-nostdlib",
        "-Wl,-soname,libc.musl-x86_64.so.1",
        SRC / "musl_libc.c",
        "-o",
        done["musl-libc"],
    )
    done["musl-ext"] = out / "musl-ext.so"
    run(gcc, "-shared", "-fPIC", "-nostdlib", SRC / "musl_ext.c", done["musl-libc"], "-o", done["musl-ext"])
    return done


def _elf_i686(out: Path) -> dict[str, Path]:
    """The i686 cross build on its own: without that compiler only the cases that use it skip."""
    i686 = require("i686-linux-gnu-gcc")
    done = {"i686": out / "libi686.so"}
    run(i686, "-shared", "-fPIC", "-DNAME=leaf_value", SRC / "chain.c", "-o", done["i686"])
    return done


#: Mach-O leaf dylibs: name -> (clang target, -platform_version).
MACHO_THIN = {
    "x86_64-10.12": ("x86_64-apple-macos10.12", "macos,10.12,11.0"),
    "arm64-11.0": ("arm64-apple-macos11", "macos,11.0,12.0"),
    "arm64-12.0": ("arm64-apple-macos12", "macos,12.0,12.3"),
}
#: universal binaries: name -> thin inputs, made with llvm-lipo -create.
MACHO_FAT = {
    "universal2": ("x86_64-10.12", "arm64-11.0"),
    "universal2-arm64-12": ("x86_64-10.12", "arm64-12.0"),
}


def _macho(out: Path) -> dict[str, Path]:
    clang = require("clang-14", "clang")
    ld = require("ld64.lld-14", "ld64.lld")
    lipo = require("llvm-lipo-14", "llvm-lipo")
    done: dict[str, Path] = {}
    for name, (target, platform) in MACHO_THIN.items():
        done[name] = out / f"{name}.dylib"
        run(
            clang, "-target", target, "-fuse-ld=lld", f"--ld-path={ld}", "-mlinker-version=711", "-nostdlib",
            f"-Wl,-platform_version,{platform}", "-shared", "-Wl,-install_name,@rpath/libleaf.dylib",
            "-DNAME=leaf_value", SRC / "chain.c", "-o", done[name],
        )  # fmt: skip
    for name, inputs in MACHO_FAT.items():
        done[name] = out / f"{name}.dylib"
        run(lipo, "-create", *(done[i] for i in inputs), "-output", done[name])
    return done


#: Each Windows architecture builds with its own MinGW-w64 cross compiler (one missing skips only
#: the cases that need it).
PE_TRIPLES = {"x64": "x86_64-w64-mingw32", "x86": "i686-w64-mingw32"}


def _pe(arch: str, out: Path) -> dict[str, Path]:
    gcc = require(f"{PE_TRIPLES[arch]}-gcc")
    (out / arch).mkdir()
    dll = out / arch / "foo.dll"  # the name the extension imports
    implib = out / f"libfoo-{arch}.a"
    run(gcc, "-shared", "-o", dll, SRC / "pe_dep.c", f"-Wl,--out-implib,{implib}")
    pyd = out / f"ext-{arch}.pyd"
    run(gcc, "-shared", "-DONLY_DEP", "-o", pyd, SRC / "pe_ext.c", implib)
    return {f"dll-{arch}": dll, f"pyd-{arch}": pyd}


class _Lazy(dict[str, Path]):
    """Builds a platform's binaries the first time one of them is asked for."""

    _BUILDERS: ClassVar[dict[str, Callable[[Path], dict[str, Path]]]] = {
        "elf": _elf,
        "elf-i686": _elf_i686,
        "macho": _macho,
        "pe-x64": functools.partial(_pe, "x64"),
        "pe-x86": functools.partial(_pe, "x86"),
    }

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self._factory = factory

    def get_built(self, platform: str, name: str) -> Path:
        key = f"{platform}:{name}"
        if key not in self:
            for built_name, path in self._BUILDERS[platform](
                self._factory.mktemp(f"analysis-{platform}")
            ).items():
                self[f"{platform}:{built_name}"] = path
        return self[key]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> _Lazy:
    """Every binary, by ``builder:name`` (toolchains are required lazily: a case needs only its own
    builders, so one missing cross compiler skips only the cases of that architecture)."""
    return _Lazy(tmp_path_factory)


def test_glibc_fixtures_need_the_expected_versions(built: _Lazy) -> None:
    """readelf confirms each glibc_version.c variant needs the GLIBC version the table says."""
    readelf = require("readelf")
    for variant, newest in GLIBC_NEEDS.items():
        text = run(readelf, "-V", "--wide", built.get_built("elf", f"glibc-{variant}"))
        versions = set(re.findall(r"Name: (GLIBC_[0-9.]+)", text))
        numbered = sorted(versions, key=lambda v: tuple(int(p) for p in v[6:].split(".")))
        assert (numbered[-1] if numbered else None) == newest, (variant, versions)


# --- cases ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagCase:
    """A wheel of built binaries (member -> ``platform:name``) and its expected platform summary."""

    id: str
    filename: str
    members: Mapping[str, str]
    qualifies_for: tuple[str, ...]
    archs: tuple[str, ...]
    libc: str | None = None
    #: (tool, vendored) when the case checks the repair summary.
    repair: tuple[str | None, tuple[str, ...]] | None = None
    extra: Mapping[str, bytes] = field(default_factory=dict)


ML = "mypkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
MUSL11 = "mypkg-1.0-cp312-cp312-musllinux_1_1_x86_64.whl"
MUSL12 = "mypkg-1.0-cp312-cp312-musllinux_1_2_x86_64.whl"
MAC_U2 = "mypkg-1.0-cp312-cp312-macosx_10_12_universal2.whl"
MAC_ARM = "mypkg-1.0-cp312-cp312-macosx_11_0_arm64.whl"
WIN64 = "mypkg-1.0-cp312-cp312-win_amd64.whl"
WIN32 = "mypkg-1.0-cp312-cp312-win32.whl"

_HOOK = b"import os\nos.add_dll_directory(os.path.join(os.path.dirname(__file__), '..', 'mypkg.libs'))\n"

CASES = [
    # Linux: the newest GLIBC symbol version picks the policy.
    TagCase(
        "glibc-none",
        ML,
        {"mypkg/_a.so": "elf:glibc-none"},
        ("manylinux_2_5_x86_64", "manylinux1_x86_64"),
        ("x86_64",),
        "glibc",
    ),
    TagCase(
        "glibc-2.14",
        ML,
        {"mypkg/_a.so": "elf:glibc-2_14"},
        ("manylinux_2_17_x86_64", "manylinux2014_x86_64"),
        ("x86_64",),
        "glibc",
    ),
    TagCase(
        "glibc-2.28", ML, {"mypkg/_a.so": "elf:glibc-2_28"}, ("manylinux_2_28_x86_64",), ("x86_64",), "glibc"
    ),
    TagCase(
        "glibc-2.30", ML, {"mypkg/_a.so": "elf:glibc-2_30"}, ("manylinux_2_31_x86_64",), ("x86_64",), "glibc"
    ),
    TagCase(
        "glibc-2.34", ML, {"mypkg/_a.so": "elf:glibc-2_34"}, ("manylinux_2_34_x86_64",), ("x86_64",), "glibc"
    ),
    TagCase(
        "glibc-newest-binary-decides",
        ML,
        {"mypkg/_a.so": "elf:glibc-2_14", "mypkg/_b.so": "elf:glibc-2_30", "mypkg/_c.so": "elf:glibc-none"},
        ("manylinux_2_31_x86_64",),
        ("x86_64",),
        "glibc",
    ),
    TagCase(
        "glibc-bundled-lib-versions-count",
        ML,
        {
            "mypkg/ext.so": "elf:ext-leaf",
            "mypkg.libs/libleaf.so": "elf:libleaf",
            "mypkg.libs/libx.so": "elf:glibc-2_28",
        },
        ("manylinux_2_28_x86_64",),
        ("x86_64",),
        "glibc",
        repair=("auditwheel", ("mypkg.libs/libleaf.so", "mypkg.libs/libx.so")),
    ),
    TagCase(
        "external-lib-plain-linux",
        ML,
        {"mypkg/ext.so": "elf:ext-foo"},
        ("linux_x86_64",),
        ("x86_64",),
        "glibc",
        repair=(None, ()),
    ),
    TagCase(
        "mixed-x86_64-i686",
        ML,
        {"mypkg/_a.so": "elf:glibc-none", "mypkg/_b.so": "elf-i686:i686"},
        (),
        (),
        "glibc",
    ),
    # musl: no symbol versions, so never below the claimed musllinux version.
    TagCase(
        "musllinux-1.1-claimed",
        MUSL11,
        {"mypkg/ext.so": "elf:musl-ext"},
        ("musllinux_1_1_x86_64",),
        ("x86_64",),
        "musl",
    ),
    TagCase(
        "musllinux-1.2-claimed",
        MUSL12,
        {"mypkg/ext.so": "elf:musl-ext"},
        ("musllinux_1_2_x86_64",),
        ("x86_64",),
        "musl",
    ),
    # macOS
    TagCase(
        "universal2-10.12-11.0",
        MAC_U2,
        {"mypkg/libleaf.dylib": "macho:universal2"},
        ("macosx_10_12_universal2",),
        ("arm64", "x86_64"),
    ),
    TagCase(
        "universal2-arm64-slice-needs-12",
        MAC_U2,
        {"mypkg/libleaf.dylib": "macho:universal2-arm64-12"},
        ("macosx_12_0_universal2",),
        ("arm64", "x86_64"),
    ),
    TagCase(
        "arm64-12.0", MAC_ARM, {"mypkg/libleaf.dylib": "macho:arm64-12.0"}, ("macosx_12_0_arm64",), ("arm64",)
    ),
    TagCase(
        "arm64-11.0", MAC_ARM, {"mypkg/libleaf.dylib": "macho:arm64-11.0"}, ("macosx_11_0_arm64",), ("arm64",)
    ),
    TagCase(
        "universal2-wheel-with-thin-x86_64",
        MAC_U2,
        {"mypkg/libleaf.dylib": "macho:universal2", "mypkg/.dylibs/libthin.dylib": "macho:x86_64-10.12"},
        ("macosx_10_12_x86_64",),
        ("x86_64",),
        repair=("delocate", ("mypkg/.dylibs/libthin.dylib",)),
    ),
    # Windows
    TagCase(
        "win-amd64",
        WIN64,
        {"mypkg/_ext.pyd": "pe-x64:pyd-x64", "mypkg/foo.dll": "pe-x64:dll-x64"},
        ("win_amd64",),
        ("x86_64",),
        repair=(None, ()),
    ),
    TagCase(
        "win32",
        WIN32,
        {"mypkg/_ext.pyd": "pe-x86:pyd-x86", "mypkg/foo.dll": "pe-x86:dll-x86"},
        ("win32",),
        ("x86",),
    ),
    TagCase(
        "win-mixed-archs",
        WIN64,
        {"mypkg/_ext.pyd": "pe-x64:pyd-x64", "mypkg/foo.dll": "pe-x86:dll-x86"},
        (),
        (),
    ),
    TagCase(
        "win-delvewheel-layout",
        WIN64,
        {"mypkg/_ext.pyd": "pe-x64:pyd-x64", "mypkg.libs/foo.dll": "pe-x64:dll-x64"},
        ("win_amd64",),
        ("x86_64",),
        repair=("delvewheel", ("mypkg.libs/foo.dll",)),
        extra={"mypkg/__init__.py": _HOOK},
    ),
]


def _inspect(tmp_path: Path, case: TagCase, built: _Lazy) -> Inspection:
    members = {m: built.get_built(*ref.split(":", 1)).read_bytes() for m, ref in case.members.items()}
    members.update(case.extra)
    return inspect_artifact(read_wheel(make_wheel(tmp_path, case.filename, members)))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_platform_summary(case: TagCase, built: _Lazy, tmp_path: Path) -> None:
    inspection = _inspect(tmp_path, case, built)
    platform = inspection.platform
    assert platform.qualifies_for == case.qualifies_for
    assert platform.archs == case.archs
    assert platform.libc == case.libc
    if case.repair is not None:
        assert (inspection.repair.tool, inspection.repair.vendored) == case.repair


def test_glibc_external_library_is_listed_and_the_policy_libs_are_not(built: _Lazy, tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == "external-lib-plain-linux")
    inspection = _inspect(tmp_path, case, built)
    assert inspection.external_libraries == ("libfoo.so.1",)
    assert inspection.platform.os is TargetOS.LINUX


def test_musl_libc_is_system(built: _Lazy, tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == "musllinux-1.2-claimed")
    inspection = _inspect(tmp_path, case, built)
    (binary,) = inspection.binaries
    assert [(d.name, d.resolution) for d in binary.dependencies] == [
        ("libc.musl-x86_64.so.1", Resolution.SYSTEM)
    ]
    assert inspection.external_libraries == ()


def test_win_amd64_dependencies(built: _Lazy, tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == "win-delvewheel-layout")
    inspection = _inspect(tmp_path, case, built)
    assert inspection.artifact.dll_directories == ("mypkg.libs",)
    assert inspection.external_libraries == ()
    assert inspection.platform.os is TargetOS.WINDOWS
