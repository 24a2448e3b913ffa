"""Shared builders for the PE writer and Windows repair tests: a DLL graph built with mingw-w64
(and clang + lld for delay-loading), the loader program, and a Wine runner.

The graph (sources in ``fixtures_src/windows``): ``ext.pyd`` imports ``libchain.dll`` (which imports
``libbase.dll``) and ``libcxx.dll`` (C++, needing ``libstdc++-6.dll``, ``libgcc_s_seh-1.dll`` and
``libwinpthread-1.dll``) and delay-loads ``lazy.dll``; ``PyInit_ext`` returns :data:`EXPECTED`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from _toolchain import require, run

__all__ = ["EXPECTED", "PeGraph", "build_pe_graph", "mingw_runtime_dirs", "run_in_wine"]

SRC = Path(__file__).parent / "fixtures_src" / "windows"
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
        SRC / "base.c",
        f"-Wl,--out-implib,{implibs / 'libbase.dll.a'}",
    )
    run(gcc, "-shared", "-o", libs / "libchain.dll", SRC / "chain.c", f"-L{implibs}", "-lbase")
    run(gxx, "-shared", "-O1", "-o", libs / "libcxx.dll", SRC / "cxx.cpp")
    run(gcc, "-shared", "-o", libs / "lazy.dll", SRC / "lazy.c")
    # lld's --delayload needs short-format import libraries: llvm-dlltool makes them from .def files.
    for name in ("chain", "cxx", "lazy"):
        run(dlltool, "-m", "i386:x86-64", "-d", SRC / f"{name}.def", "-l", implibs / f"lib{name}.a")
    libgcc = Path(run(gcc, "-print-libgcc-file-name").strip()).parent
    ext = out / "ext.pyd"
    run(
        clang, f"--target={TRIPLE}", "-fuse-ld=lld", "-shared", "-o", ext, SRC / "ext.c",
        f"-L{implibs}", "-lchain", "-lcxx", "-llazy", f"-L{libgcc}", "-Wl,--delayload=lazy.dll",
    )  # fmt: skip
    loader = out / "loader.exe"
    run(gcc, "-municode", "-static", "-o", loader, SRC / "loader.c")
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


def copy_tree(src: Path, dst: Path) -> Path:
    """A copy of ``src`` at ``dst`` (for a test that must not change a shared build)."""
    shutil.copytree(src, dst)
    return dst
