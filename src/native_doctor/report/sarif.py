"""The SARIF 2.1.0 report: findings for code-scanning tools (GitHub code scanning, IDE viewers).

One run; ``tool.driver.rules`` holds one rule per check passed in (sorted by code, so a rule's
index is stable between runs), each result points at its rule by ``ruleId`` and ``ruleIndex``.
A wheel is a file on disk, so it is the physical location (relative to ``%SRCROOT%``, the current
directory, when it lies below it); a member of the wheel is not a file, so it is a logical
location named ``<wheel>!<member>``. A finding of one cause in several members is one result with
one location per member, at most :data:`LOCATIONS_SHOWN` of them (GitHub code scanning keeps only
the first 100 of a result); the result's ``locationCount`` and ``locationsOmitted`` properties say
how many there were and how many were left out, and the JSON report keeps them all. The output
depends only on the inputs: no timestamps, no absolute paths for artifacts below the base directory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from native_doctor.checks.registry import DOCS_BASE, KNOWLEDGE_BASE, Check, Finding, Severity, sort_findings

__all__ = [
    "FINGERPRINT_KEY",
    "INFORMATION_URI",
    "LOCATIONS_SHOWN",
    "SARIF_SCHEMA",
    "SARIF_VERSION",
    "SRCROOT",
    "artifact_location",
    "fingerprint",
    "level",
    "render",
    "rule_name",
]

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/native-doctor/native-doctor"
#: The base URI id relative artifact locations are resolved against (the directory the tool ran in).
SRCROOT = "%SRCROOT%"
#: The ``partialFingerprints`` key; bump the version if the fingerprint's inputs ever change.
FINGERPRINT_KEY = "nativeDoctorFinding/v1"
#: Locations listed per result: GitHub code scanning keeps the first 100 of a result, and a wheel of
#: 100,000 members with one cause would otherwise give 49 MB of SARIF (issue 15 item 9).
LOCATIONS_SHOWN = 100

_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
#: Characters kept as they are in a relative URI path (RFC 3986 sub-delims and '@'). ':' is
#: percent-encoded: in a relative reference's first segment it would read as a scheme.
_URI_SAFE = "/!$&'()*+,;=@"


def render(
    findings: Sequence[Finding],
    checks: Sequence[Check],
    *,
    tool_version: str,
    base: Path | None = None,
) -> dict[str, Any]:
    """The SARIF log (JSON-ready data) for ``findings``, with one rule per check in ``checks``.

    Pass every registered check (``all_checks()``) to keep rule indexes stable between runs. A
    finding whose check is not in ``checks`` still gets a (minimal) rule. Artifact paths are made
    relative to ``base`` (default: the current directory) when they lie below it.
    """
    root = (base or Path.cwd()).resolve()
    by_code: dict[str, Check] = {}
    for check in checks:
        by_code.setdefault(check.code, check)
    rules: list[dict[str, Any]] = [_rule(by_code[code]) for code in sorted(by_code)]
    ordered = _ordered(findings)
    unknown = {f.code: f for f in reversed(ordered) if f.code not in by_code}
    rules += [_fallback_rule(unknown[code]) for code in sorted(unknown)]
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    results = [_result(f, index[f.code], root) for f in ordered]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "native-doctor",
                        "informationUri": INFORMATION_URI,
                        "version": tool_version,
                        "rules": rules,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }


def rule_name(name: str) -> str:
    """A check's kebab-case name as a SARIF rule name (PascalCase, as SARIF tools write them).

    ``external-library`` -> ``ExternalLibrary``; the kebab name stays in the rule's ``properties``.
    """
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))


def level(severity: Severity) -> str:
    """The SARIF level of a severity: error -> error, warning -> warning, info -> note."""
    return _LEVELS[severity]


def fingerprint(finding: Finding) -> str:
    """A hash identifying a finding across runs and machines: code, artifact file name, member, detail.

    The artifact's directory is left out (the same wheel built in another checkout or temporary
    directory is the same finding), and so is the message (its wording may improve).
    """
    parts = (finding.code, _basename(finding.artifact), finding.member or "", finding.detail or "")
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


def artifact_location(path: str, base: Path) -> dict[str, str]:
    """The ``artifactLocation`` of an artifact path: relative to ``%SRCROOT%`` when below ``base``.

    Anything else (another directory tree, another drive) is an absolute ``file:`` URI.
    """
    root = base.resolve()
    try:
        resolved = (root / path).resolve()
    except (OSError, ValueError):  # a symlink loop, a NUL byte: keep the path as written
        resolved = root / path
    if resolved.is_relative_to(root) and resolved != root:
        relative = resolved.relative_to(root).as_posix()
        return {"uri": quote(relative, safe=_URI_SAFE), "uriBaseId": SRCROOT}
    return {"uri": resolved.as_uri()}


# --- rules --------------------------------------------------------------------------------------


def _rule(check: Check) -> dict[str, Any]:
    page_url = f"{KNOWLEDGE_BASE}/{check.page}.md"
    properties: dict[str, Any] = {
        "name": check.name,
        "status": check.status.value,
        "page": page_url,
        "tags": ["native-code", "packaging", check.page],
    }
    if check.references:
        properties["references"] = list(check.references)
    return {
        "id": check.code,
        "name": rule_name(check.name),
        "shortDescription": {"text": check.summary},
        "fullDescription": {"text": check.what},
        "helpUri": _docs_url(check.code, check.name),
        "help": {"text": _help_text(check, page_url), "markdown": _help_markdown(check, page_url)},
        "defaultConfiguration": {"level": level(check.severity)},
        "properties": properties,
    }


def _fallback_rule(finding: Finding) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": finding.code,
        "name": rule_name(finding.name),
        "helpUri": finding.url,
        "defaultConfiguration": {"level": level(finding.severity)},
        "properties": {"name": finding.name},
    }
    if finding.page_url:
        rule["properties"]["page"] = finding.page_url
    return rule


def _docs_url(code: str, name: str) -> str:
    return f"{DOCS_BASE}#{code.lower()}-{name}"


def _help_text(check: Check, page_url: str) -> str:
    text = f"Why it matters: {check.why}\n\nHow to fix: {check.fix}\n\nMore: {page_url}"
    if check.references:
        text += "\n\nReferences:\n" + "\n".join(f"- {r}" for r in check.references)
    return text


def _help_markdown(check: Check, page_url: str) -> str:
    text = (
        f"**Why it matters**\n\n{check.why}\n\n**How to fix**\n\n{check.fix}\n\n"
        f"[Background: {check.page}]({page_url})"
    )
    if check.references:
        text += "\n\n**References**\n\n" + "\n".join(f"- <{r}>" for r in check.references)
    return text


# --- results ------------------------------------------------------------------------------------


def _result(finding: Finding, rule_index: int, root: Path) -> dict[str, Any]:
    physical = {"artifactLocation": artifact_location(finding.artifact, root)}
    locations: list[dict[str, Any]] = [
        {
            "physicalLocation": physical,
            "logicalLocations": [
                {
                    "name": member,
                    "fullyQualifiedName": f"{_basename(finding.artifact)}!{member}",
                    "kind": "member",
                }
            ],
        }
        for member in finding.all_locations[:LOCATIONS_SHOWN]
    ] or [{"physicalLocation": physical}]
    properties: dict[str, Any] = {"severity": finding.severity.value}
    if len(finding.all_locations) > LOCATIONS_SHOWN:
        properties["locationCount"] = len(finding.all_locations)
        properties["locationsOmitted"] = len(finding.all_locations) - LOCATIONS_SHOWN
    if finding.detail is not None:
        properties["detail"] = finding.detail
    if finding.page_url:
        properties["page"] = finding.page_url
    return {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "level": level(finding.severity),
        "message": {"text": finding.message},
        "locations": locations,
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding)},
        "properties": properties,
    }


def _ordered(findings: Iterable[Finding]) -> list[Finding]:
    """The JSON report's order."""
    return sort_findings(findings)


def _basename(path: str) -> str:
    """The file name of a path written with either separator (reports may come from Windows)."""
    return re.split(r"[\\/]", path.rstrip("\\/"))[-1] or path
