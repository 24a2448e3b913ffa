"""End to end: gcc-built extensions needing non-policy libraries are repaired, installed into a fresh
venv where none of those libraries is on a search path, imported and called in a child process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from _repair_build import BuiltWheel, build_demo_wheel
from _toolchain import require, run
from native_doctor.cli import main

pytestmark = pytest.mark.toolchain


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltWheel:
    return build_demo_wheel(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def repaired(built: BuiltWheel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheelhouse")
    code = main(["repair", "-w", str(out), "--lib-path", str(built.libs), "--no-sys-paths", str(built.wheel)])
    assert code == 0
    (wheel,) = out.glob("*.whl")
    return wheel


def test_output_is_retagged_and_grafts_the_closure(repaired: Path) -> None:
    assert repaired.name == "demo-1.0-{0}-{0}-manylinux1_x86_64.manylinux_2_5_x86_64.whl".format(
        f"cp{sys.version_info.major}{sys.version_info.minor}"
    )
    names = zipfile.ZipFile(repaired).namelist()
    grafted = sorted(n.split("/")[1].split("-")[0] for n in names if n.startswith("demo.libs/"))
    # libbase comes only through libchain (a chain of two); libz stays: a policy library.
    assert grafted == ["libbase", "libchain", "libcxx", "libver", "libzuse"]
    wheel_text = zipfile.ZipFile(repaired).read("demo-1.0.dist-info/WHEEL").decode()
    assert "manylinux_2_5_x86_64" in wheel_text
    assert "linux_x86_64" not in wheel_text.replace("manylinux", "")


def test_readelf_sees_mangled_names_runpath_and_versions(repaired: Path, tmp_path: Path) -> None:
    readelf = require("readelf")
    with zipfile.ZipFile(repaired) as archive:
        archive.extractall(tmp_path)
    ext = next((tmp_path / "demo").glob("_ver*.so"))
    out = run(readelf, "-d", "-V", "-W", ext)
    assert "[$ORIGIN/../demo.libs]" in out
    needed = [line for line in out.splitlines() if "(NEEDED)" in line and "libver" in line]
    assert needed
    assert "-" in needed[0]
    assert "File: libver-" in out  # the verneed entry was renamed with its library
    chain = next((tmp_path / "demo").glob("_chain*.so"))
    assert "/libs" not in run(readelf, "-d", chain)  # the build-machine RUNPATH was dropped
    lib = next((tmp_path / "demo.libs").glob("libchain-*.so.2"))
    dyn = run(readelf, "-d", lib)
    assert "Library soname: [libchain-" in dyn
    assert "[$ORIGIN]" in dyn


def test_imports_in_a_fresh_venv_without_the_libraries(
    built: BuiltWheel, repaired: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run([*pip, "install", "-q", "--no-index", "--no-deps", str(repaired)], check=True)
    hidden = built.libs.with_name("libs-hidden")
    built.libs.rename(hidden)  # the build-machine folder disappears, as on a user's machine
    try:
        calls = "; ".join(f"import demo.{m} as m; print(m.call())" for m in built.expected)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_", "PYTHON"))}
        proc = subprocess.run(
            [str(python), "-c", calls], capture_output=True, text=True, env=env, cwd=venv, check=False
        )
    finally:
        hidden.rename(built.libs)
    assert proc.returncode == 0, proc.stderr
    assert [int(x) for x in proc.stdout.split()] == list(built.expected.values())


def test_the_unrepaired_wheel_does_not_import(built: BuiltWheel, tmp_path: Path) -> None:
    """The control: without the repair, the same venv test fails (so the test above proves something)."""
    venv = tmp_path / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    subprocess.run([*pip, "install", "-q", "--no-index", "--no-deps", str(built.wheel)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_", "PYTHON"))}
    proc = subprocess.run(
        [str(python), "-c", "import demo._ver"], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode != 0
    assert "libver.so.1" in proc.stderr
    shutil.rmtree(venv)
