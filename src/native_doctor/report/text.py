"""The text report for people, rendered with rich (colour only where the console allows it)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape as _markup_escape

from native_doctor._text import printable
from native_doctor.analysis import BinaryReport, Inspection
from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.checks.registry import Finding, Severity
from native_doctor.model import ArtifactKind, Resolution
from native_doctor.platforms import linux, windows
from native_doctor.report.listing import capped, verdict

__all__ = ["LOCATIONS_SHOWN", "render"]

#: How many members a finding of one cause in many places names before "and N more".
LOCATIONS_SHOWN = 5

_STYLE = {Resolution.BUNDLED: "green", Resolution.SYSTEM: "dim", Resolution.EXTERNAL: "bold red"}
_SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def escape(text: str) -> str:
    """Input-derived text made safe for the terminal: control and bidi characters visible
    (:func:`native_doctor._text.printable`), and rich markup escaped."""
    return _markup_escape(printable(text))


def render(
    console: Console,
    inspections: Sequence[Inspection],
    findings: Sequence[Finding],
    *,
    header: Sequence[str] = (),
    verbose: bool = False,
    binaries: bool = True,
) -> None:
    """Print the report: optional header lines, each artifact (with its binaries unless
    ``binaries`` is False), the findings, then for wheels one closing verdict line."""
    for line in header:
        console.print(escape(line), highlight=False)
    for inspection in inspections:
        _artifact(console, inspection, verbose=verbose, binaries=binaries)
    # Wheels that could not be read (ND001) count too: they were asked about.
    unreadable = {f.artifact for f in findings if f.code == "ND001"}
    artifacts = {i.artifact.path for i in inspections} | unreadable
    _findings(console, findings, several=len(artifacts) > 1)
    wheels = {i.artifact.path for i in inspections if i.artifact.kind is ArtifactKind.WHEEL} | unreadable
    if wheels:  # inspect and check; the environment report closes with its own line (all installed)
        console.print()
        console.print(f"[bold]{escape(verdict(findings, len(wheels), 'wheel'))}[/]", highlight=False)


def _artifact(console: Console, inspection: Inspection, *, verbose: bool, binaries: bool) -> None:
    artifact = inspection.artifact
    platform = inspection.platform
    title = artifact.path if artifact.kind is ArtifactKind.WHEEL else f"{artifact.name} {artifact.version}"
    console.print()
    console.print(f"[bold]{escape(title)}[/]", highlight=False)
    if artifact.kind is ArtifactKind.DISTRIBUTION:
        _field(console, "location", artifact.path)
    if platform.claimed_platforms:
        _field(console, "claimed", ", ".join(platform.claimed_platforms))
    if platform.qualifies_for:
        _field(console, "qualifies for", ", ".join(platform.qualifies_for))
    elif platform.os is not None:
        _field(
            console,
            "qualifies for",
            f"[red]no platform tag: {escape(_why_no_tag(inspection))}[/]",
            markup=True,
        )
    if inspection.repair.tool:
        count = len(inspection.repair.vendored)
        _field(console, "repaired by", f"{inspection.repair.tool} ({count} vendored libraries)")
    external = inspection.external_libraries
    if external:
        _field(console, "external", f"[bold red]{escape(', '.join(external))}[/]", markup=True)
    if not inspection.binaries:
        _field(console, "native files", "none")
    elif not binaries:
        _field(console, "native files", str(len(inspection.binaries)))
        return
    for binary in inspection.binaries:
        _binary(console, binary, verbose=verbose)


def _why_no_tag(inspection: Inspection) -> str:
    formats = {b.native.info.format for b in inspection.binaries if b.native.info is not None}
    if not formats:
        return "no native file could be read"
    if not inspection.platform.archs:
        return "the binaries do not share one architecture"
    return f"no {inspection.platform.os} tag exists for {', '.join(inspection.platform.archs)}"


def _field(console: Console, label: str, value: str, *, markup: bool = False) -> None:
    text = value if markup else escape(value)
    console.print(f"  [cyan]{label + ':':<15}[/]{text}", highlight=False)


def _binary(console: Console, report: BinaryReport, *, verbose: bool) -> None:
    native = report.native
    info = native.info
    if info is None:
        console.print(f"  [bold red]{escape(native.path)}[/]  unreadable: {escape(native.error or '')}")
        return
    shape = f"{info.format.value} {info.arch} {info.bits}-bit {info.kind.value}"
    if info.slices:
        shape += ", " + ", ".join(f"{s.arch} macOS >= {s.min_os or '?'}" for s in info.slices)
    elif info.min_os:
        shape += f", macOS >= {info.min_os}"
    if info.format is BinaryFormat.PE:
        shape += f", CRT {windows.c_runtime(info.all_needed) or 'none'}"
    highest = _highest_versions(info)
    if highest:
        shape += ", needs " + " ".join(highest)
    console.print(f"  [bold]{escape(native.path)}[/]  [dim]{escape(shape)}[/]", highlight=False)
    for dep in report.dependencies:
        if dep.resolution is Resolution.SYSTEM and not verbose:
            continue
        target = dep.member or dep.via
        lazy = " (lazy)" if dep.lazy else ""
        console.print(
            f"    [{_STYLE[dep.resolution]}]{dep.resolution.value:<8}[/] {escape(dep.name)}{lazy}  "
            f"[dim]{escape(target)}[/]",
            highlight=False,
        )
    system = _compact([d.name for d in report.dependencies if d.resolution is Resolution.SYSTEM])
    if system and not verbose:
        console.print(f"    [dim]system   {escape(', '.join(system))}[/]", highlight=False)
    if verbose and info.symbol_versions:
        for library, versions in info.symbol_versions.items():
            console.print(
                f"    [dim]versions {escape(library)}: {escape(', '.join(versions))}[/]", highlight=False
            )


def _compact(names: list[str]) -> list[str]:
    """Fold the Universal CRT's many API-set DLLs into one entry for the summary line."""
    api_sets = [n for n in names if n.lower().startswith("api-ms-win-crt-")]
    rest = [n for n in names if n not in api_sets]
    return [*rest, f"api-ms-win-crt-* ({len(api_sets)} API sets)"] if len(api_sets) > 1 else names


#: Symbol-version namespaces whose highest needed version decides a manylinux tag.
_GOVERNED = ("GLIBC", "GLIBCXX", "CXXABI", "GCC")


def _highest_versions(info: BinaryInfo) -> list[str]:
    """``["GLIBC_2.27", "GLIBCXX_3.4.21"]``: the highest needed version per governed namespace."""
    best: dict[str, tuple[tuple[int, ...], str]] = {}
    for versions in info.symbol_versions.values():
        for version in versions:
            key, numbers = linux.parse_symbol_version(version)
            if key in _GOVERNED and numbers and (key not in best or numbers > best[key][0]):
                best[key] = (numbers, version)
    return [best[key][1] for key in _GOVERNED if key in best]


def _findings(console: Console, findings: Sequence[Finding], *, several: bool) -> None:
    if not findings:
        return
    console.print()
    console.print(f"[bold]{len(findings)} finding{'s' if len(findings) != 1 else ''}[/]")
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        group = [f for f in findings if f.severity is severity]
        if not group:
            continue
        style = _SEVERITY_STYLE[severity]
        console.print(f"[{style}]{severity.value}s ({len(group)})[/]", highlight=False)
        for finding in group:
            where = f" [dim]({escape(_basename(finding.artifact))})[/]" if several else ""
            console.print(
                f"  [{style}]{finding.code}[/] {finding.name}{where}: {escape(finding.message)}",
                highlight=False,
            )
            locations = finding.all_locations
            if len(locations) > 1:
                console.print(
                    f"    [dim]in {len(locations)} files: {escape(capped(locations, LOCATIONS_SHOWN))}[/]",
                    highlight=False,
                )
    console.print(
        f"[dim]why and how to fix: native-doctor explain {' '.join(_codes(findings))}[/]", highlight=False
    )


def _codes(findings: Sequence[Finding]) -> list[str]:
    """Every code once, those of errors first (then warnings, then info), by code within each."""
    worst: dict[str, int] = {}
    for finding in findings:
        worst[finding.code] = max(worst.get(finding.code, 0), finding.severity.rank)
    return sorted(worst, key=lambda code: (-worst[code], code))


def _basename(path: str) -> str:
    """The file name of an artifact path (either separator), or the path when it has none."""
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or path
