"""Write docs/checks.md from the check registry (the one source of every check's text).

Run ``python scripts/gen_checks_doc.py``; ``tests/checks/test_registry.py`` fails when the file
is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from native_doctor.checks.registry import Check, all_checks

TARGET = Path(__file__).resolve().parent.parent / "docs" / "checks.md"


def render(checks: list[Check]) -> str:
    """The whole page."""
    lines = [
        "# Checks",
        "",
        "Generated from the check registry by `python scripts/gen_checks_doc.py`; the same text is",
        "printed by `native-doctor explain CODE` and carried in JSON findings as `url`.",
        "",
        "| code | name | severity | status | summary |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {c.code} | {c.name} | {c.severity.value} | {c.status.value} | {c.summary} |" for c in checks
    ]
    for check in checks:
        lines += [
            "",
            f"## {check.code} {check.name}",
            "",
            f"*{check.severity.value}, {check.status.value}.* {check.summary}",
        ]
        lines += ["", "**What it checks.** " + check.what, "", "**Why it matters.** " + check.why]
        lines += ["", "**How to fix.** " + check.fix]
        if check.references:
            lines += ["", "**References.**", ""] + [f"- {ref}" for ref in check.references]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Write the page; return 0."""
    TARGET.write_text(render(all_checks()), encoding="utf-8")
    print(f"wrote {TARGET}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
