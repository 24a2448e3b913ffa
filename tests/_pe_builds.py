"""Shared builders of PE DLLs for the PE writer and Windows repair tests (mingw-w64 gcc, clang + lld).

:func:`build_pe_set`, for each target: ``foo.dll``; ``user.dll`` importing foo.dll, KERNEL32.dll,
msvcrt.dll and USER32.dll (GNU ld); ``delay.dll`` with foo.dll and USER32.dll delay-loaded (lld).

:func:`build_pe_graph` (sources in ``fixtures_src/windows``): ``ext.pyd`` imports ``libchain.dll``
(which imports ``libbase.dll``) and ``libcxx.dll`` (C++, needing ``libstdc++-6.dll``,
``libgcc_s_seh-1.dll`` and ``libwinpthread-1.dll``) and delay-loads ``lazy.dll``; ``PyInit_ext``
returns :data:`EXPECTED`; ``loader.exe`` loads a module as CPython 3.8+ does, under Wine
(:func:`run_in_wine`).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from _toolchain import require, run

__all__ = [
    "EXPECTED",
    "PE_TARGETS",
    "PeGraph",
    "build_c_chain",
    "build_pe_graph",
    "build_pe_set",
    "mingw_runtime_dirs",
    "run_in_wine",
]

SRC = Path(__file__).parent / "binary" / "pe_src"

#: target -> (mingw triple, llvm-dlltool machine, USER32 .def file).
PE_TARGETS = {
    "x86_64": ("x86_64-w64-mingw32", "i386:x86-64", "user32_x64.def"),
    "x86": ("i686-w64-mingw32", "i386", "user32_x86.def"),
}


def build_pe_set(root: Path, target: str) -> Path:
    """Build (once) the three DLLs for ``target`` under ``root``; skips when a tool is missing."""
    triple, machine, user32_def = PE_TARGETS[target]
    gcc = require(f"{triple}-gcc")
    out = root / target
    if (out / "delay.dll").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    run(gcc, "-shared", "-o", out / "foo.dll", SRC / "foo.c", f"-Wl,--out-implib,{out / 'libfoo.dll.a'}")
    run(gcc, "-shared", "-o", out / "user.dll", SRC / "user.c", f"-L{out}", "-lfoo", "-luser32")
    clang = require("clang")
    require("ld.lld")
    dlltool = require("llvm-dlltool", "llvm-dlltool-14")
    libs = out / "delay-libs"  # short import libraries only: foo.dll must not come from libfoo.dll.a
    libs.mkdir(exist_ok=True)
    run(dlltool, "-m", machine, "-d", SRC / "foo.def", "-l", libs / "libfoo.a")
    run(dlltool, "-m", machine, "-d", SRC / user32_def, "-l", libs / "libuser32.a")
    libgcc_dir = Path(run(gcc, "-print-libgcc-file-name").strip()).parent
    run(
        clang, f"--target={triple}", "-fuse-ld=lld", "-shared", "-o", out / "delay.tmp", SRC / "user.c",
        f"-L{libs}", "-lfoo", "-luser32", f"-L{libgcc_dir}",
        "-Wl,--delayload=foo.dll", "-Wl,--delayload=USER32.dll",
    )  # fmt: skip
    (out / "delay.tmp").rename(out / "delay.dll")
    return out


WIN_SRC = Path(__file__).parent / "fixtures_src" / "windows"
TRIPLE = "x86_64-w64-mingw32"
#: chain_value() * 100 + cxx_len() + lazy_value() * 10
EXPECTED = 42 * 100 + 10 + 1000 * 10


@dataclass(frozen=True, slots=True)
class PeGraph:
    """Where the built files are: ``ext`` the extension, ``libs`` its DLLs, ``loader`` the program."""

    ext: Path
    libs: Path
    loader: Path


def mingw_runtime_dirs() -> list[Path]:
    """The folders holding mingw-w64's runtime DLLs (libstdc++-6.dll, libgcc_s_seh-1.dll,
    libwinpthread-1.dll)."""
    gcc = require(f"{TRIPLE}-gcc-posix", f"{TRIPLE}-gcc")
    libgcc = Path(run(gcc, "-print-libgcc-file-name").strip()).parent
    return [libgcc, Path(f"/usr/{TRIPLE}/lib")]


def build_pe_graph(out: Path) -> PeGraph:
    """Build the graph into ``out/libs`` (DLLs), ``out/ext.pyd`` and ``out/loader.exe``."""
    gcc = require(f"{TRIPLE}-gcc-posix", f"{TRIPLE}-gcc")
    gxx = require(f"{TRIPLE}-g++-posix")
    clang = require("clang")
    require("ld.lld")
    dlltool = require("llvm-dlltool")
    libs = out / "libs"
    implibs = out / "implib"
    libs.mkdir(parents=True)
    implibs.mkdir()
    run(
        gcc,
        "-shared",
        "-o",
        libs / "libbase.dll",
        WIN_SRC / "base.c",
        f"-Wl,--out-implib,{implibs / 'libbase.dll.a'}",
    )
    run(gcc, "-shared", "-o", libs / "libchain.dll", WIN_SRC / "chain.c", f"-L{implibs}", "-lbase")
    run(gxx, "-shared", "-O1", "-o", libs / "libcxx.dll", WIN_SRC / "cxx.cpp")
    run(gcc, "-shared", "-o", libs / "lazy.dll", WIN_SRC / "lazy.c")
    # lld's --delayload needs short-format import libraries: llvm-dlltool makes them from .def files.
    for name in ("chain", "cxx", "lazy"):
        run(dlltool, "-m", "i386:x86-64", "-d", WIN_SRC / f"{name}.def", "-l", implibs / f"lib{name}.a")
    libgcc = Path(run(gcc, "-print-libgcc-file-name").strip()).parent
    ext = out / "ext.pyd"
    run(
        clang, f"--target={TRIPLE}", "-fuse-ld=lld", "-shared", "-o", ext, WIN_SRC / "ext.c",
        f"-L{implibs}", "-lchain", "-lcxx", "-llazy", f"-L{libgcc}", "-Wl,--delayload=lazy.dll",
    )  # fmt: skip
    loader = out / "loader.exe"
    run(gcc, "-municode", "-static", "-o", loader, WIN_SRC / "loader.c")
    return PeGraph(ext, libs, loader)


_PREFIX: dict[str, Path] = {}


def run_in_wine(
    loader: Path, module: Path, entry: str, *dll_dirs: Path, preload: tuple[Path, ...] = (), prefix_root: Path
) -> str:
    """Run the loader program under Wine: add ``dll_dirs``, preload ``preload``, load ``module``,
    call ``entry``; its stdout (the entry point's value), or AssertionError with stderr. Host paths
    become Wine's ``Z:`` drive paths."""
    wine = require("wine64", "wine")
    prefix = _PREFIX.setdefault("prefix", prefix_root / "wineprefix")
    env = {
        **os.environ,
        "WINEDEBUG": "-all",
        "WINEPREFIX": str(prefix),
        "WINEDLLOVERRIDES": "mscoree,mshtml=",
    }
    env.pop("DISPLAY", None)

    def z(path: Path) -> str:
        return "Z:" + str(path.resolve()).replace("/", "\\")

    args = [wine, str(loader), z(module), entry, *(z(d) for d in dll_dirs), *("@" + z(p) for p in preload)]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"wine loader exit {proc.returncode}: {proc.stdout}{proc.stderr[-2000:]}")
    return proc.stdout.strip()


def build_c_chain(out: Path, target: str) -> Path:
    """``libs/libbase.dll`` <- ``libs/libchain.dll`` <- ``ext.pyd`` for ``"x86"`` (mingw-w64 gcc)
    or ``"arm64"`` (clang + lld, no CRT: no arm64 mingw runtime here); returns ``out``."""
    libs = out / "libs"
    implibs = out / "implib"
    libs.mkdir(parents=True)
    implibs.mkdir()
    if target == "x86":
        gcc = require("i686-w64-mingw32-gcc")
        run(
            gcc,
            "-shared",
            "-o",
            libs / "libbase.dll",
            WIN_SRC / "base.c",
            f"-Wl,--out-implib,{implibs / 'libbase.a'}",
        )
        run(gcc, "-shared", "-o", libs / "libchain.dll", WIN_SRC / "chain.c", f"-L{implibs}", "-lbase",
            f"-Wl,--out-implib,{implibs / 'libchain.a'}")  # fmt: skip
        run(gcc, "-shared", "-o", out / "ext.pyd", WIN_SRC / "ext_c.c", f"-L{implibs}", "-lchain")
        return out
    clang = require("clang")
    require("ld.lld")
    dlltool = require("llvm-dlltool")
    for name in ("base", "chain"):
        run(dlltool, "-m", "arm64", "-d", WIN_SRC / f"{name}.def", "-l", implibs / f"lib{name}.a")
    bare = [clang, "--target=aarch64-w64-mingw32", "-fuse-ld=lld", "-nostdlib", "-shared",
            "-Wl,--entry=DllMainCRTStartup", WIN_SRC / "dllmain.c"]  # fmt: skip
    run(*bare, "-o", libs / "libbase.dll", WIN_SRC / "base.c")
    run(*bare, "-o", libs / "libchain.dll", WIN_SRC / "chain.c", implibs / "libbase.a")
    run(*bare, "-o", out / "ext.pyd", WIN_SRC / "ext_c.c", implibs / "libchain.a")
    return out
