"""The SBOM model the renderers share: components, and which component needs which."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Component", "Role", "Sbom"]


class Role(StrEnum):
    """What a component is in the artifact."""

    DISTRIBUTION = "distribution"  # the wheel or installed distribution (pkg:pypi)
    VENDORED = "vendored-library"  # a shared library copied in (by a repair tool or the build)
    EMBEDDED = "statically-linked"  # an upstream library found linked into another binary
    BINARY = "binary"  # the package's own extension module or executable


@dataclass(frozen=True, slots=True)
class Component:
    """One thing shipped: a distribution, a native file, or a library linked into one."""

    ref: str
    role: Role
    name: str
    version: str | None
    purl: str | None
    cpe: str | None = None
    license: str | None = None
    sha256: str | None = None
    #: The path inside the wheel (or relative to site-packages).
    path: str | None = None
    #: ``(name, value)`` pairs, ``native-doctor:``-prefixed: evidence, SONAME, ...
    properties: tuple[tuple[str, str], ...] = ()
    #: The component this one is part of (a file's distribution; an embedded library's file).
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class Sbom:
    """Components of one or more artifacts, with the dependency graph."""

    #: Name of what the document describes (a wheel file name, or ``environment <dir>``).
    subject: str
    components: tuple[Component, ...]
    #: ``ref -> refs it needs`` (DT_NEEDED / load commands / import table, resolved in the artifact).
    dependencies: tuple[tuple[str, tuple[str, ...]], ...]
    #: Refs of the top-level components (the distributions).
    roots: tuple[str, ...]
    #: native-doctor's version, for the document's tool entry.
    tool_version: str
