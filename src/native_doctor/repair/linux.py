"""The Linux part of the repair: ELF edits (SONAME, DT_NEEDED, verneed, RUNPATH) and the tag.

Pure: from a :class:`RepairPlan` and the wheel's inspection, compute one
:class:`~native_doctor.binary.elf_write.ElfEdit` per binary that must change, and explain each
RUNPATH entry kept, added or dropped. The bytes are rewritten by ``binary.elf_write``.

RUNPATH rules: a binary that needs a grafted library gets ``$ORIGIN/<relative path to
<dist>.libs>``; one that needs a provider's library gets ``$ORIGIN/<relative path to the
provider's folder>`` (both relative to site-packages, where every distribution installs).
Existing ``$ORIGIN`` entries that stay inside site-packages are the wheel's own and are kept, in
order, first; absolute entries are the build machine's and are dropped, as are ``$ORIGIN``
entries that climb out of site-packages.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.model import NativeFile, TargetOS
from native_doctor.platforms import linux
from native_doctor.platforms.loader import expand_origin
from native_doctor.repair.model import CannotRepair, RepairPlan, RunpathChange
from native_doctor.repair.plan import libs_dir_of, mangled_name
from native_doctor.repair.rules import PlatformRules

__all__ = [
    "EditSpec",
    "Needs",
    "choose_platforms",
    "host_only_reason",
    "plan_edits",
    "rules",
    "runpath_entry",
]


#: glvnd's dispatch libraries and the ICD loaders: the machine's GPU stack provides them, and a
#: bundled copy breaks it (skia-python's segfault with a vendored libEGL).
_GLVND = re.compile(
    r"^lib(?:GL|EGL|GLX|OpenGL|GLdispatch|GLESv1_CM|GLESv2)\.so(?:\.\d+)*$",
)
_NVIDIA_DRIVER = re.compile(r"^lib(?:cuda|nvidia-[A-Za-z0-9_.+-]+?|nvcuvid)\.so(?:\.\d+)*$")


def host_only_reason(name: str) -> str | None:
    """Why ``name`` must never be vendored, or None when it may be."""
    if _NVIDIA_DRIVER.match(name):
        return "part of the GPU driver: the machine's driver provides it"
    if _GLVND.match(name):
        return "a glvnd GL/EGL/GLX/OpenGL dispatch library: the machine's GPU stack provides it"
    from native_doctor.providers import is_driver_library

    if is_driver_library(name):
        return "a Vulkan or OpenCL loader (or GPU driver library): the machine provides it"
    return None


def rules(libc: linux.Libc) -> PlatformRules:
    """The Linux rules for a wheel of ``libc``: the policy's libraries (and either family's
    loader and libc) are the platform's; grafts are ``libfoo-<hash>.so.1`` in ``<dist>.libs``."""
    loaders = linux.loader_names("glibc") | linux.loader_names("musl")

    def is_system(name: str) -> bool:
        return name in loaders or linux.is_system_library(name, libc)

    def host_only(name: str) -> str | None:
        if libc == "musl" and name == "libc.so":
            return "musl's libc itself (its SONAME is libc.so): the musllinux platform provides it"
        return host_only_reason(name)

    return PlatformRules(TargetOS.LINUX, BinaryFormat.ELF, is_system, host_only, mangled_name, libs_dir_of)


class EditSpec(NamedTuple):
    """One binary's intended edit (mirrors ``elf_write.ElfEdit``, plus what verification checks)."""

    #: Wheel member path (for a wheel binary) or graft member path (for a grafted library).
    member: str
    soname: str | None
    replace_needed: Mapping[str, str]
    runpath: tuple[str, ...] | None
    change: RunpathChange | None


def runpath_entry(from_dir: str, to_dir: str) -> str:
    """``$ORIGIN``-relative entry from install-path folder ``from_dir`` to ``to_dir``."""
    rel = posixpath.relpath(to_dir or ".", from_dir or ".")
    return "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}"


def plan_edits(
    plan: RepairPlan, files: Sequence[NativeFile], external: Mapping[str, frozenset[str]] | None = None
) -> list[EditSpec]:
    """Every edit the plan implies: wheel binaries first (in artifact order), then grafts.

    :param external: per wheel member, the needed names its loader does not find today; a name
        a binary already finds (inside the wheel) is left alone in that binary. None: all.
    """
    grafts = {g.name: g for g in plan.grafts}
    # Provider folders and in-wheel folders are both reached by a RUNPATH entry to a directory.
    links = {lk.name: lk.directory for lk in plan.links}
    links.update({x.name: x.directory for x in plan.in_wheel})
    specs: list[EditSpec] = []
    for native in files:
        info = native.info
        if info is None or info.format is not BinaryFormat.ELF:
            continue
        missing = external.get(native.path, frozenset()) if external is not None else frozenset(info.needed)
        uses = [n for n in info.needed if (n in grafts or n in links) and n in missing]
        if not uses:
            continue
        folder = _folder(native)
        added = []
        if any(n in grafts for n in uses):
            added.append(runpath_entry(folder, plan.libs_dir))
        added += [runpath_entry(folder, links[n]) for n in uses if n in links]
        spec = _spec(
            native.path, folder, info, None, {n: grafts[n].new_name for n in uses if n in grafts}, added
        )
        if spec is not None:
            specs.append(spec)
    for graft in plan.grafts:
        info = graft.info
        replace = {n: grafts[n].new_name for n in info.needed if n in grafts}
        added = ["$ORIGIN"] if replace else []
        added += [runpath_entry(plan.libs_dir, links[n]) for n in info.needed if n in links]
        spec = _spec(graft.member, plan.libs_dir, info, graft.new_name, replace, added)
        if spec is not None:
            specs.append(spec)
    return specs


def _folder(native: NativeFile) -> str:
    folder = posixpath.dirname(native.install_path)
    if folder.startswith("<"):
        raise CannotRepair(
            f"{native.path} installs outside site-packages ({folder.split('/')[0]}): no $ORIGIN-relative "
            "RUNPATH can reach a grafted library from there"
        )
    return folder


def _spec(
    member: str,
    folder: str,
    info: BinaryInfo,
    soname: str | None,
    replace: Mapping[str, str],
    added: Iterable[str],
) -> EditSpec | None:
    before = info.runpath or info.rpath
    kept: list[str] = []
    dropped: list[tuple[str, str]] = []
    for entry in before:
        if entry.startswith(("$ORIGIN", "${ORIGIN}")):
            if expand_origin(entry, folder, info.arch) is None:
                dropped.append((entry, "leaves site-packages: points at the build tree, not the install"))
            elif entry not in kept:
                kept.append(entry)
        else:
            dropped.append((entry, "a build-machine folder: absent on the machines that install the wheel"))
    after = list(kept)
    for entry in added:
        if entry not in after:
            after.append(entry)
    # An unchanged list stays as it is, DT_RPATH included (ld.so searches both; changing the kind
    # would change how the loader treats dependencies of dependencies for nothing).
    runpath = tuple(after) if tuple(after) != tuple(before) else None
    if soname == info.soname:
        soname = None
    replace = {old: new for old, new in replace.items() if old != new}
    if soname is None and not replace and runpath is None:
        return None
    change = (
        RunpathChange(member, tuple(before), tuple(after), tuple(dropped)) if runpath is not None else None
    )
    return EditSpec(member, soname, dict(replace), runpath, change)


# --- tags -----------------------------------------------------------------------------------------


class Needs(NamedTuple):
    """What the repaired binaries still need from outside the wheel (for the tag)."""

    arch: str
    libc: linux.Libc
    #: Library name -> artifact paths needing it (outside the wheel, not deliberately left out).
    libraries: Mapping[str, tuple[str, ...]]
    #: Symbol version -> (artifact path, library it is needed from), first seen.
    versions: Mapping[str, tuple[str, str]]


def needs_of(arch: str, libc: linux.Libc, binaries: Iterable[tuple[str, BinaryInfo, Iterable[str]]]) -> Needs:
    """Collect external libraries and symbol versions; ``binaries`` are (path, info, external names)."""
    loaders = linux.loader_names(libc)
    libraries: dict[str, list[str]] = {}
    versions: dict[str, tuple[str, str]] = {}
    for path, info, external in binaries:
        for name in external:
            libraries.setdefault(name, []).append(path)
        for library, needed in sorted(info.symbol_versions.items()):
            if library in loaders or library.startswith("ld-linux"):
                continue
            for version in needed:
                versions.setdefault(version, (path, library))
    return Needs(arch, libc, {k: tuple(v) for k, v in libraries.items()}, versions)


def choose_platforms(needs: Needs, claimed: Sequence[str], plat: str | None) -> tuple[tuple[str, ...], bool]:
    """The output's platform tags, and whether they differ from ``claimed``.

    ``--plat`` is honoured when the binaries meet that policy (else refused naming what prevents
    it); without it, claimed manylinux/musllinux tags the binaries meet are kept (a repaired wheel
    stays as it is), and otherwise the best policy they meet is used.
    """
    if plat is not None:
        policy = _policy_for_tag(plat, needs)
        reason = _why_not(policy, needs)
        if reason is not None:
            raise CannotRepair(f"--plat {plat} is impossible: {reason}")
        return (policy.tag(needs.arch), *policy.alias_tags(needs.arch)), True
    kept = [p for p in claimed if _meets_claimed(p, needs)]
    if claimed and len(kept) == len(claimed):
        return tuple(claimed), False
    floor = None
    if needs.libc == "musl":
        musl = [p[1] for p in map(linux.parse_linux_platform_tag, claimed) if p and p[0] == "musl"]
        floor = min(musl) if musl else None
    best = linux.best_policy(
        needs.arch, needs.libc, external=needs.libraries, versions=needs.versions, at_least=floor
    )
    if best is None:
        worst = linux.policies(needs.libc)[-1] if linux.policies(needs.libc) else None
        reason = _why_not(worst, needs) if worst is not None else None
        family = "musllinux" if needs.libc == "musl" else "manylinux"
        raise CannotRepair(
            f"no {family} policy fits the repaired wheel: {reason or 'unsupported architecture'}"
        )
    return (best.tag(needs.arch), *best.alias_tags(needs.arch)), True


def _meets_claimed(platform: str, needs: Needs) -> bool:
    parsed = linux.parse_linux_platform_tag(platform)
    if parsed is None or parsed[0] != needs.libc or parsed[2] != needs.arch:
        return False
    policy = linux.policy_by_name(platform[: -len(needs.arch) - 1])
    return policy is not None and _why_not(policy, needs) is None


def _policy_for_tag(plat: str, needs: Needs) -> linux.LinuxPolicy:
    from native_doctor.errors import UsageError

    parsed = linux.parse_linux_platform_tag(plat)
    if parsed is None:
        raise UsageError(f"--plat {plat}: not a manylinux or musllinux platform tag")
    libc, _version, arch = parsed
    if arch != needs.arch:
        raise UsageError(f"--plat {plat}: the wheel's binaries are {needs.arch}, not {arch}")
    if libc != needs.libc:
        raise UsageError(f"--plat {plat}: the wheel's binaries link {needs.libc}")
    policy = linux.policy_by_name(plat[: -len(arch) - 1])
    if policy is None:
        raise UsageError(f"--plat {plat}: no such policy")
    return policy


def _why_not(policy: linux.LinuxPolicy, needs: Needs) -> str | None:
    if not policy.supports_arch(needs.arch):
        return f"{policy.name} is not defined for {needs.arch}"
    for name, paths in sorted(needs.libraries.items()):
        if not policy.allows_library(needs.arch, name):
            return f"{paths[0]} needs {name}, which {policy.name} does not allow outside the wheel"
    for version, (path, library) in sorted(needs.versions.items()):
        if not policy.allows_version(needs.arch, version):
            return f"{path} needs {version} from {library}, newer than {policy.name} allows"
    return None
