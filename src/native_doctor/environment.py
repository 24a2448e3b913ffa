"""What the environment doctor knows about one Python environment: pure records.

``native_doctor.doctor`` gathers them (reading site-packages, the host, binaries' text markers,
and simulating the platform's loader for the process); checks of scope ``environment`` read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from native_doctor.analysis import Inspection
    from native_doctor.platforms.process_linux import ProcessReport
    from native_doctor.sources.env import DiskState
    from native_doctor.sources.host import HostFacts
    from native_doctor.sources.loadnames import LoadCall
    from native_doctor.sources.markers import BinaryMarkers
    from native_doctor.sources.runtime import ImportProbe

__all__ = ["EnvironmentInspection", "ImportPrediction", "RuntimeLoad"]


@dataclass(frozen=True, slots=True)
class RuntimeLoad:
    """A library a distribution's Python code loads by a literal name, resolved on this host."""

    distribution: str
    version: str
    dist_info: str
    call: LoadCall
    #: Where the name resolves (a path, or the name ``find_library`` returns); None: nowhere.
    found: str | None
    #: The search that was made, in words (``"the ld.so cache (ldconfig -p) and LD_LIBRARY_PATH"``).
    searched: str


@dataclass(frozen=True, slots=True)
class ImportPrediction:
    """The simulated process in which one distribution's extension modules are imported."""

    #: The distribution (its name) whose extensions were loaded, after the interpreter.
    distribution: str
    #: Its ``.dist-info`` path (findings name it as their artifact).
    dist_info: str
    #: Absolute paths of the extension modules, in the order they were loaded.
    extensions: tuple[str, ...]
    report: ProcessReport


@dataclass(frozen=True, slots=True)
class EnvironmentInspection:
    """Everything the environment doctor found, before any check ran."""

    host: HostFacts
    #: The site-packages directories examined.
    site_packages: tuple[str, ...]
    #: One per installed distribution that carries native files (static, wheel-like analysis).
    distributions: tuple[Inspection, ...]
    #: Distribution name -> version, for every distribution (native or not).
    versions: Mapping[str, str]
    #: Distribution name -> top-level import names its RECORD installs.
    top_levels: Mapping[str, tuple[str, ...]]
    #: The loader simulation per distribution (Linux hosts; empty elsewhere).
    predictions: tuple[ImportPrediction, ...] = ()
    #: Absolute path of a native file -> its text markers (NumPy target, CPU baseline, ...).
    markers: Mapping[str, BinaryMarkers] = field(default_factory=lambda: MappingProxyType({}))
    #: ``--runtime``: what really happened when each top-level package was imported in a child.
    runtime: tuple[ImportProbe, ...] = ()
    #: Every distribution read through a RECORD (native or not): requirements and disk state.
    installed: tuple[DiskState, ...] = ()
    #: Paths that exist but were not read, with the reason: ``.dist-info`` directories whose
    #: metadata cannot be read, binaries whose markers cannot be scanned.
    unreadable: tuple[tuple[str, str], ...] = ()
    #: Libraries loaded by name from Python code (ctypes, cffi), resolved as this host would.
    runtime_loads: tuple[RuntimeLoad, ...] = ()
    #: Absolute paths of extension modules the simulation cannot load that their package imports
    #: only conditionally (every import of them sits in a function or a ``try``): optional parts.
    conditional_extensions: frozenset[str] = frozenset()

    def absolute(self, inspection: Inspection, path: str) -> str:
        """The absolute path of a file of ``inspection`` given by its RECORD path."""
        import os.path

        # Textual, as the doctor keys its markers (no symbolic link is resolved: one lstat per
        # path component per call cost more than the rest of the checks together).
        parent = os.path.dirname(inspection.artifact.path)  # noqa: PTH120 - hot path, strings
        return os.path.normpath(os.path.join(parent, path))  # noqa: PTH118
