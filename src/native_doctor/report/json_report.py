"""The JSON report: a versioned, documented contract (see docs/json-schema.md).

Keys are stable within a ``schema_version``; new keys may be added, none removed or renamed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from native_doctor import __version__
from native_doctor.analysis import BinaryReport, Inspection
from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.checks.registry import Finding, sort_findings
from native_doctor.platforms import windows

__all__ = [
    "SCHEMA_VERSION",
    "document",
    "dumps",
    "element",
    "finding_to_dict",
    "inspection_to_dict",
    "join_members",
    "list_member",
    "member",
]

SCHEMA_VERSION = 1


def document(
    inspections: Iterable[Inspection],
    findings: Iterable[Finding],
    *,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole report as plain JSON-ready data."""
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "native-doctor", "version": __version__},
    }
    if extra:
        doc.update(extra)
    doc["artifacts"] = [inspection_to_dict(i) for i in inspections]
    doc["findings"] = [finding_to_dict(f) for f in findings]
    return doc


def dumps(doc: Mapping[str, Any]) -> str:
    """Serialize a report (stable key order as built, two-space indent, ASCII-safe)."""
    return json.dumps(doc, indent=2) + "\n"


def member(key: str, value: Any) -> str:
    """One top-level member of a report, as :func:`dumps` writes it (without the comma): the
    parts of a report can be encoded apart (in another process) and joined by
    :func:`join_members` into the same text. JSON strings hold no raw line break, so indenting
    every line after the first by one level is what the encoder does for a nested value."""
    return "  " + json.dumps(key) + ": " + json.dumps(value, indent=2).replace("\n", "\n  ")


def element(value: Any) -> str:
    """One element of a top-level member's list, as :func:`dumps` writes it (without the
    comma): a list's elements can be encoded apart too (:func:`list_member` joins them)."""
    return "    " + json.dumps(value, indent=2).replace("\n", "\n    ")


def list_member(key: str, elements: Sequence[str]) -> str:
    """The top-level member ``key`` whose value is the list of ``elements`` (each from
    :func:`element`, in order): ``member(key, values) == list_member(key, [element(v) for v in
    values])``."""
    if not elements:
        return "  " + json.dumps(key) + ": []"
    return "  " + json.dumps(key) + ": [\n" + ",\n".join(elements) + "\n  ]"


def join_members(members: Sequence[str]) -> str:
    """The report whose top-level members are ``members`` (each from :func:`member`, in order):
    ``dumps(doc) == join_members([member(k, v) for k, v in doc.items()])`` for a non-empty doc."""
    return "{\n" + ",\n".join(members) + "\n}\n"


def inspection_to_dict(inspection: Inspection) -> dict[str, Any]:
    """One artifact's entry in ``artifacts``."""
    artifact = inspection.artifact
    platform = inspection.platform
    return {
        "path": artifact.path,
        "kind": artifact.kind.value,
        "name": artifact.name,
        "version": artifact.version,
        "size": artifact.size,
        "claimed_tags": list(artifact.claimed_tags),
        "installer": artifact.installer,
        "platform": {
            "os": platform.os.value if platform.os else None,
            "libc": platform.libc,
            "archs": list(platform.archs),
            "claimed": list(platform.claimed_platforms),
            "qualifies_for": list(platform.qualifies_for),
        },
        "external_libraries": list(inspection.external_libraries),
        "policy_upgrades": {
            u.tag: {
                "libs_to_eliminate": list(u.libs_to_eliminate),
                "blacklisted_symbols": {lib: list(names) for lib, names in u.blacklisted_symbols.items()},
            }
            for u in platform.policy_upgrades
        },
        "repair": {"tool": inspection.repair.tool, "vendored": list(inspection.repair.vendored)},
        "binaries": [_binary(b) for b in inspection.binaries],
    }


def _binary(report: BinaryReport) -> dict[str, Any]:
    native = report.native
    info = native.info
    entry: dict[str, Any] = {
        "path": native.path,
        "install_path": native.install_path,
        "size": native.size,
        "error": native.error,
    }
    if info is not None:
        entry.update(_info(info))
    entry["dependencies"] = [
        {"name": d.name, "resolution": d.resolution.value, "member": d.member, "via": d.via, "lazy": d.lazy}
        for d in report.dependencies
    ]
    return entry


def _info(info: BinaryInfo) -> dict[str, Any]:
    entry = _common(info)
    if info.format is BinaryFormat.PE:
        entry["c_runtime"] = windows.c_runtime(info.all_needed)
        entry["runtime_libraries"] = {
            family: [n for n in info.all_needed if windows.runtime_family(n) == family]
            for family in ("msvc", "mingw")
        }
    return entry


def _common(info: BinaryInfo) -> dict[str, Any]:
    return {
        "format": info.format.value,
        "arch": info.arch,
        "archs": list(info.archs),
        "bits": info.bits,
        "byteorder": info.byteorder,
        "kind": info.kind.value,
        "needed": list(info.needed),
        "delay_needed": list(info.delay_needed),
        "soname": info.soname,
        "install_name": info.install_name,
        "rpath": list(info.rpath),
        "runpath": list(info.runpath),
        "symbol_versions": {lib: list(v) for lib, v in info.symbol_versions.items()},
        "min_os": info.min_os,
        "slices": [_slice(s) for s in info.slices],
        "linker_version": info.linker_version,
        "file_version": info.file_version,
        "x86_isa_level": info.x86_isa_level,
    }


def _slice(info: BinaryInfo) -> dict[str, Any]:
    return {"arch": info.arch, "min_os": info.min_os, "sdk": info.sdk, "needed": list(info.needed)}


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """One entry of ``findings``."""
    return {
        "code": finding.code,
        "name": finding.name,
        "severity": finding.severity.value,
        "message": finding.message,
        "artifact": finding.artifact,
        "member": finding.member,
        "locations": list(finding.all_locations),
        "detail": finding.detail,
        "url": finding.url,
        "page": finding.page_url,
    }


def sorted_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Findings in the reports' stable order (see :func:`~native_doctor.checks.registry.sort_findings`)."""
    return sort_findings(findings)
