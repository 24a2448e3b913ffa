"""macOS platform facts: which install names the OS provides, and ``macosx_*`` platform tags.

Tag versions follow what pip (via ``packaging.tags.mac_platforms``) accepts: ``macosx_10_<minor>``
before macOS 11, and ``macosx_<major>_0`` from macOS 11 on - pip never generates a non-zero minor
for 11+, so a binary whose minimum is 12.3 is tagged ``macosx_12_0`` (a tag ``macosx_12_3`` could
never be installed); the 12.3 requirement itself is for a separate check to report.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Final

from native_doctor.errors import PolicyDataError
from native_doctor.platforms._data import expect_mapping, expect_str, expect_str_list, load_data

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "default_min_os",
    "is_system_library",
    "macos_tag",
    "parse_macos_platform_tag",
    "parse_macos_version",
    "system_library_problem",
]

_ARM64_FLOOR: Final = (11, 0)
_INTEL_DEFAULT: Final = (10, 9)
_ARM_ARCHS: Final = frozenset({"arm64", "arm64e"})
#: Multi-architecture names pip knows (packaging.tags._mac_binary_formats), by architecture set.
_FAT_NAMES: Final[dict[frozenset[str], str]] = {
    frozenset({"x86_64", "arm64"}): "universal2",
    frozenset({"i386", "x86_64"}): "intel",
    frozenset({"i386", "ppc"}): "fat",
    frozenset({"x86_64", "ppc64"}): "fat64",
    frozenset({"x86_64", "i386", "ppc"}): "fat32",
}
_TAG_RE: Final = re.compile(r"macosx_(\d+)_(\d+)_([a-z0-9_]+)")
_VERSION_RE: Final = re.compile(r"(\d+)(?:\.(\d+))?(?:\.\d+)?")


def is_system_library(install_name: str) -> bool:
    """Whether macOS itself provides ``install_name`` (``/usr/lib/...``, ``/System/Library/...``).

    ``/usr/local/lib`` is not the system, nor are ``@rpath``/``@loader_path`` names, and the few
    OS paths listed as unreliable in ``macos.json`` (``/usr/lib/libstdc++.6.dylib``) are not either.
    """
    data = _load()
    if install_name in data.unreliable:
        return False
    return install_name.startswith(data.prefixes)


def system_library_problem(install_name: str) -> str | None:
    """Why an OS install name cannot be relied on (from ``macos.json``), or None."""
    return _load().unreliable.get(install_name)


def parse_macos_version(text: str) -> tuple[int, int]:
    """``"10.9"`` -> (10, 9); ``"11"`` -> (11, 0); ``"12.3.1"`` -> (12, 3). Raises ValueError."""
    match = _VERSION_RE.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a macOS version: {text!r}")
    return int(match.group(1)), int(match.group(2) or 0)


def default_min_os(arch: str) -> tuple[int, int]:
    """The minimum macOS assumed for a slice that records none: 11.0 for arm64, else 10.9."""
    return _ARM64_FLOOR if arch in _ARM_ARCHS else _INTEL_DEFAULT


def macos_tag(slices: Iterable[tuple[str, str | None]]) -> str:
    """The platform tag for a binary with ``slices`` of (arch, min_os): ``macosx_10_9_universal2``.

    The version is the highest slice minimum, where an arm64 slice counts as at least 11.0 but
    only raises the version when its own minimum is above 11.0 (pip accepts a universal2 wheel
    tagged for the x86_64 minimum on arm64 Macs, all of which run 11.0+). From macOS 11 on the
    minor is dropped (see the module docstring). Raises ValueError for no slices or a bad version.
    """
    pairs = [(arch, parse_macos_version(v) if v else default_min_os(arch)) for arch, v in slices]
    if not pairs:
        raise ValueError("a macOS tag needs at least one architecture")
    intel = [version for arch, version in pairs if arch not in _ARM_ARCHS]
    arm = [max(version, _ARM64_FLOOR) for arch, version in pairs if arch in _ARM_ARCHS]
    version = max(intel) if intel else _ARM64_FLOOR
    if arm and max(arm) > _ARM64_FLOOR:
        version = max(version, *arm)
    return f"macosx_{_format_version(version)}_{_arch_name(arch for arch, _ in pairs)}"


def parse_macos_platform_tag(tag: str) -> tuple[tuple[int, int], str] | None:
    """``macosx_11_0_arm64`` -> ((11, 0), "arm64"); anything else -> None."""
    match = _TAG_RE.fullmatch(tag)
    if match is None:
        return None
    major, minor, arch = match.groups()
    return (int(major), int(minor)), arch


def _format_version(version: tuple[int, int]) -> str:
    """``(10, 9)`` -> ``10_9``; ``(12, 3)`` -> ``12_0`` (pip's form for 11+)."""
    major, minor = version
    return f"{major}_0" if major >= 11 else f"{major}_{minor}"


def _arch_name(archs: Iterable[str]) -> str:
    """The tag's architecture part: the one arch, or the fat-binary name pip knows."""
    unique = frozenset(archs)
    if len(unique) == 1:
        return next(iter(unique))
    return _FAT_NAMES.get(unique, "universal")


class _MacosData:
    """The validated contents of ``macos.json``."""

    __slots__ = ("prefixes", "unreliable")

    def __init__(self, prefixes: tuple[str, ...], unreliable: Mapping[str, str]) -> None:
        self.prefixes = prefixes
        self.unreliable = unreliable


@functools.cache
def _load() -> _MacosData:
    """Load ``macos.json`` once."""
    return build_macos_data(load_data("macos"), where="macos.json")


def build_macos_data(document: Mapping[str, object], *, where: str) -> _MacosData:
    """Validate a macos.json document; raises :class:`PolicyDataError` when malformed."""
    prefixes = expect_str_list(document.get("system_prefixes"), f"{where}: system_prefixes")
    if not prefixes or not all(p.startswith("/") and p.endswith("/") for p in prefixes):
        raise PolicyDataError(f"{where}: system_prefixes must be absolute directories ending in '/'")
    raw = expect_mapping(document.get("unreliable"), f"{where}: unreliable")
    unreliable = {name: expect_str(reason, f"{where}: unreliable[{name}]") for name, reason in raw.items()}
    return _MacosData(prefixes, unreliable)
