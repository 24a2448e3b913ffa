"""Check a repair before anything is written: every edited binary, and the repaired wheel as a whole.

1. Each rewritten ELF is read again with the project's reader and compared with what was asked
   (SONAME, DT_NEEDED in order, RUNPATH, DT_RPATH gone, symbol-version needs renamed with their
   library), and ``elf_write.check_elf_invariants`` must find nothing.
2. The repaired wheel is inspected again and its loader simulated: every needed library of every
   binary must resolve inside the wheel, in the platform policy, in a provider's folder (modelled
   as the provider's files beside the wheel in site-packages), or be one deliberately left out.

Pure: bytes and records in, a list of problems out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.binary import read_binary
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.errors import BinaryFormatError
from native_doctor.model import Artifact, NativeFile, Resolution
from native_doctor.platforms.loader import FileIndex
from native_doctor.repair.linux import EditSpec
from native_doctor.repair.model import RepairPlan
from native_doctor.sources._members import install_path

__all__ = ["check_edit", "repaired_artifact", "simulate", "unresolved"]


def check_edit(spec: EditSpec, before: BinaryInfo, data: bytes) -> tuple[list[str], BinaryInfo | None]:
    """Problems with one rewritten binary (empty when it is what was asked), and its new headers."""
    from native_doctor.binary.elf_write import check_elf_invariants

    where = spec.member
    problems = [f"{where}: {p}" for p in check_elf_invariants(data)]
    try:
        after = read_binary(data)
    except BinaryFormatError as exc:
        return [*problems, f"{where}: the rewritten file cannot be read back ({exc})"], None
    rename = spec.replace_needed
    expected_needed = tuple(rename.get(n, n) for n in before.needed)
    if after.needed != expected_needed:
        problems.append(f"{where}: DT_NEEDED is {list(after.needed)}, expected {list(expected_needed)}")
    expected_soname = spec.soname if spec.soname is not None else before.soname
    if after.soname != expected_soname:
        problems.append(f"{where}: SONAME is {after.soname!r}, expected {expected_soname!r}")
    if spec.runpath is not None:
        if after.runpath != spec.runpath:
            problems.append(f"{where}: RUNPATH is {list(after.runpath)}, expected {list(spec.runpath)}")
        if after.rpath:
            problems.append(f"{where}: DT_RPATH {list(after.rpath)} should have been removed")
    elif (after.runpath, after.rpath) != (before.runpath, before.rpath):
        problems.append(f"{where}: RUNPATH/RPATH changed although no change was asked")
    expected_versions = {rename.get(k, k): v for k, v in before.symbol_versions.items()}
    if dict(after.symbol_versions) != expected_versions:
        problems.append(
            f"{where}: symbol-version needs are {dict(after.symbol_versions)}, expected {expected_versions}"
        )
    if (after.arch, after.bits, after.byteorder, after.kind) != (
        before.arch,
        before.bits,
        before.byteorder,
        before.kind,
    ):
        problems.append(f"{where}: the rewritten file changed its machine or type")
    return problems, after


def repaired_artifact(
    artifact: Artifact, plan: RepairPlan, edited: Mapping[str, tuple[int, BinaryInfo]]
) -> Artifact:
    """The wheel after the repair, as the analysis sees it: edited binaries carry their new
    headers, grafted libraries are added. ``edited`` maps member -> (size, new headers)."""
    natives: list[NativeFile] = []
    for native in artifact.native:
        if native.path in edited:
            size, info = edited[native.path]
            natives.append(dataclasses.replace(native, size=size, fingerprint=None, info=info))
        else:
            natives.append(native)
    for graft in plan.grafts:
        size, info = edited.get(graft.member, (graft.size, graft.info))
        natives.append(NativeFile(graft.member, install_path(graft.member), size, None, info))
    files = tuple(dict.fromkeys((*artifact.files, *(g.member for g in plan.grafts))))
    return dataclasses.replace(artifact, native=tuple(natives), files=files)


def simulate(
    artifact: Artifact, plan: RepairPlan, fmt: BinaryFormat = BinaryFormat.ELF
) -> tuple[Inspection, list[str]]:
    """Inspect the repaired wheel and simulate the loader; problems for every dependency that
    would not load on a clean machine with the declared providers installed."""
    providers = [_provider_file(lk.distribution, lk.directory, lk.name, plan) for lk in plan.links]
    index = FileIndex((*artifact.native, *providers), artifact.dll_directories)
    inspection = inspect_artifact(artifact, index=index)
    problems = unresolved(inspection, plan, fmt)
    problems += _unreadable(inspection.binaries)
    return inspection, problems


def unresolved(inspection: Inspection, plan: RepairPlan, fmt: BinaryFormat) -> list[str]:
    """Every dependency of a ``fmt`` binary still outside the wheel that the plan did not leave there."""
    left = {item.name for item in plan.left}
    problems: list[str] = []
    for binary in inspection.binaries:
        info = binary.native.info
        if info is None or info.format is not fmt:
            continue
        for dep in binary.dependencies:
            if dep.resolution is Resolution.EXTERNAL and dep.name not in left:
                problems.append(f"{binary.native.path} needs {dep.name}: {dep.via}")
    return problems


def _unreadable(binaries: Iterable[object]) -> Sequence[str]:
    result = []
    for binary in binaries:
        native = getattr(binary, "native", None)
        if isinstance(native, NativeFile) and native.info is None:
            result.append(f"{native.path}: cannot be read ({native.error})")
    return result


def _provider_file(distribution: str, directory: str, name: str, plan: RepairPlan) -> NativeFile:
    info = BinaryInfo(BinaryFormat.ELF, plan.arch, 64, "little", FileKind.SHARED_LIBRARY, soname=name)
    path = f"<{distribution}>/{directory}/{name}" if directory else f"<{distribution}>/{name}"
    return NativeFile(path, f"{directory}/{name}" if directory else name, 0, None, info)
