"""What sources produce and what the analysis adds: artifacts, native files, resolved dependencies.

Sources (``native_doctor.sources``) do all the I/O and return an :class:`Artifact`; everything
else (loader rules, tag analysis, checks, reports) is pure code over these frozen records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from native_doctor.binary.model import BinaryFormat, BinaryInfo

__all__ = [
    "Artifact",
    "ArtifactKind",
    "Dependency",
    "NativeFile",
    "RecordReport",
    "Resolution",
    "TargetOS",
]


class ArtifactKind(StrEnum):
    """What was examined."""

    WHEEL = "wheel"
    DISTRIBUTION = "distribution"  # an installed distribution, found through its RECORD


class TargetOS(StrEnum):
    """The operating system whose loader rules apply."""

    LINUX = "linux"
    MACOS = "macos"
    WINDOWS = "windows"

    @classmethod
    def of_format(cls, fmt: BinaryFormat) -> TargetOS:
        """The OS that loads files of this format."""
        return _OS_OF_FORMAT[fmt]

    @property
    def binary_format(self) -> BinaryFormat:
        """The format this OS's loader loads."""
        return next(fmt for fmt, os in _OS_OF_FORMAT.items() if os is self)


_OS_OF_FORMAT = {
    BinaryFormat.ELF: TargetOS.LINUX,
    BinaryFormat.MACHO: TargetOS.MACOS,
    BinaryFormat.PE: TargetOS.WINDOWS,
}


@dataclass(frozen=True, slots=True)
class NativeFile:
    """One ELF, Mach-O or PE file found in an artifact."""

    #: Path inside the artifact (a wheel member name, or a RECORD path).
    path: str
    #: Where the file lands relative to site-packages (``.data/platlib/`` and ``.data/purelib/``
    #: prefixes removed); other ``.data`` schemes keep a ``<scheme>/`` prefix such as ``<scripts>/``.
    install_path: str
    #: Uncompressed size in bytes.
    size: int
    #: Cheap content identity (``crc32:size`` for a zip member), or None when unknown.
    fingerprint: str | None
    #: The parsed binary; None when it could not be read (then ``error`` says why).
    info: BinaryInfo | None
    #: Why the file could not be read, or (with ``info`` set) which part of a deep read failed.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RecordReport:
    """How a wheel's ``.dist-info/RECORD`` compares with its members (PEP 376/427/627)."""

    #: False when the wheel has no RECORD at all.
    present: bool
    #: Members whose sha256 digest or size disagrees with RECORD: (path, what differs).
    mismatched: tuple[tuple[str, str], ...] = ()
    #: Members that RECORD does not list (RECORD itself and its signatures excepted).
    unlisted: tuple[str, ...] = ()
    #: RECORD lines naming files the wheel does not contain.
    missing: tuple[str, ...] = ()
    #: RECORD lines that cannot be parsed or carry no usable hash (other than RECORD's own line).
    malformed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Artifact:
    """A wheel or an installed distribution, as read from disk."""

    kind: ArtifactKind
    #: The wheel file, or the distribution's ``.dist-info`` directory.
    path: str
    name: str
    version: str
    #: Tags the artifact says it is for: expanded from the wheel file name (or the WHEEL file of
    #: an installed distribution), e.g. ``cp312-cp312-manylinux_2_17_x86_64``.
    claimed_tags: tuple[str, ...]
    #: Every file path in the artifact, as ``install_path`` values (see :class:`NativeFile`).
    files: tuple[str, ...]
    native: tuple[NativeFile, ...]
    #: ``Requires-Dist`` lines from METADATA.
    requires_dist: tuple[str, ...] = ()
    #: ``Root-Is-Purelib`` from WHEEL (None if absent).
    root_is_purelib: bool | None = None
    #: Size of the artifact in bytes (the wheel file; for a distribution, the sum of its files).
    size: int = 0
    #: Installer (INSTALLER file) for a distribution.
    installer: str | None = None
    #: dist-info member names that mark a repair tool's work (e.g. ``DELVEWHEEL``).
    markers: tuple[str, ...] = field(default=())
    #: Install-path directories the package adds to the Windows DLL search at import time
    #: (``os.add_dll_directory`` in an ``__init__.py``, as delvewheel's patch does).
    dll_directories: tuple[str, ...] = ()
    #: RECORD verification, when the source was asked for it (``verify_record=True``).
    record: RecordReport | None = None
    #: What a reading budget stopped (bytes inflated per archive): said as a warning, never an error.
    read_limits: tuple[str, ...] = ()
    #: ``(path, text)`` of the license files (``.dist-info/licenses/*``, LICENSE/COPYING/NOTICE
    #: named files), each read no further than a bounded prefix; None when the source was not
    #: asked to read them (then checks that need them say nothing).
    license_texts: tuple[tuple[str, str], ...] | None = None
    #: Installed paths of extension modules the package imports only inside a ``try`` that
    #: catches ``ImportError`` (it goes on without them), among those that need a library the
    #: artifact does not bundle (``sources.wheel.optional_extensions``; empty when not asked).
    optional_extensions: tuple[str, ...] = ()


class Resolution(StrEnum):
    """Where a needed library comes from on the artifact's target platform."""

    BUNDLED = "bundled"  # inside the artifact, reached by the platform's search rules
    SYSTEM = "system"  # guaranteed by the platform (policy library, OS library, Python's own DLL)
    EXTERNAL = "external"  # neither: a clean machine will fail to load it


@dataclass(frozen=True, slots=True)
class Dependency:
    """One needed library of one binary, and how the target platform's loader finds it."""

    name: str
    resolution: Resolution
    #: The artifact path of the bundled file (None unless bundled).
    member: str | None
    #: How it was found, or why not: ``"RPATH $ORIGIN/../foo.libs"``, ``"same directory"``,
    #: ``"manylinux policy library"``, ``"not on the search path (a copy is at foo/libx.so)"``.
    via: str
    #: Loaded on first use (PE delay-load) or weakly (Mach-O): absence fails late, not at import.
    lazy: bool = False
