"""Unit tests for native_doctor.platforms.macos."""

from __future__ import annotations

import pytest
from packaging.tags import mac_platforms

from native_doctor.platforms import macos


@pytest.mark.parametrize(
    ("install_name", "expected"),
    [
        pytest.param("/usr/lib/libSystem.B.dylib", True, id="libSystem"),
        pytest.param("/usr/lib/libc++.1.dylib", True, id="libcxx"),
        pytest.param("/usr/lib/libz.1.dylib", True, id="libz"),
        pytest.param("/usr/lib/swift/libswiftCore.dylib", True, id="swift"),
        pytest.param(
            "/System/Library/Frameworks/Accelerate.framework/Versions/A/Accelerate", True, id="framework"
        ),
        pytest.param("/usr/local/lib/libgfortran.5.dylib", False, id="usr-local"),
        pytest.param("/opt/homebrew/lib/libomp.dylib", False, id="homebrew"),
        pytest.param("@rpath/libfoo.dylib", False, id="rpath"),
        pytest.param("@loader_path/../libs/libbar.dylib", False, id="loader-path"),
        pytest.param("/usr/lib/libstdc++.6.dylib", False, id="libstdcxx-unreliable"),
        pytest.param("/usr/lib/libstdc++.6.0.9.dylib", False, id="libstdcxx-real-name"),
        pytest.param("/usr/libexec/foo", False, id="usr-libexec"),
        pytest.param("/System/LibraryX/foo", False, id="prefix-lookalike"),
        pytest.param("libfoo.dylib", False, id="bare-name"),
    ],
)
def test_is_system_library(install_name: str, expected: bool) -> None:
    assert macos.is_system_library(install_name) is expected


def test_system_library_problem() -> None:
    assert "libc++" in (macos.system_library_problem("/usr/lib/libstdc++.6.dylib") or "")
    assert macos.system_library_problem("/usr/lib/libSystem.B.dylib") is None


@pytest.mark.parametrize(
    ("slices", "tag"),
    [
        pytest.param([("x86_64", "10.9")], "macosx_10_9_x86_64", id="x86_64"),
        pytest.param([("x86_64", None)], "macosx_10_9_x86_64", id="x86_64-default"),
        pytest.param([("x86_64", "10.15.4")], "macosx_10_15_x86_64", id="x86_64-patch-level"),
        pytest.param([("arm64", "11.0")], "macosx_11_0_arm64", id="arm64"),
        pytest.param([("arm64", None)], "macosx_11_0_arm64", id="arm64-default"),
        pytest.param([("arm64", "10.9")], "macosx_11_0_arm64", id="arm64-floor"),
        pytest.param([("arm64", "12.3")], "macosx_12_0_arm64", id="arm64-minor-dropped"),
        pytest.param([("x86_64", "13")], "macosx_13_0_x86_64", id="major-only"),
        pytest.param([("x86_64", "10.9"), ("arm64", "11.0")], "macosx_10_9_universal2", id="universal2"),
        pytest.param([("x86_64", None), ("arm64", None)], "macosx_10_9_universal2", id="universal2-default"),
        pytest.param(
            [("x86_64", "10.13"), ("arm64", "12.0")], "macosx_12_0_universal2", id="universal2-arm-raises"
        ),
        pytest.param(
            [("x86_64", "14.0"), ("arm64", "11.0")], "macosx_14_0_universal2", id="universal2-intel-raises"
        ),
        pytest.param([("i386", "10.6"), ("x86_64", "10.6")], "macosx_10_6_intel", id="intel"),
        pytest.param([("i386", "10.4"), ("ppc", "10.4")], "macosx_10_4_fat", id="fat"),
        pytest.param([("x86_64", "10.5"), ("ppc64", "10.5")], "macosx_10_5_fat64", id="fat64"),
        pytest.param(
            [("i386", "10.5"), ("x86_64", "10.5"), ("ppc", "10.5")], "macosx_10_5_fat32", id="fat32"
        ),
        pytest.param([("i386", "10.5"), ("arm64", "11.0")], "macosx_10_5_universal", id="other-mix"),
        pytest.param([("x86_64", "10.9"), ("x86_64", "10.12")], "macosx_10_12_x86_64", id="same-arch-twice"),
    ],
)
def test_macos_tag(slices: list[tuple[str, str | None]], tag: str) -> None:
    assert macos.macos_tag(slices) == tag


@pytest.mark.parametrize(
    ("slices", "host", "arch"),
    [
        pytest.param([("arm64", "12.3")], (12, 3), "arm64", id="arm64-12.3-on-12.3"),
        pytest.param([("x86_64", "10.9"), ("arm64", "11.0")], (11, 0), "arm64", id="universal2-on-arm64"),
        pytest.param(
            [("x86_64", "10.9"), ("arm64", "11.0")], (10, 15), "x86_64", id="universal2-on-catalina"
        ),
        pytest.param([("x86_64", "12.3")], (12, 5), "x86_64", id="x86_64-12.3-on-12.5"),
    ],
)
def test_macos_tag_is_installable_by_pip(
    slices: list[tuple[str, str | None]], host: tuple[int, int], arch: str
) -> None:
    assert macos.macos_tag(slices) in set(mac_platforms(host, arch))


def test_macos_tag_errors() -> None:
    with pytest.raises(ValueError, match="at least one"):
        macos.macos_tag([])
    with pytest.raises(ValueError, match="not a macOS version"):
        macos.macos_tag([("x86_64", "ten")])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("10.9", (10, 9), id="10.9"),
        pytest.param("11", (11, 0), id="major"),
        pytest.param("12.3.1", (12, 3), id="patch"),
        pytest.param(" 14.0 ", (14, 0), id="spaces"),
    ],
)
def test_parse_macos_version(text: str, expected: tuple[int, int]) -> None:
    assert macos.parse_macos_version(text) == expected


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        pytest.param("macosx_11_0_arm64", ((11, 0), "arm64"), id="arm64"),
        pytest.param("macosx_10_9_x86_64", ((10, 9), "x86_64"), id="x86_64"),
        pytest.param("macosx_10_9_universal2", ((10, 9), "universal2"), id="universal2"),
        pytest.param("macosx_10_6_intel", ((10, 6), "intel"), id="intel"),
        pytest.param("macosx_11_arm64", None, id="no-minor"),
        pytest.param("manylinux_2_17_x86_64", None, id="linux"),
        pytest.param("ios_13_0_arm64_iphoneos", None, id="ios"),
    ],
)
def test_parse_macos_platform_tag(tag: str, expected: object) -> None:
    assert macos.parse_macos_platform_tag(tag) == expected


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        pytest.param("x86_64", (10, 9), id="x86_64"),
        pytest.param("arm64", (11, 0), id="arm64"),
        pytest.param("i386", (10, 9), id="i386"),
    ],
)
def test_default_min_os(arch: str, expected: tuple[int, int]) -> None:
    assert macos.default_min_os(arch) == expected
