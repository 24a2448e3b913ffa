"""The check registry: every check's code, name, severity, status and documentation, once.

Codes are ``ND`` plus three digits, grouped by hundreds: ``ND0xx`` reading inputs, ``ND1xx``
wheel tags, ``ND2xx`` dependencies, ``ND3xx`` Linux, ``ND4xx`` macOS, ``ND5xx`` Windows,
``ND6xx`` ABI, ``ND7xx`` environments. A code is never reused; a removed check keeps its entry.
The documentation text feeds ``native-doctor explain``, the JSON output and the docs alike.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from native_doctor.analysis import Inspection
    from native_doctor.environment import EnvironmentInspection

__all__ = [
    "Check",
    "Finding",
    "Severity",
    "Status",
    "all_checks",
    "get",
    "group_findings",
    "register",
    "run_checks",
    "sort_findings",
]

_CODE = re.compile(r"^ND\d{3}$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
DOCS_BASE = "https://github.com/native-doctor/native-doctor/blob/main/docs/checks.md"
KNOWLEDGE_BASE = "https://github.com/native-doctor/native-doctor/blob/main/docs/knowledge"
#: The knowledge-base pages (docs/knowledge/<slug>.md) a check may link to.
PAGES = (
    "native-dependencies",
    "blas-lapack-openmp",
    "abi-and-symbol-versions",
    "cpp-dependencies",
    "gpus-and-cuda",
    "simd-and-cpu-baselines",
    "platform-tags-and-manylinux",
    "windows-runtimes",
    "macos-deployment-targets",
    "unexpected-source-builds",
    "cross-compilation",
    "wheel-contents",
)


class Severity(StrEnum):
    """How bad a finding is; ``--fail-on`` compares against this order."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for error."""
        return list(Severity).index(self)


class Status(StrEnum):
    """A check's life cycle (as in ruff): removed checks keep their code reserved."""

    STABLE = "stable"
    PREVIEW = "preview"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in one artifact."""

    code: str
    name: str
    severity: Severity
    message: str
    #: The artifact (wheel path, dist-info path) the finding is about.
    artifact: str
    #: The member (file inside the artifact), when the finding is about one.
    member: str | None = None
    #: The specific thing: a library name, a symbol version, a tag.
    detail: str | None = None
    #: The knowledge-base page (slug) that explains the problem behind the check.
    page: str | None = None
    #: Every member the same cause was found in, ``member`` first (set by :func:`group_findings`;
    #: empty for a finding about one place: then :attr:`all_locations` is just ``member``).
    locations: tuple[str, ...] = ()

    @property
    def all_locations(self) -> tuple[str, ...]:
        """Every member this finding is about (``member`` first); empty when it names none."""
        if self.locations:
            return self.locations
        return (self.member,) if self.member is not None else ()

    @property
    def url(self) -> str:
        """Where the check is documented."""
        return f"{DOCS_BASE}#{self.code.lower()}-{self.name}"

    @property
    def page_url(self) -> str | None:
        """The knowledge-base page about the problem, if the check names one."""
        return f"{KNOWLEDGE_BASE}/{self.page}.md" if self.page else None


CheckFunction = Callable[["Inspection"], Iterable[Finding]]
#: A check of scope ``environment`` reads the whole environment instead of one artifact.
EnvironmentCheckFunction = Callable[["EnvironmentInspection"], Iterable[Finding]]


@dataclass(frozen=True, slots=True)
class Check:
    """A registered check and its documentation."""

    code: str
    name: str
    severity: Severity
    status: Status
    summary: str
    #: What it checks.
    what: str
    #: Why it matters: the failure a user sees, with the real error message.
    why: str
    #: How to fix it.
    fix: str
    references: tuple[str, ...]
    #: Knowledge-base page slug (one of :data:`PAGES`).
    page: str
    function: CheckFunction | None
    #: ``artifact`` (a wheel or one distribution) or ``environment`` (the installed environment).
    scope: str = "artifact"
    environment_function: EnvironmentCheckFunction | None = None
    #: The detail is one entry of a list a file carries (ND301: one RPATH/RUNPATH entry): the
    #: entries found in the same files are one cause, reported as one finding naming them all.
    list_entries: bool = False

    def finding(
        self,
        message: str,
        artifact: str,
        member: str | None = None,
        detail: str | None = None,
        *,
        severity: Severity | None = None,
    ) -> Finding:
        """A finding of this check, at its default severity unless the check's documentation says
        when another applies (``severity``)."""
        chosen = self.severity if severity is None else severity
        return Finding(self.code, self.name, chosen, message, artifact, member, detail, self.page)


_REGISTRY: dict[str, Check] = {}


def register(
    code: str,
    name: str,
    severity: Severity,
    *,
    summary: str,
    what: str,
    why: str,
    fix: str,
    page: str,
    references: tuple[str, ...] = (),
    status: Status = Status.STABLE,
    list_entries: bool = False,
) -> Callable[[CheckFunction | None], Check]:
    """Register a check: use as a decorator on its function (``None`` for source-level checks)."""
    if not _CODE.match(code) or not _NAME.match(name):
        raise ValueError(f"malformed check code or name: {code} {name}")
    if page not in PAGES:
        raise ValueError(f"check {code}: unknown knowledge page {page!r}")

    def decorate(function: CheckFunction | None) -> Check:
        if code in _REGISTRY or any(c.name == name for c in _REGISTRY.values()):
            raise ValueError(f"check {code} ({name}) registered twice")
        check = Check(code, name, severity, status, summary, what, why, fix, references, page, function)
        if list_entries:
            check = dataclasses.replace(check, list_entries=True)
        _REGISTRY[code] = check
        return check

    return decorate


def all_checks() -> list[Check]:
    """Every registered check, sorted by code."""
    from native_doctor.checks import (  # noqa: F401 - importing a module registers its checks
        abi,
        builtin,
        dependencies,
        environment,
        licenses,
        linux,
        macos,
        wheel,
        windows,
    )

    return [_REGISTRY[code] for code in sorted(_REGISTRY)]


def get(code_or_name: str) -> Check | None:
    """The check with this code (any case) or name."""
    wanted = code_or_name.strip()
    for check in all_checks():
        if check.code == wanted.upper() or check.name == wanted.lower():
            return check
    return None


def register_environment(
    code: str,
    name: str,
    severity: Severity,
    *,
    summary: str,
    what: str,
    why: str,
    fix: str,
    page: str,
    references: tuple[str, ...] = (),
    status: Status = Status.STABLE,
) -> Callable[[EnvironmentCheckFunction], Check]:
    """Register a check of scope ``environment`` (see :func:`register`)."""

    def decorate(function: EnvironmentCheckFunction) -> Check:
        registered = register(
            code,
            name,
            severity,
            summary=summary,
            what=what,
            why=why,
            fix=fix,
            page=page,
            references=references,
            status=status,
        )(None)
        check = dataclasses.replace(registered, scope="environment", environment_function=function)
        _REGISTRY[code] = check
        return check

    return decorate


def run_environment_checks(
    environment: EnvironmentInspection, selected: Collection[str] | None = None
) -> Iterator[Finding]:
    """Every finding of the selected environment checks (default: every stable one)."""
    for check in all_checks():
        function = check.environment_function
        if function is None:
            continue
        if check.code in selected if selected is not None else check.status is Status.STABLE:
            yield from group_findings(function(environment))


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """The one stable order of findings every report uses: artifact, severity (worst first), code,
    member, detail, message."""
    return sorted(
        findings,
        key=lambda f: (f.artifact, -f.severity.rank, f.code, f.member or "", f.detail or "", f.message),
    )


def run_checks(inspection: Inspection, selected: Collection[str] | None = None) -> Iterator[Finding]:
    """Every finding of the selected checks (default: every stable one) on one inspected artifact."""
    for check in all_checks():
        if check.function is None or check.scope != "artifact":
            continue
        if check.code in selected if selected is not None else check.status is Status.STABLE:
            yield from group_findings(check.function(inspection), list_entries=check.list_entries)


def group_findings(findings: Iterable[Finding], *, list_entries: bool = False) -> list[Finding]:
    """One finding per cause: findings that differ only in their member become one listing every
    location (in first-seen order, ``member`` first).

    Same cause means the same code, severity, artifact and detail, and the same message once the
    member's path is taken out of it (checks name the file in the message). The merged message
    names the first file and how many more (``a.so (and 206 more) has RUNPATH ...``); the
    reports list the locations. Findings without a member are kept as they are (exact repeats
    are dropped).

    With ``list_entries`` (a check whose detail is one entry of a list a file carries, such as
    one RUNPATH entry) the findings that then differ only in that entry and name the same files
    become one too: torch's CPU wheel's 69 test programs each carry the same three-entry RUNPATH,
    one finding instead of 207.
    """
    groups: dict[tuple[object, ...], list[Finding]] = {}
    for finding in findings:
        groups.setdefault(_cause(finding), []).append(finding)
    merged = [_merge(group) for group in groups.values()]
    if not list_entries:
        return merged
    lists: dict[tuple[object, ...], list[Finding]] = {}
    for finding in merged:
        lists.setdefault(_same_files(finding), []).append(finding)
    return [_merge_entries(group) for group in lists.values()]


def _cause(finding: Finding) -> tuple[object, ...]:
    message = finding.message
    if finding.member:
        message = message.replace(finding.member, "\0")
    return (finding.code, finding.severity, finding.artifact, finding.detail, message, finding.member is None)


def _same_files(finding: Finding) -> tuple[object, ...]:
    """Findings with this key differ only in the list entry (their detail)."""
    if not finding.detail or not finding.all_locations or finding.detail not in finding.message:
        return (id(finding),)  # nothing to name the entry by: stays on its own
    message = finding.message.replace(repr(finding.detail), "\1").replace(finding.detail, "\1")
    return (finding.code, finding.severity, finding.artifact, finding.all_locations, message)


def _merge_entries(group: list[Finding]) -> Finding:
    first = group[0]
    if len(group) == 1 or first.detail is None:
        return first
    details = [f.detail for f in group if f.detail is not None]
    if repr(first.detail) in first.message:
        message = first.message.replace(repr(first.detail), ", ".join(map(repr, details)), 1)
    else:
        message = first.message.replace(first.detail, ", ".join(details), 1)
    return dataclasses.replace(first, message=message, detail=", ".join(details))


def _merge(group: list[Finding]) -> Finding:
    first = group[0]
    locations = tuple(dict.fromkeys(loc for f in group for loc in f.all_locations))
    if len(locations) <= 1:
        return first
    named = f"{first.member} (and {len(locations) - 1} more)"
    message = first.message.replace(first.member, named, 1) if first.member else first.message
    return dataclasses.replace(first, message=message, locations=locations)
