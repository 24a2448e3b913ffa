"""Environment checks on what is installed, read statically (ND713-ND717): requirements against
installed versions, RECORD against the files on disk, and what could not be read.

Pure over an :class:`~native_doctor.environment.EnvironmentInspection`: its ``installed`` disk
states (one per distribution read through a RECORD), its versions, top-level import names, and
which distributions carry extension modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from native_doctor.checks.environment import _list
from native_doctor.checks.registry import Finding, Severity, register_environment
from native_doctor.requirements import unmet_requirements

if TYPE_CHECKING:
    from native_doctor.environment import EnvironmentInspection
    from native_doctor.sources.env import DiskState

__all__: list[str] = []

#: Distributions whose extension modules other packages' extension modules are compiled against:
#: an unmet requirement on one of them breaks the import (C-API, ABI, or shared libraries).
_NATIVE_PROVIDERS = frozenset(
    {
        "numpy",
        "scipy",
        "torch",
        "pyarrow",
        "tensorflow",
        "jax",
        "jaxlib",
        "cupy",
        "pandas",
        "shapely",
        "h5py",
        "mpi4py",
        "pybind11",
        "cython",
    }
)


def _has_extensions(state: DiskState) -> bool:
    return state.has_extensions


def _native_names(env: EnvironmentInspection) -> set[str]:
    found = set(_NATIVE_PROVIDERS)
    found |= {str(canonicalize_name(s.name)) for s in env.installed if _has_extensions(s)}
    return found


def _imports(env: EnvironmentInspection, name: str) -> list[str]:
    tops = env.top_levels.get(str(canonicalize_name(name)), ())
    return [t for t in tops if t and not t.endswith((".dist-info", ".data")) and t != "__pycache__"]


# --------------------------------------------------------------------------- ND713


@register_environment(
    "ND713",
    "requirement-not-met",
    Severity.ERROR,
    summary="An installed distribution's requirement (Requires-Dist) is missing or at a version it excludes.",
    what=(
        "Every installed distribution's `Requires-Dist` lines whose environment markers hold for the "
        "examined interpreter (requirements of extras are not counted), against the installed versions, "
        "read statically (nothing is imported), as `pip check` does. The finding quotes the requirement. "
        "It is an error when a distribution with extension modules requires a distribution whose native "
        "code it is built against (numpy, scipy, torch, pyarrow, ... or any installed distribution with "
        "extension modules) and that requirement is unmet; a warning otherwise."
    ),
    why=(
        "An installer that does not resolve the whole environment (`pip install numpy==1.24` after "
        "pandas, `pip install --no-deps`, two installers in one environment) leaves requirements unmet, "
        'and the import fails: "ImportError: Unable to import required dependencies: numpy: Please '
        'upgrade numpy to >= 2.0.2", "ValueError: numpy.dtype size changed, may indicate binary '
        'incompatibility", or "ModuleNotFoundError: No module named \'dateutil\'".'
    ),
    fix=(
        "Install what the requirement asks for (`pip install 'numpy>=2.0.2'`, the finding names it), or "
        "a release of the requiring distribution that accepts what is installed; then `pip check` should "
        "report nothing."
    ),
    page="native-dependencies",
    references=(
        "https://packaging.python.org/en/latest/specifications/dependency-specifiers/",
        "https://pip.pypa.io/en/stable/cli/pip_check/",
    ),
)
def requirement_not_met(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per distribution and unmet requirement."""
    native = _native_names(env)
    by_name = {str(canonicalize_name(s.name)): s for s in env.installed}
    for state, line, name, installed in unmet_requirements(env):
        severe = _has_extensions(state) and name in native
        imports = _imports(env, state.name)
        what = f"`import {imports[0]}`" if imports else f"using {state.name}"
        if installed is None:
            problem = f"{name} is not installed"
            fix = f"`pip install '{line.split(';')[0].strip()}'`"
        else:
            problem = f"{by_name[name].name if name in by_name else name} {installed} is installed"
            fix = (
                f"`pip install '{line.split(';')[0].strip()}'`, or a release of {state.name} that "
                f"accepts {name} {installed}"
            )
        consequence = (
            f"{what} is likely to fail (its extension modules are built against {name})"
            if severe
            else f"{what} may fail"
        )
        yield requirement_not_met.finding(
            f"{state.name} {state.version} requires '{line}', but {problem}: {consequence}. Fix: {fix}.",
            state.dist_info,
            None,
            line,
            severity=None if severe else Severity.WARNING,
        )


# --------------------------------------------------------------------------- ND714


def _is_library(path: str) -> bool:
    name = path.rpartition("/")[2]
    return name.endswith((".so", ".dylib", ".dll", ".pyd")) or ".so." in name


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith((top + "/", top + "."))


@register_environment(
    "ND714",
    "installed-files-missing",
    Severity.ERROR,
    summary="Files an installed distribution's RECORD lists are gone from disk.",
    what=(
        "Every path in each installed distribution's `.dist-info/RECORD` (compiled `__pycache__` files "
        "excepted) that no longer exists. It is an error when files of an import package are gone (the "
        "import fails), a warning when only other files are (scripts, data)."
    ),
    why=(
        "Two distributions that install the same import package (`opencv-python` and "
        "`opencv-python-headless` both install `cv2/`) share files; uninstalling one deletes them and "
        "the other stays registered as installed: \"ModuleNotFoundError: No module named 'cv2'\" or "
        '"ImportError: libfoo.so: cannot open shared object file" although `pip list` shows it. Manual '
        "deletions and interrupted upgrades do the same."
    ),
    fix=(
        "Reinstall the distribution's files: `pip install --force-reinstall --no-deps DIST` (the finding "
        "names DIST); if two distributions share the import package, keep exactly one of them."
    ),
    page="wheel-contents",
    references=("https://packaging.python.org/en/latest/specifications/recording-installed-packages/",),
)
def installed_files_missing(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per distribution with missing files."""
    for state in env.installed:
        if not state.missing:
            continue
        imports = _imports(env, state.name)
        broken = [t for t in imports if any(_under(p, t) for p in state.missing)]
        libraries = [p for p in state.missing if _is_library(p)]
        shown = _list(state.missing, 3)
        fix = f"`pip install --force-reinstall --no-deps {state.name}`"
        if not broken and libraries and imports:
            yield installed_files_missing.finding(
                f"{state.name} {state.version}: {len(state.missing)} file(s) its RECORD lists are gone, "
                f"among them native libraries ({_list(libraries, 3)}): imports of "
                f"{_list(f'`{t}`' for t in imports)} that load them fail. Fix: {fix}.",
                state.dist_info,
                None,
                ", ".join(imports),
            )
        elif broken:
            yield installed_files_missing.finding(
                f"{state.name} {state.version}: {len(state.missing)} file(s) its RECORD lists are gone "
                f"({shown}): `import {broken[0]}` fails or loads a partial package. Fix: {fix}.",
                state.dist_info,
                None,
                ", ".join(broken),
            )
        else:
            yield installed_files_missing.finding(
                f"{state.name} {state.version}: {len(state.missing)} file(s) its RECORD lists are gone "
                f"({shown}); no import package is affected. Fix: {fix}.",
                state.dist_info,
                None,
                "other files",
                severity=Severity.WARNING,
            )


# --------------------------------------------------------------------------- ND715


@register_environment(
    "ND715",
    "native-file-modified",
    Severity.WARNING,
    summary="An installed native file differs from the digest or size its RECORD records.",
    what=(
        "Each native file (ELF, Mach-O, PE) an installed distribution's RECORD lists, hashed with the "
        "algorithm RECORD names and compared with the recorded digest and size."
    ),
    why=(
        "The file was changed after installation: patched in place (`patchelf`, `install_name_tool`, a "
        "hand-copied library), overwritten by another distribution that ships the same path, or "
        "corrupted. What loads is then not what the wheel shipped and was tested with."
    ),
    fix=(
        "Reinstall the distribution (`pip install --force-reinstall --no-deps DIST`); if the change was "
        "deliberate, repair the wheel instead of the installed files so RECORD stays true."
    ),
    page="wheel-contents",
    references=("https://packaging.python.org/en/latest/specifications/recording-installed-packages/",),
)
def native_file_modified(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per distribution with modified native files."""
    for state in env.installed:
        if not state.modified:
            continue
        shown = _list(f"{path} ({why})" for path, why in state.modified)
        yield native_file_modified.finding(
            f"{state.name} {state.version}: {len(state.modified)} native file(s) differ from RECORD, "
            f"changed after installation: {shown}. Fix: `pip install --force-reinstall --no-deps "
            f"{state.name}`.",
            state.dist_info,
            state.modified[0][0],
            "modified",
        )


# --------------------------------------------------------------------------- ND716


@register_environment(
    "ND716",
    "record-path-outside-environment",
    Severity.WARNING,
    summary="A RECORD entry points outside the environment's tree; it was not read.",
    what=(
        "RECORD paths that, resolved against site-packages, leave the installation prefix "
        "(`../../../../etc/passwd`, an absolute `/proc/self/mem`), and listed files that are symbolic "
        "links to outside it. native-doctor never opens them."
    ),
    why=(
        "An installer writes RECORD paths relative to site-packages, reaching at most the prefix's "
        "`bin/`, `include/` and `share/`. A path further out means a damaged or hand-written RECORD, or a "
        "hostile one: `pip uninstall` removes the files RECORD lists, wherever they are."
    ),
    fix=(
        "Inspect the distribution's RECORD; reinstall it from a trusted source "
        "(`pip install --force-reinstall --no-deps DIST`) and do not run `pip uninstall DIST` before."
    ),
    page="wheel-contents",
    references=("https://packaging.python.org/en/latest/specifications/recording-installed-packages/",),
)
def record_path_outside_environment(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per distribution with RECORD entries outside the tree."""
    for state in env.installed:
        if state.outside:
            yield record_path_outside_environment.finding(
                f"{state.name} {state.version}: {len(state.outside)} RECORD entr"
                f"{'y' if len(state.outside) == 1 else 'ies'} lead out of the environment and were not "
                f"read: {_list(state.outside)}. `pip uninstall {state.name}` would delete what they name.",
                state.dist_info,
                None,
                "outside",
            )


# --------------------------------------------------------------------------- ND717


@register_environment(
    "ND717",
    "file-not-read",
    Severity.INFO,
    summary="A file the doctor should read could not be read (no permission, a FIFO, a device).",
    what=(
        "Files listed in a RECORD, `.dist-info` metadata and binaries that exist but were not read: "
        "permission denied, or not a regular file (a named pipe, a device, a socket; these are never "
        "opened, since reading one can block forever). What they would have told is missing from the "
        "report."
    ),
    why=(
        "A verdict without them can miss a problem: a library nobody can read fails to load for this user "
        'as well ("cannot open shared object file: Permission denied"), and a FIFO or device where a '
        "file belongs means the environment was tampered with."
    ),
    fix=(
        "Run native-doctor as a user who can read the files, fix their permissions (`chmod a+r`), or "
        "remove what is not a regular file and reinstall the distribution."
    ),
    page="wheel-contents",
)
def file_not_read(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per distribution with unread files, and one per other unread path."""
    for state in env.installed:
        if state.unreadable:
            shown = _list(f"{path} ({why})" for path, why in state.unreadable)
            yield file_not_read.finding(
                f"{state.name} {state.version}: {len(state.unreadable)} file(s) were not read: {shown}.",
                state.dist_info,
                state.unreadable[0][0],
                "not read",
            )
    for path, why in env.unreadable:
        yield file_not_read.finding(f"{path} was not read: {why}.", path, None, "not read")


# --------------------------------------------------------------------------- ND718


def _module_of(path: str) -> str:
    """The dotted module a source file is (``pyzbar/zbar_library.py`` -> ``pyzbar.zbar_library``)."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@register_environment(
    "ND718",
    "library-loaded-by-name-not-found",
    Severity.ERROR,
    summary="Python code loads a library by name (ctypes, cffi) that this host does not have.",
    what=(
        "String literals passed to `ctypes.CDLL`, `ctypes.cdll.LoadLibrary`, `ctypes.util.find_library`, "
        "cffi's `ffi.dlopen` and `numpy.ctypeslib.load_library` in installed Python files (read with "
        "`ast`, never executed; a `for` over literal alternatives counts as one lookup), resolved as this "
        "host would: `find_library` through the ld.so cache and LD_LIBRARY_PATH, `dlopen` through "
        "LD_LIBRARY_PATH, the ld.so cache and the default directories. Calls for another OS (Windows "
        "or macOS names, branches that test for them) are left out. Module-level calls in a package's "
        "`__init__` or a top-level module are errors (the import fails); in other modules, and in "
        "functions that raise ImportError themselves (a loader run on import), warnings; in other "
        "functions info (the call fails when the function runs)."
    ),
    why=(
        "No ELF header names these libraries, so wheels do not bundle them and pip does not install "
        'them: `import sounddevice` without libportaudio2 raises "OSError: PortAudio library not found"; '
        '`from pyzbar import pyzbar` without libzbar0 raises "ImportError: Unable to find zbar shared '
        'library".'
    ),
    fix=(
        "Install the system package that provides the library (`apt-file search libportaudio.so` finds "
        "Debian's `libportaudio2`; `dnf provides '*/libzbar.so*'`), or a distribution of the package "
        "that bundles it."
    ),
    page="native-dependencies",
    references=("https://docs.python.org/3/library/ctypes.html#finding-shared-libraries",),
)
def library_loaded_by_name_not_found(env: EnvironmentInspection) -> Iterator[Finding]:
    """One finding per call whose library this host lacks."""
    for load in env.runtime_loads:
        if load.found is not None:
            continue
        call = load.call
        module = _module_of(call.file)
        top = "." not in module
        names = " or ".join(f"'{n}'" for n in call.names)
        library = call.names[0]
        stem = library if library.startswith("lib") or "/" in library else f"lib{library}"
        fix = (
            f"install the system package that provides {stem} (`apt-file search {stem}.so`), or a "
            f"build of {load.distribution} that bundles it"
        )
        if call.at_import:
            severity = Severity.ERROR if top else Severity.WARNING
            effect = f"`import {module}` fails"
        elif call.raises_import_error:
            severity = Severity.WARNING
            effect = (
                f"the function of `{module}` that makes the call raises ImportError, so importing the "
                f"module of {load.distribution} that runs it fails"
            )
        else:
            severity = Severity.INFO
            effect = f"the function of `{module}` that makes the call fails when it runs"
        yield library_loaded_by_name_not_found.finding(
            f"{load.distribution} {load.version}: {call.file}:{call.line} loads {names} by name "
            f"({call.function}), which this host does not have: {load.searched}, and found nothing. "
            f"{effect} (OSError: ... cannot open shared object file). Fix: {fix}.",
            load.dist_info,
            call.file,
            library,
            severity=severity,
        )
