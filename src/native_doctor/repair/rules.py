"""What a platform part tells the repair core: the few rules that differ between platforms.

The core (:mod:`.plan`, :mod:`.verify`, :mod:`.wheelfile`, :mod:`.run`) is the same for Linux,
Windows and macOS; each platform part (today :mod:`.linux`) supplies one :class:`PlatformRules`
(which libraries the platform guarantees, which must come from the machine, how grafted
libraries are named and where they go) and its own binary edits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from native_doctor.binary.model import BinaryFormat
from native_doctor.model import TargetOS

__all__ = ["PlatformRules"]


class PlatformRules(NamedTuple):
    """The platform-specific decisions the plan needs."""

    os: TargetOS
    #: The binary format the platform's loader loads (other binaries in the wheel are ignored).
    format: BinaryFormat
    #: Libraries the platform guarantees (policy libraries, loaders, system DLLs): never grafted,
    #: never searched for.
    is_system: Callable[[str], bool]
    #: Why a library must come from the machine (GPU driver, ...), or None.
    host_only: Callable[[str], str | None]
    #: ``(needed name, sha256 of the file) -> name in the wheel`` (identity where names stay).
    mangle: Callable[[str, str], str]
    #: ``wheel path -> wheel-root folder that receives grafted libraries``.
    libs_dir: Callable[[str], str]
