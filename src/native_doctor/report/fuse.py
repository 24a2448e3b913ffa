"""Render ``native-doctor fuse`` results: plain text for people, versioned JSON for machines."""

from __future__ import annotations

import json

from native_doctor.repair.fuse import FuseResult

__all__ = ["fuse_json", "fuse_text"]

FUSE_SCHEMA = 1


def fuse_text(result: FuseResult, *, dry_run: bool) -> str:
    lines = [f"{'plan: fuse' if dry_run else 'fuse'} {result.arm64} + {result.x86_64}"]
    lines += [f"  fat    {name} (x86_64 + arm64)" for name in result.fused]
    lines += [f"  differs {name}: {why}" for name, why in result.different]
    lines.append(f"  tag    {result.platform}")
    if result.problem is not None:
        lines.append(f"  cannot fuse: {result.problem}")
    elif result.output is not None:
        lines.append(f"  wrote  {result.output}")
    return "\n".join(lines) + "\n"


def fuse_json(result: FuseResult, *, dry_run: bool) -> str:
    from native_doctor import __version__

    document = {
        "schema_version": FUSE_SCHEMA,
        "tool": {"name": "native-doctor", "version": __version__},
        "dry_run": dry_run,
        "arm64": result.arm64,
        "x86_64": result.x86_64,
        "output": result.output,
        "platform": result.platform,
        "fused": list(result.fused),
        "different": [{"member": n, "how": why} for n, why in result.different],
        "problem": result.problem,
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
