"""Windows loader process simulation (``platforms.process_windows``) on synthetic trees.

Each case is an in-memory, case-insensitive file system (path -> hand-made PE ``BinaryInfo``), the
extensions imported in order, and what the report must say. ``C:\\Py\\python.exe`` is the
interpreter (with ``python312.dll`` and ``vcruntime140.dll`` beside it), ``C:\\sp`` site-packages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pytest

from _process_checks import ErrorContains, Noted, Resolved
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.platforms.process_windows import ProcessReport, WindowsConfig, simulate

PY = "C:\\Py\\python.exe"
PYDLL = "C:\\Py\\python312.dll"
VCRT = "C:\\Py\\VCRUNTIME140.dll"
SYS = "C:\\Windows\\System32"


def pe(
    *needed: str,
    delay: Sequence[str] = (),
    arch: str = "x86_64",
    kind: FileKind = FileKind.SHARED_LIBRARY,
) -> BinaryInfo:
    return BinaryInfo(
        format=BinaryFormat.PE,
        arch=arch,
        bits=32 if arch == "x86" else 64,
        byteorder="little",
        kind=kind,
        needed=needed,
        delay_needed=tuple(delay),
    )


PYTHON_EXE = pe("python312.dll", "VCRUNTIME140.dll", "KERNEL32.dll", kind=FileKind.EXECUTABLE)
RUNTIME = {
    PY: PYTHON_EXE,
    PYDLL: pe("KERNEL32.dll", "VCRUNTIME140.dll", "api-ms-win-crt-runtime-l1-1-0.dll"),
    VCRT: pe("KERNEL32.dll"),
}


class FakeFS:
    """Paths (compared case-insensitively, as NTFS does) to PE headers."""

    def __init__(self, files: Mapping[str, BinaryInfo | None]) -> None:
        self.files = {path.casefold(): info for path, info in files.items()}
        self.names = {path.casefold(): path for path in files}

    def exists(self, path: str) -> bool:
        return path.casefold() in self.files

    def realpath(self, path: str) -> str:
        return self.names.get(path.casefold(), path)

    def binary(self, path: str) -> BinaryInfo | None:
        return self.files.get(path.casefold())


# --- expectations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delayed:
    name: str
    path: str | None
    how: str

    def check(self, report: ProcessReport) -> None:
        res = next(r for r in report.delayed if r.name == self.name)
        assert res.delayed
        assert (res.path, res.how) == (self.path, self.how)
        assert all(f.name != self.name for f in report.failures)


@dataclass(frozen=True)
class Error:
    """Importing ``extension`` failed with ``message``, because of ``missing`` (imported by ``by``)."""

    extension: str
    message: str
    missing: str
    by: str | None

    def check(self, report: ProcessReport) -> None:
        result = next(r for r in report.imports if r.extension == self.extension)
        assert (result.error, result.loaded) == (self.message, ())
        failure = next(f for f in report.failures if f.image == self.extension)
        assert (failure.message, failure.name, failure.requested_by) == (self.message, self.missing, self.by)


@dataclass(frozen=True)
class Ok:
    def check(self, report: ProcessReport) -> None:
        assert report.ok, report.failures
        assert all(r.error is None for r in report.imports)


@dataclass(frozen=True)
class Loaded:
    """These modules are loaded, in this relative order; ``absent`` ones are not."""

    paths: tuple[str, ...]
    absent: tuple[str, ...] = ()

    def check(self, report: ProcessReport) -> None:
        present = [p for p in report.loaded if p in self.paths]
        assert present == list(self.paths), report.loaded
        assert not set(self.absent) & set(report.loaded), report.loaded


Check = Resolved | Delayed | Error | ErrorContains | Ok | Loaded | Noted


@dataclass(frozen=True)
class Case:
    id: str
    files: Mapping[str, BinaryInfo | None]
    extensions: tuple[str, ...]
    checks: tuple[Check, ...]
    config: WindowsConfig = field(default_factory=WindowsConfig)
    runtime: Mapping[str, BinaryInfo | None] = field(default_factory=lambda: RUNTIME)


A, B = "C:\\sp\\a\\_a.cp312-win_amd64.pyd", "C:\\sp\\b\\_b.cp312-win_amd64.pyd"
A_LIBS = "C:\\sp\\a.libs"
MISSING_A = "DLL load failed while importing _a: The specified module could not be found."
BAD_FORMAT_A = "DLL load failed while importing _a: %1 is not a valid Win32 application."
BLAS_A, BLAS_B = "C:\\sp\\a\\libopenblas.dll", "C:\\sp\\b\\libopenblas.dll"

CASES = [
    # --- where a direct import is found -----------------------------------------------------------
    Case(
        "same-directory",
        {A: pe("foo.dll"), "C:\\sp\\a\\foo.dll": pe()},
        (A,),
        (Resolved("foo.dll", A, "C:\\sp\\a\\foo.dll", "same directory"), Ok()),
    ),
    Case(
        "names-compare-case-insensitively",
        {A: pe("FOO.DLL"), "C:\\sp\\a\\foo.dll": pe()},
        (A,),
        (Resolved("FOO.DLL", A, "C:\\sp\\a\\FOO.DLL", "same directory"), Ok()),
    ),
    Case(
        "python-dll-is-already-loaded-by-python-exe",
        {A: pe("python312.dll")},
        (A,),
        (
            Resolved("python312.dll", PY, PYDLL, "application directory"),
            Resolved("python312.dll", A, PYDLL, "already loaded"),
        ),
    ),
    Case(
        "application-directory",
        {A: pe("python3.dll"), "C:\\Py\\python3.dll": pe()},
        (A,),
        (Resolved("python3.dll", A, "C:\\Py\\python3.dll", "application directory"),),
    ),
    Case(
        "add-dll-directory",
        {A: pe("libx.dll"), f"{A_LIBS}\\libx.dll": pe()},
        (A,),
        (Resolved("libx.dll", A, f"{A_LIBS}\\libx.dll", "add_dll_directory"), Ok()),
        config=WindowsConfig(dll_directories=(A_LIBS,)),
    ),
    Case(
        "add-dll-directory-in-call-order",
        {A: pe("libx.dll"), "C:\\one\\libx.dll": pe(), "C:\\two\\libx.dll": pe()},
        (A,),
        (Resolved("libx.dll", A, "C:\\one\\libx.dll", "add_dll_directory"),),
        config=WindowsConfig(dll_directories=("C:\\nothing", "C:\\one", "C:\\two")),
    ),
    Case(
        "dll-load-dir-before-application-dir-before-add-dll-directory",
        {
            A: pe("libx.dll"),
            "C:\\sp\\a\\libx.dll": pe(),
            "C:\\Py\\libx.dll": pe(),
            f"{A_LIBS}\\libx.dll": pe(),
        },
        (A,),
        (Resolved("libx.dll", A, "C:\\sp\\a\\libx.dll", "same directory"),),
        config=WindowsConfig(dll_directories=(A_LIBS,)),
    ),
    Case(
        "application-dir-before-add-dll-directory",
        {A: pe("libx.dll"), "C:\\Py\\libx.dll": pe(), f"{A_LIBS}\\libx.dll": pe()},
        (A,),
        (Resolved("libx.dll", A, "C:\\Py\\libx.dll", "application directory"),),
        config=WindowsConfig(dll_directories=(A_LIBS,)),
    ),
    Case(
        "system-dll",
        {A: pe("dbghelp.dll")},
        (A,),
        (Resolved("dbghelp.dll", A, f"{SYS}\\dbghelp.dll", "system"), Loaded((A, f"{SYS}\\dbghelp.dll"))),
    ),
    Case(
        "api-set-resolved-by-the-os",
        {A: pe("api-ms-win-crt-heap-l1-1-0.dll")},
        (A,),
        (
            Resolved(
                "api-ms-win-crt-heap-l1-1-0.dll",
                A,
                f"{SYS}\\api-ms-win-crt-heap-l1-1-0.dll",
                "system (API set)",
            ),
        ),
    ),
    Case(
        "bundled-copy-of-a-system-dll-wins-over-system32",
        {A: pe("dbghelp.dll"), "C:\\sp\\a\\dbghelp.dll": pe()},
        (A,),
        (Resolved("dbghelp.dll", A, "C:\\sp\\a\\dbghelp.dll", "same directory"),),
    ),
    Case(
        "known-dll-beside-the-module-is-ignored",
        {A: pe("WS2_32.dll"), "C:\\sp\\a\\ws2_32.dll": pe()},
        (A,),
        (Resolved("WS2_32.dll", A, f"{SYS}\\WS2_32.dll", "system (KnownDLLs)"),),
    ),
    Case(
        "path-is-not-searched",
        {A: pe("foo.dll"), "C:\\Tools\\foo.dll": pe()},
        (A,),
        (
            Error(A, MISSING_A, "foo.dll", A),
            Noted("path_not_searched", ("C:\\Tools\\foo.dll",)),
        ),
        config=WindowsConfig(path=("C:\\Tools",)),
    ),
    Case(
        "missing-msvcp140",
        {A: pe("MSVCP140.dll", "KERNEL32.dll")},
        (A,),
        (
            Error(A, MISSING_A, "MSVCP140.dll", A),
            Resolved(
                "MSVCP140.dll",
                A,
                None,
                "not found",
            ),
        ),
    ),
    # --- transitive imports -----------------------------------------------------------------------
    Case(
        "transitive-import-in-the-extensions-directory",
        {A: pe("libx.dll"), f"{A_LIBS}\\libx.dll": pe("liby.dll"), "C:\\sp\\a\\liby.dll": pe()},
        (A,),
        (Resolved("liby.dll", f"{A_LIBS}\\libx.dll", "C:\\sp\\a\\liby.dll", "DLL load directory"), Ok()),
        config=WindowsConfig(dll_directories=(A_LIBS,)),
    ),
    Case(
        "transitive-import-beside-its-importer-in-the-same-directory",
        {A: pe("libx.dll"), "C:\\sp\\a\\libx.dll": pe("liby.dll"), "C:\\sp\\a\\liby.dll": pe()},
        (A,),
        (Resolved("liby.dll", "C:\\sp\\a\\libx.dll", "C:\\sp\\a\\liby.dll", "same directory"),),
    ),
    Case(
        "transitive-import-missing",
        {A: pe("libx.dll"), "C:\\sp\\a\\libx.dll": pe("liby.dll")},
        (A,),
        (Error(A, MISSING_A, "liby.dll", "C:\\sp\\a\\libx.dll"),),
    ),
    # --- machine type -----------------------------------------------------------------------------
    Case(
        "extension-for-another-machine",
        {A: pe(arch="x86")},
        (A,),
        (Error(A, BAD_FORMAT_A, A, None),),
    ),
    Case(
        "dependency-for-another-machine",
        {A: pe("libx.dll"), "C:\\sp\\a\\libx.dll": pe(arch="arm64")},
        (A,),
        (Error(A, BAD_FORMAT_A, "libx.dll", A),),
    ),
    Case(
        "arm64x-loads-into-arm64",
        {
            PY: pe("python312.dll", kind=FileKind.EXECUTABLE, arch="arm64"),
            PYDLL: pe(arch="arm64"),
            A: pe("libx.dll", arch="arm64"),
            "C:\\sp\\a\\libx.dll": pe(arch="arm64x"),
        },
        (A,),
        (Ok(),),
        config=WindowsConfig(arch="ARM64"),
        runtime={},
    ),
    # --- delay loads ------------------------------------------------------------------------------
    Case(
        "delay-load-missing-is-not-a-load-failure",
        {A: pe(delay=["nvcuda.dll"])},
        (A,),
        (Ok(), Delayed("nvcuda.dll", None, "not found"), Noted("delay_load_missing", (A,))),
    ),
    Case(
        "delay-load-uses-path",
        {A: pe(delay=["nvcuda.dll"]), "C:\\Drivers\\nvcuda.dll": pe()},
        (A,),
        (Ok(), Delayed("nvcuda.dll", "C:\\Drivers\\nvcuda.dll", "PATH")),
        config=WindowsConfig(path=("C:\\Drivers",)),
    ),
    Case(
        "delay-load-reuses-a-loaded-module",
        {A: pe(delay=["libx.dll"]), B: pe("libx.dll"), "C:\\sp\\b\\libx.dll": pe()},
        (A, B),
        (Delayed("libx.dll", "C:\\sp\\b\\libx.dll", "already loaded"),),
    ),
    Case(
        "delay-load-of-a-system-dll",
        {A: pe(delay=["dbghelp.dll"])},
        (A,),
        (Delayed("dbghelp.dll", f"{SYS}\\dbghelp.dll", "system"),),
    ),
    # --- the process ------------------------------------------------------------------------------
    Case(
        "first-loaded-wins-by-base-name",
        {A: pe("libopenblas.dll"), B: pe("LIBOPENBLAS.DLL"), BLAS_A: pe(), BLAS_B: pe()},
        (A, B),
        (
            Resolved("LIBOPENBLAS.DLL", B, BLAS_A, "already loaded"),
            Loaded((A, BLAS_A, B), absent=(BLAS_B,)),
            # paths are the directory joined with the name as imported (Windows ignores case)
            Noted("first_loaded_wins", (BLAS_A, "C:\\sp\\b\\LIBOPENBLAS.DLL")),
        ),
    ),
    Case(
        "first-loaded-wins-reverse-import-order",
        {A: pe("libopenblas.dll"), B: pe("LIBOPENBLAS.DLL"), BLAS_A: pe(), BLAS_B: pe()},
        (B, A),
        (
            Resolved("libopenblas.dll", A, "C:\\sp\\b\\LIBOPENBLAS.DLL", "already loaded"),
            Loaded((B, "C:\\sp\\b\\LIBOPENBLAS.DLL", A), absent=(BLAS_A,)),
        ),
    ),
    Case(
        "extensions-with-one-base-name-load-by-full-path",
        {A: pe(), "C:\\sp\\c\\_a.cp312-win_amd64.pyd": pe()},
        (A, "C:\\sp\\c\\_a.cp312-win_amd64.pyd"),
        (Loaded((A, "C:\\sp\\c\\_a.cp312-win_amd64.pyd")),),
    ),
    Case(
        "same-extension-twice",
        {A: pe()},
        (A, A),
        (Resolved(A, PY, A, "full path"), Ok()),
    ),
    Case(
        "failed-import-unloads-what-it-loaded",
        {
            A: pe("libopenblas.dll", "missing.dll"),
            B: pe("libopenblas.dll"),
            BLAS_A: pe(),
            BLAS_B: pe(),
        },
        (A, B),
        (
            Error(A, MISSING_A, "missing.dll", A),
            Resolved("libopenblas.dll", B, BLAS_B, "same directory"),
            Loaded((B, BLAS_B), absent=(A, BLAS_A)),
        ),
    ),
    # --- python.exe -------------------------------------------------------------------------------
    Case(
        "python-runtime-assumed-when-not-on-disk",
        {PY: PYTHON_EXE, A: pe("vcruntime140_1.dll")},
        (A,),
        (
            Resolved("python312.dll", PY, PYDLL, "application directory (ships with CPython)"),
            Resolved(
                "vcruntime140_1.dll",
                A,
                "C:\\Py\\vcruntime140_1.dll",
                "application directory (ships with CPython)",
            ),
            Ok(),
        ),
        runtime={},
    ),
    Case(
        "python-dll-missing-stops-the-start",
        {PY: PYTHON_EXE, A: pe()},
        (A,),
        (
            ErrorContains("The code execution cannot proceed because python312.dll was not found."),
            Loaded((), absent=(PY, A)),
        ),
        config=WindowsConfig(assume_python_runtime=False),
        runtime={},
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_windows_loader(case: Case) -> None:
    report = simulate(PY, case.extensions, FakeFS({**case.runtime, **case.files}), case.config)
    for check in case.checks:
        check.check(report)


def test_report_shape() -> None:
    fs = FakeFS({**RUNTIME, A: pe("foo.dll", delay=["bar.dll"]), "C:\\sp\\a\\foo.dll": pe()})
    report = simulate(PY, [A], fs)
    assert report.ok
    assert report.executable == PY
    assert report.loaded[:3] == (PY, PYDLL, "C:\\Py\\VCRUNTIME140.dll")
    assert report.imports[0].loaded == (A, "C:\\sp\\a\\foo.dll")
    assert [r.name for r in report.delayed] == ["bar.dll"]
    assert report.resolution("BAR.DLL") is report.delayed[0]
