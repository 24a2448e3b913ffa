"""Dependency checks ND202-ND209: synthetic fixtures for each, and what real wheels show."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from _corpus import ensure, wheels
from _toolchain import unavailable
from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.checks import dependencies as deps
from native_doctor.checks.registry import Finding, Severity, Status, get
from native_doctor.model import Artifact, ArtifactKind, NativeFile
from native_doctor.sources.wheel import read_wheel


def _elf(
    needed: tuple[str, ...] = (),
    *,
    rpath: tuple[str, ...] = (),
    runpath: tuple[str, ...] = (),
    soname: str | None = None,
    kind: FileKind = FileKind.SHARED_LIBRARY,
    imported: tuple[str, ...] | None = None,
    exported: tuple[str, ...] = (),
) -> BinaryInfo:
    return BinaryInfo(
        BinaryFormat.ELF,
        "x86_64",
        64,
        "little",
        kind,
        needed=needed,
        rpath=rpath,
        runpath=runpath,
        soname=soname,
        deep=imported is not None,
        imported_symbols=imported or (),
        exported_symbols=exported,
    )


def _pe(needed: tuple[str, ...] = (), dll_name: str | None = None) -> BinaryInfo:
    return BinaryInfo(
        BinaryFormat.PE, "x86_64", 64, "little", FileKind.SHARED_LIBRARY, needed=needed, dll_name=dll_name
    )


def _file(path: str, info: BinaryInfo | None, size: int = 100, fingerprint: str | None = None) -> NativeFile:
    return NativeFile(path, path, size, fingerprint, info)


def _wheel(
    *files: NativeFile,
    requires: tuple[str, ...] = (),
    name: str = "demo",
    version: str = "1.0",
    platform: str = "manylinux_2_17_x86_64",
) -> Inspection:
    artifact = Artifact(
        kind=ArtifactKind.WHEEL,
        path=f"{name}-{version}-cp311-cp311-{platform}.whl",
        name=name,
        version=version,
        claimed_tags=(f"cp311-cp311-{platform}",),
        files=tuple(f.install_path for f in files),
        native=files,
        requires_dist=requires,
    )
    return inspect_artifact(artifact)


def _findings(code: str, inspection: Inspection) -> list[Finding]:
    check = get(code)
    assert check is not None and check.function is not None
    return list(check.function(inspection))


EXT = "demo/_ext.cpython-311-x86_64-linux-gnu.so"
CUBLAS_RPATH = ("$ORIGIN/../nvidia/cublas/lib",)
TORCH_CXX = ("_ZN3c1015SmallVectorBaseIjE8grow_podEPKvmm", "_ZNK2at10TensorBase5dtypeEv")

#: For every check of this module: (an inspection that triggers it, a clean one).
CASES: dict[str, tuple[Callable[[], Inspection], Callable[[], Inspection]]] = {
    "ND210": (
        lambda: _wheel(_file(EXT, _elf(("libcuda.so.1", "libc.so.6")))),
        lambda: _wheel(_file(EXT, _elf(("libcudart.so.13", "libc.so.6"))), requires=("nvidia-cuda-runtime",)),
    ),
    "ND202": (
        lambda: _wheel(_file(EXT, _elf(("libcublas.so.12",), rpath=CUBLAS_RPATH))),
        lambda: _wheel(
            _file(EXT, _elf(("libcublas.so.12",), rpath=CUBLAS_RPATH)),
            requires=("nvidia-cublas-cu12>=12.1; platform_system == 'Linux'",),
        ),
    ),
    "ND203": (
        lambda: _wheel(
            _file(EXT, _elf(("libcublas.so.12",), rpath=("$ORIGIN/nvidia/cublas/lib",))),
            requires=("nvidia-cublas-cu12",),
        ),
        lambda: _wheel(
            _file(EXT, _elf(("libcublas.so.12",), rpath=CUBLAS_RPATH)), requires=("nvidia-cublas-cu12",)
        ),
    ),
    "ND204": (
        lambda: _wheel(
            _file("demo/libfoo.so", _elf(soname="libfoo.so.1"), 5000, "1234abcd:5000"),
            _file("demo/libfoo.so.1", _elf(soname="libfoo.so.1"), 5000, "1234abcd:5000"),
        ),
        lambda: _wheel(
            _file("demo/libfoo.so.1", _elf(soname="libfoo.so.1"), 5000, "1234abcd:5000"),
            _file("demo/libbar.so.1", _elf(soname="libbar.so.1"), 5000, "99999999:5000"),
        ),
    ),
    "ND205": (
        lambda: _wheel(
            _file("demo.libs/libgomp-a34b3233.so.1.0.0", _elf(soname="libgomp-a34b3233.so.1.0.0"))
        ),
        lambda: _wheel(_file("demo.libs/libgompy-a34b3233.so.1", _elf(soname="libgompy-a34b3233.so.1"))),
    ),
    "ND206": (
        lambda: _wheel(_file("demo.libs/libscipy_openblas64_-32a4b2a6.so", _elf())),
        lambda: _wheel(_file("demo.libs/libnvblas.so.12", _elf(soname="libnvblas.so.12"))),
    ),
    "ND208": (
        lambda: _wheel(
            _file(EXT, _elf(("libc10.so", "libtorch_cpu.so"), imported=TORCH_CXX)), requires=("torch>=2.4",)
        ),
        lambda: _wheel(
            _file(EXT, _elf(("libc10.so", "libtorch_cpu.so"), imported=TORCH_CXX)), requires=("torch==2.4.1",)
        ),
    ),
    "ND209": (
        lambda: _wheel(_file(EXT, _elf(("libcudart.so.11.0",))), name="demo-cu12"),
        lambda: _wheel(_file(EXT, _elf(("libcudart.so.12",))), name="demo-cu12"),
    ),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_check_fires_and_stays_quiet(code: str) -> None:
    bad, good = CASES[code]
    assert _findings(code, bad()), code
    assert not _findings(code, good()), code


# --------------------------------------------------------------------------- providers


def test_provided_by_knows_cuda_torch_and_arrow() -> None:
    cudart = deps.provided_by("libcudart.so.12")
    assert cudart is not None and cudart.distribution == "nvidia-cuda-runtime-cu12"
    assert cudart.directory == "nvidia/cuda_runtime/lib"
    cublas13 = deps.provided_by("libcublas.so.13")
    assert cublas13 is not None and (cublas13.distribution, cublas13.directory) == (
        "nvidia-cublas",
        "nvidia/cu13/lib",
    )
    assert {p.distribution for p in deps.providers_of("libcudnn.so.9")} == {
        "nvidia-cudnn-cu12",
        "nvidia-cudnn-cu13",
    }
    assert deps.provided_by("@rpath/libtorch_cpu.dylib", "macos") is not None
    assert deps.provided_by("@rpath/libtorch_cpu.dylib", "linux") is None
    assert deps.provided_by("C10.DLL", "windows") is not None
    arrow = deps.provided_by("libarrow.so.2500")
    assert arrow is not None and arrow.distribution == "pyarrow"
    assert deps.provided_by("libcuda.so.1") is None  # the driver comes with the system, not from PyPI
    assert deps.provided_by("libfoo.so.1") is None


def test_extras_and_markers_count_as_declared() -> None:
    needs = _file(EXT, _elf(("libcudart.so.13",), rpath=("$ORIGIN/../nvidia/cu13/lib",)))
    for requires in (
        ("nvidia-cuda-runtime; extra == 'cuda'",),
        ("NVIDIA_CUDA.Runtime==13.0.96; sys_platform == 'linux'",),
        ("cuda-toolkit[cudart,cublas]==13.0.3",),
        ("cuda-toolkit[all]",),
        ("torch==2.14.1",),
    ):
        inspection = _wheel(needs, requires=requires)
        assert not _findings("ND202", inspection), requires
        assert not _findings("ND203", inspection), requires
    assert _findings("ND202", _wheel(needs, requires=("cuda-toolkit[cublas]",)))


def test_search_path_relative_to_the_binary() -> None:
    deep = "demo/sub/_ext.cpython-311-x86_64-linux-gnu.so"
    requires = ("nvidia-cublas-cu12",)
    two_up = _wheel(
        _file(deep, _elf(("libcublas.so.12",), runpath=("$ORIGIN/../../nvidia/cublas/lib",))),
        requires=requires,
    )
    assert not _findings("ND203", two_up)
    one_up = _wheel(_file(deep, _elf(("libcublas.so.12",), runpath=CUBLAS_RPATH)), requires=requires)
    [finding] = _findings("ND203", one_up)
    assert "nvidia/cublas/lib" in finding.message and finding.detail == "libcublas.so.12"


def test_libraries_loaded_by_importing_a_declared_provider_need_no_search_path() -> None:
    inspection = _wheel(_file(EXT, _elf(("libtorch_cpu.so", "libc10.so"))), requires=("torch==2.5.1",))
    assert not _findings("ND202", inspection) and not _findings("ND203", inspection)
    undeclared = _wheel(_file(EXT, _elf(("libtorch_cpu.so",))))
    [finding] = _findings("ND202", undeclared)
    assert "torch" in finding.message


def test_the_provider_itself_is_not_reported() -> None:
    own = _wheel(_file("nvidia/cu13/lib/libcusolver.so.12", _elf(("libcublas.so.13",))), name="nvidia-cublas")
    assert not _findings("ND202", own)


# --------------------------------------------------------------------------- ND204-ND209 details


@pytest.mark.parametrize(
    ("files", "how"),
    [
        pytest.param(
            [("demo.libs/libz-aaaaaaaa.so.1", "1234abcd:100"), ("demo.libs/libz.so.1", "1234abcd:100")],
            "identical copies",
            id="same-content",
        ),
        pytest.param(
            [
                ("demo.libs/libgcc_s-2d945d6c.so.1", "11111111:100"),
                ("demo.libs/libgcc_s-2d945d6c-767fb991.so.1", "22222222:100"),
            ],
            "copies of one original file (repair hash 2d945d6c) patched differently",
            id="one-original-repaired-twice",
        ),
        pytest.param(
            [
                ("demo.libs/libgfortran-8a9a71bc.so.5", "11111111:100"),
                ("demo.libs/libgfortran-daac5196.so.5", "22222222:100"),
            ],
            "different builds: the copies differ in content",
            id="different-builds",
        ),
    ],
)
def test_duplicates_say_how_the_copies_differ(files: list[tuple[str, str]], how: str) -> None:
    soname = files[0][0].rsplit("/", 1)[-1]
    inspection = _wheel(*(_file(path, _elf(soname=soname), 100, fp) for path, fp in files))
    [finding] = _findings("ND204", inspection)
    assert f"({how})" in finding.message


def test_duplicates_by_repair_hash_and_not_deliberate_variants() -> None:
    hashed = _wheel(
        _file("demo.libs/libgfortran-8a9a71bc.so.5.0.0", _elf(soname="libgfortran-8a9a71bc.so.5.0.0"), 1000),
        _file(
            "demo.libs/libgfortran-daac5196-038a5e3c.so.5.0.0",
            _elf(soname="libgfortran-daac5196-038a5e3c.so.5.0.0"),
            900,
        ),
    )
    [finding] = _findings("ND204", hashed)
    assert finding.detail == "libgfortran.so.5.0.0" and "900 bytes" in finding.message
    variants = _wheel(
        _file("demo/x11/libglfw.so", _elf(soname="libglfw.so.3"), 1000, "aaaaaaaa:1000"),
        _file("demo/wayland/libglfw.so", _elf(soname="libglfw.so.3"), 1000, "bbbbbbbb:1000"),
    )
    assert not _findings("ND204", variants)
    executables = _wheel(
        _file("demo/bin/protoc", _elf(kind=FileKind.EXECUTABLE), 1000, "cccccccc:1000"),
        _file("demo/bin/protoc-3", _elf(kind=FileKind.EXECUTABLE), 1000, "cccccccc:1000"),
    )
    assert not _findings("ND204", executables)


def test_two_openmp_runtimes_are_a_warning() -> None:
    inspection = _wheel(
        _file("demo/.libs/vcomp140.dll", _pe(dll_name="VCOMP140.DLL")),
        _file("demo/.libs/libiomp5md.dll", _pe(dll_name="libiomp5md.dll")),
        platform="win_amd64",
    )
    findings = _findings("ND205", inspection)
    assert {f.detail for f in findings} == {"vcomp", "libiomp5"}
    assert all(f.severity is Severity.WARNING for f in findings)
    single = _findings(
        "ND205", _wheel(_file("demo/.dylibs/libomp.dylib", _elf()), platform="macosx_11_0_arm64")
    )
    assert [f.severity for f in single] == [Severity.INFO]


def test_blas_integer_model_from_symbols_when_deep() -> None:
    native = _file("demo.libs/libopenblas-r0-11edc3fa.3.15.so", _elf(imported=(), exported=("dgemm_64_",)))
    library = deps.blas_library(native)
    assert library is not None and library.integers == "ILP64"
    shallow = deps.blas_library(dataclasses.replace(native, info=_elf()))
    assert shallow is not None and (shallow.flavour, shallow.integers) == ("OpenBLAS", "LP64")
    assert deps.blas_library(_file("numpy.libs/scipy_openblas-a851836c.dll", _pe())) is not None


def test_numpy_lower_bound_is_preview_and_needs_all_lines_unbounded() -> None:
    check = get("ND207")
    assert check is not None and check.status is Status.PREVIEW
    ext = _file(EXT, _elf())
    assert _findings("ND207", _wheel(ext, requires=("numpy",)))
    assert not _findings("ND207", _wheel(ext, requires=("numpy>=1.23",)))
    assert not _findings(
        "ND207", _wheel(ext, requires=("numpy<2; python_version<'3.9'", "numpy>=2; python_version>='3.9'"))
    )
    assert not _findings("ND207", _wheel(ext, requires=("numpy; extra == 'fast'",)))
    assert not _findings("ND207", _wheel(_file("demo/libfoo.so", _elf()), requires=("numpy",)))


def test_libtorch_pin_needs_cxx_symbols() -> None:
    stable = _wheel(
        _file(EXT, _elf(("libtorch_cpu.so",), imported=("aoti_torch_abi_version", "aoti_torch_aten_narrow"))),
        requires=("torch>=2.14.0",),
    )
    assert not _findings("ND208", stable)
    shallow = _wheel(_file(EXT, _elf(("libtorch_cpu.so",))), requires=("torch>=2.14.0",))
    assert not _findings("ND208", shallow)  # without symbols nothing is claimed
    wildcard = _wheel(_file(EXT, _elf(("libc10.so",), imported=TORCH_CXX)), requires=("torch==2.4.*",))
    assert _findings("ND208", wildcard)
    msvc = BinaryInfo(
        BinaryFormat.PE,
        "x86_64",
        64,
        "little",
        FileKind.SHARED_LIBRARY,
        needed=("c10.dll",),
        deep=True,
        imported_symbols=("??1TensorImpl@c10@@UEAA@XZ",),
    )
    assert _findings("ND208", _wheel(_file("demo/_ext.pyd", msvc), platform="win_amd64"))


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("demo-cu12", "1.0", 12),
        ("cupy-cuda12x", "13.0", 12),
        ("demo", "2.1.0+cu118", 11),
        ("demo", "1.0", None),
        ("jax-cuda13-plugin", "0.8", 13),
        ("cuml-cu130", "1.0", 13),
    ],
)
def test_cuda_major_of_package(name: str, version: str, expected: int | None) -> None:
    assert deps.cuda_major_of_package(name, version) == expected


@pytest.mark.parametrize(
    ("library", "expected"),
    [
        ("libcudart.so.11.0", 11),
        ("libcudart.so.13", 13),
        ("libnvrtc.so.12", 12),
        ("cudart64_110.dll", 11),
        ("cudart64_12.dll", 12),
        ("libcudart.faf08d9a.so.13", None),
        ("libcudart-faf08d9a.so.13", 13),
        ("libcufft.so.11", None),
        ("nvrtc64_120_0.dll", 12),
    ],
)
def test_cuda_major_of_library(library: str, expected: int | None) -> None:
    assert deps.cuda_major_of_library(library) == expected


def test_bundled_cuda_runtime_of_another_major() -> None:
    inspection = _wheel(
        _file("demo.libs/libcudart-1234abcd.so.11.0", _elf(soname="libcudart.so.11.0")), name="demo-cu12"
    )
    [finding] = _findings("ND209", inspection)
    assert "CUDA 11" in finding.message and "bundles" in finding.message


# --------------------------------------------------------------------------- real wheels


def _corpus_inspection(name: str, platform_prefix: str = "") -> list[Inspection]:
    found = [w for w in wheels(name=name, include_benchmark=True) if platform_prefix in w.filename]
    if not found:
        unavailable(f"no {name} wheel in the corpus")
    return [inspect_artifact(read_wheel(str(ensure(w)))) for w in found]


@pytest.mark.corpus
def test_torch_cuda_libraries_are_declared_and_on_rpath() -> None:
    [torch] = _corpus_inspection("torch")
    needed = {d.name for b in torch.binaries for d in b.dependencies}
    assert {"libcudart.so.13", "libcublas.so.13", "libcudnn.so.9", "libnccl.so.2"} <= needed
    for code in ("ND202", "ND203", "ND208", "ND209"):
        assert not _findings(code, torch), code
    # torch names cublas and cudart only through cuda-toolkit's extras; without them ND202 fires
    requires = tuple(r for r in torch.artifact.requires_dist if not r.startswith("cuda-toolkit"))
    bare = inspect_artifact(dataclasses.replace(torch.artifact, requires_dist=requires))
    assert {"libcudart.so.13", "libcublas.so.13"} <= {f.detail for f in _findings("ND202", bare)}
    assert "libcudnn.so.9" not in {f.detail for f in _findings("ND202", bare)}
    # RPATH $ORIGIN/../../nvidia/cu13/lib from torch/lib reaches nvidia/cu13/lib; a wrong depth does not
    moved = tuple(
        dataclasses.replace(
            n, info=dataclasses.replace(n.info, rpath=tuple(e.replace("../../", "../") for e in n.info.rpath))
        )
        if n.info is not None
        else n
        for n in torch.artifact.native
    )
    shifted = inspect_artifact(dataclasses.replace(torch.artifact, native=moved))
    assert "libcublas.so.13" in {f.detail for f in _findings("ND203", shifted)}
    assert [f.detail for f in _findings("ND205", torch)] == ["libgomp"]


@pytest.mark.corpus
def test_numpy_and_scipy_vendor_scipy_openblas() -> None:
    for inspection in _corpus_inspection("numpy", "2.4.6"):
        found = _findings("ND206", inspection)
        assert len(found) == 1, inspection.artifact.path
        assert found[0].detail in ("scipy-openblas ILP64", "scipy-openblas LP64")
        if "win_arm64" not in inspection.artifact.path:
            assert found[0].detail == "scipy-openblas ILP64"
    for inspection in _corpus_inspection("scipy"):
        assert [f.detail for f in _findings("ND206", inspection)] == ["scipy-openblas LP64"]


@pytest.mark.corpus
def test_scikit_learn_openmp_runtimes() -> None:
    expected = {"win_amd64": "vcomp", "macosx": "libomp", "manylinux": "libgomp"}
    for inspection in _corpus_inspection("scikit-learn"):
        [finding] = _findings("ND205", inspection)
        assert finding.severity is Severity.INFO
        kind = next(v for k, v in expected.items() if k in inspection.artifact.path)
        assert finding.detail == kind
        assert not _findings("ND207", inspection)  # numpy>=1.24.1


@pytest.mark.corpus
def test_scipy_musllinux_double_vendored_gfortran() -> None:
    [inspection] = _corpus_inspection("scipy", "musllinux")
    details = {f.detail for f in _findings("ND204", inspection)}
    assert {"libgfortran.so.5.0.0", "libquadmath.so.0.0.0"} <= details


@pytest.mark.corpus
@pytest.mark.parametrize("entry", wheels(), ids=lambda w: w.filename)
def test_no_provider_or_cuda_findings_on_corpus(entry: object) -> None:
    inspection = inspect_artifact(read_wheel(str(ensure(entry))))  # type: ignore[arg-type]
    for code in ("ND202", "ND203", "ND208", "ND209"):
        assert not _findings(code, inspection), code


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("libcuda.so.1", True, id="cuda-driver"),
        pytest.param("libnvidia-ml.so.1", True, id="nvml"),
        pytest.param("nvcuda.dll", True, id="windows-driver"),
        pytest.param("libcudart.so.12", False, id="runtime-is-a-wheel"),
        pytest.param("libcudaxyz.so", False, id="lookalike"),
    ],
)
def test_driver_libraries(name: str, expected: bool) -> None:
    from native_doctor.checks.dependencies import is_driver_library

    assert is_driver_library(name) is expected


def test_external_library_defers_to_the_specific_checks() -> None:
    inspection = _wheel(_file(EXT, _elf(("libcuda.so.1", "libcublas.so.12", "libnowhere.so.3"))))
    from native_doctor.checks.registry import run_checks

    external = {f.detail for f in run_checks(inspection) if f.code == "ND201"}
    assert external == {"libnowhere.so.3"}
