"""Which C runtime and which compiler runtime DLLs a PE file's imports reveal."""

from __future__ import annotations

import pytest

from native_doctor.platforms.windows import c_runtime, runtime_family


@pytest.mark.parametrize(
    ("needed", "expected"),
    [
        pytest.param(["KERNEL32.dll", "api-ms-win-crt-runtime-l1-1-0.dll"], "ucrt", id="ucrt-api-sets"),
        pytest.param(["ucrtbase.dll"], "ucrt", id="ucrtbase"),
        pytest.param(["KERNEL32.dll", "msvcrt.dll"], "msvcrt", id="mingw-default-msvcrt"),
        pytest.param(["MSVCR90.dll"], "msvcr90", id="vs2008-crt"),
        pytest.param(
            ["api-ms-win-crt-heap-l1-1-0.dll", "msvcrt.dll"], "msvcrt", id="mixed-names-the-old-crt"
        ),
        pytest.param(["KERNEL32.dll"], None, id="no-crt"),
    ],
)
def test_c_runtime(needed: list[str], expected: str | None) -> None:
    assert c_runtime(needed) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("VCRUNTIME140.dll", "msvc", id="vcruntime"),
        pytest.param("vcruntime140_1.dll", "msvc", id="vcruntime-1"),
        pytest.param("msvcp140.dll", "msvc", id="msvcp"),
        pytest.param("msvcp140-a4c2229bdc2a2a630acdc095b4d86008.dll", "msvc", id="delvewheel-mangled"),
        pytest.param("vcomp140.dll", "msvc", id="openmp-msvc"),
        pytest.param("libgcc_s_seh-1.dll", "mingw", id="libgcc-seh"),
        pytest.param("libstdc++-6.dll", "mingw", id="libstdcxx"),
        pytest.param("libwinpthread-1.dll", "mingw", id="winpthread"),
        pytest.param("libgfortran-5.dll", "mingw", id="gfortran"),
        pytest.param("libgomp-1.dll", "mingw", id="gomp"),
        pytest.param("KERNEL32.dll", None, id="system"),
        pytest.param("libopenblas.dll", None, id="other"),
    ],
)
def test_runtime_family(name: str, expected: str | None) -> None:
    assert runtime_family(name) == expected
