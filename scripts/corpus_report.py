"""Run every check over the pinned real-wheel corpus and write docs/corpus-report.md.

    python scripts/corpus_report.py [--include-benchmark] [--out docs/corpus-report.md]

The generated part (between the markers) is the table of findings per wheel and the list of every
finding; the judgement of each finding above the markers is written by hand and kept.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _corpus import ensure, wheels  # noqa: E402
from native_doctor.analysis import inspect_artifact  # noqa: E402
from native_doctor.checks.registry import Finding, run_checks  # noqa: E402
from native_doctor.checks.selection import select_checks  # noqa: E402
from native_doctor.sources.wheel import read_wheel  # noqa: E402

BEGIN = "<!-- generated: begin -->"
END = "<!-- generated: end -->"


def findings_for(path: Path, selected: frozenset[str]) -> list[Finding]:
    """What `native-doctor check` reports for one wheel (deep reading, RECORD verified, and the
    command's look at the Python files for optional extension modules)."""
    from native_doctor.cli import _with_optional_extensions

    inspection = _with_optional_extensions(
        path, inspect_artifact(read_wheel(path, deep=True, verify_record=True))
    )
    return sorted(run_checks(inspection, selected), key=lambda f: (f.code, f.member or "", f.detail or ""))


def render(results: list[tuple[str, str, list[Finding]]]) -> str:
    """The generated section: a table per wheel, then every finding."""
    codes = sorted({f.code for _, _, found in results for f in found})
    lines = [BEGIN, "", "| wheel | family | " + " | ".join(codes) + " |", "|---|---|" + "---|" * len(codes)]
    for filename, family, found in results:
        counts = Counter(f.code for f in found)
        cells = [str(counts[c]) if counts[c] else "" for c in codes]
        lines.append(f"| {filename} | {family} | " + " | ".join(cells) + " |")
    lines += ["", "### Every finding", ""]
    for filename, _, found in results:
        for finding in found:
            label = f"**{finding.code}** {finding.name} ({finding.severity.value})"
            lines.append(f"- `{filename}` {label}: {finding.message}")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the report; return 0."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--include-benchmark", action="store_true", help="also the 500 MB wheels")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "corpus-report.md")
    args = parser.parse_args(argv)
    selected = select_checks()
    results = []
    for entry in wheels(include_benchmark=args.include_benchmark):
        print(f"checking {entry.filename}", file=sys.stderr)
        results.append((entry.filename, entry.family, findings_for(ensure(entry), selected)))
    generated = render(results)
    text = (
        args.out.read_text(encoding="utf-8") if args.out.exists() else f"# Corpus report\n\n{BEGIN}\n{END}\n"
    )
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    args.out.write_text(head + generated + tail.lstrip("\n"), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
