"""The checks ``inspect`` runs: problems reading an artifact, and libraries nothing provides.

The full catalog grows here, one function per check; each is pure over an Inspection.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from native_doctor.checks.registry import Finding, Severity, register
from native_doctor.model import Dependency, Resolution

if TYPE_CHECKING:
    from native_doctor.analysis import BinaryReport, Inspection

UNREADABLE_ARCHIVE = register(
    "ND001",
    "unreadable-archive",
    Severity.ERROR,
    summary="The artifact cannot be read as a wheel.",
    what="That the file is a zip archive with a spec-conforming wheel file name and a .dist-info/WHEEL file.",
    why=(
        'pip refuses such a file ("zipfile.BadZipFile: File is not a zip file", "... is not a valid wheel '
        'filename"), and nothing in it can be checked.'
    ),
    fix=(
        "Rebuild the wheel with a PEP 517 build front end (`python -m build`, `pip wheel`, cibuildwheel) "
        "instead of zipping files by hand; re-download it if the file was truncated in transit."
    ),
    page="wheel-contents",
    references=("https://packaging.python.org/en/latest/specifications/binary-distribution-format/",),
)(None)


@register(
    "ND002",
    "unreadable-binary",
    Severity.ERROR,
    summary="A file has an ELF, Mach-O or PE magic number but is malformed.",
    what="That every file that starts like a native binary parses as one (headers, load commands, tables).",
    why=(
        'The loader rejects a malformed binary at import time ("ImportError: ... invalid ELF header", '
        '"not a mach-o file", "%1 is not a valid Win32 application"); a truncated or corrupted library '
        "in a wheel usually means a broken build or repair step."
    ),
    fix=(
        "Rebuild the wheel; if a repair tool (auditwheel, delocate, delvewheel) or `strip` touched the file, "
        "rerun it with a current release. If the file is data that merely starts with these bytes, rename it "
        "with a data suffix."
    ),
    page="wheel-contents",
    references=("https://refspecs.linuxfoundation.org/elf/gabi4+/contents.html",),
)
def unreadable_binary(inspection: Inspection) -> Iterator[Finding]:
    """One finding per native file that could not be parsed."""
    for native in inspection.unreadable:
        how = "could not be read" if native.info is None else "could only partly be read"
        yield unreadable_binary.finding(
            f"{native.path} {how}: {native.error}",
            inspection.artifact.path,
            native.path,
            native.error,
        )


@register(
    "ND003",
    "read-limit-reached",
    Severity.WARNING,
    summary="A reading budget stopped native-doctor before it read the whole artifact.",
    what=(
        "That every member could be read within native-doctor's budgets: an archive may inflate at most "
        "50 times its size on disk (at least 256 MiB), and a text member is read at most 16 MiB far."
    ),
    why=(
        "The members left unread were not checked, so the verdict is incomplete. A real wheel inflates 2 to "
        "5 times its size; far more is the mark of a decompression bomb (a few megabytes that inflate to "
        "gigabytes), which would otherwise cost minutes and gigabytes of memory."
    ),
    fix=(
        "Look at the members named: if they are real, split huge data files out of the wheel (or compress "
        "them inside it); if they are not, do not install the wheel."
    ),
    page="wheel-contents",
)
def read_limit_reached(inspection: Inspection) -> Iterator[Finding]:
    """One finding per budget that stopped the reading of the artifact."""
    for limit in inspection.artifact.read_limits:
        yield read_limit_reached.finding(limit, inspection.artifact.path, None, limit)


def is_optional(binary: BinaryReport, inspection: Inspection) -> bool:
    """Whether ``binary`` is an extension module its package imports only where it catches
    ``ImportError`` (ND211 reports the libraries it cannot find, instead of ND201, ND402, ND502 and
    ND503)."""
    return binary.native.path in inspection.artifact.optional_extensions


@register(
    "ND201",
    "external-library",
    Severity.ERROR,
    summary="A binary needs a library that is neither bundled nor provided by the platform.",
    what=(
        "For every needed library (ELF DT_NEEDED, Mach-O LC_LOAD_DYLIB, PE import table), whether the target "
        "platform's loader finds it inside the wheel (RPATH/RUNPATH with $ORIGIN, @loader_path/@rpath, the "
        "module's directory or an added DLL directory) or the platform guarantees it (manylinux/musllinux "
        "policy libraries, macOS /usr/lib and /System, Windows system DLLs). A library a more specific "
        "check explains is reported by that check instead, once: one a known distribution provides "
        "(ND202/ND203), a GPU driver library (ND210), a Mach-O install name on the build machine such as "
        "`/opt/homebrew/...` (ND401), an unresolved `@rpath/` name (ND402), a missing MinGW or MSVC "
        "runtime DLL (ND502/ND503), any library of an extension module the package imports only where it "
        "catches `ImportError` (ND211, a warning)."
    ),
    why=(
        'On a machine without that library the import fails: "ImportError: libfoo.so.1: cannot open shared '
        'object file: No such file or directory" (Linux), "Library not loaded: @rpath/libfoo.dylib" '
        '(macOS), "DLL load failed while importing _foo: The specified module could not be found" (Windows).'
    ),
    fix=(
        "Repair the wheel so the library is vendored and found: `auditwheel repair` (Linux), "
        "`delocate-wheel` (macOS), `delvewheel repair` (Windows), or cibuildwheel's default repair step. "
        "If another distribution provides the library at run time (e.g. nvidia-* or torch), exclude it from "
        "the repair, add that distribution to Requires-Dist and point RPATH/@rpath at its directory."
    ),
    page="native-dependencies",
    references=(
        "https://peps.python.org/pep-0600/",
        "https://pypackaging-native.github.io/key-issues/native-dependencies/",
    ),
)
def external_library(inspection: Inspection) -> Iterator[Finding]:
    """One finding per binary and external library it needs."""
    for binary in inspection.binaries:
        for dep in binary.dependencies:
            if dep.resolution is Resolution.EXTERNAL and not _reported_elsewhere(dep, binary, inspection):
                lazy = " (loaded lazily: fails on first use)" if dep.lazy else ""
                yield external_library.finding(
                    f"{binary.native.path} needs {dep.name}, which is not bundled and not provided by the "
                    f"platform{lazy}: {dep.via}",
                    inspection.artifact.path,
                    binary.native.path,
                    dep.name,
                )


@register(
    "ND211",
    "optional-module-library-missing",
    Severity.WARNING,
    summary=(
        "An extension module the package imports only where it catches ImportError needs a library "
        "that is neither bundled nor provided by the platform."
    ),
    what=(
        "Extension modules that need a library the target platform's loader does not find (what ND201, "
        "ND402, ND502 and ND503 report for other binaries), when every statement of the wheel's Python "
        "files that imports the module sits inside a `try` whose handler catches `ImportError` "
        "(`ImportError`, `Exception`, `BaseException` or a bare `except`): the package goes on without "
        "it, as numba does without its OpenMP and TBB threading layers. Found by reading the Python "
        "files, never running them; a module imported anywhere else, or inside a function without such "
        "a `try`, is not optional. One finding per module, naming every library it lacks."
    ),
    why=(
        "`import` of the package works on a machine without the library, and what the module provides "
        'does not: the package catches "ImportError: libgomp.so.1: cannot open shared object file" '
        "and falls back (numba to its own workqueue threading layer) or turns the feature off, often "
        "silently."
    ),
    fix=(
        "Nothing, when the fallback is what the package wants. Otherwise bundle the library "
        "(`auditwheel repair`, `delocate-wheel`, `delvewheel repair` without excluding it), or declare "
        "the distribution that provides it as an extra (`pip install pkg[tbb]`), and say in the "
        "documentation how users get the feature (`apt install libgomp1`, `brew install libomp`)."
    ),
    page="native-dependencies",
    references=("https://numba.readthedocs.io/en/stable/user/threading-layer.html",),
)
def optional_module_library_missing(inspection: Inspection) -> Iterator[Finding]:
    """One finding per optional extension module that lacks a library."""
    for binary in inspection.binaries:
        if not is_optional(binary, inspection):
            continue
        missing = [dep.name for dep in binary.dependencies if dep.resolution is Resolution.EXTERNAL]
        if missing:
            yield optional_module_library_missing.finding(
                f"{binary.native.path} needs {', '.join(missing)}, which the wheel does not bundle and the "
                "platform does not provide; the package imports the module only where it catches "
                "ImportError: importing the package works without it, what the module provides does not",
                inspection.artifact.path,
                binary.native.path,
                missing[0],
            )


def _reported_elsewhere(dep: Dependency, binary: BinaryReport, inspection: Inspection) -> bool:
    """An external library a more specific check explains better (and reports instead): one a known
    distribution provides (ND202/ND203), an unresolved ``@rpath`` (ND402), a Mach-O install name on
    the build machine (ND401), a missing MinGW or MSVC runtime DLL (ND502/ND503), a GPU driver
    library (ND210), any library of an optional extension module (ND211)."""
    from native_doctor.checks import dependencies, macos, windows

    return (
        is_optional(binary, inspection)
        or dependencies.provided_by(dep.name, inspection.platform.os) is not None
        or dependencies.is_driver_library(dep.name)
        or macos.is_unresolved_rpath(dep)
        or macos.is_build_machine_install_name(dep, binary.native.info)
        or windows.is_missing_mingw_runtime(dep)
        or windows.is_missing_msvc_runtime(dep)
    )
