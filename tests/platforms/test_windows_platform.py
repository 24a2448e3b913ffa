"""Unit tests for native_doctor.platforms.windows."""

from __future__ import annotations

import pytest

from native_doctor.platforms import windows


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("KERNEL32.dll", True, id="kernel32"),
        pytest.param("kernel32.DLL", True, id="case-insensitive"),
        pytest.param("USER32.dll", True, id="user32"),
        pytest.param("ADVAPI32.dll", True, id="advapi32"),
        pytest.param("WS2_32.dll", True, id="winsock"),
        pytest.param("ntdll.dll", True, id="ntdll"),
        pytest.param("ucrtbase.dll", True, id="ucrtbase"),
        pytest.param("msvcrt.dll", True, id="msvcrt-present-everywhere"),
        pytest.param("api-ms-win-crt-runtime-l1-1-0.dll", True, id="api-set-crt"),
        pytest.param("API-MS-WIN-CORE-SYNCH-L1-2-0.DLL", True, id="api-set-upper"),
        pytest.param("ext-ms-win-ntuser-window-l1-1-0.dll", True, id="ext-api-set"),
        pytest.param("d3d11.dll", True, id="d3d11"),
        pytest.param("xinput1_4.dll", True, id="xinput1_4-inbox"),
        pytest.param("D3DCOMPILER_47.dll", True, id="d3dcompiler_47-inbox"),
        pytest.param("WINSPOOL.DRV", True, id="drv"),
        pytest.param("webservices.dll", True, id="webservices-from-wine"),
        pytest.param("KERNELBASE.dll", True, id="kernelbase-from-wine"),
        pytest.param("combase.dll", True, id="combase-from-wine"),
        pytest.param("wined3d.dll", False, id="wine-own-module"),
        pytest.param("vulkan-1.dll", False, id="vulkan-loader-from-gpu-driver"),
        pytest.param("OpenCL.dll", False, id="opencl-from-gpu-driver"),
        pytest.param("vcomp140.dll", False, id="openmp-redist"),
        pytest.param("atl110.dll", False, id="atl-redist"),
        pytest.param("msxml4.dll", False, id="msxml4-separate-install"),
        pytest.param("vcruntime140.dll", False, id="vcruntime-redist"),
        pytest.param("VCRUNTIME140_1.dll", False, id="vcruntime_1-redist"),
        pytest.param("msvcp140.dll", False, id="msvcp140-redist"),
        pytest.param("MSVCR90.dll", False, id="msvcr90-redist"),
        pytest.param("msvcr120d.dll", False, id="debug-crt"),
        pytest.param("libwinpthread-1.dll", False, id="mingw-runtime"),
        pytest.param("libgcc_s_seh-1.dll", False, id="mingw-libgcc"),
        pytest.param("d3dx9_43.dll", False, id="directx-sdk-redist"),
        pytest.param("xinput1_3.dll", False, id="xinput1_3-redist"),
        pytest.param("ntoskrnl.exe", False, id="kernel-mode"),
        pytest.param("python311.dll", False, id="python"),
        pytest.param("libssl-3-x64.dll", False, id="openssl"),
    ],
)
def test_is_system_dll(name: str, expected: bool) -> None:
    assert windows.is_system_dll(name) is expected


@pytest.mark.parametrize("arch", ["x86_64", "x86", "arm64", "AMD64", "i686", "aarch64", None])
def test_is_system_dll_with_arch(arch: str | None) -> None:
    assert windows.is_system_dll("KERNEL32.dll", arch)
    assert not windows.is_system_dll("vcruntime140.dll", arch)


def test_is_system_dll_unknown_arch_is_not_an_error() -> None:
    assert windows.is_system_dll("KERNEL32.dll", "unknown-452")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("python3.dll", True, id="stable-abi"),
        pytest.param("python311.dll", True, id="python311"),
        pytest.param("PYTHON312.DLL", True, id="upper"),
        pytest.param("python313t.dll", True, id="free-threaded"),
        pytest.param("python311_d.dll", True, id="debug"),
        pytest.param("python27.dll", True, id="python2"),
        pytest.param("libpython3.11.dll", True, id="mingw"),
        pytest.param("libpython3.dll", True, id="mingw-stable"),
        pytest.param("libpython3.13t.dll", True, id="mingw-free-threaded"),
        pytest.param("pythoncom311.dll", False, id="pywin32"),
        pytest.param("python311.lib", False, id="import-lib"),
        pytest.param("mypython311.dll", False, id="prefix"),
        pytest.param("python3111.dll", False, id="three-digit-minor"),
    ],
)
def test_is_python_dll(name: str, expected: bool) -> None:
    assert windows.is_python_dll(name) is expected


@pytest.mark.parametrize(
    ("name", "arch", "python", "expected"),
    [
        pytest.param("vcruntime140.dll", None, None, True, id="vcruntime"),
        pytest.param("VCRUNTIME140.dll", "x86", (3, 6), True, id="vcruntime-x86"),
        pytest.param("vcruntime140_1.dll", None, None, True, id="vcruntime_1"),
        pytest.param("vcruntime140_1.dll", "x86_64", (3, 8), True, id="vcruntime_1-x64-3.8"),
        pytest.param("vcruntime140_1.dll", "arm64", (3, 12), True, id="vcruntime_1-arm64"),
        pytest.param("vcruntime140_1.dll", "x86", (3, 12), False, id="vcruntime_1-not-x86"),
        pytest.param("vcruntime140_1.dll", "x86_64", (3, 7), False, id="vcruntime_1-too-old"),
        pytest.param("msvcp140.dll", None, None, False, id="msvcp140"),
        pytest.param("KERNEL32.dll", None, None, False, id="system"),
    ],
)
def test_is_provided_by_python(
    name: str, arch: str | None, python: tuple[int, int] | None, expected: bool
) -> None:
    assert windows.is_provided_by_python(name, arch=arch, python=python) is expected


@pytest.mark.parametrize(
    ("arch", "tag"),
    [
        pytest.param("x86_64", "win_amd64", id="x86_64"),
        pytest.param("AMD64", "win_amd64", id="AMD64"),
        pytest.param("x86", "win32", id="x86"),
        pytest.param("i686", "win32", id="i686"),
        pytest.param("arm64", "win_arm64", id="arm64"),
        pytest.param("aarch64", "win_arm64", id="aarch64"),
    ],
)
def test_windows_tag(arch: str, tag: str) -> None:
    assert windows.windows_tag(arch) == tag
    assert windows.normalize_arch(windows.parse_windows_platform_tag(tag) or "") == windows.normalize_arch(
        arch
    )


def test_windows_tag_unknown() -> None:
    with pytest.raises(ValueError, match="no Windows platform tag"):
        windows.windows_tag("ia64")


@pytest.mark.parametrize(
    ("tag", "arch"),
    [
        pytest.param("win_amd64", "x86_64", id="amd64"),
        pytest.param("win32", "x86", id="win32"),
        pytest.param("win_arm64", "arm64", id="arm64"),
        pytest.param("win_ia64", None, id="ia64"),
        pytest.param("WIN_AMD64", None, id="case-sensitive"),
        pytest.param("linux_x86_64", None, id="linux"),
    ],
)
def test_parse_windows_platform_tag(tag: str, arch: str | None) -> None:
    assert windows.parse_windows_platform_tag(tag) == arch
