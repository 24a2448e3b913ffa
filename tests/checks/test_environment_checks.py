"""Environment checks ND701-ND711: synthetic environments that trigger each check, clean ones that
do not, and the edge cases that decide between the two."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import pytest

from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.checks import environment as envchecks
from native_doctor.checks.registry import Finding, Severity, Status, all_checks, get, run_environment_checks
from native_doctor.environment import EnvironmentInspection, ImportPrediction, RuntimeLoad
from native_doctor.model import Artifact, ArtifactKind, NativeFile
from native_doctor.platforms.loader import FileIndex
from native_doctor.platforms.process_linux import (
    LoadedObject,
    LoadResult,
    ProcessReport,
    Resolution,
    VersionFailure,
)
from native_doctor.sources.env import DiskState
from native_doctor.sources.host import CpuInfo, HostFacts
from native_doctor.sources.loadnames import LoadCall
from native_doctor.sources.markers import BinaryMarkers

SITE = "/env/lib/python3.11/site-packages"
PYTHON = "/env/bin/python3.11"
NOT_FOUND = "cannot open shared object file: No such file or directory"
V3_FLAGS = frozenset(
    [
        "fpu",
        "cmov",
        "cx8",
        "fxsr",
        "mmx",
        "sse",
        "sse2",
        "cx16",
        "lahf_lm",
        "popcnt",
        "pni",
        "ssse3",
        "sse4_1",
        "sse4_2",
        "avx",
        "avx2",
        "bmi1",
        "bmi2",
        "f16c",
        "fma",
        "abm",
        "movbe",
        "xsave",
    ]
)
V1_FLAGS = frozenset(["fpu", "cmov", "cx8", "fxsr", "mmx", "sse", "sse2"])


# --------------------------------------------------------------------------- builders


def _elf(
    needed: tuple[str, ...] = (),
    *,
    soname: str | None = None,
    rpath: tuple[str, ...] = (),
    runpath: tuple[str, ...] = (),
    versions: Mapping[str, tuple[str, ...]] | None = None,
    defines: tuple[str, ...] = (),
    isa: int | None = None,
) -> BinaryInfo:
    return BinaryInfo(
        BinaryFormat.ELF,
        "x86_64",
        64,
        "little",
        FileKind.SHARED_LIBRARY,
        needed=needed,
        soname=soname,
        rpath=rpath,
        runpath=runpath,
        symbol_versions=MappingProxyType(dict(versions or {})),
        version_definitions=defines,
        x86_isa_level=isa,
    )


def _file(path: str, info: BinaryInfo | None = None, size: int = 1000) -> NativeFile:
    return NativeFile(path, path, size, None, info if info is not None else _elf(("libc.so.6",)))


def _dist(
    name: str,
    version: str,
    *files: NativeFile,
    platform: str = "manylinux_2_17_x86_64",
    extra: Sequence[str] = (),
    requires: tuple[str, ...] = (),
) -> Inspection:
    artifact = Artifact(
        kind=ArtifactKind.DISTRIBUTION,
        path=f"{SITE}/{name.replace('-', '_')}-{version}.dist-info",
        name=name,
        version=version,
        claimed_tags=(f"cp311-cp311-{platform}",),
        files=(*(f.install_path for f in files), *extra),
        native=files,
        requires_dist=requires,
        installer="pip",
    )
    return inspect_artifact(artifact)


def _abs(path: str) -> str:
    return f"{SITE}/{path}"


def _host(**changes: object) -> HostFacts:
    defaults: dict[str, object] = {
        "os_name": "Linux",
        "machine": "x86_64",
        "libc_name": "glibc",
        "libc_version": "2.36",
        "cpu": CpuInfo("GenuineIntel", "test", V3_FLAGS),
        "x86_64_level": 3,
        "executable": PYTHON,
        "prefix": "/env",
        "environment_kind": "venv",
    }
    defaults.update(changes)
    return HostFacts(**defaults)  # type: ignore[arg-type]


def _env(
    *distributions: Inspection,
    versions: Mapping[str, str] | None = None,
    top_levels: Mapping[str, tuple[str, ...]] | None = None,
    predictions: tuple[ImportPrediction, ...] = (),
    markers: Mapping[str, BinaryMarkers] | None = None,
    host: HostFacts | None = None,
) -> EnvironmentInspection:
    # As the doctor does: every distribution resolves against the files of the whole site-packages.
    index = FileIndex([n for d in distributions for n in d.artifact.native])
    distributions = tuple(inspect_artifact(d.artifact, index=index) for d in distributions)
    known = {d.artifact.name: d.artifact.version for d in distributions}
    known.update(versions or {})
    return EnvironmentInspection(
        host=host or _host(),
        site_packages=(SITE,),
        distributions=distributions,
        versions=MappingProxyType(known),
        top_levels=MappingProxyType(dict(top_levels or {})),
        predictions=predictions,
        markers=MappingProxyType(dict(markers or {})),
    )


def _exe(*resolutions: Resolution) -> LoadResult:
    info = _elf(("libc.so.6",), rpath=("$ORIGIN/../lib",))
    obj = LoadedObject(PYTHON, None, info, None, "executable")
    top = Resolution(PYTHON, "", PYTHON, "executable")
    return LoadResult(PYTHON, obj, (top, *resolutions), (), (PYTHON,), None)


def _load(
    extension: str,
    *resolutions: Resolution,
    failures: tuple[VersionFailure, ...] = (),
    error: str | None = None,
) -> LoadResult:
    top = Resolution(extension, PYTHON, extension, "path")
    if error is None and failures:
        error = failures[0].message
    if error is None:
        error = next((r.error for r in resolutions if r.error), None)
    obj = None if error else LoadedObject(extension, None, _elf(), PYTHON, "path")
    return LoadResult(extension, obj, (top, *resolutions), failures, (), error)


def _prediction(
    inspection: Inspection, loads: Sequence[LoadResult], start: LoadResult | None = None
) -> ImportPrediction:
    report = ProcessReport(start or _exe(), tuple(loads), ())
    return ImportPrediction(
        inspection.artifact.name, inspection.artifact.path, tuple(r.requested for r in loads), report
    )


def _findings(code: str, env: EnvironmentInspection) -> list[Finding]:
    check = get(code)
    assert check is not None and check.environment_function is not None
    return list(check.environment_function(env))


# --------------------------------------------------------------------------- ND701

EXT = "demo/_ext.cpython-311-x86_64-linux-gnu.so"


def _missing(name: str = "libfoo.so.1", *others: Inspection) -> EnvironmentInspection:
    demo = _dist("demo", "1.0", _file(EXT, _elf((name, "libc.so.6"))))
    failed = Resolution(
        name, _abs(EXT), None, "not found", ("/usr/lib/x86_64-linux-gnu", "/lib64"), f"{name}: {NOT_FOUND}"
    )
    return _env(demo, *others, predictions=(_prediction(demo, [_load(_abs(EXT), failed)]),))


def test_nd701_a_vendored_hash_named_library_is_fixed_by_reinstalling_the_distribution() -> None:
    name = "libjpeg-6dc8d115.so.62.4.0"
    demo = _dist("pillow", "11.0", _file(EXT, _elf((name,))))
    missing = Resolution(name, _abs(EXT), None, "not found", ("/x",), f"{name}: {NOT_FOUND}")
    env = _env(demo, predictions=(_prediction(demo, [_load(_abs(EXT), missing)]),))
    state = DiskState("pillow", "11.0", demo.artifact.path, missing=(f"pillow.libs/{name}",))
    [finding] = _findings("ND701", dataclasses.replace(env, installed=(state,)))
    assert "pip install --force-reinstall --no-deps pillow" in finding.message
    assert "apt-file" not in finding.message


def test_nd701_an_extension_imported_only_conditionally_is_info() -> None:
    """numba's tbbpool needs libtbb.so.12, which nobody installs; numba imports it in a function."""
    env = _missing("libtbb.so.12")
    env = dataclasses.replace(env, conditional_extensions=frozenset({_abs(EXT)}))
    [finding] = _findings("ND701", env)
    assert finding.severity is Severity.INFO and "only conditionally" in finding.message


def _loads_fine() -> EnvironmentInspection:
    demo = _dist("demo", "1.0", _file(EXT, _elf(("libfoo.so.1",))))
    found = Resolution("libfoo.so.1", _abs(EXT), "/usr/lib/x86_64-linux-gnu/libfoo.so.1", "ld.so cache")
    return _env(demo, predictions=(_prediction(demo, [_load(_abs(EXT), found)]),))


def test_nd701_names_distribution_extension_library_requester_and_searched_dirs() -> None:
    [finding] = _findings("ND701", _missing())
    assert finding.artifact == f"{SITE}/demo-1.0.dist-info"
    assert finding.member == EXT and finding.detail == "libfoo.so.1"
    assert f"libfoo.so.1: {NOT_FOUND}" in finding.message
    assert "needed by demo/_ext.cpython-311-x86_64-linux-gnu.so (demo)" in finding.message
    assert "/usr/lib/x86_64-linux-gnu, /lib64" in finding.message
    assert "apt-file search libfoo.so.1" in finding.message


def test_nd701_suggests_the_distribution_that_provides_the_library() -> None:
    [finding] = _findings("ND701", _missing("libcudart.so.12"))
    assert "pip install nvidia-cuda-runtime-cu12" in finding.message


def test_nd701_points_at_an_installed_copy_off_the_search_path() -> None:
    other = _dist("foo-libs", "2.0", _file("foo_libs/lib/libfoo.so.1", _elf(soname="libfoo.so.1")))
    [finding] = _findings("ND701", _missing("libfoo.so.1", other))
    assert "A copy is installed at foo_libs/lib/libfoo.so.1 (foo-libs 2.0)" in finding.message


def test_nd701_groups_extensions_that_miss_the_same_library() -> None:
    second = "demo/_two.cpython-311-x86_64-linux-gnu.so"
    demo = _dist("demo", "1.0", _file(EXT), _file(second))
    loads = [
        _load(_abs(p), Resolution("libfoo.so.1", _abs(p), None, "not found", (), f"libfoo.so.1: {NOT_FOUND}"))
        for p in (EXT, second)
    ]
    [finding] = _findings("ND701", _env(demo, predictions=(_prediction(demo, loads),)))
    assert "(and 1 more extension module(s))" in finding.message


# --------------------------------------------------------------------------- ND702

CONDA_STDCXX = "/env/bin/../lib/libstdc++.so.6"


def _old_libstdcxx(
    how: str = f"RPATH of {PYTHON}", *others: Inspection, host: HostFacts | None = None
) -> EnvironmentInspection:
    demo = _dist(
        "demo", "1.0", _file(EXT, _elf(("libstdc++.so.6",), versions={"libstdc++.so.6": ("GLIBCXX_3.4.30",)}))
    )
    start = _exe(Resolution("libstdc++.so.6", PYTHON, CONDA_STDCXX, how))
    failure = VersionFailure("GLIBCXX_3.4.30", "libstdc++.so.6", CONDA_STDCXX, _abs(EXT))
    reuse = Resolution("libstdc++.so.6", _abs(EXT), CONDA_STDCXX, "already loaded")
    load = _load(_abs(EXT), reuse, failures=(failure,))
    return _env(demo, *others, predictions=(_prediction(demo, [load], start),), host=host)


def _versions_fine() -> EnvironmentInspection:
    demo = _dist("demo", "1.0", _file(EXT))
    ok = Resolution("libstdc++.so.6", _abs(EXT), "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "ld.so cache")
    return _env(demo, predictions=(_prediction(demo, [_load(_abs(EXT), ok)]),))


def test_nd702_names_the_winning_copy_and_the_interpreter_rpath() -> None:
    [finding] = _findings("ND702", _old_libstdcxx(host=_host(environment_kind="conda")))
    assert finding.detail == "GLIBCXX_3.4.30" and finding.member == EXT
    assert f"{CONDA_STDCXX}: version `GLIBCXX_3.4.30' not found (required by {EXT} (demo))" in finding.message
    assert "interpreter's RPATH" in finding.message
    assert "at interpreter start-up" in finding.message
    assert "conda install -c conda-forge 'libstdcxx>=12'" in finding.message


def test_nd702_ld_library_path_winner_is_named_with_its_directory() -> None:
    [finding] = _findings("ND702", _old_libstdcxx("LD_LIBRARY_PATH"))
    assert "found first through LD_LIBRARY_PATH (in /env/bin/../lib)" in finding.message
    assert "remove /env/bin/../lib from LD_LIBRARY_PATH" in finding.message
    assert "GCC >= 12" in finding.message


def test_nd702_one_finding_per_shadowing_copy_naming_every_failing_distribution() -> None:
    """An LD_LIBRARY_PATH entry with an old libstdc++ breaks many distributions: one cause, one finding."""
    old = "/opt/old/lib/libstdc++.so.6"
    start = _exe(Resolution("libstdc++.so.6", PYTHON, old, "LD_LIBRARY_PATH"))
    dists, predictions = [], []
    for number, name in enumerate(("alpha", "beta", "gamma")):
        ext = f"{name}/_ext.cpython-311-x86_64-linux-gnu.so"
        dist = _dist(name, "1.0", _file(ext))
        failures = tuple(
            VersionFailure(v, "libstdc++.so.6", old, _abs(ext))
            for v in ("GLIBCXX_3.4.29", f"GLIBCXX_3.4.{30 + number}")
        )
        dists.append(dist)
        predictions.append(_prediction(dist, [_load(_abs(ext), failures=failures)], start))
    [finding] = _findings("ND702", _env(*dists, predictions=tuple(predictions)))
    assert "importing alpha, beta, gamma (3 distributions) will fail" in finding.message
    assert "it lacks GLIBCXX_3.4.29, GLIBCXX_3.4.30, GLIBCXX_3.4.31, GLIBCXX_3.4.32" in finding.message
    assert finding.detail == "GLIBCXX_3.4.32" and finding.artifact == SITE
    assert "remove /opt/old/lib from LD_LIBRARY_PATH" in finding.message


def test_nd702_points_at_an_installed_copy_that_defines_the_version() -> None:
    newer = _file(
        "libstdcxx_wheel/lib/libstdc++.so.6",
        _elf(soname="libstdc++.so.6", defines=("GLIBCXX_3.4.29", "GLIBCXX_3.4.30")),
    )
    [finding] = _findings("ND702", _old_libstdcxx("LD_LIBRARY_PATH", _dist("libstdcxx-wheel", "12.0", newer)))
    assert (
        "An installed copy that defines GLIBCXX_3.4.30: libstdcxx_wheel/lib/libstdc++.so.6" in finding.message
    )


def test_nd702_glibc_versions_get_the_manylinux_fix() -> None:
    demo = _dist("demo", "1.0", _file(EXT))
    failure = VersionFailure("GLIBC_2.38", "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", _abs(EXT))
    start = _exe(Resolution("libc.so.6", PYTHON, "/lib/x86_64-linux-gnu/libc.so.6", "ld.so cache"))
    env = _env(demo, predictions=(_prediction(demo, [_load(_abs(EXT), failures=(failure,))], start),))
    [finding] = _findings("ND702", env)
    assert "the system copy, found through the ld.so cache" in finding.message
    assert "this host's glibc is 2.36" in finding.message


@pytest.mark.parametrize(
    ("version", "gcc"),
    [("GLIBCXX_3.4.30", "12"), ("GLIBCXX_3.4.32", "13.2"), ("GLIBCXX_3.4.99", None), ("GLIBC_2.34", None)],
)
def test_gcc_for_glibcxx(version: str, gcc: str | None) -> None:
    assert envchecks.gcc_for_glibcxx(version) == gcc


# --------------------------------------------------------------------------- ND703

TORCH_EXT = "torch/_C.cpython-311-x86_64-linux-gnu.so"
CUSPARSE = "nvidia/cusparse/lib/libcusparse.so.12"
NVJITLINK = "nvidia/nvjitlink/lib/libnvJitLink.so.12"
SYSTEM_NVJITLINK = "/usr/local/cuda-12.1/lib64/libnvJitLink.so.12"


def _cuda_env(nvjitlink_from: str, how: str) -> EnvironmentInspection:
    torch = _dist(
        "torch",
        "2.4.0",
        _file(TORCH_EXT, _elf(("libcusparse.so.12",), rpath=("$ORIGIN/../nvidia/cusparse/lib",))),
    )
    cusparse = _dist(
        "nvidia-cusparse-cu12",
        "12.3.1.170",
        _file(
            CUSPARSE,
            _elf(
                ("libnvJitLink.so.12",), soname="libcusparse.so.12", runpath=("$ORIGIN/../../nvjitlink/lib",)
            ),
        ),
    )
    nvjitlink = _dist(
        "nvidia-nvjitlink-cu12", "12.4.127", _file(NVJITLINK, _elf(soname="libnvJitLink.so.12"))
    )
    load = _load(
        _abs(TORCH_EXT),
        Resolution("libcusparse.so.12", _abs(TORCH_EXT), _abs(CUSPARSE), f"RPATH of {_abs(TORCH_EXT)}"),
        Resolution("libnvJitLink.so.12", _abs(CUSPARSE), nvjitlink_from, how),
    )
    return _env(torch, cusparse, nvjitlink, predictions=(_prediction(torch, [load]),))


def test_nd703_system_cuda_on_ld_library_path_shadows_the_nvjitlink_wheel() -> None:
    [finding] = _findings("ND703", _cuda_env(SYSTEM_NVJITLINK, "LD_LIBRARY_PATH"))
    assert finding.artifact == f"{SITE}/torch-2.4.0.dist-info"
    assert finding.member == CUSPARSE and finding.detail == "libnvJitLink.so.12"
    assert "LD_LIBRARY_PATH (/usr/local/cuda-12.1/lib64)" in finding.message
    assert f"{NVJITLINK} (nvidia-nvjitlink-cu12 12.4.127)" in finding.message
    assert "remove /usr/local/cuda-12.1/lib64 from LD_LIBRARY_PATH" in finding.message


def test_nd703_ld_preload_counts_too() -> None:
    env = _cuda_env(SYSTEM_NVJITLINK, "already loaded")
    start = _exe(Resolution(SYSTEM_NVJITLINK, PYTHON, SYSTEM_NVJITLINK, "LD_PRELOAD"))
    [prediction] = env.predictions
    moved = ImportPrediction(
        prediction.distribution,
        prediction.dist_info,
        prediction.extensions,
        ProcessReport(start, prediction.report.extensions, ()),
    )
    env = _env(*env.distributions, predictions=(moved,))
    [finding] = _findings("ND703", env)
    assert f"drop {SYSTEM_NVJITLINK} from LD_PRELOAD" in finding.message


def test_nd703_quiet_when_ld_library_path_points_at_the_bundled_file_itself() -> None:
    assert _findings("ND703", _cuda_env(_abs(NVJITLINK), "LD_LIBRARY_PATH")) == []


def test_nd703_quiet_when_nothing_installed_ships_the_library() -> None:
    demo = _dist("demo", "1.0", _file(EXT, _elf(("libz.so.1",), runpath=("$ORIGIN",))))
    load = _load(_abs(EXT), Resolution("libz.so.1", _abs(EXT), "/opt/lib/libz.so.1", "LD_LIBRARY_PATH"))
    assert _findings("ND703", _env(demo, predictions=(_prediction(demo, [load]),))) == []


# --------------------------------------------------------------------------- ND704


def _openmp_env(*pairs: tuple[str, str, str]) -> EnvironmentInspection:
    """(distribution, path, soname) per runtime copy."""
    dists: dict[str, list[NativeFile]] = {}
    for name, path, soname in pairs:
        dists.setdefault(name, []).append(_file(path, _elf(soname=soname), size=1_234_567))
    return _env(*(_dist(name, "1.0", *files) for name, files in dists.items()))


TORCH_GOMP = ("torch", "torch/lib/libgomp-a34b3233.so.1", "libgomp-a34b3233.so.1")
SKLEARN_GOMP = ("scikit-learn", "scikit_learn.libs/libgomp-e985bcbb.so.1.0.0", "libgomp-e985bcbb.so.1.0.0")


def test_nd704_two_libgomp_copies_in_two_distributions_are_info() -> None:
    [finding] = _findings("ND704", _openmp_env(TORCH_GOMP, SKLEARN_GOMP))
    assert finding.artifact == SITE
    assert finding.severity is Severity.INFO
    assert finding.detail == "OpenMP runtime: libgomp"
    assert (
        "scikit_learn.libs/libgomp-e985bcbb.so.1.0.0 (libgomp, 1,234,567 bytes, scikit-learn)"
        in finding.message
    )
    assert "no action is needed" in finding.message and "fork()" in finding.message


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(
            ("torch", "torch/lib/libomp.so", "libomp.so"),
            ("intel-openmp", "intel_openmp/lib/libiomp5.so", "libiomp5.so"),
            id="llvm+intel",
        ),
        pytest.param(
            TORCH_GOMP, ("intel-openmp", "intel_openmp/lib/libiomp5.so", "libiomp5.so"), id="gnu+intel"
        ),
        pytest.param(SKLEARN_GOMP, ("lightgbm", "lightgbm/lib/libomp.so", "libomp.so"), id="gnu+llvm"),
    ],
)
def test_nd704_two_openmp_implementations_are_a_warning_naming_the_pair(
    first: tuple[str, str, str], second: tuple[str, str, str]
) -> None:
    [finding] = _findings("ND704", _openmp_env(first, second))
    assert finding.severity is Severity.WARNING
    assert "OMP: Error #15" in finding.message
    assert f"{first[1]} (" in finding.message and f"{second[1]} (" in finding.message


def test_nd704_identical_copies_count_once() -> None:
    """numpy and scipy both vendor libgfortran-040039e1 (same content): one runtime, no finding."""
    same = "libgfortran-040039e1-0352e75f.so.5.0.0"
    env = _openmp_env(("numpy", f"numpy.libs/{same}", same), ("scipy", f"scipy.libs/{same}", same))
    assert _findings("ND704", env) == []


def test_nd704_counts_the_system_copy_the_loader_maps() -> None:
    """lightgbm links the system libgomp.so.1; scikit-learn vendors its own: two builds, info."""
    lightgbm = _dist("lightgbm", "4.0", _file("lightgbm/lib/lib_lightgbm.so", _elf(("libgomp.so.1",))))
    sklearn = _dist("scikit-learn", "1.0", _file(SKLEARN_GOMP[1], _elf(soname=SKLEARN_GOMP[2])))
    system = LoadedObject(
        "/usr/lib/x86_64-linux-gnu/libgomp.so.1",
        "libgomp.so.1",
        _elf(soname="libgomp.so.1"),
        None,
        "ld.so cache",
    )
    prediction = _prediction(lightgbm, [_load(_abs("lightgbm/lib/lib_lightgbm.so"))])
    prediction = dataclasses.replace(
        prediction, report=dataclasses.replace(prediction.report, loaded=(system,))
    )
    env = _env(lightgbm, sklearn, predictions=(prediction,))
    [finding] = _findings("ND704", env)
    assert finding.severity is Severity.INFO
    assert (
        "/usr/lib/x86_64-linux-gnu/libgomp.so.1 (libgomp, the system copy the loader maps)" in finding.message
    )


def test_nd704_numpy_and_scipy_openblas_copies() -> None:
    env = _openmp_env(
        ("numpy", "numpy.libs/libscipy_openblas64_-32a4b2a6.so", "libscipy_openblas64_-32a4b2a6.so"),
        ("scipy", "scipy.libs/libscipy_openblas-6cdc3b4a.so", "libscipy_openblas-6cdc3b4a.so"),
        ("scipy", "scipy.libs/libgfortran-8f1e9814.so.5.0.0", "libgfortran-8f1e9814.so.5.0.0"),
        (
            "numpy",
            "numpy.libs/libgfortran-040039e1-0352e75f.so.5.0.0",
            "libgfortran-040039e1-0352e75f.so.5.0.0",
        ),
    )
    findings = {f.detail: f for f in _findings("ND704", env)}
    assert set(findings) == {"BLAS/LAPACK library: scipy-openblas", "Fortran runtime: libgfortran"}
    assert "thread pool" in findings["BLAS/LAPACK library: scipy-openblas"].message
    assert {f.severity for f in findings.values()} == {Severity.INFO}


def test_nd704_quiet_for_copies_inside_one_distribution() -> None:
    env = _openmp_env(
        ("demo", "demo/lib/libgomp.so.1", "libgomp.so.1"), ("demo", "demo/lib/libomp.so", "libomp.so")
    )
    assert _findings("ND704", env) == []


# --------------------------------------------------------------------------- ND705 / ND706


def _needs_glibc_234(
    platform: str = "manylinux_2_17_x86_64", host: HostFacts | None = None
) -> EnvironmentInspection:
    info = _elf(("libc.so.6",), versions={"libc.so.6": ("GLIBC_2.2.5", "GLIBC_2.34")})
    return _env(_dist("vllm", "0.9.0", _file("vllm/_C.abi3.so", info), platform=platform), host=host)


def test_nd705_claimed_tag_older_than_the_binaries_need() -> None:
    [finding] = _findings("ND705", _needs_glibc_234())
    assert finding.member == "vllm/_C.abi3.so" and finding.detail == "manylinux_2_17_x86_64"
    assert "needs manylinux_2_34_x86_64" in finding.message or "need manylinux_2_34_x86_64" in finding.message
    assert "GLIBC_2.34" in finding.message
    assert "works on this host (glibc 2.36)" in finding.message


def test_nd705_says_when_this_host_is_too_old() -> None:
    [finding] = _findings("ND705", _needs_glibc_234(host=_host(libc_version="2.31")))
    assert "this host's glibc 2.31 is older" in finding.message


def test_nd706_linux_tag_is_a_local_build() -> None:
    info = _elf(("libpq.so.5", "libc.so.6"))
    env = _env(
        _dist(
            "psycopg2",
            "2.9.9",
            _file("psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so", info),
            platform="linux_x86_64",
        )
    )
    [finding] = _findings("ND706", env)
    assert finding.detail == "linux_x86_64" and finding.severity is Severity.INFO
    assert "libpq.so.5" in finding.message and "libc.so.6" not in finding.message
    assert "pip install --only-binary :all: psycopg2==2.9.9" in finding.message


# --------------------------------------------------------------------------- ND707

CV2 = ("cv2/__init__.py", "cv2/version.py")


def _opencv(headless_too: bool = True) -> EnvironmentInspection:
    ext = _file("cv2/cv2.abi3.so")
    dists = [_dist("opencv-python", "4.10.0.84", ext, extra=CV2)]
    tops = {"opencv-python": ("cv2",)}
    if headless_too:
        dists.append(_dist("opencv-python-headless", "4.10.0.84", ext, extra=CV2))
        tops["opencv-python-headless"] = ("cv2",)
    return _env(*dists, top_levels=tops)


def test_nd707_opencv_flavours_overwrite_each_other() -> None:
    [finding] = _findings("ND707", _opencv())
    assert finding.detail == "cv2"
    assert "opencv-python 4.10.0.84 and opencv-python-headless 4.10.0.84" in finding.message
    assert "2 file(s) installed by both" in finding.message  # cv2.abi3.so, version.py (not __init__.py)
    assert "pip uninstall -y opencv-python opencv-python-headless" in finding.message


def test_nd707_namespace_init_only_is_not_a_clash() -> None:
    cublas = _dist(
        "nvidia-cublas-cu12",
        "12.4",
        _file("nvidia/cublas/lib/libcublas.so.12"),
        extra=("nvidia/__init__.py",),
    )
    cudnn = _dist(
        "nvidia-cudnn-cu12", "9.1", _file("nvidia/cudnn/lib/libcudnn.so.9"), extra=("nvidia/__init__.py",)
    )
    env = _env(
        cublas, cudnn, top_levels={"nvidia-cublas-cu12": ("nvidia",), "nvidia-cudnn-cu12": ("nvidia",)}
    )
    assert _findings("ND707", env) == []


def test_nd707_two_cuda_flavours_of_one_library() -> None:
    files = ("nvidia/cublas/__init__.py", "nvidia/cublas/include/cublas.h")
    cu11 = _dist("nvidia-cublas-cu11", "11.11", _file("nvidia/cublas/lib/libcublas.so.11"), extra=files)
    cu12 = _dist("nvidia-cublas-cu12", "12.4", _file("nvidia/cublas/lib/libcublas.so.12"), extra=files)
    env = _env(cu11, cu12, top_levels={"nvidia-cublas-cu11": ("nvidia",), "nvidia-cublas-cu12": ("nvidia",)})
    [finding] = _findings("ND707", env)
    assert "nvidia/cublas/include/cublas.h" in finding.message


def test_nd707_pure_python_flavours_by_name() -> None:
    env = _env(
        versions={"psycopg2": "2.9.9", "psycopg2-binary": "2.9.9", "protobuf": "5.0", "google-auth": "2.0"},
        top_levels={
            "psycopg2": ("psycopg2",),
            "psycopg2-binary": ("psycopg2",),
            "protobuf": ("google",),
            "google-auth": ("google",),
        },
    )
    [finding] = _findings("ND707", env)
    assert finding.detail == "psycopg2" and "flavours of one project" in finding.message


# --------------------------------------------------------------------------- ND708

SKLEARN_TREE = "sklearn/tree/_tree.cpython-311-x86_64-linux-gnu.so"


def _numpy_env(
    numpy: str, markers: BinaryMarkers, requires: tuple[str, ...] = ("numpy>=1.17.3",)
) -> EnvironmentInspection:
    sklearn = _dist("scikit-learn", "1.3.2", _file(SKLEARN_TREE), requires=requires)
    return _env(sklearn, versions={"numpy": numpy}, markers={_abs(SKLEARN_TREE): markers})


def test_nd708_a_conditional_extension_for_a_newer_numpy_is_info() -> None:
    """h5py ships _npystrings built for NumPy 2 and imports it only under NumPy >= 2."""
    strings, conv = (
        "h5py/_npystrings.cpython-311-x86_64-linux-gnu.so",
        "h5py/_conv.cpython-311-x86_64-linux-gnu.so",
    )
    h5py = _dist("h5py", "3.16.0", _file(strings), _file(conv))
    markers = {
        _abs(strings): BinaryMarkers(numpy_abi="2.x", numpy_target="2.0"),
        _abs(conv): BinaryMarkers(numpy_abi="2.x", numpy_target="1.21"),
    }
    [finding] = _findings("ND708", _env(h5py, versions={"numpy": "1.26.4"}, markers=markers))
    assert finding.severity is Severity.INFO and "conditional" in finding.message
    assert finding.member == strings


def test_nd708_quotes_the_requirement_whose_markers_match() -> None:
    requires = (
        "numpy<1.25; python_version < '3.0'",
        "numpy>=1.19.5; python_version >= '3.9'",
        "numpy[extra]>=1; extra == 'test'",
    )
    [finding] = _findings("ND708", _numpy_env("2.0.2", BinaryMarkers(numpy_abi="1.x"), requires))
    assert "'numpy>=1.19.5; python_version >= '3.9''" in finding.message
    assert "numpy<1.25" not in finding.message


def test_nd708_numpy_1x_module_under_numpy_2() -> None:
    [finding] = _findings("ND708", _numpy_env("2.0.2", BinaryMarkers(numpy_abi="1.x")))
    assert finding.member == SKLEARN_TREE and finding.detail == "NumPy 1.x"
    assert "A module that was compiled using NumPy 1.x cannot be run in NumPy 2.0.2" in finding.message
    assert "numpy>=1.17.3" in finding.message and "pip install -U scikit-learn" in finding.message


def test_nd708_target_newer_than_installed_numpy() -> None:
    [finding] = _findings("ND708", _numpy_env("2.0.2", BinaryMarkers(numpy_abi="2.x", numpy_target="2.1")))
    assert finding.detail == "NumPy 2.1" and "pip install 'numpy>=2.1'" in finding.message


@pytest.mark.parametrize(
    ("installed", "target"),
    [("1.23.5", "1.24"), ("1.26.4", "1.23"), ("2.2.0", "2.1"), ("2.0.2", "1.25")],
    ids=["same-c-api-level", "older-target", "newer-numpy", "numpy2-headers-old-target"],
)
def test_nd708_quiet_when_the_target_is_met(installed: str, target: str) -> None:
    assert (
        _findings("ND708", _numpy_env(installed, BinaryMarkers(numpy_abi="2.x", numpy_target=target))) == []
    )


def test_nd708_quiet_without_numpy_installed() -> None:
    sklearn = _dist("scikit-learn", "1.3.2", _file(SKLEARN_TREE))
    assert (
        _findings("ND708", _env(sklearn, markers={_abs(SKLEARN_TREE): BinaryMarkers(numpy_abi="1.x")})) == []
    )


# --------------------------------------------------------------------------- ND709


def test_nd709_mixed_cuda_majors_by_name() -> None:
    env = _env(
        versions={"nvidia-cublas-cu11": "11.11.3.6", "nvidia-cublas-cu12": "12.4.5.8", "torch": "2.4.0+cu121"}
    )
    [finding] = _findings("ND709", env)
    assert finding.detail == "CUDA 11, CUDA 12"
    assert "CUDA 11: nvidia-cublas-cu11 11.11.3.6" in finding.message
    assert "uninstall nvidia-cublas-cu11" in finding.message
    assert "torch 2.4.0+cu121" in finding.message


def test_nd709_binary_needing_another_cuda_major() -> None:
    tf = _dist("tensorflow", "2.12.0", _file("tensorflow/libtf.so", _elf(("libcudart.so.11.0",))))
    env = _env(tf, versions={"nvidia-cuda-runtime-cu12": "12.4.127"})
    [finding] = _findings("ND709", env)
    assert "tensorflow (tensorflow/libtf.so uses libcudart.so.11.0)" in finding.message


def test_nd709_runtime_major_newer_than_the_driver() -> None:
    env = _env(versions={"torch": "2.4.0+cu121"}, host=_host(nvidia_driver="470.82.01"))
    [finding] = _findings("ND709", env)
    assert finding.severity is Severity.ERROR and finding.detail == "CUDA 12.1"
    assert "CUDA driver version is insufficient for CUDA runtime version" in finding.message
    assert "supports at most CUDA 11.4" in finding.message


def test_nd709_runtime_minor_newer_than_the_driver_is_a_warning() -> None:
    env = _env(versions={"nvidia-cuda-runtime-cu12": "12.4.127"}, host=_host(nvidia_driver="525.60.13"))
    [finding] = _findings("ND709", env)
    assert finding.severity is Severity.WARNING and "minor-version compatibility" in finding.message


def test_nd709_quiet_for_a_driver_beyond_the_known_table() -> None:
    env = _env(versions={"nvidia-cuda-runtime": "13.1.0"}, host=_host(nvidia_driver="590.10"))
    assert _findings("ND709", env) == []


# --------------------------------------------------------------------------- ND710

MULTIARRAY = "numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so"


def _numpy_baseline(
    level: int, flags: frozenset[str], baseline: tuple[str, ...] = ("X86_V2",)
) -> EnvironmentInspection:
    numpy = _dist("numpy", "2.4.6", _file(MULTIARRAY))
    return _env(
        numpy,
        markers={_abs(MULTIARRAY): BinaryMarkers(numpy_baseline=baseline, has_numpy_cpu_lists=True)},
        host=_host(x86_64_level=level, cpu=CpuInfo("GenuineIntel", "old", flags)),
    )


def test_nd710_numpy_x86_v2_baseline_on_a_v1_cpu() -> None:
    [finding] = _findings("ND710", _numpy_baseline(1, V1_FLAGS))
    assert finding.member == MULTIARRAY and finding.detail == "X86_V2"
    assert (
        "NumPy was built with baseline optimizations: (X86_V2) but your machine doesn't support"
        in finding.message
    )
    assert "this CPU lacks cx16, lahf_lm, popcnt" in finding.message


def test_nd710_gnu_property_note_above_the_host_level() -> None:
    demo = _dist("demo", "1.0", _file(EXT, _elf(isa=3)))
    [finding] = _findings("ND710", _env(demo, host=_host(x86_64_level=2)))
    assert finding.detail == "x86-64-v3" and "CPU ISA level is lower than required" in finding.message


def test_nd710_quiet_without_a_known_host_level() -> None:
    demo = _dist("demo", "1.0", _file(EXT, _elf(isa=4)))
    assert _findings("ND710", _env(demo, host=_host(x86_64_level=None))) == []


def test_nd710_older_numpy_feature_lists_map_to_levels() -> None:
    env = _numpy_baseline(
        2,
        V3_FLAGS,
        ("SSE", "SSE2", "SSE3", "SSSE3", "SSE41", "POPCNT", "SSE42", "AVX", "F16C", "FMA3", "AVX2"),
    )
    [finding] = _findings("ND710", env)
    assert "x86-64-v3" in finding.message


# --------------------------------------------------------------------------- ND711


def test_nd711_set_variable_mentions_threadpoolctl_and_kmp_runtimes() -> None:
    torch = _dist("torch", "2.4.0", _file("torch/lib/libiomp5.so", _elf(soname="libiomp5.so")))
    env = _env(
        torch, versions={"threadpoolctl": "3.8.0"}, host=_host(env_vars={"KMP_DUPLICATE_LIB_OK": "TRUE"})
    )
    [finding] = _findings("ND711", env)
    assert finding.detail == "KMP_DUPLICATE_LIB_OK=TRUE" and finding.artifact == SITE
    assert "torch/lib/libiomp5.so (torch)" in finding.message and "threadpoolctl 3.8.0" in finding.message


@pytest.mark.parametrize("value", ["FALSE", "0", "no"])
def test_nd711_quiet_for_a_false_value(value: str) -> None:
    assert _findings("ND711", _env(host=_host(env_vars={"KMP_DUPLICATE_LIB_OK": value}))) == []


# --------------------------------------------------------------------------- ND713-ND717


def _installed(
    *states: DiskState, versions: Mapping[str, str] | None = None, **changes: object
) -> EnvironmentInspection:
    known = {s.name: s.version for s in states}
    known.update(versions or {})
    env = _env(versions=known)
    return dataclasses.replace(env, installed=states, **changes)  # type: ignore[arg-type]


def _state(name: str, version: str = "1.0", **fields: object) -> DiskState:
    return DiskState(name, version, f"{SITE}/{name}-{version}.dist-info", **fields)  # type: ignore[arg-type]


PANDAS = _state("pandas", "3.1.0", requires_dist=("numpy>=2.0.2",), has_extensions=True)


def test_nd713_unmet_requirement_on_a_native_dependency_is_an_error() -> None:
    [finding] = _findings("ND713", _installed(PANDAS, versions={"numpy": "1.24.4"}))
    assert finding.severity is Severity.ERROR and finding.detail == "numpy>=2.0.2"
    assert "pandas 3.1.0 requires 'numpy>=2.0.2', but numpy 1.24.4 is installed" in finding.message
    assert "pip install 'numpy>=2.0.2'" in finding.message


@pytest.mark.parametrize(
    ("state", "versions", "severity"),
    [
        pytest.param(
            _state("pandas", "2.2", requires_dist=("python-dateutil>=2.8",), has_extensions=True),
            {},
            Severity.WARNING,
            id="pure-dependency-missing",
        ),
        pytest.param(
            _state("seaborn", "0.13", requires_dist=("numpy>=1.20",)),
            {"numpy": "1.19.5"},
            Severity.WARNING,
            id="pure-dependent-on-numpy",
        ),
        pytest.param(PANDAS, {}, Severity.ERROR, id="native-dependency-missing"),
    ],
)
def test_nd713_severity_by_what_breaks(
    state: DiskState, versions: dict[str, str], severity: Severity
) -> None:
    [finding] = _findings("ND713", _installed(state, versions=versions))
    assert finding.severity is severity


@pytest.mark.parametrize(
    "line",
    [
        "numpy<1; python_version < '3.0'",
        "pytest; extra == 'test'",
        "pywin32>=300; sys_platform == 'win32'",
        "numpy>=2.0.2",
        "numpy>=2.1.0rc1",
    ],
    ids=["marker-false", "extra-only", "other-platform", "met", "prerelease-spec"],
)
def test_nd713_quiet_when_the_requirement_does_not_apply_or_is_met(line: str) -> None:
    state = _state("demo", requires_dist=(line,), has_extensions=True)
    assert _findings("ND713", _installed(state, versions={"numpy": "2.1.0"})) == []


def test_nd714_missing_files_of_an_import_package_name_the_fix() -> None:
    state = _state("opencv-python-headless", "4.10.0.84", missing=("cv2/__init__.py", "cv2/cv2.abi3.so"))
    env = _installed(state, top_levels=MappingProxyType({"opencv-python-headless": ("cv2",)}))
    [finding] = _findings("ND714", env)
    assert finding.severity is Severity.ERROR and finding.detail == "cv2"
    assert "`import cv2` fails" in finding.message
    assert "pip install --force-reinstall --no-deps opencv-python-headless" in finding.message


def test_nd714_a_missing_vendored_library_is_an_error() -> None:
    state = _state("pillow", "11.0", missing=("pillow.libs/libjpeg-6dc8d115.so.62.4.0",))
    env = _installed(state, top_levels=MappingProxyType({"pillow": ("PIL",)}))
    [finding] = _findings("ND714", env)
    assert finding.severity is Severity.ERROR and "imports of `PIL` that load them fail" in finding.message


def test_nd714_missing_scripts_only_is_a_warning() -> None:
    state = _state("demo", missing=("../../../bin/demo",))
    env = _installed(state, top_levels=MappingProxyType({"demo": ("demo",)}))
    [finding] = _findings("ND714", env)
    assert finding.severity is Severity.WARNING


def test_nd715_modified_native_file() -> None:
    state = _state("demo", modified=(("demo/_x.abi3.so", "sha256 digest differs from RECORD"),))
    [finding] = _findings("ND715", _installed(state))
    assert finding.member == "demo/_x.abi3.so" and "force-reinstall --no-deps demo" in finding.message


def test_nd716_and_nd717_report_what_was_not_read() -> None:
    state = _state(
        "evil",
        outside=("../../../../etc/passwd", "/proc/self/mem"),
        unreadable=(("evil/_x.so", "a named pipe (FIFO), not opened"),),
    )
    [outside] = _findings("ND716", _installed(state))
    assert "../../../../etc/passwd" in outside.message and "/proc/self/mem" in outside.message
    [unread] = _findings(
        "ND717",
        _installed(
            state, unreadable=((f"{SITE}/x-1.dist-info", "METADATA cannot be read: Permission denied"),)
        ),
    )[:1]
    assert unread.severity is Severity.INFO and "FIFO" in unread.message


def test_nd712_one_finding_per_package_and_cause_quoting_the_root_cause() -> None:
    from native_doctor.sources.runtime import ImportProbe

    def failed(module: str) -> ImportProbe:
        error = "ImportError: Unable to import required dependencies"
        return ImportProbe(
            module, False, 1, None, error, (), 0.1, root_cause="ValueError: numpy.dtype size changed"
        )

    env = dataclasses.replace(
        _loads_fine(),
        top_levels=MappingProxyType({"scipy": ("scipy",)}),
        runtime=(failed("scipy.linalg"), failed("scipy.fft"), failed("scipy.io")),
    )
    [finding] = _findings("ND712", env)
    assert "`import scipy.linalg`, `import scipy.fft`, `import scipy.io` each failed" in finding.message
    assert "root cause: ValueError: numpy.dtype size changed" in finding.message


def test_nd712_a_child_that_could_not_start_is_not_an_import_failure() -> None:
    from native_doctor.sources.runtime import ImportProbe

    probe = ImportProbe("demo", False, None, None, "cannot run /x/python: [Errno 2]", (), 0.0)
    env = dataclasses.replace(
        _loads_fine(), top_levels=MappingProxyType({"demo": ("demo",)}), runtime=(probe,)
    )
    [finding] = _findings("ND712", env)
    assert finding.severity is Severity.INFO and finding.detail == "not-probed"


def test_nd712_an_optional_module_failing_is_info() -> None:
    from native_doctor.sources.runtime import ImportProbe

    probe = ImportProbe("demo._ext", False, 1, None, "ImportError: libtbb.so.12: cannot open", (), 0.1)
    env = dataclasses.replace(_loads_fine(), runtime=(probe,), conditional_extensions=frozenset({_abs(EXT)}))
    [finding] = _findings("ND712", env)
    assert finding.severity is Severity.INFO and "optional module" in finding.message


# --------------------------------------------------------------------------- ND718


def _loads(call: LoadCall, found: str | None = None) -> EnvironmentInspection:
    load = RuntimeLoad(
        "sounddevice", "0.5.6", f"{SITE}/sounddevice-0.5.6.dist-info", call, found, "searched X"
    )
    return dataclasses.replace(_env(), runtime_loads=(load,))


def _call(file: str = "sounddevice.py", *, at_import: bool = True, raises: bool = False) -> LoadCall:
    return LoadCall(file, 69, "_find_library", "find_library", ("portaudio",), at_import, False, None, raises)


@pytest.mark.parametrize(
    ("call", "severity", "effect"),
    [
        (_call(), Severity.ERROR, "`import sounddevice` fails"),
        (_call("pkg/sub/mod.py"), Severity.WARNING, "`import pkg.sub.mod` fails"),
        (
            _call("pyzbar/zbar_library.py", at_import=False, raises=True),
            Severity.WARNING,
            "raises ImportError",
        ),
        (_call("pkg/util.py", at_import=False), Severity.INFO, "fails when it runs"),
    ],
    ids=["top-level-module", "submodule", "loader-raising-importerror", "in-a-function"],
)
def test_nd718_graded_by_when_the_call_runs(call: LoadCall, severity: Severity, effect: str) -> None:
    [finding] = _findings("ND718", _loads(call))
    assert finding.severity is severity and effect in finding.message
    assert "loads 'portaudio' by name" in finding.message and "searched X" in finding.message
    assert "apt-file search libportaudio.so" in finding.message


# --------------------------------------------------------------------------- the table

EnvFactory = Callable[[], EnvironmentInspection]


#: For every environment check: (an environment that triggers it, a clean one).
def _with_probe(env: EnvironmentInspection, *, ok: bool, signal: str | None = None) -> EnvironmentInspection:
    from native_doctor.sources.runtime import ImportProbe

    probe = ImportProbe("demo", ok, 0 if ok else -4, signal, None if ok else "Illegal instruction", (), 0.1)
    return dataclasses.replace(env, top_levels=MappingProxyType({"demo": ("demo",)}), runtime=(probe,))


ENV_CASES: dict[str, tuple[EnvFactory, EnvFactory]] = {
    "ND712": (
        lambda: _with_probe(_loads_fine(), ok=False, signal="SIGILL"),
        lambda: _with_probe(_loads_fine(), ok=True),
    ),
    "ND701": (_missing, _loads_fine),
    "ND702": (_old_libstdcxx, _versions_fine),
    "ND703": (
        lambda: _cuda_env(SYSTEM_NVJITLINK, "LD_LIBRARY_PATH"),
        lambda: _cuda_env(_abs(NVJITLINK), "RUNPATH"),
    ),
    "ND704": (lambda: _openmp_env(TORCH_GOMP, SKLEARN_GOMP), lambda: _openmp_env(TORCH_GOMP)),
    "ND705": (_needs_glibc_234, lambda: _needs_glibc_234("manylinux_2_34_x86_64")),
    "ND706": (
        lambda: _needs_glibc_234("linux_x86_64"),
        lambda: _needs_glibc_234("manylinux_2_34_x86_64"),
    ),
    "ND707": (_opencv, lambda: _opencv(headless_too=False)),
    "ND708": (
        lambda: _numpy_env("2.0.2", BinaryMarkers(numpy_abi="1.x")),
        lambda: _numpy_env("2.0.2", BinaryMarkers(numpy_abi="2.x", numpy_target="1.23")),
    ),
    "ND709": (
        lambda: _env(versions={"nvidia-cublas-cu11": "11.11.3.6", "nvidia-cublas-cu12": "12.4.5.8"}),
        lambda: _env(
            versions={"nvidia-cublas-cu12": "12.4.5.8", "nvidia-cuda-runtime-cu12": "12.4.127"},
            host=_host(nvidia_driver="550.54.14"),
        ),
    ),
    "ND710": (lambda: _numpy_baseline(1, V1_FLAGS), lambda: _numpy_baseline(3, V3_FLAGS)),
    "ND713": (
        lambda: _installed(PANDAS, versions={"numpy": "1.24.4"}),
        lambda: _installed(PANDAS, versions={"numpy": "2.4.0"}),
    ),
    "ND714": (
        lambda: _installed(_state("demo", missing=("demo/__init__.py",))),
        lambda: _installed(_state("demo")),
    ),
    "ND715": (
        lambda: _installed(_state("demo", modified=(("demo/_x.so", "size differs"),))),
        lambda: _installed(_state("demo")),
    ),
    "ND716": (
        lambda: _installed(_state("demo", outside=("/proc/self/mem",))),
        lambda: _installed(_state("demo")),
    ),
    "ND717": (
        lambda: _installed(_state("demo", unreadable=(("demo/x.so", "Permission denied"),))),
        lambda: _installed(_state("demo")),
    ),
    "ND718": (lambda: _loads(_call()), lambda: _loads(_call(), found="libportaudio.so.2")),
    "ND711": (
        lambda: _env(host=_host(env_vars={"KMP_DUPLICATE_LIB_OK": "True"})),
        lambda: _env(host=_host(env_vars={"OMP_NUM_THREADS": "4"})),
    ),
}


def _environment_checks() -> list[str]:
    return [c.code for c in all_checks() if c.scope == "environment" and c.status is Status.STABLE]


def test_every_environment_check_has_cases() -> None:
    assert set(_environment_checks()) == set(ENV_CASES)


@pytest.mark.parametrize("code", sorted(ENV_CASES))
def test_environment_check_fires_and_stays_quiet(code: str) -> None:
    bad, good = ENV_CASES[code]
    fired = list(run_environment_checks(bad()))
    assert code in {f.code for f in fired}
    assert code not in {f.code for f in run_environment_checks(good())}
    check = get(code)
    assert check is not None
    for finding in fired:
        if finding.code == code:
            assert finding.page == check.page and finding.artifact
            assert len(finding.message) > 60


@pytest.mark.parametrize("code", sorted(ENV_CASES))
def test_clean_environments_are_clean_for_every_check(code: str) -> None:
    """A clean fixture of one check should not trip another check by accident (except by design)."""
    _, good = ENV_CASES[code]
    assert [f.code for f in run_environment_checks(good())] == []


def test_empty_environment_has_no_findings() -> None:
    assert list(run_environment_checks(_env())) == []


def test_nd701_static_fallback_for_distributions_without_a_simulation() -> None:
    cusparse = _dist(
        "nvidia-cusparse-cu12",
        "12.3.1.170",
        _file(
            CUSPARSE,
            _elf(
                ("libnvJitLink.so.12",), soname="libcusparse.so.12", runpath=("$ORIGIN/../../nvjitlink/lib",)
            ),
        ),
    )
    [finding] = _findings("ND701", _env(cusparse))
    assert finding.member == CUSPARSE and finding.detail == "libnvJitLink.so.12"
    assert "pip install nvidia-nvjitlink-cu12" in finding.message


def test_nd701_static_fallback_is_quiet_when_another_distribution_provides_it() -> None:
    env = _cuda_env(_abs(NVJITLINK), "RUNPATH")
    assert _findings("ND701", env) == []


def test_nd701_static_fallback_only_on_linux_hosts() -> None:
    lonely = _dist("lonely", "1.0", _file("lonely/sub/libx.so", _elf(("libdep.so.1",))))
    assert _findings("ND701", _env(lonely, host=_host(os_name="Darwin"))) == []
    assert len(_findings("ND701", _env(lonely))) == 1


def test_nd712_failed_import_names_the_signal_and_the_prediction() -> None:
    [finding] = _findings("ND712", _with_probe(_loads_fine(), ok=False, signal="SIGILL"))
    assert "SIGILL" in finding.message and "predicted it would load" in finding.message


def test_nd712_success_against_a_predicted_failure_is_information() -> None:
    [finding] = _findings("ND712", _with_probe(_missing(), ok=True))
    assert finding.severity.value == "info" and finding.detail == "prediction-differs"
