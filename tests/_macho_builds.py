"""Shared builder for synthetic Mach-O files: clang + ld64.lld without a macOS SDK.

There is no SDK on a Linux host, so everything links with ``-nostdlib`` against a stand-in
``/usr/lib/libSystem.B.dylib`` built from ``binary/macho_src/system.c``. arm64 outputs carry the
linker's ad-hoc signature (ld64.lld signs arm64 by default); x86_64 outputs are unsigned.
"""

from __future__ import annotations

from pathlib import Path

from _toolchain import require, run

__all__ = ["TARGETS", "MachOBuilder"]

SRC = Path(__file__).parent / "binary" / "macho_src"
#: arch -> (clang target, -platform_version value)
TARGETS = {
    "arm64": ("arm64-apple-macos11", "macos,11.0,12.3"),
    "x86_64": ("x86_64-apple-macos10.9", "macos,10.9,10.15"),
}


class MachOBuilder:
    """Links sources from ``macho_src/`` (or given paths) into ``out``; skips without the tools."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.clang = require("clang-14", "clang")
        self.ld = require("ld64.lld-14", "ld64.lld")
        self.lipo = require("llvm-lipo-14", "llvm-lipo")
        self.otool = require("llvm-otool-14", "llvm-otool")

    def link(
        self,
        name: str,
        source: str | Path,
        arch: str,
        *,
        mode: str = "-shared",
        install_name: str | None = None,
        libs: tuple[Path, ...] = (),
        weak: tuple[Path, ...] = (),
        rpaths: tuple[str, ...] = (),
        min_os: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> Path:
        """Link one Mach-O for ``arch``; ``min_os`` overrides the target's minimum macOS."""
        target, platform = TARGETS[arch]
        if min_os:
            platform = f"macos,{min_os},{min_os}"
        path = self.out / arch / name
        path.parent.mkdir(parents=True, exist_ok=True)
        args: list[str | Path] = [self.clang, "-target", target, "-fuse-ld=lld", f"--ld-path={self.ld}"]
        args += ["-mlinker-version=711", "-nostdlib", f"-Wl,-platform_version,{platform}", *mode.split()]
        if install_name:
            args.append(f"-Wl,-install_name,{install_name}")
        args += [f"-Wl,-rpath,{r}" for r in rpaths]
        args += [SRC / source if isinstance(source, str) else source, *libs]
        args += [f"-Wl,-weak_library,{w}" for w in weak]
        run(*args, *extra, "-o", path)
        return path

    def system(self, arch: str) -> Path:
        """The stand-in libSystem for ``arch``."""
        path = self.out / arch / "libSystem.B.dylib"
        if not path.exists():
            self.link("libSystem.B.dylib", "system.c", arch, install_name="/usr/lib/libSystem.B.dylib")
        return path

    def fat(self, name: str, *inputs: Path) -> Path:
        path = self.out / name
        run(self.lipo, "-create", *inputs, "-output", path)
        return path
