"""Installed distributions' requirements (``Requires-Dist``) against what is installed: pure.

Markers are evaluated for the examined interpreter (its Python version and implementation; the
rest from the running one); requirements of extras are not counted (nobody asked for them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from packaging.markers import Marker, default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

if TYPE_CHECKING:
    from native_doctor.environment import EnvironmentInspection
    from native_doctor.sources.env import DiskState

__all__ = ["matching_requirement", "unmet_requirements"]


def _marker_environment(env: EnvironmentInspection) -> dict[str, str]:
    """PEP 508 marker values of the examined interpreter (the running one's, with the examined
    interpreter's Python version and implementation)."""
    values: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    version = env.host.python_version
    if version:
        values["python_full_version"] = version
        values["python_version"] = ".".join(version.split(".")[:2])
    if env.host.python_implementation:
        values["platform_python_implementation"] = env.host.python_implementation
        values["implementation_name"] = env.host.python_implementation.lower()
    values["extra"] = ""
    return values


def _applies(requirement: Requirement, values: Mapping[str, str]) -> bool:
    marker: Marker | None = requirement.marker
    if marker is None:
        return True
    try:
        return bool(marker.evaluate(dict(values)))
    except Exception:  # an unknown marker variable or operator: not evaluable
        return False


def matching_requirement(env: EnvironmentInspection, lines: Iterable[str], name: str) -> str | None:
    """The first ``Requires-Dist`` line on ``name`` whose markers hold for the examined
    interpreter (extras not requested), or None."""
    wanted = canonicalize_name(name)
    values = _marker_environment(env)
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) == wanted and _applies(requirement, values):
            return line
    return None


def unmet_requirements(env: EnvironmentInspection) -> Iterator[tuple[DiskState, str, str, str | None]]:
    """(distribution, requirement line, required name, installed version or None) for every
    requirement whose markers hold and that the installed versions do not satisfy."""
    versions = {str(canonicalize_name(k)): v for k, v in env.versions.items()}
    values = _marker_environment(env)
    for state in env.installed:
        for line in state.requires_dist:
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            if not _applies(requirement, values):
                continue
            name = str(canonicalize_name(requirement.name))
            installed = versions.get(name)
            if installed is None:
                yield state, line, name, None
                continue
            try:
                ok = requirement.specifier.contains(Version(installed), prereleases=True)
            except InvalidVersion:
                continue
            if not ok:
                yield state, line, name, installed
