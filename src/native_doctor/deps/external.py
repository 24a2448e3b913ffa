"""The PEP 725 ``[external]`` table: read it from pyproject.toml or from core metadata, validate it,
and select the dependencies a build or an installation needs.

Validation follows the PEP: only its seven keys may appear, and malformed metadata is an error.
Every problem in a table is collected, so one :class:`InvalidExternalMetadata` lists them all,
each with its location (``external.host-requires[2]``). ``dependency-groups`` follow PEP 735:
names are normalized, ``{include-group = "..."}`` entries are expanded, and unknown or circular
inclusions are errors.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from native_doctor._documents import loads_toml
from native_doctor.deps.depurl import ExternalDependency, parse_specifier
from native_doctor.errors import InvalidExternalMetadata
from native_doctor.sources._headers import parse_headers

__all__ = [
    "KEYS",
    "ExternalTable",
    "all_dependencies",
    "normalize_name",
    "parse_external",
    "read_metadata",
    "read_pyproject",
]

Deps: TypeAlias = tuple[ExternalDependency, ...]
Groups: TypeAlias = Mapping[str, Deps]
Category: TypeAlias = Literal["build", "host", "run"]

_ARRAY_KEYS = ("build-requires", "host-requires", "dependencies")
_TABLE_KEYS = ("optional-build-requires", "optional-host-requires", "optional-dependencies")
_GROUPS_KEY = "dependency-groups"
#: The keys PEP 725 defines for ``[external]``, in the PEP's order.
KEYS = (*_ARRAY_KEYS, *_TABLE_KEYS, _GROUPS_KEY)
#: Names the prototypes used for a while; an unknown key that is one of these gets a hint.
_RENAMED = {"build-host-requires": "host-requires", "optional-build-host-requires": "optional-host-requires"}
#: PEP 508 names (extras, PEP 735 group names), before normalization.
_NAME = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")
#: ``extra == 'name'`` (either order, either quote) as one conjunct of a marker.
_EXTRA_CLAUSE = re.compile(
    r"""^\(?\s*(?:extra\s*==\s*(['"])(?P<a>[^'"]*)\1|(['"])(?P<b>[^'"]*)\3\s*==\s*extra)\s*\)?$"""
)
_QUOTED = re.compile(r"""'[^']*'|"[^"]*\"""")
_EXTRA_WORD = re.compile(r"\bextra\b")


def _frozen(mapping: Mapping[str, Deps] | None = None) -> Groups:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class ExternalTable:
    """A validated ``[external]`` table.

    Names of optional sections and dependency groups are normalized (``normalize_name``);
    ``dependency_groups`` has its ``include-group`` entries already expanded, in place.
    ``source`` names where the table came from (a path, ``METADATA``), for messages.
    """

    build_requires: Deps = ()
    host_requires: Deps = ()
    dependencies: Deps = ()
    optional_build_requires: Groups = field(default_factory=_frozen, hash=False)
    optional_host_requires: Groups = field(default_factory=_frozen, hash=False)
    optional_dependencies: Groups = field(default_factory=_frozen, hash=False)
    dependency_groups: Groups = field(default_factory=_frozen, hash=False)
    source: str = ""

    @property
    def extras(self) -> tuple[str, ...]:
        """Every name used by one of the three optional sections, sorted."""
        names = {*self.optional_build_requires, *self.optional_host_requires, *self.optional_dependencies}
        return tuple(sorted(names))

    @property
    def is_empty(self) -> bool:
        """True for a table that declares nothing at all (``[external]`` with no keys)."""
        return not any(self._sections())

    def _sections(self) -> Iterator[object]:
        yield from (self.build_requires, self.host_requires, self.dependencies)
        yield from (self.optional_build_requires, self.optional_host_requires)
        yield from (self.optional_dependencies, self.dependency_groups)


def normalize_name(name: str) -> str:
    """PEP 503 normalization, used for extras (PEP 685) and dependency groups (PEP 735)."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --- pyproject.toml ---------------------------------------------------------------------------------


class _Problems:
    """Collects problems with their locations, to report them all in one error."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.messages.append(f"{where}: {message}")

    def add_error(self, error: InvalidExternalMetadata) -> None:
        self.messages.append(str(error))

    def raise_if_any(self, source: str, what: str) -> None:
        if not self.messages:
            return
        count = len(self.messages)
        head = f"{what} has {count} problem{'s' if count > 1 else ''}:"
        raise InvalidExternalMetadata("\n  ".join([head, *self.messages]), where=source or None)


def parse_external(table: Mapping[str, Any], *, source: str) -> ExternalTable:
    """Validate the contents of an ``[external]`` table (as read by :mod:`tomllib`).

    :raises InvalidExternalMetadata: listing every problem found, each with its location.
    """
    problems = _Problems()
    _require_table(table, source)
    for key in table:
        if key not in KEYS:
            problems.add(f"external.{key}", _unknown_key_message(key))
    arrays = {key: _array(table.get(key, []), f"external.{key}", problems) for key in _ARRAY_KEYS}
    tables = {key: _table_of_arrays(table.get(key, {}), key, problems) for key in _TABLE_KEYS}
    groups = _dependency_groups(table.get(_GROUPS_KEY, {}), problems)
    problems.raise_if_any(source, "[external]")
    return ExternalTable(
        build_requires=arrays["build-requires"],
        host_requires=arrays["host-requires"],
        dependencies=arrays["dependencies"],
        optional_build_requires=tables["optional-build-requires"],
        optional_host_requires=tables["optional-host-requires"],
        optional_dependencies=tables["optional-dependencies"],
        dependency_groups=groups,
        source=source,
    )


def read_pyproject(path: Path) -> ExternalTable | None:
    """The ``[external]`` table of the pyproject.toml at ``path``, or None when it has none.

    :raises InvalidExternalMetadata: unreadable file, invalid TOML (with its line), or an invalid table.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidExternalMetadata(f"cannot read: {exc}", where=str(path)) from None
    try:
        document = loads_toml(text)
    except tomllib.TOMLDecodeError as exc:
        where = f"{path}, line {_error_line(exc, text)}"
        raise InvalidExternalMetadata(f"invalid TOML: {exc}", where=where) from None
    if "external" not in document:
        return None
    return parse_external(document["external"], source=str(path))


def _error_line(error: tomllib.TOMLDecodeError, text: str) -> int:
    """The line a TOML error is on (Python 3.11's ``tomllib`` only says it in the message)."""
    match = re.search(r"at line (\d+)", str(error))
    return int(match.group(1)) if match else len(text.splitlines()) or 1


def _require_table(value: object, source: str) -> None:
    if not isinstance(value, Mapping):
        message = f"[external] must be a table, not {_kind(value)}"
        raise InvalidExternalMetadata(message, where=source or None)


def _unknown_key_message(key: str) -> str:
    hint = _RENAMED.get(key)
    known = ", ".join(KEYS)
    if hint:
        return f"unknown key; {key!r} was a short-lived prototype name, PEP 725 calls it {hint!r}"
    return f"unknown key (PEP 725 defines: {known})"


def _kind(value: object) -> str:
    names = {str: "a string", list: "an array", dict: "a table", bool: "a boolean", int: "an integer"}
    return names.get(type(value), f"a {type(value).__name__}")


def _array(value: object, where: str, problems: _Problems) -> Deps:
    """An array of external dependency specifiers; bad entries are recorded, not returned."""
    if not isinstance(value, list):
        problems.add(where, f"must be an array of strings, not {_kind(value)}")
        return ()
    entries = (_entry(item, f"{where}[{i}]", problems) for i, item in enumerate(value))
    return tuple(dep for dep in entries if dep is not None)


def _entry(item: object, where: str, problems: _Problems) -> ExternalDependency | None:
    if not isinstance(item, str):
        problems.add(where, f"must be a string (an external dependency specifier), not {_kind(item)}")
        return None
    try:
        return parse_specifier(item, where=where)
    except InvalidExternalMetadata as exc:
        problems.add_error(exc)
        return None


def _names(value: Mapping[str, object], key: str, what: str, problems: _Problems) -> dict[str, str]:
    """Normalized name → name as written, recording invalid and clashing names."""
    seen: dict[str, str] = {}
    for name in value:
        normalized = normalize_name(name)
        if not _NAME.match(name):
            problems.add(f"external.{key}.{name}", f"{name!r} is not a valid {what} name")
        elif normalized in seen:
            problems.add(
                f"external.{key}.{name}",
                f"{name!r} and {seen[normalized]!r} are the same {what} once normalized ({normalized!r})",
            )
        else:
            seen[normalized] = name
    return seen


def _table_of_arrays(value: object, key: str, problems: _Problems) -> Groups:
    if not isinstance(value, dict):
        problems.add(f"external.{key}", f"must be a table of arrays, not {_kind(value)}")
        return _frozen()
    names = _names(value, key, "extra", problems)
    # Entries under a bad or clashing name are still checked, so that every problem is reported.
    arrays = {name: _array(items, f"external.{key}.{name}", problems) for name, items in value.items()}
    return _frozen({normalized: arrays[name] for normalized, name in names.items()})


# --- dependency groups (PEP 735) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Include:
    """An ``{include-group = "..."}`` entry, not yet expanded."""

    group: str
    where: str


def _dependency_groups(value: object, problems: _Problems) -> Groups:
    where = f"external.{_GROUPS_KEY}"
    if not isinstance(value, dict):
        problems.add(where, f"must be a table of arrays, not {_kind(value)}")
        return _frozen()
    names = _names(value, _GROUPS_KEY, "dependency group", problems)
    entries = {name: _group_entries(items, f"{where}.{name}", problems) for name, items in value.items()}
    raw = {normalized: entries[name] for normalized, name in names.items()}
    resolved: dict[str, Deps] = {}
    for name in raw:
        resolved[name] = _expand(name, raw, resolved, (), problems)
    return _frozen(resolved)


def _group_entries(value: object, where: str, problems: _Problems) -> list[ExternalDependency | _Include]:
    if not isinstance(value, list):
        problems.add(where, f"must be an array, not {_kind(value)}")
        return []
    entries: list[ExternalDependency | _Include] = []
    for i, item in enumerate(value):
        entry = _group_entry(item, f"{where}[{i}]", problems)
        if entry is not None:
            entries.append(entry)
    return entries


def _group_entry(item: object, where: str, problems: _Problems) -> ExternalDependency | _Include | None:
    if not isinstance(item, dict):
        return _entry(item, where, problems)
    group = item.get("include-group")
    if set(item) != {"include-group"} or not isinstance(group, str):
        problems.add(where, 'a table entry must be exactly {include-group = "<group name>"}')
        return None
    return _Include(normalize_name(group), where)


def _expand(
    name: str,
    raw: Mapping[str, Sequence[ExternalDependency | _Include]],
    resolved: dict[str, Deps],
    stack: tuple[str, ...],
    problems: _Problems,
) -> Deps:
    """The entries of group ``name`` with inclusions expanded (memoized in ``resolved``)."""
    if name in resolved:
        return resolved[name]
    result: list[ExternalDependency] = []
    for entry in raw[name]:
        if isinstance(entry, ExternalDependency):
            result.append(entry)
        elif entry.group not in raw:
            problems.add(entry.where, f"includes unknown dependency group {entry.group!r}")
        elif entry.group in (*stack, name):
            path = (*stack, name)
            cycle = " -> ".join((*path[path.index(entry.group) :], entry.group))
            problems.add(entry.where, f"dependency groups include each other in a cycle: {cycle}")
        else:
            result.extend(_expand(entry.group, raw, resolved, (*stack, name), problems))
    resolved[name] = tuple(result)
    return resolved[name]


# --- core metadata --------------------------------------------------------------------------------------


def read_metadata(text: str, *, source: str) -> ExternalTable:
    """The runtime part of ``[external]`` from a METADATA or PKG-INFO file's headers.

    ``Requires-External-Dep`` entries whose marker is ``extra == '<name>'`` (alone, or joined to the
    rest by ``and``) go to ``optional_dependencies[<name>]`` with that clause removed; the others go
    to ``dependencies``. Every ``Provides-External-Extra`` gets an entry, possibly empty.

    :raises InvalidExternalMetadata: listing every malformed ``Requires-External-Dep``.
    """
    headers = parse_headers(text)
    problems = _Problems()
    base: list[ExternalDependency] = []
    optional: dict[str, list[ExternalDependency]] = {
        normalize_name(extra): [] for extra in headers.get_all("Provides-External-Extra")
    }
    for i, value in enumerate(headers.get_all("Requires-External-Dep")):
        where = f"Requires-External-Dep[{i}]"
        try:
            placed = _split_extras(value, where)
        except InvalidExternalMetadata as exc:
            problems.add_error(exc)
            continue
        for extra, dep in placed:
            (base if extra is None else optional.setdefault(extra, [])).append(dep)
    problems.raise_if_any(source, "core metadata")
    return ExternalTable(
        dependencies=tuple(base),
        optional_dependencies=_frozen({name: tuple(deps) for name, deps in optional.items()}),
        source=source,
    )


def _split_extras(value: str, where: str) -> list[tuple[str | None, ExternalDependency]]:
    """Where one ``Requires-External-Dep`` goes: (extra or None, the entry without the extra clause).

    A marker ``A or B`` is split at its top level, so ``extra == 'x' or extra == 'y'`` lands in both.
    """
    url_text, sep, marker_text = value.partition(";")
    if not sep or not _EXTRA_WORD.search(_QUOTED.sub("''", marker_text)):
        return [(None, parse_specifier(value, where=where))]
    placed: list[tuple[str | None, ExternalDependency]] = []
    for disjunct in _split_top(marker_text, "or"):
        extra, rest = _take_extra(disjunct, value, where)
        text = f"{url_text.strip()}; {rest}" if rest else url_text.strip()
        placed.append((extra, parse_specifier(text, where=where)))
    return placed


def _take_extra(marker: str, value: str, where: str) -> tuple[str | None, str]:
    """Split one ``and``-joined marker into its extra (None if it has none) and the other clauses."""
    extras: list[str] = []
    others: list[str] = []
    for conjunct in _split_top(marker, "and"):
        match = _EXTRA_CLAUSE.match(conjunct)
        if match:
            extras.append(normalize_name(match.group("a") or match.group("b") or ""))
        elif _EXTRA_WORD.search(_QUOTED.sub("''", conjunct)):
            extras.append("")  # 'extra' used some other way: cannot tell which extra
        else:
            others.append(conjunct)
    if len(extras) > 1 or "" in extras:
        message = f"cannot tell which extra {value!r} belongs to; use \"<dep>; extra == '<name>'\""
        raise InvalidExternalMetadata(message, where=where)
    return (extras[0] if extras else None), " and ".join(others)


def _split_top(text: str, word: str) -> list[str]:
    """Split ``text`` at each top-level (outside quotes and parentheses) ``word``, dropping outer ()."""
    text = _strip_parens(text.strip())
    parts: list[str] = []
    depth, start, quote, i = 0, 0, "", 0
    pattern = re.compile(rf"\s{word}\s")
    while i < len(text):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "()":
            depth += 1 if char == "(" else -1
        elif depth == 0 and (match := pattern.match(text, i)):
            parts.append(text[start:i].strip())
            start = i = match.end()
            continue
        i += 1
    parts.append(text[start:].strip())
    return parts


def _strip_parens(text: str) -> str:
    """``(a and b)`` → ``a and b``, only when the outer parentheses enclose everything."""
    while text.startswith("(") and text.endswith(")") and _closing(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def _closing(text: str, opening: int) -> int:
    depth, quote = 0, ""
    for i in range(opening, len(text)):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "()":
            depth += 1 if char == "(" else -1
            if depth == 0:
                return i
    return -1


# --- selection ------------------------------------------------------------------------------------------


def all_dependencies(
    table: ExternalTable,
    *,
    category: Category | None = None,
    extras: Iterable[str] = (),
    groups: Iterable[str] = (),
) -> Deps:
    """The dependencies one category needs (all three when ``category`` is None), de-duplicated.

    ``build``: ``build-requires`` plus ``optional-build-requires`` of the selected extras; ``host``:
    ``host-requires`` (+ ``optional-host-requires``); ``run``: ``dependencies`` (+
    ``optional-dependencies``). The selected dependency groups are added whatever the category.
    Extras and groups are matched after normalization; names the table does not use are ignored
    (a Python extra often has no external dependencies). Markers are not evaluated here.
    """
    wanted_extras = [normalize_name(extra) for extra in extras]
    sections = {
        "build": (table.build_requires, table.optional_build_requires),
        "host": (table.host_requires, table.optional_host_requires),
        "run": (table.dependencies, table.optional_dependencies),
    }
    chosen = [category] if category is not None else ["build", "host", "run"]
    found: list[ExternalDependency] = []
    for name in chosen:
        required, optional = sections[name]
        found.extend(required)
        found.extend(_select(optional, wanted_extras))
    found.extend(_select(table.dependency_groups, [normalize_name(group) for group in groups]))
    return _unique(found)


def _select(sections: Groups, wanted: Sequence[str]) -> Iterator[ExternalDependency]:
    """The entries of the ``wanted`` (normalized) names, in that order; keys are compared normalized
    too, in case the table was built by hand rather than by :func:`parse_external`."""
    by_name = {normalize_name(name): deps for name, deps in sections.items()}
    for name in wanted:
        yield from by_name.get(name, ())


def _unique(deps: Iterable[ExternalDependency]) -> Deps:
    seen: dict[str, ExternalDependency] = {}
    for dep in deps:
        seen.setdefault(str(dep), dep)
    return tuple(seen.values())
