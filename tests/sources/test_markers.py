"""Static markers: NumPy target/ABI/CPU lists, pybind11 key, OpenBLAS config, OpenMP runtime."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from _corpus import ensure, wheels
from _toolchain import require, run
from native_doctor.sources.markers import BinaryMarkers, parse_markers, read_markers

NP2_MSG = (
    b"module was compiled against NumPy C-API version 0x%x (NumPy 1.23) but the running NumPy has "
    b"C-API version 0x%x. Check the section C-API incompatibility"
)
NP1_ABI = b"module compiled against ABI version 0x%x but this version of numpy is 0x%x"
NP1_API = b"module compiled against API version 0x%x but this version of numpy is 0x%x"
BASELINE = (
    b"%sYou cannot disable CPU feature '%s', since it is part of the baseline optimizations:\n(X86_V2)."
)
DISPATCH = (
    b"%sYou cannot %s CPU features (%s), since they are not part of the dispatched optimizations\n"
    b"(X86_V3 X86_V4 AVX512_ICL AVX512_SPR)."
)
PYBIND_NEW = b"__pybind11_internals_v11_system_libstdcpp_gxx_abi_1xxx_use_cxx11_abi_1__"
PYBIND_OLD = b"__pybind11_internals_v4_gcc_libstdcpp_cxxabi1011__"


def _blob(*parts: bytes) -> bytes:
    return b"\x7fELF" + b"\x00" * 60 + b"\x00".join(parts) + b"\x00" * 16


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        pytest.param((), BinaryMarkers(), id="empty"),
        pytest.param(
            (b"numpy._core._multiarray_umath", b"numpy.core._multiarray_umath", NP1_ABI, NP2_MSG),
            BinaryMarkers(numpy_target="1.23", numpy_abi="2.x"),
            id="numpy2-headers",
        ),
        pytest.param(
            (b"numpy.core._multiarray_umath", NP1_ABI, NP1_API),
            BinaryMarkers(numpy_abi="1.x"),
            id="numpy1-headers",
        ),
        pytest.param(
            (b"numpy._core._multiarray_umath", b"X86_V4 X86_V3 baseline(X86_V2)", BASELINE, DISPATCH),
            BinaryMarkers(
                numpy_baseline=("X86_V2",),
                numpy_dispatch=("X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"),
                has_numpy_cpu_lists=True,
            ),
            id="numpy-own-cpu-lists",
        ),
        pytest.param(
            (b"it is part of the baseline optimizations:\n().",),
            BinaryMarkers(has_numpy_cpu_lists=True),
            id="numpy-no-baseline",
        ),
        pytest.param(
            (PYBIND_NEW, b"numpy._core", b"numpy.core"),
            BinaryMarkers(pybind11_abi="v11_system_libstdcpp_gxx_abi_1xxx_use_cxx11_abi_1"),
            id="pybind11-new",
        ),
        pytest.param(
            (PYBIND_OLD, b"numpy.core.multiarray"),
            BinaryMarkers(pybind11_abi="v4_gcc_libstdcpp_cxxabi1011", numpy_abi="1.x"),
            id="pybind11-old-numpy1",
        ),
        pytest.param(
            (b"OpenBLAS : munmap failed:", b"OpenBLAS 0.3.31.188.0  USE64BITINT DYNAMIC_ARCH NO_AFFINITY "),
            BinaryMarkers(openblas="OpenBLAS 0.3.31.188.0 USE64BITINT DYNAMIC_ARCH NO_AFFINITY"),
            id="openblas",
        ),
        pytest.param(
            (b"GOMP_4.0", b"GOMP_CPU_AFFINITY", b"OMP_NUM_THREADS"), BinaryMarkers(openmp_runtime="gnu")
        ),
        pytest.param((b"__kmp_fork_call", b"KMP_DUPLICATE_LIB_OK"), BinaryMarkers(openmp_runtime="kmp")),
        pytest.param((b"GOMP_parallel", b"GOMP_4.0", b"__kmpc_fork_call"), BinaryMarkers(), id="omp-user"),
    ],
)
def test_parse_markers(parts: tuple[bytes, ...], expected: BinaryMarkers) -> None:
    assert parse_markers(_blob(*parts)) == expected


def test_derived_properties() -> None:
    markers = parse_markers(_blob(PYBIND_NEW, b"OpenBLAS 0.3.30 DYNAMIC_ARCH"))
    assert markers.uses_cxx11_abi is True
    assert markers.openblas_version == "0.3.30"
    old = parse_markers(_blob(PYBIND_OLD))
    assert old.uses_cxx11_abi is None
    assert BinaryMarkers().openblas_version is None


def test_truncated_and_garbage_inputs() -> None:
    assert (
        parse_markers(NP2_MSG[: NP2_MSG.index(b"(NumPy ") + 9]) == BinaryMarkers()
    )  # message cut before "(NumPy X.Y)"
    assert parse_markers(b"__pybind11_internals_") == BinaryMarkers()
    assert parse_markers(b"OpenBLAS x.y") == BinaryMarkers()
    assert parse_markers(bytes(range(256)) * 64) == BinaryMarkers()


def test_read_markers_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.so").write_bytes(b"")
    assert read_markers(tmp_path / "empty.so") == BinaryMarkers()
    with pytest.raises(OSError):
        read_markers(tmp_path / "missing.so")


C_SOURCE = r"""
#define USED __attribute__((used))
USED static const char m1[] = "numpy._core._multiarray_umath";
USED static const char m2[] = "module was compiled against NumPy C-API version 0x%x (NumPy 2.0) but";
USED static const char m3[] = "__pybind11_internals_v5_gcc_libstdcpp_cxxabi1016__";
int value(void) { return 1; }
"""


def test_gcc_built_library(tmp_path: Path) -> None:
    gcc = require("gcc")
    (tmp_path / "m.c").write_text(C_SOURCE)
    run(gcc, "-shared", "-fPIC", "-O2", "-o", tmp_path / "libm.so", tmp_path / "m.c")
    markers = read_markers(tmp_path / "libm.so")
    assert markers.numpy_target == "2.0"
    assert markers.numpy_abi == "2.x"
    assert markers.pybind11_abi == "v5_gcc_libstdcpp_cxxabi1016"


# --------------------------------------------------------------------------- real wheels

NUMPY = "numpy-2.4.6-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
NUMPY_MUSL_ARM = "numpy-2.4.6-cp313-cp313-musllinux_1_2_aarch64.whl"
SKLEARN = "scikit_learn-1.9.1-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
SCIPY_MUSL = "scipy-1.17.1-cp312-cp312-musllinux_1_2_x86_64.whl"


def _member(wheel: str, suffix: str, tmp_path: Path) -> Path:
    (entry,) = [w for w in wheels() if w.filename == wheel]
    path = ensure(entry)  # the default corpus: downloaded once into the cache
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.endswith(suffix) or f"/{suffix}" in n]
        assert names, f"{suffix} not in {wheel}"
        return Path(archive.extract(names[0], tmp_path))


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("wheel", "member", "expected"),
    [
        pytest.param(
            NUMPY,
            "_multiarray_umath.cpython-312-x86_64-linux-gnu.so",
            BinaryMarkers(
                numpy_baseline=("X86_V2",),
                numpy_dispatch=("X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"),
                has_numpy_cpu_lists=True,
            ),
            id="numpy-multiarray-x86_64",
        ),
        pytest.param(
            NUMPY_MUSL_ARM,
            "_multiarray_umath.cpython-313-aarch64-linux-musl.so",
            BinaryMarkers(
                numpy_baseline=("NEON", "NEON_FP16", "NEON_VFPV4", "ASIMD"),
                numpy_dispatch=("ASIMDHP", "ASIMDDP", "ASIMDFHM", "SVE"),
                has_numpy_cpu_lists=True,
            ),
            id="numpy-multiarray-aarch64",
        ),
        pytest.param(
            NUMPY,
            "_umath_linalg.cpython-312-x86_64-linux-gnu.so",
            BinaryMarkers(numpy_target="2.1", numpy_abi="2.x"),
            id="numpy-linalg",
        ),
        pytest.param(
            NUMPY,
            "libscipy_openblas64_-32a4b2a6.so",
            BinaryMarkers(openblas="OpenBLAS 0.3.31.188.0 USE64BITINT DYNAMIC_ARCH NO_AFFINITY"),
            id="numpy-openblas",
        ),
        pytest.param(
            SKLEARN,
            "sklearn/tree/_tree.cpython-312-x86_64-linux-gnu.so",
            BinaryMarkers(numpy_target="1.25", numpy_abi="2.x"),
            id="sklearn-tree",
        ),
        pytest.param(
            SKLEARN, "libgomp-e985bcbb.so.1.0.0", BinaryMarkers(openmp_runtime="gnu"), id="sklearn-gomp"
        ),
        pytest.param(
            SCIPY_MUSL,
            "scipy/spatial/_distance_pybind.cpython-312-x86_64-linux-musl.so",
            BinaryMarkers(
                numpy_target="1.23",
                numpy_abi="2.x",
                pybind11_abi="v11_system_libstdcpp_gxx_abi_1xxx_use_cxx11_abi_1",
            ),
            id="scipy-pybind11",
        ),
    ],
)
def test_real_wheel_members(wheel: str, member: str, expected: BinaryMarkers, tmp_path: Path) -> None:
    path = _member(wheel, member, tmp_path)
    assert read_markers(path) == expected
    assert parse_markers(path.read_bytes()) == expected
