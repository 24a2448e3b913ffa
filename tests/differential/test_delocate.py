"""Differential test: the macOS repair against delocate 0.13.0's analysis (pinned).

delocate cannot repair on Linux (it runs ``install_name_tool`` and ``codesign``), but its analysis
(``delocate-listdeps``) runs with an ``otool`` stand-in over llvm-objdump (``otool_shim.py``).
On the clang + ld64.lld dylib graph: delocate would copy the same libraries, needed by the same
files; after our repair it finds nothing outside the wheel. Judged differences (install ids,
where the libraries are searched) are in docs/differences.md.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
import sys
from pathlib import Path

import pytest

from _macho_wheels import build_mac_wheel
from _toolchain import require
from native_doctor.cli import main

pytestmark = pytest.mark.toolchain
DELOCATE_VERSION = "0.13.0"
SHIM = Path(__file__).parent / "otool_shim.py"


def listdeps(wheel: Path, lib: Path | None, tmp_path: Path) -> dict[str, set[str]]:
    """``delocate-listdeps --all --depending``: library -> files that need it."""
    from importlib.metadata import version

    assert version("delocate") == DELOCATE_VERSION, "the oracle is pinned: see pyproject.toml"
    objdump = require("llvm-objdump-14", "llvm-objdump")
    bindir = tmp_path / "shim"
    bindir.mkdir(exist_ok=True)
    (bindir / "otool").write_text(f"#!{sys.executable}\n" + SHIM.read_text())
    (bindir / "otool").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "NATIVE_DOCTOR_OBJDUMP": objdump}
    env.pop("DYLD_LIBRARY_PATH", None)
    if lib is not None:
        env["DYLD_LIBRARY_PATH"] = str(lib)
    proc = subprocess.run(
        [sys.executable, "-m", "delocate.cmd.delocate_listdeps", "--all", "--depending", str(wheel)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    deps: dict[str, set[str]] = {}
    current = ""
    for line in proc.stdout.splitlines():
        if line and not line.startswith(" "):
            current = line.rstrip(":")
            deps[current] = set()
        elif line.strip():
            deps[current].add(line.strip())
    return deps


@pytest.mark.parametrize("arch", ["arm64", "x86_64", "universal2"])
def test_same_libraries_as_delocate(arch: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built = build_mac_wheel(tmp_path / "build", arch)
    theirs = listdeps(built.wheel, built.lib, tmp_path)
    copied = {
        posixpath.basename(k): {posixpath.basename(d) for d in v}
        for k, v in theirs.items()
        if k.startswith(str(built.lib))
    }
    assert (
        main(["repair", "--dry-run", "--format", "json", "--lib-path", str(built.lib), str(built.wheel)]) == 0
    )
    import json

    [ours] = json.loads(capsys.readouterr().out)["wheels"]
    grafted = {g["new_name"]: {posixpath.basename(n) for n in g["needed_by"]} for g in ours["grafts"]}
    assert grafted == copied
    assert set(theirs) - {k for k in theirs if k.startswith(str(built.lib))} == {"/usr/lib/libSystem.B.dylib"}


@pytest.mark.parametrize("arch", ["arm64", "universal2"])
def test_delocate_finds_nothing_outside_the_repaired_wheel(arch: str, tmp_path: Path) -> None:
    built = build_mac_wheel(tmp_path / "build", arch)
    out = tmp_path / "out"
    assert main(["repair", "-w", str(out), "--lib-path", str(built.lib), str(built.wheel)]) == 0
    [wheel] = out.iterdir()
    theirs = listdeps(wheel, None, tmp_path)
    outside = {k for k in theirs if not k.startswith("demo/") and k != "/usr/lib/libSystem.B.dylib"}
    assert outside == set(), theirs
    assert {"demo/.dylibs/libbar.dylib", "demo/.dylibs/libfoo.dylib", "demo/.dylibs/libweak.dylib"} <= set(
        theirs
    )
