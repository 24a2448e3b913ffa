"""Shared builder of small PE DLLs for the PE writer tests (mingw-w64 gcc, clang + lld).

For each target: ``foo.dll``; ``user.dll`` importing foo.dll, KERNEL32.dll, msvcrt.dll and
USER32.dll (GNU ld); ``delay.dll`` with foo.dll and USER32.dll delay-loaded (lld).
"""

from __future__ import annotations

from pathlib import Path

from _toolchain import require, run

__all__ = ["PE_TARGETS", "build_pe_set"]

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
