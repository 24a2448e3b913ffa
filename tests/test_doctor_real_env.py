"""The environment doctor on a REAL virtual environment: numpy, scipy and scikit-learn from PyPI.

A session fixture builds ``<corpus cache>/venvs/<name>`` once (``python -m venv``, then ``pip
install`` of exact pins, binary wheels only) and reuses it while its marker file names the same
pins. Then:

* every extension the glibc loader simulation predicts to load really imports (``--runtime``
  child probes), for numpy, scipy and sklearn;
* the vendored libraries (``*.libs/``) a child really mapped when importing a package are a
  subset of what the simulation loaded for the distribution that installs it;
* the static picture holds the well-known duplicates: numpy and scipy each vendor an OpenBLAS
  and a libgfortran;
* ``ldd`` and ``libtree`` resolve the same files as the simulation for two extensions;
* ``native-doctor --python <venv python> --format json`` lists the three distributions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from _corpus import cache_dir, require_large
from _toolchain import require, unavailable
from native_doctor.checks.registry import run_environment_checks
from native_doctor.doctor import examine
from native_doctor.environment import EnvironmentInspection, ImportPrediction
from native_doctor.sources.runtime import parse_maps

pytestmark = pytest.mark.corpus

#: Exact pins with cp311 manylinux x86_64 wheels (scikit-learn's own dependencies pinned too).
PINS: tuple[str, ...] = (
    "numpy==2.4.6",
    "scipy==1.17.1",
    "scikit-learn==1.9.1",
    "joblib==1.6.0",
    "threadpoolctl==3.7.0",
    "narwhals==2.29.0",
    "cloudpickle==3.1.3",
)
VENV_NAME = "sci-cp311"
MARKER = ".native-doctor-venv.json"
#: Top-level packages whose import is compared with the simulation.
PACKAGES = {"numpy": "numpy", "scipy": "scipy", "sklearn": "scikit-learn"}


@dataclass(frozen=True)
class RealVenv:
    root: Path
    python: Path
    site_packages: Path
    #: Seconds the build took (0.0 when the cached venv was reused).
    build_seconds: float


def build_venv(name: str, pins: tuple[str, ...], *, base_python: str | None = None) -> RealVenv:
    """``<cache>/venvs/<name>`` with exactly ``pins`` installed; reused when its marker matches."""
    root = cache_dir() / "venvs" / name
    python = root / "bin" / "python"
    marker = root / MARKER
    wanted = {"pins": list(pins), "base": base_python or sys._base_executable}  # type: ignore[attr-defined]
    started = time.perf_counter()
    reused = False
    if marker.is_file() and python.exists():
        try:
            reused = json.loads(marker.read_text()) == wanted
        except ValueError:
            reused = False
    if not reused:
        shutil.rmtree(root, ignore_errors=True)
        root.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([wanted["base"], "-m", "venv", str(root)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
             "--only-binary=:all:", *pins],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        marker.write_text(json.dumps(wanted))
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    seconds = 0.0 if reused else time.perf_counter() - started
    return RealVenv(root, python, Path(purelib), seconds)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def venv() -> RealVenv:
    if not sys.platform.startswith("linux"):
        unavailable("the glibc loader simulation runs on Linux only")
    require_large("the real-environment venv (numpy, scipy, scikit-learn: about 65 MB of wheels from PyPI)")
    return build_venv(VENV_NAME, PINS)


@pytest.fixture(scope="session")
def examined(venv: RealVenv) -> EnvironmentInspection:
    return examine([venv.site_packages], python=str(venv.python), runtime=True)


def _prediction(environment: EnvironmentInspection, distribution: str) -> ImportPrediction:
    found = [p for p in environment.predictions if canonicalize_name(p.distribution) == distribution]
    assert len(found) == 1, f"no single prediction for {distribution}"
    return found[0]


def _real(paths: Iterable[str]) -> set[str]:
    return {os.path.realpath(p) for p in paths}


def _vendored(paths: Iterable[str]) -> set[str]:
    """Realpaths of the libraries under a ``*.libs/`` directory (what auditwheel vendored)."""
    return {p for p in _real(paths) if Path(p).parent.name.endswith(".libs")}


def _own(venv: RealVenv, distribution: str, paths: set[str]) -> set[str]:
    """The paths in the distribution's own ``<name>.libs/`` directory."""
    own_dir = Path(os.path.realpath(venv.site_packages / f"{distribution.replace('-', '_')}.libs"))
    return {p for p in paths if Path(p).parent == own_dir}


def _module_name(site_packages: Path, path: str) -> str:
    relative = Path(path).relative_to(site_packages)
    return ".".join((*relative.parent.parts, relative.name.split(".", 1)[0]))


#: Imports the given extension modules (each after its parent packages: importing a module that
#: its own package's ``__init__`` imports, out of order, can be a plain Python circular import),
#: then prints the failures and ``/proc/self/maps`` as JSON.
_IMPORT_ALL = r"""
import importlib, json, sys
failed = {}
for name in sys.argv[1:]:
    parts = name.split(".")
    try:
        for i in range(1, len(parts) + 1):
            importlib.import_module(".".join(parts[:i]))
    except BaseException as exc:
        failed[name] = "%s: %s" % (type(exc).__name__, exc)
with open("/proc/self/maps") as handle:
    maps = handle.read()
sys.stdout.write("\n" + json.dumps({"failed": failed, "maps": maps}) + "\n")
"""


@dataclass(frozen=True)
class ChildImport:
    failed: dict[str, str]
    mapped: tuple[str, ...]


@pytest.fixture(scope="session")
def all_extensions_imported(venv: RealVenv, examined: EnvironmentInspection) -> dict[str, ChildImport]:
    """Per distribution, one child importing every extension the simulation loaded: the real
    counterpart of the simulated process (the same extensions, in the same order)."""
    results = {}
    for distribution in PACKAGES.values():
        prediction = _prediction(examined, distribution)
        modules = [
            _module_name(venv.site_packages, r.requested) for r in prediction.report.extensions if r.ok
        ]
        done = subprocess.run(
            [str(venv.python), "-c", _IMPORT_ALL, *modules],
            check=False,
            capture_output=True,
            text=True,
            cwd="/",
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-4000:]
        data = json.loads(done.stdout.strip().splitlines()[-1])
        results[distribution] = ChildImport(data["failed"], parse_maps(data["maps"]))
    return results


# --------------------------------------------------------------------------- tests


def test_venv_builds_quickly(venv: RealVenv) -> None:
    """A fresh build (pip cache or local wheels) stays well inside the CI budget."""
    assert venv.build_seconds < 120, f"building the venv took {venv.build_seconds:.0f} s"
    assert (venv.site_packages / "numpy.libs").is_dir()


@pytest.mark.parametrize("distribution", sorted(PACKAGES.values()))
def test_predicted_extensions_really_import(
    examined: EnvironmentInspection,
    all_extensions_imported: dict[str, ChildImport],
    distribution: str,
) -> None:
    prediction = _prediction(examined, distribution)
    assert prediction.report.executable.ok, prediction.report.executable.error
    results = prediction.report.extensions
    assert len(results) == len(prediction.extensions) > 0
    # Nothing is broken in this environment: the simulation predicts every extension to load.
    assert [(r.requested, r.error) for r in results if not r.ok] == []
    # ... and every one of them is really loaded by ld.so (dlopen() succeeded: it is mapped)...
    child = all_extensions_imported[distribution]
    assert _real(prediction.extensions) <= _real(child.mapped)
    # ... and imports, except where Python, not the loader, refuses: scipy 1.17.1's
    # ``linalg._matfuncs_sqrtm_triu`` imports ``linalg._matfuncs_sqrtm``, which imports it back
    # (dead code since scipy.linalg stopped importing ``_matfuncs_sqrtm``), so importing it
    # first is a circular ImportError in any process; ``_matfuncs_sqrtm`` first works.
    python_level = {m: e for m, e in child.failed.items() if "partially initialized module" in e}
    assert child.failed == python_level
    assert set(python_level) <= {"scipy.linalg._matfuncs_sqrtm_triu"}
    # The --runtime probe of the top-level package agrees.
    module = next(m for m, d in PACKAGES.items() if d == distribution)
    probe = next(p for p in examined.runtime if p.module == module)
    assert probe.ok, (probe.error, probe.signal, probe.stderr)
    assert probe.signal is None


@pytest.mark.parametrize("module", sorted(PACKAGES))
def test_vendored_libraries_mapped_by_import_were_predicted(
    venv: RealVenv, examined: EnvironmentInspection, module: str
) -> None:
    """``import <package>`` maps a subset of what the simulation loaded for its distribution.

    The child imports one package, the simulation loads every extension of one distribution:
    the package's own vendored libraries must be among the simulation's. The package also
    imports other distributions at the Python level (scipy and sklearn import numpy, sklearn
    imports scipy), so libraries from other ``*.libs`` directories are compared with the union
    of all the distributions' simulations.
    """
    distribution = PACKAGES[module]
    probe = next(p for p in examined.runtime if p.module == module)
    assert probe.ok, probe.error
    mapped = _vendored(probe.loaded)
    own = _own(venv, distribution, mapped)
    simulated = _vendored(o.path for o in _prediction(examined, distribution).report.loaded)
    assert own <= simulated
    everything = _vendored(o.path for p in examined.predictions for o in p.report.loaded)
    assert mapped <= everything
    if module == "numpy":  # the one import that pulls in its OpenBLAS eagerly
        assert own == simulated and own


@pytest.mark.parametrize("distribution", sorted(PACKAGES.values()))
def test_process_of_all_extensions_matches_simulation(
    venv: RealVenv,
    examined: EnvironmentInspection,
    all_extensions_imported: dict[str, ChildImport],
    distribution: str,
) -> None:
    """Every extension of one distribution imported in one real process: its own vendored
    libraries are the simulation's, except copies whose soname another distribution's
    identical copy had already provided.

    Found on scipy 1.17.1: scipy's ``libscipy_openblas`` needs
    ``libgfortran-040039e1-0352e75f.so.5.0.0`` (and its libquadmath), which scipy.libs AND
    numpy.libs both carry (the same file, same soname). The simulated process loads scipy's
    extensions only, so it maps scipy.libs' copy; the real process ran ``import numpy`` first
    (scipy's ``__init__`` does), so ld.so finds that soname already loaded from numpy.libs and
    never maps scipy.libs' copy.
    """
    child = all_extensions_imported[distribution]
    mapped = _vendored(child.mapped)
    own = _own(venv, distribution, mapped)
    report = _prediction(examined, distribution).report
    simulated = {os.path.realpath(o.path): o.soname for o in report.loaded}
    simulated_vendored = _vendored(simulated)
    assert own <= simulated_vendored
    everything = _vendored(o.path for p in examined.predictions for o in p.report.loaded)
    assert mapped <= everything
    soname_of = {os.path.realpath(o.path): o.soname for p in examined.predictions for o in p.report.loaded}
    mapped_sonames = {soname_of[p] for p in mapped}
    unexplained = {p for p in simulated_vendored - own if simulated[p] not in mapped_sonames}
    assert unexplained == set()
    if distribution == "scipy":
        skipped = {Path(p).name for p in simulated_vendored - own}
        assert skipped == {
            "libgfortran-040039e1-0352e75f.so.5.0.0",
            "libquadmath-96973f99-934c22de.so.0.0.0",
        }


def _named(examined: EnvironmentInspection, stem: str) -> dict[str, list[str]]:
    """Distribution -> its vendored binaries (RECORD paths) whose file name starts with ``stem``."""
    found: dict[str, list[str]] = {}
    for inspection in examined.distributions:
        for binary in inspection.binaries:
            path = binary.native.install_path
            if ".libs/" in path and Path(path).name.startswith(stem):
                found.setdefault(str(canonicalize_name(inspection.artifact.name)), []).append(path)
    return found


def test_static_picture_shows_duplicate_runtimes(examined: EnvironmentInspection) -> None:
    openblas = _named(examined, "libscipy_openblas")
    gfortran = _named(examined, "libgfortran")
    # One OpenBLAS per distribution (numpy's ILP64 ``libscipy_openblas64_``, scipy's LP64).
    assert {d: len(v) for d, v in openblas.items()} == {"numpy": 1, "scipy": 1}
    # numpy vendors one libgfortran; scipy two: the one its OpenBLAS was built with (the same
    # file as numpy's) and the one its own Fortran code was built with.
    assert set(gfortran) == {"numpy", "scipy"}
    assert sum(len(v) for v in gfortran.values()) >= 2
    assert {d: len(v) for d, v in gfortran.items()} == {"numpy": 1, "scipy": 2}


def test_duplicate_runtime_check_fires(examined: EnvironmentInspection) -> None:
    findings = list(run_environment_checks(examined, {"ND704"}))
    assert findings, "ND704 did not fire on numpy + scipy (two OpenBLAS, two libgfortran)"
    text = " ".join(f"{f.message} {f.detail or ''}" for f in findings).lower()
    assert "openblas" in text or "gfortran" in text
    # Stock numpy and scipy wheels are built to coexist: information, no action.
    assert {f.severity.value for f in findings} == {"info"}
    # numpy's and scipy's identical libgfortran-040039e1 is one runtime, not two.
    assert not any(f.message.count("libgfortran-040039e1") > 1 for f in findings)


def _simulated_closure(examined: EnvironmentInspection, distribution: str, extension: str) -> set[str]:
    """Realpaths of everything ``extension`` needs, transitively, in the simulated process."""
    report = _prediction(examined, distribution).report
    resolutions = [r for load in (report.executable, *report.extensions) for r in load.resolutions]
    load = next(r for r in report.extensions if r.requested == extension)
    assert load.ok and load.object is not None
    seen: set[str] = set()
    todo = [load.object.path]
    while todo:
        requester = todo.pop()
        for r in resolutions:
            if r.requested_by == requester and r.path and r.path not in seen:
                seen.add(r.path)
                todo.append(r.path)
    return _real(seen)


def _ldd(path: str) -> set[str]:
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
    found = set()
    for line in out.splitlines():
        match = re.search(r"(/\S+) \(0x[0-9a-f]+\)", line)
        if match:
            found.add(match.group(1))
    assert "not found" not in out
    return _real(found)


def _libtree(path: str) -> set[str]:
    out = subprocess.run(["libtree", "-p", "-v", path], capture_output=True, text=True, check=True).stdout
    found = set()
    for line in out.splitlines()[1:]:  # the first line is the file itself
        match = re.search(r"(/\S+) \[", line)
        if match:
            found.add(match.group(1))
    return _real(found)


@pytest.mark.parametrize(
    ("distribution", "relative"),
    [
        ("numpy", "numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so"),
        ("scipy", "scipy/linalg/_fblas.cpython-311-x86_64-linux-gnu.so"),
    ],
)
def test_ldd_and_libtree_resolve_the_same_files(
    venv: RealVenv, examined: EnvironmentInspection, distribution: str, relative: str
) -> None:
    require("ldd")
    require("libtree")
    extension = str(venv.site_packages / relative)
    simulated = _simulated_closure(examined, distribution, extension)
    assert any("openblas" in p for p in simulated)
    assert _ldd(extension) == simulated
    assert _libtree(extension) == simulated


def test_cli_lists_the_distributions(venv: RealVenv) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "native_doctor", "--python", str(venv.python), "--format", "json"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr
    document = json.loads(done.stdout)
    names = {a["name"] for a in document["artifacts"]}
    assert {"numpy", "scipy", "scikit-learn"} <= names
    assert document["environment"]["site_packages"] == [str(venv.site_packages)]
    # A stock numpy + scipy + scikit-learn environment is healthy: no error, no warning.
    loud = [f"{f['code']}: {f['message'][:120]}" for f in document["findings"] if f["severity"] != "info"]
    assert loud == [] and done.returncode == 0


def test_jobs_give_the_same_report_on_a_real_environment(venv: RealVenv, tmp_path: Path) -> None:
    """Read by one process or by several (forked children, Linux): the same JSON report."""
    from native_doctor import cli

    reports = []
    for jobs in ("1", "2"):
        output = tmp_path / f"jobs-{jobs}.json"
        argv = ["--python", str(venv.python), "--format", "json", "--no-cache", "--jobs", jobs]
        reports.append((cli.main([*argv, "--output", str(output)]), output.read_bytes()))
    assert reports[0] == reports[1]
    assert b"scikit-learn" in reports[0][1]


if __name__ == "__main__":  # build (or check) the venv ahead of a test run
    venv = build_venv(VENV_NAME, PINS)
    print(f"{venv.root} ({venv.build_seconds:.1f} s)")


def test_host_facts_describe_the_examined_interpreter(
    venv: RealVenv, examined: EnvironmentInspection
) -> None:
    """``--python`` examines another interpreter: its executable and prefix, not the doctor's own."""
    assert examined.host.executable is not None
    assert Path(examined.host.executable).parent == venv.python.parent
    assert examined.host.prefix == str(venv.python.parent.parent)
    assert examined.host.environment_kind == "venv"


def test_fresh_venv_default_job_is_quiet(tmp_path_factory: pytest.TempPathFactory) -> None:
    """`native-doctor --format json` in a venv holding only native-doctor: no warning, no error,
    exit 0 (pip's and setuptools' Windows launchers are counted apart)."""
    root = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    repo = Path(__file__).resolve().parent.parent
    subprocess.run(
        [
            str(root / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            str(repo),
        ],
        check=True,
        timeout=600,
        capture_output=True,
    )
    done = subprocess.run(
        [str(root / "bin" / "native-doctor"), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=str(root),
    )
    document = json.loads(done.stdout)
    loud = [f"{f['code']}: {f['message'][:120]}" for f in document["findings"] if f["severity"] != "info"]
    assert loud == [] and done.returncode == 0, done.stderr
