"""Find the libraries a repair grafts: the only part of the repair that searches the file system.

Search order for a name: every ``--lib-path`` folder (in order), then the requesting binary's own
absolute RPATH/RUNPATH folders, then -- only on a Linux host of the wheel's architecture and libc,
and unless ``--no-sys-paths`` -- ``LD_LIBRARY_PATH``, the ld.so cache and the default folders.
A candidate is accepted only when it is an ELF file of the wheel's class, byte order and machine;
every skipped candidate is remembered with the reason, so "not found" can say what was seen.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from native_doctor._names import canonical_name
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.errors import BinaryFormatError, UsageError
from native_doctor.repair.model import LocatedLibrary
from native_doctor.repair.plan import LookupResult
from native_doctor.repair.stages import first_fit, read_candidate

if TYPE_CHECKING:
    from native_doctor.providers import Provider

__all__ = ["Locator", "host_search_folders", "installed_providers"]

_MACHINES = {"amd64": "x86_64", "x86_64": "x86_64", "i386": "i686", "i486": "i686", "i586": "i686",
             "i686": "i686", "aarch64": "aarch64", "arm64": "aarch64", "armv7l": "armv7l",
             "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}  # fmt: skip
_MULTIARCH = {"x86_64": "x86_64-linux-gnu", "i686": "i386-linux-gnu", "aarch64": "aarch64-linux-gnu",
              "armv7l": "arm-linux-gnueabihf", "ppc64le": "powerpc64le-linux-gnu",
              "s390x": "s390x-linux-gnu", "riscv64": "riscv64-linux-gnu"}  # fmt: skip


class _Target(NamedTuple):
    """What a library must be to load into the wheel's binaries."""

    arch: str
    bits: int
    byteorder: str


class Locator:
    """Finds libraries for one wheel (its architecture, class and byte order)."""

    def __init__(
        self,
        lib_paths: Sequence[str],
        *,
        arch: str,
        bits: int,
        byteorder: str,
        libc: str,
        use_host: bool = True,
    ) -> None:
        self._lib_paths = tuple(lib_paths)
        self._target = _Target(arch, bits, byteorder)
        self._host = host_search_folders(arch, libc) if use_host else None
        self._use_host = use_host
        self._cache: dict[tuple[str, tuple[str, ...]], LookupResult] = {}

    def __call__(self, name: str, search_first: tuple[str, ...]) -> LookupResult:
        key = (name, search_first if self._use_host else ())
        if key not in self._cache:
            self._cache[key] = self._find(name, key[1])
        return self._cache[key]

    def _find(self, name: str, search_first: tuple[str, ...]) -> LookupResult:
        places: list[tuple[str, str]] = [(d, "--lib-path") for d in self._lib_paths]
        places += [(d, "RUNPATH/RPATH of the binary that needs it") for d in search_first]
        if self._host is not None:
            places += list(self._host.places(name))
        found, rejected = first_fit(
            ((f"{folder.rstrip('/')}/{name}", how) for folder, how in places),
            lambda candidate, how, refused: self._accept(name, candidate, how, refused),
        )
        return LookupResult(found, tuple(rejected))

    def _accept(
        self, name: str, candidate: str, how: str, rejected: list[tuple[str, str]]
    ) -> LocatedLibrary | None:
        return read_candidate(
            name,
            candidate,
            f"{how} {Path(candidate).parent}",
            rejected,
            too_large=lambda size: f"{size} bytes: too large to be a library",
            unreadable_as="library",
            mismatch=self._mismatch,
            located_path=lambda _path: candidate,
        )

    def _mismatch(self, info: BinaryInfo) -> str | None:
        target = self._target
        if info.format is not BinaryFormat.ELF:
            return f"a {info.format.value} file, not ELF"
        if info.kind not in (FileKind.SHARED_LIBRARY, FileKind.EXECUTABLE):
            return f"an ELF {info.kind.value}, not a shared library"
        if (info.arch, info.bits, info.byteorder) != (target.arch, target.bits, target.byteorder):
            return (
                f"built for {info.arch} ({info.bits}-bit {info.byteorder}-endian), the wheel is {target.arch}"
            )
        return None


class _HostFolders(NamedTuple):
    """Where ld.so on this host searches, in its order."""

    ld_library_path: tuple[str, ...]
    cache: dict[str, list[str]]
    defaults: tuple[str, ...]

    def places(self, name: str) -> Iterable[tuple[str, str]]:
        for folder in self.ld_library_path:
            yield folder, "LD_LIBRARY_PATH"
        for path in self.cache.get(name, ()):
            yield str(Path(path).parent), "ld.so cache"
        for folder in self.defaults:
            yield folder, "default folder"


def host_search_folders(arch: str, libc: str) -> _HostFolders | None:
    """Where ld.so on this host searches, when the host runs the wheel's architecture and libc."""
    import platform  # only with the host's folders (not for --no-sys-paths): ~1 ms to import

    if platform.system() != "Linux" or _MACHINES.get(platform.machine().lower()) != arch:
        return None
    host_musl = _host_libc() == "musl"
    if host_musl != (libc == "musl"):
        return None
    ld_path = tuple(p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p)
    cache: dict[str, list[str]] = {}
    if not host_musl:
        from native_doctor.sources.ldcache import arch_for_machine, read_ld_cache

        wanted = arch_for_machine(platform.machine())
        try:
            entries = read_ld_cache()
        except (OSError, BinaryFormatError):
            entries = []
        for entry in entries:
            if entry.hwcaps is None and (wanted is None or entry.arch in (wanted, None)):
                cache.setdefault(entry.name, []).append(entry.path)
    triple = _MULTIARCH.get(arch)
    defaults = [f"/lib/{triple}", f"/usr/lib/{triple}"] if triple and not host_musl else []
    defaults += ["/lib64", "/usr/lib64"] if arch in ("x86_64", "aarch64", "ppc64le", "s390x") else []
    defaults += ["/lib", "/usr/lib", "/usr/local/lib"]
    return _HostFolders(ld_path, cache, tuple(defaults))


def _host_libc() -> str:
    """The libc of this process: glibc answers ``CS_GNU_LIBC_VERSION``, musl does not. (A musl
    loader in /lib proves nothing: Debian's ``musl`` package installs one beside glibc.)"""
    try:
        os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError, AttributeError):
        return "musl"
    return "glibc"


def installed_providers(distributions: Iterable[str], known: Iterable[str]) -> list[Provider]:
    """Providers for ``--provided-by`` distributions the built-in data does not know, read from
    their installed file list (``importlib.metadata``) in this interpreter's environment.

    :raises UsageError: a distribution is neither known nor installed, or installs no library.
    """
    from importlib import metadata

    from native_doctor.providers import Provider

    known_names = {canonical_name(k) for k in known}
    result: list[Provider] = []
    for dist_name in distributions:
        canonical = canonical_name(dist_name)
        if canonical in known_names:
            continue
        try:
            dist = metadata.distribution(dist_name)
        except metadata.PackageNotFoundError:
            raise UsageError(
                f"--provided-by {dist_name}: not a distribution native-doctor knows (nvidia-*, torch, "
                "pyarrow, ...) and not installed here, so its libraries cannot be read"
            ) from None
        by_dir: dict[str, list[str]] = {}
        for file in dist.files or ():
            path = str(file).replace("\\", "/")
            base = path.rsplit("/", 1)[-1]
            if ".so" in base and not path.startswith(".."):
                directory = path.rsplit("/", 1)[0] if "/" in path else ""
                by_dir.setdefault(directory, []).append(base)
        if not by_dir:
            raise UsageError(f"--provided-by {dist_name}: installs no shared library")
        for directory, names in sorted(by_dir.items()):
            result.append(
                Provider(
                    distribution=canonical,
                    os="linux",
                    directory=directory,
                    libraries=tuple(sorted(names)),
                    source=f"installed file list of {dist_name}",
                )
            )
    return result
