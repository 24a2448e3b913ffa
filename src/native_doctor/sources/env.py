"""Read an installed Python environment: every distribution in site-packages, through its RECORD."""

from __future__ import annotations

import csv
import io
import os
import posixpath
import sys
import sysconfig
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from native_doctor.binary import SNIFF_BYTES, read_binary, sniff
from native_doctor.errors import BinaryFormatError
from native_doctor.model import Artifact, ArtifactKind, NativeFile
from native_doctor.sources._dll_dirs import directories_of, dll_directories, is_hook_file
from native_doctor.sources._file import FileSource
from native_doctor.sources._headers import Headers, parse_headers
from native_doctor.sources._members import REPAIR_MARKERS, may_be_native
from native_doctor.sources.ldcache import CacheEntry

__all__ = ["Environment", "host_libraries", "host_library_dirs", "read_environment", "site_packages"]

#: Called with (distributions done, distributions total).
ProgressCallback = Callable[[int, int], None]
_MAX_TEXT = 16 << 20


class Environment:
    """The distributions installed in one site-packages directory."""

    __slots__ = ("distributions", "site_packages")

    def __init__(self, site_packages: Path, distributions: tuple[Artifact, ...]) -> None:
        self.site_packages = site_packages
        self.distributions = distributions


def site_packages() -> list[Path]:
    """The running interpreter's site-packages directories (purelib, platlib), existing ones only."""
    paths = sysconfig.get_paths()
    found: list[Path] = []
    for key in ("purelib", "platlib"):
        path = Path(paths[key])
        if path.is_dir() and path not in found:
            found.append(path)
    return found


def site_packages_of(python: str) -> list[Path]:
    """The site-packages directories of another interpreter (asked, never guessed).

    :raises UsageError: the interpreter cannot be run or does not answer.
    """
    import json
    import subprocess

    from native_doctor.errors import UsageError

    script = (
        "import json, sysconfig; p = sysconfig.get_paths(); print(json.dumps([p['purelib'], p['platlib']]))"
    )
    try:
        proc = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=60, check=False)
        paths = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        paths = None
    if not isinstance(paths, list):
        raise UsageError(f"--python {python}: not a Python interpreter that can be run here")
    return [Path(p) for p in dict.fromkeys(paths) if Path(p).is_dir()]


def read_environment(directory: Path, *, progress: ProgressCallback | None = None) -> Environment:
    """Read every ``*.dist-info`` distribution in ``directory``; unreadable ones are skipped."""
    dist_infos = sorted(p for p in directory.glob("*.dist-info") if p.is_dir())
    distributions: list[Artifact] = []
    for done, dist_info in enumerate(dist_infos, 1):
        artifact = _read_distribution(directory, dist_info)
        if artifact is not None:
            distributions.append(artifact)
        if progress is not None:
            progress(done, len(dist_infos))
    unowned = _unowned(directory, {f for d in distributions for f in d.files})
    if unowned is not None:
        distributions.append(unowned)
    return Environment(directory, tuple(distributions))


#: The name given to native files no installed distribution's RECORD lists (``.egg-info``
#: installs, files copied by hand, leftovers of an uninstall).
UNOWNED = "(files in no RECORD)"
_SKIP_DIRS = ("__pycache__",)


def _unowned(site: Path, owned: set[str]) -> Artifact | None:
    """Native files under ``site`` that no RECORD lists, as one pseudo-distribution (or None)."""
    native: list[NativeFile] = []
    for root, dirs, files in os.walk(site):
        dirs[:] = [d for d in dirs if not d.endswith((".dist-info", ".egg-info")) and d not in _SKIP_DIRS]
        relative_root = Path(root).relative_to(site).as_posix()
        for name in files:
            path = name if relative_root == "." else f"{relative_root}/{name}"
            if path not in owned and (name.endswith((".so", ".pyd", ".dylib", ".dll")) or ".so." in name):
                found = _read_file(site, path)
                if found is not None:
                    native.append(found)
    if not native:
        return None
    return Artifact(
        kind=ArtifactKind.DISTRIBUTION,
        path=str(site),
        name=UNOWNED,
        version="",
        claimed_tags=(),
        files=tuple(n.path for n in native),
        native=tuple(native),
        size=sum(n.size for n in native),
    )


def _read_distribution(site: Path, dist_info: Path) -> Artifact | None:
    metadata = _read_email(dist_info / "METADATA")
    name, version = metadata.get("Name"), metadata.get("Version")
    if not name or not version:
        return None
    files = list(_record_paths(dist_info / "RECORD"))
    native = tuple(n for n in (_read_file(site, path) for path in files) if n is not None)
    hooks = [(p, _read_bytes(site / p)) for p in files if is_hook_file(p)]
    wheel = _read_email(dist_info / "WHEEL")
    purelib = wheel.get("Root-Is-Purelib")
    installer = _read_text(dist_info / "INSTALLER").strip() or None
    return Artifact(
        kind=ArtifactKind.DISTRIBUTION,
        path=str(dist_info),
        name=name,
        version=version,
        claimed_tags=tuple(sorted(wheel.get_all("Tag"))),
        files=tuple(files),
        native=native,
        requires_dist=tuple(metadata.get_all("Requires-Dist")),
        root_is_purelib=None if purelib is None else purelib.strip().lower() == "true",
        size=sum(n.size for n in native),
        installer=installer,
        markers=tuple(m for m in REPAIR_MARKERS if (dist_info / m).exists()),
        dll_directories=dll_directories(hooks, directories_of(files)),
    )


def _record_paths(record: Path) -> Iterator[str]:
    """Paths listed in RECORD, normalized, relative to site-packages (may start with ``../``)."""
    text = _read_text(record)
    seen: set[str] = set()
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error:
        return  # a RECORD that is not CSV: nothing can be said about this distribution's files
    for row in rows:
        if not row or not row[0]:
            continue
        path = posixpath.normpath(row[0].replace("\\", "/"))
        if path not in seen:
            seen.add(path)
            yield path


def _read_file(site: Path, path: str) -> NativeFile | None:
    if not may_be_native(path):
        return None
    full = site / path
    try:
        with FileSource(full) as source:
            if source.size < SNIFF_BYTES or sniff(source.read_at(0, SNIFF_BYTES)) is None:
                return None
            try:
                info, error = read_binary(source), None
            except BinaryFormatError as exc:
                info, error = None, str(exc)
            size = source.size
    except OSError:
        return None  # listed in RECORD but gone or unreadable: not this report's business
    return NativeFile(path=path, install_path=path, size=size, fingerprint=None, info=info, error=error)


def _read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(_MAX_TEXT)
    except OSError:
        return b""


def _read_text(path: Path) -> str:
    return _read_bytes(path).decode("utf-8", "replace")


def _read_email(path: Path) -> Headers:
    return parse_headers(_read_text(path))


def host_library_dirs() -> list[Path]:
    """The host's default library directories (Linux multiarch and classic layouts)."""
    if not sys.platform.startswith("linux"):
        return []
    candidates = [Path("/lib"), Path("/usr/lib"), Path("/lib64"), Path("/usr/lib64"), Path("/usr/local/lib")]
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch:
        candidates[2:2] = [Path("/lib") / multiarch, Path("/usr/lib") / multiarch]
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir:
        candidates.append(Path(libdir))
    return [c for c in dict.fromkeys(candidates) if c.is_dir()]


def host_ld_cache() -> list[CacheEntry]:
    """The host's ld.so cache entries; empty off Linux or when it cannot be read."""
    if not sys.platform.startswith("linux"):
        return []
    from native_doctor.errors import BinaryFormatError
    from native_doctor.sources.ldcache import read_ld_cache

    try:
        return read_ld_cache()
    except (BinaryFormatError, OSError):
        return []


def host_libraries(cache_entries: Sequence[CacheEntry] | None = None) -> dict[str, str]:
    """Library names the host's loader finds without help -> a directory: the ld.so cache (what
    ``/etc/ld.so.conf`` lists, for this machine's architecture), then the default directories.

    :param cache_entries: the ld.so cache when the caller already read it (default: read it).
    """
    found: dict[str, str] = {}
    if sys.platform.startswith("linux"):
        import platform

        from native_doctor.sources.ldcache import arch_for_machine

        native = arch_for_machine(platform.machine())
        entries = host_ld_cache() if cache_entries is None else cache_entries
        for entry in entries:
            if entry.arch in (native, None) and not entry.hwcaps:
                found.setdefault(entry.name, str(Path(entry.path).parent))
    for directory in host_library_dirs():
        try:
            names = [entry.name for entry in directory.iterdir()]
        except OSError:
            continue
        for name in names:
            if ".so" in name or name.endswith(".dylib"):
                found.setdefault(name, str(directory))
    return found
