"""The environment doctor's orchestration: facts it adds on top of the sources."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_libraries_loaded_by_name_are_resolved_on_this_host(tmp_path: Path) -> None:
    """find_library('c') resolves through the ld.so cache; a library nobody has does not, and the
    check names the search that failed."""
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("the ld.so cache model is Linux's")
    from native_doctor.checks.registry import run_environment_checks
    from native_doctor.doctor import examine

    site = tmp_path / "lib" / "python3.11" / "site-packages"
    dist_info = site / "demo-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (site / "demo").mkdir()
    (site / "demo" / "__init__.py").write_text(
        "import ctypes, ctypes.util\n"
        "libc = ctypes.CDLL(ctypes.util.find_library('c'))\n"
        "lib = ctypes.CDLL('libnative-doctor-no-such-library.so.7')\n"
    )
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    (dist_info / "INSTALLER").write_text("pip\n")
    (dist_info / "RECORD").write_text("demo/__init__.py,,\n")
    env = examine([site], use_cache=False)
    outcomes = {load.call.names: load.found for load in env.runtime_loads}
    assert outcomes[("c",)] is not None and outcomes[("c",)].startswith("libc.so")
    assert outcomes[("libnative-doctor-no-such-library.so.7",)] is None
    [finding] = [f for f in run_environment_checks(env) if f.code == "ND718"]
    assert "`import demo` fails" in finding.message and "dlopen searched LD_LIBRARY_PATH" in finding.message


def _examined(site: Path, cache: Path, jobs: int, monkeypatch: pytest.MonkeyPatch) -> tuple[object, ...]:
    from native_doctor.doctor import examine
    from native_doctor.sources.envresult import Inputs

    monkeypatch.setenv("NATIVE_DOCTOR_ENV_CACHE", str(cache))
    inputs = Inputs()
    inspection = examine([site], inputs=inputs, jobs=jobs)
    saved = [path.read_bytes() for path in sorted(cache.glob("*.json"))]
    return inspection, [(k, list(v.items())) for k, v in inputs.to_json().items()], saved


def test_jobs_examine_the_same_and_fill_the_caches_alike(
    tmp_path: Path, elf_pair: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading and marker scanning in several processes: the same inspection, the same inputs of
    the kept report in the same order, the same scan cache written byte for byte; cold and warm."""
    from _envsite import add_varied_distributions, install

    site = tmp_path / "site-packages"
    install(site, "app", {"demo/__init__.py": b"", "demo/_ext.so": elf_pair["_ext.so"]})
    umath = "numpyish/_multiarray_umath.cpython-311-x86_64-linux-gnu.so"
    install(site, "numpyish", {umath: elf_pair["_ext.so"]})
    add_varied_distributions(site, elf_pair)
    for run in ("cold", "warm"):
        serial = _examined(site, tmp_path / "one", 1, monkeypatch)
        assert _examined(site, tmp_path / "two", 2, monkeypatch) == serial, run


@pytest.mark.parametrize(
    ("init", "conditional"),
    [
        pytest.param(
            "try:\n    from . import _ext\nexcept ImportError:\n    _ext = None\n", True, id="try-except"
        ),
        pytest.param("def load():\n    from . import _ext\n    return _ext\n", True, id="in-a-function"),
        pytest.param(
            "try:\n    from . import _ext\nexcept ImportError as e:\n    raise ImportError('x') from e\n",
            False,
            id="handler-raises-again",
        ),
        pytest.param("from . import _ext\n", False, id="plain"),
    ],
)
def test_a_failing_extension_imported_only_conditionally_is_said_so(
    tmp_path: Path, elf_pair: dict[str, bytes], init: str, conditional: bool
) -> None:
    """The package's own Python files, read from disk, decide whether an extension whose import
    the loader simulation predicts to fail is imported only conditionally (issue 9 item 6)."""
    import os
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("the loader simulation of this host is Linux's")
    from _envsite import install
    from native_doctor.doctor import examine

    site = tmp_path / "lib" / "python3.11" / "site-packages"
    ext = "demo/_ext.cpython-311-x86_64-linux-gnu.so"  # needs libdep.so.1, which is not installed
    install(site, "demo", {ext: elf_pair["_ext.so"], "demo/__init__.py": init.encode()})
    env = examine([site], use_cache=False)
    assert (os.path.normpath(site / ext) in env.conditional_extensions) is conditional
