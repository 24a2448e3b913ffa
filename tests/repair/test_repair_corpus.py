"""Real PyPI wheels: already-repaired manylinux wheels are a no-op (the output is the input, byte
for byte); a wheel whose ``<package>.libs`` was removed is repaired from ``--lib-path`` into a
wheel that installs and imports."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from _corpus import CorpusWheel, ensure, wheels
from _toolchain import in_ci
from native_doctor.cli import main

pytestmark = pytest.mark.corpus

_ALREADY_REPAIRED = (
    "numpy-2.4.6-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    "scipy-1.17.1-cp312-cp312-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl",
    "scipy-1.17.1-cp312-cp312-musllinux_1_2_x86_64.whl",
    "pillow-12.3.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
    # Windows wheels repaired by delvewheel (numpy, scipy: OpenBLAS/gfortran runtime in <dist>.libs,
    # found through their __init__ hook) or needing only system DLLs and vcruntime140.
    "numpy-2.4.6-cp312-cp312-win_amd64.whl",
    "numpy-2.4.6-cp312-cp312-win_arm64.whl",
    "scipy-1.17.1-cp313-cp313-win_amd64.whl",
    "h5py-3.16.0-cp312-cp312-win_amd64.whl",  # HDF5 DLLs shipped beside the extensions
    "cryptography-48.0.1-cp311-abi3-win32.whl",
    "pillow-12.3.0-cp312-cp312-win32.whl",
)
_PILLOW = "pillow-12.3.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"


def _entry(filename: str) -> CorpusWheel:
    (entry,) = [w for w in wheels() if w.filename == filename]
    return entry


@pytest.mark.parametrize("filename", _ALREADY_REPAIRED)
def test_repairing_a_repaired_wheel_is_a_no_op(filename: str, tmp_path: Path) -> None:
    source = ensure(_entry(filename))
    assert main(["repair", "-w", str(tmp_path), "--no-sys-paths", str(source)]) == 0
    assert (tmp_path / filename).read_bytes() == source.read_bytes()


def _strip_libs(source: Path, folder: Path) -> tuple[Path, Path]:
    """A copy of the wheel without ``pillow.libs/`` (its RECORD lines left, as a careless build
    would), and the folder the libraries went to."""
    libs = folder / "libs"
    libs.mkdir()
    stripped = folder / "in" / source.name
    stripped.parent.mkdir()
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(stripped, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.is_dir():
                continue
            if info.filename.startswith("pillow.libs/"):
                (libs / info.filename.split("/", 1)[1]).write_bytes(src.read(info))
            else:
                out.writestr(info, src.read(info))
    return stripped, libs


def test_wheel_without_its_libs_is_repaired_from_lib_path_and_imports(tmp_path: Path) -> None:
    stripped, libs = _strip_libs(ensure(_entry(_PILLOW)), tmp_path)
    out = tmp_path / "out"
    assert main(["repair", "-w", str(out), "--lib-path", str(libs), "--no-sys-paths", str(stripped)]) == 0
    (repaired,) = out.glob("*.whl")
    assert repaired.name == _PILLOW
    grafted = {n for n in zipfile.ZipFile(repaired).namelist() if n.startswith("pillow.libs/")}
    assert {f"pillow.libs/{p.name}" for p in libs.iterdir()} == grafted
    if sys.version_info[:2] != (3, 11):
        message = "the pinned pillow wheel is for CPython 3.11; the import needs that interpreter"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    venv = tmp_path / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index", "--no-deps"]
    subprocess.run([*pip, str(repaired)], check=True)
    code = (
        "import io; from PIL import Image, features; im = Image.new('RGB', (8, 8)); "
        "im.save(io.BytesIO(), 'JPEG'); im.save(io.BytesIO(), 'WEBP'); im.save(io.BytesIO(), 'TIFF'); "
        "print(features.check('freetype2'))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_", "PYTHON"))}
    proc = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, env=env, cwd=venv, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


_NUMPY_WIN = "numpy-2.4.6-cp312-cp312-win_amd64.whl"


def test_windows_wheel_without_its_libs_is_repaired_back(tmp_path: Path) -> None:
    """numpy's win_amd64 wheel with numpy.libs (OpenBLAS, msvcp140, named by delvewheel) and its
    DELVEWHEEL record removed: the DLLs handed back through --lib-path return under the same
    names and bytes, the extension modules need no edit, and numpy's own hook is kept."""
    source = ensure(_entry(_NUMPY_WIN))
    libs = tmp_path / "libs"
    libs.mkdir()
    stripped = tmp_path / "in" / source.name
    stripped.parent.mkdir()
    removed: dict[str, bytes] = {}
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(stripped, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.is_dir():
                continue
            data = src.read(info)
            if info.filename.startswith("numpy.libs/"):
                removed[info.filename] = data
                (libs / info.filename.split("/", 1)[1]).write_bytes(data)
            elif not info.filename.endswith("DELVEWHEEL"):
                out.writestr(info, data)
    assert len(removed) == 2
    assert (
        main(
            ["repair", "-w", str(tmp_path / "out"), "--lib-path", str(libs), "--no-sys-paths", str(stripped)]
        )
        == 0
    )
    with zipfile.ZipFile(tmp_path / "out" / source.name) as repaired, zipfile.ZipFile(source) as original:
        for member, data in removed.items():
            assert repaired.read(member) == data
        for info in original.infolist():
            if info.filename.endswith((".pyd", "__init__.py")) and not info.filename.startswith(
                "numpy.libs/"
            ):
                assert repaired.read(info.filename) == original.read(info.filename), info.filename
