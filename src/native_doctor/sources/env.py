"""Read an installed Python environment: every distribution in site-packages, through its RECORD."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import itertools
import os
import posixpath
import re
import stat
import sys
import sysconfig
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from native_doctor.binary import SNIFF_BYTES, BinaryFormat, read_binary, sniff
from native_doctor.errors import BinaryFormatError
from native_doctor.model import Artifact, ArtifactKind, NativeFile
from native_doctor.sources._dll_dirs import directories_of, dll_directories, is_hook_file
from native_doctor.sources._file import (
    FileSource,
    NotRegularFileError,
    open_regular,
    read_regular_status,
)
from native_doctor.sources._headers import Headers, parse_headers
from native_doctor.sources._members import REPAIR_MARKERS, may_be_native
from native_doctor.sources._parallel import balanced_groups, can_fork, share_items, share_order
from native_doctor.sources.envcache import EnvCache, binary_from_json, binary_to_json, file_key
from native_doctor.sources.envresult import Inputs, file_state, folder_mtime, state_key
from native_doctor.sources.ldcache import CacheEntry
from native_doctor.sources.loadnames import (
    MAX_SOURCE,
    LoadCall,
    calls_from_json,
    calls_to_json,
    scan_source,
    skipped_source,
)
from native_doctor.sources.runtime import top_level_modules
from native_doctor.sources.sites import (  # re-exported: where they always were
    INTERPRETER_FACTS,
    site_directories,
    site_packages,
    site_packages_of,
)

__all__ = [
    "INTERPRETER_FACTS",
    "DiskState",
    "Environment",
    "host_libraries",
    "host_library_candidates",
    "host_library_dirs",
    "read_environment",
    "site_directories",
    "site_packages",
    "site_packages_of",
]

#: Called with (distributions done, distributions total).
ProgressCallback = Callable[[int, int], None]
_MAX_TEXT = 16 << 20


@dataclass(frozen=True, slots=True)
class DiskState:
    """How one installed distribution's RECORD compares with the files on disk."""

    #: The distribution's name, version and ``.dist-info`` path.
    name: str
    version: str
    dist_info: str
    #: ``Requires-Dist`` lines of its METADATA.
    requires_dist: tuple[str, ...] = ()
    #: RECORD paths whose file is gone (compiled ``__pycache__`` files are not counted).
    missing: tuple[str, ...] = ()
    #: Native files whose size or digest differs from RECORD: (path, what differs).
    modified: tuple[tuple[str, str], ...] = ()
    #: RECORD paths that lead out of the examined tree (``../../etc/passwd``, ``/proc/self/mem``,
    #: a link to outside): never opened.
    outside: tuple[str, ...] = ()
    #: Files that exist but were not read: (path, why), e.g. a FIFO, a device, no permission.
    unreadable: tuple[tuple[str, str], ...] = ()
    #: Native files built for another operating system (pip's Windows launcher ``.exe`` files on
    #: Linux): counted apart, never examined as part of this host's process.
    foreign: tuple[str, ...] = ()
    #: RECORD digest (``sha256=...``) of each native file by path, for telling copies apart.
    digests: dict[str, str] = field(default_factory=dict)
    #: Whether RECORD lists extension modules (``*.cpython-*.so``, ``*.abi3.so``, ``*.pyd``).
    has_extensions: bool = False
    #: Libraries its Python code loads by a literal name (``ctypes.CDLL("libzbar.so.0")``).
    load_calls: tuple[LoadCall, ...] = ()
    #: Top-level import names its RECORD installs (``runtime.top_level_modules``).
    top_levels: tuple[str, ...] = ()


class Environment:
    """The distributions installed in one site-packages directory."""

    __slots__ = ("distributions", "site_packages", "states", "unreadable")

    def __init__(
        self,
        site_packages: Path,
        distributions: tuple[Artifact, ...],
        states: tuple[DiskState, ...] = (),
        unreadable: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.site_packages = site_packages
        self.distributions = distributions
        #: One per distribution in ``distributions`` read through a RECORD (same order).
        self.states = states
        #: ``.dist-info`` directories that could not be read: (path, why).
        self.unreadable = unreadable


def read_environment(
    directory: Path,
    *,
    progress: ProgressCallback | None = None,
    cache: EnvCache | None = None,
    jobs: int = 1,
    meanwhile: Callable[[], None] | None = None,
) -> Environment:
    """Read every ``*.dist-info`` distribution in ``directory``; unreadable ones are skipped.

    :param cache: per-file results of an earlier run (parsed binaries, digests), reused while a
        file's path, size, modification time and inode are unchanged.
    :param jobs: processes that read distributions at once (Linux: forked children, see
        :mod:`native_doctor.sources._parallel`); the result is the same for any number.
    :param meanwhile: called once in this process before it reads (while the children read).
    """
    dist_infos = sorted(p for p in directory.glob("*.dist-info") if p.is_dir())
    root = tree_root(directory)
    listings: _Listings = {}  # each folder listed once, for every distribution and the last walk
    shares = _shares(dist_infos, jobs, cache)
    walked: dict[str, _Listing] = {}  # listings for the last walk
    if shares is not None:
        found = _read_shared(
            directory, dist_infos, shares, root, cache, listings, progress, walked, meanwhile
        )
    else:
        if meanwhile is not None:
            meanwhile()
        found = []
        for done, dist_info in enumerate(dist_infos, 1):
            found.append(_read_distribution(directory, dist_info, root, cache, listings))
            if progress is not None:
                progress(done, len(dist_infos))
    distributions: list[Artifact] = []
    states: list[DiskState] = []
    unreadable: list[tuple[str, str]] = []
    for dist_info, result in zip(dist_infos, found, strict=True):
        if isinstance(result, str):
            unreadable.append((str(dist_info), result))
        else:
            distributions.append(result[0])
            states.append(result[1])
    walked.update(listings)
    unowned = _unowned(directory, distributions, cache, walked)
    if unowned is not None:
        distributions.append(unowned)
    return Environment(directory, tuple(distributions), tuple(states), tuple(unreadable))


_Found = tuple[Artifact, DiskState] | str
_V = TypeVar("_V")


def _shares(dist_infos: Sequence[Path], jobs: int, cache: EnvCache | None) -> list[list[int]] | None:
    """The distributions in ``jobs - 1`` shares of about equal work (RECORD's size: torch's is
    half of a large environment's), each in :func:`share_order`, or None when the read stays
    serial."""
    if jobs <= 1 or len(dist_infos) <= 1 or not can_fork() or (cache is not None and cache.position()):
        return None
    weights = []
    for dist_info in dist_infos:
        try:
            weights.append(os.stat(os.path.join(dist_info, "RECORD")).st_size)  # noqa: PTH116, PTH118
        except OSError:
            weights.append(0)
    return [share_order(share, weights) for share in balanced_groups(weights, jobs - 1)]


@dataclass(slots=True)
class _DistRead:
    """What reading one distribution found, and what it recorded on the way (scan-cache entries
    used, folders and files the kept report depends on), so the parent can replay it in the
    order a serial read would have."""

    #: The process that read it, and which distribution.
    pid: int
    index: int
    found: _Found
    #: The scan-cache entries it used (in first-use order).
    used: dict[str, dict[str, Any]]
    hits: int
    misses: int
    #: The folders and files it added to the kept report's inputs.
    folders: list[tuple[str, int]]
    files: list[tuple[str, str]]
    #: A child's folder listings made for it, split as the walk for unowned files needs them.
    listings: dict[str, _Split]


def _read_shared(
    site: Path,
    dist_infos: Sequence[Path],
    shares: list[list[int]],
    root: Path,
    cache: EnvCache | None,
    listings: _Listings,
    progress: ProgressCallback | None,
    walked: dict[str, _Listing],
    meanwhile: Callable[[], None] | None = None,
) -> list[_Found]:
    """Read the distributions with forked children (one per share, heaviest first) and this
    process (after ``meanwhile``, lightest first) until every one is read
    (:func:`~native_doctor.sources._parallel.share_items`), and merge what each read and recorded
    in the original order: the same result as reading them in turn. Each distribution records
    on its own (as in a child), whichever process reads it, so the order they are read in does
    not matter."""
    parent = os.getpid()
    inputs = cache.inputs if cache is not None and cache.enabled else None
    start = cache.position() if cache is not None else 0
    order = [index for share in shares for index in share]
    done = [0]

    def read_one(number: int) -> _DistRead:
        index = order[number]
        hits, misses = (cache.hits, cache.misses) if cache is not None else (0, 0)
        before = cache.apart() if cache is not None else {}
        recorded = (inputs.folders, inputs.files) if inputs is not None else ({}, {})
        if inputs is not None:
            inputs.folders, inputs.files = {}, {}
        listed = len(listings)
        try:
            found = _read_distribution(site, dist_infos[index], root, cache, listings)
        finally:
            used = cache.rejoin(before) if cache is not None else {}
            folders, files = (
                ([], []) if inputs is None else (list(inputs.folders.items()), list(inputs.files.items()))
            )
            if inputs is not None:
                inputs.folders, inputs.files = recorded
        read = _DistRead(os.getpid(), index, found, used, 0, 0, folders, files, {})
        if cache is not None:
            read.hits, read.misses = cache.hits - hits, cache.misses - misses
        if os.getpid() != parent:
            read.listings = {
                folder: _split(entries) for folder, entries in _last(listings, len(listings) - listed)
            }
        elif progress is not None:
            done[0] += 1
            progress(done[0], len(dist_infos))
        return read

    def valid(number: int, read: object) -> bool:
        return (
            isinstance(read, _DistRead)
            and read.index == order[number]
            and (isinstance(read.found, str) or _is_read(read.found))
        )

    reads = share_items(
        read_one,
        len(order),
        valid,
        children=len(shares),
        sizes=[len(share) for share in shares],
        preload=_preload,
        meanwhile=meanwhile,
    )
    for read in reads:
        for folder, split in read.listings.items():
            walked.setdefault(folder, split)
    serial = sorted(reads, key=lambda read: read.index)
    if cache is not None:
        children = [read for read in reads if read.pid != parent]  # the others counted here already
        cache.replay(
            start,
            [read.used for read in serial],
            sum(r.hits for r in children),
            sum(r.misses for r in children),
        )
    if inputs is not None:
        for read in serial:
            for path, mtime in read.folders:
                inputs.folders.setdefault(path, mtime)
            for path, key in read.files:
                inputs.files.setdefault(path, key)
    if progress is not None:
        progress(len(dist_infos), len(dist_infos))
    return [read.found for read in serial]


def _last(items: dict[str, _V], count: int) -> list[tuple[str, _V]]:
    """The last ``count`` items of ``items``, in order (without walking the ones before)."""
    return list(itertools.islice(reversed(items.items()), max(count, 0)))[::-1]


def _is_read(found: object) -> bool:
    return (
        isinstance(found, tuple)
        and len(found) == 2
        and isinstance(found[0], Artifact)
        and isinstance(found[1], DiskState)
    )


#: A folder's entries as the walk for unowned files needs them: the names of its folders (links
#: to folders included), of its other entries that may be libraries (:func:`_may_be_library`:
#: the only ones that walk looks at), and of its folders that are links, each in listing order. A
#: child sends this (plain strings pickle and unpickle fast) rather than one object per entry.
_Split = tuple[list[str], list[str], list[str]]


def _may_be_library(name: str) -> bool:
    """Whether a file named ``name`` may be a native library (the walk for unowned files reads
    only those)."""
    return name.endswith((".so", ".pyd", ".dylib", ".dll")) or ".so." in name


def _split(listing: Mapping[str, os.DirEntry[str]], keep: Callable[[str], bool] = _may_be_library) -> _Split:
    """``listing`` split into folders (links followed), the other entries ``keep`` keeps (those
    that may be libraries) and links to folders."""
    dirs: list[str] = []
    files: list[str] = []
    links: list[str] = []
    for name, entry in listing.items():
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            dirs.append(name)
            if entry.is_symlink():
                links.append(name)
        elif keep(name):
            files.append(name)
    return dirs, files, links


def _preload() -> None:
    """What reading distributions imports on first use, imported before forking while another
    thread runs (a progress display): a module being imported by another thread when the
    process forks could never be imported in the child. With no other thread nothing can hold
    an import lock at the fork, and each process imports the readers of the formats it meets
    (this one is spared ~6 ms of importing the Mach-O and PE readers before the children start)."""
    threading = sys.modules.get("threading")
    if threading is None or threading.active_count() <= 1:
        return
    import codecs

    from native_doctor.binary import elf, macho, pe  # noqa: F401 - read_binary imports them lazily

    codecs.lookup("utf-16-le")


#: Directory names of a site directory below its installation prefix:
#: ``lib/python3.12/site-packages``, ``lib/python3/dist-packages``, ``Lib/site-packages``.
_SITE_NAMES = ("site-packages", "dist-packages")


def tree_root(site: Path) -> Path:
    """The installation prefix ``site`` belongs to (RECORD paths may reach ``bin/`` there), or
    ``site`` itself when it is not laid out under a prefix."""
    absolute = Path.cwd() / site
    parts = absolute.parts
    if (
        len(parts) >= 4
        and parts[-1] in _SITE_NAMES
        and parts[-2].startswith("python")
        and parts[-3].lower() in ("lib", "lib64", "lib32", "libx32")
    ):
        return absolute.parents[2]
    if len(parts) >= 3 and parts[-1] in _SITE_NAMES and parts[-2].lower() == "lib":
        return absolute.parents[1]
    return absolute


#: Folder -> its directory entries by name, in the order the folder lists them.
_Listings = dict[str, dict[str, os.DirEntry[str]]]


#: A folder's listing: its directory entries by name (listed here), or a child's :data:`_Split`.
_Listing = Mapping[str, os.DirEntry[str]] | _Split


def _walk(top: str, listings: Mapping[str, _Listing]) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk(top)`` (top-down, folders that cannot be listed skipped, links to folders not
    followed), taking each folder's entries from ``listings`` when it was listed already."""
    stack = [top]
    while stack:
        folder = stack.pop()
        listing = listings.get(folder)
        if listing is None:
            try:
                with os.scandir(folder) as entries:
                    listing = {entry.name: entry for entry in entries}
            except OSError:
                continue
        # A child's listing is split already (its files: those that may be libraries).
        split = listing if isinstance(listing, tuple) else _split(listing, keep=_every_name)
        folders, links = list(split[0]), split[2]
        yield folder, folders, list(split[1])  # the caller may prune ``folders`` in place
        for name in reversed(folders):
            if name not in links:
                stack.append(os.path.join(folder, name))  # noqa: PTH118 - strings


def _every_name(name: str) -> bool:
    """Keeps every file of a listing this process made (the walk yields them all, as os.walk)."""
    return True


#: The name given to native files no installed distribution's RECORD lists (``.egg-info``
#: installs, files copied by hand, leftovers of an uninstall).
UNOWNED = "(files in no RECORD)"
_SKIP_DIRS = ("__pycache__",)


def _unowned(
    site: Path,
    distributions: Sequence[Artifact],
    cache: EnvCache | None = None,
    listings: Mapping[str, _Listing] | None = None,
) -> Artifact | None:
    """Native files under ``site`` that no RECORD of ``distributions`` lists, as one
    pseudo-distribution (or None).

    With a cache, the walk is skipped while no folder under ``site`` changed (a file added or
    removed changes its folder's modification time) and the same RECORDs are unchanged.
    ``listings``: the folders the RECORD walks listed already (not listed again).
    """
    top = os.path.normpath(Path.cwd() / site)  # as the RECORD walks name folders
    key = None
    native: list[NativeFile] | None = None
    if cache is not None and cache.enabled:
        key = f"unowned\0{os.path.realpath(top)}\0{_records_digest(distributions)}"
        entry = cache.get(key)
        native = _unowned_from_json(entry)
        if native is None and entry is not None:
            cache.outdated()
        if native is not None and entry is not None and cache.inputs is not None:
            cache.inputs.add_folders(entry["folders"])
    if native is None:
        native = []
        owned = set().union(*(d.files for d in distributions))
        folders: dict[str, int] = {}
        # What a cached result depends on: the modification times the run took already (for the
        # kept report, as the RECORD walks listed the folders), the others taken here.
        known = cache.inputs.folders if cache is not None and cache.inputs is not None else {}
        for root, dirs, files in _walk(top, {} if listings is None else listings):
            if key is not None:
                mtime = known.get(root)
                folders[root] = _folder_mtime(root) if mtime is None else mtime
            dirs[:] = [d for d in dirs if not d.endswith((".dist-info", ".egg-info")) and d not in _SKIP_DIRS]
            relative_root = root[len(top) :].strip(os.sep).replace(os.sep, "/")
            for name in files:
                if not _may_be_library(name):
                    continue  # tested first: most files are no library, and need no path built
                path = f"{relative_root}/{name}" if relative_root else name
                if path not in owned:
                    found = _read_file(site, path)
                    if found is not None:
                        native.append(found)
        if key is not None and cache is not None:
            listed = [{**(_native_to_json(n) or {}), "path": n.path} for n in native]
            cache.put(key, folders=folders, native=listed)
            if cache.inputs is not None:
                cache.inputs.add_folders(folders)
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


def _records_digest(distributions: Sequence[Artifact]) -> str:
    """What decides the files the RECORDs of ``distributions`` list: each one's RECORD, by path
    and state (a RECORD rewritten, a distribution installed or removed changes it)."""
    states: list[str] = []
    for dist in distributions:
        record = os.path.join(dist.path, "RECORD")  # noqa: PTH118 - strings
        try:
            states.append(state_key(record, file_state(os.stat(record))))  # noqa: PTH116
        except OSError:
            states.append(record)  # none: it lists no file
    return hashlib.sha256("\n".join(states).encode("utf-8", "surrogateescape")).hexdigest()


def _unowned_from_json(entry: dict[str, object] | None) -> list[NativeFile] | None:
    if entry is None:
        return None
    try:
        folders, listed = entry["folders"], entry["native"]
        if not isinstance(folders, dict) or not isinstance(listed, list):
            return None
        if any(_folder_mtime(f) != m for f, m in folders.items()):
            return None
        native = []
        for item in listed:
            usable, found = _native_from_json(item, str(item["path"]))
            if not usable or found is None:
                return None
            native.append(found)
    except (KeyError, TypeError, ValueError):
        return None
    return native


def _read_distribution(
    site: Path, dist_info: Path, root: Path, cache: EnvCache | None = None, listings: _Listings | None = None
) -> tuple[Artifact, DiskState] | str:
    """The distribution and its disk state, or why its metadata cannot be read.

    With a cache, a distribution whose RECORD and METADATA, every folder its files live in (a
    file added or removed changes its folder's modification time) and every native file are
    unchanged is taken from the cache whole.
    """
    inputs = cache.inputs if cache is not None and cache.enabled else None
    if inputs is not None:
        _record_dist_info(inputs, dist_info)
    key = _distribution_key(dist_info) if cache is not None and cache.enabled else None
    if key is not None and cache is not None:
        entry = cache.get(key)
        if entry is not None:
            found = _distribution_from_json(entry)
            if found is not None:
                if inputs is not None:
                    inputs.add_folders(entry["folders"])
                    inputs.add_files(entry["natives"])
                    inputs.add_files(entry["sources"])
                return found
            cache.outdated()
    earlier = _Earlier.of(cache.earlier(key)) if key is not None and cache is not None else None
    result = _read_distribution_files(site, dist_info, root, cache, listings, earlier)
    if key is not None and cache is not None and not isinstance(result, str):
        artifact, state, walk = result
        entry = _distribution_to_json(artifact, state, walk)
        cache.put_final(key, entry)  # encoded here: by the child that read it, in parallel
        if inputs is not None:
            inputs.add_folders(entry["folders"])  # type: ignore[arg-type]
            inputs.add_files(walk.native_states)
            inputs.add_files(walk.source_states)
    return result if isinstance(result, str) else result[:2]


def _record_dist_info(inputs: Inputs, dist_info: Path) -> None:
    """The whole-result cache depends on the ``.dist-info`` folder's listing and metadata files."""
    folder = os.fspath(dist_info)
    inputs.folder(folder)
    inputs.folder(os.path.join(folder, "sboms"))  # noqa: PTH118 - a repair marker lives there
    for name in ("RECORD", "METADATA", "WHEEL", "INSTALLER"):
        inputs.file(os.path.join(folder, name))  # noqa: PTH118


def _distribution_key(dist_info: Path) -> str | None:
    try:
        record, metadata = (dist_info / "RECORD").stat(), (dist_info / "METADATA").stat()
    except OSError:
        return None
    return "dist\0" + file_key(str(dist_info / "RECORD"), record) + "\0" + file_key("METADATA", metadata)


_folder_mtime = folder_mtime


def _distribution_to_json(artifact: Artifact, state: DiskState, walk: _Walk) -> dict[str, object]:
    return {
        "folders": {f: _folder_mtime(f) for f in [*walk.listed, os.fspath(artifact.path)]},
        "natives": walk.native_states,
        "sources": walk.source_states,
        "artifact": {
            "path": artifact.path,
            "name": artifact.name,
            "version": artifact.version,
            "claimed_tags": list(artifact.claimed_tags),
            "files": list(artifact.files),
            "native": [
                {**(walk.native_json.get(id(n)) or _native_to_json(n) or {}), "path": n.path}
                for n in artifact.native
            ],
            "requires_dist": list(artifact.requires_dist),
            "root_is_purelib": artifact.root_is_purelib,
            "installer": artifact.installer,
            "markers": list(artifact.markers),
            "dll_directories": list(artifact.dll_directories),
        },
        "state": {
            "missing": list(state.missing),
            "modified": [list(m) for m in state.modified],
            "outside": list(state.outside),
            "unreadable": [list(u) for u in state.unreadable],
            "foreign": list(state.foreign),
            "digests": state.digests,
            "has_extensions": state.has_extensions,
            "load_calls": calls_to_json(state.load_calls),
            "top_levels": list(state.top_levels),
        },
    }


def _distribution_from_json(entry: dict[str, object]) -> tuple[Artifact, DiskState] | None:
    """The cached distribution, if the folders and native files it was read from are unchanged
    and the entry is well-formed; None otherwise (it is then read again)."""
    try:
        folders, natives, sources = entry["folders"], entry["natives"], entry["sources"]
        data, saved = entry["artifact"], entry["state"]
        if not (isinstance(folders, dict) and isinstance(natives, dict) and isinstance(sources, dict)):
            return None
        if not (isinstance(data, dict) and isinstance(saved, dict)):
            return None
        if any(_folder_mtime(f) != m for f, m in folders.items()):
            return None
        for full, state in itertools.chain(natives.items(), sources.items()):
            # A Python file edited in place changes no folder: its own state is checked too.
            if file_state(os.stat(full)) != state:  # noqa: PTH116
                return None
        native: list[NativeFile] = []
        for item in data["native"]:
            usable, found = _native_from_json(item, str(item["path"]))
            if not usable or found is None:
                return None
            native.append(found)
        files = tuple(str(f) for f in data["files"])
        requires = tuple(str(r) for r in data["requires_dist"])
        artifact = Artifact(
            kind=ArtifactKind.DISTRIBUTION,
            path=str(data["path"]),
            name=str(data["name"]),
            version=str(data["version"]),
            claimed_tags=tuple(str(t) for t in data["claimed_tags"]),
            files=files,
            native=tuple(native),
            requires_dist=requires,
            root_is_purelib=data["root_is_purelib"] if isinstance(data["root_is_purelib"], bool) else None,
            size=sum(n.size for n in native),
            installer=data["installer"] if isinstance(data["installer"], str) else None,
            markers=tuple(str(m) for m in data["markers"]),
            dll_directories=tuple(str(d) for d in data["dll_directories"]),
        )
        state = DiskState(
            name=artifact.name,
            version=artifact.version,
            dist_info=artifact.path,
            requires_dist=requires,
            missing=tuple(str(m) for m in saved["missing"]),
            modified=tuple((str(a), str(b)) for a, b in saved["modified"]),
            outside=tuple(str(o) for o in saved["outside"]),
            unreadable=tuple((str(a), str(b)) for a, b in saved["unreadable"]),
            foreign=tuple(str(f) for f in saved["foreign"]),
            digests={str(k): str(v) for k, v in saved["digests"].items()},
            has_extensions=bool(saved["has_extensions"]),
            load_calls=tuple(
                c for item in saved["load_calls"] for c in calls_from_json([item], str(item["file"]))
            ),
            top_levels=tuple(str(t) for t in saved["top_levels"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError, OSError):
        return None
    return artifact, state


class _Earlier:
    """What the scan cache holds of an earlier state of a distribution whose entry no longer
    holds (RECORD rewritten, a file added to one of its folders, a file edited): the native files
    it read and the Python files it screened, each with its state and what was found in it (the
    binary, the loader calls), so that the unchanged ones are not read again."""

    __slots__ = ("_calls", "_natives", "_states")

    def __init__(
        self,
        states: Mapping[str, object],
        calls: Mapping[str, list[object]],
        natives: Mapping[str, dict[str, object]] | None = None,
    ) -> None:
        self._states = states
        self._calls = calls
        self._natives = {} if natives is None else natives

    @classmethod
    def of(cls, entry: Mapping[str, Any] | None) -> _Earlier | None:
        """The earlier state in the distribution entry ``entry`` (None: none, or not well-formed)."""
        if entry is None:
            return None
        sources, natives, saved, data = (entry.get(k) for k in ("sources", "natives", "state", "artifact"))
        items = saved.get("load_calls") if isinstance(saved, dict) else None
        listed = data.get("native") if isinstance(data, dict) else None
        if not (isinstance(sources, dict) and isinstance(natives, dict)):
            return None
        if not (isinstance(items, list) and isinstance(listed, list)):
            return None
        calls: dict[str, list[object]] = {}
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("file"), str):
                return None
            calls.setdefault(item["file"], []).append(item)
        native = {
            item["path"]: item
            for item in listed
            if isinstance(item, dict) and isinstance(item.get("path"), str)
        }
        return cls({**sources, **natives}, calls, native)

    def native(self, full: str, path: str, state: str) -> dict[str, object] | None:
        """What the native file at ``full`` (RECORD path ``path``) was read as when it was in
        ``state`` (scan-cache form); None when it was not, or was no native file for this OS."""
        return self._natives.get(path) if self._states.get(full) == state else None

    def calls(self, full: str, path: str, state: str) -> list[LoadCall] | None:
        """The loader calls found in the Python file at ``full`` (RECORD path ``path``) when it
        was in ``state``; None when it was not (changed, new) or the entry is not well-formed."""
        if self._states.get(full) != state:
            return None
        try:
            return list(calls_from_json(self._calls.get(path, []), path))
        except (ValueError, KeyError, TypeError):
            return None


def _read_distribution_files(
    site: Path,
    dist_info: Path,
    root: Path,
    cache: EnvCache | None = None,
    listings: _Listings | None = None,
    earlier: _Earlier | None = None,
) -> tuple[Artifact, DiskState, _Walk] | str:
    """:func:`_read_distribution` without the distribution-level cache (``earlier``: what the
    scan cache holds of an earlier state of the same distribution)."""
    try:
        metadata = parse_headers(_read_text_strict(dist_info / "METADATA"))
    except OSError as exc:
        return f"METADATA cannot be read: {_reason(exc)}"
    name, version = metadata.get("Name"), metadata.get("Version")
    if not name or not version:
        return "METADATA names no Name or Version"
    try:
        record_text = _read_text_strict(dist_info / "RECORD")
    except FileNotFoundError:
        record_text = ""
    except OSError as exc:
        return f"RECORD cannot be read: {_reason(exc)}"
    rows = list(_record_rows(record_text))
    files = [path for path, _digest, _size in rows]
    installer = _read_text(dist_info / "INSTALLER").strip() or None
    # A RECORD speaks for the files only when a Python installer wrote it: distribution packagers
    # (Debian's dh_python, no INSTALLER file) move scripts and strip binaries without updating it.
    try:
        record_mtime: int | None = (dist_info / "RECORD").stat().st_mtime_ns
    except OSError:
        record_mtime = None
    # A disabled cache (``--no-cache``) is no cache to the walk: no key made, nothing encoded.
    walk_cache = cache if cache is not None and cache.enabled else None
    walk = _Walk(
        site,
        root,
        verify=installer is not None,
        cache=walk_cache,
        record_mtime=record_mtime,
        listings=listings,
        earlier=earlier,
    )
    native: list[NativeFile] = []
    foreign: list[str] = []
    for path, digest, size in rows:
        found = walk.visit(path, digest, size)
        if found is None:
            continue
        if found.info is not None and not _for_this_os(found.info.format):
            foreign.append(path)
        else:
            native.append(found)
    hooks = [
        (p, walk.hook_texts[p] if p in walk.hook_texts else _read_bytes(site / p))
        for p in files
        if is_hook_file(p) and walk.inside(p)
    ]
    wheel = _read_email(dist_info / "WHEEL")
    purelib = wheel.get("Root-Is-Purelib")
    requires = tuple(metadata.get_all("Requires-Dist"))
    artifact = Artifact(
        kind=ArtifactKind.DISTRIBUTION,
        path=str(dist_info),
        name=name,
        version=version,
        claimed_tags=tuple(sorted(wheel.get_all("Tag"))),
        files=tuple(files),
        native=tuple(native),
        requires_dist=requires,
        root_is_purelib=None if purelib is None else purelib.strip().lower() == "true",
        size=sum(n.size for n in native),
        installer=installer,
        markers=tuple(m for m in REPAIR_MARKERS if (dist_info / m).exists()),
        dll_directories=dll_directories(hooks, directories_of(files)),
    )
    state = DiskState(
        name=name,
        version=version,
        dist_info=str(dist_info),
        requires_dist=requires,
        missing=tuple(walk.missing),
        modified=tuple(walk.modified),
        outside=tuple(walk.outside),
        unreadable=tuple(walk.unreadable),
        foreign=tuple(foreign),
        digests=walk.digests,
        has_extensions=any(_EXTENSION_NAME.search(path) for path in files),
        load_calls=tuple(walk.load_calls),
        top_levels=top_level_modules(files),
    )
    return artifact, state, walk


_EXTENSION_NAME = re.compile(r"\.(?:cpython-[^/]*|abi3|pypy[^/]*)\.(?:so|pyd)$|\.pyd$", re.IGNORECASE)


def _for_this_os(fmt: BinaryFormat) -> bool:
    """Whether this host's loader loads files of ``fmt`` (ELF on Linux, Mach-O on macOS, PE on Windows)."""
    if sys.platform.startswith("win") or sys.platform == "cygwin":
        return fmt is BinaryFormat.PE
    if sys.platform == "darwin":
        return fmt is BinaryFormat.MACHO
    return fmt is BinaryFormat.ELF


def _reason(exc: OSError) -> str:
    if isinstance(exc, NotRegularFileError):
        return str(exc).rpartition(": ")[2] if ": " in str(exc) else str(exc)
    return exc.strerror or type(exc).__name__


class _Walk:
    """Visits one distribution's RECORD paths: stays inside the tree, notes what is gone,
    unreadable or modified, and reads the native files."""

    def __init__(
        self,
        site: Path,
        root: Path,
        *,
        verify: bool = True,
        cache: EnvCache | None = None,
        record_mtime: int | None = None,
        listings: _Listings | None = None,
        earlier: _Earlier | None = None,
    ) -> None:
        self.site = os.path.normpath(Path.cwd() / site)
        self._prefix = self.site.rstrip(os.sep) + os.sep  # + a relative path: os.path.join's result
        #: RECORD's modification time (ns): files not newer are taken as installed (not hashed).
        self.record_mtime = record_mtime
        self.verify = verify
        self.cache = cache
        self.earlier = earlier
        self.root = str(root).rstrip(os.sep) + os.sep
        self.real_root = os.path.realpath(root).rstrip(os.sep) + os.sep
        self.missing: list[str] = []
        self.modified: list[tuple[str, str]] = []
        self.outside: list[str] = []
        self.unreadable: list[tuple[str, str]] = []
        self.digests: dict[str, str] = {}
        #: Folder -> its entries by name: one listing per folder (shared with other walks).
        self._listings: _Listings = {} if listings is None else listings
        self._listed: dict[str, None] = {}  # the folders this walk looked into, in order
        self.load_calls: list[LoadCall] = []
        #: Full path -> :func:`file_state` of each native file read (what a cached result
        #: depends on).
        self.native_states: dict[str, str] = {}
        #: Full path -> :func:`file_state` of each Python file read (screened for loader calls,
        #: or a DLL hook): edited in place, it changes no folder's modification time (with a
        #: cache only).
        self.source_states: dict[str, str] = {}
        #: Whole contents of the DLL-hook files the source scan read (not read a second time).
        self.hook_texts: dict[str, bytes] = {}
        #: id of each native file read or taken from the earlier state -> its scan-cache form
        #: (for the distribution's entry: made once).
        self.native_json: dict[int, dict[str, object]] = {}

    @property
    def listed(self) -> list[str]:
        """The folders listed (a cached result holds while their modification times do)."""
        return list(self._listed)

    def inside(self, path: str) -> bool:
        if not path.startswith(("../", "/")) and path != "..":
            return True  # RECORD paths are normalized: no ``..`` further in
        full = os.path.normpath(os.path.join(self.site, path))  # noqa: PTH118 - strings
        return (full + os.sep).startswith(self.root)

    def _entry(self, full: str) -> os.DirEntry[str] | None:
        """The directory entry of ``full`` from one listing of its folder (no stat per file).

        :raises OSError: the folder exists but cannot be listed.
        """
        folder, _, name = full.rpartition(os.sep)
        listing = self._listings.get(folder)
        if listing is None:
            try:
                with os.scandir(folder) as entries:
                    listing = {e.name: e for e in entries}
            except (FileNotFoundError, NotADirectoryError):
                listing = {}
            self._listings[folder] = listing
        self._listed[folder] = None
        return listing.get(name)

    def visit(self, path: str, digest: str, size: str) -> NativeFile | None:
        """The native file at ``path`` (None when it is not one, or cannot be read)."""
        if not self.inside(path):
            self.outside.append(path)
            return None
        full = path if path.startswith(os.sep) else self._prefix + path
        try:
            entry = self._entry(full)
        except OSError as exc:
            self.unreadable.append((path, _reason(exc)))
            return None
        if entry is None:
            if self.verify and "__pycache__/" not in path and not path.endswith(".pyc"):
                self.missing.append(path)
            return None
        if entry.is_symlink():
            target = os.path.realpath(full)
            if not (target + os.sep).startswith(self.real_root) and not (target + os.sep).startswith(
                self.root
            ):
                self.outside.append(f"{path} -> {target}")
                return None
        elif entry.is_dir(follow_symlinks=False) or (
            entry.is_file(follow_symlinks=False) and not may_be_native(path)
        ):
            if path.endswith(".py"):
                if not skipped_source(path):
                    self._scan_source(full, path, entry)
                elif self.cache is not None and is_hook_file(path):
                    self._source_state(full, path, entry)
            return None  # a plain file that cannot be native: existence was all to check
        try:
            status = entry.stat()
        except FileNotFoundError:
            if self.verify:
                self.missing.append(path)  # a dangling link
            return None
        except OSError as exc:
            self.unreadable.append((path, _reason(exc)))
            return None
        if not stat.S_ISREG(status.st_mode):
            if not stat.S_ISDIR(status.st_mode):
                self.unreadable.append((path, _kind_of(status.st_mode)))
            return None
        if not may_be_native(path):
            return None
        state = self.native_states[full] = file_state(status)
        try:
            found = self._native(full, path, state)
        except OSError as exc:
            self.unreadable.append((path, _reason(exc)))
            return None
        if found is not None:
            if digest:
                self.digests[path] = digest
            if self.verify:
                self._compare(full, path, state, found.size, digest, size, status.st_mtime_ns)
        return found

    def _scan_source(self, full: str, path: str, entry: os.DirEntry[str]) -> None:
        """Libraries the Python file loads by literal name (taken from the earlier state of the
        distribution the scan cache holds while the file is unchanged)."""
        try:
            if self.cache is not None and self.earlier is not None:
                state = self.source_states[full] = file_state(entry.stat())
                calls = self.earlier.calls(full, path, state)
                if calls is not None:
                    self.load_calls.extend(calls)
                    return
            text, status = read_regular_status(full, MAX_SOURCE + 1)
            if self.cache is not None:  # without one (``--no-cache``) the state is never used
                # The state of the file read (taken before reading it; no second ``stat``).
                self.source_states.setdefault(full, file_state(status))
        except OSError as exc:
            self.unreadable.append((path, _reason(exc)))
            return
        if len(text) <= MAX_SOURCE and is_hook_file(path):
            self.hook_texts[path] = text  # the whole file (a longer one is read again, whole)
        self.load_calls.extend(scan_source(text, path))

    def _source_state(self, full: str, path: str, entry: os.DirEntry[str]) -> None:
        try:
            self.source_states[full] = file_state(entry.stat())
        except OSError as exc:
            self.unreadable.append((path, _reason(exc)))

    def _native(self, full: str, path: str, state: str) -> NativeFile | None:
        """The native file at ``full`` (taken from the earlier state of the distribution the scan
        cache holds while the file is unchanged), None when it is no native binary."""
        data = self.earlier.native(full, path, state) if self.earlier is not None else None
        if data is not None:
            usable, cached = _native_from_json(data, path)
            if usable and cached is not None:
                self.native_json[id(cached)] = data
                return cached
        found = _read_native(Path(full), path)
        if self.cache is not None and found is not None:
            made = _native_to_json(found)
            if made is not None:
                self.native_json[id(found)] = made
        return found

    def _compare(
        self, full: str, path: str, state: str, actual: int, digest: str, size: str, mtime: int
    ) -> None:
        if size.isdigit() and int(size) != actual:
            self.modified.append((path, f"size is {actual:,} bytes, RECORD says {int(size):,}"))
            return
        algorithm, _, expected = digest.partition("=")
        if algorithm not in ("sha256", "sha384", "sha512") or not expected:
            return
        if self.record_mtime is not None and mtime <= self.record_mtime:
            # Installers write RECORD after every file: a file changed in place since is newer
            # than RECORD. Hashing only those keeps a 1 GB environment's scan from reading it all.
            return
        key = state_key(full, state)
        entry = self.cache.get(key) if self.cache is not None else None
        got = entry.get(algorithm) if entry is not None else None
        if not isinstance(got, str):
            try:
                got = file_digest(Path(full), algorithm)
            except OSError as exc:
                self.unreadable.append((path, _reason(exc)))
                return
            if self.cache is not None:
                self.cache.put(key, **{algorithm: got})
        if got != expected:
            self.modified.append((path, f"{algorithm} digest differs from RECORD"))


def _native_to_json(native: NativeFile | None) -> dict[str, object] | None:
    if native is None:
        return None
    info = binary_to_json(native.info) if native.info is not None else None
    return {"size": native.size, "info": info, "error": native.error}


def _native_from_json(data: object, path: str) -> tuple[bool, NativeFile | None]:
    """(usable, the cached native file or None when the file is no native binary)."""
    if data is None:
        return True, None
    if not isinstance(data, dict) or not isinstance(data.get("size"), int):
        return False, None
    try:
        info = binary_from_json(data["info"]) if data.get("info") is not None else None
    except ValueError:
        return False, None
    error = data.get("error")
    return True, NativeFile(
        path=path,
        install_path=path,
        size=data["size"],
        fingerprint=None,
        info=info,
        error=error if isinstance(error, str) else None,
    )


def file_digest(path: Path, algorithm: str) -> str:
    """The digest of the file at ``path`` as RECORD writes it (urlsafe base64, no padding)."""
    with open_regular(path) as handle:
        digest = hashlib.file_digest(handle, algorithm).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not opened"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not opened"
    if stat.S_ISSOCK(mode):
        return "a socket, not opened"
    return "not a regular file, not opened"


def _record_rows(text: str) -> Iterator[tuple[str, str, str]]:
    """(path, digest, size) per RECORD line, path normalized relative to site-packages (may start
    with ``../`` or be absolute), first occurrence only."""
    seen: set[str] = set()
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error:
        return  # a RECORD that is not CSV: nothing can be said about this distribution's files
    for row in rows:
        if not row or not row[0]:
            continue
        path = row[0]
        if "\\" in path or "/." in path or "//" in path or path.startswith(".") or path.endswith("/"):
            path = posixpath.normpath(path.replace("\\", "/"))  # else already normal (most rows)
        if path not in seen:
            seen.add(path)
            yield path, row[1] if len(row) > 1 else "", row[2] if len(row) > 2 else ""


def _record_paths(record: Path) -> Iterator[str]:
    """Paths listed in RECORD, normalized, relative to site-packages (may start with ``../``)."""
    for path, _digest, _size in _record_rows(_read_text(record)):
        yield path


def _read_native(full: Path, path: str) -> NativeFile | None:
    """The native file at ``full`` (None when it is no ELF/Mach-O/PE file). Raises OSError."""
    with FileSource(full) as source:
        if source.size < SNIFF_BYTES or sniff(source.read_at(0, SNIFF_BYTES)) is None:
            return None
        try:
            info, error = read_binary(source), None
        except BinaryFormatError as exc:
            info, error = None, str(exc)
        size = source.size
    return NativeFile(path=path, install_path=path, size=size, fingerprint=None, info=info, error=error)


def _read_file(site: Path, path: str) -> NativeFile | None:
    if not may_be_native(path):
        return None
    try:
        return _read_native(site / path, path)
    except OSError:
        return None  # an unowned file that vanished or cannot be read: the walk is best effort


def _read_bytes(path: Path) -> bytes:
    try:
        return _read_bytes_strict(path)
    except OSError:
        return b""


def _read_bytes_strict(path: Path) -> bytes:
    """At most 16 MiB of a regular file. Raises OSError (NotRegularFileError for a FIFO, ...)."""
    with open_regular(path) as handle:
        return handle.read(_MAX_TEXT) or b""


def _read_text_strict(path: Path) -> str:
    return _read_bytes_strict(path).decode("utf-8", "replace")


def _read_text(path: Path) -> str:
    return _read_bytes(path).decode("utf-8", "replace")


def _read_email(path: Path) -> Headers:
    return parse_headers(_read_text(path))


def host_library_dirs() -> list[Path]:
    """The host's default library directories (Linux multiarch and classic layouts)."""
    return [c for c in host_library_candidates() if c.is_dir()]


def host_library_candidates() -> list[Path]:
    """The directories :func:`host_library_dirs` looks for, whether they exist or not."""
    if not sys.platform.startswith("linux"):
        return []
    candidates = [Path("/lib"), Path("/usr/lib"), Path("/lib64"), Path("/usr/lib64"), Path("/usr/local/lib")]
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch:
        candidates[2:2] = [Path("/lib") / multiarch, Path("/usr/lib") / multiarch]
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir:
        candidates.append(Path(libdir))
    return list(dict.fromkeys(candidates))


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
