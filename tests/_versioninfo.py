"""Build a VERSIONINFO resource (``tests/binary/pe_src/version.rc``) with mingw-w64 windres."""

from __future__ import annotations

from pathlib import Path

from _toolchain import require, run

__all__ = ["version_resource"]

RC = Path(__file__).resolve().parent / "binary" / "pe_src" / "version.rc"


def version_resource(out: Path, minor: int, build: int, *, res: bool = False) -> Path:
    """``version.rc`` for FileVersion 14.<minor>.<build>.0: a COFF object for GNU ld, or
    (``res``) a .res file, which lld-link takes as an input."""
    windres = require("x86_64-w64-mingw32-windres")
    target = out / f"version-{minor}-{build}.{'res' if res else 'o'}"
    defines = (f"-DV_MINOR={minor}", f"-DV_BUILD={build}")
    run(windres, *defines, "-O", "res" if res else "coff", "-i", RC, "-o", target)
    return target
