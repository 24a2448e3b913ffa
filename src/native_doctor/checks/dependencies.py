"""Dependency checks (ND2xx): libraries other distributions provide, duplicates, OpenMP, BLAS, CUDA.

Knowledge lives in two data files next to this module: ``data/providers.json`` (which PyPI
distribution installs which library where, read from real wheels' file lists) and
``data/runtimes.json`` (how OpenMP runtimes and BLAS libraries are named).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from native_doctor._package_data import read_package_text
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.checks.registry import Finding, Severity, Status, register
from native_doctor.model import Dependency, NativeFile, Resolution
from native_doctor.platforms import loader
from native_doctor.providers import Declared as _Declared
from native_doctor.providers import Provider, is_driver_library, provided_by, providers_of
from native_doctor.providers import declared as _declared
from native_doctor.providers import is_declared as _is_declared
from native_doctor.providers import requirements as _requirements

if TYPE_CHECKING:
    from native_doctor.analysis import BinaryReport, Inspection

__all__ = [
    "BlasLibrary",
    "OpenMPRuntime",
    "Provider",
    "blas_library",
    "cuda_major_of_library",
    "cuda_major_of_package",
    "is_driver_library",
    "openmp_runtime",
    "provided_by",
    "providers_of",
    "unhashed_name",
]

# --------------------------------------------------------------------------- data


def _data(name: str) -> Any:
    return json.loads(read_package_text("checks", "data", name))


@dataclass(frozen=True, slots=True)
class OpenMPRuntime:
    """An OpenMP runtime family."""

    runtime: str
    label: str


@dataclass(frozen=True, slots=True)
class BlasLibrary:
    """A BLAS/LAPACK implementation and its integer model."""

    flavour: str
    #: ``LP64``, ``ILP64``, or None when the name does not say.
    integers: str | None
    symbols: str


@dataclass(frozen=True, slots=True)
class _Runtimes:
    openmp: tuple[tuple[re.Pattern[str], OpenMPRuntime], ...]
    blas: tuple[tuple[re.Pattern[str], BlasLibrary], ...]


@functools.cache
def _runtimes() -> _Runtimes:
    raw = _data("runtimes.json")
    return _Runtimes(
        tuple(
            (re.compile(e["pattern"], re.IGNORECASE), OpenMPRuntime(e["runtime"], e["label"]))
            for e in raw["openmp"]
        ),
        tuple(
            (re.compile(e["pattern"], re.IGNORECASE), BlasLibrary(e["flavour"], e["integers"], e["symbols"]))
            for e in raw["blas"]
        ),
    )


#: auditwheel inserts ``-<8 hex>`` (once or twice) before the first dot; delvewheel ``-<32 hex>``.
_HASH = re.compile(r"-[0-9a-f]{32}(?=\.)|-[0-9a-f]{8}(?=[.-])", re.IGNORECASE)


def unhashed_name(name: str) -> str:
    """A library's base name with repair-tool hashes removed (``libgomp-e985bcbb.so.1.0.0`` ->
    ``libgomp.so.1.0.0``, ``vcomp140-<32 hex>.dll`` -> ``vcomp140.dll``)."""
    return _HASH.sub("", _basename(name))


def _names(native: NativeFile) -> list[str]:
    """The unhashed names a bundled file goes by: its file name and its SONAME/install name/DLL name."""
    names = [unhashed_name(native.install_path)]
    info = native.info
    if info is not None:
        for own in (info.soname, info.install_name, info.dll_name):
            if own:
                names.append(unhashed_name(own))
    return list(dict.fromkeys(names))


def openmp_runtime(native: NativeFile) -> OpenMPRuntime | None:
    """The OpenMP runtime this bundled file is, if it is one."""
    for name in _names(native):
        for pattern, runtime in _runtimes().openmp:
            if pattern.match(name):
                return runtime
    return None


_ILP64_SYMBOL = re.compile(r"^(?:scipy_)?(?:cblas_)?[sdcz]gemm_?64_$")
_LP64_SYMBOL = re.compile(r"^(?:scipy_)?[sdcz]gemm_$")


def blas_library(native: NativeFile) -> BlasLibrary | None:
    """The BLAS/LAPACK implementation this bundled file is, if it is one.

    The integer model comes from the name; when the file was read deeply, from its exported
    GEMM symbols (``dgemm_64_``/``scipy_dgemm_64_``: ILP64; ``dgemm_``: LP64), which win.
    """
    found: BlasLibrary | None = None
    for name in _names(native):
        for pattern, library in _runtimes().blas:
            if pattern.match(name):
                found = library
                break
        if found is not None:
            break
    if found is None:
        return None
    integers = found.integers
    if integers is None:
        lowered = " ".join(_names(native)).lower()
        integers = "ILP64" if "ilp64" in lowered else "LP64" if "lp64" in lowered else None
    info = native.info
    if info is not None and info.deep:
        exported = info.exported_symbols
        if any(_ILP64_SYMBOL.match(s) for s in exported):
            integers = "ILP64"
        elif any(_LP64_SYMBOL.match(s) for s in exported):
            integers = "LP64"
    return dataclasses.replace(found, integers=integers)


# --------------------------------------------------------------------------- helpers


def _basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _is_extra_only(requirement: Requirement) -> bool:
    return requirement.marker is not None and "extra" in str(requirement.marker)


def _loaded_by_declared(provider: Provider, declared: _Declared) -> str | None:
    """A declared distribution whose import loads the provider's library (None if there is none)."""
    if provider.loaded_on_import and provider.distribution in declared.names:
        return provider.distribution
    for bringer in provider.brought_by:
        if bringer in declared.names:
            return bringer
    return None


def _external(inspection: Inspection) -> Iterator[tuple[BinaryReport, Dependency]]:
    for binary in inspection.binaries:
        for dep in binary.dependencies:
            if dep.resolution is Resolution.EXTERNAL:
                yield binary, dep


def _target(inspection: Inspection) -> str | None:
    return str(inspection.platform.os) if inspection.platform.os is not None else None


def _search_directories(native: NativeFile, dep: Dependency, dll_directories: Sequence[str]) -> list[str]:
    """Install-path directories the loader searches for ``dep`` from ``native`` (within site-packages)."""
    info = native.info
    if info is None:
        return []
    here = posixpath.dirname(native.install_path)
    found: list[str] = []
    if info.format is BinaryFormat.ELF:
        candidates = [loader.expand_origin(entry, here, info.arch) for entry in info.runpath or info.rpath]
        found.extend(d for d in candidates if d is not None)
    elif info.format is BinaryFormat.MACHO:
        if dep.name.startswith("@loader_path/"):
            directory = loader.join_install_path(here, posixpath.dirname(dep.name[12:]))
            if directory is not None:
                found.append(directory)
        elif dep.name.startswith("@rpath/"):
            candidates = [loader.expand_loader_path(entry, here) for entry in info.rpath]
            found.extend(d for d in candidates if d is not None)
    else:
        found.append(here)
        found.extend(dll_directories)
    return found


def _describe(provider: Provider) -> str:
    cuda = f", CUDA {provider.cuda}" if provider.cuda else ""
    return f"{provider.distribution} ({provider.directory}{cuda})"


# --------------------------------------------------------------------------- ND202 / ND203


@register(
    "ND202",
    "undeclared-provider",
    Severity.ERROR,
    summary="A binary needs a library that a PyPI distribution provides, but Requires-Dist does not name it.",
    what=(
        "For every needed library that is not bundled, whether a known PyPI distribution installs it "
        "(nvidia-* CUDA wheels: libcudart, libcublas, libcudnn, ...; torch: libtorch*, libc10*; pyarrow: "
        "libarrow*) and whether the artifact's Requires-Dist names that distribution (names compared "
        "canonicalized; requirements under extras or environment markers count as declared; "
        "`cuda-toolkit[cudart]` counts for the component it brings; `torch` counts for the CUDA libraries "
        "it requires and loads itself)."
    ),
    why=(
        "pip installs only what Requires-Dist names, so on a clean machine the library is simply absent and "
        'the import fails: "ImportError: libcublas.so.12: cannot open shared object file: No such file or '
        "directory\". It works on the developer's machine only because the provider happens to be installed "
        "there already."
    ),
    fix=(
        "Add the providing distribution to the project's dependencies (pin the CUDA major it was built "
        "against: `nvidia-cublas-cu12`, or `nvidia-cublas` for CUDA 13; `torch==X.Y.Z` for libtorch). "
        "setuptools: `[project] dependencies` in pyproject.toml (or `install_requires`); scikit-build-core "
        "and meson-python: `[project] dependencies`; maturin: `[project] dependencies` in pyproject.toml. "
        "Keep the library out of the repair step so it is not vendored as well: `auditwheel repair "
        "--exclude libcublas.so.12`, `delocate-wheel --exclude`, `delvewheel repair --no-dll`. Then make "
        "the loader find it (see ND203)."
    ),
    page="native-dependencies",
    references=(
        "https://packaging.python.org/en/latest/specifications/core-metadata/#requires-dist-multiple-use",
        "https://pypackaging-native.github.io/key-issues/gpus/",
        "https://github.com/pypa/auditwheel#excluding-libraries",
    ),
)
def undeclared_provider(inspection: Inspection) -> Iterator[Finding]:
    """One finding per binary and provided library whose provider is not declared."""
    declared = _declared(inspection.artifact.requires_dist)
    own = str(canonicalize_name(inspection.artifact.name))
    for binary, dep in _external(inspection):
        candidates = providers_of(dep.name, _target(inspection))
        if not candidates or any(p.distribution == own for p in candidates):
            continue
        if any(_is_declared(p, declared) or _loaded_by_declared(p, declared) for p in candidates):
            continue
        names = " or ".join(_describe(p) for p in candidates)
        lazy = " (loaded lazily: fails on first use)" if dep.lazy else ""
        yield undeclared_provider.finding(
            f"{binary.native.path} needs {dep.name}{lazy}, which {names} provides, but Requires-Dist does "
            f"not name {'it' if len(candidates) == 1 else 'any of them'}",
            inspection.artifact.path,
            binary.native.path,
            dep.name,
        )


@register(
    "ND203",
    "provider-not-on-search-path",
    Severity.ERROR,
    summary="A binary needs a library from a declared distribution, but its RPATH does not reach it.",
    what=(
        "For every needed library that a declared distribution provides (ND202's list), whether the "
        "binary's DT_RUNPATH/DT_RPATH ($ORIGIN-relative), Mach-O LC_RPATH/@loader_path, or the package's "
        "added DLL directories, normalized against the binary's install path, name the directory the "
        "provider installs the library into (e.g. `$ORIGIN/../../nvidia/cublas/lib` from "
        "`pkg/sub/_ext.so`). Libraries a declared distribution loads when it is imported (torch, pyarrow, "
        "and the CUDA libraries torch requires) are not reported."
    ),
    why=(
        "The provider is installed, but in another directory of site-packages, which the loader does not "
        'search: "ImportError: libcudart.so.12: cannot open shared object file: No such file or '
        'directory" on every machine without a system CUDA; where LD_LIBRARY_PATH or a system toolkit '
        "happens to supply the library, a different version is loaded instead of the declared one."
    ),
    fix=(
        "Add the provider's directory, relative to the binary, to the search path at link time. "
        "setuptools: `runtime_library_dirs=['$ORIGIN/../nvidia/cublas/lib']` on the Extension (or "
        "`-Wl,-rpath,$ORIGIN/...` in `extra_link_args`); scikit-build-core: "
        '`set_target_properties(_ext PROPERTIES INSTALL_RPATH "$ORIGIN/../nvidia/cublas/lib")`; '
        "meson-python: `install_rpath: '$ORIGIN/../nvidia/cublas/lib'` on the extension_module; maturin: "
        "`-C link-arg=-Wl,-rpath,$ORIGIN/../nvidia/cublas/lib` in RUSTFLAGS or `cargo:rustc-link-arg` "
        "in build.rs. On macOS use `@loader_path/...` with `-Wl,-rpath`. auditwheel keeps an existing "
        "RPATH entry for an excluded library. Count one `..` per directory level of the binary below "
        "site-packages. Alternatively import a module that loads the library (by absolute path) before "
        "the extension."
    ),
    page="native-dependencies",
    references=(
        "https://man7.org/linux/man-pages/man8/ld.so.8.html",
        "https://pypackaging-native.github.io/key-issues/gpus/",
    ),
)
def provider_not_on_search_path(inspection: Inspection) -> Iterator[Finding]:
    """One finding per binary and declared provider's library that its search path misses."""
    declared = _declared(inspection.artifact.requires_dist)
    own = str(canonicalize_name(inspection.artifact.name))
    for binary, dep in _external(inspection):
        candidates = providers_of(dep.name, _target(inspection))
        if not candidates or any(p.distribution == own for p in candidates):
            continue
        chosen = [p for p in candidates if _is_declared(p, declared)]
        if not chosen or any(_loaded_by_declared(p, declared) for p in candidates):
            continue
        searched = _search_directories(binary.native, dep, inspection.artifact.dll_directories)
        if any(p.directory in searched for p in chosen):
            continue
        info = binary.native.info
        entries = (info.runpath or info.rpath) if info is not None else ()
        where = ", ".join(entries) if entries else "none"
        wanted = " or ".join(p.directory for p in chosen)
        yield provider_not_on_search_path.finding(
            f"{binary.native.path} needs {dep.name} from {chosen[0].distribution}, which installs it into "
            f"{wanted}, but no search-path entry of the binary reaches that directory (entries: {where})",
            inspection.artifact.path,
            binary.native.path,
            dep.name,
        )


# --------------------------------------------------------------------------- ND204


def _is_library_name(name: str) -> bool:
    """A library rather than an extension module (whose names a package may legitimately repeat)."""
    lowered = name.lower()
    if ".cpython-" in lowered or ".abi3." in lowered or lowered.endswith(".pyd") or ".pypy" in lowered:
        return False
    return lowered.startswith("lib") or lowered.endswith((".dll", ".dylib"))


#: Extension-module names (``x.cpython-312-x86_64-linux-gnu.so``, ``x.abi3.so``, ``x.pyd``, ``x.so``
#: directly in a package): Python modules, not vendored libraries.
_EXTENSION = re.compile(r"\.(?:cpython-[^/]+|abi3|cp\d+-[^/]+)\.(?:so|pyd)$|\.pyd$", re.IGNORECASE)


def _is_shared_library(native: NativeFile) -> bool:
    """A shared library that could be vendored: not an extension module, not a script."""
    info = native.info
    if info is None or info.kind is not FileKind.SHARED_LIBRARY:
        return False
    return not native.install_path.startswith("<") and not _EXTENSION.search(native.install_path)


def _identity(native: NativeFile) -> tuple[str, str] | None:
    """(arch, unhashed library name) for shared libraries a repair tool renamed; None otherwise.

    Only renamed copies are compared by name: same-named libraries in different directories without a
    repair-tool hash are usually deliberate variants (x11/ and wayland/ builds, one DLL per MSVC
    version) of which one is loaded.
    """
    info = native.info
    if info is None or info.kind is not FileKind.SHARED_LIBRARY:
        return None
    own = info.soname or info.install_name or info.dll_name or _basename(native.install_path)
    if not _is_library_name(_basename(native.install_path)) or not _is_library_name(_basename(own)):
        return None
    name = unhashed_name(own)
    if info.format is BinaryFormat.PE:
        name = name.casefold()
    return info.arch, name


def _renamed(native: NativeFile) -> bool:
    base = _basename(native.install_path)
    return unhashed_name(base) != base


@register(
    "ND204",
    "duplicate-vendored-library",
    Severity.WARNING,
    summary="The same library is vendored more than once in one wheel.",
    what=(
        "Shared libraries with identical contents (CRC-32 and size) at different paths, typically symbolic "
        "links flattened into copies by the zip format; and shared libraries of one architecture with the "
        "same SONAME, install name or DLL name (repair-tool hashes removed) at several paths, where a repair "
        "tool renamed at least one copy (same-named libraries in different directories without a hash are "
        "usually deliberate variants, of which one is loaded). The finding gives the bytes the extra "
        "copies take."
    ),
    why=(
        "Wheels cannot hold symbolic links, so `libfoo.so -> libfoo.so.1 -> libfoo.so.1.2` becomes three full"
        " copies; two repairs of the same dependency vendor it twice. The wheel and every installation grow "
        "by the copies (PyPI's per-file size limit is reached sooner), and when two copies of one library are"
        " loaded into one process each keeps its own global state (allocators, thread pools, registries), "
        "which produces crashes that only appear with some import orders."
    ),
    fix=(
        "Install one file and let the others be found by SONAME: with CMake (scikit-build-core) install only "
        "the real file (`install(FILES $<TARGET_SONAME_FILE:foo>)` or `NAMELINK_SKIP`), with meson-python use"
        " `install_tag`/`meson install --tags runtime` and avoid `install_data` of the symlinks, with "
        "setuptools copy only the SONAME file into package_data, with maturin do not list the library in "
        "`include`. When a vendored dependency already carries its own copy (a library wheel repaired "
        "earlier), link against that one and exclude it from the repair: `auditwheel repair --exclude`, "
        "`delocate-wheel --exclude`, `delvewheel repair --no-dll`."
    ),
    page="wheel-contents",
    references=(
        "https://github.com/pypa/wheel/issues/203",
        "https://github.com/pypa/auditwheel#excluding-libraries",
    ),
)
def duplicate_vendored_library(inspection: Inspection) -> Iterator[Finding]:
    """One finding per group of copies of one library."""
    natives = list(inspection.artifact.native)
    parent = list(range(len(natives)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(keys: Mapping[Any, list[int]]) -> None:
        for members in keys.values():
            for other in members[1:]:
                parent[root(other)] = root(members[0])

    by_fingerprint: dict[str, list[int]] = {}
    by_identity: dict[tuple[str, str], list[int]] = {}
    for i, native in enumerate(natives):
        if not _is_shared_library(native):
            continue
        if native.fingerprint is not None and native.size > 0:
            by_fingerprint.setdefault(native.fingerprint, []).append(i)
        identity = _identity(native)
        if identity is not None:
            by_identity.setdefault(identity, []).append(i)
    join(by_fingerprint)
    join({k: v for k, v in by_identity.items() if any(_renamed(natives[i]) for i in v)})
    groups: dict[int, list[NativeFile]] = {}
    for i, native in enumerate(natives):
        groups.setdefault(root(i), []).append(native)
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda n: (-n.size, n.path))
        wasted = sum(n.size for n in members[1:])
        how = _how_they_differ(members)
        identity = _identity(members[0])
        label = identity[1] if identity is not None else _basename(members[0].path)
        yield duplicate_vendored_library.finding(
            f"{label} is vendored {len(members)} times ({how}): {', '.join(n.path for n in members)}; "
            f"the extra copies take {wasted:,} bytes",
            inspection.artifact.path,
            members[0].path,
            label,
        )


_FIRST_HASH = re.compile(r"-([0-9a-f]{8})(?=[.-])", re.IGNORECASE)


def _how_they_differ(members: list[NativeFile]) -> str:
    """What is true of the copies: the same bytes, one original patched differently, or different builds.

    auditwheel names a vendored copy after the first 8 hex digits of the original file's hash
    (``libgcc_s-2d945d6c.so.1``); a second repair adds its own (``libgcc_s-2d945d6c-767fb991.so.1``),
    so copies whose first hash agrees come from one original file.
    """
    fingerprints = {n.fingerprint for n in members}
    if len(fingerprints) == 1 and members[0].fingerprint is not None:
        return "identical copies"
    if None in fingerprints:
        return "copies of one library"  # no content fingerprint: nothing to say about their contents
    originals = {
        m.group(1).lower() if (m := _FIRST_HASH.search(_basename(n.path))) else None for n in members
    }
    if len(originals) == 1 and None not in originals:
        return f"copies of one original file (repair hash {originals.pop()}) patched differently"
    return "different builds: the copies differ in content"


# --------------------------------------------------------------------------- ND205


@register(
    "ND205",
    "vendored-openmp-runtime",
    Severity.INFO,
    summary="The wheel bundles an OpenMP runtime (a warning when it bundles two different ones).",
    what=(
        "Bundled files whose name or SONAME/install name/DLL name (repair-tool hashes removed) is an OpenMP "
        "runtime: GNU libgomp, LLVM libomp, Intel libiomp5, Microsoft vcomp. Reported at warning severity "
        "when one wheel bundles two different runtimes."
    ),
    why=(
        "Every package that vendors its own OpenMP brings its own thread pool: numpy/scipy's OpenBLAS, "
        "scikit-learn and torch together start several pools of one thread per core each (oversubscription, "
        "much slower than one pool). Two runtimes of the same family abort the process: "
        '"OMP: Error #15: Initializing libiomp5.dylib, but found libomp.dylib already initialized. OMP: '
        'Hint This means that multiple copies of the OpenMP runtime have been linked into the program." '
        "libgomp's pool does not survive fork(): a child process that uses OpenMP after the parent did "
        "hangs (multiprocessing with the fork start method)."
    ),
    fix=(
        "Prefer one runtime for the whole environment: link against the platform's libgomp on Linux (as "
        "auditwheel vendors it once per wheel) and LLVM libomp on macOS; with setuptools or "
        "scikit-build-core do not link two OpenMP flavours (`-fopenmp` with GCC pulls libgomp, with clang "
        "libomp; MKL's `mkl_intel_thread` pulls libiomp5: use `mkl_gnu_thread` with GCC); with meson-python "
        "use `dependency('openmp')` once; with maturin/rayon no OpenMP is needed. Users can limit pools "
        "with threadpoolctl or OMP_NUM_THREADS and use the spawn or forkserver start method."
    ),
    page="blas-lapack-openmp",
    references=(
        "https://github.com/joblib/threadpoolctl/blob/master/multiple_openmp.md",
        "https://pypackaging-native.github.io/key-issues/native-dependencies/blas_openmp/",
    ),
)
def vendored_openmp_runtime(inspection: Inspection) -> Iterator[Finding]:
    """One finding per bundled OpenMP runtime file."""
    found = [(n, r) for n in inspection.artifact.native if (r := openmp_runtime(n)) is not None]
    kinds = sorted({r.runtime for _, r in found})
    for native, runtime in found:
        finding = vendored_openmp_runtime.finding(
            f"{native.path} is {runtime.label}",
            inspection.artifact.path,
            native.path,
            runtime.runtime,
        )
        if len(kinds) > 1:
            others = ", ".join(k for k in kinds if k != runtime.runtime)
            finding = dataclasses.replace(
                finding,
                severity=Severity.WARNING,
                message=f"{finding.message}; the wheel also bundles {others}: two OpenMP runtimes in one "
                "process oversubscribe the cores and can abort with OMP: Error #15",
            )
        yield finding


# --------------------------------------------------------------------------- ND206


@register(
    "ND206",
    "vendored-blas",
    Severity.INFO,
    summary="The wheel bundles a BLAS/LAPACK library: which one, and LP64 or ILP64.",
    what=(
        "Bundled files whose name or SONAME/install name/DLL name (repair-tool hashes removed) is a BLAS or "
        "LAPACK implementation: scipy-openblas (`libscipy_openblas64_`: ILP64, symbols `scipy_dgemm_64_`; "
        "`libscipy_openblas`: LP64), OpenBLAS (`libopenblas64_`: ILP64 with suffix `64_`; `libopenblas`: "
        "LP64), MKL, BLIS, FlexiBLAS, Arm Performance Libraries. With deep reading the exported GEMM "
        "symbols decide LP64/ILP64. Apple Accelerate is part of macOS and never vendored."
    ),
    why=(
        "A vendored BLAS is usually right (numpy and scipy do it), but it matters when mixing: each copy "
        "starts its own thread pool (oversubscription with OpenMP users), LP64 and ILP64 builds are not "
        "interchangeable (passing 64-bit integers to an LP64 `dgemm_` gives wrong results or "
        '"** On entry to DGEMM parameter number 8 had an illegal value"), and code that links '
        "`-lopenblas` against another package's copy breaks when that package renames it."
    ),
    fix=(
        "Nothing to fix when vendoring is intended. To share one BLAS instead, depend on scipy-openblas32/"
        "scipy-openblas64 (or mkl) and link against it at build time (numpy and scipy use "
        "`-Dblas=scipy-openblas` with meson-python; scikit-build-core and setuptools can find the library "
        "with the wheel's `get_lib_dir()`/pkg-config file; maturin crates use `openblas-src` with the "
        "`system` feature), then exclude it from the repair (`auditwheel repair --exclude`, "
        "`delocate-wheel --exclude`, `delvewheel repair --no-dll`) and add an RPATH to its directory."
    ),
    page="blas-lapack-openmp",
    references=(
        "https://github.com/MacPython/openblas-libs",
        "https://numpy.org/devdocs/building/blas_lapack.html",
    ),
)
def vendored_blas(inspection: Inspection) -> Iterator[Finding]:
    """One finding per bundled BLAS/LAPACK file."""
    for native in inspection.artifact.native:
        library = blas_library(native)
        if library is None:
            continue
        integers = library.integers or "LP64 or ILP64 not known from the name"
        yield vendored_blas.finding(
            f"{native.path} is {library.flavour} ({integers}; symbols: {library.symbols})",
            inspection.artifact.path,
            native.path,
            f"{library.flavour} {library.integers or ''}".strip(),
        )


# --------------------------------------------------------------------------- ND207


_EXTENSION = re.compile(r"\.(?:cpython-[^/]*\.so|abi3\.so|pypy[^/]*\.so|(?:cp\d+[^/.]*\.)?pyd)$")
_LOWER = frozenset({">=", ">", "==", "~=", "==="})


@register(
    "ND207",
    "numpy-abi-without-lower-bound",
    Severity.WARNING,
    summary="Extensions built against NumPy, but Requires-Dist allows any NumPy version.",
    what=(
        "Whether the wheel ships CPython extension modules and requires numpy (outside any extra) without "
        "a lower bound (`>=`, `>`, `==`, `~=`). A wheel cannot show statically whether an extension uses "
        "the NumPy C-API (it is reached through a capsule at import time, not through linked symbols), so "
        "this check is a heuristic and runs only with preview checks enabled."
    ),
    why=(
        "An extension compiled against NumPy 2.x headers refuses to run with an older NumPy: "
        '"RuntimeError: module compiled against ABI version 0x2000000 but this version of numpy is '
        '0x1000009" then "ImportError: numpy.core.multiarray failed to import". Without a lower bound, '
        "pip keeps or picks an older NumPy that the extension cannot use."
    ),
    fix=(
        "Declare the oldest NumPy the extension supports as a lower bound (e.g. `numpy>=1.23.5`) in "
        "`[project] dependencies` (setuptools, scikit-build-core, meson-python and maturin alike). Build "
        "against NumPy >= 1.25 (`numpy>=2.0` in `[build-system] requires`): such builds are backward "
        "compatible by default, down to the version `NPY_TARGET_VERSION` selects; set it to the floor you "
        "declare."
    ),
    page="abi-and-symbol-versions",
    references=(
        "https://numpy.org/doc/stable/dev/depending_on_numpy.html",
        "https://numpy.org/devdocs/numpy_2_0_migration_guide.html#numpy-2-0-c-api-removals",
    ),
    status=Status.PREVIEW,
)
def numpy_abi_without_lower_bound(inspection: Inspection) -> Iterator[Finding]:
    """One finding per wheel with extensions and an unbounded numpy requirement."""
    if canonicalize_name(inspection.artifact.name) == "numpy":
        return
    extensions = [n.path for n in inspection.artifact.native if _EXTENSION.search(n.install_path)]
    if not extensions:
        return
    numpy = [
        r
        for r in _requirements(inspection.artifact.requires_dist)
        if canonicalize_name(r.name) == "numpy" and not _is_extra_only(r)
    ]
    if not numpy or any(spec.operator in _LOWER for r in numpy for spec in r.specifier):
        return
    lines = ", ".join(f"'{r}'" for r in numpy)
    yield numpy_abi_without_lower_bound.finding(
        f"Requires-Dist {lines} has no lower bound, and the wheel ships {len(extensions)} "
        f"extension module(s) such as {extensions[0]}",
        inspection.artifact.path,
        None,
        str(numpy[0]),
    )


# --------------------------------------------------------------------------- ND208

#: C++ symbols of libtorch's namespaces (Itanium: ``_ZN3c10...``, ``_ZTVN2at...``; MSVC:
#: ``?f@c10@@...``). The stable C ABI (``aoti_torch_*``) is deliberately not matched.
_TORCH_CXX = re.compile(r"^_Z(?:T[VIS])?N[KVRO]*(?:3c10|2at|5torch)|@(?:c10|at|torch)@@")


def _torch_cxx_symbols(info: BinaryInfo) -> list[str]:
    symbols = list(info.imported_symbols)
    for imported in info.imports_by_library.values():
        symbols.extend(imported)
    return [s for s in symbols if _TORCH_CXX.search(s)]


@register(
    "ND208",
    "libtorch-without-exact-pin",
    Severity.ERROR,
    summary="A binary uses libtorch's C++ API, but Requires-Dist does not pin torch exactly.",
    what=(
        "Binaries that need libtorch/libc10 (`libtorch*.so`, `libc10*.so`, `torch_cpu.dll`, `c10.dll`, "
        "`libtorch_cpu.dylib`, ...) and import C++ symbols of the `c10`, `at` or `torch` namespaces, "
        "while Requires-Dist has no `torch==X.Y.Z`. Needs deep reading (imported symbols): extensions "
        "built on the stable C ABI (`aoti_torch_*`, torch >= 2.9), which may use `torch>=`, are not "
        "reported, and without symbols nothing is."
    ),
    why=(
        "libtorch's C++ ABI changes with every release; an extension built against one torch fails to load "
        'with another: "ImportError: .../_C.so: undefined symbol: _ZN3c1017RegisterOperatorsD1Ev", or '
        "crashes when a class layout changed. pip happily upgrades torch under it when the pin is not exact."
    ),
    fix=(
        "Pin the torch the wheel was built against: `torch==2.5.1` in `[project] dependencies`, generated "
        "at build time (setuptools: compute `install_requires` from `torch.__version__` in setup.py; "
        "scikit-build-core and meson-python: a dynamic-metadata plugin or a build script that writes the "
        "pin; maturin: `[project] dependencies` updated by the build job), and build one wheel per torch "
        "release. Or port the extension to torch's stable ABI (`torch/csrc/stable`, "
        "`TORCH_TARGET_VERSION`), which allows `torch>=` the version built against."
    ),
    page="cpp-dependencies",
    references=(
        "https://docs.pytorch.org/docs/stable/notes/libtorch_stable_abi.html",
        "https://docs.pytorch.org/tutorials/advanced/cpp_custom_ops.html",
    ),
)
def libtorch_without_exact_pin(inspection: Inspection) -> Iterator[Finding]:
    """One finding per binary that uses libtorch's C++ ABI without an exact torch pin."""
    if canonicalize_name(inspection.artifact.name) == "torch":
        return
    torch = [
        r for r in _requirements(inspection.artifact.requires_dist) if canonicalize_name(r.name) == "torch"
    ]
    pinned = any(
        spec.operator in ("==", "===") and "*" not in spec.version for r in torch for spec in r.specifier
    )
    if pinned:
        return
    target = _target(inspection)
    for binary in inspection.binaries:
        info = binary.native.info
        if info is None or not info.deep:
            continue
        needed = [
            d.name
            for d in binary.dependencies
            if d.resolution is not Resolution.BUNDLED
            and any(p.distribution == "torch" for p in providers_of(d.name, target))
        ]
        if not needed:
            continue
        symbols = _torch_cxx_symbols(info)
        if not symbols:
            continue
        declared = ", ".join(f"'{r}'" for r in torch) or "no torch requirement"
        yield libtorch_without_exact_pin.finding(
            f"{binary.native.path} needs {', '.join(needed)} and imports {len(symbols)} libtorch C++ "
            f"symbol(s) such as {symbols[0]}, but Requires-Dist has {declared} (no exact ==X.Y.Z pin)",
            inspection.artifact.path,
            binary.native.path,
            needed[0],
        )


# --------------------------------------------------------------------------- ND209

#: Libraries whose major version is the CUDA major (cuFFT, cuSPARSE, cuRAND, ... version apart).
_CUDA_LINUX = re.compile(r"^lib(?:cudart|cublas|cublasLt|nvrtc|nvJitLink)\.so\.(\d+)")
_CUDA_WINDOWS = re.compile(r"^(?:cudart|cublas|cublasLt|nvrtc|nvJitLink)(?:32|64)_(\d+)", re.IGNORECASE)
_PACKAGE_NAME = re.compile(r"(?:^|-)cu(?:da)?(\d{2,3})x?(?:-|$)")
_LOCAL_VERSION = re.compile(r"\+cu(\d{2,3})\b")


def _major(digits: str) -> int:
    # cu118 -> 11, cu121 -> 12, cu13 -> 13; cudart64_110 -> 11, cudart64_101 -> 10, cudart64_12 -> 12
    return int(digits[:2]) if len(digits) >= 3 or digits.startswith("1") else int(digits[0])


def cuda_major_of_library(name: str) -> int | None:
    """The CUDA major a CUDA runtime library belongs to, from its name (unhashed), or None."""
    base = unhashed_name(name)
    match = _CUDA_LINUX.match(base)
    if match is not None:
        return int(match.group(1))
    match = _CUDA_WINDOWS.match(base)
    return _major(match.group(1)) if match is not None else None


def cuda_major_of_package(name: str, version: str) -> int | None:
    """The CUDA major a distribution's name (``-cu12``, ``-cuda12x``) or local version (``+cu121``) says."""
    match = _PACKAGE_NAME.search(str(canonicalize_name(name)))
    if match is None:
        match = _LOCAL_VERSION.search(version)
    return _major(match.group(1)) if match is not None else None


@register(
    "ND209",
    "cuda-major-mismatch",
    Severity.ERROR,
    summary="The package says CUDA N (cuNN in its name or version), but its binaries use another CUDA major.",
    what=(
        "When the distribution name (`-cu12`, `-cuda12x`) or local version (`+cu121`) names a CUDA major, "
        "whether the CUDA runtime libraries its binaries need or bundle (libcudart, libcublas, libcublasLt, "
        "libnvrtc, libnvJitLink: `.so.N` on Linux, `cudart64_N.dll` on Windows) carry the same major."
    ),
    why=(
        "Users pick the package by its CUDA suffix to match their driver and other CUDA packages; a "
        "`*-cu12` wheel that needs `libcudart.so.11.0` fails where only CUDA 12 is installed "
        '("ImportError: libcudart.so.11.0: cannot open shared object file: No such file or directory"), '
        "or loads a second CUDA runtime next to the CUDA 12 one of torch or cupy, with "
        '"CUDA driver version is insufficient for CUDA runtime version" on older drivers.'
    ),
    fix=(
        "Build each variant against the CUDA toolkit its name says (the CUDA container or `nvcc` of that "
        "major in CI, e.g. cibuildwheel's `manylinux-x86_64-image` with the matching toolkit installed), "
        "depend on the matching `nvidia-*-cuNN` wheels, and derive the name suffix from the toolkit that "
        "was actually used: scikit-build-core and meson-python from CMake's `CUDAToolkit_VERSION_MAJOR` / "
        "`dependency('cuda').version()`, setuptools from `torch.version.cuda` or `nvcc --version`."
    ),
    page="gpus-and-cuda",
    references=(
        "https://pypackaging-native.github.io/key-issues/gpus/",
        "https://docs.nvidia.com/deploy/cuda-compatibility/",
    ),
)
def cuda_major_mismatch(inspection: Inspection) -> Iterator[Finding]:
    """One finding per CUDA runtime library whose major differs from the package's."""
    wanted = cuda_major_of_package(inspection.artifact.name, inspection.artifact.version)
    if wanted is None:
        return
    seen: set[tuple[str, str]] = set()
    for binary in inspection.binaries:
        names = [(d.name, "needs") for d in binary.dependencies if d.resolution is not Resolution.BUNDLED]
        info = binary.native.info
        if info is not None and info.kind is FileKind.SHARED_LIBRARY:
            own = info.soname or info.dll_name or _basename(binary.native.install_path)
            names.append((own, "bundles"))
        for name, how in names:
            major = cuda_major_of_library(name)
            if major is None or major == wanted or (binary.native.path, name) in seen:
                continue
            seen.add((binary.native.path, name))
            subject = binary.native.path if how == "needs" else "the wheel"
            target = name if how == "needs" else f"{binary.native.path} ({name})"
            yield cuda_major_mismatch.finding(
                f"{inspection.artifact.name} {inspection.artifact.version} says CUDA {wanted}, but "
                f"{subject} {how} {target}, which is CUDA {major}",
                inspection.artifact.path,
                binary.native.path,
                name,
            )


@register(
    "ND210",
    "gpu-driver-library",
    Severity.INFO,
    summary="A binary needs a library that only the GPU driver installs.",
    what=(
        "Needed libraries that belong to the GPU driver rather than to any wheel or to the platform "
        "policy: the CUDA driver API (libcuda.so.1, nvcuda.dll), NVML (libnvidia-ml.so.1, nvml.dll), "
        "NVDEC/NVENC (libnvcuvid, libnvidia-encode), and the OpenCL and Vulkan loaders."
    ),
    why=(
        'Without a driver the import fails ("ImportError: libcuda.so.1: cannot open shared object file: '
        'No such file or directory"), so a package that links the driver library directly cannot even be '
        "imported on a CPU-only machine or in a container started without the GPU runtime. That may be "
        "intended for a GPU-only wheel; libraries that want to import everywhere load the driver lazily."
    ),
    fix=(
        "Keep the driver library out of the wheel (`auditwheel repair --exclude libcuda.so.1`; delvewheel "
        "`--exclude nvcuda.dll`). To import without a GPU, do not link it: load it on first use with "
        "`dlopen`/`LoadLibrary`, or link only the CUDA runtime (libcudart), which reports a missing driver "
        "as an error code instead of failing the import. Document the driver requirement either way."
    ),
    page="gpus-and-cuda",
    references=("https://docs.nvidia.com/deploy/cuda-compatibility/",),
)
def gpu_driver_library(inspection: Inspection) -> Iterator[Finding]:
    """One finding per binary and driver library it needs that the artifact does not bundle."""
    for binary in inspection.binaries:
        for dep in binary.dependencies:
            if dep.resolution is Resolution.EXTERNAL and is_driver_library(dep.name):
                yield gpu_driver_library.finding(
                    f"{binary.native.path} needs {dep.name}, which only an installed GPU driver provides: "
                    "the import fails on machines without it",
                    inspection.artifact.path,
                    binary.native.path,
                    dep.name,
                )
