"""Windows checks (ND5xx): C runtimes, MinGW and MSVC runtime DLLs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from native_doctor.binary.model import BinaryFormat, BinaryInfo
from native_doctor.checks.builtin import is_optional
from native_doctor.checks.registry import Finding, Severity, register
from native_doctor.model import Dependency, Resolution
from native_doctor.platforms import windows

if TYPE_CHECKING:
    from native_doctor.analysis import BinaryReport, Inspection

__all__ = ["is_missing_mingw_runtime", "is_missing_msvc_runtime", "msvc_version"]


def _pe_binaries(inspection: Inspection) -> Iterator[tuple[BinaryReport, BinaryInfo]]:
    for binary in inspection.binaries:
        info = binary.native.info
        if info is not None and info.format is BinaryFormat.PE:
            yield binary, info


def is_missing_mingw_runtime(dep: Dependency) -> bool:
    """A MinGW/GCC runtime DLL (``libgcc_s_seh-1.dll``, ``libstdc++-6.dll``...) nothing provides (ND502)."""
    return dep.resolution is Resolution.EXTERNAL and windows.runtime_family(dep.name) == "mingw"


def is_missing_msvc_runtime(dep: Dependency) -> bool:
    """A Visual C++ runtime DLL that neither CPython ships nor the wheel bundles (ND503)."""
    return (
        dep.resolution is Resolution.EXTERNAL
        and windows.runtime_family(dep.name) == "msvc"
        and not windows.is_provided_by_python(dep.name)
    )


@register(
    "ND501",
    "msvcrt-linked",
    Severity.WARNING,
    summary="A DLL or extension links the legacy msvcrt.dll C runtime instead of the UCRT CPython uses.",
    what=(
        "PE files whose import table names `msvcrt.dll` (or `crtdll.dll`): the C runtime MinGW-w64 "
        "toolchains link by default (`x86_64-w64-mingw32-gcc`, MSYS2's MINGW64 environment, older "
        "Rtools and mingwpy-era builds)."
    ),
    why=(
        "CPython 3.5+ is built with MSVC against the Universal CRT (ucrtbase.dll). A module on msvcrt.dll "
        "brings a second C runtime into the process, with its own heap, `FILE*` table, file descriptors, "
        "`errno` and locale. Anything that crosses the boundary breaks: memory `malloc`ed on one side "
        "and `free`d on the other, a `FILE*` or fd handed over, `setlocale` affecting only one side. The "
        "symptoms are crashes (0xC0000374 heap corruption, access violations) and output that silently "
        "goes nowhere, rarely at import and often only in some code paths. A warning, not an error: the "
        "import works, and libraries that keep their C runtime objects to themselves (most of them) "
        "never meet the hazard."
    ),
    fix=(
        "Build with a toolchain that targets the UCRT: MSVC (setuptools and scikit-build-core use it by "
        "default; meson-python with `--vsenv`; maturin's default `x86_64-pc-windows-msvc` target), or a "
        "UCRT MinGW-w64: MSYS2's UCRT64 / CLANG64 environments, `x86_64-w64-mingw32ucrt-gcc`, or "
        "`-mcrtdll=ucrt` with GCC >= 13. Every vendored MinGW DLL (libgfortran, libgmp, libwinpthread...) "
        "must come from the same UCRT toolchain. delvewheel cannot fix this: it bundles DLLs but does "
        "not change which CRT they link."
    ),
    page="windows-runtimes",
    references=(
        "https://learn.microsoft.com/en-us/cpp/c-runtime-library/potential-errors-passing-crt-objects-across-dll-boundaries",
        "https://www.msys2.org/docs/environments/",
        "https://pypackaging-native.github.io/key-issues/abi/",
    ),
)
def msvcrt_linked(inspection: Inspection) -> Iterator[Finding]:
    """One finding per PE file linking msvcrt.dll."""
    for binary, info in _pe_binaries(inspection):
        crt = windows.c_runtime(info.all_needed)
        if crt in ("msvcrt", "crtdll"):
            also = (
                " as well as the UCRT"
                if any(n.lower().startswith("api-ms-win-crt-") for n in info.needed)
                else ""
            )
            yield msvcrt_linked.finding(
                f"{binary.native.path} links {crt}.dll{also}: a second C runtime next to CPython's UCRT",
                inspection.artifact.path,
                binary.native.path,
                f"{crt}.dll",
            )


@register(
    "ND502",
    "mingw-runtime-not-bundled",
    Severity.ERROR,
    summary="A DLL needs a MinGW/GCC runtime DLL (libgcc_s, libstdc++, libwinpthread...) the wheel lacks.",
    what=(
        "Needed DLLs of the GCC/MinGW-w64 runtime - `libgcc_s_seh-1.dll`, `libgcc_s_dw2-1.dll`, "
        "`libstdc++-6.dll`, `libwinpthread-1.dll`, `libgfortran-5.dll`, `libgomp-1.dll`, "
        "`libquadmath-0.dll`, `libatomic-1.dll`, `libssp-0.dll`, libc++/libunwind of LLVM-MinGW - that "
        "are not bundled where the Windows loader finds them (those of an extension module the package "
        "imports only where it catches `ImportError`: ND211)."
    ),
    why=(
        "No Windows installation and no CPython provides these; they exist on the build machine "
        "(in the MinGW `bin` directory on PATH), so the wheel works there and nowhere else: "
        '"ImportError: DLL load failed while importing _foo: The specified module could not be found." '
        "A user who happens to have some other MinGW's copy on PATH gets that one - a different GCC "
        "version, and crashes instead."
    ),
    fix=(
        "Bundle them with `delvewheel repair --add-path <mingw>/bin wheel.whl` (delvewheel finds and "
        "vendors them into `<dist>.libs`), or link the GCC runtime statically: `-static-libgcc "
        "-static-libstdc++` and `-Wl,-Bstatic -lwinpthread` (or `-static` for the whole runtime); "
        "for Fortran, `-static-libgfortran -static-libquadmath`. meson-python: pass these in "
        "`c_link_args`/`cpp_link_args`; scikit-build-core: `CMAKE_SHARED_LINKER_FLAGS`; setuptools: "
        "`extra_link_args`; maturin with `*-pc-windows-gnu`: `-C target-feature=+crt-static`. "
        "cibuildwheel does not repair Windows wheels unless `repair-wheel-command` runs delvewheel."
    ),
    page="windows-runtimes",
    references=(
        "https://github.com/adang1345/delvewheel",
        "https://gcc.gnu.org/onlinedocs/gcc/Link-Options.html",
    ),
)
def mingw_runtime_not_bundled(inspection: Inspection) -> Iterator[Finding]:
    """One finding per PE file and MinGW runtime DLL it needs that nothing provides."""
    for binary, _ in _pe_binaries(inspection):
        for dep in binary.dependencies:
            if is_missing_mingw_runtime(dep) and not is_optional(binary, inspection):
                lazy = " (delay-loaded: fails on first use)" if dep.lazy else ""
                yield mingw_runtime_not_bundled.finding(
                    f"{binary.native.path} needs the MinGW runtime DLL {dep.name}, which the wheel does not "
                    f"bundle and Windows does not provide{lazy}",
                    inspection.artifact.path,
                    binary.native.path,
                    dep.name,
                )


_DEBUG_RUNTIME = re.compile(r"^[a-z_0-9]+\d+(?:_\d)?d(?:-[0-9a-f]{32})?\.dll$", re.IGNORECASE)


@register(
    "ND503",
    "msvc-runtime-not-bundled",
    Severity.ERROR,
    summary="A DLL needs a Visual C++ runtime DLL that neither CPython ships nor the wheel bundles.",
    what=(
        "Needed Visual C++ runtime DLLs other than those python.org CPython installs next to python.exe "
        "(`vcruntime140.dll`, `vcruntime140_1.dll`): the C++ standard library `msvcp140.dll`, "
        "`msvcp140_1.dll`, `msvcp140_2.dll`, `msvcp140_atomic_wait.dll`, `msvcp140_codecvt_ids.dll`, the "
        "concurrency runtime `concrt140.dll`, OpenMP `vcomp140.dll`, and debug runtimes "
        "(`msvcp140d.dll`, `vcruntime140d.dll`), when the wheel does not bundle them (those of an "
        "extension module the package imports only where it catches `ImportError`: ND211)."
    ),
    why=(
        "They are installed only by the Visual C++ Redistributable, which many machines have (games, "
        "Office) and fresh Windows installs, Windows Sandbox, Docker `servercore` images and CI runners "
        'without Visual Studio do not: "ImportError: DLL load failed while importing _foo: The specified '
        'module could not be found." An old redistributable found in System32 can be worse: '
        "`msvcp140.dll` is only backward compatible, and a C++ module built with a newer toolset crashes "
        "on it (the 2024 `std::mutex` access violation). Debug runtimes are not redistributable at all."
    ),
    fix=(
        "Run `delvewheel repair wheel.whl` (it vendors msvcp140.dll and friends, name-mangled, into "
        "`<dist>.libs`; use `--add-path` to point it at a current redistributable), or link the runtime "
        "statically: MSVC `/MT` (CMake / scikit-build-core: `CMAKE_MSVC_RUNTIME_LIBRARY=MultiThreaded`; "
        "meson-python: `-Db_vscrt=mt`; setuptools: `extra_compile_args=['/MT']`; maturin / Rust: "
        "`-C target-feature=+crt-static`). For vcomp140.dll, statically linking is not possible: "
        "bundle it. A debug runtime means a Debug build was packaged: build in Release "
        '(`cmake.build-type = "Release"`, `-Dbuildtype=release`).'
    ),
    page="windows-runtimes",
    references=(
        "https://learn.microsoft.com/en-us/cpp/windows/latest-supported-vc-redist",
        "https://learn.microsoft.com/en-us/cpp/windows/determining-which-dlls-to-redistribute",
        "https://github.com/adang1345/delvewheel",
    ),
)
def msvc_runtime_not_bundled(inspection: Inspection) -> Iterator[Finding]:
    """One finding per PE file and Visual C++ runtime DLL it needs that nothing provides."""
    for binary, _ in _pe_binaries(inspection):
        for dep in binary.dependencies:
            if not is_missing_msvc_runtime(dep) or is_optional(binary, inspection):
                continue  # an optional extension module's: ND211
            debug = _DEBUG_RUNTIME.match(dep.name) is not None
            what = (
                "a debug runtime, which is not redistributable (a Debug build was packaged)"
                if debug
                else "installed only by the Visual C++ Redistributable"
            )
            lazy = " (delay-loaded: fails on first use)" if dep.lazy else ""
            yield msvc_runtime_not_bundled.finding(
                f"{binary.native.path} needs {dep.name}, which the wheel does not bundle and CPython "
                f"does not ship: {what}{lazy}",
                inspection.artifact.path,
                binary.native.path,
                dep.name,
            )


def msvc_version(linker_version: str | None) -> tuple[int, int] | None:
    """``"14.38"`` -> ``(14, 38)`` for an MSVC linker version; None for other linkers (GNU ld 2.x)."""
    if linker_version is None:
        return None
    match = re.fullmatch(r"(\d+)\.(\d+)", linker_version)
    if match is None or int(match.group(1)) != 14:
        return None
    return int(match.group(1)), int(match.group(2))


#: Runtime DLLs whose compatibility is backward only and that wheels bundle (vcruntime140*.dll comes
#: with CPython, which loads its own copy first).
_VERSIONED_RUNTIME = re.compile(
    r"^(?:msvcp140(?:_\w+?)?|concrt140|vcomp140)(?:-[0-9a-f]{32})?\.dll$", re.IGNORECASE
)


@register(
    "ND504",
    "msvc-runtime-too-old",
    Severity.WARNING,
    summary="A bundled Visual C++ runtime DLL is older than the toolset that built a module using it.",
    what=(
        "For each bundled `msvcp140*.dll`, `concrt140.dll` or `vcomp140.dll` (delvewheel's name-mangled "
        "copies `msvcp140-<hash>.dll` included), the runtime's own version - the FileVersion of its "
        "VERSIONINFO resource, `14.44.35211.0` - against the PE linker version (the MSVC toolset, "
        "`14.44`) of every module in the wheel that needs it. MinGW-built modules (GNU ld 2.x) and "
        "runtime copies without a version resource are not compared. (The runtime's own linker version "
        "is no measure: Microsoft builds a runtime with an earlier toolset than the one it ships with.)"
    ),
    why=(
        "Microsoft's binary compatibility guarantee for the v14 runtimes is one-way: a module built with "
        "toolset 14.x needs a runtime of version 14.x or newer. Run against an older msvcp140.dll it "
        "may crash: since Visual Studio 2022 17.10 (14.40) code using `std::mutex` hits an access "
        "violation inside msvcp140.dll with older runtimes - the bug delvewheel's 2024 announcement is "
        "about, where an old msvcp140.dll from a JDK on the CI runner's PATH was vendored into wheels. "
        "delvewheel >= 1.8 warns about this too."
    ),
    fix=(
        "Vendor a current redistributable: run delvewheel with `--add-path` pointing at the Visual "
        "Studio redist directory (`%VCToolsRedistDir%\\x64\\Microsoft.VC143.CRT`) or `C:\\Windows\\System32` "
        "after installing the latest VC++ Redistributable, so PATH order does not pick up an old copy "
        "(Java, Git and other tools ship their own). Or link the C++ runtime statically (`/MT`; "
        "scikit-build-core: `CMAKE_MSVC_RUNTIME_LIBRARY=MultiThreaded`; meson-python: `-Db_vscrt=mt`). "
        "Copying the DLL by hand (setuptools `package_data`) needs the same care."
    ),
    page="windows-runtimes",
    references=(
        "https://github.com/adang1345/delvewheel/issues/54",
        "https://learn.microsoft.com/en-us/cpp/porting/binary-compat-2015-2017",
        "https://github.com/microsoft/STL/wiki/Changelog",
    ),
)
def msvc_runtime_too_old(inspection: Inspection) -> Iterator[Finding]:
    """One finding per bundled runtime DLL and the newest module it is too old for."""
    by_path = {b.native.path: b.native for b in inspection.binaries}
    too_old: dict[str, tuple[tuple[int, int], list[str], tuple[int, ...]]] = {}
    for binary, info in _pe_binaries(inspection):
        needs = msvc_version(info.linker_version)
        if needs is None:
            continue
        for dep in binary.dependencies:
            if dep.resolution is not Resolution.BUNDLED or dep.member is None:
                continue
            if not _VERSIONED_RUNTIME.match(dep.name):
                continue
            runtime = by_path.get(dep.member)
            has = runtime_version(runtime.info.file_version) if runtime and runtime.info else None
            if has is None or has[:2] >= needs:
                continue
            newest, users, _ = too_old.get(dep.member, (needs, [], has))
            users.append(binary.native.path)
            too_old[dep.member] = (max(newest, needs), users, has)
    for member, (newest, users, has) in sorted(too_old.items()):
        shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
        version = ".".join(map(str, has))
        yield msvc_runtime_too_old.finding(
            f"bundled {member} is version {version}, older than the toolset "
            f"{newest[0]}.{newest[1]} that built {shown}, which need{'s' if len(users) == 1 else ''} it: "
            "the runtime is only backward compatible",
            inspection.artifact.path,
            member,
            f"{version} < {newest[0]}.{newest[1]}",
        )


def runtime_version(file_version: str | None) -> tuple[int, ...] | None:
    """``"14.51.36260.0"`` -> ``(14, 51, 36260)`` for a v14 runtime's FileVersion; None otherwise."""
    if file_version is None:
        return None
    match = re.fullmatch(r"14\.(\d+)\.(\d+)(?:\.\d+)?", file_version)
    if match is None:
        return None
    return 14, int(match.group(1)), int(match.group(2))
