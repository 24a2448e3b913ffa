"""What the process simulations share: the file-system seam (all three), and the result records
of the macOS and Windows ones (the Linux one reports per load; see ``process_linux``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from native_doctor.binary.model import BinaryInfo

__all__ = ["FileSystem", "ImportResult", "LoadFailure", "Note", "Resolution"]


class FileSystem(Protocol):
    """The I/O seam: what a simulation asks of the files it looks at."""

    def exists(self, path: str) -> bool:
        """Whether a file the loader could open is at ``path`` (absolute)."""
        ...

    def realpath(self, path: str) -> str:
        """``path`` with links resolved: two paths to one file give the same answer."""
        ...

    def binary(self, path: str) -> BinaryInfo | None:
        """The parsed binary at ``path``; None when it is not of the platform's format or unreadable."""
        ...


@dataclass(frozen=True, slots=True)
class Resolution:
    """How one needed library (or an extension module itself) was resolved."""

    #: The name as the image asks for it (``@rpath/libomp.dylib``, ``LIBOPENBLAS.dll``) or the
    #: path passed to dlopen()/LoadLibrary for an extension.
    name: str
    #: The image whose load command or import table names it (the executable for an extension).
    requested_by: str
    #: The image that satisfies it; None when nothing does.
    path: str | None
    #: ``"@rpath via LC_RPATH of /x/y.so"``, ``"same directory"``, ``"already loaded"``, ...
    how: str
    #: Paths looked at and rejected before ``path`` (all of them when nothing was found).
    searched: tuple[str, ...] = ()
    #: macOS LC_LOAD_WEAK_DYLIB: its absence is not an error.
    weak: bool = False
    #: Windows delay-load import: resolved on first call.
    delayed: bool = False


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A load that failed: the executable's start, or an extension's import (and was undone)."""

    #: The executable or extension whose load failed.
    image: str
    #: What could not be loaded: a library name, or the extension itself.
    name: str
    #: The image that asks for it (None when ``name`` is the extension itself).
    requested_by: str | None
    searched: tuple[str, ...]
    #: What the loader reports (Python's ImportError carries it).
    message: str


@dataclass(frozen=True, slots=True)
class Note:
    """Something that loads (or is deferred) but deserves attention."""

    #: ``newer_min_os``, ``duplicate_library``, ``rpath_reuse``, ``first_loaded_wins``,
    #: ``path_not_searched``, ``delay_load_missing``.
    kind: str
    message: str
    paths: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportResult:
    """One extension's import."""

    extension: str
    #: Images this import added to the process (empty when it failed).
    loaded: tuple[str, ...]
    #: The import's error (what ``ImportError`` says), or None.
    error: str | None
