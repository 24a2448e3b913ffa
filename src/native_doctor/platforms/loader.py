"""Loader rules: how each platform's dynamic loader finds a binary's needed libraries.

Pure functions over an artifact's native files. For every needed name they decide whether the
target platform's loader finds it inside the artifact (``bundled``), whether the platform
guarantees it (``system``), or neither (``external``), and say how, in the loader's terms:

* Linux (ld.so): DT_RPATH (ignored when DT_RUNPATH is present), then DT_RUNPATH; ``$ORIGIN``
  is the directory of the object that carries the entry; names containing ``/`` are paths.
* macOS (dyld): ``@loader_path``, ``@executable_path``, and ``@rpath`` expanded through the
  LC_RPATH entries of the image *and of every image that loaded it*; absolute install names.
* Windows (CPython >= 3.8 loads extension modules with LOAD_LIBRARY_SEARCH_DEFAULT_DIRS |
  LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR): the directory of the module, directories the package adds
  with ``os.add_dll_directory`` (delvewheel's ``<dist>.libs``), then System32; names compare
  case-insensitively.

What the process environment adds (LD_LIBRARY_PATH, the ld.so cache, DYLD_* variables, PATH)
is the environment doctor's business, not a wheel's: a wheel must work on a clean machine.
"""

from __future__ import annotations

import posixpath
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.model import Dependency, NativeFile, Resolution
from native_doctor.platforms import linux

__all__ = [
    "FileIndex",
    "LinuxContext",
    "expand_loader_path",
    "expand_origin",
    "join_install_path",
    "resolve_all",
]

#: The ``$ORIGIN`` dynamic string token at the start of an entry (ld.so(8)).
ORIGIN_TOKEN = re.compile(r"\$(?:\{ORIGIN\}|ORIGIN(?![A-Za-z0-9_]))")
_PLATFORM = re.compile(r"\$(?:\{PLATFORM\}|PLATFORM(?![A-Za-z0-9_]))")
#: How many loaders up the chain dyld's @rpath search is followed (cycles are cut anyway).
_MAX_LOADER_DEPTH = 32


class LinuxContext(NamedTuple):
    """What provides libraries outside the artifact on Linux.

    For a wheel, the platform policy of its libc decides (``host_libraries`` is None). For an
    installed environment, the host's own library directories decide: ``host_libraries`` maps
    each library name found there to its directory.
    """

    libc: linux.Libc = "glibc"
    host_libraries: Mapping[str, str] | None = None


class FileIndex:
    """The native files of one artifact, looked up by install path."""

    __slots__ = ("_by_path", "_by_path_folded", "_dirs")

    def __init__(self, files: Iterable[NativeFile], dll_directories: Iterable[str] = ()) -> None:
        self._by_path: dict[str, NativeFile] = {}
        self._by_path_folded: dict[str, NativeFile] = {}
        for native in files:
            self._by_path.setdefault(native.install_path, native)
            self._by_path_folded.setdefault(native.install_path.casefold(), native)
        self._dirs = tuple(dll_directories)

    @property
    def dll_directories(self) -> tuple[str, ...]:
        """Directories the package adds to the Windows DLL search (``os.add_dll_directory``)."""
        return self._dirs

    def find(self, directory: str, name: str, *, fold_case: bool = False) -> NativeFile | None:
        """The file ``name`` in ``directory`` (an install path; ``""`` is site-packages)."""
        path = _join(directory, name)
        if path is None:
            return None
        return self._by_path_folded.get(path.casefold()) if fold_case else self._by_path.get(path)

    def copies(self, name: str, *, fold_case: bool = False) -> list[str]:
        """Artifact paths of every file whose base name is ``name`` (wherever it is)."""

        def fold(text: str) -> str:
            return text.casefold() if fold_case else text

        key = fold(name)
        return sorted(
            n.path for n in self._by_path.values() if fold(posixpath.basename(n.install_path)) == key
        )


def resolve_all(
    files: Sequence[NativeFile], index: FileIndex, linux_context: LinuxContext | None = None
) -> dict[str, tuple[Dependency, ...]]:
    """Resolve every needed library of every readable native file; keyed by artifact path."""
    context = linux_context or LinuxContext()
    by_format: dict[BinaryFormat, list[NativeFile]] = {}
    for native in files:
        if native.info is not None:
            by_format.setdefault(native.info.format, []).append(native)
    result: dict[str, tuple[Dependency, ...]] = {}
    for native in by_format.get(BinaryFormat.PE, ()):
        result[native.path] = tuple(_resolve_pe(native, _info(native), index))
    result.update(_resolve_elf_files(by_format.get(BinaryFormat.ELF, []), index, context))
    result.update(_resolve_macho_files(by_format.get(BinaryFormat.MACHO, []), index))
    return result


Retry = Callable[[NativeFile, Dependency, tuple[NativeFile, ...], Mapping[str, list[Dependency]]], Dependency]


def _through_loaders(
    files: Sequence[NativeFile], first: Mapping[str, list[Dependency]], retry: Retry
) -> dict[str, tuple[Dependency, ...]]:
    """Retry each external dependency with the chain of images that load its binary.

    Both ld.so (DT_RPATH of the loaders, already-loaded SONAMEs) and dyld (LC_RPATH of the
    loaders) search with what the images that caused a library to be loaded carry. A library
    found this way may itself be the loader that the next one needs, so the passes repeat until
    nothing changes (at most once per file: each pass that changes something resolves one more).
    """
    current = {path: list(deps) for path, deps in first.items()}
    for _ in range(len(files)):
        loaders: dict[str, list[NativeFile]] = {}
        for native in files:
            for dep in current[native.path]:
                if dep.member is not None and dep.member != native.path:
                    loaders.setdefault(dep.member, []).append(native)
        changed = False
        for native in files:
            deps = current[native.path]
            if not any(d.resolution is Resolution.EXTERNAL for d in deps):
                continue
            chain = _loader_chain(native, loaders)[1:]
            if not chain:
                continue
            retried = [
                retry(native, d, chain, current) if d.resolution is Resolution.EXTERNAL else d for d in deps
            ]
            if retried != deps:
                current[native.path] = retried
                changed = True
        if not changed:
            break
    return {path: tuple(deps) for path, deps in current.items()}


# --- Linux --------------------------------------------------------------------------------------


def _resolve_elf_files(
    files: Sequence[NativeFile], index: FileIndex, ctx: LinuxContext
) -> dict[str, tuple[Dependency, ...]]:
    first = {n.path: list(_resolve_elf(n, _info(n), index, ctx)) for n in files}

    def retry(
        native: NativeFile,
        dep: Dependency,
        chain: tuple[NativeFile, ...],
        current: Mapping[str, list[Dependency]],
    ) -> Dependency:
        return _elf_through_loaders(native, dep, chain, current, index, ctx) or dep

    return _through_loaders(files, first, retry)


def _elf_through_loaders(
    native: NativeFile,
    dep: Dependency,
    chain: tuple[NativeFile, ...],
    resolved: Mapping[str, list[Dependency]],
    index: FileIndex,
    ctx: LinuxContext,
) -> Dependency | None:
    """ld.so's two ways a loader helps: a library it loaded first, and its DT_RPATH."""
    if "/" in dep.name:
        return None
    # ld.so loads breadth first and reuses a loaded object whose SONAME matches: the loaders'
    # own direct dependencies are in the process before this binary's are looked for.
    for loader in chain:
        for loaded in resolved[loader.path]:
            if loaded.member is not None and loaded.name == dep.name:
                return Dependency(
                    dep.name, Resolution.BUNDLED, loaded.member, f"already loaded by {loader.path}"
                )
    # glibc: the loaders' DT_RPATH is searched unless the requesting object has DT_RUNPATH (and a
    # loader with DT_RUNPATH contributes nothing); musl searches both kinds, up the whole chain.
    if _info(native).runpath and ctx.libc != "musl":
        return None
    for loader in chain:
        info = _info(loader)
        entries = info.rpath if not info.runpath else (info.runpath if ctx.libc == "musl" else ())
        kind = "RUNPATH" if info.runpath else "RPATH"
        origin = posixpath.dirname(loader.install_path)
        for entry in entries:
            directory = expand_origin(entry, origin, info.arch)
            found = index.find(directory, dep.name) if directory is not None else None
            if found is not None:
                via = f"{kind} {entry} of {loader.path}"
                return Dependency(dep.name, Resolution.BUNDLED, found.path, via)
    return None


def _resolve_elf(
    native: NativeFile, info: BinaryInfo, index: FileIndex, ctx: LinuxContext
) -> Iterable[Dependency]:
    origin = posixpath.dirname(native.install_path)
    # ld.so(8): DT_RPATH is used only when the object has no DT_RUNPATH.
    entries = [("RUNPATH", e) for e in info.runpath] if info.runpath else [("RPATH", e) for e in info.rpath]
    for name in info.needed:
        yield _resolve_elf_name(name, origin, entries, info.arch, index, ctx)


def _resolve_elf_name(
    name: str, origin: str, entries: list[tuple[str, str]], arch: str, index: FileIndex, ctx: LinuxContext
) -> Dependency:
    if linux.is_reserved_name(name, ctx.libc):
        # musl's load_library checks its reserved names before any search: a bundled copy is never opened.
        return Dependency(name, Resolution.SYSTEM, None, "musl's loader provides it itself, without a file")
    if "/" in name:  # ld.so(8): a name with a slash is a path (relative ones to the working directory)
        how = "an absolute path" if name.startswith("/") else "a path relative to the working directory"
        return Dependency(
            name, Resolution.EXTERNAL, None, f"{how}: no search happens, nothing in the wheel can match"
        )
    for kind, entry in entries:
        directory = expand_origin(entry, origin, arch)
        if directory is None:
            continue
        found = index.find(directory, name)
        if found is not None:
            return Dependency(name, Resolution.BUNDLED, found.path, f"{kind} {entry}")
    if ctx.host_libraries is not None:
        if name in ctx.host_libraries:
            return Dependency(
                name, Resolution.SYSTEM, None, f"found on this host in {ctx.host_libraries[name]}"
            )
        return _external(name, index, fold_case=False)
    if linux.is_system_library(name, ctx.libc):
        family = "musllinux" if ctx.libc == "musl" else "manylinux"
        return Dependency(name, Resolution.SYSTEM, None, f"{family} policy library")
    return _external(name, index, fold_case=False)


def expand_origin(entry: str, origin: str, arch: str = "") -> str | None:
    """The install-path directory an RPATH/RUNPATH entry names, or None if outside the artifact.

    ``origin`` is the directory of the object carrying the entry (``""`` for site-packages itself).
    """
    # ld.so(8) dynamic string tokens: $ORIGIN or ${ORIGIN}; "$ORIGIN_x" is no token (glibc's
    # is_dst() wants a non-identifier character after the name), so it is a literal directory.
    match = ORIGIN_TOKEN.match(entry)
    if match is None:
        return None  # absolute or relative to the working directory: never inside an installed wheel
    rest = _PLATFORM.sub(arch, entry[match.end() :])
    return join_install_path(origin, rest)


# --- Windows ------------------------------------------------------------------------------------


def _resolve_pe(native: NativeFile, info: BinaryInfo, index: FileIndex) -> Iterable[Dependency]:
    directory = posixpath.dirname(native.install_path)
    delayed = {name.casefold() for name in info.delay_needed}
    for name in info.all_needed:
        yield _resolve_dll(name, directory, info.arch, index, lazy=name.casefold() in delayed)


def _resolve_dll(name: str, directory: str, arch: str, index: FileIndex, *, lazy: bool) -> Dependency:
    from native_doctor.platforms import windows  # the rules of the platforms a run meets only

    if windows.is_python_dll(name):
        return Dependency(name, Resolution.SYSTEM, None, "the Python DLL", lazy)
    if windows.is_provided_by_python(name):
        return Dependency(name, Resolution.SYSTEM, None, "ships with CPython", lazy)
    if windows.is_system_dll(name, arch):
        return Dependency(name, Resolution.SYSTEM, None, "Windows system DLL", lazy)
    found = index.find(directory, name, fold_case=True)
    if found is not None:
        return Dependency(name, Resolution.BUNDLED, found.path, "same directory", lazy)
    for dll_dir in index.dll_directories:
        found = index.find(dll_dir, name, fold_case=True)
        if found is not None:
            return Dependency(name, Resolution.BUNDLED, found.path, f"DLL directory {dll_dir}", lazy)
    return _external(name, index, fold_case=True, lazy=lazy)


# --- macOS --------------------------------------------------------------------------------------


def _resolve_macho_files(files: Sequence[NativeFile], index: FileIndex) -> dict[str, tuple[Dependency, ...]]:
    """Resolve Mach-O files together: an ``@rpath`` may be found through a loader's LC_RPATH."""
    first = {n.path: [_resolve_install_name(n, name, (n,), index) for name in _info(n).needed] for n in files}

    def retry(
        native: NativeFile, dep: Dependency, chain: tuple[NativeFile, ...], _: Mapping[str, list[Dependency]]
    ) -> Dependency:
        if not dep.name.startswith("@rpath/"):
            return dep
        return _resolve_install_name(native, dep.name, (native, *chain), index)

    return _through_loaders(files, first, retry)


def _loader_chain(native: NativeFile, loaders: Mapping[str, list[NativeFile]]) -> tuple[NativeFile, ...]:
    """The image followed by every image that (transitively) loads it, breadth first."""
    seen = {native.path}
    chain = [native]
    queue = deque([(native, 0)])
    while queue:
        current, depth = queue.popleft()
        if depth >= _MAX_LOADER_DEPTH:
            continue
        for loader in loaders.get(current.path, ()):
            if loader.path not in seen:
                seen.add(loader.path)
                chain.append(loader)
                queue.append((loader, depth + 1))
    return tuple(chain)


def _resolve_install_name(
    native: NativeFile, name: str, rpath_owners: Sequence[NativeFile], index: FileIndex
) -> Dependency:
    info = _info(native)
    lazy = name in info.weak_needed
    loader_dir = posixpath.dirname(native.install_path)
    if name.startswith("@loader_path/"):
        return _bundled_or_external(
            name, join_install_path(loader_dir, name[12:]), index, "@loader_path", lazy
        )
    if name.startswith("@rpath/"):
        for owner in rpath_owners:
            for entry in _info(owner).rpath:
                directory = expand_loader_path(entry, posixpath.dirname(owner.install_path))
                if directory is None:
                    continue
                found = index.find(directory, name[7:])
                if found is not None:
                    whose = "" if owner is native else f" of {owner.path}"
                    return Dependency(name, Resolution.BUNDLED, found.path, f"LC_RPATH {entry}{whose}", lazy)
        return _external(name, index, fold_case=False, lazy=lazy, base=name[7:])
    if name.startswith("@executable_path/"):
        return Dependency(
            name, Resolution.EXTERNAL, None, "relative to the executable (python), not the wheel", lazy
        )
    from native_doctor.platforms import macos

    if macos.is_system_library(name):
        return Dependency(name, Resolution.SYSTEM, None, "macOS system library", lazy)
    return _external(name, index, fold_case=False, lazy=lazy, base=posixpath.basename(name))


def expand_loader_path(entry: str, owner_dir: str) -> str | None:
    """The install-path directory an ``@loader_path``-relative LC_RPATH entry names, or None."""
    if entry.startswith("@loader_path"):
        return join_install_path(owner_dir, entry[len("@loader_path") :])
    return None  # absolute, @executable_path or relative: outside the wheel


def _bundled_or_external(name: str, path: str | None, index: FileIndex, how: str, lazy: bool) -> Dependency:
    if path is not None:
        found = index.find(posixpath.dirname(path), posixpath.basename(path))
        if found is not None:
            return Dependency(name, Resolution.BUNDLED, found.path, how, lazy)
    return _external(name, index, fold_case=False, lazy=lazy, base=posixpath.basename(name))


# --- shared -------------------------------------------------------------------------------------


def _external(
    name: str, index: FileIndex, *, fold_case: bool, lazy: bool = False, base: str | None = None
) -> Dependency:
    copies = index.copies(base or name, fold_case=fold_case)
    via = "not found on the search path"
    if copies:
        via += f" (a copy is at {', '.join(copies[:3])}, which the loader does not search)"
    return Dependency(name, Resolution.EXTERNAL, None, via, lazy)


def _info(native: NativeFile) -> BinaryInfo:
    assert native.info is not None  # only readable files are resolved
    return native.info


def _join(directory: str, name: str) -> str | None:
    return join_install_path(directory, f"/{name}") if name else None


def join_install_path(directory: str, rest: str) -> str | None:
    """The install path ``directory`` with ``rest`` appended as text, the way a loader substitutes
    ``$ORIGIN``/``@loader_path`` (``"/../lib"``, ``"/x.libs"``, ``".libs"`` or ``""``); None when
    the result leaves site-packages (``directory`` ``""`` is site-packages itself)."""
    root = "/<site-packages>"
    absolute = posixpath.normpath(f"{root}/{directory}{rest}" if directory else f"{root}{rest}")
    if absolute == root:
        return ""
    return absolute[len(root) + 1 :] if absolute.startswith(root + "/") else None


def _normalize(path: str) -> str | None:
    """Normalize an install path; None when it climbs out of site-packages."""
    if path.startswith("/"):
        return None
    path = posixpath.normpath(path)
    if path == ".." or path.startswith("../"):
        return None
    return "" if path == "." else path
