"""DepURLs (PEP 725): ``dep:type/namespace/name@version?qualifiers#subpath``, and external
dependency specifiers (a DepURL followed by an optional PEP 508 environment marker after ``;``).

A DepURL is a Package URL (the purl specification) with the scheme ``dep:`` and two differences:
the ``virtual`` type (namespaces ``compiler`` and ``interface``), and a version that may be a
range built only from ``>=``, ``>``, ``<``, ``<=``, ``==`` joined by ``,`` (PEP 725, "Specification").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import quote, unquote

from packaging.markers import InvalidMarker, Marker
from packaging.version import InvalidVersion, Version

from native_doctor._text import quoted, shorten
from native_doctor.errors import InvalidExternalMetadata

__all__ = ["DepURL", "ExternalDependency", "old_draft_spelling", "parse_depurl", "parse_specifier"]

SCHEME = "dep:"
#: purl: "The type is composed only of ASCII letters and numbers, '.', '+' and '-'"; not starting
#: with a number. Canonical form is lowercase.
_TYPE = re.compile(r"^[A-Za-z.+-][A-Za-z0-9.+-]*$")
#: purl: qualifier keys are ASCII letters, numbers, '.', '-' and '_', not starting with a number.
_QUALIFIER_KEY = re.compile(r"^[A-Za-z.\-_][A-Za-z0-9.\-_]*$")
#: PEP 725: only these operators may appear in a version range.
_CLAUSE = re.compile(r"^\s*(>=|<=|==|>|<)?\s*([^\s<>=!~,]+)\s*$")
_SAFE = "~-._+:"  # kept readable when a name or namespace is written back
#: Operators PEP 725 forbids in a version range, longest first (``===`` before ``==``-like checks).
_FORBIDDEN_OPERATORS = ("===", "~=", "!=")
#: The draft of PEP 725 before its "version 3" (Sept. 2025) spelled DepURLs ``pkg:type/name`` and
#: ``virtual:compiler/c``; SageMath and passagemath still use it.
_OLD_DRAFT = re.compile(r"^\s*(pkg|virtual):(.*)$", re.IGNORECASE | re.DOTALL)


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class DepURL:
    """A parsed DepURL. ``namespace`` keeps its ``/``-separated segments (``github.com/org``)."""

    type: str
    name: str
    namespace: str | None = None
    #: The version or range exactly as written after ``@`` (``">=3.7.1"``, ``"2.0"``), or None.
    version: str | None = None
    qualifiers: Mapping[str, str] = field(default_factory=_empty)
    subpath: str | None = None

    @property
    def id(self) -> str:
        """The DepURL without version, qualifiers or subpath: what registries and mappings key on."""
        namespace = f"{quote(self.namespace, safe=_SAFE + '/')}/" if self.namespace else ""
        return f"{SCHEME}{self.type}/{namespace}{quote(self.name, safe=_SAFE)}"

    @property
    def is_virtual(self) -> bool:
        """True for ``dep:virtual/...`` (compilers and interfaces, not concrete packages)."""
        return self.type == "virtual"

    def __str__(self) -> str:
        text = self.id
        if self.version is not None:
            text += f"@{quote(self.version, safe=_SAFE + '<>=,')}"
        if self.qualifiers:
            text += "?" + "&".join(
                f"{k}={quote(v, safe=_SAFE + '/')}" for k, v in sorted(self.qualifiers.items())
            )
        if self.subpath:
            text += f"#{quote(self.subpath, safe=_SAFE + '/')}"
        return text

    def __hash__(self) -> int:
        return hash(
            (
                self.type,
                self.name,
                self.namespace,
                self.version,
                frozenset(self.qualifiers.items()),
                self.subpath,
            )
        )

    def version_clauses(self) -> tuple[tuple[str, Version], ...]:
        """The version constraint as (operator, version) pairs; a bare version means ``==``."""
        if self.version is None:
            return ()
        return tuple(_clause(part) for part in self.version.split(","))


@dataclass(frozen=True, slots=True)
class ExternalDependency:
    """One entry of an ``[external]`` array: a DepURL and an optional environment marker."""

    url: DepURL
    marker: Marker | None = None
    #: Where the entry came from (``external.host-requires[1]``), for messages.
    where: str | None = None

    def applies(self, environment: Mapping[str, str] | None = None) -> bool:
        """Whether the marker holds in ``environment`` (default: this interpreter's)."""
        return (
            True if self.marker is None else self.marker.evaluate(dict(environment) if environment else None)
        )

    def __str__(self) -> str:
        return f"{self.url}; {self.marker}" if self.marker is not None else str(self.url)


def parse_specifier(text: str, *, where: str | None = None) -> ExternalDependency:
    """Parse ``"dep:generic/openssl@>=3; sys_platform == 'linux'"``.

    :raises InvalidExternalMetadata: a malformed DepURL or marker.
    """
    if not isinstance(text, str):
        raise InvalidExternalMetadata(
            f"an external dependency must be a string, not {type(text).__name__}", where=where
        )
    url_text, sep, marker_text = text.partition(";")
    marker = None
    if sep:
        try:
            marker = Marker(marker_text.strip())
        except InvalidMarker as exc:
            raise InvalidExternalMetadata(
                f"invalid environment marker in {quoted(text)}: {shorten(str(exc))}", where=where
            ) from None
    return ExternalDependency(parse_depurl(url_text.strip(), where=where), marker, where)


def parse_depurl(text: str, *, where: str | None = None) -> DepURL:
    """Parse one DepURL.

    :raises InvalidExternalMetadata: not of the form ``dep:type/[namespace/]name[@version][?q][#s]``,
        or a version range with an operator PEP 725 does not allow.
    """

    def fail(reason: str) -> InvalidExternalMetadata:
        return InvalidExternalMetadata(f"invalid DepURL {quoted(text)}: {reason}", where=where)

    if not isinstance(text, str):
        raise InvalidExternalMetadata(f"a DepURL must be a string, not {type(text).__name__}", where=where)
    upgraded = old_draft_spelling(text)
    if upgraded is not None:
        raise fail(f"this is the old draft syntax of PEP 725 (before version 3); write {quoted(upgraded)}")
    if not text.lower().startswith(SCHEME):
        raise fail("must start with 'dep:'")
    rest, _, subpath = text[len(SCHEME) :].partition("#")
    rest, _, query = rest.partition("?")
    rest = rest.strip("/")
    path, at, version = rest.rpartition("@") if "@" in rest else (rest, "", "")
    segments = [unquote(s) for s in path.split("/") if s]
    if "/" in version:
        raise fail("'@' in a namespace or name must be percent-encoded as %40")
    if len(segments) < 2:
        raise fail("needs at least a type and a name (dep:type/name)")
    kind = segments[0].lower()
    if not _TYPE.match(kind):
        raise fail(f"type {quoted(segments[0])} may only hold letters, digits, '.', '+' and '-'")
    name = segments[-1]
    namespace = "/".join(segments[1:-1]) or None
    if any(segment.startswith("-") for segment in segments[1:]):
        raise fail("a namespace or name may not start with '-' (it would be read as a command-line option)")
    if kind == "virtual" and (namespace not in {"compiler", "interface"} or len(segments) != 3):
        raise fail("virtual DepURLs are dep:virtual/compiler/<name> or dep:virtual/interface/<name>")
    url = DepURL(
        type=kind,
        name=name,
        namespace=namespace,
        version=unquote(version) if at else None,
        qualifiers=_qualifiers(query, fail),
        subpath=unquote(subpath).strip("/") or None,
    )
    if at and not version:
        raise fail("'@' must be followed by a version")
    try:
        url.version_clauses()
    except ValueError as exc:
        raise fail(str(exc)) from None
    return url


def old_draft_spelling(text: str) -> str | None:
    """The ``dep:`` spelling of a DepURL written in PEP 725's pre-version-3 draft syntax, else None.

    ``pkg:generic/gmp`` becomes ``dep:generic/gmp`` and ``virtual:compiler/c`` becomes
    ``dep:virtual/compiler/c``; anything else (including a ``dep:`` URL) gives None.
    """
    match = _OLD_DRAFT.match(text)
    if match is None:
        return None
    scheme, rest = match.group(1).lower(), match.group(2).strip().lstrip("/")
    return f"{SCHEME}virtual/{rest}" if scheme == "virtual" else f"{SCHEME}{rest}"


def _qualifiers(query: str, fail: Callable[[str], InvalidExternalMetadata]) -> Mapping[str, str]:
    result: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        key, sep, value = pair.partition("=")
        if not sep or not _QUALIFIER_KEY.match(key) or not value:
            raise fail(f"qualifier {quoted(pair)} is not key=value")
        if key.lower() in result:
            raise fail(f"qualifier {quoted(key)} appears twice")
        result[key.lower()] = unquote(value)
    return MappingProxyType(result)


def _clause(part: str) -> tuple[str, Version]:
    stripped = part.strip()
    if not stripped:
        raise ValueError("empty version constraint (a stray ',')")
    forbidden = next((op for op in _FORBIDDEN_OPERATORS if stripped.startswith(op)), None)
    if forbidden is not None:
        raise ValueError(
            f"version constraint {quoted(stripped)}: PEP 725 does not allow {forbidden!r} "
            "(only >=, >, <, <=, == joined by ',')"
        )
    match = _CLAUSE.match(part)
    if match is None:
        raise ValueError(
            f"version constraint {quoted(stripped)} is not an operator (>=, >, <, <=, ==) and a version"
        )
    operator, text = match.group(1) or "==", match.group(2)
    if "*" in text:
        raise ValueError(f"version {quoted(text)}: wildcards are not allowed")
    try:
        return operator, Version(text)
    except InvalidVersion:
        raise ValueError(f"{quoted(text)} is not a PEP 440 version") from None
