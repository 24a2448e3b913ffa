"""The records the repair stages pass along: options, the plan, and what was (or would be) written.

Data flows one way: :mod:`~native_doctor.repair.locate` finds files, :mod:`~native_doctor.repair.plan`
decides (a :class:`RepairPlan`), the platform part turns the plan into byte edits, verification
re-reads them, and the wheel writer writes. Every stage's output is one of these frozen records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from native_doctor.binary.model import BinaryInfo
from native_doctor.errors import NativeDoctorError

__all__ = [
    "CannotRepair",
    "Graft",
    "InWheel",
    "LeftOut",
    "LeftReason",
    "Link",
    "LocatedLibrary",
    "Missing",
    "RepairOptions",
    "RepairPlan",
    "RepairResult",
    "RunpathChange",
]


class CannotRepair(NativeDoctorError, RuntimeError):
    """The wheel cannot be repaired as asked (a library not found, a tag impossible, verification
    failed). Nothing is written; the command exits 1 with this reason."""


@dataclass(frozen=True, slots=True)
class RepairOptions:
    """What the user asked for (``native-doctor repair`` options)."""

    lib_paths: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    provided_by: tuple[str, ...] = ()
    #: Distributions never linked to (built-in knowledge included): their libraries are grafted.
    no_providers: tuple[str, ...] = ()
    plat: str | None = None
    use_host: bool = True
    #: DLLs to vendor although nothing imports them (Windows: loaded by name at run time).
    includes: tuple[str, ...] = ()
    #: DLL names that keep their name when vendored (Windows).
    no_mangle: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LocatedLibrary:
    """A library file found outside the wheel, read and parsed."""

    #: The name it was searched for (a DT_NEEDED entry).
    name: str
    path: str
    data: bytes = field(repr=False)
    info: BinaryInfo
    sha256: str
    #: Where it was found: ``--lib-path``, ``RUNPATH of libfoo.so.1``, ``ld.so cache``, ...
    found_in: str


@dataclass(frozen=True, slots=True)
class Graft:
    """One library copied into the wheel under a hash-mangled name."""

    #: The DT_NEEDED name dependents use (usually the library's SONAME).
    name: str
    #: The mangled name: ``libfoo-1a2b3c4d.so.1``; also the new SONAME.
    new_name: str
    #: Artifact path of the copy: ``<dist>.libs/libfoo-1a2b3c4d.so.1``.
    member: str
    source: str
    found_in: str
    size: int
    sha256: str
    #: Artifact paths (or graft names) of the binaries that need it directly.
    needed_by: tuple[str, ...]
    #: The first chain found from a wheel binary to it: ``("pkg/ext.so", "liba.so.1", "libb.so.1")``.
    chain: tuple[str, ...]
    #: The library's parsed headers (what its own edit starts from).
    info: BinaryInfo = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Link:
    """A library another distribution installs: linked through RUNPATH, not grafted."""

    name: str
    distribution: str
    #: Install-path directory (relative to site-packages) it lands in.
    directory: str
    needed_by: tuple[str, ...]
    #: True when METADATA already has a ``Requires-Dist`` on the distribution.
    declared: bool
    #: ``--provided-by`` or ``built-in provider data``.
    because: str


@dataclass(frozen=True, slots=True)
class InWheel:
    """A needed library the wheel already ships, in a folder the loader does not search: reached
    by a RUNPATH entry instead of being grafted a second time."""

    name: str
    #: Artifact path of the copy.
    member: str
    #: Its install-path folder (relative to site-packages).
    directory: str
    needed_by: tuple[str, ...]


class LeftReason(StrEnum):
    """Why a needed library stays outside the wheel."""

    HOST = "host"  # GPU driver, glvnd dispatch, Vulkan/OpenCL loaders: must come from the machine
    EXCLUDED = "excluded"  # --exclude


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A needed library deliberately left for the machine to provide."""

    name: str
    reason: LeftReason
    detail: str
    needed_by: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Missing:
    """A library to graft that no search place has (the repair cannot proceed)."""

    name: str
    needed_by: tuple[str, ...]
    chain: tuple[str, ...]
    #: Candidate files that were skipped, with the reason (wrong architecture, not ELF, ...).
    rejected: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RepairPlan:
    """What a repair will do to one wheel; pure data (``--dry-run`` prints it)."""

    wheel: str
    arch: str
    libc: str
    #: Wheel-root folder that receives grafted libraries: ``<dist>.libs``.
    libs_dir: str
    grafts: tuple[Graft, ...] = ()
    links: tuple[Link, ...] = ()
    in_wheel: tuple[InWheel, ...] = ()
    left: tuple[LeftOut, ...] = ()
    missing: tuple[Missing, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def bytes_added(self) -> int:
        """Uncompressed bytes the grafted libraries add."""
        return sum(g.size for g in self.grafts)

    @property
    def changes_binaries(self) -> bool:
        """Whether any binary must be edited or added."""
        return bool(self.grafts or self.links or self.in_wheel)


@dataclass(frozen=True, slots=True)
class RunpathChange:
    """How one binary's RUNPATH changes, entry by entry, with the reasons."""

    member: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    #: (entry, why it was dropped).
    dropped: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RepairResult:
    """The outcome for one wheel."""

    plan: RepairPlan
    #: The output path (None for --dry-run or when nothing was written).
    output: str | None
    #: The platform tags of the output (``manylinux_2_17_x86_64``, ...).
    platforms: tuple[str, ...]
    #: Artifact paths of every binary that was edited.
    edited: tuple[str, ...] = ()
    runpaths: tuple[RunpathChange, ...] = ()
    #: Distributions added to METADATA as ``Requires-Dist``.
    requirements_added: tuple[str, ...] = ()
    #: True when the wheel needed nothing (the output is a copy of the input).
    unchanged: bool = False
    notes: tuple[str, ...] = ()
    #: Why the wheel cannot be repaired (then nothing was written).
    problem: str | None = None
