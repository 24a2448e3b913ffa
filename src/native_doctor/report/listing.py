"""Shared wording for the reports: a capped list of locations, the closing verdict line."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from native_doctor.checks.registry import Finding, Severity

__all__ = ["capped", "verdict"]


def capped(items: Sequence[str], limit: int) -> str:
    """``a, b, c and 4 more``: at most ``limit`` items, then how many were left out."""
    if len(items) <= limit + 1:  # "and 1 more" would take as much room as the item
        return ", ".join(items)
    return f"{', '.join(items[:limit])} and {len(items) - limit} more"


def verdict(findings: Iterable[Finding], artifacts: int, noun: str) -> str:
    """The closing line: ``no problems found`` or ``2 errors, 3 warnings in 4 wheels``.

    Only errors and warnings are problems; info findings are counted after them when present.
    """
    counts = dict.fromkeys(Severity, 0)
    for finding in findings:
        counts[finding.severity] += 1
    where = f"in {artifacts} {noun}{'' if artifacts == 1 else 's'}"
    info = counts[Severity.INFO]
    notes = f"{info} info finding{'' if info == 1 else 's'}"
    if not counts[Severity.ERROR] and not counts[Severity.WARNING]:
        return f"no problems found {where}" + (f" ({notes})" if info else "")
    parts = [
        f"{n} {severity.value}{'' if n == 1 else 's'}"
        for severity in (Severity.ERROR, Severity.WARNING)
        if (n := counts[severity])
    ]
    if info:
        parts.append(notes)
    return f"{', '.join(parts)} {where}"
