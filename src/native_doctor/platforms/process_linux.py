"""Process-level simulation of glibc's dynamic loader: which file each library name becomes.

:mod:`native_doctor.platforms.loader` decides inside one artifact whether a wheel *can* work on a
clean machine. This module answers the environment question: in *this* installed environment,
when Python starts and then imports extension modules in a given order, which file does ld.so
map for each needed name, which names fail, and which symbol versions are missing?

It follows ld.so(8) and glibc's ``elf/dl-load.c`` / ``elf/dl-deps.c`` / ``elf/dl-version.c``:

* the loaded-object list is consulted first: a name equal to a loaded object's name, a name it
  was requested under, or its DT_SONAME gets that object ("first loaded wins"); a file found
  on disk that *is* a loaded object (same file identity) is reused too;
* names containing ``/`` are paths; other names are searched: DT_RPATH of the requesting object
  and of its loaders up to the executable (skipped when the requester has DT_RUNPATH), then
  LD_LIBRARY_PATH, then the requester's DT_RUNPATH, then the ld.so cache, then the default dirs;
* dependencies are mapped breadth first; a failing ``dlopen`` unloads what it mapped;
* after mapping, every ``.gnu.version_r`` need must be defined by the provider's verdef.

All I/O goes through :class:`FileSystem`, so tests may use a fake tree and the doctor the real
one (:class:`RealFileSystem`). Everything is bounded (objects, loader-chain depth, search dirs).
"""

from __future__ import annotations

import os
import platform
import posixpath
import re
import subprocess
import sysconfig
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from native_doctor.binary import read_binary
from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.errors import NativeDoctorError
from native_doctor.platforms.process_common import FileSystem
from native_doctor.sources._file import FileSource
from native_doctor.sources.ldcache import CacheEntry, arch_for_machine, read_ld_cache

__all__ = [
    "FileSystem",
    "LinuxLoaderConfig",
    "LoadResult",
    "LoadedObject",
    "Process",
    "ProcessReport",
    "RealFileSystem",
    "Resolution",
    "VersionFailure",
    "config_from_host",
    "expand_tokens",
    "loader_diagnostics",
    "simulate",
]

#: How many objects one process may hold before the simulation stops mapping more.
MAX_OBJECTS = 10_000
#: How far up the loader chain DT_RPATH is inherited (the chain is a tree, this only bounds cost).
MAX_CHAIN = 1_024
#: How many directories one search list may hold.
MAX_DIRS = 4_096

_EMPTY_CACHE: Mapping[str, str] = MappingProxyType({})
_DEFAULT_DIRS = (
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
)
#: ld.so's dynamic string tokens: ``$NAME`` (not followed by an identifier character) or ``${NAME}``.
_TOKEN = re.compile(r"\$(?:\{(ORIGIN|LIB|PLATFORM)\}|(ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_]))")
_NOT_FOUND = "cannot open shared object file: No such file or directory"


@dataclass(frozen=True, slots=True)
class LinuxLoaderConfig:
    """The process environment and host facts ld.so's search depends on."""

    #: LD_LIBRARY_PATH entries, in order (an empty entry is the working directory).
    ld_library_path: tuple[str, ...] = ()
    #: The ld.so cache for the process's architecture: library name -> path.
    cache: Mapping[str, str] = field(default_factory=lambda: _EMPTY_CACHE)
    #: The loader's built-in system directories, in order.
    default_dirs: tuple[str, ...] = _DEFAULT_DIRS
    #: What ``$PLATFORM`` expands to.
    platform: str = "x86_64"
    #: What ``$LIB`` expands to (Debian's ld.so says ``lib/x86_64-linux-gnu``).
    lib: str = "lib64"
    #: LD_PRELOAD entries, loaded after the executable and before its DT_NEEDED.
    preload: tuple[str, ...] = ()
    #: The working directory relative names and empty entries refer to; None: they find nothing.
    cwd: str | None = None
    #: Subdirectories tried in every search directory before the directory itself, best first
    #: (glibc >= 2.33: ``glibc-hwcaps/x86-64-v3`` ...).
    subdirs: tuple[str, ...] = ()
    #: The dynamic loader present when the executable names none in PT_INTERP (ld.so run
    #: directly, as ``ldd`` runs a library); it answers to its DT_SONAME like any loaded object.
    interpreter: str | None = None


@dataclass(frozen=True, slots=True)
class Resolution:
    """How one requested name was resolved (or not)."""

    name: str
    #: Path of the object that asked (DT_NEEDED of it, or the caller of dlopen); ``""`` for the
    #: executable itself.
    requested_by: str
    #: The loaded object's path as ld.so names it (not normalized); None when not found.
    path: str | None
    #: ``already loaded``, ``RPATH of <path>``, ``LD_LIBRARY_PATH``, ``RUNPATH``, ``ld.so cache``,
    #: ``default path``, ``path``, ``LD_PRELOAD``, ``executable``, ``interpreter``, ``not found``.
    how: str
    #: Directories tried, in order (filled when not found).
    searched: tuple[str, ...] = ()
    #: ld.so's message when this request failed (``libx.so.1: cannot open shared object file: ...``).
    error: str | None = None


@dataclass(frozen=True, slots=True)
class VersionFailure:
    """A symbol version an object needs that the loaded provider does not define."""

    version: str
    #: The needed file name as written in ``.gnu.version_r`` (``libstdc++.so.6``).
    library: str
    provider_path: str
    required_by: str

    @property
    def message(self) -> str:
        """ld.so's wording."""
        return f"{self.provider_path}: version `{self.version}' not found (required by {self.required_by})"


@dataclass(frozen=True, slots=True)
class LoadedObject:
    """One object in the process's loaded-object list."""

    #: The path ld.so opened it under (its ``l_name``; not normalized, symlinks kept).
    path: str
    soname: str | None
    info: BinaryInfo
    #: Path of the object whose request mapped it (its ``l_loader``); None for the executable.
    loaded_by: str | None
    how: str


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one :meth:`Process.load` did."""

    requested: str
    #: The object the request gave (None when the load failed and was undone).
    object: LoadedObject | None
    resolutions: tuple[Resolution, ...]
    version_failures: tuple[VersionFailure, ...]
    #: Objects this load mapped (kept only when it succeeded), in load order.
    new_objects: tuple[str, ...]
    #: The message ld.so / dlerror() gives for the first failure; None on success.
    error: str | None

    @property
    def ok(self) -> bool:
        """True when the load succeeded."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class ProcessReport:
    """The simulation of one process: the executable's start, then each extension in order."""

    executable: LoadResult
    extensions: tuple[LoadResult, ...]
    loaded: tuple[LoadedObject, ...]


@dataclass(slots=True)
class _Found:
    path: str
    how: str
    info: BinaryInfo


@dataclass(slots=True)
class _Search:
    """State of one name's search: directories tried and whether another ELF class was seen."""

    searched: list[str] = field(default_factory=list)
    other_class: int | None = None
    error: str | None = None


class Process:
    """The loaded-object list of one simulated process."""

    def __init__(self, fs: FileSystem, config: LinuxLoaderConfig) -> None:
        self.fs = fs
        self.config = config
        #: Loaded objects in load order, keyed by path.
        self.loaded: dict[str, LoadedObject] = {}
        self._names: dict[str, str] = {}  # every name an object answers to -> its path
        self._identity: dict[str, str] = {}  # realpath -> path
        self._binaries: dict[str, BinaryInfo | None] = {}
        self._executable: LoadedObject | None = None

    # --- public ----------------------------------------------------------------------------------

    def load(self, path: str) -> LoadResult:
        """Load ``path``: the executable on the first call, then extensions with dlopen semantics.

        The object and, breadth first, all its dependencies are mapped; then symbol versions are
        checked. A failing extension load is undone, as a failing dlopen() is.
        """
        if self._executable is None:
            return self._load_executable(path)
        return self._dlopen(path)

    # --- the two entry points ------------------------------------------------------------------------

    def _load_executable(self, path: str) -> LoadResult:
        info = self._binary(path) if self.fs.exists(path) else None
        if info is None:
            error = f"{path}: {_NOT_FOUND}" if not self.fs.exists(path) else f"{path}: invalid ELF header"
            return LoadResult(path, None, (), (), (), error)
        exe = self._add(path, info, None, "executable", (path,))
        self._executable = exe
        self._add_interpreter(info.interpreter or self.config.interpreter, exe)
        top = Resolution(path, "", path, "executable")
        return self._finish(path, exe, top, before=set(), undo=False)

    def _add_interpreter(self, path: str | None, exe: LoadedObject) -> None:
        """ld.so itself is on the list from the start, under its path and its DT_SONAME."""
        if path and self.fs.exists(path):
            info = self._binary(path)
            if info is not None:
                self._add(path, info, exe.path, "interpreter", (path,))

    def _dlopen(self, path: str) -> LoadResult:
        exe = self._executable
        assert exe is not None
        before = set(self.loaded)
        if path in self._names:
            obj = self.loaded[self._names[path]]
            top = Resolution(path, exe.path, obj.path, "already loaded")
            return LoadResult(path, obj, (top,), (), (), None)
        found, search = self._find(path, exe)
        if found is None:
            error = search.error or f"{path}: {_NOT_FOUND}"
            top = Resolution(path, exe.path, None, "not found", tuple(search.searched), error)
            return LoadResult(path, None, (top,), (), (), error)
        obj, how = self._map(path, found, exe)
        top = Resolution(path, exe.path, obj.path, how)
        return self._finish(path, obj, top, before=before, undo=True)

    def _finish(
        self, path: str, obj: LoadedObject, top: Resolution, *, before: set[str], undo: bool
    ) -> LoadResult:
        """Map ``obj``'s dependencies, check versions, undo a failed dlopen."""
        resolutions = [top]
        if top.how != "already loaded":
            resolutions += self._map_dependencies(obj)
        new = tuple(key for key in self.loaded if key not in before)
        failures = tuple(self._check_versions(new))
        error = next((r.error for r in resolutions if r.error), None)
        if error is None and failures:
            error = failures[0].message
        if error is not None and undo:
            self._unload(new)
            return LoadResult(path, None, tuple(resolutions), failures, (), error)
        return LoadResult(path, obj, tuple(resolutions), failures, new, error)

    # --- mapping -------------------------------------------------------------------------------------

    def _map_dependencies(self, root: LoadedObject) -> list[Resolution]:
        """Breadth first, as ``_dl_map_object_deps``: all DT_NEEDED of an object, then theirs."""
        resolutions: list[Resolution] = []
        queue = deque([root])
        while queue:
            obj = queue.popleft()
            for name, how in self._requests(obj):
                resolution, new = self._request(name, obj, how)
                resolutions.append(resolution)
                if new is not None:
                    queue.append(new)
        return resolutions

    def _requests(self, obj: LoadedObject) -> Iterator[tuple[str, str | None]]:
        """The names ``obj`` asks for; the executable asks for LD_PRELOAD entries first."""
        if obj.how == "executable":
            for name in self.config.preload:
                yield name, "LD_PRELOAD"
        for name in obj.info.needed:
            yield name, None

    def _request(
        self, name: str, requester: LoadedObject, label: str | None
    ) -> tuple[Resolution, LoadedObject | None]:
        """Resolve one name for ``requester``; returns the resolution and the newly mapped object."""
        if name in self._names:
            path = self._names[name]
            return Resolution(name, requester.path, path, "already loaded"), None
        if len(self.loaded) >= MAX_OBJECTS:
            error = f"{name}: not mapped (more than {MAX_OBJECTS} objects)"
            return Resolution(name, requester.path, None, "not found", (), error), None
        found, search = self._find(name, requester)
        if found is None:
            error = search.error or f"{name}: {_NOT_FOUND}"
            return Resolution(name, requester.path, None, "not found", tuple(search.searched), error), None
        if label is not None:
            found.how = label
        obj, how = self._map(name, found, requester)
        new = obj if how != "already loaded" else None
        return Resolution(name, requester.path, obj.path, how), new

    def _map(self, name: str, found: _Found, loader: LoadedObject) -> tuple[LoadedObject, str]:
        """Add ``found`` to the list, unless it is a loaded file under another name (same identity)."""
        real = self.fs.realpath(found.path)
        if real in self._identity:  # _dl_map_object_from_fd: same st_dev/st_ino -> that object
            obj = self.loaded[self._identity[real]]
            self._names.setdefault(name, obj.path)
            return obj, "already loaded"
        return self._add(found.path, found.info, loader.path, found.how, (name,)), found.how

    def _add(
        self, path: str, info: BinaryInfo, loader: str | None, how: str, names: Iterable[str]
    ) -> LoadedObject:
        obj = LoadedObject(path, info.soname, info, loader, how)
        self.loaded[path] = obj
        self._identity.setdefault(self.fs.realpath(path), path)
        for name in (path, *names, *([info.soname] if info.soname else [])):
            self._names.setdefault(name, path)
        return obj

    def _unload(self, keys: Iterable[str]) -> None:
        """Undo a failed dlopen: drop the objects it mapped and every name pointing at them."""
        gone = set(keys)
        for key in gone:
            del self.loaded[key]
        self._names = {n: p for n, p in self._names.items() if p not in gone}
        self._identity = {r: p for r, p in self._identity.items() if p not in gone}

    # --- searching -----------------------------------------------------------------------------------

    def _find(self, name: str, requester: LoadedObject) -> tuple[_Found | None, _Search]:
        """``_dl_map_object``'s search for one name not yet loaded."""
        search = _Search()
        if "/" in name:
            path = self._absolute(self._expand(name, requester))
            if path is None:
                return None, search
            found = self._try(path, "path", search)
            if found is None and search.error is None and search.other_class is not None:
                search.error = f"{path}: wrong ELF class: ELFCLASS{search.other_class}"
            return found, search
        for how, dirs in self._search_lists(requester):
            found = self._try_dirs(name, dirs, how, search)
            if found is not None or search.error is not None:
                return found, search
        if search.other_class is not None:
            search.error = f"{name}: wrong ELF class: ELFCLASS{search.other_class}"
        return None, search

    def _search_lists(self, requester: LoadedObject) -> Iterator[tuple[str, list[str]]]:
        """The directory lists ld.so tries, in order, as (how, directories)."""
        config = self.config
        if not requester.info.runpath:
            # "If both are present, DT_RPATH is ignored": a loader with RUNPATH contributes nothing.
            for owner in self._chain(requester):
                if owner.info.rpath and not owner.info.runpath:
                    yield f"RPATH of {owner.path}", self._dirs(owner.info.rpath, owner)
        exe = self._executable
        if config.ld_library_path and exe is not None:
            yield "LD_LIBRARY_PATH", self._dirs(config.ld_library_path, exe)
        if requester.info.runpath:  # DT_RUNPATH: the requester's own direct dependencies only
            yield "RUNPATH", self._dirs(requester.info.runpath, requester)
        yield "ld.so cache", []
        yield "default path", list(config.default_dirs)

    def _chain(self, obj: LoadedObject) -> Iterator[LoadedObject]:
        """``obj``, its loader, that one's loader ... up to the executable (which ends every chain)."""
        seen: set[str] = set()
        current: LoadedObject | None = obj
        while current is not None and current.path not in seen and len(seen) < MAX_CHAIN:
            seen.add(current.path)
            yield current
            current = self.loaded.get(current.loaded_by) if current.loaded_by else None
        exe = self._executable
        if exe is not None and exe.path not in seen:  # "try the DT_RPATH of the executable itself"
            yield exe

    def _try_dirs(self, name: str, dirs: list[str], how: str, search: _Search) -> _Found | None:
        if how == "ld.so cache":
            cached = self.config.cache.get(name)
            return self._try(cached, how, search) if cached else None
        for directory in dirs[:MAX_DIRS]:
            for candidate_dir in self._with_subdirs(directory):
                search.searched.append(candidate_dir)
                path = self._absolute(_join(candidate_dir, name))
                found = self._try(path, how, search) if path else None
                if found is not None or search.error is not None:
                    return found
        return None

    def _with_subdirs(self, directory: str) -> list[str]:
        return [_join(directory, sub) for sub in self.config.subdirs] + [directory]

    def _try(self, path: str, how: str, search: _Search) -> _Found | None:
        """``open_verify``: the file must exist, be ELF, and match the executable's class/machine."""
        if not self.fs.exists(path):
            return None
        info = self._binary(path)
        if info is None or info.format is not BinaryFormat.ELF:
            search.error = f"{path}: invalid ELF header"
            return None
        exe = self._executable
        if exe is not None and info.bits != exe.info.bits:
            search.other_class = info.bits  # "wrong ELF class": skipped, searching goes on
            return None
        if exe is not None and info.arch != exe.info.arch:
            return None  # another machine: skipped silently
        return _Found(path, how, info)

    def _dirs(self, entries: Iterable[str], owner: LoadedObject) -> list[str]:
        """Expand tokens of RPATH / RUNPATH / LD_LIBRARY_PATH entries; drop the unusable ones."""
        dirs: list[str] = []
        for entry in entries:
            expanded = self._expand(entry or ".", owner)
            if expanded is not None:
                dirs.append(expanded.rstrip("/") or "/")
        return dirs

    def _expand(self, text: str, owner: LoadedObject) -> str | None:
        config = self.config
        return expand_tokens(text, self._origin(owner), config.lib, config.platform)

    def _origin(self, obj: LoadedObject) -> str | None:
        """``$ORIGIN``: the executable's real directory; a library's directory as it was opened."""
        if obj.how == "executable":  # _dl_get_origin reads /proc/self/exe: symlinks resolved
            return posixpath.dirname(self.fs.realpath(obj.path))
        path = self._absolute(obj.path)  # _dl_new_object: realname's directory, no realpath()
        return posixpath.dirname(path) if path else None

    def _absolute(self, path: str | None) -> str | None:
        if path is None or path.startswith("/"):
            return path
        cwd = self.config.cwd
        return _join(cwd, path) if cwd else None

    def _binary(self, path: str) -> BinaryInfo | None:
        if path not in self._binaries:
            self._binaries[path] = self.fs.binary(path)
        return self._binaries[path]

    # --- versions ------------------------------------------------------------------------------------

    def _check_versions(self, keys: Iterable[str]) -> Iterator[VersionFailure]:
        """``_dl_check_map_versions``: each verneed version must be in the provider's verdef
        (a VER_FLG_WEAK one only draws a warning: ``match_symbol``'s weak case)."""
        for key in keys:
            obj = self.loaded[key]
            for library, versions in obj.info.required_symbol_versions.items():
                provider_key = self._names.get(library)
                if provider_key is None:
                    continue  # not mapped: the mapping failure is reported already
                defined = self.loaded[provider_key].info.version_definitions
                if not defined:
                    continue  # "no version information available": a warning, not an error
                for version in versions:
                    if version not in defined:
                        yield VersionFailure(version, library, provider_key, obj.path)


def _join(directory: str, name: str) -> str:
    """``dir/name`` the way ld.so builds it (one slash, nothing normalized)."""
    return f"{directory.rstrip('/')}/{name}" if directory.rstrip("/") else f"/{name}"


def expand_tokens(text: str, origin: str | None, lib: str, platform_name: str) -> str | None:
    """Expand ``$ORIGIN``, ``$LIB``, ``$PLATFORM`` (and ``${...}``) the way ``_dl_dst_substitute`` does.

    A token followed by an identifier character is no token (``$ORIGIN_X`` stays literal); an
    unknown ``$NAME`` stays literal. None when ``$ORIGIN`` is needed but unknown (ld.so drops the
    entry).
    """
    values = {"ORIGIN": origin, "LIB": lib, "PLATFORM": platform_name}
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        value = values[match.group(1) or match.group(2)]
        if value is None:
            missing = True
            return ""
        return value

    result = _TOKEN.sub(replace, text)
    return None if missing else result


def simulate(
    executable: str, extensions: Sequence[str], fs: FileSystem, config: LinuxLoaderConfig
) -> ProcessReport:
    """Start ``executable``, then load each extension in order (dlopen by path, RTLD_LOCAL)."""
    process = Process(fs, config)
    start = process.load(executable)
    results = tuple(process.load(path) for path in extensions) if start.object is not None else ()
    return ProcessReport(start, results, tuple(process.loaded.values()))


# --- the real host ---------------------------------------------------------------------------------


class RealFileSystem:
    """:class:`FileSystem` over the local disk; parsed binaries are cached per real path."""

    def __init__(self) -> None:
        self._cache: dict[str, BinaryInfo | None] = {}

    def exists(self, path: str) -> bool:
        """True for an existing regular file (or a link to one)."""
        return Path(path).is_file()

    def realpath(self, path: str) -> str:
        """``os.path.realpath``."""
        return os.path.realpath(path)

    def binary(self, path: str) -> BinaryInfo | None:
        """The file's :class:`BinaryInfo`, or None when it is not a readable binary."""
        real = self.realpath(path)
        if real not in self._cache:
            self._cache[real] = _read(real)
        return self._cache[real]


def _read(path: str) -> BinaryInfo | None:
    try:
        with FileSource(path) as source:
            return read_binary(source)
    except (OSError, NativeDoctorError):
        return None


def loader_diagnostics(rtld: str = "/lib64/ld-linux-x86-64.so.2", timeout: float = 10.0) -> str | None:
    """The output of ``ld.so --list-diagnostics`` (glibc >= 2.33), or None when unavailable."""
    try:
        proc = subprocess.run(
            [rtld, "--list-diagnostics"], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 and proc.stdout else None


_DIAG_LINE = re.compile(r'^([\w.]+)(?:\[0x[0-9a-f]+\])?=(?:"(.*)"|(\S+))$')


def _parse_diagnostics(text: str) -> dict[str, list[str]]:
    """``key="value"`` / ``key[0x1]="value"`` / ``key=0x7`` lines, values per key in order."""
    values: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = _DIAG_LINE.match(line.strip())
        if match:
            value = match.group(2) if match.group(2) is not None else match.group(3)
            values.setdefault(match.group(1), []).append(value)
    return values


def config_from_host(
    environ: Mapping[str, str],
    *,
    diagnostics: str | None = None,
    cache_entries: Sequence[CacheEntry] | None = None,
    machine: str | None = None,
    cwd: str | None = None,
) -> LinuxLoaderConfig:
    """The loader configuration of a process started with ``environ`` on this host.

    :param diagnostics: ``ld.so --list-diagnostics`` output (:func:`loader_diagnostics`); it gives
        the exact system dirs, ``$LIB``, ``$PLATFORM`` and active glibc-hwcaps subdirectories.
        Without it they are derived from the multiarch triplet and ``platform.machine()``.
    :param cache_entries: the ld.so cache (default: :func:`read_ld_cache`).
    """
    machine = machine or platform.machine()
    diag = _parse_diagnostics(diagnostics) if diagnostics else {}
    triplet = str(sysconfig.get_config_var("MULTIARCH") or f"{machine}-linux-gnu")
    debian = Path(f"/usr/lib/{triplet}").is_dir()
    if "path.system_dirs" in diag:
        default_dirs = tuple(d.rstrip("/") or "/" for d in diag["path.system_dirs"])
    elif debian:
        default_dirs = (f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib", "/usr/lib")
    else:
        default_dirs = ("/lib64", "/usr/lib64") if machine.endswith("64") else ("/lib", "/usr/lib")
    lib = diag.get("dl_dst_lib", [f"lib/{triplet}" if debian else "lib64"])[0]
    subdirs = _active_hwcaps(diag)
    entries = read_ld_cache() if cache_entries is None else cache_entries
    return LinuxLoaderConfig(
        ld_library_path=_split(environ.get("LD_LIBRARY_PATH"), ":;"),
        cache=MappingProxyType(_cache_map(entries, arch_for_machine(machine), subdirs)),
        default_dirs=default_dirs,
        platform=diag.get("dl_platform", [machine])[0],
        lib=lib,
        preload=tuple(p for p in _split(environ.get("LD_PRELOAD"), ": \t") if p),
        cwd=cwd,
        subdirs=tuple(f"glibc-hwcaps/{s}" for s in subdirs),
        interpreter=diag.get("path.rtld", [None])[0],
    )


def _split(value: str | None, separators: str) -> tuple[str, ...]:
    """Split an environment list on any of ``separators``; unset or empty gives ``()``."""
    if not value:
        return ()
    return tuple(re.split(f"[{re.escape(separators)}]", value))


def _active_hwcaps(diag: Mapping[str, list[str]]) -> tuple[str, ...]:
    """The glibc-hwcaps subdirectories ld.so searches, best first (bit i of the mask = entry i)."""
    names = diag.get("dl_hwcaps_subdirs", [""])[0].split(":")
    try:
        mask = int(diag.get("dl_hwcaps_subdirs_active", ["0"])[0], 0)
    except ValueError:
        mask = 0
    return tuple(name for i, name in enumerate(names) if name and mask & (1 << i))


def _cache_map(entries: Iterable[CacheEntry], arch: str | None, subdirs: Sequence[str]) -> dict[str, str]:
    """name -> path for ``arch``: the best active glibc-hwcaps entry, else the first plain one."""
    rank = {name: i for i, name in enumerate(subdirs)}
    best: dict[str, tuple[int, str]] = {}
    plain_rank = len(rank)
    for entry in entries:
        if entry.arch != arch:
            continue
        if entry.hwcaps is not None and entry.hwcaps not in rank:
            continue
        if entry.hwcaps is None and entry.hwcap:
            continue  # legacy hwcap entries (removed in glibc 2.37): left out
        score = rank[entry.hwcaps] if entry.hwcaps is not None else plain_rank
        if entry.name not in best or score < best[entry.name][0]:
            best[entry.name] = (score, entry.path)
    return {name: path for name, (_, path) in best.items()}
