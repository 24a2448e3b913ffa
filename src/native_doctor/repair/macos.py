"""The macOS part of the repair: vendor dylibs into ``<package>/.dylibs``, rewrite install names.

Pure except for :class:`DylibFinder`, the one place that reads library files. From the wheel's
inspection (which names are external), the finder locates each dylib -- by its file name in the
``--lib-path`` folders, then beside the dylib that needs it (its ``@loader_path`` LC_RPATH
folders and its own folder), then unless ``--no-sys-paths`` the requester's absolute LC_RPATH
folders and, on a Mac only, the absolute install name itself -- and the libraries it needs in
turn.

Edits (one :class:`MacEdit` per file, made by ``binary.macho_write``):

* a wheel binary that needs a vendored dylib names it ``@loader_path/<relative>/.dylibs/<name>``;
  its LC_RPATH entries that point outside the wheel (absolute paths, ``@executable_path``: the
  build machine's) are dropped, ``@loader_path`` entries (the wheel's own) kept;
* a vendored dylib gets the install id ``@rpath/<name>``, names the other vendored dylibs
  ``@loader_path/<name>`` and loses its LC_RPATH entries (they point into the build prefix);
* every changed image is signed again ad hoc.

No name mangling (as delocate): two different files with one name cannot both be vendored.
The minimum macOS of the result is the highest of its binaries per architecture; the tag follows
it, ``MACOSX_DEPLOYMENT_TARGET`` caps it (a vendored dylib above it is refused unless ``--plat``
asks for the higher tag) and ``--plat`` is refused when a binary needs more than it says.
"""

from __future__ import annotations

import posixpath
import sys
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from native_doctor.analysis import Inspection
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.errors import UsageError
from native_doctor.model import NativeFile, Resolution
from native_doctor.platforms import macos
from native_doctor.repair.model import (
    CannotRepair,
    Graft,
    LeftOut,
    LeftReason,
    LocatedLibrary,
    Missing,
    RepairOptions,
    RepairPlan,
)
from native_doctor.repair.plan import exclude_matches
from native_doctor.repair.stages import first_fit, read_candidate

__all__ = ["DylibFinder", "MacEdit", "choose_tag", "dylibs_dir", "needs_by_arch", "plan_edits", "plan_macos"]

#: A folder to search for a requester's dylib: (folder, whether it is the build machine's -- an
#: absolute LC_RPATH entry, searched only when the host may be, not with --no-sys-paths).
Near = tuple[tuple[str, bool], ...]


@dataclass(frozen=True, slots=True)
class MacEdit:
    """One file's intended edit (the writer's ``MachOEdit`` plus what verification checks)."""

    member: str
    change_names: Mapping[str, str]
    install_id: str | None
    rpaths: tuple[str, ...] | None
    identifier: str
    #: (LC_RPATH entry, why it was dropped)
    dropped: tuple[tuple[str, str], ...] = ()


@dataclass
class _Need:
    name: str
    needed_by: list[str]
    chain: tuple[str, ...]
    weak: bool
    #: folders (host paths) to try for this name before --lib-path misses: a requester's
    #: @loader_path folder and expanded LC_RPATH entries (only for vendored requesters)
    near: Near = ()


class DylibFinder:
    """Finds dylibs for one wheel: Mach-O shared libraries carrying every architecture it needs."""

    def __init__(self, lib_paths: Sequence[str], archs: Sequence[str], *, use_host: bool) -> None:
        self.lib_paths = tuple(lib_paths)
        self.archs = tuple(archs)
        self.use_host = use_host
        self.dyld_places = use_host and sys.platform == "darwin"

    def find(self, name: str, near: Near) -> tuple[LocatedLibrary | None, list[tuple[str, str]]]:
        base = posixpath.basename(name)
        places = [(f"{d.rstrip('/')}/{base}", f"--lib-path {d}") for d in self.lib_paths]
        places += [
            (f"{d.rstrip('/')}/{base}", f"beside or LC_RPATH of its loader {d}")
            for d, is_host in near
            if self.use_host or not is_host
        ]
        if self.dyld_places and name.startswith("/"):
            places.append((name, "its install name (this Mac)"))
        return first_fit(places, lambda candidate, how, refused: self._accept(name, candidate, how, refused))

    def _accept(
        self, name: str, candidate: str, how: str, rejected: list[tuple[str, str]]
    ) -> LocatedLibrary | None:
        return read_candidate(
            name,
            candidate,
            how,
            rejected,
            too_large=lambda _size: "too large to be a library",
            unreadable_as="library",
            mismatch=self._mismatch,
        )

    def _mismatch(self, info: BinaryInfo) -> str | None:
        if info.format is not BinaryFormat.MACHO or info.kind is not FileKind.SHARED_LIBRARY:
            return f"a {info.format.value} {info.kind.value}, not a Mach-O dylib"
        lacking = [a for a in self.archs if a not in info.archs]
        if lacking:
            return f"has {', '.join(info.archs)}; the wheel needs {', '.join(lacking)} too"
        return None


def dylibs_dir(inspection: Inspection) -> str:
    """``<package>/.dylibs`` for the first package holding a Mach-O file, else ``<dist>.dylibs``."""
    for binary in sorted(inspection.binaries, key=lambda b: b.native.path):
        top, sep, _ = binary.native.install_path.partition("/")
        if sep and not top.endswith((".dist-info", ".data")) and not top.startswith("<"):
            return f"{top}/.dylibs"
    return posixpath.basename(inspection.artifact.path).split("-", 1)[0] + ".dylibs"


def plan_macos(inspection: Inspection, options: RepairOptions, finder: DylibFinder) -> RepairPlan:
    """Which dylibs to vendor (the closure), which are left out, which are missing."""
    needs: dict[str, _Need] = {}
    queue: deque[str] = deque()

    def need(name: str, requester: str, chain: tuple[str, ...], weak: bool, near: Near = ()) -> None:
        if name in needs:
            if requester not in needs[name].needed_by:
                needs[name].needed_by.append(requester)
            needs[name].weak = needs[name].weak and weak
            return
        needs[name] = _Need(name, [requester], (*chain, name), weak, near)
        queue.append(name)

    for binary in inspection.binaries:
        info = binary.native.info
        if info is None or info.format is not BinaryFormat.MACHO:
            continue
        for dep in binary.dependencies:
            if dep.resolution is Resolution.EXTERNAL:
                host = tuple((e, True) for e in info.rpath if e.startswith("/"))
                need(dep.name, binary.native.path, (binary.native.path,), dep.name in info.weak_needed, host)
    located: dict[str, LocatedLibrary] = {}
    left: dict[str, LeftOut] = {}
    missing: dict[str, Missing] = {}
    warnings: list[str] = []
    used: set[str] = set()
    while queue:
        entry = needs[queue.popleft()]
        base = posixpath.basename(entry.name)
        pattern = next((p for p in options.excludes if exclude_matches(p, base) or p == entry.name), None)
        if pattern is not None:
            used.add(pattern)
            left[entry.name] = LeftOut(entry.name, LeftReason.EXCLUDED, f"--exclude {pattern}", ())
            continue
        found, rejected = finder.find(entry.name, entry.near)
        if found is None:
            if entry.weak:
                warnings.append(f"{entry.name} (weakly linked) was not found and stays out: it may be absent")
                left[entry.name] = LeftOut(entry.name, LeftReason.EXCLUDED, "weak, not found", ())
            else:
                missing[entry.name] = Missing(
                    entry.name, tuple(entry.needed_by), entry.chain, tuple(rejected)
                )
            continue
        located[entry.name] = found
        folder = posixpath.dirname(found.path)
        near = (*_rpath_folders(found.info, folder), (folder, False))
        for sub in found.info.needed:
            if not macos.is_system_library(sub):
                need(sub, base, entry.chain, sub in found.info.weak_needed, near)
    warnings += [f"--exclude {p} matched no needed library" for p in options.excludes if p not in used]
    return _plan(inspection, needs, located, left, missing, warnings)


def _rpath_folders(info: BinaryInfo, folder: str) -> Iterable[tuple[str, bool]]:
    """A found library's LC_RPATH folders: ``@loader_path`` ones from where it was found, absolute
    ones (its build prefix) only when the host may be searched."""
    for entry in info.rpath:
        if entry.startswith("@loader_path"):
            yield posixpath.normpath(folder + entry[len("@loader_path") :]), False
        elif entry.startswith("/"):
            yield entry, True


def _plan(
    inspection: Inspection,
    needs: Mapping[str, _Need],
    located: Mapping[str, LocatedLibrary],
    left: Mapping[str, LeftOut],
    missing: Mapping[str, Missing],
    warnings: list[str],
) -> RepairPlan:
    libs = dylibs_dir(inspection)
    by_base: dict[str, LocatedLibrary] = {}
    for name in sorted(located):
        lib = located[name]
        base = posixpath.basename(name)
        other = by_base.get(base)
        if other is not None and other.sha256 != lib.sha256:
            raise CannotRepair(
                f"two different libraries are named {base}: {other.path} and {lib.path} "
                "(macOS vendoring keeps names; pass one of them with --exclude)"
            )
        by_base.setdefault(base, lib)
    grafts = []
    for base, lib in sorted(by_base.items()):
        names = [n for n in sorted(located) if posixpath.basename(n) == base]
        needed_by = tuple(dict.fromkeys(r for n in names for r in needs[n].needed_by))
        grafts.append(
            Graft(
                name=names[0],
                new_name=base,
                member=f"{libs}/{base}",
                source=lib.path,
                found_in=lib.found_in,
                size=len(lib.data),
                sha256=lib.sha256,
                needed_by=needed_by,
                chain=needs[names[0]].chain,
                info=lib.info,
            )
        )
    left_out = tuple(
        LeftOut(x.name, x.reason, x.detail, tuple(needs[x.name].needed_by))
        for x in (left[k] for k in sorted(left))
    )
    return RepairPlan(
        wheel=inspection.artifact.path,
        arch=macos_arch_name(inspection.platform.archs),
        libc="",
        libs_dir=libs,
        grafts=tuple(grafts),
        left=left_out,
        missing=tuple(missing[k] for k in sorted(missing)),
        warnings=tuple(dict.fromkeys(warnings)),
    )


def macos_arch_name(archs: Sequence[str]) -> str:
    return "universal2" if set(archs) == {"arm64", "x86_64"} else "+".join(archs)


def plan_edits(
    plan: RepairPlan, natives: Sequence[NativeFile], external: Mapping[str, frozenset[str]]
) -> list[MacEdit]:
    """One edit per wheel binary that needs a vendored dylib, and one per vendored dylib.

    :param external: per wheel binary, the install names the inspection found external.
    """
    vendored = {g.new_name for g in plan.grafts}
    edits: list[MacEdit] = []
    for native in sorted(natives, key=lambda n: n.path):
        info = native.info
        if info is None or info.format is not BinaryFormat.MACHO:
            continue
        if native.install_path.startswith("<"):
            if any(n in external.get(native.path, ()) for n in info.needed):
                raise CannotRepair(
                    f"{native.path} installs outside site-packages; its dylibs cannot be vendored"
                )
            continue
        folder = posixpath.dirname(native.install_path)
        changes = {
            n: _loader_path(folder, plan.libs_dir, posixpath.basename(n))
            for n in info.needed
            if n in external.get(native.path, ()) and posixpath.basename(n) in vendored
        }
        if not changes:
            continue
        kept = tuple(e for e in info.rpath if e.startswith("@loader_path"))
        dropped = tuple(
            (e, "points outside the wheel (the build machine's)") for e in info.rpath if e not in kept
        )
        edits.append(
            MacEdit(native.path, changes, None, kept if dropped else None, _identifier(native.path), dropped)
        )
    for graft in plan.grafts:
        info = graft.info
        changes = {
            n: f"@loader_path/{posixpath.basename(n)}"
            for n in info.needed
            if not macos.is_system_library(n) and posixpath.basename(n) in vendored
        }
        dropped = tuple((e, "a vendored library's LC_RPATH points into its build prefix") for e in info.rpath)
        edits.append(
            MacEdit(
                graft.member,
                changes,
                f"@rpath/{graft.new_name}",
                () if dropped else None,
                _identifier(graft.member),
                dropped,
            )
        )
    return edits


def _loader_path(from_dir: str, libs_dir: str, name: str) -> str:
    relative = posixpath.relpath(libs_dir, from_dir or ".")
    return f"@loader_path/{name}" if relative == "." else f"@loader_path/{relative}/{name}"


def _identifier(member: str) -> str:
    """``codesign``'s default identifier: the file name without its last suffix."""
    base = posixpath.basename(member)
    stem, dot, _ = base.rpartition(".")
    return stem if dot and stem else base


# --- minimum macOS and the tag ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Floor:
    """The highest minimum macOS per architecture, and which binary sets it."""

    versions: Mapping[str, tuple[int, int]]
    culprits: Mapping[str, str] = field(default_factory=dict)


def needs_by_arch(binaries: Iterable[tuple[str, BinaryInfo]], archs: Sequence[str]) -> Floor:
    """For each of ``archs``, the highest minimum macOS among ``binaries`` (path, info)."""
    versions = {a: macos.default_min_os(a) for a in archs}
    culprits: dict[str, str] = {}
    for path, info in binaries:
        for image in info.slices or (info,):
            if image.arch not in versions or image.min_os is None:
                continue
            version = macos.parse_macos_version(image.min_os)
            if version > versions[image.arch]:
                versions[image.arch] = version
                culprits[image.arch] = path
    return Floor(versions, culprits)


def choose_tag(
    floor: Floor,
    claimed: Sequence[str],
    plat: str | None,
    deployment_target: str | None,
    vendored: frozenset[str],
) -> tuple[tuple[str, ...], str | None]:
    """The output's platform tags and a note (why it was raised), or :class:`CannotRepair`."""
    slices = [(a, f"{v[0]}.{v[1]}") for a, v in floor.versions.items()]
    needed = macos.macos_tag(slices)
    needed_version, arch_name = _parsed(needed)
    if plat is not None:
        parsed = macos.parse_macos_platform_tag(plat)
        if parsed is None or parsed[1] != arch_name:
            raise UsageError(f"--plat {plat}: not a macosx_X_Y_{arch_name} tag")
        if parsed[0] < needed_version:
            raise CannotRepair(f"--plat {plat} is below what the binaries need: {needed} ({_why(floor)})")
        return (plat,), None
    if deployment_target:
        target = macos.parse_macos_version(deployment_target)
        over = {
            a: p
            for a, p in floor.culprits.items()
            if floor.versions[a] > max(target, macos.default_min_os(a))
        }
        bad = {a: p for a, p in over.items() if p in vendored}
        if bad:
            raise CannotRepair(
                f"MACOSX_DEPLOYMENT_TARGET={deployment_target}, but "
                + "; ".join(
                    f"{p} needs macOS {_dotted(floor.versions[a])} ({a})" for a, p in sorted(bad.items())
                )
                + f": vendor an older build, or pass --plat {needed} to accept the higher tag"
            )
    claimed_versions = [p for p in (macos.parse_macos_platform_tag(c) for c in claimed) if p]
    if any(v >= needed_version and a == arch_name for v, a in claimed_versions):
        return tuple(claimed), None
    return (needed,), f"tag raised to {needed}: {_why(floor)}"


def _parsed(tag: str) -> tuple[tuple[int, int], str]:
    parsed = macos.parse_macos_platform_tag(tag)
    assert parsed is not None
    return parsed


def _dotted(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _why(floor: Floor) -> str:
    parts = [
        f"{p} needs macOS {_dotted(floor.versions[a])} on {a}" for a, p in sorted(floor.culprits.items())
    ]
    return "; ".join(parts) or "the architectures' defaults"
