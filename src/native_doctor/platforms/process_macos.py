"""dyld, simulated for one Python process: the interpreter, then each extension module in import order.

:func:`simulate` replays what dyld does when ``python`` starts and then ``dlopen()``s extension
modules one after the other, over a :class:`FileSystem` (a real tree, or a synthetic one in tests).
It reports every image loaded, how each load command was resolved, and each failure with the text
dyld prints. The rules, from Apple's ``dyld(1)`` man page and dyld's source (dyld-1378:
``Loader::getLoader``, ``Loader::forEachResolvedAtPathVar``, ``PathOverrides::forEachPathVariant``):

* ``@executable_path/`` "is the directory containing the main executable for the process";
  ``@loader_path/`` "is the directory containing the mach-o binary which contains the load command".
* ``@rpath/``: "Dyld maintains a current stack of paths called the run path list. When @rpath is
  encountered it is substituted with each path in the run path list until a loadable dylib if found.
  The run path stack is built from the LC_RPATH load commands in the dependency chain that lead to
  the current dylib load" - the image's own LC_RPATH first, then its loader's, up to the executable.
* ``DYLD_LIBRARY_PATH``: "the dynamic linker first looks for the library in each directory in the
  library path" using the leaf name, before the install name's own path; ``DYLD_FRAMEWORK_PATH``
  likewise for framework install names (``Foo.framework/Versions/A/Foo``).
* ``DYLD_FALLBACK_LIBRARY_PATH``: searched by leaf name after the install name's path; when unset,
  ``/usr/local/lib:/usr/lib`` (dyld-1378 applies that default only to binaries built with pre-2022
  SDKs; this simulation always applies it). ``dlopen()`` of a path skips the fallbacks.
* Already loaded: an ``@rpath/`` name matching the install name of a loaded image is that image
  (dyld4, before any search); otherwise each candidate path is compared with the path *and* install
  name of every loaded image, then by file identity (realpath here, inode in dyld). Two *different*
  paths are two images: two ``libomp.dylib`` reached through ``@loader_path`` both load.
* OS libraries under ``/usr/lib`` and ``/System/Library`` live in the dyld shared cache, not on disk
  (macOS 11+): :func:`~native_doctor.platforms.macos.is_system_library` names count as present.
* ``LC_LOAD_WEAK_DYLIB`` libraries may be missing. An image without the process's architecture is
  skipped with "mach-o file, but is an incompatible architecture (have 'x86_64', need 'arm64')" and
  the search goes on. A minimum OS above the running one does not stop dyld; it adds "(built for
  macOS 14.0 which is newer than running OS)" to fatal errors, which then come from missing symbols.
* A failed ``dlopen()`` unloads what it loaded.

Paths are normalized (``posixpath.normpath``) before they are looked up and reported; the
``Referenced from:`` line leaves out the image UUID dyld prints; ``dlopen()`` is modelled as called
by the executable (its LC_RPATH closes the run-path stack of every extension).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from native_doctor.binary.model import BinaryInfo
from native_doctor.platforms.macos import is_system_library, parse_macos_version
from native_doctor.platforms.process_common import FileSystem, ImportResult, LoadFailure, Note, Resolution

__all__ = [
    "DEFAULT_FALLBACK_LIBRARY_PATH",
    "DyldConfig",
    "FileSystem",
    "ImportResult",
    "LoadFailure",
    "Note",
    "ProcessReport",
    "Resolution",
    "simulate",
]

#: dyld's ``DYLD_FALLBACK_LIBRARY_PATH`` when the variable is unset.
DEFAULT_FALLBACK_LIBRARY_PATH: Final = ("/usr/local/lib", "/usr/lib")
#: dyld's ``mightBeInSharedCache``: failed paths here read "(no such file, not in dyld cache)".
_CACHE_PREFIXES: Final = ("/usr/lib/", "/System/Library/")
#: The mode CPython passes to dlopen() (``sys.getdlopenflags()``: RTLD_NOW), as dyld prints it.
_DLOPEN_MODE: Final = "0x0002"
#: Candidates that are the install name itself (expanded), not a leaf name tried in a directory.
_NAMED_HOWS: Final = frozenset({"absolute path", "@loader_path", "@executable_path"})
_FRAMEWORK_RE: Final = re.compile(r"(?:^|/)([^/]+\.framework/(?:Versions/[^/]+/)?[^/]+)$")


@dataclass(frozen=True, slots=True)
class DyldConfig:
    """The process: its architecture, the running macOS, and the ``DYLD_*`` variables."""

    #: The process architecture (``arm64`` or ``x86_64``; ``x86_64`` under Rosetta).
    arch: str = "arm64"
    #: The running macOS (``"13.4"``); None: minimum OS versions are not checked.
    os_version: str | None = None
    #: ``DYLD_LIBRARY_PATH``, split on ``:``.
    library_path: tuple[str, ...] = ()
    #: ``DYLD_FALLBACK_LIBRARY_PATH``; None when unset (:data:`DEFAULT_FALLBACK_LIBRARY_PATH`).
    fallback_library_path: tuple[str, ...] | None = None
    #: ``DYLD_FRAMEWORK_PATH``, split on ``:``.
    framework_path: tuple[str, ...] = ()
    #: The install names in the dyld shared cache, when known; None: every OS install name a load
    #: command names (``is_system_library``) is taken to be there.
    shared_cache: frozenset[str] | None = None

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str], *, arch: str = "arm64", os_version: str | None = None
    ) -> DyldConfig:
        """Read the ``DYLD_*`` variables from ``environ`` (SIP strips them for system binaries)."""
        fallback = environ.get("DYLD_FALLBACK_LIBRARY_PATH")
        return cls(
            arch=arch,
            os_version=os_version,
            library_path=_split(environ.get("DYLD_LIBRARY_PATH")),
            fallback_library_path=None if fallback is None else _split(fallback),
            framework_path=_split(environ.get("DYLD_FRAMEWORK_PATH")),
        )

    @property
    def fallbacks(self) -> tuple[str, ...]:
        """The fallback directories in effect."""
        if self.fallback_library_path is None:
            return DEFAULT_FALLBACK_LIBRARY_PATH
        return self.fallback_library_path


@dataclass(frozen=True, slots=True)
class ProcessReport:
    """The process after the executable started and every extension was imported in order."""

    executable: str
    #: Every image in the process, in load order (shared-cache libraries included).
    loaded: tuple[str, ...]
    resolutions: tuple[Resolution, ...]
    failures: tuple[LoadFailure, ...]
    notes: tuple[Note, ...]
    imports: tuple[ImportResult, ...]

    @property
    def ok(self) -> bool:
        """Whether everything loaded."""
        return not self.failures

    def resolution(self, name: str, requested_by: str | None = None) -> Resolution | None:
        """The first resolution of ``name`` (by ``requested_by``, when given)."""
        for res in self.resolutions:
            if res.name == name and requested_by in (None, res.requested_by):
                return res
        return None


def simulate(
    executable: str, extensions: Sequence[str], fs: FileSystem, config: DyldConfig | None = None
) -> ProcessReport:
    """Launch ``executable`` (python) and dlopen() each of ``extensions`` in order, as dyld would."""
    process = _Process(posixpath.normpath(executable), fs, config or DyldConfig())
    imports: list[ImportResult] = []
    if process.launch():
        imports = [process.dlopen(posixpath.normpath(ext)) for ext in extensions]
    return process.report(imports)


# --- internals ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Image:
    path: str
    real: str
    #: The slice for the process architecture; None for a shared-cache library (not read).
    info: BinaryInfo | None

    @property
    def install_name(self) -> str | None:
        return self.info.install_name if self.info is not None else None


@dataclass(frozen=True, slots=True)
class _Found:
    image: _Image
    new: bool
    how: str


@dataclass(frozen=True, slots=True)
class _Failed:
    name: str
    requested_by: str | None
    searched: tuple[str, ...]
    message: str


class _Process:
    """The loaded-image list and what happened to it."""

    def __init__(self, executable: str, fs: FileSystem, config: DyldConfig) -> None:
        self.executable = executable
        self.exe_dir = posixpath.dirname(executable)
        self.fs = fs
        self.config = config
        self.images: list[_Image] = []
        self.resolutions: list[Resolution] = []
        self.failures: list[LoadFailure] = []
        self.notes: list[Note] = []

    # --- launch and dlopen -------------------------------------------------------------------

    def launch(self) -> bool:
        """Map the executable and its dependencies (dyld at process start)."""
        info = self.fs.binary(self.executable) if self.fs.exists(self.executable) else None
        problem = "no such file" if info is None else _arch_problem(info, self.config.arch)
        if info is None or problem is not None:
            message = f"{self.executable}: {problem or 'not a mach-o file'}"
            self.failures.append(LoadFailure(self.executable, self.executable, None, (), message))
            return False
        exe = self._add(self.executable, _slice(info, self.config.arch))
        failed = self._load_dependents(exe, ())
        if failed is not None:
            self.images.clear()
            self._fail(self.executable, failed, f"dyld: {failed.message}")
            return False
        return True

    def dlopen(self, extension: str) -> ImportResult:
        """``dlopen(extension, RTLD_NOW)``: the extension, its dependencies, or nothing."""
        mark = len(self.images)
        exe = self.images[0]
        found, tried = self._find(extension, exe, (exe,), dlopen=True)
        prefix = f"dlopen({extension}, {_DLOPEN_MODE}): "
        if found is None:
            searched = tuple(path for path, _ in tried)
            failed = _Failed(extension, None, searched, _tried_text(tried) or "image not found")
            return self._undo(extension, mark, failed, prefix + failed.message)
        self.resolutions.append(Resolution(extension, exe.path, found.image.path, found.how))
        broken = self._load_dependents(found.image, (exe,)) if found.new else None
        if broken is not None:
            return self._undo(extension, mark, broken, prefix + broken.message)
        return ImportResult(extension, tuple(i.path for i in self.images[mark:]), None)

    def _undo(self, extension: str, mark: int, failed: _Failed, message: str) -> ImportResult:
        del self.images[mark:]
        self._fail(extension, failed, message)
        return ImportResult(extension, (), message)

    def _fail(self, image: str, failed: _Failed, message: str) -> None:
        self.failures.append(LoadFailure(image, failed.name, failed.requested_by, failed.searched, message))

    # --- dependents ----------------------------------------------------------------------------

    def _load_dependents(self, image: _Image, chain: tuple[_Image, ...]) -> _Failed | None:
        """Resolve every load command of ``image``, then recurse into the newly loaded images.

        dyld4's ``JustInTimeLoader::loadDependents`` order; ``chain`` is the run-path stack of the
        images that led here (outermost first), to which ``image`` is pushed.
        """
        assert image.info is not None
        stack = (*chain, image)
        new: list[_Image] = []
        for name in image.info.needed:
            weak = name in image.info.weak_needed
            found, tried = self._find(name, image, stack, dlopen=False)
            searched = tuple(path for path, _ in tried)
            if found is None:
                how = "weak (LC_LOAD_WEAK_DYLIB): not found, not fatal" if weak else "not found"
                self.resolutions.append(Resolution(name, image.path, None, how, searched, weak))
                if not weak:
                    return _Failed(name, image.path, searched, self._not_loaded(name, image, stack, tried))
                continue
            self.resolutions.append(Resolution(name, image.path, found.image.path, found.how, searched, weak))
            if found.new and found.image.info is not None:
                new.append(found.image)
        for dependent in new:
            failed = self._load_dependents(dependent, stack)
            if failed is not None:
                return failed
        return None

    def _not_loaded(
        self, name: str, image: _Image, stack: tuple[_Image, ...], tried: list[tuple[str, str]]
    ) -> str:
        """dyld's "Library not loaded" text."""
        reason = _tried_text(tried)
        if not reason and name.startswith("@rpath/"):
            has_rpath = any(i.info is not None and i.info.rpath for i in stack)
            reason = "no LC_RPATH's used" if has_rpath else "no LC_RPATH's found"
        return (
            f"Library not loaded: {name}\n  Referenced from: {image.path}{self._too_new(image)}\n"
            f"  Reason: {reason}"
        )

    def _too_new(self, image: _Image) -> str:
        """dyld's addendum for an image built for a newer macOS than the running one."""
        newer = self._newer_min_os(image)
        return f" (built for macOS {newer} which is newer than running OS)" if newer else ""

    # --- one name ----------------------------------------------------------------------------

    def _find(
        self, name: str, requester: _Image, stack: tuple[_Image, ...], *, dlopen: bool
    ) -> tuple[_Found | None, list[tuple[str, str]]]:
        """Resolve ``name`` for ``requester``: (what satisfies it, [(path tried, why not)])."""
        if name.startswith("@rpath/"):
            # dyld4 Loader::getLoader: "for @rpath paths, first check if already loaded as rpath".
            for image in self.images:
                if image.install_name == name:
                    self._check_rpath_reuse(name, requester, stack, image)
                    return _Found(image, False, f"already loaded (install name {name})"), []
        tried: list[tuple[str, str]] = []
        for path, how in self._candidates(name, requester, stack, dlopen=dlopen):
            found = self._try(path, how, tried)
            if found is not None:
                return found, tried
        return None, tried

    def _candidates(
        self, name: str, requester: _Image, stack: tuple[_Image, ...], *, dlopen: bool
    ) -> Iterator[tuple[str, str]]:
        """The paths dyld tries for ``name``, in order, with how each one came about."""
        partial = _framework_partial_path(name)
        if partial is not None:
            for directory in self.config.framework_path:
                yield _join(directory, partial), "DYLD_FRAMEWORK_PATH"
        else:
            for directory in self.config.library_path:
                yield _join(directory, posixpath.basename(name)), "DYLD_LIBRARY_PATH"
        yield from self._expansions(name, requester, stack)
        if partial is None and not dlopen:
            for directory in self.config.fallbacks:
                path = _join(directory, posixpath.basename(name))
                if path != name:
                    yield path, "DYLD_FALLBACK_LIBRARY_PATH"

    def _expansions(
        self, name: str, requester: _Image, stack: tuple[_Image, ...]
    ) -> Iterator[tuple[str, str]]:
        """The install name itself, with ``@loader_path``/``@executable_path``/``@rpath`` expanded."""
        if name.startswith("@loader_path/"):
            yield _concat(posixpath.dirname(requester.path), name, "@loader_path"), "@loader_path"
        elif name.startswith("@executable_path/"):
            yield _concat(self.exe_dir, name, "@executable_path"), "@executable_path"
        elif name.startswith("@rpath/"):
            for image in reversed(stack):  # the run-path stack: innermost image first
                for entry in image.info.rpath if image.info is not None else ():
                    directory = self._rpath_directory(entry, image)
                    if directory is not None:
                        yield _concat(directory, name, "@rpath"), f"@rpath via LC_RPATH of {image.path}"
        else:
            how = "absolute path" if name.startswith("/") else "relative path (working directory)"
            yield posixpath.normpath(name), how

    def _rpath_directory(self, entry: str, owner: _Image) -> str | None:
        """An LC_RPATH entry as a directory; relative entries are unusable (None)."""
        if entry.startswith("@loader_path"):
            return posixpath.dirname(owner.path) + entry[len("@loader_path") :]
        if entry.startswith("@executable_path"):
            return self.exe_dir + entry[len("@executable_path") :]
        return entry if entry.startswith("/") else None

    def _try(self, path: str, how: str, tried: list[tuple[str, str]]) -> _Found | None:
        """One candidate: already loaded, in the shared cache, loadable from disk, or a reason why not."""
        for image in self.images:
            if path in (image.path, image.install_name):
                return _Found(image, False, "already loaded")
        if self._in_shared_cache(path, how):
            system_how = (
                "system (dyld shared cache)" if how == "absolute path" else f"{how} (dyld shared cache)"
            )
            return _Found(self._add(path, None), True, system_how)
        if not self.fs.exists(path):
            cache = ", not in dyld cache" if path.startswith(_CACHE_PREFIXES) else ""
            tried.append((path, f"no such file{cache}"))
            return None
        real = self.fs.realpath(path)
        for image in self.images:
            if image.real == real:
                return _Found(image, False, "already loaded (same file)")
        info = self.fs.binary(path)
        problem = "not a mach-o file" if info is None else _arch_problem(info, self.config.arch)
        if info is None or problem is not None:
            tried.append((path, problem or "not a mach-o file"))
            return None
        return _Found(self._add(path, _slice(info, self.config.arch), real), True, how)

    def _in_shared_cache(self, path: str, how: str) -> bool:
        """Whether dyld finds ``path`` in its shared cache (OS libraries are no files on disk).

        Without a cache listing, an OS install name counts when a load command names it (directly
        or through LC_RPATH); a leaf name tried in a fallback directory (``/usr/lib/libfoo.dylib``)
        does not - any file may be put there, only real OS libraries are in the cache.
        """
        if self.config.shared_cache is not None:
            return path in self.config.shared_cache
        named = how in _NAMED_HOWS or how.startswith("@rpath")
        return named and is_system_library(path)

    def _add(self, path: str, info: BinaryInfo | None, real: str | None = None) -> _Image:
        image = _Image(path, real if real is not None else path, info)
        self.images.append(image)
        newer = self._newer_min_os(image)
        if newer is not None and not any(n.kind == "newer_min_os" and n.paths == (path,) for n in self.notes):
            message = (
                f"{path} was built for macOS {newer}, newer than this macOS {self.config.os_version}: "
                "dyld loads it, but symbols it needs from the newer OS are missing "
                "('Symbol not found ... which was built for ...')"
            )
            self.notes.append(Note("newer_min_os", message, (path,)))
        return image

    def _newer_min_os(self, image: _Image) -> str | None:
        """The image's minimum macOS when it is above the running one."""
        running, info = self.config.os_version, image.info
        if running is None or info is None or info.min_os is None:
            return None
        if parse_macos_version(info.min_os) > parse_macos_version(running):
            return info.min_os
        return None

    def _check_rpath_reuse(
        self, name: str, requester: _Image, stack: tuple[_Image, ...], reused: _Image
    ) -> None:
        """Note an @rpath name reusing a loaded image while the requester's run paths lead elsewhere."""
        for path, how in self._candidates(name, requester, stack, dlopen=False):
            if self._in_shared_cache(path, how) or not self.fs.exists(path):
                continue
            if self.fs.realpath(path) != reused.real:
                message = (
                    f"{requester.path} asks for {name}; its run paths lead to {path}, but {reused.path} "
                    f"was loaded first with that install name and dyld reuses it"
                )
                self.notes.append(Note("rpath_reuse", message, (reused.path, path)))
            return

    # --- report ------------------------------------------------------------------------------

    def report(self, imports: list[ImportResult]) -> ProcessReport:
        return ProcessReport(
            executable=self.executable,
            loaded=tuple(image.path for image in self.images),
            resolutions=tuple(self.resolutions),
            failures=tuple(self.failures),
            notes=(*self.notes, *self._duplicates()),
            imports=tuple(imports),
        )

    def _duplicates(self) -> list[Note]:
        """Libraries loaded twice from different files under the same leaf name (two libomp)."""
        groups: dict[str, list[_Image]] = {}
        for image in self.images:
            if image.info is not None and image.path != self.executable:
                leaf = posixpath.basename(image.install_name or image.path)
                groups.setdefault(leaf, []).append(image)
        notes = []
        for leaf, images in groups.items():
            paths = tuple(dict.fromkeys(image.real for image in images))
            if len(paths) > 1:
                message = (
                    f"{len(paths)} copies of {leaf} are loaded: {', '.join(paths)} "
                    "(dyld keys loaded images by path, so each copy loads)"
                )
                notes.append(Note("duplicate_library", message, paths))
        return notes


# --- helpers --------------------------------------------------------------------------------------


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part for part in (value or "").split(":") if part)


def _join(directory: str, leaf: str) -> str:
    return posixpath.normpath(f"{directory}/{leaf}")


def _concat(directory: str, name: str, token: str) -> str:
    """Substitute ``token`` (``@loader_path``...) at the start of ``name`` with ``directory``, as text."""
    return posixpath.normpath(directory + name[len(token) :])


def _framework_partial_path(name: str) -> str | None:
    """``/p/Foo.framework/Versions/A/Foo`` -> ``Foo.framework/Versions/A/Foo``; None if no framework."""
    match = _FRAMEWORK_RE.search(name)
    return match.group(1) if match else None


def _slice(info: BinaryInfo, arch: str) -> BinaryInfo:
    """The slice of a fat file for ``arch`` (the file itself when thin)."""
    return next((s for s in info.slices if s.arch == arch), info)


def _arch_problem(info: BinaryInfo, arch: str) -> str | None:
    """dyld's text when the file has no slice for the process architecture."""
    if arch in info.archs:
        return None
    if info.slices:
        have = ",".join(info.archs)
        return f"fat file, but missing compatible architecture (have '{have}', need '{arch}')"
    return f"mach-o file, but is an incompatible architecture (have '{info.arch}', need '{arch}')"


def _tried_text(tried: list[tuple[str, str]]) -> str:
    """``tried: '/a/libfoo.dylib' (no such file), ...`` - empty when nothing was tried."""
    if not tried:
        return ""
    return "tried: " + ", ".join(f"'{path}' ({why})" for path, why in tried)
