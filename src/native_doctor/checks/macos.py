"""macOS checks (ND4xx): build-machine install names, unresolved @rpath."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.checks.builtin import is_optional
from native_doctor.checks.registry import Finding, Severity, register
from native_doctor.model import Dependency, Resolution

if TYPE_CHECKING:
    from native_doctor.analysis import BinaryReport, Inspection

__all__ = ["build_machine_prefix", "is_build_machine_install_name", "is_unresolved_rpath"]

#: Path prefixes that exist on a build machine but not on a user's Mac, and what they are.
_BUILD_PREFIXES: tuple[tuple[str, str], ...] = (
    ("/opt/homebrew/", "Homebrew (Apple silicon)"),
    ("/usr/local/opt/", "Homebrew (Intel)"),
    ("/usr/local/Cellar/", "Homebrew (Intel)"),
    ("/usr/local/Homebrew/", "Homebrew (Intel)"),
    ("/usr/local/lib/", "a library installed into /usr/local"),
    ("/usr/local/", "a library installed into /usr/local"),
    ("/opt/local/", "MacPorts"),
    ("/opt/miniconda", "a conda installation"),
    ("/opt/anaconda", "a conda installation"),
    ("/opt/conda", "a conda installation"),
    ("/Users/runner/", "a GitHub Actions runner"),
    ("/Users/", "a home directory"),
    ("/private/var/folders/", "a temporary build directory"),
    ("/var/folders/", "a temporary build directory"),
    ("/private/tmp/", "a temporary build directory"),
    ("/tmp/", "a temporary build directory"),
    ("/Applications/Xcode", "an Xcode toolchain"),
    ("/Library/Developer/CommandLineTools/", "the Command Line Tools toolchain"),
    ("/Volumes/", "a mounted build volume"),
    ("/Library/Frameworks/Python.framework/", "a python.org Python installation"),
    ("/opt/", "an add-on software prefix"),
)


def build_machine_prefix(path: str) -> str | None:
    """What build-machine location an absolute Mach-O path names (``"Homebrew (Apple silicon)"``).

    None for paths every Mac has (``/usr/lib``, ``/System``) and for ``@``-relative paths.
    """
    if not path.startswith("/") or path.startswith(("/usr/lib/", "/System/")):
        return None
    for prefix, what in _BUILD_PREFIXES:
        if path.startswith(prefix):
            return what
    if "/envs/" in path or "/conda" in path or "/micromamba" in path:
        return "a conda environment"
    return None


def is_unresolved_rpath(dep: Dependency) -> bool:
    """Whether ``dep`` is an ``@rpath/`` install name that no LC_RPATH resolves inside the artifact.

    The loader rules already followed the LC_RPATH entries of the binary and of every image that
    loads it; ND402 reports these, so the generic external-library check (ND201) can skip them.
    """
    return dep.name.startswith("@rpath/") and dep.resolution is Resolution.EXTERNAL


def is_build_machine_install_name(dep: Dependency, info: BinaryInfo | None) -> bool:
    """Whether ``dep`` is a Mach-O dependency at an absolute build-machine path (ND401 reports it
    with the place it names, so the generic external-library check, ND201, skips it: one cause,
    one finding)."""
    return (
        info is not None
        and info.format is BinaryFormat.MACHO
        and dep.name in info.needed
        and build_machine_prefix(dep.name) is not None
    )


def _macho_binaries(inspection: Inspection) -> Iterator[tuple[BinaryReport, BinaryInfo]]:
    for binary in inspection.binaries:
        info = binary.native.info
        if info is not None and info.format is BinaryFormat.MACHO:
            yield binary, info


def _rpath_searchers(inspection: Inspection) -> set[str]:
    """Paths of Mach-O files whose LC_RPATH dyld consults: those with an ``@rpath/`` dependency
    and every file that (transitively, through the wheel) loads one of them."""
    loaded_by: dict[str, set[str]] = {}
    searchers: set[str] = set()
    for binary, _ in _macho_binaries(inspection):
        for dep in binary.dependencies:
            if dep.name.startswith("@rpath/"):
                searchers.add(binary.native.path)
            if dep.member is not None and dep.member != binary.native.path:
                loaded_by.setdefault(dep.member, set()).add(binary.native.path)
    return _closure(searchers, loaded_by)


def _closure(start: set[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    todo = list(start)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


_WHY_BUILD_PATH = (
    'dyld looks for the library at that path and nowhere else: "ImportError: dlopen(..._ext.so, 0x0002): '
    'Library not loaded: /opt/homebrew/opt/libomp/lib/libomp.dylib ... (no such file)" on every Mac '
    "without the same Homebrew/conda/build tree. On the developer's and CI's machines the path exists, "
    "so the wheel works there and the bug ships. An LC_RPATH entry at a build path that dyld searches "
    "makes it load whatever library a user happens to have there (a different version or architecture) "
    "before the bundled one."
)


@register(
    "ND401",
    "build-machine-install-name",
    Severity.ERROR,
    summary="A Mach-O file loads a library from, or searches @rpath in, a build machine's directory.",
    what=(
        "Mach-O load commands (LC_LOAD_DYLIB and its weak/re-export/upward variants) whose install name is "
        "an absolute path under a build-machine prefix (`/opt/homebrew/`, `/usr/local/opt/`, "
        "`/usr/local/Cellar/`, `/usr/local/lib/`, `/Users/`, `/private/var/folders/`, `/tmp/`, Xcode "
        "toolchains, `/Volumes/`, conda prefixes), and LC_RPATH entries under such a prefix in files "
        "whose @rpath search dyld actually performs (the file or a library it loads has `@rpath/` "
        "dependencies). Build-machine LC_RPATH entries nothing searches are left to ND403. Such an "
        "install name is never in the wheel, so it is also an external library: it is reported here "
        "only, naming the build-machine place, and not again as ND201."
    ),
    why=_WHY_BUILD_PATH,
    fix=(
        "Bundle the library and point the reference inside the wheel: `delocate-wheel` (cibuildwheel's "
        "default macOS repair) copies it to `.dylibs/` and rewrites the install name to "
        "`@loader_path/...`; if it did not, the dependency was excluded (`--exclude`) or the wheel was "
        "never repaired. Build-side: link against a library whose own install name is `@rpath/libfoo.dylib` "
        "and add `@loader_path`-relative LC_RPATH entries only - CMake (scikit-build-core): "
        '`INSTALL_RPATH "@loader_path/..."`, `MACOSX_RPATH ON`; meson-python: `install_rpath:`; '
        "setuptools: `extra_link_args=['-Wl,-rpath,@loader_path/...']`; maturin: RUSTFLAGS "
        "`-C link-arg=-Wl,-rpath,@loader_path/...`. `install_name_tool -change OLD NEW` and "
        "`install_name_tool -delete_rpath PATH` fix a finished binary (then re-sign: "
        "`codesign -f -s - file`)."
    ),
    page="macos-deployment-targets",
    references=(
        "https://github.com/matthew-brett/delocate",
        "https://developer.apple.com/library/archive/documentation/DeveloperTools/Conceptual/DynamicLibraries/"
        "100-Articles/RunpathDependentLibraries.html",
    ),
)
def build_machine_install_name(inspection: Inspection) -> Iterator[Finding]:
    """One finding per build-machine install name, and per searched build-machine LC_RPATH entry."""
    searchers = _rpath_searchers(inspection)
    for binary, info in _macho_binaries(inspection):
        path = binary.native.path
        for name in info.needed:
            what = build_machine_prefix(name)
            if what is not None:
                weak = " (weakly: the import succeeds, but the feature silently goes missing)"
                lazy = weak if name in info.weak_needed else ""
                yield build_machine_install_name.finding(
                    f"{path} loads {name}, a path on the build machine ({what}) and not in the wheel{lazy}",
                    inspection.artifact.path,
                    path,
                    name,
                )
        if path in searchers:
            for entry in info.rpath:
                what = build_machine_prefix(entry)
                if what is not None:
                    yield build_machine_install_name.finding(
                        f"{path} has LC_RPATH {entry}, a path on the build machine ({what}), and dyld "
                        "searches it for @rpath/ libraries",
                        inspection.artifact.path,
                        path,
                        entry,
                    )


@register(
    "ND402",
    "unresolved-rpath",
    Severity.ERROR,
    summary="An @rpath/ dependency is not found through any LC_RPATH inside the wheel.",
    what=(
        "Every `@rpath/...` install name a Mach-O file loads, expanded through the LC_RPATH entries of "
        "the file and of every image that loads it (as dyld does); an entry counts when it leads to the "
        "library inside the installed wheel (`@loader_path/...`). It reports what the generic "
        "external-library check (ND201) would, more precisely: whether a copy is in the wheel but no "
        "LC_RPATH reaches it, or no copy is bundled at all. An extension module the package imports only "
        "where it catches `ImportError` is reported by ND211 instead."
    ),
    why=(
        "The import fails on a user's Mac: \"ImportError: dlopen(..._ext.cpython-312-darwin.so, 0x0002): "
        "Library not loaded: @rpath/libfoo.dylib ... Reason: tried: '/usr/local/lib/libfoo.dylib' (no such "
        'file), ...". On the build machine it often works, because an absolute LC_RPATH to the build '
        "tree, or DYLD_LIBRARY_PATH, finds the library there."
    ),
    fix=(
        "Run `delocate-wheel` (cibuildwheel does by default): it bundles @rpath dependencies and rewrites "
        "them to `@loader_path/.dylibs/...`. If the library is already in the wheel, add an LC_RPATH that "
        "reaches it from the loading file: CMake (scikit-build-core): `set_target_properties(ext "
        'PROPERTIES INSTALL_RPATH "@loader_path/../lib")`; meson-python: `install_rpath: '
        "'@loader_path/...'`; setuptools: `extra_link_args=['-Wl,-rpath,@loader_path/...']`; maturin: "
        "`-C link-arg=-Wl,-rpath,@loader_path/...`; on a built file, `install_name_tool -add_rpath`. "
        "If another distribution provides it (torch, nvidia-*), add that distribution to Requires-Dist "
        "and an `@loader_path`-relative LC_RPATH into its directory."
    ),
    page="native-dependencies",
    references=(
        "https://github.com/matthew-brett/delocate",
        "https://developer.apple.com/library/archive/documentation/DeveloperTools/Conceptual/DynamicLibraries/"
        "100-Articles/RunpathDependentLibraries.html",
    ),
)
def unresolved_rpath(inspection: Inspection) -> Iterator[Finding]:
    """One finding per Mach-O file and @rpath dependency no LC_RPATH resolves in the wheel."""
    for binary, info in _macho_binaries(inspection):
        for dep in binary.dependencies:
            if not is_unresolved_rpath(dep) or is_optional(binary, inspection):
                continue  # an optional extension module's: ND211
            entries = ", ".join(info.rpath) if info.rpath else "none"
            lazy = " (weak: the import succeeds without it)" if dep.lazy else ""
            yield unresolved_rpath.finding(
                f"{binary.native.path} loads {dep.name}, but no LC_RPATH leads to it inside the wheel "
                f"(its own LC_RPATH entries: {entries}; {dep.via}){lazy}",
                inspection.artifact.path,
                binary.native.path,
                dep.name,
            )


@register(
    "ND403",
    "build-machine-rpath",
    Severity.INFO,
    summary="A Mach-O file keeps an unused LC_RPATH entry pointing at a build machine's directory.",
    what=(
        "LC_RPATH entries under a build-machine prefix (the prefixes of ND401) in files whose @rpath "
        "search nothing performs today: neither the file nor any library it loads has an `@rpath/` "
        "dependency. (When something does search them, ND401 reports the entry as an error.)"
    ),
    why=(
        "The entry is dead weight today and leaks the build machine's layout, but it becomes live the "
        "moment a later build adds an `@rpath/` dependency: dyld then searches the user's "
        "`/opt/homebrew/lib` (or conda environment) first and may load a different version of a library "
        "than the one bundled. It usually means the build linked against a package manager's libraries "
        "(CMake's `CMAKE_INSTALL_RPATH_USE_LINK_PATH`, conda compilers' `-Wl,-rpath,$PREFIX/lib`)."
    ),
    fix=(
        "Stop adding the entry: CMake (scikit-build-core): leave `CMAKE_INSTALL_RPATH_USE_LINK_PATH` off "
        "and set `INSTALL_RPATH` to `@loader_path`-relative entries; conda-based builds: strip conda's "
        "`-Wl,-rpath,$PREFIX/lib` from LDFLAGS; setuptools / meson-python / maturin: remove absolute "
        "`-rpath` link arguments. On a finished file: `install_name_tool -delete_rpath PATH file` "
        "and re-sign (`codesign -f -s - file`). delocate keeps such entries; it does not need them."
    ),
    page="macos-deployment-targets",
    references=("https://github.com/matthew-brett/delocate",),
)
def build_machine_rpath(inspection: Inspection) -> Iterator[Finding]:
    """One finding per set of unused build-machine LC_RPATH entries, listing the files that carry it.

    Build systems add the same entries to every extension module (scikit-learn: 51 files; scipy:
    three entries in each of 22 files), so the finding is per set of entries; its member is the
    first file and its locations are all of them.
    """
    searchers = _rpath_searchers(inspection)
    carriers: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for binary, info in _macho_binaries(inspection):
        if binary.native.path in searchers:
            continue
        entries = tuple(
            dict.fromkeys((entry, what) for entry in info.rpath if (what := build_machine_prefix(entry)))
        )
        if entries:
            carriers.setdefault(entries, []).append(binary.native.path)
    for entries, paths in carriers.items():
        files = paths[0] if len(paths) == 1 else f"{len(paths)} files ({', '.join(paths[:3])}, ...)"
        verb = "has" if len(paths) == 1 else "have"
        whats = "; ".join(dict.fromkeys(what for _, what in entries))
        if len(entries) == 1:
            said = f"LC_RPATH {entries[0][0]}, a path on the build machine ({whats}) that"
        else:
            said = (
                f"LC_RPATH entries {', '.join(e for e, _ in entries)}, paths on the build machine "
                f"({whats}) that"
            )
        finding = build_machine_rpath.finding(
            f"{files} {verb} {said} no @rpath/ dependency uses",
            inspection.artifact.path,
            paths[0],
            ", ".join(e for e, _ in entries),
        )
        yield replace(finding, locations=tuple(paths)) if len(paths) > 1 else finding
