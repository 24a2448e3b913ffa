"""The environment doctor's orchestration: facts it adds on top of the sources."""

from __future__ import annotations

from pathlib import Path

from native_doctor.doctor import _EXTENSION, _with_conda_meta
from native_doctor.sources.host import HostFacts


def test_conda_meta_packages_count_as_installed_by_conda(tmp_path: Path) -> None:
    meta = tmp_path / "conda-meta"
    meta.mkdir()
    for name in ("python-3.11.7-h1.json", "libstdcxx-ng-13.2.0-h2.json", "history"):
        (meta / name).write_text("{}")
    host = _with_conda_meta(HostFacts(prefix=str(tmp_path), installers={"pip": 3}))
    assert dict(host.installers) == {"pip": 3, "conda (conda-meta)": 2}
    assert _with_conda_meta(HostFacts(prefix=str(tmp_path / "none"))).installers == {}


def test_extension_modules_are_told_from_vendored_libraries() -> None:
    extensions = [
        "numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so",
        "pkg/sub/_ext.so",
        "_cffi_backend.cpython-311-x86_64-linux-gnu.so",
        "mod.abi3.so",
    ]
    libraries = ["numpy.libs/libscipy_openblas64_-32a4b2a6.so", "torch/lib/libtorch_cpu.so", "pkg/libfoo.so"]
    assert all(_EXTENSION.search(p) for p in extensions)
    assert not any(_EXTENSION.search(p) for p in libraries if not p.startswith("numpy.libs"))
