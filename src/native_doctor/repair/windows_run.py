"""Repair one Windows wheel: plan -> rename imports -> add the hook -> verify -> write.

The same stages as the Linux flow in :mod:`.run` (shared plan, verification, canonical writer);
the Windows part (:mod:`.windows`) decides names and the hook, ``binary.pe_write`` edits bytes.
Windows wheels keep their tag (win_amd64, win32, win_arm64 say nothing about DLLs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from native_doctor.analysis import Inspection
from native_doctor.binary import read_binary
from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.binary.pe_write import PeEdit, PeWriteError, check_pe_invariants, edit_pe, has_signature
from native_doctor.errors import BinaryFormatError
from native_doctor.model import Artifact
from native_doctor.repair import windows as win
from native_doctor.repair.model import CannotRepair, RepairOptions, RepairPlan, RepairResult
from native_doctor.repair.plan import build_plan
from native_doctor.repair.stages import (
    external_names,
    fail_verification,
    first_binary,
    graft_bytes,
    missing_result,
    output_target,
    with_sbom,
)
from native_doctor.repair.verify import repaired_artifact, simulate
from native_doctor.repair.wheelfile import copy_atomically, write_wheel
from native_doctor.repair.wheelmeta import dist_info_dir, open_wheel, read_member
from native_doctor.sources._dll_dirs import directories_of, dll_directories, is_hook_file
from native_doctor.sources._members import install_path

__all__ = ["repair_windows"]

Progress = Callable[[int, int], None]


def repair_windows(
    path: Path,
    options: RepairOptions,
    out_dir: Path,
    inspection: Inspection,
    *,
    dry_run: bool,
    progress: Progress | None = None,
) -> RepairResult:
    """Repair the Windows wheel at ``path`` (already inspected) into ``out_dir``."""
    first = first_binary(inspection, BinaryFormat.PE, "PE")
    lookup = win.locator(options.lib_paths, arch=first.arch, use_host=options.use_host)
    plan = win.redistributables_left(build_plan(inspection, options, lookup, rules=win.rules()))
    if (missing := missing_result(plan)) is not None:
        return missing
    plan = win.mangle_grafts(plan, (*options.no_mangle, *options.includes))
    artifact = inspection.artifact
    external = external_names(inspection)
    specs = win.plan_edits(plan, artifact.native, external)
    grafted = {g.member: g for g in plan.grafts}
    platforms = inspection.platform.claimed_platforms
    try:
        with open_wheel(path) as archive:
            dist_info = dist_info_dir(archive, path)
            members = archive.namelist()
            sources = {s.member: read_member(archive, s.member) for s in specs if s.member not in grafted}
            hooks: tuple[dict[str, bytes], dict[str, bytes], tuple[str, ...]] = ({}, {}, ())
            preload: tuple[str, ...] = ()
            if plan.grafts or plan.in_wheel:
                users = [
                    n.install_path
                    for n in artifact.native
                    if n.info is not None and n.info.format is BinaryFormat.PE
                ]
                preload = win.preloads(plan, options.includes, artifact.native)
                hooks = win.hook_members(
                    plan, win.dist_name(path.name), users, members, lambda m: read_member(archive, m), preload
                )
            # The wheel's own hook files, read again: a hook naming <dist>.libs before it existed
            # (an earlier repair's, kept) reaches it now.
            kept_hooks = {
                m: read_member(archive, m)
                for m in members
                if is_hook_file(install_path(m)) and m not in hooks[0]
            }
        sources.update({m: graft_bytes(g.source) for m, g in grafted.items()})
        outputs, infos, warnings = _apply(specs, sources)
        _verify(artifact, plan, infos, hooks, kept_hooks, preload)
    except CannotRepair as exc:
        return RepairResult(plan, None, platforms, problem=str(exc))
    hook_replace, hook_add, hook_notes = hooks
    unchanged = not specs and not plan.grafts and not hooks[0] and not hooks[1]
    result = RepairResult(
        replace(plan, warnings=(*plan.warnings, *warnings)),
        None,
        platforms,
        edited=tuple(s.member for s in specs if s.member not in grafted),
        unchanged=unchanged,
        notes=hook_notes,
    )
    if dry_run:
        return result
    target, in_place = output_target(path, out_dir, path.name, may_be_input=unchanged)
    if in_place:
        return replace(result, output=str(target))
    if unchanged:
        copy_atomically(path, target)
    else:
        replace_members = {m: outputs[m] for m in outputs if m not in grafted}
        replace_members.update(hook_replace)
        add = with_sbom(dist_info, artifact, plan, {m: outputs.get(m, sources[m]) for m in grafted})
        add.update(hook_add)
        write_wheel(path, target, dist_info=dist_info, replace=replace_members, add=add, progress=progress)
    return replace(result, output=str(target))


def _apply(
    specs: list[win.PeSpec], sources: dict[str, bytes]
) -> tuple[dict[str, bytes], dict[str, tuple[int, BinaryInfo]], list[str]]:
    """Rename, then re-read every rewritten PE: names as asked, layout sound."""
    outputs: dict[str, bytes] = {}
    infos: dict[str, tuple[int, BinaryInfo]] = {}
    warnings: list[str] = []
    problems: list[str] = []
    for spec in specs:
        source = sources[spec.member]
        try:
            edited = edit_pe(source, PeEdit(replace_imports=spec.rename, drop_signature=True))
        except PeWriteError as exc:
            raise CannotRepair(f"{spec.member}: {exc}") from None
        if has_signature(source):
            warnings.append(
                f"{spec.member}: its Authenticode signature no longer matched the edited bytes: removed"
            )
        problems += [f"{spec.member}: {p}" for p in check_pe_invariants(edited)]
        try:
            info = read_binary(edited)
        except BinaryFormatError as exc:
            problems.append(f"{spec.member}: the rewritten file cannot be read back ({exc})")
            continue
        lowered = {k.lower(): v for k, v in spec.rename.items()}
        for name in (*info.needed, *info.delay_needed):
            if name.lower() in lowered:
                problems.append(f"{spec.member}: still imports {name}")
        outputs[spec.member] = edited
        infos[spec.member] = (len(edited), info)
    if problems:
        raise fail_verification(problems)
    return outputs, infos, warnings


def _verify(
    artifact: Artifact,
    plan: RepairPlan,
    infos: dict[str, tuple[int, BinaryInfo]],
    hooks: tuple[dict[str, bytes], dict[str, bytes], tuple[str, ...]],
    kept_hooks: dict[str, bytes],
    preload: tuple[str, ...],
) -> None:
    """Inspect the repaired wheel, its hook included, and simulate the Windows loader."""
    after = repaired_artifact(artifact, plan, infos)
    hook_files = {install_path(m): data for m, data in {**kept_hooks, **hooks[0], **hooks[1]}.items()}
    files = tuple(dict.fromkeys((*after.files, *(install_path(m) for m in hooks[1]))))
    added_dirs = dll_directories(
        [(m, data) for m, data in hook_files.items() if is_hook_file(m)], directories_of(files)
    )
    after = replace(
        after, files=files, dll_directories=tuple(dict.fromkeys((*after.dll_directories, *added_dirs)))
    )
    for folder in win.hook_folders(plan):
        if folder not in after.dll_directories:
            raise CannotRepair(f"verification failed, nothing written: no hook adds {folder}")
    _inspection, problems = simulate(after, plan, BinaryFormat.PE)
    if plan.grafts or plan.in_wheel:  # the process: python.exe, the hook, every extension module
        problems += win.process_problems(after.native, after.dll_directories, preload, plan)
    if problems:
        raise fail_verification(problems)
