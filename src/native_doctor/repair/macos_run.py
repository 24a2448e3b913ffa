"""Repair one macOS wheel: plan -> rewrite -> verify -> write (the macOS counterpart of ``run``).

The stages are the core's: locate and decide (:mod:`.macos`), rewrite each file
(``binary.macho_write``, which signs every changed image again), verify every edit (read back,
names and LC_RPATH as asked, every signature matching its bytes, arm64 images signed) and the
whole wheel (inspected again: every dependency resolves inside the wheel or on the system), choose
the tag, write canonically and atomically (:mod:`.wheelfile`). Nothing is written unless all pass.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.binary import read_binary
from native_doctor.binary.codesign import signature_problems
from native_doctor.binary.macho_write import MachOEdit, MachOWriteError, edit_macho, thin_images
from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.errors import BinaryFormatError
from native_doctor.repair import macos as mac
from native_doctor.repair.model import CannotRepair, RepairOptions, RepairPlan, RepairResult, RunpathChange
from native_doctor.repair.stages import (
    Rewritten,
    external_names,
    fail_verification,
    graft_bytes,
    missing_result,
    output_target,
    rewrite_each,
    unchanged_result,
    with_sbom,
)
from native_doctor.repair.verify import repaired_artifact, unresolved
from native_doctor.repair.wheelfile import Progress, copy_atomically, write_wheel
from native_doctor.repair.wheelmeta import (
    dist_info_dir,
    open_wheel,
    read_member,
    retag_wheel,
    retagged_file_name,
)

__all__ = ["check_mac_edit", "repair_macos"]

CPU_TYPE_ARM64 = 0x0100000C


def repair_macos(
    path: Path,
    inspection: Inspection,
    options: RepairOptions,
    out_dir: Path,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> RepairResult:
    """Repair the macOS wheel at ``path`` (already inspected) into ``out_dir``."""
    archs = inspection.platform.archs
    finder = mac.DylibFinder(options.lib_paths, archs, use_host=options.use_host)
    try:
        plan = mac.plan_macos(inspection, options, finder)
    except CannotRepair as exc:
        return RepairResult(RepairPlan(str(path), "", "", ""), None, (), problem=str(exc))
    if (missing := missing_result(plan)) is not None:
        return missing
    claimed = inspection.platform.claimed_platforms
    if not plan.grafts and options.plat is None:
        return replace(unchanged_result(path, out_dir, plan, inspection, dry_run), plan=plan)
    try:
        return _rewrite_and_write(path, out_dir, inspection, plan, options, claimed, dry_run, progress)
    except CannotRepair as exc:
        return RepairResult(plan, None, (), problem=str(exc))


def _rewrite_and_write(
    path: Path,
    out_dir: Path,
    inspection: Inspection,
    plan: RepairPlan,
    options: RepairOptions,
    claimed: tuple[str, ...],
    dry_run: bool,
    progress: Progress | None,
) -> RepairResult:
    artifact = inspection.artifact
    external = external_names(inspection)
    edits = mac.plan_edits(plan, artifact.native, external)
    grafted = {g.member: g for g in plan.grafts}
    with open_wheel(path) as archive:
        dist_info = dist_info_dir(archive, path)
        originals = {e.member: read_member(archive, e.member) for e in edits if e.member not in grafted}
        wheel_text = read_member(archive, f"{dist_info}/WHEEL").decode("utf-8", "replace")
    sources = {**originals, **{m: graft_bytes(g.source) for m, g in grafted.items()}}
    befores: dict[str, BinaryInfo] = {m: g.info for m, g in grafted.items()}
    befores.update({n.path: n.info for n in artifact.native if n.info is not None})
    outputs, infos, problems = _apply(edits, sources, befores)
    after = repaired_artifact(artifact, plan, infos)
    after_inspection = inspect_artifact(after)
    problems += unresolved(after_inspection, plan, BinaryFormat.MACHO)
    if problems:
        raise fail_verification(problems)
    binaries = [(b.native.path, b.native.info) for b in after_inspection.binaries]
    floor = mac.needs_by_arch(
        ((p, i) for p, i in binaries if i is not None and i.format is BinaryFormat.MACHO),
        inspection.platform.archs,
    )
    platforms, note = mac.choose_tag(
        floor, claimed, options.plat, os.environ.get("MACOSX_DEPLOYMENT_TARGET"), frozenset(grafted)
    )
    retagged = sorted(platforms) != sorted(claimed)
    target_name = retagged_file_name(path.name, platforms) if retagged else path.name
    notes = tuple(
        f"LC_RPATH of {e.member}: dropped {entry} ({why})" for e in edits for entry, why in e.dropped
    )
    rpaths = tuple(
        RunpathChange(e.member, befores[e.member].rpath, e.rpaths, e.dropped)
        for e in edits
        if e.rpaths is not None
    )
    if note:
        plan = replace(plan, warnings=(*plan.warnings, note))
    result = RepairResult(
        plan,
        None,
        platforms,
        edited=tuple(e.member for e in edits if e.member not in grafted),
        runpaths=rpaths,
        notes=notes,
    )
    if dry_run:
        return result
    target, _in_place = output_target(path, out_dir, target_name, may_be_input=False)
    if not edits and not retagged:
        copy_atomically(path, target)
        return replace(result, output=str(target), unchanged=True)
    replace_members = {m: outputs[m] for m in originals}
    if retagged:
        replace_members[f"{dist_info}/WHEEL"] = retag_wheel(wheel_text, path.name, platforms).encode()
    add = with_sbom(dist_info, artifact, plan, {m: outputs.get(m, sources[m]) for m in grafted})
    write_wheel(path, target, dist_info=dist_info, replace=replace_members, add=add, progress=progress)
    return replace(result, output=str(target))


def _apply(
    edits: list[mac.MacEdit], sources: Mapping[str, bytes], befores: Mapping[str, BinaryInfo]
) -> Rewritten:
    """Make every edit; the new bytes, the new headers, and what verification found wrong."""
    return rewrite_each(
        edits,
        lambda edit: edit.member,
        lambda edit: edit_macho(
            sources[edit.member], MachOEdit(edit.change_names, edit.install_id, edit.rpaths, edit.identifier)
        ),
        lambda edit, data: check_mac_edit(edit, befores[edit.member], data),
        MachOWriteError,
    )


def check_mac_edit(edit: mac.MacEdit, before: BinaryInfo, data: bytes) -> tuple[list[str], BinaryInfo | None]:
    """Problems with one rewritten Mach-O file (empty when it is what was asked), and its headers."""
    where = edit.member
    try:
        after = read_binary(data)
    except BinaryFormatError as exc:
        return [f"{where}: the rewritten file cannot be read back ({exc})"], None
    problems = []
    expected = tuple(dict.fromkeys(edit.change_names.get(n, n) for n in before.needed))
    if after.needed != expected:
        problems.append(f"{where}: install names are {list(after.needed)}, expected {list(expected)}")
    rpaths = before.rpath if edit.rpaths is None else edit.rpaths
    if after.rpath != rpaths:
        problems.append(f"{where}: LC_RPATH is {list(after.rpath)}, expected {list(rpaths)}")
    install_id = before.install_name if edit.install_id is None else edit.install_id
    if after.install_name != install_id:
        problems.append(f"{where}: install id is {after.install_name!r}, expected {install_id!r}")
    if after.archs != before.archs or after.kind is not before.kind:
        problems.append(f"{where}: the rewritten file changed its architectures or type")
    for image in thin_images(data):
        found = signature_problems(image.data)
        if found == ["no LC_CODE_SIGNATURE"] and image.cputype != CPU_TYPE_ARM64:
            continue  # Intel macOS runs unsigned code (the writer had no room to add one)
        problems += [f"{where} ({image.cputype:#x}): code signature: {p}" for p in found]
    return problems, after
