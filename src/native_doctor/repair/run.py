"""Repair one wheel: plan -> rewrite -> verify -> write.

The stages, in order, each with one job: read and inspect the wheel (``sources``, ``analysis``);
locate the external libraries (:mod:`.locate`) and decide (:mod:`.plan`); compute the ELF edits
(:mod:`.linux`) and make them (``binary.elf_write``); verify every edit and the whole repaired wheel
(:mod:`.verify`); choose the platform tag; write the output canonically and atomically
(:mod:`.wheelfile`). Nothing is written unless every stage succeeded.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.errors import UsageError
from native_doctor.model import NativeFile, Resolution, TargetOS
from native_doctor.platforms.linux import Libc
from native_doctor.repair import linux as linux_part
from native_doctor.repair.locate import Locator, installed_providers
from native_doctor.repair.model import (
    CannotRepair,
    InWheel,
    RepairOptions,
    RepairPlan,
    RepairResult,
    RunpathChange,
)
from native_doctor.repair.plan import build_plan, copies_by_name, place_grafts
from native_doctor.repair.stages import (
    external_names,
    fail_verification,
    first_binary,
    graft_bytes,
    missing_result,
    output_target,
    rewrite_each,
    unchanged_result,
    with_sbom,
)
from native_doctor.repair.verify import check_edit, repaired_artifact, simulate
from native_doctor.repair.wheelfile import copy_atomically, write_wheel
from native_doctor.repair.wheelmeta import (
    claimed_platforms,
    dist_info_dir,
    open_wheel,
    read_member,
    retag_wheel,
    retagged_file_name,
)
from native_doctor.sources.wheel import read_wheel

__all__ = ["repair_wheel"]

Progress = Callable[[int, int], None]


class _Rewrite(NamedTuple):
    """The rewritten binaries' bytes, and their headers as read back."""

    outputs: dict[str, bytes]
    infos: dict[str, tuple[int, BinaryInfo]]


def repair_wheel(
    path: Path,
    options: RepairOptions,
    out_dir: Path,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> RepairResult:
    """Repair the wheel at ``path`` into ``out_dir`` (or only plan it, with ``dry_run``).

    A repair that cannot be made returns a result whose ``problem`` says why (nothing written).

    :raises InvalidArchiveError: the wheel cannot be read.
    :raises UsageError: an option does not fit this wheel.
    """
    artifact = read_wheel(path, progress=progress)
    inspection = inspect_artifact(artifact)
    empty = RepairPlan(str(path), "", "", "")
    if inspection.platform.os is TargetOS.MACOS:
        from native_doctor.repair.macos_run import repair_macos

        return repair_macos(path, inspection, options, out_dir, dry_run=dry_run, progress=progress)
    try:
        _check_supported(inspection)
    except CannotRepair as exc:
        return RepairResult(empty, None, (), problem=str(exc))
    if inspection.platform.os is None:  # no native file at all: nothing to repair
        return unchanged_result(path, out_dir, empty, inspection, dry_run)
    if inspection.platform.os is TargetOS.WINDOWS:
        from native_doctor.repair.windows_run import repair_windows

        return repair_windows(path, options, out_dir, inspection, dry_run=dry_run, progress=progress)
    if options.includes or options.no_mangle:
        raise UsageError("--include and --no-mangle are implemented for Windows wheels only")
    first = first_binary(inspection, BinaryFormat.ELF, "ELF")
    plan = _plan(inspection, options, first)
    if (missing := missing_result(plan)) is not None:
        return missing
    try:
        placed = place_grafts(plan, inspection)  # <dist>.libs in the scheme of its binaries
        return _rewrite_and_write(
            path, out_dir, inspection, placed, options, dry_run=dry_run, progress=progress
        )
    except CannotRepair as exc:
        return RepairResult(plan, None, (), problem=str(exc))


def _check_supported(inspection: Inspection) -> None:
    target = inspection.platform.os
    if target is not None and target not in (TargetOS.LINUX, TargetOS.WINDOWS):
        raise CannotRepair(
            f"repairing {target.value} wheels is not implemented yet (only Linux and Windows wheels)"
        )
    bad = [n for n in inspection.unreadable if n.info is None]
    if bad:
        raise CannotRepair(f"{bad[0].path} cannot be read: {bad[0].error}")


def _plan(inspection: Inspection, options: RepairOptions, first: BinaryInfo) -> RepairPlan:
    extra = []
    if options.provided_by:
        from native_doctor.providers import known_providers

        known = known_providers().distributions
        extra = installed_providers(options.provided_by, known)
    locator = Locator(
        options.lib_paths,
        arch=first.arch,
        bits=first.bits,
        byteorder=first.byteorder,
        libc=inspection.platform.libc or "glibc",
        use_host=options.use_host,
    )
    libc: Libc = "musl" if inspection.platform.libc == "musl" else "glibc"
    return build_plan(inspection, options, locator, rules=linux_part.rules(libc), extra_providers=extra)


def _rewrite_and_write(
    path: Path,
    out_dir: Path,
    inspection: Inspection,
    plan: RepairPlan,
    options: RepairOptions,
    *,
    dry_run: bool,
    progress: Progress | None = None,
) -> RepairResult:
    artifact = inspection.artifact
    external = external_names(inspection)
    grafted = {g.member: g for g in plan.grafts}
    originals: dict[str, bytes] = {}
    extra_notes: list[str] = []
    with open_wheel(path) as archive:
        dist_info = dist_info_dir(archive, path)
        metadata, added = _metadata(archive, dist_info, plan)
        wheel_text = read_member(archive, f"{dist_info}/WHEEL").decode("utf-8", "replace")
        sources = {m: graft_bytes(g.source) for m, g in grafted.items()}
        for _ in range(_MAX_ROUNDS):
            specs = linux_part.plan_edits(plan, artifact.native, external)
            for spec in specs:
                if spec.member not in grafted and spec.member not in originals:
                    originals[spec.member] = read_member(archive, spec.member)
            rewrite = _apply(specs, {**originals, **sources}, inspection, plan)
            after = repaired_artifact(artifact, plan, rewrite.infos)
            after_inspection, problems = simulate(after, plan)
            if not problems:
                break
            reached = _reach_lost(after_inspection, plan, external)
            if not reached:
                raise fail_verification(problems)
            plan = _with_in_wheel(plan, reached)
            for member, name, _copy in reached:
                external[member] = external.get(member, frozenset()) | {name}
                extra_notes.append(
                    f"{member} found {name} through the RPATH of a binary that now has a RUNPATH "
                    "(not inherited): it gets its own RUNPATH entry"
                )
        else:
            raise fail_verification(problems)
    originals = {s.member: originals[s.member] for s in specs if s.member in originals}
    needs = _needs(after_inspection, plan)
    claimed = claimed_platforms(path)
    platforms, _ = linux_part.choose_platforms(needs, claimed, options.plat)
    retagged = sorted(platforms) != sorted(claimed)
    target_name = retagged_file_name(path.name, platforms) if retagged else path.name
    notes = tuple(
        f"RUNPATH of {c.member}: dropped {e} ({why})" for c in _changes(specs) for e, why in c.dropped
    ) + tuple(extra_notes)
    unchanged = not specs and not added and not retagged and not plan.grafts
    result = RepairResult(
        plan,
        None,
        platforms,
        edited=tuple(s.member for s in specs if s.member not in grafted),
        runpaths=tuple(_changes(specs)),
        requirements_added=added,
        unchanged=unchanged,
        notes=notes,
    )
    if dry_run:
        return result
    target, in_place = output_target(path, out_dir, target_name, may_be_input=unchanged)
    if in_place:  # already in place: nothing to write
        return replace(result, output=str(target))
    if unchanged:
        copy_atomically(path, target)
    else:
        replace_members = {m: rewrite.outputs[m] for m in originals}
        if metadata is not None:
            replace_members[f"{dist_info}/METADATA"] = metadata
        if retagged:
            replace_members[f"{dist_info}/WHEEL"] = retag_wheel(wheel_text, path.name, platforms).encode()
        add = with_sbom(dist_info, artifact, plan, {m: rewrite.outputs.get(m, sources[m]) for m in grafted})
        write_wheel(path, target, dist_info=dist_info, replace=replace_members, add=add, progress=progress)
    return replace(result, output=str(target))


#: Rounds of "verify, then reach what the RPATH -> RUNPATH change cut off" before giving up.
_MAX_ROUNDS = 4


def _reach_lost(
    after: Inspection, plan: RepairPlan, external: Mapping[str, frozenset[str]]
) -> list[tuple[str, str, NativeFile]]:
    """Wheel binaries that lost a library the wheel ships (DT_RPATH is inherited by what a
    binary loads, DT_RUNPATH is not): (member, name, the copy) for each one to reach again."""
    copies = copies_by_name(after, BinaryFormat.ELF)
    grafted = {g.member for g in plan.grafts}
    lost = []
    for binary in after.binaries:
        member = binary.native.path
        if member in grafted or binary.native.info is None:
            continue
        for dep in binary.dependencies:
            copy = copies.get(dep.name)
            if (
                dep.resolution is Resolution.EXTERNAL
                and copy is not None
                and dep.name not in external.get(member, ())
            ):
                lost.append((member, dep.name, copy))
    return lost


def _with_in_wheel(plan: RepairPlan, reached: list[tuple[str, str, NativeFile]]) -> RepairPlan:
    entries = {x.name: x for x in plan.in_wheel}
    for member, name, copy in reached:
        old = entries.get(name)
        needed_by = (*old.needed_by, member) if old is not None else (member,)
        entries[name] = InWheel(name, copy.path, posixpath.dirname(copy.install_path), needed_by)
    return replace(plan, in_wheel=tuple(entries[k] for k in sorted(entries)))


def _apply(
    specs: list[linux_part.EditSpec], sources: Mapping[str, bytes], inspection: Inspection, plan: RepairPlan
) -> _Rewrite:
    from native_doctor.binary.elf_write import ElfEdit, ElfWriteError, edit_elf

    befores: dict[str, BinaryInfo] = {g.member: g.info for g in plan.grafts}
    for native in inspection.artifact.native:
        if native.info is not None:
            befores[native.path] = native.info
    outputs, infos, problems = rewrite_each(
        specs,
        lambda spec: spec.member,
        lambda spec: edit_elf(
            sources[spec.member],
            ElfEdit(soname=spec.soname, replace_needed=dict(spec.replace_needed), runpath=spec.runpath),
        ),
        lambda spec, data: check_edit(spec, befores[spec.member], data),
        ElfWriteError,
    )
    if problems:
        raise fail_verification(problems)
    return _Rewrite(outputs, infos)


def _needs(inspection: Inspection, plan: RepairPlan) -> linux_part.Needs:
    allowed = {item.name for item in plan.left} | {lk.name for lk in plan.links}
    rows = []
    for binary in inspection.binaries:
        info = binary.native.info
        if info is None or info.format is not BinaryFormat.ELF:
            continue
        external = [
            d.name
            for d in binary.dependencies
            if d.resolution is not Resolution.BUNDLED and d.name not in allowed
        ]
        rows.append((binary.native.path, info, external))
    libc: Libc = "musl" if plan.libc == "musl" else "glibc"
    return linux_part.needs_of(plan.arch, libc, rows)


def _changes(specs: list[linux_part.EditSpec]) -> list[RunpathChange]:
    return [s.change for s in specs if s.change is not None]


def _metadata(
    archive: zipfile.ZipFile, dist_info: str, plan: RepairPlan
) -> tuple[bytes | None, tuple[str, ...]]:
    missing = sorted({lk.distribution for lk in plan.links if not lk.declared})
    if not missing:
        return None, ()
    text = read_member(archive, f"{dist_info}/METADATA").decode("utf-8")
    head, sep, body = text.partition("\n\n")
    head = head.rstrip("\n") + "\n" + "".join(f"Requires-Dist: {name}\n" for name in missing)
    new = head + ("\n" + body if sep else "")
    return new.encode("utf-8"), tuple(missing)
