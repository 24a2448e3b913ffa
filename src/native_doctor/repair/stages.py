"""Stages the Linux, macOS and Windows repair flows share: one place for each, the flows stay thin.

Reading a candidate library from a ``--lib-path`` or host folder (the platform part only says
whether the file it got fits), the per-binary set of external names, reading a graft again,
"cannot find" and "verification failed" as results.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from native_doctor.analysis import Inspection
from native_doctor.binary import read_binary
from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.errors import BinaryFormatError, UsageError
from native_doctor.model import Artifact, Resolution
from native_doctor.repair.model import CannotRepair, LocatedLibrary, RepairPlan, RepairResult
from native_doctor.repair.wheelfile import copy_atomically

__all__ = [
    "Rewritten",
    "external_names",
    "fail_verification",
    "first_binary",
    "first_fit",
    "graft_bytes",
    "missing_result",
    "output_target",
    "read_candidate",
    "rewrite_each",
    "unchanged_result",
    "with_sbom",
]

_Edit = TypeVar("_Edit")
#: New bytes by member, (size, headers) of every edit that reads back, what verification found wrong.
Rewritten = tuple[dict[str, bytes], dict[str, tuple[int, BinaryInfo]], list[str]]

#: Larger files are not libraries anyone grafts (and reading them whole would be a trap).
MAX_LIBRARY = 2 << 30


def read_candidate(
    name: str,
    candidate: str,
    how: str,
    rejected: list[tuple[str, str]],
    *,
    too_large: Callable[[int], str],
    unreadable_as: str,
    mismatch: Callable[[BinaryInfo], str | None],
    located_path: Callable[[Path], str] = str,
) -> LocatedLibrary | None:
    """The library at ``candidate`` when it is a file that reads and fits, else ``None``.

    Every refusal is appended to ``rejected`` with its reason (a missing file is not a refusal).
    ``too_large`` words the size refusal, ``unreadable_as`` names what the file failed to be,
    ``mismatch`` is the platform's word on a file that reads (``None``: it fits).
    """
    path = Path(candidate)
    try:
        if not path.is_file():
            return None
        size = path.stat().st_size
        if size > MAX_LIBRARY:
            rejected.append((candidate, too_large(size)))
            return None
        data = path.read_bytes()
    except OSError as exc:
        rejected.append((candidate, f"unreadable: {exc.strerror or exc}"))
        return None
    try:
        info = read_binary(data)
    except BinaryFormatError as exc:
        rejected.append((candidate, f"not a readable {unreadable_as}: {exc}"))
        return None
    problem = mismatch(info)
    if problem is not None:
        rejected.append((candidate, problem))
        return None
    return LocatedLibrary(name, located_path(path), data, info, hashlib.sha256(data).hexdigest(), how)


def external_names(inspection: Inspection) -> dict[str, frozenset[str]]:
    """For every binary (by wheel path), the names it needs from outside the wheel."""
    return {
        b.native.path: frozenset(d.name for d in b.dependencies if d.resolution is Resolution.EXTERNAL)
        for b in inspection.binaries
    }


def graft_bytes(source: str) -> bytes:
    """The bytes of a located library, read again when the wheel is written."""
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise CannotRepair(f"{source}: cannot be read again ({exc.strerror or exc})") from None


def missing_result(plan: RepairPlan) -> RepairResult | None:
    """The failed result naming every library the plan could not find, or ``None``."""
    if not plan.missing:
        return None
    names = ", ".join(f"{m.name} (needed by {m.needed_by[0]})" for m in plan.missing)
    return RepairResult(plan, None, (), problem=f"cannot find {names}: pass its folder with --lib-path")


def fail_verification(problems: Sequence[str]) -> CannotRepair:
    """The error that stops a repair whose verification found ``problems`` (the first five shown)."""
    return CannotRepair("verification failed, nothing written: " + "; ".join(problems[:5]))


def rewrite_each(
    edits: Sequence[_Edit],
    member: Callable[[_Edit], str],
    rewrite: Callable[[_Edit], bytes],
    check: Callable[[_Edit, bytes], tuple[list[str], BinaryInfo | None]],
    writer_error: type[Exception],
) -> Rewritten:
    """Make every edit with the platform's writer and check each result as it comes back.

    A ``writer_error`` stops the repair naming the member; what ``check`` finds is collected.
    """
    outputs: dict[str, bytes] = {}
    infos: dict[str, tuple[int, BinaryInfo]] = {}
    problems: list[str] = []
    for edit in edits:
        where = member(edit)
        try:
            data = rewrite(edit)
        except writer_error as exc:
            raise CannotRepair(f"{where}: {exc}") from None
        found, info = check(edit, data)
        problems += found
        outputs[where] = data
        if info is not None:
            infos[where] = (len(data), info)
    return outputs, infos, problems


def first_binary(inspection: Inspection, fmt: BinaryFormat, word: str) -> BinaryInfo:
    """The headers of the wheel's first readable ``fmt`` binary (``word`` names the format)."""
    for binary in inspection.binaries:
        info = binary.native.info
        if info is not None and info.format is fmt:
            return info
    raise CannotRepair(f"the wheel has no {word} file to repair")


def output_target(path: Path, out_dir: Path, name: str, *, may_be_input: bool) -> tuple[Path, bool]:
    """Where the repaired wheel goes (``out_dir`` made), and whether that is ``path`` itself.

    It may be the input only when nothing changes (``may_be_input``); otherwise that is a usage error.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / name
    if target.exists() and target.samefile(path):
        if may_be_input:
            return target, True
        raise UsageError(f"{target}: the output would overwrite the input wheel; choose another -w folder")
    return target, False


def unchanged_result(
    path: Path, out_dir: Path, plan: RepairPlan, inspection: Inspection, dry_run: bool
) -> RepairResult:
    """The result of a repair with nothing to change: the wheel copied to ``out_dir`` as it is
    (atomically; not at all when it is already there), with the platforms its name claims."""
    platforms = inspection.platform.claimed_platforms
    if dry_run:
        return RepairResult(plan, None, platforms, unchanged=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / path.name
    if target.exists() and target.samefile(path):
        return RepairResult(plan, str(target), platforms, unchanged=True)
    copy_atomically(path, target)
    return RepairResult(plan, str(target), platforms, unchanged=True)


def first_fit(
    candidates: Iterable[tuple[str, str]],
    accept: Callable[[str, str, list[tuple[str, str]]], LocatedLibrary | None],
) -> tuple[LocatedLibrary | None, list[tuple[str, str]]]:
    """The first ``(path, how)`` candidate ``accept`` takes, each path tried once, in order;
    with every refusal ``accept`` recorded on the way."""
    rejected: list[tuple[str, str]] = []
    seen: set[str] = set()
    for candidate, how in candidates:
        if candidate in seen:
            continue
        seen.add(candidate)
        found = accept(candidate, how, rejected)
        if found is not None:
            return found, rejected
    return None, rejected


def with_sbom(
    dist_info: str, artifact: Artifact, plan: RepairPlan, contents: dict[str, bytes]
) -> dict[str, bytes]:
    """``contents`` plus the SBOM of the grafted libraries (PEP 770: ``.dist-info/sboms/``), for
    every platform's repair."""
    from native_doctor.sbom.pep770 import Grafted, grafted_sbom

    grafts = [
        Grafted(g.member, g.name, g.source, read_binary(contents[g.member]), g.needed_by) for g in plan.grafts
    ]
    return {**contents, **grafted_sbom(dist_info, artifact, grafts, contents)}
