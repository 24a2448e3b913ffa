"""``native-doctor deps``: read a project's external dependencies, map them to a package manager,
check the host, and infer a table where the project has none.

This module gathers the facts (reading files, asking the host through :mod:`.host`); the CLI
renders them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from native_doctor._documents import loads_toml
from native_doctor.deps import external, host, infer, mapping
from native_doctor.deps.depurl import ExternalDependency
from native_doctor.errors import InvalidArchiveError, InvalidExternalMetadata, UsageError
from native_doctor.sources._archive import InflationBudget, archive_errors, read_text

__all__ = ["DepsReport", "Row", "as_json", "build_report", "detect_host_ecosystem"]

Category = Literal["build", "host", "run"]
SourceKind = Literal["tree", "pyproject", "sdist", "wheel"]
_CATEGORIES: tuple[Category, ...] = ("build", "host", "run")
_MAX_TEXT = 4 << 20


@dataclass(frozen=True, slots=True)
class Row:
    """One declared dependency in one category, and what the package manager calls it."""

    dep: ExternalDependency
    category: Category
    #: Package names in the chosen ecosystem; None when the mapping does not know the DepURL,
    #: () when the ecosystem has nothing to install for it.
    packages: tuple[str, ...] | None
    #: False when the dependency's environment marker excludes this platform.
    applies: bool = True
    #: (inferred rows) the build files say the dependency may be missing: not installed by
    #: the install command.
    optional: bool = False
    #: (optional inferred rows) the build switch (``optional-*`` group) it depends on, if known.
    feature: str | None = None
    #: (optional inferred rows) ``on-if-found`` or ``off`` (see :attr:`infer.Proposal.default`).
    default: str | None = None


@dataclass(slots=True)
class DepsReport:
    """Everything ``deps`` found for one path."""

    path: str
    kind: SourceKind
    table: external.ExternalTable | None
    ecosystem: str | None
    rows: list[Row] = field(default_factory=list)
    #: The commands that install every applicable, mapped dependency.
    install: list[list[str]] = field(default_factory=list)
    checks: list[host.HostCheck] | None = None
    #: The commands that install what the host check found missing.
    install_missing: list[list[str]] = field(default_factory=list)
    #: The commands that upgrade what the host check found present but too old.
    upgrade_old: list[list[str]] = field(default_factory=list)
    inference: infer.Inference | None = None
    #: The inferred proposals mapped like declared dependencies (vendored ones left out).
    inferred_rows: list[Row] = field(default_factory=list)
    #: The commands that install the required (not optional) inferred dependencies.
    inferred_install: list[list[str]] = field(default_factory=list)

    @property
    def missing(self) -> list[host.HostCheck]:
        """Dependencies the host check found absent (or of a too-old version)."""
        return [c for c in self.checks or () if c.present is False or c.satisfies_version is False]


def build_report(
    path: Path,
    *,
    ecosystem: str | None = None,
    user_mapping: Path | None = None,
    check: bool = False,
    force_infer: bool = False,
    extras: tuple[str, ...] = (),
    groups: tuple[str, ...] = (),
    target: TargetPlatform | None = None,
) -> DepsReport:
    """Read ``path`` (a project directory, a pyproject.toml, an sdist or a wheel) and answer.

    ``user_mapping`` is a PEP 804 ecosystem mapping (used instead of the shipped ones) or a
    registry (used to resolve aliases). ``target`` evaluates environment markers for that platform
    instead of this one.

    :raises InvalidExternalMetadata: the ``[external]`` table or metadata is malformed.
    :raises UsageError: the path does not exist or is of no known kind, or an unknown ecosystem.
    """
    kind = _kind_of(path)
    table = _read_table(path, kind)
    registry = _user_registry(user_mapping)
    eco_name, eco_mapping = _ecosystem_mapping(ecosystem, None if registry is not None else user_mapping)
    report = DepsReport(str(path), kind, table, eco_name)
    lookup = _Lookup(eco_mapping, registry, _marker_environment(target))
    if table is not None:
        report.rows = _rows(table, lookup, extras, groups)
        report.install = _install(report.rows, eco_mapping)
    if table is None or table.is_empty or force_infer:
        report.inference = _infer(path, kind)
        report.inferred_rows = _inferred_rows(report.inference, lookup)
        report.inferred_install = _install([r for r in report.inferred_rows if not r.optional], eco_mapping)
    if check:
        wanted = [(r.dep, r.category) for r in report.rows if r.applies]
        if not wanted and report.inference is not None:
            wanted = [(_proposal_dep(p), p.category) for p in report.inference.proposals if not p.vendored]
        report.checks = host.check_host(wanted, ecosystem=eco_name)
        absent = [Row(c.dep, _category(c.category), None) for c in report.missing if c.present is False]
        report.install_missing = _install(_with_packages(absent, lookup), eco_mapping)
        old = [
            Row(c.dep, _category(c.category), None)
            for c in report.missing
            if c.present is not False and c.satisfies_version is False
        ]
        report.upgrade_old = _upgrade(_with_packages(old, lookup), eco_name)
    return report


def detect_host_ecosystem() -> str | None:
    """The package ecosystem of this machine: an active conda env, the Linux distribution
    (``/etc/os-release`` ID and ID_LIKE), Homebrew on macOS, winget on Windows."""
    return mapping.detect_ecosystem(
        _os_release(),
        conda_prefix=os.environ.get("CONDA_PREFIX"),
        platform=sys.platform,
        has_brew=shutil.which("brew") is not None,
    )


# --- reading ------------------------------------------------------------------------------------


def _kind_of(path: Path) -> SourceKind:
    if path.is_dir():
        return "tree"
    if not path.is_file():
        raise UsageError(f"{path}: no such file or directory")
    name = path.name.lower()
    if name == "pyproject.toml":
        return "pyproject"
    if name.endswith(".whl"):
        return "wheel"
    if name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip")):
        return "sdist"
    raise UsageError(f"{path}: expected a project directory, a pyproject.toml, an sdist or a wheel")


def _read_table(path: Path, kind: SourceKind) -> external.ExternalTable | None:
    if kind == "tree":
        pyproject = path / "pyproject.toml"
        return external.read_pyproject(pyproject) if pyproject.is_file() else None
    if kind == "pyproject":
        return external.read_pyproject(path)
    if kind == "wheel":
        return _wheel_metadata_table(path)
    return _sdist_table(path)


def _wheel_metadata_table(path: Path) -> external.ExternalTable | None:
    with archive_errors(f"{path}: not a readable wheel"), zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if not names:
            raise InvalidArchiveError(f"{path.name}: no .dist-info/METADATA: not a wheel")
        text = read_text(archive, archive.getinfo(names[0]), limit=_MAX_TEXT)
    table = external.read_metadata(text, source=f"{path.name}:METADATA")
    return None if table.is_empty else table


def _sdist_table(path: Path) -> external.ExternalTable | None:
    """``[external]`` from the sdist's pyproject.toml, else Requires-External-Dep from PKG-INFO."""
    pyproject, pkg_info = _sdist_texts(path)
    if pyproject is not None:
        try:
            document = loads_toml(pyproject)
        except tomllib.TOMLDecodeError as exc:
            raise InvalidExternalMetadata(
                f"invalid TOML: {exc}", where=f"{path.name}:pyproject.toml"
            ) from None
        if "external" in document:
            return external.parse_external(document["external"], source=f"{path.name}:pyproject.toml")
    if pkg_info is not None:
        table = external.read_metadata(pkg_info, source=f"{path.name}:PKG-INFO")
        return None if table.is_empty else table
    return None


def _sdist_texts(path: Path) -> tuple[str | None, str | None]:
    """The top-level pyproject.toml and PKG-INFO of an sdist, read in memory."""
    wanted = {"pyproject.toml": None, "PKG-INFO": None}
    found: dict[str, str | None] = dict(wanted)
    budget = InflationBudget.for_archive(path.stat().st_size)
    with archive_errors(f"{path}: not a readable sdist"):
        if path.name.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    base = _top_level(info.filename)
                    if base in wanted and found[base] is None:
                        found[base] = read_text(archive, info, budget, limit=_MAX_TEXT, truncate=True)
        else:
            with tarfile.open(path) as archive:
                for member in archive:
                    base = _top_level(member.name)
                    if base in wanted and found[base] is None and member.isfile():
                        stream = archive.extractfile(member)
                        if stream is not None:
                            found[base] = stream.read(_MAX_TEXT).decode("utf-8", "replace")
                    if None not in found.values():
                        break
                    # the next member lies past this one's data: inflating up to it is what a bomb costs
                    budget.spend(member.name, member.size)
    return found["pyproject.toml"], found["PKG-INFO"]


def _top_level(name: str) -> str | None:
    """``"pkg-1.0/pyproject.toml"`` -> ``"pyproject.toml"``; deeper or odd paths -> None."""
    parts = [p for p in name.split("/") if p and p != "."]
    return parts[1] if len(parts) == 2 else None


def _infer(path: Path, kind: SourceKind) -> infer.Inference:
    if kind == "wheel":
        from native_doctor.analysis import inspect_artifact
        from native_doctor.sources.wheel import read_wheel

        return infer.infer_from_wheel(inspect_artifact(read_wheel(path)))
    if kind == "sdist":
        return infer.infer_from_tree(infer.read_sdist(path))
    return infer.infer_from_tree(infer.read_source_tree(path if kind == "tree" else path.parent))


def _os_release() -> dict[str, str] | None:
    for candidate in (Path("/etc/os-release"), Path("/usr/lib/os-release")):
        try:
            text = candidate.read_text(encoding="utf-8")
        except OSError:
            continue
        facts: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip():
                facts[key.strip()] = value.strip().strip("\"'")
        return facts
    return None


# --- mapping ------------------------------------------------------------------------------------


def _ecosystem_mapping(
    ecosystem: str | None, user_mapping: Path | None
) -> tuple[str | None, mapping.EcosystemMapping | None]:
    """(ecosystem id, its mapping): a user's PEP 804 mapping file, the named one, or the host's."""
    if user_mapping is not None:
        loaded = mapping.load_mapping(user_mapping)
        if not isinstance(loaded, mapping.EcosystemMapping):
            raise UsageError(
                f"{user_mapping}: a registry, not an ecosystem mapping (it has no package managers)"
            )
        return ecosystem or loaded.name, loaded
    name = ecosystem or detect_host_ecosystem()
    if name is None:
        return None, None
    return name, mapping.get_mapping(name)


@dataclass(frozen=True, slots=True)
class _Lookup:
    """What answers a dependency: the ecosystem mapping, a user registry, the marker environment."""

    ecosystem: mapping.EcosystemMapping | None
    registry: mapping.Registry | None
    environment: dict[str, str] | None

    def packages(self, dep: ExternalDependency, category: Category) -> tuple[str, ...] | None:
        if self.ecosystem is None:
            return None
        return mapping.packages_for(dep, self.ecosystem, category, registry_=self.registry)

    def row(self, dep: ExternalDependency, category: Category) -> Row:
        return Row(dep, category, self.packages(dep, category), dep.applies(self.environment))


def _rows(
    table: external.ExternalTable, lookup: _Lookup, extras: tuple[str, ...], groups: tuple[str, ...]
) -> list[Row]:
    rows = [
        lookup.row(dep, category)
        for category in _CATEGORIES
        for dep in external.all_dependencies(table, category=category, extras=extras)
    ]
    seen = {str(r.dep) for r in rows}
    for dep in external.all_dependencies(table, category="build", groups=groups):
        if str(dep) not in seen:
            rows.append(lookup.row(dep, "build"))
    return rows


def _inferred_rows(inference: infer.Inference, lookup: _Lookup) -> list[Row]:
    rows = []
    for p in inference.proposals:
        if p.vendored or p.bundled:
            continue
        row = lookup.row(_proposal_dep(p), p.category)
        rows.append(Row(row.dep, row.category, row.packages, row.applies, p.optional, p.feature, p.default))
    return rows


def _with_packages(rows: list[Row], lookup: _Lookup) -> list[Row]:
    return [Row(r.dep, r.category, lookup.packages(r.dep, r.category), r.applies) for r in rows]


#: Marker variables that name the platform, for ``--target``.
TargetPlatform = Literal["linux", "macos", "windows"]
_PLATFORM_MARKERS: dict[str, dict[str, str]] = {
    "linux": {"sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"},
    "macos": {"sys_platform": "darwin", "platform_system": "Darwin", "os_name": "posix"},
    "windows": {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt"},
}


def _marker_environment(target: TargetPlatform | None) -> dict[str, str] | None:
    if target is None:
        return None
    from packaging.markers import default_environment

    environment = {k: str(v) for k, v in default_environment().items()}
    environment.update(_PLATFORM_MARKERS[target])
    return environment


def _user_registry(path: Path | None) -> mapping.Registry | None:
    if path is None:
        return None
    loaded = mapping.load_mapping(path)
    return loaded if isinstance(loaded, mapping.Registry) else None


def _install(rows: list[Row], eco: mapping.EcosystemMapping | None) -> list[list[str]]:
    if eco is None:
        return []
    names = list(dict.fromkeys(p for r in rows if r.applies and r.packages for p in r.packages))
    return mapping.install_commands(names, eco) if names else []


#: How each ecosystem upgrades an installed package (installing it again would do nothing).
UPGRADE_COMMANDS: dict[str, tuple[str, ...]] = {
    "debian": ("apt-get", "install", "--only-upgrade", "-y"),
    "fedora": ("dnf", "upgrade", "-y"),
    "alpine": ("apk", "upgrade"),
    "arch": ("pacman", "-S", "--needed", "--noconfirm"),
    "homebrew": ("brew", "upgrade"),
    "conda-forge": ("conda", "update", "-y"),
    "spack": ("spack", "install"),
    "vcpkg": ("vcpkg", "upgrade", "--no-dry-run"),
    "chocolatey": ("choco", "upgrade", "-y"),
    "winget": ("winget", "upgrade"),
}


def _upgrade(rows: list[Row], ecosystem: str | None) -> list[list[str]]:
    """One upgrade command for the packages of ``rows`` (nix has none: it rebuilds)."""
    prefix = UPGRADE_COMMANDS.get(ecosystem or "")
    names = list(dict.fromkeys(p for r in rows if r.packages for p in r.packages))
    if prefix is None or not names:
        return []
    if ecosystem == "winget":  # one package per call
        return [[*prefix, "--id", n] for n in names]
    return [[*prefix, *names]]


def _category(value: str) -> Category:
    return value if value in _CATEGORIES else "host"


def _proposal_dep(proposal: infer.Proposal) -> ExternalDependency:
    from native_doctor.deps.depurl import parse_specifier

    return parse_specifier(proposal.specifier)


def as_json(report: DepsReport) -> dict[str, Any]:
    """The report as JSON-ready data (``native-doctor deps --format json``)."""
    return {
        "path": report.path,
        "kind": report.kind,
        "declared": report.table is not None and not report.table.is_empty,
        "ecosystem": report.ecosystem,
        "dependencies": [
            {
                "depurl": str(r.dep.url),
                "marker": str(r.dep.marker) if r.dep.marker is not None else None,
                "category": r.category,
                "applies": r.applies,
                "packages": list(r.packages) if r.packages is not None else None,
            }
            for r in report.rows
        ],
        "install_commands": report.install,
        "check": None
        if report.checks is None
        else [
            {
                "depurl": str(c.dep.url),
                "category": c.category,
                "present": c.present,
                "found": list(c.found),
                "version": c.version,
                "satisfies_version": c.satisfies_version,
                "missing": list(c.missing),
            }
            for c in report.checks
        ],
        "install_missing": report.install_missing,
        "upgrade_old": report.upgrade_old,
        "inferred": None
        if report.inference is None
        else {
            "proposals": [
                {
                    "depurl": p.url,
                    "category": p.category,
                    "optional": p.optional,
                    "vendored": p.vendored,
                    "evidence": list(p.evidence),
                    "marker": p.marker,
                    "bundled": p.bundled,
                    "feature": p.feature,
                    "default": p.default,
                    "packages": _inferred_packages(report, p),
                }
                for p in report.inference.proposals
            ],
            "install_commands": report.inferred_install,
            "toml": infer.to_toml(report.inference),
        },
    }


def _inferred_packages(report: DepsReport, proposal: infer.Proposal) -> list[str] | None:
    """The ecosystem's names for an inferred proposal (None: unmapped, vendored or no ecosystem)."""
    if report.ecosystem is None or proposal.vendored or proposal.bundled:
        return None
    for row in report.inferred_rows:
        if str(row.dep.url) == proposal.url and row.category == proposal.category:
            return list(row.packages) if row.packages is not None else None
    return None
