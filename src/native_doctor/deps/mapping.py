"""PEP 804 name mappings: which packages of an ecosystem provide a DepURL, and how to install them.

Two kinds of document, both JSON (shapes from PEP 804 and its reference schemas):

* the central **registry** (``registry.json``): ``definitions[]`` of ``id``, ``description``,
  ``provides`` (aliases and virtual interfaces), ``urls``;
* one **mapping** per ecosystem (``<ecosystem>.mapping.json``): ``name``, ``package_managers[]``
  (install and query command templates with one ``"{}"`` argument, ``specifier_syntax``) and
  ``mappings[]`` (``id`` plus ``specs`` or ``specs_from``).

native-doctor ships its own registry and mappings in ``deps/data``; :func:`load_mapping` reads a
user-supplied document of either kind. Everything is validated when loaded: a malformed document
raises :class:`~native_doctor.errors.InvalidExternalMetadata` naming the offending entry.

``specs`` semantics: a string or a list applies to the build, host and run categories alike; an
object gives them separately, and a category it leaves out needs no package. An empty result
means the ecosystem has nothing to install for that category (not packaged, or not needed);
:func:`packages_for` returns None only when the mapping does not know the DepURL at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, cast

from native_doctor._documents import loads_json
from native_doctor.deps.depurl import DepURL, ExternalDependency, parse_depurl
from native_doctor.errors import InvalidExternalMetadata, UsageError

__all__ = [
    "CATEGORIES",
    "Category",
    "Command",
    "EcosystemMapping",
    "MappingEntry",
    "PackageManager",
    "PackageSpec",
    "Registry",
    "RegistryEntry",
    "SpecifierSyntax",
    "VersionRanges",
    "canonical",
    "detect_ecosystem",
    "ecosystems",
    "get_mapping",
    "install_command",
    "install_commands",
    "load_mapping",
    "packages_for",
    "providers",
    "query_command",
    "registry",
]

Category: TypeAlias = Literal["build", "host", "run"]
CATEGORIES: tuple[Category, ...] = ("build", "host", "run")
MultipleSpecifiers: TypeAlias = Literal["always", "name-only", "never"]
#: A package to install: a bare name, or (name, PEP 725 version range such as ``">=3,<4"`` or None).
PackageSpec: TypeAlias = "str | tuple[str, str | None]"

PLACEHOLDER = "{}"
#: PEP 804: ``[a-z0-9\-_.]+(\+[a-z0-9\-_.]+)?`` (the optional part is the os-release VERSION_ID).
_ECOSYSTEM_ID = re.compile(r"^[a-z0-9\-_.]+(\+[a-z0-9\-_.]+)?$")
_OPERATORS = {
    "==": "equal",
    ">": "greater_than",
    ">=": "greater_than_equal",
    "<": "less_than",
    "<=": "less_than_equal",
}
_MULTIPLE: tuple[MultipleSpecifiers, ...] = ("always", "name-only", "never")


# --------------------------------------------------------------------------------------------
# Registry


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """One ``definitions[]`` item of a registry."""

    id: str
    description: str | None = None
    #: DepURL ids this entry provides: virtual interfaces, or (for an alias) the canonical id.
    provides: tuple[str, ...] = ()
    urls: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def is_canonical(self) -> bool:
        """PEP 804: canonical when ``provides`` names only ``dep:virtual/`` ids (or nothing)."""
        return all(p.startswith("dep:virtual/") for p in self.provides)

    @property
    def alias_of(self) -> str | None:
        """The first non-virtual id in ``provides``: what this alias stands for."""
        return next((p for p in self.provides if not p.startswith("dep:virtual/")), None)


@dataclass(frozen=True, slots=True)
class Registry:
    """A PEP 804 central registry, keyed by DepURL id."""

    entries: Mapping[str, RegistryEntry]
    source: str = "<registry>"

    def __contains__(self, ident: object) -> bool:
        return ident in self.entries

    def canonical(self, url: DepURL) -> DepURL:
        """Follow alias ``provides`` to the canonical id; version, qualifiers and subpath are kept."""
        seen = {url.id}
        current = url
        while (entry := self.entries.get(current.id)) is not None and (target := entry.alias_of):
            if target in seen:  # a cycle: validated away on load, but never loop
                break
            seen.add(target)
            parsed = parse_depurl(target)
            current = replace(current, type=parsed.type, namespace=parsed.namespace, name=parsed.name)
        return current

    def providers(self, url: DepURL) -> tuple[DepURL, ...]:
        """Canonical concrete entries that provide the virtual ``url``, in registry order."""
        if not url.is_virtual:
            return ()
        return tuple(
            parse_depurl(e.id)
            for e in self.entries.values()
            if url.id in e.provides and e.is_canonical and not e.id.startswith("dep:virtual/")
        )


# --------------------------------------------------------------------------------------------
# Ecosystem mappings


@dataclass(frozen=True, slots=True)
class Command:
    """An install or query command template: ``argv`` holds exactly one ``"{}"`` argument."""

    argv: tuple[str, ...]
    requires_elevation: bool = False
    multiple_specifiers: MultipleSpecifiers = "always"

    def render(self, specs: Iterable[str]) -> list[str]:
        """The argv with ``"{}"`` replaced by ``specs`` (each its own argument)."""
        at = self.argv.index(PLACEHOLDER)
        return [*self.argv[:at], *specs, *self.argv[at + 1 :]]


@dataclass(frozen=True, slots=True)
class VersionRanges:
    """``specifier_syntax.version_ranges``: templates for a version range."""

    syntax: tuple[str, ...]
    #: Joins the rendered constraints; None: each constraint becomes its own argument.
    and_: str | None
    #: Operator name (``greater_than_equal``...) -> template with ``{version}``; missing = unsupported.
    operators: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class SpecifierSyntax:
    """How a package manager spells a name, an exact version and a version range."""

    name_only: tuple[str, ...] = ("{name}",)
    exact_version: tuple[str, ...] | None = None
    version_ranges: VersionRanges | None = None

    def render(self, name: str, version: str | None) -> list[str]:
        """Arguments for ``name`` constrained by a PEP 725 range; constraints it cannot spell are dropped."""
        clauses = _clauses(version)
        if not clauses:
            return _fill(self.name_only, name=name)
        if len(clauses) == 1 and clauses[0][0] == "==" and self.exact_version is not None:
            return _fill(self.exact_version, name=name, version=clauses[0][1])
        ranges = self.version_ranges
        if ranges is None or any(_OPERATORS[op] not in ranges.operators for op, _ in clauses):
            return _fill(self.name_only, name=name)
        parts = [ranges.operators[_OPERATORS[op]].format(name=name, version=v) for op, v in clauses]
        if ranges.and_ is None:
            return [arg for part in parts for arg in _fill(ranges.syntax, name=name, ranges=part)]
        return _fill(ranges.syntax, name=name, ranges=ranges.and_.join(parts))


@dataclass(frozen=True, slots=True)
class PackageManager:
    """One ``package_managers[]`` item."""

    name: str
    install: Command
    query: Command
    specifier_syntax: SpecifierSyntax = field(default_factory=SpecifierSyntax)


@dataclass(frozen=True, slots=True)
class MappingEntry:
    """One ``mappings[]`` item: ``specs`` per category, or ``specs_from`` another id."""

    id: str
    specs: Mapping[Category, tuple[str, ...]] | None = None
    specs_from: str | None = None
    description: str | None = None
    extra_metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class EcosystemMapping:
    """A PEP 804 ``{ecosystem}.mapping.json``."""

    name: str
    package_managers: tuple[PackageManager, ...]
    #: id -> its entries in file order (several entries for one id are alternatives).
    entries: Mapping[str, tuple[MappingEntry, ...]]
    description: str | None = None
    extra_metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source: str = "<mapping>"

    def specs(self, ident: str, category: Category) -> tuple[str, ...] | None:
        """Package names for ``ident`` in ``category``: None if unknown, () if nothing to install.

        Of several alternative entries, the first with a non-empty answer wins.
        """
        return self._specs(ident, category, ())

    def _specs(self, ident: str, category: Category, chain: tuple[str, ...]) -> tuple[str, ...] | None:
        alternatives = self.entries.get(ident)
        if alternatives is None or ident in chain:
            return None
        found: tuple[str, ...] | None = None
        for entry in alternatives:
            if entry.specs_from is not None:
                names = self._specs(entry.specs_from, category, (*chain, ident))
            else:
                names = (entry.specs or {}).get(category, ())
            if names:
                return names
            if names is not None:
                found = ()
        return found

    def manager(self, name: str | None = None) -> PackageManager:
        """The package manager called ``name``, or the first one.

        :raises UsageError: no such manager in this mapping.
        """
        for pm in self.package_managers:
            if name is None or pm.name == name:
                return pm
        known = ", ".join(pm.name for pm in self.package_managers) or "none"
        what = f"package manager {name!r}" if name else "a package manager"
        raise UsageError(f"the {self.name} mapping has no {what} (known: {known})")


# --------------------------------------------------------------------------------------------
# Loading and validation


def load_mapping(path: str | Path) -> Registry | EcosystemMapping:
    """Read and validate a user-supplied PEP 804 registry or ecosystem mapping (JSON).

    A document with ``definitions`` is a registry; one with ``mappings`` is an ecosystem mapping.

    :raises InvalidExternalMetadata: unreadable, not JSON, or not a well-formed document.
    """
    source = str(path)
    try:
        data = loads_json(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidExternalMetadata(f"cannot read: {exc.strerror or exc}", where=source) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidExternalMetadata(f"not valid JSON: {exc}", where=source) from None
    if isinstance(data, dict) and "definitions" in data and "mappings" not in data:
        return parse_registry(data, source=source)
    if isinstance(data, dict) and "mappings" in data:
        return parse_mapping(data, source=source)
    raise InvalidExternalMetadata(
        "not a PEP 804 document: expected an object with 'definitions' (registry) "
        "or 'mappings' (ecosystem mapping)",
        where=source,
    )


def parse_registry(data: object, *, source: str = "<registry>") -> Registry:
    """Validate a decoded registry document.

    :raises InvalidExternalMetadata: naming the offending entry.
    """
    top = _object(data, source)
    definitions = _list(top.get("definitions"), f"{source}: definitions")
    entries: dict[str, RegistryEntry] = {}
    for i, item in enumerate(definitions):
        where = f"{source}: definitions[{i}]"
        obj = _object(item, where)
        ident = _depurl_id(obj.get("id"), f"{where}.id")
        where = f"{where} ({ident})"
        if ident in entries:
            raise InvalidExternalMetadata("duplicate id", where=where)
        provides = _strings(obj.get("provides", []), f"{where}.provides")
        for provided in provides:
            _depurl_id(provided, f"{where}.provides")
        if provides and ident.startswith("dep:virtual/"):
            raise InvalidExternalMetadata("a dep:virtual/ entry must not have 'provides'", where=where)
        entries[ident] = RegistryEntry(
            id=ident,
            description=_optional_str(obj.get("description"), f"{where}.description"),
            provides=provides,
            urls=_urls(obj.get("urls"), f"{where}.urls"),
        )
    registry = Registry(MappingProxyType(entries), source)
    for entry in entries.values():
        seen = [entry.id]
        target = entry.alias_of
        while target is not None:
            if target in seen:
                raise InvalidExternalMetadata(
                    f"'provides' aliases form a cycle: {' -> '.join([*seen, target])}",
                    where=f"{source}: {entry.id}",
                )
            seen.append(target)
            nxt = entries.get(target)
            target = nxt.alias_of if nxt else None
    return registry


def parse_mapping(data: object, *, source: str = "<mapping>") -> EcosystemMapping:
    """Validate a decoded ecosystem mapping document.

    :raises InvalidExternalMetadata: naming the offending entry.
    """
    top = _object(data, source)
    name = top.get("name")
    if not isinstance(name, str) or not _ECOSYSTEM_ID.match(name):
        raise InvalidExternalMetadata(
            f"'name' must be an ecosystem id such as 'debian' or 'ubuntu+24.04', not {name!r}",
            where=source,
        )
    managers = tuple(
        _manager(item, f"{source}: package_managers[{i}]")
        for i, item in enumerate(_list(top.get("package_managers"), f"{source}: package_managers"))
    )
    entries: dict[str, list[MappingEntry]] = {}
    for i, item in enumerate(_list(top.get("mappings"), f"{source}: mappings")):
        entry = _mapping_entry(item, f"{source}: mappings[{i}]")
        entries.setdefault(entry.id, []).append(entry)
    for ident, alternatives in entries.items():
        for entry in alternatives:
            if entry.specs_from is not None:
                _check_specs_from(entries, ident, source)
                break
    return EcosystemMapping(
        name=name,
        package_managers=managers,
        entries=MappingProxyType({k: tuple(v) for k, v in entries.items()}),
        description=_optional_str(top.get("description"), f"{source}: description"),
        extra_metadata=MappingProxyType(
            dict(_object(top.get("extra_metadata", {}), f"{source}: extra_metadata"))
        ),
        source=source,
    )


def _check_specs_from(entries: Mapping[str, list[MappingEntry]], start: str, source: str) -> None:
    chain = [start]
    todo = [start]
    while todo:
        ident = todo.pop()
        for entry in entries.get(ident, ()):
            target = entry.specs_from
            if target is None:
                continue
            if target not in entries:
                raise InvalidExternalMetadata(
                    f"specs_from {target!r} is not an id of this mapping", where=f"{source}: {ident}"
                )
            if target in chain:
                raise InvalidExternalMetadata(
                    f"specs_from forms a cycle: {' -> '.join([*chain, target])}", where=f"{source}: {start}"
                )
            chain.append(target)
            todo.append(target)


def _mapping_entry(item: object, where: str) -> MappingEntry:
    obj = _object(item, where)
    ident = _depurl_id(obj.get("id"), f"{where}.id")
    where = f"{where} ({ident})"
    has_specs, has_from = "specs" in obj, "specs_from" in obj
    if has_specs == has_from:
        raise InvalidExternalMetadata("needs exactly one of 'specs' and 'specs_from'", where=where)
    specs: Mapping[Category, tuple[str, ...]] | None = None
    specs_from = None
    if has_specs:
        specs = _specs(obj["specs"], f"{where}.specs")
    else:
        specs_from = _depurl_id(obj["specs_from"], f"{where}.specs_from")
    return MappingEntry(
        id=ident,
        specs=specs,
        specs_from=specs_from,
        description=_optional_str(obj.get("description"), f"{where}.description"),
        extra_metadata=MappingProxyType(
            dict(_object(obj.get("extra_metadata", {}), f"{where}.extra_metadata"))
        ),
    )


def _specs(value: object, where: str) -> Mapping[Category, tuple[str, ...]]:
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(CATEGORIES))
        if unknown:
            raise InvalidExternalMetadata(
                f"unknown key(s) {', '.join(map(repr, unknown))}; allowed: build, host, run", where=where
            )
        return MappingProxyType({c: _names(value.get(c, []), f"{where}.{c}") for c in CATEGORIES})
    names = _names(value, where)
    return MappingProxyType(dict.fromkeys(CATEGORIES, names))


def _names(value: object, where: str) -> tuple[str, ...]:
    names = _strings(value, where)
    for name in names:
        if not name.strip():
            raise InvalidExternalMetadata("package names must not be empty", where=where)
    return names


def _manager(item: object, where: str) -> PackageManager:
    obj = _object(item, where)
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidExternalMetadata("'name' must be a non-empty string", where=where)
    where = f"{where} ({name})"
    commands = _object(obj.get("commands"), f"{where}.commands")
    return PackageManager(
        name=name,
        install=_command(commands.get("install"), f"{where}.commands.install", "always"),
        query=_command(commands.get("query"), f"{where}.commands.query", "never"),
        specifier_syntax=_syntax(obj.get("specifier_syntax"), f"{where}.specifier_syntax"),
    )


def _command(value: object, where: str, default: MultipleSpecifiers) -> Command:
    obj = _object(value, where)
    argv = _strings(obj.get("command"), f"{where}.command", allow_str=False)
    if not argv:
        raise InvalidExternalMetadata("'command' must not be empty", where=where)
    count = sum(arg.count(PLACEHOLDER) for arg in argv)
    if count != 1:
        raise InvalidExternalMetadata(
            f"'command' must hold exactly one {PLACEHOLDER!r} (found {count} in {list(argv)})", where=where
        )
    if PLACEHOLDER not in argv:
        raise InvalidExternalMetadata(
            f"{PLACEHOLDER!r} must be a whole argument of 'command' (it stands for one or more "
            f"package arguments), not part of one in {list(argv)}",
            where=where,
        )
    elevation = obj.get("requires_elevation", False)
    if not isinstance(elevation, bool):
        raise InvalidExternalMetadata("'requires_elevation' must be true or false", where=where)
    multiple = obj.get("multiple_specifiers", default)
    if multiple not in _MULTIPLE:
        raise InvalidExternalMetadata(
            f"'multiple_specifiers' must be one of {', '.join(_MULTIPLE)}, not {multiple!r}", where=where
        )
    return Command(argv, elevation, cast("MultipleSpecifiers", multiple))


def _syntax(value: object, where: str) -> SpecifierSyntax:
    if value is None:
        return SpecifierSyntax()
    obj = _object(value, where)
    name_only = _template(obj.get("name_only", ["{name}"]), f"{where}.name_only", ("{name}",))
    exact = obj.get("exact_version")
    exact_version = None if exact is None else _template(exact, f"{where}.exact_version", ("{version}",))
    ranges_value = obj.get("version_ranges")
    ranges = None
    if ranges_value is not None:
        robj = _object(ranges_value, f"{where}.version_ranges")
        syntax = _template(robj.get("syntax"), f"{where}.version_ranges.syntax", ("{ranges}",))
        and_ = robj.get("and")
        if and_ is not None and not isinstance(and_, str):
            raise InvalidExternalMetadata("'and' must be a string or null", where=f"{where}.version_ranges")
        operators: dict[str, str] = {}
        for key in _OPERATORS.values():
            template = robj.get(key)
            if template is None:
                continue
            if not isinstance(template, str) or "{version}" not in template:
                raise InvalidExternalMetadata(
                    "must be null or a string containing '{version}'", where=f"{where}.version_ranges.{key}"
                )
            operators[key] = template
        ranges = VersionRanges(syntax, and_, MappingProxyType(operators))
    return SpecifierSyntax(name_only, exact_version, ranges)


def _template(value: object, where: str, required: tuple[str, ...]) -> tuple[str, ...]:
    parts = _strings(value, where, allow_str=False)
    text = " ".join(parts)
    for placeholder in required:
        if placeholder not in text:
            raise InvalidExternalMetadata(f"must contain {placeholder!r}", where=where)
    return parts


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidExternalMetadata(f"expected a JSON object, got {_kind(value)}", where=where)
    return cast("Mapping[str, Any]", value)


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidExternalMetadata(f"expected a JSON array, got {_kind(value)}", where=where)
    return value


def _strings(value: object, where: str, *, allow_str: bool = True) -> tuple[str, ...]:
    if allow_str and isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    expected = "a string or an array of strings" if allow_str else "an array of strings"
    raise InvalidExternalMetadata(f"expected {expected}, got {_kind(value)}", where=where)


def _optional_str(value: object, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidExternalMetadata(f"expected a string, got {_kind(value)}", where=where)


def _urls(value: object, where: str) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if isinstance(value, dict):
        if not all(isinstance(v, str) for v in value.values()):
            raise InvalidExternalMetadata("every URL must be a string", where=where)
        return MappingProxyType(dict(value))
    return MappingProxyType({str(i): url for i, url in enumerate(_strings(value, where))})


def _depurl_id(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidExternalMetadata(f"expected a DepURL string, got {_kind(value)}", where=where)
    url = parse_depurl(value, where=where)
    if url.version is not None or url.subpath is not None:
        raise InvalidExternalMetadata(f"{value!r}: an id takes no version or subpath", where=where)
    return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


# --------------------------------------------------------------------------------------------
# Shipped data


def _read_data(name: str) -> object:
    resource = resources.files("native_doctor.deps").joinpath("data").joinpath(name)
    return json.loads(resource.read_text(encoding="utf-8"))


@cache
def registry() -> Registry:
    """The registry shipped with native-doctor."""
    return parse_registry(_read_data("registry.json"), source="registry.json")


@cache
def ecosystems() -> tuple[str, ...]:
    """Ids of the ecosystems native-doctor ships a mapping for, sorted."""
    folder = resources.files("native_doctor.deps").joinpath("data")
    suffix = ".mapping.json"
    return tuple(sorted(p.name[: -len(suffix)] for p in folder.iterdir() if p.name.endswith(suffix)))


@cache
def get_mapping(ecosystem: str) -> EcosystemMapping:
    """The shipped mapping for ``ecosystem``; ``debian+12`` falls back to ``debian`` (PEP 804).

    :raises UsageError: no mapping for this ecosystem.
    """
    for candidate in dict.fromkeys((ecosystem, ecosystem.partition("+")[0])):
        if candidate in ecosystems():
            name = f"{candidate}.mapping.json"
            return parse_mapping(_read_data(name), source=name)
    raise UsageError(f"no mapping for ecosystem {ecosystem!r} (known: {', '.join(ecosystems())})")


def _resolve(ecosystem: str | EcosystemMapping) -> EcosystemMapping:
    return ecosystem if isinstance(ecosystem, EcosystemMapping) else get_mapping(ecosystem)


# --------------------------------------------------------------------------------------------
# Public helpers


def canonical(url: DepURL, *, registry_: Registry | None = None) -> DepURL:
    """``url`` with registry aliases followed (``dep:github/Kitware/CMake`` -> ``dep:generic/cmake``).

    Unknown and canonical DepURLs come back unchanged.
    """
    return (registry_ or registry()).canonical(url)


def providers(url: DepURL, *, registry_: Registry | None = None) -> tuple[DepURL, ...]:
    """The concrete DepURLs that provide the virtual ``url`` (() for a non-virtual one)."""
    return (registry_ or registry()).providers(canonical(url, registry_=registry_))


def packages_for(
    dep: ExternalDependency | DepURL,
    ecosystem: str | EcosystemMapping,
    category: Category,
    *,
    registry_: Registry | None = None,
) -> tuple[str, ...] | None:
    """Package names that satisfy ``dep`` in ``ecosystem`` for ``category``.

    None: the mapping does not know the DepURL. (): the ecosystem has nothing to install for it.
    A virtual DepURL the mapping does not list is answered by its first provider it does list.
    """
    if category not in CATEGORIES:
        raise UsageError(f"category must be one of {', '.join(CATEGORIES)}, not {category!r}")
    mapping = _resolve(ecosystem)
    url = dep.url if isinstance(dep, ExternalDependency) else dep
    reg = registry_ or registry()
    for ident in dict.fromkeys((url.id, reg.canonical(url).id)):
        names = mapping.specs(ident, category)
        if names is not None:
            return names
    if url.is_virtual:
        for provider in reg.providers(reg.canonical(url)):
            names = mapping.specs(provider.id, category)
            if names:
                return names
    return None


def install_commands(
    packages: Iterable[PackageSpec], ecosystem: str | EcosystemMapping, manager: str | None = None
) -> list[list[str]]:
    """The argv(s) that install ``packages`` with ``manager`` (default: the mapping's first).

    A package is a name or ``(name, version range)``; the range (PEP 725 syntax, ``">=3,<4"``) is
    rendered when the manager's ``specifier_syntax`` can spell it and dropped otherwise.
    ``multiple_specifiers`` decides how many commands: ``always`` one; ``name-only`` one for the
    unversioned names plus one per versioned package; ``never`` one per package.
    """
    pm = _resolve(ecosystem).manager(manager)
    rendered: list[tuple[bool, list[str]]] = []
    for package in dict.fromkeys(_normalize(packages)):
        name, version = package
        args = pm.specifier_syntax.render(name, version)
        rendered.append((args != _fill(pm.specifier_syntax.name_only, name=name), args))
    if not rendered:
        return []
    mode = pm.install.multiple_specifiers
    if mode == "always":
        return [pm.install.render(arg for _, args in rendered for arg in args)]
    if mode == "never":
        return [pm.install.render(args) for _, args in rendered]
    plain = [arg for versioned, args in rendered if not versioned for arg in args]
    commands = [pm.install.render(plain)] if plain else []
    return commands + [pm.install.render(args) for versioned, args in rendered if versioned]


def install_command(
    packages: Iterable[PackageSpec], ecosystem: str | EcosystemMapping, manager: str | None = None
) -> list[str]:
    """The one argv that installs ``packages`` (see :func:`install_commands`).

    :raises UsageError: nothing to install, or the manager takes one package per command and
        several were given (use :func:`install_commands`).
    """
    commands = install_commands(packages, ecosystem, manager)
    if len(commands) != 1:
        if not commands:
            raise UsageError("no packages to install")
        pm = _resolve(ecosystem).manager(manager)
        raise UsageError(
            f"{pm.name} installs one package per command here ({len(commands)} commands); "
            "use install_commands()"
        )
    return commands[0]


def query_command(package: str, ecosystem: str | EcosystemMapping, manager: str | None = None) -> list[str]:
    """The argv that exits 0 iff ``package`` is installed (per PEP 804; see the mapping's caveats)."""
    return _resolve(ecosystem).manager(manager).query.render([package])


#: os-release ID (or ID_LIKE word) -> shipped ecosystem.
_OS_IDS = {
    "debian": "debian",
    "ubuntu": "debian",
    "linuxmint": "debian",
    "pop": "debian",
    "raspbian": "debian",
    "fedora": "fedora",
    "rhel": "fedora",
    "centos": "fedora",
    "almalinux": "fedora",
    "rocky": "fedora",
    "ol": "fedora",
    "amzn": "fedora",
    "alpine": "alpine",
    "arch": "arch",
    "manjaro": "arch",
    "endeavouros": "arch",
}


def detect_ecosystem(
    os_release: Mapping[str, str] | None,
    *,
    conda_prefix: str | None,
    platform: str,
    has_brew: bool,
) -> str | None:
    """The ecosystem to map to, from facts the caller gathered; None when nothing fits.

    ``os_release`` is the parsed ``/etc/os-release`` (``ID``, ``ID_LIKE``); ``platform`` is
    ``sys.platform``. An active conda environment wins; then the Linux distribution by ``ID`` and
    each word of ``ID_LIKE``; then Homebrew on macOS (or on Linux with no known distribution);
    Windows maps to winget.
    """
    if conda_prefix:
        return "conda-forge"
    if os_release:
        words = [os_release.get("ID", ""), *os_release.get("ID_LIKE", "").split()]
        for word in words:
            found = _OS_IDS.get(word.strip().strip("\"'").lower())
            if found:
                return found
    if platform == "darwin":
        return "homebrew" if has_brew else None
    if platform in {"win32", "cygwin"}:
        return "winget"
    if platform.startswith("linux") and has_brew:
        return "homebrew"
    return None


# --------------------------------------------------------------------------------------------


def _normalize(packages: Iterable[PackageSpec]) -> Iterable[tuple[str, str | None]]:
    for package in packages:
        if isinstance(package, str):
            yield package, None
        else:
            yield package[0], package[1]


def _clauses(version: str | None) -> list[tuple[str, str]]:
    if not version:
        return []
    try:
        clauses = DepURL(type="generic", name="x", version=version).version_clauses()
    except ValueError:
        return []
    return [(op, str(v)) for op, v in clauses]


def _fill(template: tuple[str, ...], **values: str) -> list[str]:
    return [part.format(**values) for part in template]
