"""Shared builder of small ELF programs and libraries for the writer tests (gcc and cross gcc).

One :class:`ElfSet` per target: ``libdep.so`` (SONAME ``libdep.so.1``), ``libversioned.so``
(symbol versions VERS_1.0/VERS_2.0) and ``app`` needing both, with a build-machine RUNPATH (or
RPATH with ``rpath=True``) and a DT_VERNEED entry for ``libversioned.so``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from _toolchain import require, run

__all__ = ["CROSS_COMPILERS", "ElfSet", "build_elf_set", "libc_name"]

SRC = Path(__file__).parent / "binary" / "elf_write_src"
VERSIONED_SRC = Path(__file__).parent / "binary" / "elf_src"

#: target -> (compiler, extra arguments, qemu-user program, sysroot): x86_64 with GNU ld, with lld
#: (no PT_GNU_PROPERTY: the program header table must grow) and with musl (musl's loader), i686 (32-bit LE),
#: s390x (64-bit BE), powerpc (32-bit BE) and aarch64 (64-bit LE, 64 KiB pages).
CROSS_COMPILERS: dict[str, tuple[str, tuple[str, ...], str | None, str | None]] = {
    "x86_64": ("gcc", (), None, None),
    "x86_64-lld": ("clang", ("-fuse-ld=lld",), None, None),
    "x86_64-musl": ("musl-gcc", (), None, None),
    "i686": ("i686-linux-gnu-gcc", (), "qemu-i386", "/usr/i686-linux-gnu"),
    "s390x": ("s390x-linux-gnu-gcc", (), "qemu-s390x", "/usr/s390x-linux-gnu"),
    "ppc": ("powerpc-linux-gnu-gcc", (), "qemu-ppc", "/usr/powerpc-linux-gnu"),
    "aarch64": ("aarch64-linux-gnu-gcc", (), "qemu-aarch64", "/usr/aarch64-linux-gnu"),
}
BUILD_RPATH = "/home/builder/project/build/lib:/opt/toolchain/lib"


def libc_name(target: str) -> str:
    """The DT_NEEDED name of the C library programs built for ``target`` need."""
    return "libc.so" if target.endswith("-musl") else "libc.so.6"


@dataclass(frozen=True)
class ElfSet:
    """The built files of one target."""

    target: str
    directory: Path

    @property
    def libdep(self) -> Path:
        return self.directory / "libdep.so.1"

    @property
    def libversioned(self) -> Path:
        return self.directory / "libversioned.so"

    @property
    def app(self) -> Path:
        return self.directory / "app"


def build_elf_set(root: Path, target: str, *, rpath: bool = False) -> ElfSet:
    """Build (once) the three files for ``target`` under ``root``; skips when the compiler is missing."""
    name, extra, _qemu, _sysroot = CROSS_COMPILERS[target]
    compiler = require(name)
    if "-fuse-ld=lld" in extra:
        require("ld.lld")
    out = root / f"{target}-{'rpath' if rpath else 'runpath'}"
    built = ElfSet(target, out)
    if built.app.exists():
        return built
    out.mkdir(parents=True, exist_ok=True)
    shared = (compiler, *extra, "-shared", "-fPIC")
    run(*shared, "-Wl,-soname,libdep.so.1", SRC / "dep.c", "-o", built.libdep)
    run(
        *shared,
        "-Wl,-soname,libversioned.so",
        f"-Wl,--version-script={VERSIONED_SRC / 'versioned.map'}",
        VERSIONED_SRC / "versioned.c",
        "-o",
        built.libversioned,
    )
    tags = "--disable-new-dtags" if rpath else "--enable-new-dtags"
    run(
        compiler,
        *extra,
        SRC / "app.c",
        built.libdep,
        built.libversioned,
        f"-Wl,{tags},-rpath,{BUILD_RPATH}",
        "-o",
        built.app.with_suffix(".tmp"),
    )
    built.app.with_suffix(".tmp").rename(built.app)
    return built
