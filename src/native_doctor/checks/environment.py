"""Environment checks (ND7xx): what the loader simulation, the host and the binaries' markers
predict for imports in the installed environment.

Every check is pure over an :class:`~native_doctor.environment.EnvironmentInspection`: the
per-distribution static inspections, the per-distribution loader simulations
(``predictions``), the binaries' text markers and the host facts. Findings about one
distribution name its ``.dist-info`` directory as the artifact; findings about the environment
as a whole (duplicate runtimes, mixed CUDA, environment variables) name a site-packages
directory.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from native_doctor.binary.model import FileKind
from native_doctor.checks import dependencies as deps
from native_doctor.checks.registry import Finding, Severity, register_environment
from native_doctor.model import NativeFile, Resolution
from native_doctor.platforms import linux, macos
from native_doctor.requirements import matching_requirement
from native_doctor.sources.host import max_cuda_for_driver
from native_doctor.sources.runtime import module_of

if TYPE_CHECKING:
    from native_doctor.analysis import Inspection
    from native_doctor.environment import EnvironmentInspection, ImportPrediction
    from native_doctor.platforms.process_linux import LoadResult, ProcessReport
    from native_doctor.platforms.process_linux import Resolution as LoadResolution
    from native_doctor.sources.runtime import ImportProbe

__all__ = ["gcc_for_glibcxx", "numpy_level"]

_LIMIT = 5


# --------------------------------------------------------------------------- shared helpers


@dataclass(frozen=True, slots=True)
class _Owned:
    """A native file of an installed distribution."""

    inspection: Inspection
    native: NativeFile
    absolute: str

    @property
    def distribution(self) -> str:
        return self.inspection.artifact.name


def _norm(path: str) -> str:
    return posixpath.normpath(path) if path.startswith("/") else path


#: The last environment :func:`_files` indexed, and its index: every check asks for the same one.
_LAST_INDEX: list[tuple[EnvironmentInspection, dict[str, _Owned]]] = []


def _files(env: EnvironmentInspection) -> dict[str, _Owned]:
    """Every distribution's native file by normalized absolute path (callers must not change it)."""
    if _LAST_INDEX and _LAST_INDEX[0][0] is env:
        return _LAST_INDEX[0][1]
    index = _index_files(env)
    _LAST_INDEX[:] = [(env, index)]
    return index


def _index_files(env: EnvironmentInspection) -> dict[str, _Owned]:
    index: dict[str, _Owned] = {}
    for inspection in env.distributions:
        site = posixpath.dirname(_norm(inspection.artifact.path))
        for native in inspection.artifact.native:
            plain = _norm(posixpath.join(site, native.path))
            owned = _Owned(inspection, native, plain)
            index.setdefault(plain, owned)
            index.setdefault(_norm(env.absolute(inspection, native.path)), owned)
    return index


def _by_name(index: Mapping[str, _Owned]) -> dict[str, list[_Owned]]:
    """Native files by the names the loader knows them under: base name and SONAME."""
    names: dict[str, list[_Owned]] = {}
    for owned in {id(o): o for o in index.values()}.values():
        keys = {posixpath.basename(owned.native.path)}
        info = owned.native.info
        if info is not None and info.soname:
            keys.add(info.soname)
        for key in keys:
            names.setdefault(key, []).append(owned)
    return names


def _show(path: str | None, index: Mapping[str, _Owned]) -> str:
    """A path as a user recognizes it: the RECORD path (and distribution) when it is installed."""
    if not path:
        return "the interpreter"
    owned = index.get(_norm(path))
    return f"{owned.native.path} ({owned.distribution})" if owned is not None else path


def _list(items: Iterable[str], limit: int = _LIMIT) -> str:
    shown = list(dict.fromkeys(items))
    text = ", ".join(shown[:limit])
    return text + (f" and {len(shown) - limit} more" if len(shown) > limit else "")


def _site(env: EnvironmentInspection, path: str | None = None) -> str:
    """The site-packages directory holding ``path`` (default: the first one examined)."""
    if path:
        for site in env.site_packages:
            if _norm(path).startswith(_norm(site).rstrip("/") + "/"):
                return site
    if env.site_packages:
        return env.site_packages[0]
    return env.host.prefix or "environment"


def _canonical_versions(env: EnvironmentInspection) -> dict[str, str]:
    return {str(canonicalize_name(name)): version for name, version in env.versions.items()}


def _results(prediction: ImportPrediction) -> Iterator[tuple[str, LoadResult]]:
    """(extension path, its load result) for each extension the simulation loaded."""
    yield from zip(prediction.extensions, prediction.report.extensions, strict=False)


def _all_resolutions(report: ProcessReport) -> Iterator[tuple[int, LoadResolution]]:
    """Every resolution of the process, with the index of its load (-1: interpreter start-up)."""
    for resolution in report.executable.resolutions:
        yield -1, resolution
    for number, result in enumerate(report.extensions):
        for resolution in result.resolutions:
            yield number, resolution


def _mappings(report: ProcessReport) -> dict[str, tuple[int, LoadResolution]]:
    """Normalized path -> the resolution that first mapped it (not a reuse), and the load it was in."""
    first: dict[str, tuple[int, LoadResolution]] = {}
    for number, resolution in _all_resolutions(report):
        if resolution.path is not None and resolution.how != "already loaded":
            first.setdefault(_norm(resolution.path), (number, resolution))
    return first


#: Extension-module file names (``x.cpython-312-x86_64-linux-gnu.so``, ``x.abi3.so``, ``x.pyd``).
_EXTENSION = re.compile(r"\.(?:cpython-[^/]*|abi3|pypy[^/]*|cp\d+[^/.]*)\.(?:so|pyd)$|\.pyd$", re.IGNORECASE)


def _is_extension(path: str) -> bool:
    return _EXTENSION.search(path) is not None


# --------------------------------------------------------------------------- ND701


@register_environment(
    "ND701",
    "import-will-fail",
    Severity.ERROR,
    summary="Importing an extension module will fail: a library it needs is found nowhere.",
    what=(
        "The loader simulation of each distribution's extension modules, started from this interpreter "
        "with this process's LD_LIBRARY_PATH, LD_PRELOAD, ld.so cache and default directories: every "
        "needed library (DT_NEEDED, direct or indirect) that no search step finds, or finds only as a file "
        "of the wrong ELF class or no ELF at all. The finding names the distribution, the extension, the "
        "missing library, the object that needs it, and the directories that were searched; when a copy "
        "exists elsewhere in the environment or a known distribution provides it, it says so. Linux "
        "distributions the simulation does not load (no extension modules, e.g. `nvidia-*` library "
        "wheels) are checked statically: a needed library that neither the environment nor the host has."
    ),
    why=(
        "The import raises before any Python code of the package runs: "
        '"ImportError: libcudart.so.12: cannot open shared object file: No such file or directory". '
        "Typical causes: a dependency wheel was uninstalled or is of another CUDA major, a locally built "
        "package links a system library that was removed or upgraded (a new SONAME), or the package expects "
        "LD_LIBRARY_PATH to be set (a conda environment used without activation)."
    ),
    fix=(
        "Install what provides the library: the distribution named in the finding (e.g. "
        "`pip install nvidia-cuda-runtime-cu12`), the system package (`apt-file search libfoo.so.1`, "
        "`dnf provides '*/libfoo.so.1'`), or reinstall the failing package from a wheel that bundles "
        "its libraries (`pip install --force-reinstall --only-binary :all: PKG`). When a copy exists in "
        "the environment but is not on the search path, install matching versions of the two "
        "distributions so that the RPATH of one reaches the other."
    ),
    page="native-dependencies",
    references=(
        "https://man7.org/linux/man-pages/man8/ld.so.8.html",
        "https://pypackaging-native.github.io/key-issues/native-dependencies/",
    ),
)
def import_will_fail(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per distribution and library that cannot be mapped."""
    yield from _unloadable(env)
    index = _files(env)
    names = _by_name(index)
    for prediction in env.predictions:
        failures: dict[str, tuple[LoadResolution, list[str]]] = {}
        for extension, result in _results(prediction):
            if result.ok:
                continue
            for resolution in result.resolutions:
                if resolution.error is None or resolution.path is not None:
                    continue
                entry = failures.setdefault(resolution.name, (resolution, []))
                entry[1].append(extension)
        for name, (resolution, extensions) in sorted(failures.items()):
            first = extensions[0]
            more = f" (and {len(extensions) - 1} more extension module(s))" if len(extensions) > 1 else ""
            searched = _list(resolution.searched, 8) if resolution.searched else "no directory"
            if all(_norm(e) in env.conditional_extensions for e in extensions):
                yield dataclasses.replace(
                    import_will_fail.finding(
                        f"{_show(first, index)}{more} cannot be loaded ({name} is found nowhere; searched "
                        f"{searched}), but {prediction.distribution} imports it only conditionally (in a "
                        "function or a try/except): an optional part, e.g. a threading layer or an "
                        f"accelerator. `import` of the package is not affected; the feature that needs it "
                        f"is. {_missing_fix(name, prediction, names, env)}",
                        prediction.dist_info,
                        _member(first, index),
                        name,
                    ),
                    severity=Severity.INFO,
                )
                continue
            yield import_will_fail.finding(
                f"importing {_show(first, index)}{more} will fail: ImportError: {resolution.error}. "
                f"{name} is needed by {_show(resolution.requested_by, index)}; searched {searched} and the "
                f"ld.so cache. {_missing_fix(name, prediction, names, env)}",
                prediction.dist_info,
                _member(first, index),
                name,
            )


def _unloadable(env: EnvironmentInspection) -> Iterator[Finding]:
    """Static fallback for Linux distributions the simulation did not load (no extension modules
    detected): needed libraries that neither the environment nor the host provides."""
    if env.host.os_name != "Linux":
        return
    simulated = {_norm(p.dist_info) for p in env.predictions}
    for inspection in env.distributions:
        artifact = inspection.artifact
        if _norm(artifact.path) in simulated:
            continue
        for binary in inspection.binaries:
            info = binary.native.info
            if info is None or info.format.value != "elf":
                continue
            for dep in binary.dependencies:
                if dep.resolution is not Resolution.EXTERNAL or dep.lazy:
                    continue
                provider = deps.provided_by(dep.name, "linux")
                if provider is not None:
                    fix = f"`pip install {provider.distribution}` (it provides {dep.name})"
                elif deps.is_driver_library(dep.name):
                    fix = f"{dep.name} comes with the GPU driver: install it, or run where one is present"
                elif deps.unhashed_name(dep.name) != dep.name:
                    fix = (
                        f"`pip install --force-reinstall --no-deps {artifact.name}` (a vendored copy is gone)"
                    )
                else:
                    fix = (
                        f"install the system package that provides {dep.name} "
                        f"(`apt-file search {dep.name}`), or reinstall {artifact.name} from a wheel "
                        "that bundles it"
                    )
                yield import_will_fail.finding(
                    f"{binary.native.path} ({artifact.name} {artifact.version}) cannot be loaded: it needs "
                    f"{dep.name}, which neither the environment nor this host provides ({dep.via}); any "
                    f"import that loads it fails with ImportError: {dep.name}: cannot open shared object "
                    f"file: No such file or directory. Fix: {fix}.",
                    artifact.path,
                    binary.native.path,
                    dep.name,
                )


def _member(path: str, index: Mapping[str, _Owned]) -> str:
    owned = index.get(_norm(path))
    return owned.native.path if owned is not None else path


def _missing_fix(
    name: str, prediction: ImportPrediction, names: Mapping[str, list[_Owned]], env: EnvironmentInspection
) -> str:
    if deps.unhashed_name(name) != name:
        # A repair tool's hash-named copy (libjpeg-6dc8d115.so.62.4.0) exists only inside the wheel
        # that vendored it: no system package provides it, reinstalling the wheel does.
        owner = next(
            (s for s in env.installed if any(posixpath.basename(m) == name for m in s.missing)), None
        )
        dist = owner.name if owner is not None else prediction.distribution
        return (
            f"{name} is a copy vendored into {dist}'s wheel (its hashed name is a repair tool's), and "
            f"it is gone. Fix: `pip install --force-reinstall --no-deps {dist}`."
        )
    copies = names.get(name, [])
    if copies:
        where = _list(f"{c.native.path} ({c.distribution} {c.inspection.artifact.version})" for c in copies)
        return (
            f"A copy is installed at {where}, but no search path of the requesting object reaches it: "
            f"install versions of {prediction.distribution} and "
            f"{copies[0].distribution} that go together (their RPATH layouts must match)."
        )
    provider = deps.provided_by(name, "linux")
    if provider is not None:
        return f"Fix: `pip install {provider.distribution}` (it provides {name})."
    if deps.is_driver_library(name):
        return (
            f"Fix: {name} comes with the GPU driver: install the NVIDIA driver, or run on a machine with one."
        )
    return (
        f"Fix: install the system package that provides {name} (`apt-file search {name}`, "
        f"`dnf provides '*/{name}'`), or reinstall {prediction.distribution} from a wheel that bundles it "
        f"(`pip install --force-reinstall --only-binary :all: {prediction.distribution}`)."
    )


# --------------------------------------------------------------------------- ND702

#: The GCC release whose libstdc++ first defines each GLIBCXX_3.4.N (libstdc++ manual, "ABI Policy
#: and Guidelines", history of symbol versions).
_GLIBCXX_GCC = {
    19: "4.8.3",
    20: "4.9",
    21: "5",
    22: "6",
    23: "7.1",
    24: "7.2",
    25: "8",
    26: "9.1",
    27: "9.2",
    28: "9.3",
    29: "11",
    30: "12",
    31: "13.1",
    32: "13.2",
    33: "14",
    34: "15",
}
_GLIBCXX = re.compile(r"^GLIBCXX_3\.4\.(\d+)$")


def gcc_for_glibcxx(version: str) -> str | None:
    """The GCC release whose libstdc++ defines ``version`` (``GLIBCXX_3.4.30`` -> ``"12"``), or None."""
    match = _GLIBCXX.match(version)
    return _GLIBCXX_GCC.get(int(match.group(1))) if match else None


def _how_text(
    resolution: LoadResolution, number: int, report: ProcessReport, index: Mapping[str, _Owned]
) -> str:
    how = resolution.how
    if how == "LD_LIBRARY_PATH":
        text = f"found first through LD_LIBRARY_PATH (in {posixpath.dirname(resolution.path or '')})"
    elif how == "LD_PRELOAD":
        text = "forced into the process by LD_PRELOAD"
    elif how.startswith("RPATH of "):
        owner = how.removeprefix("RPATH of ")
        if owner == report.executable.requested or (
            report.executable.object is not None and owner == report.executable.object.path
        ):
            text = f"found through the interpreter's RPATH ({owner}; conda's python carries $ORIGIN/../lib)"
        else:
            text = f"found through the RPATH of {_show(owner, index)}"
    elif how == "RUNPATH":
        text = f"found through the RUNPATH of {_show(resolution.requested_by, index)}"
    elif how in ("ld.so cache", "default path"):
        text = f"the system copy, found through the {how}"
    else:
        text = f"found by {how}"
    if number < 0:
        text += ", at interpreter start-up, so every later import reuses it (the first loaded copy wins)"
    elif 0 <= number < len(report.extensions):
        text += f", while loading {_show(report.extensions[number].requested, index)}"
    return text


@register_environment(
    "ND702",
    "symbol-version-not-found",
    Severity.ERROR,
    summary="The library that will be loaded lacks a symbol version an extension needs (GLIBCXX_, GLIBC_).",
    what=(
        "After the simulated loader has chosen a file for every needed library, each object's "
        "`.gnu.version_r` needs against the chosen provider's version definitions. The finding names the "
        "copy that wins and how it won (LD_LIBRARY_PATH, the interpreter's RPATH as in conda, the ld.so "
        "cache, an earlier import that loaded it first), the objects that need the missing version, the GCC "
        "release that first defines a missing GLIBCXX_ version, and any installed copy that does define it."
    ),
    why=(
        'The import fails: "ImportError: /home/u/.conda/envs/llm/bin/../lib/libstdc++.so.6: version '
        "`GLIBCXX_3.4.30' not found (required by .../site-packages/..._ext.cpython-311-x86_64-linux-gnu.so)\""
        ' or "/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.34\' not found". The first libstdc++.so.6 '
        "loaded serves the whole process, so conda's older copy (found through python's RPATH) or one "
        "found through LD_LIBRARY_PATH beats the newer one a wheel was built against; which import runs "
        "first can decide it."
    ),
    fix=(
        "Make a copy that defines the version the one that loads: in conda, `conda install -c conda-forge "
        "'libstdcxx>=N'` (older channels: `libstdcxx-ng`) with N the GCC release the finding names; remove "
        "directories holding old copies from LD_LIBRARY_PATH; never copy or symlink the system "
        "libstdc++.so.6 into the environment (it can crash in other ways). For GLIBC_ versions, install a "
        "build whose manylinux tag fits this host's glibc, or use a newer OS or base image."
    ),
    page="abi-and-symbol-versions",
    references=(
        "https://gcc.gnu.org/onlinedocs/libstdc++/manual/abi.html",
        "https://github.com/ztxz16/fastllm/issues/301",
        "https://github.com/conda-forge/ctng-compilers-feedstock",
    ),
)
def symbol_version_not_found(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per provider that lacks versions (one old libstdc++ on LD_LIBRARY_PATH is one
    cause, however many distributions it breaks), naming every distribution that fails."""
    index = _files(env)
    names = _by_name(index)
    groups: dict[tuple[str, str], _VersionGroup] = {}
    for prediction in env.predictions:
        mappings = _mappings(prediction.report)
        for _extension, result in _results(prediction):
            for failure in result.version_failures:
                group = groups.setdefault(
                    (failure.provider_path, failure.library),
                    _VersionGroup(failure.provider_path, failure.library),
                )
                group.add(prediction, failure.version, failure.required_by)
                mapped = mappings.get(_norm(failure.provider_path))
                if group.how is None and mapped is not None:
                    group.how = _how_text(mapped[1], mapped[0], prediction.report, index)
                    group.resolution = mapped[1]
    for (provider, library), group in sorted(groups.items()):
        versions = sorted(group.versions, key=_version_key)
        newest = versions[-1]
        required = group.required
        dists = list(group.distributions)
        who = _list(dists) + (f" ({len(dists)} distributions)" if len(dists) > 1 else "")
        message = (
            f"importing {who} will fail: {provider}: version `{newest}' not found "
            f"(required by {_show(required[0], index)}"
            + (f" and {len(set(required)) - 1} more" if len(set(required)) > 1 else "")
            + ")"
            + (f"; it lacks {', '.join(versions)}" if len(versions) > 1 else "")
            + f". The {library} that wins is {provider}, {group.how or 'already loaded'}."
        )
        better = [
            o
            for o in names.get(library, [])
            if o.native.info is not None and newest in o.native.info.version_definitions
        ]
        if better:
            message += f" An installed copy that defines {newest}: {_show(better[0].absolute, index)}."
        message += " " + _version_fix(env, newest, library, group.resolution)
        artifact = group.dist_infos[0] if len(group.dist_infos) == 1 else _site(env, provider)
        yield symbol_version_not_found.finding(message, artifact, _member(required[0], index), newest)


@dataclass(slots=True)
class _VersionGroup:
    """Everything one provider lacks, across the simulated imports."""

    provider: str
    library: str
    versions: set[str] = dataclasses.field(default_factory=set)
    required: list[str] = dataclasses.field(default_factory=list)
    distributions: dict[str, None] = dataclasses.field(default_factory=dict)
    dist_infos: list[str] = dataclasses.field(default_factory=list)
    how: str | None = None
    resolution: LoadResolution | None = None

    def add(self, prediction: ImportPrediction, version: str, required_by: str) -> None:
        self.versions.add(version)
        self.required.append(required_by)
        if prediction.distribution not in self.distributions:
            self.distributions[prediction.distribution] = None
            self.dist_infos.append(prediction.dist_info)


def _version_key(version: str) -> tuple[str, tuple[int, ...]]:
    """``GLIBCXX_3.4.30`` -> ("GLIBCXX", (3, 4, 30)): versions sort by number, not text."""
    prefix, _, number = version.rpartition("_")
    try:
        return prefix, tuple(int(p) for p in number.split("."))
    except ValueError:
        return version, ()


def _version_fix(
    env: EnvironmentInspection, version: str, library: str, resolution: LoadResolution | None
) -> str:
    parts: list[str] = []
    if resolution is not None and resolution.how == "LD_LIBRARY_PATH":
        parts.append(f"remove {posixpath.dirname(resolution.path or '')} from LD_LIBRARY_PATH")
    gcc = gcc_for_glibcxx(version)
    if gcc is not None or version.startswith(("CXXABI_", "GCC_")) or library.startswith("libstdc++"):
        need = f" from GCC >= {gcc}" if gcc else ""
        if env.host.environment_kind == "conda" or (env.host.env_vars.get("CONDA_PREFIX")):
            floor = gcc.split(".")[0] if gcc else "N"
            parts.append(
                f"`conda install -c conda-forge 'libstdcxx>={floor}'` (libstdcxx-ng on older channels)"
            )
        else:
            parts.append(f"make a libstdc++{need} the one that loads first")
        parts.append("do not copy the system libstdc++.so.6 into the environment")
    elif version.startswith("GLIBC_"):
        host = env.host.libc_version or "unknown"
        parts.append(
            f"this host's glibc is {host}: install a build whose manylinux tag fits it "
            "(`pip install --force-reinstall --only-binary :all: PKG` picks one), or use a newer OS"
        )
    else:
        parts.append(f"make a {library} that defines {version} the copy that loads first")
    return "Fix: " + "; ".join(parts) + "."


# --------------------------------------------------------------------------- ND703


@register_environment(
    "ND703",
    "ld-library-path-shadows-bundled",
    Severity.WARNING,
    summary="LD_LIBRARY_PATH or LD_PRELOAD supplies a library that an installed distribution ships itself.",
    what=(
        "Libraries the simulated loader took from an LD_LIBRARY_PATH directory or from LD_PRELOAD while the "
        "requesting object's own search path (its RUNPATH, which ld.so searches only after "
        "LD_LIBRARY_PATH) would have reached a copy installed in site-packages, e.g. a system CUDA "
        "toolkit's libnvJitLink.so.12 taken instead of the nvidia-nvjitlink-cu12 wheel's copy."
    ),
    why=(
        "The outside copy is a different build than the one the package was tested with. With CUDA the "
        "result is an import error or a crash on first use: "
        '"libcusparse.so.12: undefined symbol: __nvJitLinkAddData_12_1, version libnvJitLink.so.12" '
        '(system CUDA 12.1 on LD_LIBRARY_PATH, wheels from 12.4), or "cuDNN version incompatibility: '
        "PyTorch was compiled against (8, 7, 0) but found runtime version (8, 2, 4) ... there is a "
        'conflicting cuDNN in LD_LIBRARY_PATH".'
    ),
    fix=(
        "Remove the directory from LD_LIBRARY_PATH (or unset it) for this Python, e.g. drop "
        "`/usr/local/cuda/lib64` from the shell profile or the container's ENV, and let the wheels' "
        "RUNPATH find their own copies; drop the LD_PRELOAD entry. If the outside copy is needed by "
        "other programs, set LD_LIBRARY_PATH only for those."
    ),
    page="native-dependencies",
    references=(
        "https://github.com/pytorch/pytorch/issues/111469",
        "https://man7.org/linux/man-pages/man8/ld.so.8.html",
    ),
)
def ld_library_path_shadows_bundled(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per distribution, requesting object and shadowed library."""
    index = _files(env)
    for prediction in env.predictions:
        report = prediction.report
        mappings = _mappings(report)
        seen: set[tuple[str, str]] = set()
        for number, resolution in _all_resolutions(report):
            if number < 0 or resolution.path is None:
                continue
            mapped = mappings.get(_norm(resolution.path))
            if mapped is None or mapped[1].how not in ("LD_LIBRARY_PATH", "LD_PRELOAD"):
                continue
            key = (resolution.requested_by, resolution.name)
            if key in seen:
                continue
            requester = index.get(_norm(resolution.requested_by))
            if requester is None:
                continue
            copy = _own_copy(env, requester, resolution.name, index)
            if copy is None or copy.absolute == _norm(resolution.path):
                continue
            seen.add(key)
            how = mapped[1].how
            where = (
                f"LD_LIBRARY_PATH ({posixpath.dirname(resolution.path)})" if how == "LD_LIBRARY_PATH" else how
            )
            yield ld_library_path_shadows_bundled.finding(
                f"{requester.native.path} ({requester.distribution}) needs {resolution.name}; {where} "
                f"supplies {resolution.path}, ahead of the copy {copy.native.path} ({copy.distribution} "
                f"{copy.inspection.artifact.version}) that its own search path reaches. A different build is "
                f'loaded than {prediction.distribution} was tested with (e.g. "undefined symbol: '
                f'__nvJitLinkAddData_12_1, version libnvJitLink.so.12"). Fix: '
                + (
                    f"remove {posixpath.dirname(resolution.path)} from LD_LIBRARY_PATH for this Python."
                    if how == "LD_LIBRARY_PATH"
                    else f"drop {resolution.path} from LD_PRELOAD."
                ),
                prediction.dist_info,
                requester.native.path,
                resolution.name,
            )


def _own_copy(
    env: EnvironmentInspection, requester: _Owned, name: str, index: Mapping[str, _Owned]
) -> _Owned | None:
    """The installed copy of ``name`` the requester's static resolution (or RUNPATH) reaches."""
    for binary in requester.inspection.binaries:
        if binary.native.path != requester.native.path:
            continue
        for dep in binary.dependencies:
            if dep.name == name and dep.resolution is Resolution.BUNDLED and dep.member:
                found = index.get(_norm(env.absolute(requester.inspection, dep.member)))
                site = posixpath.dirname(_norm(requester.inspection.artifact.path))
                found = found or index.get(_norm(posixpath.join(site, dep.member)))
                if found is not None:
                    return found
    info = requester.native.info
    if info is None:
        return None
    origin = posixpath.dirname(requester.absolute)
    for entry in info.runpath:
        directory = entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
        if directory.startswith("/"):
            found = index.get(_norm(posixpath.join(directory, name)))
            if found is not None:
                return found
    return None


# --------------------------------------------------------------------------- ND704


@dataclass(frozen=True, slots=True)
class _Copy:
    """One runtime library: installed by a distribution, or the system's (``dist_info`` None)."""

    native: NativeFile
    absolute: str
    distribution: str
    dist_info: str | None
    family: str
    kind: str


def _runtime_family(native: NativeFile) -> tuple[str, str] | None:
    """(family, kind) of a runtime library: ("openmp", "libgomp"), ("blas", "OpenBLAS"), ..."""
    info = native.info
    if info is None or info.kind is not FileKind.SHARED_LIBRARY or _is_extension(native.install_path):
        return None
    runtime = deps.openmp_runtime(native)
    if runtime is not None:
        return "OpenMP runtime", runtime.runtime
    blas = deps.blas_library(native)
    if blas is not None:
        return "BLAS/LAPACK library", blas.flavour
    name = deps.unhashed_name(info.soname or native.install_path)
    if name.startswith("libgfortran"):
        return "Fortran runtime", "libgfortran"
    if name.startswith("libstdc++"):
        return "C++ runtime", "libstdc++"
    return None


_CONSEQUENCE = {
    "BLAS/LAPACK library": (
        "each copy that loads starts its own thread pool of one thread per core (oversubscription: "
        "several pools compete for the same cores; OpenBLAS builds capped at MAX_THREADS=64 print "
        '"OpenBLAS warning: precompiled NUM_THREADS exceeded" or crash on bigger hosts). Fix: bound threads '
        "(OPENBLAS_NUM_THREADS / MKL_NUM_THREADS / OMP_NUM_THREADS, or threadpoolctl.threadpool_limits "
        "around parallel code), or get numpy/scipy and friends from one ecosystem (all conda-forge with "
        "one `libblas`, or all wheels)"
    ),
    "Fortran runtime": (
        "each copy that loads keeps its own runtime state (I/O units, error handling) and costs memory; "
        "when two copies share one hashed SONAME the first loaded serves both packages, which then depend "
        "on import order. Fix: usually none needed; prefer one ecosystem (conda-forge shares one "
        "libgfortran) when symptoms appear"
    ),
    "C++ runtime": (
        "the first libstdc++.so.6 loaded serves every later request for that SONAME, so which copy wins "
        'depends on import order; a module built against a newer one then fails with "version '
        "`GLIBCXX_3.4.NN' not found\", and exceptions or iostreams crossing two copies can crash. Fix: "
        "remove the vendored copies (manylinux wheels must not ship libstdc++), or upgrade the "
        "distributions that ship an old one"
    ),
}


def _openmp_consequence(kinds: Sequence[str]) -> str:
    unique = set(kinds)
    text = ""
    if {"libomp", "libiomp5"} <= unique:
        text = (
            "mixed implementations: LLVM libomp and Intel libiomp5 in one process abort with "
            '"OMP: Error #15: Initializing libiomp5, but found libomp already initialized"; '
        )
    elif kinds.count("libomp") > 1 or kinds.count("libiomp5") > 1:
        text = (
            'two copies of an LLVM/Intel runtime abort with "OMP: Error #15: Initializing libomp, but '
            'found libomp already initialized" when both load (macOS loads both); '
        )
    elif len(unique) > 1:
        text = "mixed implementations, each with its own thread pool; "
    return text + (
        "every runtime that loads starts its own pool of one thread per core (oversubscription: "
        "pytorch/pytorch#98836 ran 3x slower with scikit-learn's libgomp loaded next to torch's), and a "
        "libgomp pool used before fork() hangs a forked child that uses OpenMP. Fix: limit threads "
        "(OMP_NUM_THREADS, threadpoolctl.threadpool_limits), use MKL_THREADING_LAYER=GNU when MKL and "
        "libgomp meet, use the spawn/forkserver start method, and install the OpenMP users from one "
        "ecosystem; never set KMP_DUPLICATE_LIB_OK to silence Error #15"
    )


@register_environment(
    "ND704",
    "duplicate-native-runtime",
    Severity.WARNING,
    summary="Several distributions ship a copy of one runtime (OpenMP, BLAS, libgfortran, libstdc++).",
    what=(
        "Shared libraries installed by different distributions that are the same kind of process-wide "
        "runtime: OpenMP runtimes (GNU libgomp, LLVM libomp, Intel libiomp5, Microsoft vcomp; mixed "
        "implementations called out), BLAS/LAPACK libraries (OpenBLAS, scipy-openblas, MKL, BLIS, ...), "
        "libgfortran and libstdc++, recognised by name and SONAME after repair-tool hashes are removed. "
        "The finding lists each copy with its size and distribution. Copies inside one wheel are ND204/ND205."
    ),
    why=(
        "auditwheel and delocate rename each vendored copy, so several copies load side by side. Two "
        'LLVM/Intel OpenMP runtimes abort the process: "OMP: Error #15: Initializing libiomp5.dylib, but '
        'found libomp.dylib already initialized." Several libgomp or OpenBLAS pools silently oversubscribe '
        "the cores (pytorch/pytorch#98836: 35.9 s instead of 10.7 s), a libgomp pool hangs forked children, "
        "and several libstdc++ copies make the import order decide which one serves the process."
    ),
    fix=(
        "Bound thread pools (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS or "
        "`threadpoolctl.threadpool_limits`), pick one runtime (`MKL_THREADING_LAYER=GNU`, or numpy/scipy "
        "on OpenBLAS instead of MKL), and install the packages from one ecosystem (all conda-forge, which "
        "shares one OpenMP and one BLAS, or all wheels). Do not set KMP_DUPLICATE_LIB_OK."
    ),
    page="blas-lapack-openmp",
    references=(
        "https://github.com/joblib/threadpoolctl/blob/master/multiple_openmp.md",
        "https://github.com/pytorch/pytorch/issues/98836",
        "https://pypackaging-native.github.io/key-issues/native-dependencies/blas_openmp/",
    ),
)
def duplicate_native_runtime(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per runtime family of which several distributions install different copies,
    graded by hazard: two OpenMP implementations that abort together (LLVM/Intel with anything else)
    are a warning; copies built to coexist (several libgomp, OpenBLAS or libgfortran builds) are info."""
    families: dict[str, dict[object, _Copy]] = {}
    for copy in _runtime_copies(env):
        # Identical content loads once (same hashed SONAME) and is no second runtime.
        families.setdefault(copy.family, {}).setdefault(_content_key(env, copy), copy)
    for family, unique in sorted(families.items()):
        copies = sorted(unique.values(), key=lambda c: (c.distribution, c.native.path))
        owners = sorted({c.distribution for c in copies})
        if len(copies) < 2 or len(owners) < 2:
            continue
        kinds = [c.kind for c in copies]
        listed = "; ".join(_copy_text(c) for c in copies[:8]) + (
            f"; and {len(copies) - 8} more" if len(copies) > 8 else ""
        )
        first = copies[0]
        where = _site(env, first.absolute)
        detail = f"{family}: {', '.join(sorted(set(kinds)))}"
        pair = _aborting_pair(copies) if family == "OpenMP runtime" else None
        if pair is not None:
            a, b = pair
            yield duplicate_native_runtime.finding(
                f"Two OpenMP implementations that do not share a process safely are installed: "
                f"{_copy_text(a)} and {_copy_text(b)} ({len(copies)} different OpenMP runtime copies in "
                f"all: {listed}). An LLVM or Intel runtime registers itself process-wide, and a second one "
                'aborts with "OMP: Error #15: Initializing '
                f'{_runtime_label(b)}, but found {_runtime_label(a)} already initialized"; next to GNU '
                "libgomp it runs a second thread pool, known to deadlock or crash (threadpoolctl's "
                f"multiple_openmp notes). Consequence: {_openmp_consequence(kinds)}.",
                where,
                first.absolute,
                detail,
            )
            continue
        if family == "C++ runtime":
            yield duplicate_native_runtime.finding(
                f"{len(copies)} different copies of one kind of {family} are installed by {len(owners)} "
                f"distributions ({', '.join(owners)}): {listed}. Consequence: {_CONSEQUENCE[family]}.",
                where,
                first.absolute,
                detail,
            )
            continue
        prefixed = ", and prefixed symbols" if "scipy-openblas" in kinds else ""
        yield dataclasses.replace(
            duplicate_native_runtime.finding(
                f"{len(copies)} different builds of one kind of {family} are installed by "
                f"{len(owners)} distributions ({', '.join(owners)}): {listed}. They are built to coexist "
                f"(each with its own hashed name{prefixed}); no action is needed. {_COEXIST[family]}",
                where,
                first.absolute,
                detail,
            ),
            severity=Severity.INFO,
        )


#: What several coexisting copies still cost, and the knob when it matters.
_COEXIST = {
    "OpenMP runtime": (
        "Each copy that loads starts its own thread pool, one thread per core; if nested parallel code "
        "oversubscribes the cores, bound threads with OMP_NUM_THREADS or threadpoolctl.threadpool_limits, "
        "and prefer the spawn/forkserver start method (a libgomp pool used before fork() hangs children)."
    ),
    "BLAS/LAPACK library": (
        "Each copy that loads has its own thread pool; bound them with OPENBLAS_NUM_THREADS / "
        "OMP_NUM_THREADS or threadpoolctl.threadpool_limits if parallel code oversubscribes the cores."
    ),
    "Fortran runtime": "Each copy keeps its own runtime state; nothing to do.",
}


def _runtime_copies(env: EnvironmentInspection) -> Iterator[_Copy]:
    """Runtime libraries installed by distributions, plus the system copies the simulated loader
    really maps for an import (lightgbm's system libgomp)."""
    index = _files(env)
    for owned in {id(o): o for o in index.values()}.values():
        found = _runtime_family(owned.native)
        if found is not None:
            yield _Copy(
                owned.native, owned.absolute, owned.distribution, owned.inspection.artifact.path, *found
            )
    seen: set[str] = set()
    for prediction in env.predictions:
        for loaded in prediction.report.loaded:
            path = _norm(loaded.path)
            if path in index or path in seen:
                continue
            seen.add(path)
            native = NativeFile(
                path=path,
                install_path=posixpath.basename(path),
                size=0,
                fingerprint=None,
                info=loaded.info,
            )
            found = _runtime_family(native)
            if found is not None:
                yield _Copy(native, path, "the system", None, *found)


def _content_key(env: EnvironmentInspection, copy: _Copy) -> object:
    """What identifies a copy's content: its RECORD digest, else its base name and size."""
    native = copy.native
    for state in env.installed:
        if state.dist_info == copy.dist_info:
            digest = state.digests.get(native.path)
            if digest:
                return digest
    return (posixpath.basename(native.path), native.size)


def _copy_text(copy: _Copy) -> str:
    native = copy.native
    if copy.dist_info is None:
        return f"{native.path} ({copy.kind}, the system copy the loader maps)"
    return f"{native.path} ({copy.kind}, {native.size:,} bytes, {copy.distribution})"


def _runtime_label(copy: _Copy) -> str:
    return posixpath.basename(copy.native.path)


def _aborting_pair(copies: Sequence[_Copy]) -> tuple[_Copy, _Copy] | None:
    """Two OpenMP copies of different implementations, or two LLVM/Intel copies: (first, second)."""
    kmp = [c for c in copies if c.kind in ("libomp", "libiomp5")]
    if len(kmp) >= 2:
        return kmp[0], kmp[1]
    others = [c for c in copies if c.kind not in ("libomp", "libiomp5", "vcomp")]
    if kmp and others:
        return others[0], kmp[0]
    return None


# --------------------------------------------------------------------------- ND705 / ND706


def _linux_version(tag: str) -> tuple[str, tuple[int, int], str] | None:
    return linux.parse_linux_platform_tag(tag)


def _host_glibc(env: EnvironmentInspection) -> tuple[int, int] | None:
    if env.host.libc_name != "glibc" or not env.host.libc_version:
        return None
    parts = env.host.libc_version.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return None


def _tag_detail(inspection: Inspection, claimed: str) -> tuple[str | None, str | None]:
    """The file and symbol version / minimum OS that force a newer tag (ND101's evidence)."""
    from native_doctor.checks.wheel import platform_tag_too_old

    function = platform_tag_too_old.function
    if function is None:
        return None, None
    for finding in function(inspection):
        if finding.message.startswith(claimed + " "):
            return finding.member, finding.detail
    return None, None


@register_environment(
    "ND705",
    "distribution-tag-too-old",
    Severity.WARNING,
    summary="An installed distribution's wheel tag promises an older platform than its binaries need.",
    what=(
        "For each installed distribution, the platform tags its WHEEL file claims against the tags its "
        "binaries qualify for (the newest GLIBC_/GLIBCXX_/CXXABI_ symbol version needed decides the "
        "oldest manylinux policy; the newest Mach-O minimum OS the oldest macOS tag). The finding names the "
        "file and version that force the newer tag and whether this host's glibc suffices."
    ),
    why=(
        "The wheel works here only because this host happens to be new enough. pip installs the same wheel "
        'on every system its tag allows, and there the import fails: "ImportError: /lib64/libc.so.6: '
        "version `GLIBC_2.34' not found (required by .../_ext.so)\" (vllm-project/vllm#41103 tagged "
        "manylinux_2_31 but needs GLIBC_2.34). A lockfile or container built from this environment inherits "
        "the problem."
    ),
    fix=(
        "Report it to the project (the tag should be the one the finding names; auditwheel chooses it "
        "when `--plat` is not forced). Until then pin a release whose tag is right, or, on older hosts, "
        "install from source (`pip install --no-binary PKG PKG`) or use a newer base image."
    ),
    page="platform-tags-and-manylinux",
    references=(
        "https://peps.python.org/pep-0600/",
        "https://github.com/pypa/auditwheel",
    ),
)
def distribution_tag_too_old(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per distribution and claimed tag older than its binaries need."""
    host = _host_glibc(env)
    for inspection in env.distributions:
        platform = inspection.platform
        if not platform.qualifies_for:
            continue
        best = platform.qualifies_for[0]
        best_linux = _linux_version(best)
        best_mac = macos.parse_macos_platform_tag(best)
        for claimed in platform.claimed_platforms:
            claimed_linux = _linux_version(claimed)
            if best_linux is not None and claimed_linux is not None:
                if claimed_linux[0] != best_linux[0] or claimed_linux[1] >= best_linux[1]:
                    continue
                needed = best_linux[1]
                libc = best_linux[0]
                if libc == "glibc" and host is not None and host < needed:
                    here = (
                        f"this host's glibc {env.host.libc_version} is older: the import fails here with "
                        "version `GLIBC_...' not found"
                    )
                elif libc == "glibc" and host is not None:
                    here = (
                        f"it works on this host (glibc {env.host.libc_version}), but breaks on hosts with "
                        f"glibc {claimed_linux[1][0]}.{claimed_linux[1][1]} to {needed[0]}.{needed[1] - 1} "
                        "that pip considers compatible"
                    )
                else:
                    here = f"it breaks on hosts older than {libc} {needed[0]}.{needed[1]} that the tag admits"
            elif best_mac is not None:
                claimed_mac = macos.parse_macos_platform_tag(claimed)
                if claimed_mac is None or claimed_mac[0] >= best_mac[0]:
                    continue
                here = (
                    f"it breaks on macOS {claimed_mac[0][0]}.{claimed_mac[0][1]} to the version before "
                    f"{best_mac[0][0]}.{best_mac[0][1]}, which the tag admits"
                )
            else:
                continue
            member, detail = _tag_detail(inspection, claimed)
            because = f": {member} needs {detail}" if member and detail else ""
            artifact = inspection.artifact
            yield distribution_tag_too_old.finding(
                f"{artifact.name} {artifact.version} is installed from a wheel tagged {claimed}, but its "
                f"binaries need {best}{because}; {here}. Fix: report the tag upstream; pin a release "
                "whose tag is right.",
                artifact.path,
                member,
                claimed,
            )


@register_environment(
    "ND706",
    "locally-built-distribution",
    Severity.INFO,
    summary="A distribution with native code was built on this machine (tag linux_*), not a portable wheel.",
    what=(
        "Installed distributions whose WHEEL file claims a `linux_<arch>` platform tag: pip (or uv) built "
        "them from a source distribution on this host because no compatible wheel was found, and the "
        "finding names the libraries outside the distribution its binaries link."
    ),
    why=(
        "A local build links whatever this machine had at build time: system libraries that an OS "
        'upgrade or `apt remove` can take away ("ImportError: libfoo.so.1: cannot open shared object '
        'file"), this compiler\'s libstdc++ ("version `GLIBCXX_3.4.32\' not found" inside conda), and '
        "CPU-specific flags. Copying the environment or its lockfile to another machine does not carry the "
        "build. It often also means a pinned version is older or newer than the wheels on PyPI."
    ),
    fix=(
        "Check why no wheel matched: `pip install --only-binary :all: PKG==VERSION` shows the error "
        "(no wheel for this Python version, platform or libc). Prefer a version that has wheels, or keep "
        "the build reproducible (build a wheel once with `pip wheel`, repair it with `auditwheel repair`, "
        "and install that)."
    ),
    page="unexpected-source-builds",
    references=(
        "https://packaging.python.org/en/latest/specifications/platform-compatibility-tags/",
        "https://pip.pypa.io/en/stable/cli/pip_install/#cmdoption-only-binary",
    ),
)
def locally_built_distribution(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per distribution tagged linux_*."""
    for inspection in env.distributions:
        local = [p for p in inspection.platform.claimed_platforms if p.startswith("linux_")]
        if not local:
            continue
        outside = sorted(
            {
                d.name
                for b in inspection.binaries
                for d in b.dependencies
                if d.resolution is not Resolution.BUNDLED and not linux.is_system_library(d.name, "glibc")
            }
        )
        links = f"; its binaries link {_list(outside)} from outside the distribution" if outside else ""
        artifact = inspection.artifact
        installer = (artifact.installer or "").strip()
        by = f" (installed by {installer})" if installer else " by its packager"
        where = (
            f"was built from source on this machine (installed by {installer})"
            if installer in {"pip", "uv", "poetry", "pdm", "pipenv"}
            else f"was built for this system{by}"
        )
        yield locally_built_distribution.finding(
            f"{artifact.name} {artifact.version} {where} (WHEEL tag "
            f"{local[0]}), not installed from a portable wheel{links}. Check why no wheel matched: "
            f"`pip install --only-binary :all: {artifact.name}=={artifact.version}`.",
            artifact.path,
            None,
            local[0],
        )


# --------------------------------------------------------------------------- ND707

_GENERIC_TOP = frozenset(
    {"tests", "test", "testing", "docs", "doc", "examples", "example", "benchmarks", "scripts"}
)
_VARIANT_TOKEN = re.compile(
    r"^(?:headless|contrib|gpu|cpu|lts|nightly|binary|bin|cuda\d*x?|cu\d+|rocm[\d.]*|tpu|intel|mkl|directml)$"
)


def _variant_stem(name: str) -> str:
    tokens = [t for t in str(canonicalize_name(name)).split("-") if not _VARIANT_TOKEN.match(t)]
    return "-".join(tokens)


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith((top + "/", top + "."))


@register_environment(
    "ND707",
    "shared-import-package",
    Severity.ERROR,
    summary="Two installed distributions install files into the same top-level import package.",
    what=(
        "Top-level import names (from each distribution's RECORD) claimed by more than one distribution, "
        "when both install the same files there (files other than a bare namespace `__init__.py`), or, when "
        "the file lists are not known, when the two are flavours of one project (`opencv-python` / "
        "`opencv-python-headless`, `cupy-cuda11x` / `cupy-cuda12x`, `psycopg2` / `psycopg2-binary`, "
        "`tensorflow` / `tensorflow-cpu`)."
    ),
    why=(
        "pip does not detect the clash: the distribution installed last overwrites the other's files, so "
        "the package runs a mix of two builds (`import cv2` crashing on missing Qt/GUI libraries after the "
        "headless build was overwritten, or two CUDA majors' files mixed), and uninstalling either deletes "
        'files the other needs: "ModuleNotFoundError: No module named \'cv2\'" or "ImportError: '
        'libcudart.so.11.0: cannot open shared object file".'
    ),
    fix=(
        "Keep exactly one flavour: `pip uninstall -y A B` then `pip install` the one you want (uninstalling "
        "one alone leaves the other broken). Find which dependency pulls in the other flavour "
        "(`pipdeptree -r -p NAME` or `pip show NAME`) and constrain it; for opencv a `constraints.txt` that "
        "excludes the other flavour helps."
    ),
    page="wheel-contents",
    references=(
        "https://github.com/opencv/opencv-python#installation-and-usage",
        "https://github.com/pypa/pip/issues/4625",
    ),
)
def shared_import_package(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per shared top-level import package."""
    versions = _canonical_versions(env)
    files: dict[str, frozenset[str]] = {}
    dist_info: dict[str, str] = {}
    for inspection in env.distributions:
        key = str(canonicalize_name(inspection.artifact.name))
        files[key] = frozenset(inspection.artifact.files)
        dist_info[key] = inspection.artifact.path
    owners: dict[str, list[str]] = {}
    for name, tops in env.top_levels.items():
        for top in tops:
            if top and top != "__pycache__" and top not in _GENERIC_TOP:
                owners.setdefault(top, []).append(str(canonicalize_name(name)))
    for top, listed in sorted(owners.items()):
        names = sorted(set(listed))
        if len(names) < 2:
            continue
        clashing: set[str] = set()
        shared: set[str] = set()
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                if first in files and second in files:
                    overlap = {
                        f
                        for f in files[first] & files[second]
                        if _under(f, top) and "__pycache__" not in f and f != f"{top}/__init__.py"
                    }
                    if overlap:
                        clashing |= {first, second}
                        shared |= overlap
                elif _variant_stem(first) == _variant_stem(second):
                    clashing |= {first, second}
        if len(clashing) < 2:
            continue
        ordered = sorted(clashing)
        who = " and ".join(f"{n} {versions.get(n, '')}".strip() for n in ordered)
        evidence = (
            f" ({len(shared)} file(s) installed by both, e.g. {_list(sorted(shared), 3)})"
            if shared
            else " (flavours of one project)"
        )
        artifact = next((dist_info[n] for n in ordered if n in dist_info), None)
        verb = "both install" if len(ordered) == 2 else "all install"
        yield shared_import_package.finding(
            f"{who} {verb} the import package `{top}`{evidence}: the one installed last overwrote the "
            f"other's files, and uninstalling either breaks `import {top}`. Fix: `pip uninstall -y "
            f"{' '.join(ordered)}` and reinstall exactly one of them.",
            artifact or _site(env),
            None,
            top,
        )


# --------------------------------------------------------------------------- ND708

#: NumPy C-API feature level per NumPy release (numpy/_core/include/numpy/numpyconfig.h, cversions.txt).
_NUMPY_API = {
    (1, 22): 0xF,
    (1, 23): 0x10,
    (1, 24): 0x10,
    (1, 25): 0x11,
    (1, 26): 0x11,
    (2, 0): 0x12,
    (2, 1): 0x13,
    (2, 2): 0x13,
    (2, 3): 0x14,
    (2, 4): 0x15,
    (2, 5): 0x16,
    (2, 6): 0x16,
}


def numpy_level(version: tuple[int, int]) -> tuple[int, int]:
    """A comparable C-API level for NumPy ``(major, minor)``: the feature version when known."""
    level = _NUMPY_API.get(version)
    return (0, level) if level is not None else (1, version[0] * 1000 + version[1])


def _major_minor(text: str) -> tuple[int, int] | None:
    try:
        release = Version(text).release
    except InvalidVersion:
        return None
    return (release[0], release[1] if len(release) > 1 else 0) if release else None


def _newer_target(target: tuple[int, int], installed: tuple[int, int]) -> bool:
    a, b = _NUMPY_API.get(target), _NUMPY_API.get(installed)
    if a is not None and b is not None:
        return a > b
    return target > installed


@register_environment(
    "ND708",
    "numpy-abi-mismatch",
    Severity.ERROR,
    summary="An extension was built for another NumPy than the installed one (1.x ABI, newer C-API).",
    what=(
        "The NumPy markers in every extension module (read from the binary, nothing imported) against the "
        "installed NumPy: modules built with NumPy 1.x headers (or pybind11 < 2.12) while NumPy >= 2 is "
        "installed, and modules built with NumPy 2 headers for a C-API target ('(NumPy 2.1)') newer than "
        "the installed NumPy."
    ),
    why=(
        'Built against 1.x, running 2.x: "A module that was compiled using NumPy 1.x cannot be run in NumPy '
        "2.0.0 as it may crash. To support both 1.x and 2.x versions of NumPy, modules must be compiled "
        "with NumPy 2.0. Some module may need to rebuild instead e.g. with 'pybind11>=2.12'.\" then "
        '"ImportError: numpy.core.multiarray failed to import" (or Cython\'s "ValueError: numpy.dtype '
        "size changed, may indicate binary incompatibility. Expected 96 from C header, got 88 from "
        'PyObject"). Target newer than installed: "RuntimeError: module was compiled against NumPy C-API '
        'version 0x13 (NumPy 2.1) but the running NumPy has C-API version 0x12".'
    ),
    fix=(
        "Upgrade the named package to a release built against NumPy 2 (`pip install -U PKG`), or pin "
        "`numpy<2` for the environment until it has one; for a too-new target, upgrade NumPy to at least "
        "the target (`pip install 'numpy>=2.1'`). Rebuilding from source with `numpy>=2` and "
        "`pybind11>=2.12` also fixes it."
    ),
    page="abi-and-symbol-versions",
    references=(
        "https://numpy.org/devdocs/numpy_2_0_migration_guide.html",
        "https://numpy.org/doc/stable/dev/depending_on_numpy.html",
    ),
)
def numpy_abi_mismatch(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per distribution and kind of mismatch."""
    installed_text = _canonical_versions(env).get("numpy")
    installed = _major_minor(installed_text) if installed_text else None
    if installed is None or installed_text is None:
        return
    for inspection in env.distributions:
        if canonicalize_name(inspection.artifact.name) == "numpy":
            continue
        old_abi: list[str] = []
        too_new: dict[str, list[str]] = {}
        fitting = 0  # extension modules on NumPy's C API whose target the installed NumPy meets
        for native in inspection.artifact.native:
            markers = env.markers.get(env.absolute(inspection, native.path))
            if markers is None:
                site = posixpath.dirname(_norm(inspection.artifact.path))
                markers = env.markers.get(_norm(posixpath.join(site, native.path)))
            if markers is None:
                continue
            if markers.numpy_abi == "1.x" and installed[0] >= 2:
                old_abi.append(native.path)
            wanted = _major_minor(markers.numpy_target) if markers.numpy_target else None
            if wanted is not None and markers.numpy_target and _newer_target(wanted, installed):
                too_new.setdefault(markers.numpy_target, []).append(native.path)
            elif markers.numpy_abi is not None and not (markers.numpy_abi == "1.x" and installed[0] >= 2):
                fitting += 1
        artifact = inspection.artifact
        requirement = matching_requirement(env, artifact.requires_dist, "numpy")
        allows = f" (its Requires-Dist says '{requirement}')" if requirement else ""
        if old_abi:
            yield numpy_abi_mismatch.finding(
                f"{artifact.name} {artifact.version} has {len(old_abi)} extension module(s) built "
                f"against NumPy 1.x ({_list(old_abi, 3)}), but NumPy {installed_text} is installed{allows}: "
                'the import fails with "A module that was compiled using NumPy 1.x cannot be run in NumPy '
                f'{installed_text} as it may crash" / "ImportError: numpy.core.multiarray failed to '
                f'import". Fix: `pip install -U {artifact.name}` to a release built against NumPy 2, or '
                "`pip install 'numpy<2'`.",
                artifact.path,
                old_abi[0],
                "NumPy 1.x",
            )
        for target, paths in sorted(too_new.items()):
            if fitting:
                # Built for a newer NumPy than the rest of the package: an extension imported only
                # under that NumPy (h5py's _npystrings under NumPy >= 2), not a failure of the package.
                yield dataclasses.replace(
                    numpy_abi_mismatch.finding(
                        f"{artifact.name} {artifact.version}: {len(paths)} extension module(s) built for "
                        f"NumPy C-API {target} ({_list(paths, 3)}) while its {fitting} other NumPy "
                        f"extension module(s) fit the installed NumPy {installed_text}: a conditional "
                        f"module, imported only under NumPy >= {target} (like h5py's _npystrings); "
                        f"`import {artifact.name}` is not affected. No action is needed.",
                        artifact.path,
                        paths[0],
                        f"NumPy {target} (conditional)",
                    ),
                    severity=Severity.INFO,
                )
                continue
            yield numpy_abi_mismatch.finding(
                f"{artifact.name} {artifact.version} has {len(paths)} extension module(s) built for NumPy "
                f"C-API {target} ({_list(paths, 3)}), newer than the installed NumPy {installed_text}"
                f'{allows}: the import fails with "RuntimeError: module was compiled against NumPy C-API '
                f'version ... (NumPy {target}) but the running NumPy has C-API version ...". Fix: '
                f"`pip install 'numpy>={target}'`, or a release of {artifact.name} built for an older "
                "target.",
                artifact.path,
                paths[0],
                f"NumPy {target}",
            )


# --------------------------------------------------------------------------- ND709

_RUNTIME_DIST = re.compile(r"^nvidia-cuda-runtime(?:-cu\d+)?$")
_LOCAL_CU = re.compile(r"\+cu(\d{2,3})\b")


def _cuda_runtimes(versions: Mapping[str, str]) -> list[tuple[str, tuple[int, int]]]:
    """(what, CUDA major.minor) of installed CUDA runtimes: nvidia-cuda-runtime wheels, torch +cuXYZ."""
    found: list[tuple[str, tuple[int, int]]] = []
    for name, version in sorted(versions.items()):
        if _RUNTIME_DIST.match(name):
            parsed = _major_minor(version)
            if parsed is not None:
                found.append((f"{name} {version}", parsed))
            continue
        match = _LOCAL_CU.search(version)
        if match is not None:
            digits = match.group(1)  # cu121 -> 12.1, cu118 -> 11.8, cu92 -> 9.2
            split = 2 if len(digits) == 3 else 1
            found.append((f"{name} {version}", (int(digits[:split]), int(digits[split:]))))
    return found


@register_environment(
    "ND709",
    "cuda-version-mismatch",
    Severity.ERROR,
    summary="CUDA majors are mixed, or the CUDA runtime is newer than the NVIDIA driver supports.",
    what=(
        "The CUDA major of every installed CUDA package, from its name (`nvidia-*-cu12`, `cupy-cuda11x`, "
        "`jax-cuda12-plugin`), its local version (`torch 2.4.0+cu121`) and the CUDA runtime libraries its "
        "binaries need or ship (`libcudart.so.11.0`, `libcublas.so.12`): more than one major is a mix. "
        "When an NVIDIA driver is present, the CUDA runtime version (nvidia-cuda-runtime wheels, torch's "
        "`+cuXYZ`) against the newest CUDA the driver supports."
    ),
    why=(
        "Packages of one CUDA major need that major's libraries: a cu11 package next to cu12 wheels fails "
        'with "ImportError: libcudart.so.11.0: cannot open shared object file" or loads a second CUDA '
        'stack. A runtime newer than the driver fails at first use: "CUDA driver version is insufficient '
        'for CUDA runtime version" / "The NVIDIA driver on your system is too old (found version 12020)"; '
        'within a major it runs through minor-version compatibility, but PTX JIT fails with "the '
        'provided PTX was compiled with an unsupported toolchain".'
    ),
    fix=(
        "Install every CUDA package for one major: e.g. the torch build from "
        "`https://download.pytorch.org/whl/cu126` with `cupy-cuda12x` and `jax[cuda12]`, and uninstall the "
        "other major's `nvidia-*-cu11` wheels. For an old driver, upgrade it to the branch the runtime "
        "needs (CUDA 12.x needs >= 525, 13.x >= 580) or install builds for an older CUDA (`cu118`)."
    ),
    page="gpus-and-cuda",
    references=(
        "https://docs.nvidia.com/deploy/cuda-compatibility/",
        "https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/",
    ),
)
def cuda_version_mismatch(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding for mixed majors; one per CUDA runtime newer than the driver supports."""
    versions = _canonical_versions(env)
    evidence: dict[int, dict[str, str]] = {}
    for name, version in sorted(versions.items()):
        major = deps.cuda_major_of_package(name, version)
        if major is not None:
            evidence.setdefault(major, {}).setdefault(name, f"{name} {version}")
    for inspection in env.distributions:
        name = str(canonicalize_name(inspection.artifact.name))
        for binary in inspection.binaries:
            needed = [d.name for d in binary.dependencies]
            info = binary.native.info
            if info is not None and info.soname:
                needed.append(info.soname)
            for library in needed:
                major = deps.cuda_major_of_library(library)
                if major is not None:
                    evidence.setdefault(major, {}).setdefault(
                        name, f"{name} ({binary.native.path} uses {library})"
                    )
    if len(evidence) > 1:
        groups = "; ".join(
            f"CUDA {major}: {_list(sorted(evidence[major].values()), 4)}" for major in sorted(evidence)
        )
        newest = max(evidence)
        older = sorted({n for m in evidence if m != newest for n in evidence[m]})
        wheels = [n for n in older if n.startswith("nvidia-")]
        rebuild = [n for n in older if not n.startswith("nvidia-")]
        steps = []
        if rebuild:
            steps.append(f"reinstall {_list(rebuild, 4)} built for CUDA {newest}")
        if wheels:
            steps.append(f"uninstall {_list(wheels, 4)}")
        yield cuda_version_mismatch.finding(
            f"CUDA majors are mixed in this environment ({groups}). A package of one major cannot use the "
            'other major\'s libraries ("ImportError: libcudart.so.11.0: cannot open shared object file" '
            "when only CUDA 12 libraries are present), and two CUDA stacks load side by side. Fix: "
            f"{' and '.join(steps)} (or move everything to the older major instead).",
            _site(env),
            None,
            ", ".join(f"CUDA {m}" for m in sorted(evidence)),
        )
    driver = env.host.nvidia_driver
    if driver is None:
        return
    supported = env.host.max_cuda
    newest_known = max_cuda_for_driver("99999")
    for what, runtime in _cuda_runtimes(versions):
        if supported is not None and runtime <= supported:
            continue
        if supported is not None and runtime[0] == supported[0]:
            if supported == newest_known:
                continue  # the table does not know newer toolkits: nothing can be said
            finding = cuda_version_mismatch.finding(
                f"{what} needs CUDA {runtime[0]}.{runtime[1]}, but the NVIDIA driver {driver} fully supports "
                f"CUDA {supported[0]}.{supported[1]}: it runs only through minor-version compatibility "
                '(PTX JIT fails: "the provided PTX was compiled with an unsupported toolchain"). Fix: '
                f"upgrade the driver, or install builds for CUDA {supported[0]}.{supported[1]}.",
                _site(env),
                None,
                f"CUDA {runtime[0]}.{runtime[1]}",
            )
            yield dataclasses.replace(finding, severity=Severity.WARNING)
            continue
        limit = f"CUDA {supported[0]}.{supported[1]}" if supported else "no CUDA 11+ at all"
        yield cuda_version_mismatch.finding(
            f"{what} needs CUDA {runtime[0]}.{runtime[1]}, but the NVIDIA driver {driver} supports at most "
            f'{limit}: CUDA calls fail with "CUDA driver version is insufficient for CUDA runtime version". '
            f"Fix: upgrade the driver to the branch CUDA {runtime[0]}.{runtime[1]} needs, or install builds "
            "for an older CUDA.",
            _site(env),
            None,
            f"CUDA {runtime[0]}.{runtime[1]}",
        )


# --------------------------------------------------------------------------- ND710

#: NumPy CPU-feature names (``__cpu_baseline__``) -> the x86-64 level that includes them.
_NUMPY_FEATURE_LEVEL = {
    "SSE": 1,
    "SSE2": 1,
    "SSE3": 2,
    "SSSE3": 2,
    "SSE41": 2,
    "POPCNT": 2,
    "SSE42": 2,
    "X86_V2": 2,
    "AVX": 3,
    "F16C": 3,
    "FMA3": 3,
    "AVX2": 3,
    "X86_V3": 3,
    "AVX512F": 4,
    "AVX512CD": 4,
    "AVX512_SKX": 4,
    "X86_V4": 4,
    "AVX512_CLX": 4,
    "AVX512_CNL": 4,
    "AVX512_ICL": 4,
    "AVX512_SPR": 4,
}
#: /proc/cpuinfo flags each level adds (SSE3 is "pni", LZCNT "abm").
_LEVEL_FLAGS = {
    2: ("cx16", "lahf_lm", "popcnt", "pni", "ssse3", "sse4_1", "sse4_2"),
    3: ("avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"),
    4: ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"),
}


def _numpy_baseline_level(tokens: Iterable[str]) -> int:
    return max((_NUMPY_FEATURE_LEVEL.get(t, 0) for t in tokens), default=0)


def _missing_flags(env: EnvironmentInspection, level: int) -> list[str]:
    have = env.host.cpu.flags
    if not have:
        return []
    return [f for n in range(2, level + 1) for f in _LEVEL_FLAGS.get(n, ()) if f not in have]


@register_environment(
    "ND710",
    "cpu-baseline-too-high",
    Severity.ERROR,
    summary="A binary needs a higher x86-64 level (CPU instruction set) than this CPU has.",
    what=(
        "The x86-64 microarchitecture level each installed binary requires, from its GNU property note "
        "(`GNU_PROPERTY_X86_ISA_1_NEEDED`, rare in wheels) or NumPy's compiled-in baseline "
        "(`(X86_V2)` in `_multiarray_umath`), against the level of this host's CPU (from /proc/cpuinfo "
        "flags), naming the missing CPU flags."
    ),
    why=(
        'The import kills the interpreter: "Illegal instruction (core dumped)" with no traceback, or '
        "NumPy's check: \"RuntimeError: NumPy was built with baseline optimizations: (X86_V2) but your "
        "machine doesn't support: (X86_V2).\" (NumPy >= 2.4 needs x86-64-v2). glibc >= 2.33 refuses a "
        'binary whose note asks for more: "CPU ISA level is lower than required". Old CPUs, QEMU\'s '
        "default CPU model and some hypervisors hide these features."
    ),
    fix=(
        "Install a build for this CPU: `numpy<2.4` (or a conda-forge NumPy), the project's compatibility "
        "package (`polars-lts-cpu`), or build from source with a lower baseline (NumPy: `pip install "
        "--no-binary numpy numpy -Csetup-args=-Dcpu-baseline=none`). In a VM, pass the host CPU model "
        "(`-cpu host`) so the guest sees the real features."
    ),
    page="simd-and-cpu-baselines",
    references=(
        "https://numpy.org/doc/stable/reference/simd/build-options.html",
        "https://gitlab.com/x86-psABIs/x86-64-ABI",
    ),
)
def cpu_baseline_too_high(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per binary that needs a higher x86-64 level than the host."""
    host = env.host.x86_64_level
    if host is None:
        return
    for inspection in env.distributions:
        artifact = inspection.artifact
        for native in artifact.native:
            info = native.info
            markers = env.markers.get(env.absolute(inspection, native.path))
            if markers is None:
                site = posixpath.dirname(_norm(artifact.path))
                markers = env.markers.get(_norm(posixpath.join(site, native.path)))
            if info is not None and info.arch == "x86_64" and (info.x86_isa_level or 0) > host:
                level = info.x86_isa_level or 0
                missing = _missing_flags(env, level)
                lacks = f" (this CPU lacks {_list(missing, 8)})" if missing else ""
                yield cpu_baseline_too_high.finding(
                    f"{native.path} ({artifact.name} {artifact.version}) is marked as needing "
                    f"x86-64-v{level} (GNU property note), but this CPU is x86-64-v{host}{lacks}: "
                    "glibc refuses to load it "
                    f'("CPU ISA level is lower than required"), or it dies with "Illegal instruction". Fix: '
                    f"install a build of {artifact.name} for x86-64-v{host}, or build it from source here.",
                    artifact.path,
                    native.path,
                    f"x86-64-v{level}",
                )
            if markers is not None and markers.numpy_baseline:
                level = _numpy_baseline_level(markers.numpy_baseline)
                if level <= host:
                    continue
                baseline = " ".join(markers.numpy_baseline)
                missing = _missing_flags(env, level)
                lacks = f" (this CPU lacks {_list(missing, 8)})" if missing else ""
                yield cpu_baseline_too_high.finding(
                    f"{native.path} ({artifact.name} {artifact.version}) was built with the NumPy CPU "
                    f"baseline ({baseline}), x86-64-v{level}, but this CPU is x86-64-v{host}{lacks}: "
                    '`import numpy` fails with "RuntimeError: NumPy was built with baseline optimizations: '
                    f"({baseline}) but your "
                    f"machine doesn't support: ({baseline}).\" Fix: `pip install 'numpy<2.4'` (x86-64-v1 "
                    "baseline), a conda-forge NumPy, or build from source with "
                    "`-Csetup-args=-Dcpu-baseline=none`; in a VM expose the host CPU (`-cpu host`).",
                    artifact.path,
                    native.path,
                    baseline,
                )


# --------------------------------------------------------------------------- ND711

_TRUE = frozenset({"1", "true", "t", "yes", "y", "on", ".true.", ".t."})


@register_environment(
    "ND711",
    "kmp-duplicate-lib-ok",
    Severity.WARNING,
    summary="KMP_DUPLICATE_LIB_OK is set: OpenMP's duplicate-runtime abort (Error #15) is silenced.",
    what=(
        "Whether the environment variable KMP_DUPLICATE_LIB_OK is set to a true value in the environment "
        "the doctor runs in, and which LLVM/Intel OpenMP runtimes are installed that it would let load "
        "together."
    ),
    why=(
        'LLVM libomp and Intel libiomp5 abort when a second copy initialises: "OMP: Error #15: '
        'Initializing libiomp5.dylib, but found libomp.dylib already initialized." The variable turns '
        "the abort into a continuation that Intel documents as unsafe and unsupported: two runtimes then "
        "share one process (wrong results, crashes, deadlocks, oversubscription). threadpoolctl sets it "
        "with `os.environ.setdefault` at import, so processes that import scikit-learn hide the conflict "
        "for every runtime loaded afterwards."
    ),
    fix=(
        "Unset it (`unset KMP_DUPLICATE_LIB_OK`; look in shell profiles, `conda env config vars list`, "
        "Dockerfiles and notebook kernels) and fix the duplicate instead: one OpenMP runtime for all "
        "packages (see duplicate-native-runtime), `MKL_THREADING_LAYER=GNU`, or packages from one "
        "ecosystem."
    ),
    page="blas-lapack-openmp",
    references=(
        "https://github.com/joblib/threadpoolctl/blob/master/multiple_openmp.md",
        "https://www.intel.com/content/www/us/en/docs/cpp-compiler/developer-guide-reference/2021-8/supported-environment-variables.html",
    ),
)
def kmp_duplicate_lib_ok(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding when the variable is set to a true value."""
    value = env.host.env_vars.get("KMP_DUPLICATE_LIB_OK")
    if value is None or value.strip().lower() not in _TRUE:
        return
    runtimes = sorted(
        {
            f"{o.native.path} ({o.distribution})"
            for o in _files(env).values()
            if (r := deps.openmp_runtime(o.native)) is not None and r.runtime in ("libomp", "libiomp5")
        }
    )
    installed = f"; LLVM/Intel OpenMP runtimes installed here: {_list(runtimes)}" if runtimes else ""
    threadpoolctl = _canonical_versions(env).get("threadpoolctl")
    tpc = (
        f"; threadpoolctl {threadpoolctl} is installed and sets it at import as well" if threadpoolctl else ""
    )
    yield kmp_duplicate_lib_ok.finding(
        f"KMP_DUPLICATE_LIB_OK={value} is set: a second LLVM/Intel OpenMP runtime no longer aborts with "
        f'"OMP: Error #15" but runs next to the first, unsafely{installed}{tpc}. Fix: unset it and remove '
        "the duplicate runtime.",
        _site(env),
        None,
        f"KMP_DUPLICATE_LIB_OK={value}",
    )


# --- ND712: what really happened on import (--runtime) ----------------------------------------------


def _predicted_ok(env: EnvironmentInspection, module: str) -> bool | None:
    """Whether the loader simulation expected ``module``'s distribution to import (None: not simulated)."""
    top = module.partition(".")[0]
    owners = {name for name, tops in env.top_levels.items() if top in tops}
    predictions = [p for p in env.predictions if str(canonicalize_name(p.distribution)) in owners]
    if not predictions:
        return None
    return all(
        load.ok or _norm(load.requested) in env.conditional_extensions
        for p in predictions
        for load in p.report.extensions
    )


@register_environment(
    "ND712",
    "import-failed-at-runtime",
    Severity.ERROR,
    summary="Importing a package in a child process failed (--runtime), or did not fail as predicted.",
    what=(
        "With `--runtime`, each top-level package that ships extension modules is imported in a child "
        "Python (`-X faulthandler`, never in the doctor's own process); the result is compared with the "
        "static loader simulation. A failed import is an error whatever the cause; an import that "
        "succeeds although the simulation predicted a load failure is reported too, since it means the "
        "static picture missed something (a library preloaded by another import, an environment variable)."
    ),
    why=(
        'This is the failure the user will see: "ImportError: libfoo.so.1: cannot open shared object file", '
        '"Illegal instruction (core dumped)" (SIGILL: a CPU baseline the host lacks), "OMP: Error #15: '
        'Initializing libiomp5.so, but found libomp.so already initialized" (abort), or a NumPy ABI '
        "message. The signal and the last line of the child's stderr say which."
    ),
    fix=(
        "Follow the finding the static checks gave for the same distribution (ND701, ND702, ND708, ND710); "
        "for a SIGILL install a build for the host's CPU level; for OMP Error #15 remove one of the OpenMP "
        "runtimes (ND704). If no static finding explains it, run the import with `LD_DEBUG=libs` (Linux) "
        "to see what the loader did, and report the difference to native-doctor."
    ),
    page="native-dependencies",
    references=("https://man7.org/linux/man-pages/man8/ld.so.8.html",),
)
def import_failed_at_runtime(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per top-level package and cause of failure (``scipy.linalg``, ``scipy.fft``, ...
    failing on one missing ``numpy.exceptions`` is one finding), and one per probed package that
    succeeded against the prediction."""
    artifact = env.site_packages[0] if env.site_packages else ""
    failed: dict[tuple[str, str], list[ImportProbe]] = {}
    for probe in env.runtime:
        if not probe.ok and probe.returncode is None and not probe.timed_out:
            # The child never ran (the interpreter could not be started): nothing is known about
            # the import, and it is not the package's failure.
            yield dataclasses.replace(
                import_failed_at_runtime.finding(
                    f"`import {probe.module}` could not be tried: {probe.error}",
                    artifact,
                    probe.module,
                    "not-probed",
                ),
                severity=Severity.INFO,
            )
            continue
        if not probe.ok:
            cause = probe.signal or probe.error or f"exit status {probe.returncode}"
            if probe.root_cause and probe.root_cause not in cause:
                cause += f"; root cause: {probe.root_cause}"
            failed.setdefault((probe.module.partition(".")[0], cause), []).append(probe)
    expected = {True: "the loader simulation predicted it would load", False: "as predicted", None: ""}
    optional = {module_of(posixpath.relpath(path, _site(env, path))) for path in env.conditional_extensions}
    for (_top, cause), probes in failed.items():
        if all(p.module in optional for p in probes):
            yield dataclasses.replace(
                import_failed_at_runtime.finding(
                    f"{_list(f'`import {p.module}`' for p in probes)} failed in a child process: {cause}; "
                    "an optional module its package imports only conditionally (in a function or a "
                    "try/except), so importing the package itself is not affected",
                    artifact,
                    probes[0].module,
                    cause,
                ),
                severity=Severity.INFO,
            )
            continue
        first = probes[0]
        predicted = _predicted_ok(env, first.module)
        notes = sorted({n for p in probes for n in p.notes})
        modules = _list((f"`import {p.module}`" for p in probes), 4)
        verb = "failed" if len(probes) == 1 else "each failed"
        yield import_failed_at_runtime.finding(
            f"{modules} {verb} in a child process: {cause}"
            + (f" ({'; '.join(notes)})" if notes else "")
            + (f"; {expected[predicted]}" if expected[predicted] else ""),
            artifact,
            first.module,
            cause,
        )
    for probe in env.runtime:
        predicted = _predicted_ok(env, probe.module)
        if probe.ok and predicted is False:
            yield dataclasses.replace(
                import_failed_at_runtime.finding(
                    f"`import {probe.module}` succeeded although the loader simulation predicted a load "
                    "failure: the static picture missed how the process finds a library",
                    artifact,
                    probe.module,
                    "prediction-differs",
                ),
                severity=Severity.INFO,
            )


# The checks on installed files, requirements and libraries loaded by name (ND713-ND718) live in
# their own module; importing it here registers them with the environment checks.
from native_doctor.checks import installed as _installed  # noqa: E402, F401
