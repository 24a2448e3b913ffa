"""Inspect an artifact: resolve every dependency, and find the platform tags it really qualifies for.

Pure code over a :class:`~native_doctor.model.Artifact`; no I/O.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.model import Artifact, Dependency, NativeFile, Resolution, TargetOS
from native_doctor.platforms import linux
from native_doctor.platforms.loader import FileIndex, LinuxContext, resolve_all

__all__ = [
    "BinaryReport",
    "Inspection",
    "PlatformSummary",
    "PolicyUpgrade",
    "RepairSummary",
    "inspect_artifact",
]

_K = TypeVar("_K")


@dataclass(frozen=True, slots=True)
class BinaryReport:
    """One native file and how each of its needed libraries resolves."""

    native: NativeFile
    dependencies: tuple[Dependency, ...]


@dataclass(frozen=True, slots=True)
class PolicyUpgrade:
    """What stands between a Linux artifact and one policy more compatible than the best it meets
    (``auditwheel show --json``'s ``policy_upgrades`` entry, same meaning)."""

    #: The policy's platform tag, ``manylinux_2_5_x86_64``.
    tag: str
    #: Libraries the binaries need that this policy does not allow and the artifact does not bundle
    #: (the dynamic loader left out).
    libs_to_eliminate: tuple[str, ...]
    #: Per needed library the symbols imported from it that this policy forbids (weak references
    #: left out; empty when the symbol tables were not read).
    blacklisted_symbols: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class PlatformSummary:
    """The platform an artifact's binaries target, and the tags they really qualify for."""

    os: TargetOS | None
    #: ``glibc`` or ``musl`` for Linux artifacts.
    libc: str | None
    #: Architectures every binary carries (for a universal2 wheel: ``("arm64", "x86_64")``).
    archs: tuple[str, ...]
    #: Platform tags the binaries support, best (most compatible) first, with aliases.
    qualifies_for: tuple[str, ...]
    #: Tags claimed by the artifact's name, platform part only (``manylinux_2_17_x86_64``).
    claimed_platforms: tuple[str, ...]
    #: Linux: for each policy more compatible than the best one met (all of them when none is met),
    #: what keeps the artifact from it, most compatible first; policies only symbol versions
    #: keep it from are left out (as auditwheel does).
    policy_upgrades: tuple[PolicyUpgrade, ...] = ()


@dataclass(frozen=True, slots=True)
class RepairSummary:
    """Traces a repair tool left: which tool, and which libraries it vendored."""

    tool: str | None
    #: Artifact paths of the vendored libraries.
    vendored: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Inspection:
    """Everything ``native-doctor inspect`` knows about one artifact."""

    artifact: Artifact
    binaries: tuple[BinaryReport, ...]
    platform: PlatformSummary
    repair: RepairSummary

    @property
    def external_libraries(self) -> tuple[str, ...]:
        """Names of needed libraries that are neither bundled nor provided by the platform."""
        names = {d.name for b in self.binaries for d in b.dependencies if d.resolution is Resolution.EXTERNAL}
        return tuple(sorted(names))

    @property
    def unreadable(self) -> tuple[NativeFile, ...]:
        """Native files whose magic number matched but which could not be parsed, wholly or partly."""
        return tuple(b.native for b in self.binaries if b.native.error is not None)


def inspect_artifact(
    artifact: Artifact, *, index: FileIndex | None = None, host_libraries: Mapping[str, str] | None = None
) -> Inspection:
    """Resolve dependencies and compute platform tags for one artifact.

    :param index: the files the loader may find, when wider than the artifact itself (an
        installed environment: every distribution's files in the same site-packages).
    :param host_libraries: for an installed environment, the libraries this host provides
        (name -> directory); None for a wheel, whose platform policy decides instead.
    """
    claimed = tuple(sorted({tag.rsplit("-", 1)[-1] for tag in artifact.claimed_tags}))
    target = _target_os(claimed, artifact.native)
    libc = _libc(claimed, artifact.native) if target is TargetOS.LINUX else None
    if index is None:
        index = FileIndex(artifact.native, artifact.dll_directories)
    context = LinuxContext(libc="musl" if libc == "musl" else "glibc", host_libraries=host_libraries)
    resolved = resolve_all(artifact.native, index, context)
    binaries = tuple(BinaryReport(n, resolved.get(n.path, ())) for n in artifact.native)
    readable = [b for b in binaries if b.native.info is not None]
    qualifies_for = _qualifies_for(target, libc, readable, claimed)
    platform = PlatformSummary(
        os=target,
        libc=libc,
        archs=_common_archs(readable, target),
        qualifies_for=qualifies_for,
        claimed_platforms=claimed,
        policy_upgrades=_policy_upgrades(libc, readable, qualifies_for) if target is TargetOS.LINUX else (),
    )
    return Inspection(artifact, binaries, platform, _repair(artifact, binaries))


def _most_common(counts: Counter[_K]) -> _K:
    """The most counted key, the first seen among equals: ``counts.most_common(1)[0][0]`` without
    the :mod:`heapq` import that costs."""
    return max(counts, key=counts.__getitem__)


def _target_os(claimed: Sequence[str], files: Iterable[NativeFile]) -> TargetOS | None:
    """The OS the artifact is for: the claimed platforms' OS; when they name several (or none),
    the OS of the binaries' most common format."""
    named = {os for os in map(_os_of_platform, claimed) if os is not None}
    formats = Counter(n.info.format for n in files if n.info is not None)
    majority = TargetOS.of_format(_most_common(formats)) if formats else None
    if len(named) == 1 and (majority is None or majority in named):
        return named.pop()
    return majority if majority is not None else (sorted(named)[0] if named else None)


def _os_of_platform(platform: str) -> TargetOS | None:
    if platform.startswith(("manylinux", "musllinux", "linux")):
        return TargetOS.LINUX
    if platform.startswith("macosx"):
        return TargetOS.MACOS
    if platform.startswith("win"):
        return TargetOS.WINDOWS
    return None


def _libc(claimed: Sequence[str], files: Iterable[NativeFile]) -> str:
    if any(p.startswith("musllinux") for p in claimed):
        return "musl"
    for native in files:
        info = native.info
        if info is not None and info.format is BinaryFormat.ELF:
            musl = any(n.startswith(("libc.musl-", "ld-musl-")) for n in info.needed)
            if musl or (info.interpreter or "").startswith("/lib/ld-musl-"):
                return "musl"
    return "glibc"


def _platform_binaries(binaries: Iterable[BinaryReport], target: TargetOS | None) -> list[BinaryReport]:
    """The readable binaries of the target platform's format (others do not decide its tags)."""
    fmt = target.binary_format if target is not None else None
    return [b for b in binaries if b.native.info is not None and b.native.info.format is fmt]


def _infos(binaries: Iterable[BinaryReport]) -> list[BinaryInfo]:
    return [b.native.info for b in binaries if b.native.info is not None]


def _common_archs(binaries: Sequence[BinaryReport], target: TargetOS | None) -> tuple[str, ...]:
    infos = _infos(_platform_binaries(binaries, target))
    if not infos:
        return ()
    common = set(infos[0].archs)
    for info in infos[1:]:
        common &= set(info.archs)
    return tuple(sorted(common))


def _qualifies_for(
    target: TargetOS | None, libc: str | None, binaries: Sequence[BinaryReport], claimed: Sequence[str]
) -> tuple[str, ...]:
    platform_binaries = _platform_binaries(binaries, target)
    infos = _infos(platform_binaries)
    if not infos:
        return ()
    if target is TargetOS.LINUX:
        return _linux_tags(libc or "glibc", infos, platform_binaries, claimed)
    if target is TargetOS.MACOS:
        return _macos_tags(infos)
    archs = {info.arch for info in infos}
    if len(archs) != 1:
        return ()
    from native_doctor.platforms import windows  # the rules of the platforms a run meets only

    try:
        return (windows.windows_tag(archs.pop()),)
    except ValueError:  # ARM64EC/ARM64X/ARMv7/IA-64: no CPython wheel tag exists for them
        return ()


#: ld.so itself is always there and its versions are not policy-governed (auditwheel skips it too).
_LOADER = re.compile(r"^(ld-linux.*|ld64\.so\.\d|ld-musl-.*)$")


def _linux_tags(
    libc: str, infos: Sequence[BinaryInfo], binaries: Sequence[BinaryReport], claimed: Sequence[str]
) -> tuple[str, ...]:
    archs = {info.arch for info in infos}
    if len(archs) != 1:
        return ()
    arch = archs.pop()
    external = {d.name for b in binaries for d in b.dependencies if d.resolution is not Resolution.BUNDLED}
    versions = {
        version
        for info in infos
        for library, needed in info.required_symbol_versions.items()
        if not _LOADER.match(library)
        for version in needed
    }
    kind: linux.Libc = "musl" if libc == "musl" else "glibc"
    floor = None
    if kind == "musl":  # musl has no symbol versioning: never below the lowest claimed version
        claimed_musl = [p[1] for p in map(linux.parse_linux_platform_tag, claimed) if p and p[0] == "musl"]
        floor = min(claimed_musl) if claimed_musl else None
    family = "manylinux" if kind == "glibc" else "musllinux"
    best = linux.best_policy(
        arch,
        kind,
        external=external,
        versions=versions,
        at_least=floor,
        allowed=lambda policy: not _blacklisted(binaries, family, policy.libc_version),
    )
    if best is None:
        return (f"linux_{arch}",)
    return (best.tag(arch), *best.alias_tags(arch))


def _policy_upgrades(
    libc: str | None, binaries: Sequence[BinaryReport], qualifies_for: Sequence[str]
) -> tuple[PolicyUpgrade, ...]:
    """auditwheel's ``policy_upgrades``: for each policy more compatible than the best one met,
    the libraries to eliminate and the forbidden symbols imported, when there are any."""
    elf = _platform_binaries(binaries, TargetOS.LINUX)
    archs = {info.arch for info in _infos(elf)}
    if len(archs) != 1:
        return ()
    arch = archs.pop()
    kind: linux.Libc = "musl" if libc == "musl" else "glibc"
    best = linux.parse_linux_platform_tag(qualifies_for[0]) if qualifies_for else None
    family = "manylinux" if kind == "glibc" else "musllinux"
    upgrades = []
    for policy in linux.policies(kind):
        if not policy.supports_arch(arch) or (best is not None and policy.libc_version >= best[1]):
            continue
        libs = sorted(
            {
                d.name
                for b in elf
                for d in b.dependencies
                if d.resolution is not Resolution.BUNDLED
                and not _LOADER.match(d.name)
                and not policy.allows_library(arch, d.name)
            }
        )
        blacklisted = _blacklisted(elf, family, policy.libc_version)
        if libs or blacklisted:
            upgrades.append(PolicyUpgrade(policy.tag(arch), tuple(libs), blacklisted))
    return tuple(upgrades)


def _blacklisted(
    binaries: Sequence[BinaryReport], family: str, version: tuple[int, int]
) -> Mapping[str, tuple[str, ...]]:
    """Per DT_NEEDED library (bundled or not, as auditwheel judges it), the forbidden symbols the
    binaries import from it; weak references are optional and do not count."""
    found: dict[str, set[str]] = {}
    for binary in binaries:
        info = binary.native.info
        if info is None or not info.deep:
            continue
        imported = frozenset(info.required_imported_symbols)
        for library in info.needed:
            bad = imported & linux.forbidden_for(family, library, version)
            if bad:
                found.setdefault(library, set()).update(bad)
    return {library: tuple(sorted(names)) for library, names in sorted(found.items())}


def _macos_tags(infos: Sequence[BinaryInfo]) -> tuple[str, ...]:
    per_arch: dict[str, list[str | None]] = {}
    common: set[str] | None = None
    for info in infos:
        slices = info.slices or (info,)
        archs = {s.arch for s in slices}
        common = archs if common is None else common & archs
        for s in slices:
            per_arch.setdefault(s.arch, []).append(s.min_os)
    if not common:
        return ()
    slices_needed = [(arch, _highest(per_arch[arch])) for arch in sorted(common)]
    from native_doctor.platforms import macos

    return (macos.macos_tag(slices_needed),)


def _highest(versions: Iterable[str | None]) -> str | None:
    known = [v for v in versions if v]
    return max(known, key=_version_key) if known else None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


_HASHED = re.compile(r"-[0-9a-f]{8}\.so|-[0-9a-f]{32}\.dll$", re.IGNORECASE)
_OUR_DLL = re.compile(r"-[0-9a-f]{8}\.dll$", re.IGNORECASE)


def _repair(artifact: Artifact, binaries: Sequence[BinaryReport]) -> RepairSummary:
    vendored: list[str] = []
    tools: list[str] = []
    for binary in binaries:
        native = binary.native
        parts = native.install_path.split("/")
        if ".dylibs" in parts[:-1]:
            vendored.append(native.path)
            tools.append("delocate")
        elif (len(parts) == 2 and parts[0].endswith(".libs")) or (len(parts) > 2 and parts[-2] == ".libs"):
            vendored.append(native.path)
            info = native.info
            is_pe = (info is not None and info.format is BinaryFormat.PE) or native.path.lower().endswith(
                ".dll"
            )
            if not is_pe:
                tools.append("auditwheel")
            else:  # native-doctor's repair names DLLs name-<8 hex>.dll, delvewheel name-<32 hex>.dll
                tools.append("native-doctor" if _OUR_DLL.search(native.path) else "delvewheel")
    if "DELVEWHEEL" in artifact.markers:
        tools.append("delvewheel")
    if "sboms/auditwheel.cdx.json" in artifact.markers:
        tools.append("auditwheel")
    tool = _most_common(Counter(tools)) if tools else None
    if tool is None and any(_HASHED.search(posixpath.basename(n.path)) for n in artifact.native):
        tool = "unknown"
    return RepairSummary(tool, tuple(vendored))
