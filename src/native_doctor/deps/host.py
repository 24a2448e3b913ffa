"""Is each external dependency present on this host? Probes only: nothing is installed or written.

The probes (``probes.json``) say, per DepURL id, which executables, pkg-config modules, headers and
shared libraries stand for a dependency. The rule depends on the dependency's kind and category:

* a compiler or tool is present when one of its executables is found;
* a library needed to *build* (category ``build`` or ``host``: the ``-dev`` package) is present when
  a pkg-config module, a header or one of its build executables (``xml2-config``, ``mpicc``) is found,
  or when the OS package manager says the mapped ``host`` packages are installed;
* a library needed to *run* is present when its shared library is in the ld.so cache or a library
  directory, or pkg-config knows it, or the mapped ``run`` packages are installed.

``present`` is None when nothing conclusive could be asked (an unknown DepURL, no pkg-config, no
include directory). Version constraints are compared with the pkg-config version when there is one.
All I/O goes through a :class:`Probe`, so tests pass canned answers.
"""

from __future__ import annotations

import fnmatch
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path, PurePath
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from packaging.version import InvalidVersion, Version

from native_doctor.deps.depurl import DepURL, ExternalDependency
from native_doctor.errors import BinaryFormatError, NativeDoctorError, PolicyDataError
from native_doctor.sources.env import host_library_dirs
from native_doctor.sources.ldcache import CacheEntry, arch_for_machine, read_ld_cache

__all__ = [
    "Category",
    "HostCheck",
    "Probe",
    "ProbeSpec",
    "check_host",
    "load_probes",
    "probe_for",
]

Category: TypeAlias = Literal["build", "host", "run"]
Kind: TypeAlias = Literal["compiler", "tool", "library"]

#: The ``[external]`` keys, accepted where a category is expected.
_CATEGORY_ALIASES: Mapping[str, Category] = {
    "build": "build",
    "host": "host",
    "run": "run",
    "build-requires": "build",
    "optional-build-requires": "build",
    "host-requires": "host",
    "optional-host-requires": "host",
    "dependencies": "run",
    "optional-dependencies": "run",
}
_KINDS = ("compiler", "tool", "library")
_TIMEOUT = 10.0  # seconds, for each pkg-config or package-manager query
_MAX_EVIDENCE = 3  # library names reported per source
_NUMERIC = re.compile(r"^\d+(\.\d+)*")
_OPERATORS = {
    ">=": Version.__ge__,
    ">": Version.__gt__,
    "<=": Version.__le__,
    "<": Version.__lt__,
    "==": Version.__eq__,
}


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """How to detect one dependency (one entry of ``probes.json``); every tuple lists alternatives."""

    id: str
    kind: Kind
    executables: tuple[str, ...] = ()
    #: Environment variables naming the executable (``CC``); when set, they are tried first.
    env: tuple[str, ...] = ()
    pkg_config: tuple[str, ...] = ()
    #: Glob patterns relative to each include directory, or absolute glob patterns.
    headers: tuple[str, ...] = ()
    #: Glob patterns matched against library file names (``libz.so*``).
    libraries: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HostCheck:
    """Whether one external dependency is present on this host, and why we think so."""

    dep: ExternalDependency
    category: Category
    #: True or False when a conclusive probe ran; None when we cannot tell.
    present: bool | None
    #: Evidence found: ``"pkg-config zlib 1.2.13"``, ``"/usr/include/zlib.h"``,
    #: ``"libz.so.1 in ld.so.cache"``, ``"dpkg: zlib1g-dev installed"``, ``"/usr/bin/gcc"``.
    found: tuple[str, ...] = ()
    #: The version pkg-config reports, when it knows the dependency.
    version: str | None = None
    #: Whether ``version`` meets the DepURL's constraint; None without a constraint or a version.
    satisfies_version: bool | None = None
    #: What is missing: ``"headers (zlib.h)"`` when only the runtime library exists, for instance.
    missing: tuple[str, ...] = ()


class Probe:
    """The host I/O :func:`check_host` needs. Answers are cached for the probe's lifetime.

    Subclass and override for tests; every method is side-effect free on the host.
    """

    def __init__(self) -> None:
        self._pkg_config: dict[str, str | None] = {}
        self._packages: dict[str, bool | None] = {}
        self._listings: dict[str, tuple[str, ...]] = {}
        self._ld_cache: list[CacheEntry] | None = None

    # --- environment -----------------------------------------------------------------------------

    def environ(self, name: str) -> str | None:
        """An environment variable (read only)."""
        return os.environ.get(name)

    def machine(self) -> str:
        """``platform.machine()``."""
        return platform.machine()

    # --- executables -----------------------------------------------------------------------------

    def which(self, name: str) -> str | None:
        """The executable's path: ``shutil.which`` for a name, an existence check for a path."""
        if os.sep in name or (os.altsep and os.altsep in name):
            return name if Path(name).is_file() and os.access(name, os.X_OK) else None
        return shutil.which(name)

    # --- pkg-config ------------------------------------------------------------------------------

    def pkg_config_command(self) -> str | None:
        """The pkg-config executable (``$PKG_CONFIG``, ``pkg-config``, ``pkgconf``), if any."""
        configured = self.environ("PKG_CONFIG")
        for name in ((configured,) if configured else ()) + ("pkg-config", "pkgconf"):
            found = self.which(name)
            if found:
                return found
        return None

    def pkg_config_version(self, module: str) -> str | None:
        """``pkg-config --modversion MODULE``; None when pkg-config does not know it (or is missing)."""
        if module not in self._pkg_config:
            command = self.pkg_config_command()
            self._pkg_config[module] = (
                None if command is None else _run_text([command, "--modversion", "--", module])
            )
        return self._pkg_config[module]

    # --- files -----------------------------------------------------------------------------------

    def glob(self, pattern: str) -> list[str]:
        """Existing paths matching an absolute glob pattern, sorted."""
        path = PurePath(pattern)
        if not path.anchor:
            return []
        return sorted(str(m) for m in Path(path.anchor).glob(str(path.relative_to(path.anchor))))

    def include_dirs(self) -> list[str]:
        """Where headers are looked for: the standard and multiarch include dirs, ``$CONDA_PREFIX``."""
        candidates: list[str] = []
        conda = self.environ("CONDA_PREFIX")
        if conda:
            candidates += [str(Path(conda, "include")), str(Path(conda, "Library", "include"))]
        if sys.platform != "win32":
            candidates.append("/usr/local/include")
            multiarch = sysconfig.get_config_var("MULTIARCH")
            if multiarch:
                candidates.append(f"/usr/include/{multiarch}")
            candidates.append("/usr/include")
            if sys.platform == "darwin":
                candidates += ["/opt/homebrew/include", "/opt/local/include"]
        return [c for c in dict.fromkeys(candidates) if Path(c).is_dir()]

    def library_dirs(self) -> list[str]:
        """Where shared libraries are looked for besides the ld.so cache."""
        candidates = [str(p) for p in host_library_dirs()]
        conda = self.environ("CONDA_PREFIX")
        if conda:
            candidates += [str(Path(conda, "lib")), str(Path(conda, "Library", "bin"))]
        if sys.platform == "darwin":
            candidates += ["/opt/homebrew/lib", "/usr/local/lib", "/opt/local/lib"]
        for entry in (self.environ("LD_LIBRARY_PATH") or "").split(os.pathsep):
            if entry:
                candidates.append(entry)
        return [c for c in dict.fromkeys(candidates) if Path(c).is_dir()]

    def list_dir(self, directory: str) -> tuple[str, ...]:
        """File names in a directory (empty when unreadable)."""
        if directory not in self._listings:
            try:
                self._listings[directory] = tuple(sorted(p.name for p in Path(directory).iterdir()))
            except OSError:
                self._listings[directory] = ()
        return self._listings[directory]

    def ld_cache(self) -> list[CacheEntry]:
        """The entries of ``/etc/ld.so.cache`` (``[]`` without one, or when it is unreadable)."""
        if self._ld_cache is None:
            try:
                self._ld_cache = read_ld_cache()
            except (OSError, BinaryFormatError):
                self._ld_cache = []
        return self._ld_cache

    # --- OS package manager ----------------------------------------------------------------------

    def package_manager(self) -> str | None:
        """The package database that can be queried: ``"dpkg"`` or ``"rpm"``, else None."""
        if self.which("dpkg-query"):
            return "dpkg"
        if self.which("rpm"):
            return "rpm"
        return None

    def package_installed(self, name: str) -> bool | None:
        """Whether the OS package is installed; None without a package database to ask."""
        if name not in self._packages:
            manager = self.package_manager()
            if manager == "dpkg":
                status = _run_text(["dpkg-query", "-W", "-f=${Status}", "--", name])
                installed: bool | None = status is not None and status.endswith(" installed")
            elif manager == "rpm":
                installed = _run_text(["rpm", "-q", "--quiet", "--", name]) is not None
            else:
                installed = None
            self._packages[name] = installed
        return self._packages[name]


def _run_text(args: Sequence[str]) -> str | None:
    """Stripped stdout of a command that exits 0; None on failure or timeout. No shell; env untouched.

    Names from a DepURL come after ``--``, so none can be read as an option (``--version``).
    """
    try:
        proc = subprocess.run(
            list(args), capture_output=True, text=True, errors="replace", timeout=_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


# --- probe data ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ProbeData:
    probes: Mapping[str, ProbeSpec]
    aliases: Mapping[str, str]
    folded: Mapping[str, str]  # lowercased id or alias -> probed id


@cache
def _data() -> _ProbeData:
    text = resources.files("native_doctor.deps").joinpath("probes.json").read_text(encoding="utf-8")
    return _parse_probe_data(json.loads(text))


def _parse_probe_data(document: Any) -> _ProbeData:
    if not isinstance(document, dict) or document.get("schema_version") != 1:
        raise PolicyDataError("probes.json: expected an object with schema_version 1")
    raw_probes, raw_aliases = document.get("probes"), document.get("aliases", {})
    if not isinstance(raw_probes, dict) or not isinstance(raw_aliases, dict):
        raise PolicyDataError("probes.json: 'probes' and 'aliases' must be objects")
    probes: dict[str, ProbeSpec] = {}
    for key, entry in raw_probes.items():
        if not isinstance(entry, dict) or entry.get("kind") not in _KINDS:
            raise PolicyDataError(f"probes.json: {key}: needs a kind, one of {', '.join(_KINDS)}")
        unknown = set(entry) - {"kind", "executables", "env", "pkg-config", "headers", "libraries"}
        if unknown:
            raise PolicyDataError(f"probes.json: {key}: unknown fields {sorted(unknown)}")
        lists = {}
        for field in ("executables", "env", "pkg-config", "headers", "libraries"):
            value = entry.get(field, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise PolicyDataError(f"probes.json: {key}: {field} must be a list of strings")
            lists[field] = tuple(value)
        probes[key] = ProbeSpec(
            id=key,
            kind=entry["kind"],
            executables=lists["executables"],
            env=lists["env"],
            pkg_config=lists["pkg-config"],
            headers=lists["headers"],
            libraries=lists["libraries"],
        )
    folded = {key.lower(): key for key in probes}
    for alias, target in raw_aliases.items():
        if not isinstance(target, str) or target not in probes:
            raise PolicyDataError(f"probes.json: alias {alias} points at {target!r}, which has no probe")
        folded.setdefault(alias.lower(), target)
    return _ProbeData(MappingProxyType(probes), MappingProxyType(dict(raw_aliases)), MappingProxyType(folded))


def load_probes() -> Mapping[str, ProbeSpec]:
    """Every probe, by DepURL id (aliases not included)."""
    return _data().probes


def probe_for(url: DepURL) -> ProbeSpec | None:
    """The probe for a DepURL (through the aliases, case-insensitively), or None when unknown."""
    data = _data()
    key = data.folded.get(url.id.lower())
    return data.probes[key] if key is not None else None


# --- checking ------------------------------------------------------------------------------------


def check_host(
    deps: Iterable[tuple[ExternalDependency, str]],
    *,
    probe: Probe | None = None,
    ecosystem: str | None = None,
) -> list[HostCheck]:
    """Check each (dependency, category) pair on this host, in order.

    ``category`` is ``"build"``, ``"host"`` or ``"run"`` (or the ``[external]`` key it comes from).
    ``ecosystem`` is the PEP 804 mapping used to name OS packages for the package-manager query; by
    default ``"debian"`` on dpkg hosts and ``"fedora"`` on rpm hosts.

    :raises ValueError: an unknown category.
    """
    probe = probe if probe is not None else Probe()
    return [_check(dep, _category(category), probe, ecosystem) for dep, category in deps]


def _category(value: str) -> Category:
    try:
        return _CATEGORY_ALIASES[value]
    except KeyError:
        raise ValueError(f"unknown dependency category {value!r}: expected build, host or run") from None


class _Findings:
    def __init__(self) -> None:
        self.found: list[str] = []
        self.missing: list[str] = []

    def add(self, evidence: Iterable[str]) -> bool:
        items = list(evidence)
        self.found += [e for e in items if e not in self.found]
        return bool(items)


def _check(dep: ExternalDependency, category: Category, probe: Probe, ecosystem: str | None) -> HostCheck:
    spec = probe_for(dep.url)
    notes = _Findings()
    version: str | None = None
    present: bool | None
    if spec is not None and spec.kind in {"compiler", "tool"}:
        present = notes.add(_executables(spec, probe))
        if not present:
            notes.missing.append(f"executable ({_alternatives(spec.executables)})")
    else:
        version, present = _check_library(dep, spec, category, probe, ecosystem, notes)
    satisfies = _satisfies(dep.url, version)
    missing = [] if present else notes.missing
    if satisfies is False:
        missing.append(f"version {dep.url.version} (found {version})")
    return HostCheck(
        dep=dep,
        category=category,
        present=present,
        found=tuple(notes.found),
        version=version,
        satisfies_version=satisfies,
        missing=tuple(missing),
    )


def _check_library(
    dep: ExternalDependency,
    spec: ProbeSpec | None,
    category: Category,
    probe: Probe,
    ecosystem: str | None,
    notes: _Findings,
) -> tuple[str | None, bool | None]:
    """(pkg-config version, present) for a library, or for a DepURL without a probe."""
    modules = spec.pkg_config if spec is not None else _guessed_modules(dep.url)
    pkg_config = probe.pkg_config_command() is not None
    version, module_evidence = _pkg_config(modules, probe)
    by_pkg_config = notes.add(module_evidence)
    by_package, package_conclusive = _packages(dep, category, probe, ecosystem, notes)
    if spec is None:
        if by_pkg_config or by_package:
            return version, True
        return version, False if package_conclusive else None
    headers_conclusive = bool(spec.headers) and (
        bool(probe.include_dirs()) or any(PurePath(h).is_absolute() for h in spec.headers)
    )
    by_headers = notes.add(_headers(spec, probe))
    by_tools = notes.add(_executables(spec, probe))
    libraries_conclusive = bool(spec.libraries) and (bool(probe.ld_cache()) or bool(probe.library_dirs()))
    by_library = notes.add(_libraries(spec, probe))
    if category == "run" and spec.libraries:
        present = by_library or by_pkg_config or by_package
        conclusive = libraries_conclusive or package_conclusive
        if not present:
            notes.missing.append(f"shared library ({_alternatives(spec.libraries)})")
    else:  # build/host, or a header-only library at run time
        present = by_headers or by_pkg_config or by_tools or by_package
        conclusive = headers_conclusive or (pkg_config and bool(spec.pkg_config)) or package_conclusive
        if not present:
            if spec.headers:
                notes.missing.append(f"headers ({_alternatives(spec.headers)})")
            if spec.pkg_config and pkg_config:
                notes.missing.append(f"pkg-config module ({_alternatives(spec.pkg_config)})")
    if not present and not pkg_config and spec.pkg_config:
        notes.missing.append("pkg-config (to ask for " + _alternatives(spec.pkg_config) + ")")
    return version, True if present else (False if conclusive else None)


def _executables(spec: ProbeSpec, probe: Probe) -> list[str]:
    names = [value.split()[0] for var in spec.env if (value := (probe.environ(var) or "").strip())]
    for name in dict.fromkeys(names + list(spec.executables)):
        found = probe.which(name)
        if found:
            return [found]
    return []


def _pkg_config(modules: Sequence[str], probe: Probe) -> tuple[str | None, list[str]]:
    for module in modules:
        version = probe.pkg_config_version(module)
        if version is not None:
            return (version or None), [f"pkg-config {module} {version}".rstrip()]
    return None, []


def _guessed_modules(url: DepURL) -> tuple[str, ...]:
    """pkg-config names to try for a DepURL without a probe: ``dep:generic/foo`` -> foo, libfoo."""
    if url.type != "generic":
        return ()
    name = url.name.lower()
    return (name,) if name.startswith("lib") else (name, f"lib{name}")


def _headers(spec: ProbeSpec, probe: Probe) -> list[str]:
    machine = probe.machine()
    for pattern in (h.replace("{machine}", machine) for h in spec.headers):
        if PurePath(pattern).is_absolute():
            matches = probe.glob(pattern)
        else:
            matches = [m for d in probe.include_dirs() for m in probe.glob(str(PurePath(d, pattern)))]
        if matches:
            return matches[:1]
    return []


def _libraries(spec: ProbeSpec, probe: Probe) -> list[str]:
    """Shared libraries matching the probe: native-arch ld.so cache entries, then library dirs."""
    native = arch_for_machine(probe.machine())
    names = [e.name for e in probe.ld_cache() if native is None or e.arch == native]
    for pattern in spec.libraries:
        hits = list(dict.fromkeys(n for n in names if fnmatch.fnmatchcase(n, pattern)))
        if hits:
            return [f"{name} in ld.so.cache" for name in hits[:_MAX_EVIDENCE]]
    for pattern in spec.libraries:
        for directory in probe.library_dirs():
            hits = [n for n in probe.list_dir(directory) if fnmatch.fnmatchcase(n, pattern)]
            if hits:
                return [str(Path(directory) / name) for name in hits[:_MAX_EVIDENCE]]
    return []


def _packages(
    dep: ExternalDependency, category: Category, probe: Probe, ecosystem: str | None, notes: _Findings
) -> tuple[bool, bool]:
    """(all mapped OS packages installed, the query was conclusive)."""
    manager = probe.package_manager()
    if manager is None:
        return False, False
    names = _mapped_packages(dep.url, ecosystem or ("debian" if manager == "dpkg" else "fedora"), category)
    if not names:
        return False, False
    answers = {name: probe.package_installed(name) for name in names}
    if any(answer is None for answer in answers.values()):
        return False, False
    notes.found += [f"{manager}: {name} installed" for name, ok in answers.items() if ok]
    absent = [name for name, ok in answers.items() if not ok]
    notes.missing += [f"{manager}: {name} not installed" for name in absent]
    return not absent, True


def _mapped_packages(url: DepURL, ecosystem: str, category: Category) -> list[str]:
    """OS package names from ``deps.mapping.packages_for``; [] when there is no mapping (yet)."""
    try:
        from native_doctor.deps import mapping  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return []
    packages_for = getattr(mapping, "packages_for", None)
    if packages_for is None:
        return []
    try:
        result = packages_for(url, ecosystem, category)
    except (NativeDoctorError, LookupError, ValueError):
        return []
    if isinstance(result, str):
        result = [result]
    names: list[str] = []
    for item in result or ():
        if isinstance(item, str):
            names += [n for n in item.split() if n not in names]
    return names


def _satisfies(url: DepURL, version: str | None) -> bool | None:
    clauses = url.version_clauses()
    if not clauses or version is None:
        return None
    parsed = _version(version)
    if parsed is None:
        return None
    return all(_OPERATORS[op](parsed, wanted) for op, wanted in clauses)


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        match = _NUMERIC.match(text)
        return Version(match.group(0)) if match else None


def _alternatives(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
