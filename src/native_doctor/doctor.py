"""Gather what the environment doctor needs: the installed distributions, the host, the binaries'
text markers, a simulation of the loader for each distribution's imports, and (on request) what
really happens when each package is imported in a child process.

This is the orchestration layer: it calls the sources (I/O) and the pure analysis, and returns an
:class:`~native_doctor.environment.EnvironmentInspection`; it never prints.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from native_doctor.binary.model import BinaryInfo
from native_doctor.environment import EnvironmentInspection, ImportPrediction, RuntimeLoad
from native_doctor.model import Artifact
from native_doctor.sources._parallel import share_items, share_order
from native_doctor.sources.env import DiskState, Environment, host_ld_cache, host_libraries, read_environment
from native_doctor.sources.envcache import EnvCache, binary_from_json, binary_to_json, file_key
from native_doctor.sources.envresult import Inputs
from native_doctor.sources.host import HostFacts, read_host_facts
from native_doctor.sources.ldcache import CacheEntry
from native_doctor.sources.loadnames import LoadCall
from native_doctor.sources.markers import BinaryMarkers, markers_from_json, markers_to_json, read_markers
from native_doctor.sources.runtime import ImportProbe, module_of, probe_import, top_level_modules

if TYPE_CHECKING:
    from native_doctor.analysis import Inspection

__all__ = ["examine"]

ProgressCallback = Callable[[int, int], None]
#: Extension modules (what ``import`` dlopen()s), as opposed to the libraries they need.
#: A ``.so`` named with an interpreter tag, or any ``.so`` whose name does not start with ``lib``
#: (``pkg/sub/_ext.so``); vendored libraries (``lib*.so*``, ``*.libs/``) are what extensions need.
_EXTENSION = re.compile(r"\.(?:cpython-[^/]+|abi3)\.so$|(?:^|/)(?!lib)[^/]+\.so$")


def examine(
    directories: Sequence[Path],
    *,
    python: str | None = None,
    runtime: bool = False,
    progress: ProgressCallback | None = None,
    use_cache: bool = True,
    inputs: Inputs | None = None,
    jobs: int = 1,
    prepare: Callable[[], None] | None = None,
    caches: Sequence[EnvCache] | None = None,
) -> EnvironmentInspection:
    """Examine the environment whose site-packages are ``directories``.

    :param python: the interpreter that runs the imports (default: this one).
    :param runtime: also import each top-level package in a child process and record what happens.
    :param use_cache: reuse what an earlier run read from unchanged files (see
        :mod:`native_doctor.sources.envcache`), and store what this run read.
    :param inputs: filled with every folder, file and host file the result depends on (for the
        whole-result cache, :mod:`native_doctor.sources.envresult`); needs ``use_cache``.
    :param jobs: processes that read site-packages at once (Linux; the result does not depend on
        it, see :func:`native_doctor.sources.env.read_environment`).
    :param prepare: called once while forked children read (what the caller needs afterwards,
        such as its imports: done there, it shares the read's two processes).
    :param caches: the scan caches to use, one per directory, which the caller saves (the
        command saves them while it runs the checks); by default each directory's cache in the
        user cache folder (``use_cache``), saved before this returns.
    """
    interpreter = python or sys.executable
    caches, save = (
        (caches, False)
        if caches is not None
        else ([EnvCache(d, enabled=use_cache) for d in directories], True)
    )
    if inputs is not None:
        _record_host(inputs, directories)
        for store in caches:
            store.inputs = inputs
    probe = _start_facts(interpreter)  # the examined interpreter answers while the files are read
    found: dict[str, Any] = {}

    def meanwhile() -> None:
        """What needs no distribution, done while forked children read (or before one reads)."""
        if not found:
            found["host"] = read_host_facts(site_dirs=directories)
            found["cache"] = host_ld_cache()
            found["system"] = host_libraries(found["cache"])
            _import_analysis()
            if prepare is not None:
                prepare()

    try:
        environments = [
            read_environment(d, progress=progress, cache=c, jobs=jobs, meanwhile=meanwhile)
            for d, c in zip(directories, caches, strict=True)
        ]
        meanwhile()  # no directory
        host = _with_conda_meta(_interpreter_facts(found["host"], interpreter, probe))
    finally:
        _stop(probe)
    if inputs is not None and host.prefix:
        inputs.folder(host.prefix)
        inputs.folder(os.path.join(host.prefix, "conda-meta"))  # noqa: PTH118
    cache: list[CacheEntry] = found["cache"]
    system: dict[str, str] = found["system"]
    from packaging.utils import canonicalize_name

    from native_doctor.analysis import inspect_artifact
    from native_doctor.platforms.loader import FileIndex

    inspections: list[Inspection] = []
    simulated: list[tuple[ImportPrediction, ...]] = []

    def analyse() -> None:
        """The static analysis and the loader simulation: done while children scan text markers."""
        for environment in environments:
            index = FileIndex(
                [n for d in environment.distributions for n in d.native],
                [p for d in environment.distributions for p in d.dll_directories],
            )
            for dist in environment.distributions:
                if dist.native:
                    inspections.append(inspect_artifact(dist, index=index, host_libraries=system))
        simulated.append(_predict(environments, interpreter, host, cache, caches, inputs))

    markers, unreadable = _markers(environments, caches, jobs, meanwhile=analyse)
    predictions = simulated[0]
    distributions = [d for e in environments for d in e.distributions]
    for store in caches if save else ():
        store.save()
    inspection = EnvironmentInspection(
        host=host,
        site_packages=tuple(str(d) for d in directories),
        distributions=tuple(inspections),
        versions={str(canonicalize_name(d.name)): d.version for d in distributions},
        top_levels={
            str(canonicalize_name(d.name)): state.top_levels
            if state is not None
            else top_level_modules(d.files)
            for e in environments
            for d, state in zip(e.distributions, _states(e), strict=True)
        },
        predictions=predictions,
        markers=markers,
        installed=tuple(s for e in environments for s in e.states),
        runtime_loads=_resolve_loads(environments, cache, inputs, system),
        conditional_extensions=_conditional(environments, predictions),
        unreadable=tuple(u for e in environments for u in e.unreadable) + tuple(unreadable),
    )
    if not runtime:
        return inspection
    from native_doctor.requirements import unmet_requirements

    unmet = {state.dist_info for state, *_rest in unmet_requirements(inspection)}
    probes = _probe(environments, interpreter, predictions, markers, unmet)
    return dataclasses.replace(inspection, runtime=probes)


def _import_analysis() -> None:
    """The modules the steps after the read use (imported while children read, when they do)."""
    import packaging.utils  # noqa: F401

    import native_doctor.analysis
    import native_doctor.platforms.loader
    import native_doctor.requirements  # noqa: F401


def _absolute(environment: Environment, path: str) -> str:
    return os.path.normpath(environment.site_packages / path)


def _extensions(environment: Environment, dist: Artifact) -> list[str]:
    """The extension modules of ``dist`` that import would dlopen, absolute, in RECORD order."""
    return [
        _absolute(environment, n.install_path)
        for n in dist.native
        if n.info is not None
        and not n.install_path.startswith("../")
        and _EXTENSION.search(n.install_path)
        and ".libs/" not in n.install_path
    ]


def _predict(
    environments: Sequence[Environment],
    python: str,
    host: HostFacts,
    cache: Sequence[CacheEntry],
    stores: Sequence[EnvCache] = (),
    inputs: Inputs | None = None,
) -> tuple[ImportPrediction, ...]:
    """One simulated process per distribution: the interpreter starts, then its extensions load."""
    if not sys.platform.startswith("linux") or host.libc_name == "musl":
        return ()  # the Linux simulation models glibc's ld.so; other loaders are not wired up yet
    from native_doctor.platforms.process_linux import (
        config_from_host,
        loader_diagnostics,
        simulate,
    )

    rtld = host.interpreter_loader or "/lib64/ld-linux-x86-64.so.2"
    config = config_from_host(
        os.environ, diagnostics=loader_diagnostics(rtld), cache_entries=cache, cwd=str(Path.cwd())
    )
    fs = _KnownFiles(environments, stores[0] if stores else None, inputs)
    if inputs is not None:
        inputs.file(rtld)  # ``ld.so --list-diagnostics`` above
    executable = os.path.realpath(python)
    predictions = []
    for environment in environments:
        for dist in environment.distributions:
            extensions = _extensions(environment, dist)
            if extensions:
                report = simulate(executable, extensions, fs, config)
                predictions.append(ImportPrediction(dist.name, dist.path, tuple(extensions), report))
    return tuple(predictions)


#: Libraries whose text markers matter besides extension modules: BLAS and OpenMP runtimes.
_MARKED_LIBRARY = re.compile(r"(?:openblas|gomp|libomp|iomp|mkl_rt|_multiarray_umath)[^/]*$", re.IGNORECASE)


def _markers(
    environments: Sequence[Environment],
    caches: Sequence[EnvCache] = (),
    jobs: int = 1,
    meanwhile: Callable[[], None] | None = None,
) -> tuple[dict[str, BinaryMarkers], list[tuple[str, str]]]:
    """Text markers (NumPy target and CPU baseline, pybind11 ABI, OpenBLAS build, OpenMP runtime)
    of extension modules and of BLAS/OpenMP libraries: where they live. Scanning every library
    byte by byte costs seconds on a torch-sized environment (docs/performance.md).

    With ``jobs`` above 1 (Linux), ``jobs - 1`` children scan the files the scan cache has no
    markers for while this process runs ``meanwhile``; the cache is then asked and filled in file
    order, as one process would. With one job, ``meanwhile`` runs first, then the scan.
    """
    wanted: list[tuple[str, EnvCache | None, int]] = []
    for number, environment in enumerate(environments):
        store = caches[number] if number < len(caches) else None
        for dist in environment.distributions:
            for native in dist.native:
                if _EXTENSION.search(native.install_path) or _MARKED_LIBRARY.search(native.install_path):
                    wanted.append((_absolute(environment, native.install_path), store, native.size))
    keys: list[str | BaseException | None] = []  # the scan-cache key, why there is none, or no cache
    scan: list[int] = []  # the files to scan: not in the cache
    for index, (path, store, _size) in enumerate(wanted):
        key: str | BaseException | None = None
        if store is not None and store.enabled:
            try:
                key = file_key(path, os.stat(path))  # noqa: PTH116 - the key needs the inode
            except OSError as exc:
                key = exc
        keys.append(key)
        if isinstance(key, BaseException):
            continue
        if key is None or _marker_data(store.peek(key) if store is not None else None) is None:
            scan.append(index)
    paths, sizes = [wanted[i][0] for i in scan], [wanted[i][2] for i in scan]
    scanned = dict(zip(scan, _scan_markers(paths, sizes, jobs, meanwhile), strict=True))
    found: dict[str, BinaryMarkers] = {}
    unreadable: list[tuple[str, str]] = []
    for index, ((path, store, _size), key) in enumerate(zip(wanted, keys, strict=True)):
        if isinstance(key, BaseException):
            unreadable.append((path, _not_scanned(key)))
            continue
        cached = _marker_data(store.get(key)) if store is not None and key is not None else None
        markers = scanned[index] if cached is None else cached
        if isinstance(markers, str):
            unreadable.append((path, markers))
            continue
        if cached is None and store is not None and key is not None:
            store.put(key, markers=markers_to_json(markers))
        found[path] = markers
        if store is not None and store.inputs is not None:
            store.inputs.file(path)
    return found, unreadable


def _marker_data(entry: dict[str, Any] | None) -> BinaryMarkers | None:
    """The markers a scan-cache entry holds, or None (none, or not well-formed)."""
    data = entry.get("markers") if entry is not None else None
    if isinstance(data, dict):
        try:
            return markers_from_json(data)
        except ValueError:
            return None
    return None


def _not_scanned(exc: BaseException) -> str:
    return f"text markers not scanned: {getattr(exc, 'strerror', None) or exc}"


def _scan_markers(
    paths: Sequence[str], sizes: Sequence[int], jobs: int, meanwhile: Callable[[], None] | None = None
) -> list[BinaryMarkers | str]:
    """The markers of each file, or why it cannot be read. With ``jobs`` above 1 (Linux),
    ``jobs - 1`` children scan while this process runs ``meanwhile`` (the static analysis and the
    loader simulation), then it scans too, from the other end, until they meet
    (:func:`~native_doctor.sources._parallel.share_items`)."""
    order = share_order(range(len(paths)), sizes)  # the largest first, then the smallest

    def scan(number: int) -> BinaryMarkers | str:
        try:
            return read_markers(paths[order[number]])
        except OSError as exc:
            return _not_scanned(exc)

    def valid(number: int, result: object) -> bool:
        return isinstance(result, BinaryMarkers | str)

    shared = share_items(scan, len(paths), valid, children=jobs - 1, meanwhile=meanwhile)
    results: list[BinaryMarkers | str] = [""] * len(paths)
    for number, index in enumerate(order):
        results[index] = shared[number]
    return results


_FIND_LIBRARY = "ctypes.util.find_library looked in the ld.so cache (ldconfig -p) and LD_LIBRARY_PATH"
_DLOPEN = "dlopen searched LD_LIBRARY_PATH, the ld.so cache and the default directories"


def _resolve_loads(
    environments: Sequence[Environment],
    cache: Sequence[CacheEntry],
    inputs: Inputs | None = None,
    system: dict[str, str] | None = None,
) -> tuple[RuntimeLoad, ...]:
    """Each literal load-by-name call, resolved as ``find_library``/``dlopen`` would on this host
    (Linux; elsewhere nothing is resolved yet)."""
    calls = [(e, s, c) for e in environments for s in e.states for c in s.load_calls]
    if not calls or not sys.platform.startswith("linux"):
        return ()
    import platform

    from native_doctor.sources.ldcache import arch_for_machine

    native = arch_for_machine(platform.machine())
    cached = [entry.name for entry in cache if entry.arch in (native, None)]
    system = host_libraries(cache) if system is None else system
    extra: dict[str, str] = {}
    for folder in (d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d):
        try:
            for name in os.listdir(folder):  # noqa: PTH208 - names only
                extra.setdefault(name, folder)
        except OSError:
            continue
    found: list[RuntimeLoad] = []
    for environment, state, call in calls:
        where, searched = None, _DLOPEN
        for name in call.names:
            if inputs is not None:
                _record_load(inputs, environment, call, name)
            where, searched = _resolve_one(environment, call, name, cached, system, extra)
            if where is not None:
                break
        if searched:
            found.append(RuntimeLoad(state.name, state.version, state.dist_info, call, where, searched))
    return tuple(found)


def _record_load(inputs: Inputs, environment: Environment, call: LoadCall, name: str) -> None:
    """The folders whose listing decides where one load-by-name call resolves (the ld.so cache,
    ``LD_LIBRARY_PATH`` and the default directories are recorded once, by :func:`_record_host`)."""
    if call.mode == "load_library":
        inputs.folder(os.path.dirname(_absolute(environment, call.file)))  # noqa: PTH120
    elif name.startswith("/"):
        inputs.parent(name)


def _record_host(inputs: Inputs, directories: Sequence[Path]) -> None:
    """What every run reads besides the distributions: the host facts, the ld.so cache, the
    default library directories, ``LD_LIBRARY_PATH``, the interpreter's prefix and standard
    library (a virtual environment, conda or EXTERNALLY-MANAGED marker appearing)."""
    import sysconfig

    from native_doctor.sources.env import host_library_candidates
    from native_doctor.sources.ldcache import DEFAULT_PATH

    inputs.host()
    inputs.file(DEFAULT_PATH)
    folders = [os.fspath(d) for d in (*directories, *host_library_candidates())]
    folders += [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    folders += [sys.prefix, os.path.join(sys.prefix, "conda-meta")]  # noqa: PTH118
    folders += [sysconfig.get_paths().get("stdlib") or ""]
    for folder in folders:
        if folder:
            inputs.folder(folder)


def _resolve_one(
    environment: Environment,
    call: LoadCall,
    name: str,
    cached: Sequence[str],
    system: dict[str, str],
    extra: dict[str, str],
) -> tuple[str | None, str]:
    """(where ``name`` resolves or None, the search in words); an empty search: not decidable."""
    if call.mode == "load_library":
        folder = os.path.dirname(_absolute(environment, call.file))  # noqa: PTH120
        import sysconfig

        _stem, ext = os.path.splitext(name)  # noqa: PTH122
        candidates = (
            [name] if ext else [name + str(sysconfig.get_config_var("EXT_SUFFIX") or ""), name + ".so"]
        )
        for candidate in candidates:
            path = os.path.join(folder, candidate)  # noqa: PTH118
            if os.path.isfile(path):  # noqa: PTH113
                return path, ""
        return None, f"numpy.ctypeslib.load_library looked for {', '.join(candidates)} in {folder}"
    if call.mode == "find_library":
        if "/" in name:
            return None, _FIND_LIBRARY
        prefix = f"lib{name}."
        for library in (*cached, *extra):
            if library.startswith(prefix) and ".so" in library:
                return library, _FIND_LIBRARY
        return None, _FIND_LIBRARY
    if "/" in name:
        if not name.startswith("/"):
            return None, ""  # relative to the working directory: cannot be decided here
        return (name if os.path.isfile(name) else None), f"dlopen opens {name} as given"  # noqa: PTH113
    if name in extra:
        return os.path.join(extra[name], name), _DLOPEN  # noqa: PTH118
    if name in system:
        return os.path.join(system[name], name), _DLOPEN  # noqa: PTH118
    return None, _DLOPEN


def _conditional(
    environments: Sequence[Environment], predictions: Sequence[ImportPrediction]
) -> frozenset[str]:
    """The failing extension modules whose package imports them only conditionally: every import
    statement naming them (in the distribution's Python files) is inside a function or a ``try``
    with handlers (numba's optional ``tbbpool`` threading layer needs a libtbb nobody installs)."""
    failing: dict[str, list[str]] = {}
    for prediction in predictions:
        for extension, result in zip(prediction.extensions, prediction.report.extensions, strict=False):
            if not result.ok:
                failing.setdefault(prediction.dist_info, []).append(extension)
    if not failing:
        return frozenset()
    found: set[str] = set()
    for environment in environments:
        site = os.fspath(environment.site_packages)
        for dist in environment.distributions:
            for extension in failing.get(dist.path, []):
                module = module_of(os.path.relpath(extension, site))
                if module is not None and _imported_conditionally(site, dist.files, module):
                    found.add(extension)
    return frozenset(found)


def _imported_conditionally(site: str, files: Sequence[str], module: str) -> bool:
    from native_doctor.sources._file import open_regular
    from native_doctor.sources.loadnames import MAX_SOURCE, conditional_modules

    def sources() -> Iterator[tuple[str, bytes]]:
        for path in files:
            if not path.endswith(".py") or path.startswith("../") or "/tests/" in path:
                continue
            try:
                with open_regular(os.path.join(site, path)) as handle:  # noqa: PTH118
                    yield path, handle.read(MAX_SOURCE + 1) or b""
            except OSError:
                continue

    return module in conditional_modules(sources(), [module])


class _KnownFiles:
    """The loader simulation's file system: binaries the environment read already are not read
    again; others (the interpreter, system libraries) come from the scan cache while unchanged."""

    def __init__(
        self, environments: Sequence[Environment], store: EnvCache | None, inputs: Inputs | None = None
    ) -> None:
        from native_doctor.platforms.process_linux import RealFileSystem

        self._real = RealFileSystem()
        self._store = store
        #: Every path asked about outside the environment: its folder's listing decides the answer.
        self._inputs = inputs
        self._known: dict[str, BinaryInfo | None] = {}
        self._exists: dict[str, bool] = {}
        self._realpaths: dict[str, str] = {}
        for environment in environments:
            for dist in environment.distributions:
                for native in dist.native:
                    if native.info is not None:
                        self._known[_absolute(environment, native.install_path)] = native.info

    def exists(self, path: str) -> bool:
        if path in self._known:
            return True
        found = self._exists.get(path)
        if found is None:
            found = self._exists[path] = self._real.exists(path)
            if self._inputs is not None:
                self._inputs.parent(path)
        return found

    def realpath(self, path: str) -> str:
        found = self._realpaths.get(path)
        if found is None:
            found = self._realpaths[path] = self._resolve(path)
            if self._inputs is not None:
                self._inputs.link(path)  # its folders are resolved through this method too
        return found

    def _resolve(self, path: str) -> str:
        """``os.path.realpath``, from the memoized real path of the folder when the last part is
        no link (one ``lstat`` per file instead of one per part of its path)."""
        folder, _, name = path.rpartition("/")
        if folder.startswith("/") and name not in ("", ".", ".."):
            try:
                link = stat.S_ISLNK(os.lstat(path).st_mode)
            except OSError:
                link = True  # missing or unreadable: the general rule decides
            if not link:
                return self.realpath(folder).rstrip("/") + "/" + name
        return self._real.realpath(path)

    def binary(self, path: str) -> BinaryInfo | None:
        if path in self._known:
            return self._known[path]
        real = self.realpath(path)
        if real in self._known:
            return self._known[real]
        info = self._from_store(real)
        self._known[real] = info
        if self._inputs is not None:
            self._inputs.file(real)
        return info

    def _from_store(self, real: str) -> BinaryInfo | None:
        if self._store is None or not self._store.enabled:
            return self._real.binary(real)
        try:
            key = file_key(real, os.stat(real))  # noqa: PTH116 - the key needs the inode
        except OSError:
            return None
        entry = self._store.get(key)
        if entry is not None and "binary" in entry:
            data = entry["binary"]
            if data is None:
                return None
            try:
                return binary_from_json(data)
            except ValueError:
                pass
        info = self._real.binary(real)
        self._store.put(key, binary=None if info is None else binary_to_json(info))
        return info


#: At most this many child imports per run (each starts an interpreter).
_MAX_PROBES = 300


def _probe(
    environments: Sequence[Environment],
    python: str,
    predictions: Sequence[ImportPrediction] = (),
    markers: Mapping[str, BinaryMarkers] | None = None,
    unmet: Collection[str] = (),
) -> tuple[ImportProbe, ...]:
    """Import, each in a child process: the top-level packages of every distribution with extension
    modules or with missing files, and every module the static picture flags (an extension the
    simulation fails to load or built for NumPy 1.x, a module loading a library by name) and, for
    a distribution with an unmet requirement (``unmet``: ``.dist-info`` paths), each subpackage
    holding extension modules (``scipy.linalg``: ``import scipy`` alone may load none of them)."""
    from packaging.utils import canonicalize_name

    modules: dict[str, None] = {}
    for environment in environments:
        for dist, state in zip(environment.distributions, _states(environment), strict=False):
            if _extensions(environment, dist) or (state is not None and state.missing):
                modules.update(dict.fromkeys(top_level_modules(dist.files)))
            if dist.path in unmet:
                modules.update(dict.fromkeys(_subpackages_with_extensions(dist)))
            if state is not None:
                for call in state.load_calls:
                    found = module_of(call.file)
                    if found:
                        modules.setdefault(found, None)
            if canonicalize_name(dist.name) == "numpy":
                continue  # NumPy's own modules name numpy.core: not a NumPy-1.x build of a user
            for native in dist.native:
                if "test" in native.install_path.rpartition("/")[2]:
                    continue  # test-only extension modules may refuse a plain import
                marked = (markers or {}).get(_absolute(environment, native.install_path))
                if marked is not None and marked.numpy_abi == "1.x":
                    found = module_of(native.install_path)
                    if found:
                        modules.setdefault(found, None)
    for prediction in predictions:
        site = os.path.dirname(prediction.dist_info)  # noqa: PTH120
        for extension, result in zip(prediction.extensions, prediction.report.extensions, strict=False):
            if not result.ok:
                found = module_of(os.path.relpath(extension, site))
                if found:
                    modules.setdefault(found, None)
    chosen = sorted(modules)[:_MAX_PROBES]
    return tuple(probe_import(module, python=python) for module in chosen)


def _subpackages_with_extensions(dist: Artifact, limit: int = 12) -> list[str]:
    """``top.sub`` for each second-level package that holds extension modules, at most ``limit``."""
    found: dict[str, None] = {}
    for native in dist.native:
        if _EXTENSION.search(native.install_path):
            module = module_of(native.install_path.rpartition("/")[0] + "/__init__.py")
            if module and module.count(".") >= 1:
                found.setdefault(".".join(module.split(".")[:2]), None)
    return list(found)[:limit]


def _states(environment: Environment) -> list[DiskState | None]:
    """The disk state of each distribution of ``environment``, in the same order (None: unowned)."""
    by_path = {state.dist_info: state for state in environment.states}
    return [by_path.get(dist.path) for dist in environment.distributions]


def _with_conda_meta(host: HostFacts) -> HostFacts:
    """Count the packages conda installed (``<prefix>/conda-meta/*.json``) beside the INSTALLER files."""
    if not host.prefix:
        return host
    meta = Path(host.prefix) / "conda-meta"
    count = sum(1 for _ in meta.glob("*.json")) if meta.is_dir() else 0
    if not count:
        return host

    return dataclasses.replace(host, installers={**host.installers, "conda (conda-meta)": count})


def _start_facts(python: str) -> subprocess.Popen[str] | None:
    """Start asking ``python`` for its facts (collected by :func:`_interpreter_facts`), unless it
    is this interpreter or was asked already; None then, or when it cannot be started."""
    from native_doctor.sources.sites import FACTS_SCRIPT, INTERPRETER_FACTS, start_probe

    # Not realpath: two venvs' pythons are links to one base interpreter, yet different environments.
    if Path(python).absolute() == Path(sys.executable).absolute() or python in INTERPRETER_FACTS:
        return None
    try:
        return start_probe(python, FACTS_SCRIPT)
    except OSError:
        return None


def _interpreter_facts(host: HostFacts, python: str, probe: subprocess.Popen[str] | None = None) -> HostFacts:
    """``host`` with the Python facts of ``python`` (when it is another interpreter than this one).

    :param probe: the question :func:`_start_facts` started (else it is asked here).
    """
    if Path(python).absolute() == Path(sys.executable).absolute():
        return host
    import json

    from native_doctor.sources.env import INTERPRETER_FACTS

    facts: dict[str, Any] | None = INTERPRETER_FACTS.get(python)
    if facts is None:
        probe = probe or _start_facts(python)
        if probe is None:
            return host
        try:
            out, _ = probe.communicate(timeout=60)
            facts = json.loads(out)
        except (OSError, subprocess.SubprocessError, ValueError):
            return host
        finally:
            _stop(probe)
    if not isinstance(facts, dict) or not isinstance(facts.get("prefix"), str):
        return host
    kind = "venv" if facts["prefix"] != facts["base_prefix"] else host.environment_kind
    if Path(facts["prefix"], "conda-meta").is_dir():
        kind = "conda"
    elif facts["prefix"] == facts["base_prefix"]:
        kind = "system"
    return dataclasses.replace(host, environment_kind=kind, **facts)


def _stop(probe: subprocess.Popen[str] | None) -> None:
    """End ``probe`` if it still runs, and reap it."""
    if probe is not None and probe.poll() is None:
        probe.kill()
        probe.wait()
