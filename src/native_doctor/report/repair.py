"""Render repair plans and results: plain text for people, versioned JSON for machines."""

from __future__ import annotations

import json
from typing import Any

from native_doctor.repair.model import RepairResult

__all__ = ["REPAIR_SCHEMA", "repair_json", "repair_text"]

#: The envelope's ``schema_version`` (the same contract rules as the inspect report).
REPAIR_SCHEMA = 1


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def repair_text(results: list[RepairResult], *, dry_run: bool) -> str:
    """One block per wheel: what is grafted, linked, left out, how RUNPATHs change, the tag."""
    lines: list[str] = []
    for result in results:
        plan = result.plan
        lines.append(f"{'plan for' if dry_run else 'repair'} {plan.wheel}")
        for graft in plan.grafts:
            lines.append(
                f"  graft  {graft.name} -> {graft.member} ({_size(graft.size)}, found in {graft.found_in})"
            )
            lines.append(f"         needed by {', '.join(graft.needed_by)}; chain {' -> '.join(graft.chain)}")
        for link in plan.links:
            state = "declared" if link.declared else "Requires-Dist added"
            lines.append(
                f"  link   {link.name} -> {link.distribution} ({link.directory or 'site-packages'}; "
                f"{link.because}; {state})"
            )
        for reach in plan.in_wheel:
            lines.append(f"  reach  {reach.name} -> {reach.member} (already in the wheel; RUNPATH added)")
        for left in plan.left:
            lines.append(f"  leave  {left.name}: {left.detail}")
        for missing in plan.missing:
            lines.append(f"  MISSING {missing.name}: needed by {', '.join(missing.needed_by)}")
            lines.append(f"         chain {' -> '.join(missing.chain)}")
            for path, why in missing.rejected:
                lines.append(f"         skipped {path}: {why}")
        for change in result.runpaths:
            before = ":".join(change.before) or "(none)"
            lines.append(f"  RUNPATH {change.member}: {before} -> {':'.join(change.after)}")
            for entry, why in change.dropped:
                lines.append(f"         dropped {entry}: {why}")
        for warning in plan.warnings:
            lines.append(f"  warning: {warning}")
        for note in result.notes:
            lines.append(f"  note: {note}")
        if plan.grafts:
            lines.append(f"  adds   {_size(plan.bytes_added)} uncompressed")
        if result.platforms:
            lines.append(f"  tag    {'.'.join(result.platforms)}")
        if result.problem is not None:
            lines.append(f"  cannot repair: {result.problem}")
        elif result.unchanged:
            lines.append("  nothing to do" + (f": copied to {result.output}" if result.output else ""))
        elif result.output is not None:
            lines.append(f"  wrote  {result.output}")
    return "\n".join(lines) + "\n"


def _result(result: RepairResult) -> dict[str, Any]:
    plan = result.plan
    return {
        "wheel": plan.wheel,
        "output": result.output,
        "platforms": list(result.platforms),
        "unchanged": result.unchanged,
        "problem": result.problem,
        "libs_dir": plan.libs_dir,
        "bytes_added": plan.bytes_added,
        "grafts": [
            {
                "name": g.name,
                "new_name": g.new_name,
                "member": g.member,
                "source": g.source,
                "found_in": g.found_in,
                "size": g.size,
                "sha256": g.sha256,
                "needed_by": list(g.needed_by),
                "chain": list(g.chain),
            }
            for g in plan.grafts
        ],
        "links": [
            {
                "name": lk.name,
                "distribution": lk.distribution,
                "directory": lk.directory,
                "needed_by": list(lk.needed_by),
                "declared": lk.declared,
                "because": lk.because,
            }
            for lk in plan.links
        ],
        "in_wheel": [
            {"name": x.name, "member": x.member, "directory": x.directory, "needed_by": list(x.needed_by)}
            for x in plan.in_wheel
        ],
        "left": [
            {"name": x.name, "reason": x.reason.value, "detail": x.detail, "needed_by": list(x.needed_by)}
            for x in plan.left
        ],
        "missing": [
            {
                "name": m.name,
                "needed_by": list(m.needed_by),
                "chain": list(m.chain),
                "rejected": [{"path": p, "reason": r} for p, r in m.rejected],
            }
            for m in plan.missing
        ],
        "runpaths": [
            {
                "member": c.member,
                "before": list(c.before),
                "after": list(c.after),
                "dropped": [{"entry": e, "reason": r} for e, r in c.dropped],
            }
            for c in result.runpaths
        ],
        "edited": list(result.edited),
        "requirements_added": list(result.requirements_added),
        "warnings": list(plan.warnings),
        "notes": list(result.notes),
    }


def repair_json(results: list[RepairResult], *, dry_run: bool) -> str:
    """``{"schema_version": 1, "tool": {...}, "dry_run": ..., "wheels": [...]}``."""
    from native_doctor import __version__

    document = {
        "schema_version": REPAIR_SCHEMA,
        "tool": {"name": "native-doctor", "version": __version__},
        "dry_run": dry_run,
        "wheels": [_result(r) for r in results],
    }
    return json.dumps(document, indent=2, sort_keys=False) + "\n"
