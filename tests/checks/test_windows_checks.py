"""Windows checks ND501-ND504: synthetic inspections, DLLs built with MinGW-w64 and clang/lld, corpus."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

import _toolchain
from _corpus import ensure, wheels
from _toolchain import require, run
from _versioninfo import version_resource
from _wheels import make_wheel
from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.checks.registry import Finding, run_checks
from native_doctor.checks.windows import is_missing_mingw_runtime, is_missing_msvc_runtime, msvc_version
from native_doctor.model import Artifact, ArtifactKind, Dependency, NativeFile, Resolution
from native_doctor.sources.wheel import read_wheel

EXT = "demo/_ext.cp312-win_amd64.pyd"
WHEEL = "demo-1.0-cp312-cp312-win_amd64.whl"
UCRT = ("api-ms-win-crt-runtime-l1-1-0.dll", "KERNEL32.dll", "VCRUNTIME140.dll", "python312.dll")


def _pe(**fields: object) -> BinaryInfo:
    base = BinaryInfo(
        BinaryFormat.PE, "x86_64", 64, "little", FileKind.SHARED_LIBRARY, linker_version="14.38"
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def _wheel(*files: tuple[str, BinaryInfo], dll_directories: tuple[str, ...] = ()) -> Inspection:
    native = tuple(NativeFile(path, path, 100, None, info) for path, info in files)
    artifact = Artifact(
        kind=ArtifactKind.WHEEL,
        path=WHEEL,
        name="demo",
        version="1.0",
        claimed_tags=("cp312-cp312-win_amd64",),
        files=tuple(n.install_path for n in native),
        native=native,
        dll_directories=dll_directories,
    )
    return inspect_artifact(artifact)


def _codes(inspection: Inspection, code: str) -> list[Finding]:
    return [f for f in run_checks(inspection) if f.code == code]


MANGLED = "msvcp140-a4c2229bdc2a2a630acdc095b4d86008.dll"


def _delvewheel(module_linker: str, runtime_version: str) -> Inspection:
    """A module linked by ``module_linker`` and a vendored msvcp140 of FileVersion ``runtime_version``
    (linked, as Microsoft's runtimes are, by an earlier toolset)."""
    return _wheel(
        (EXT, _pe(needed=(*UCRT, MANGLED), linker_version=module_linker)),
        (
            f"demo.libs/{MANGLED}",
            _pe(
                needed=("KERNEL32.dll", "VCRUNTIME140.dll"),
                linker_version="14.29",
                file_version=runtime_version,
            ),
        ),
        dll_directories=("demo.libs",),
    )


#: For every Windows check: (an inspection that triggers it, a clean one).
CASES: dict[str, tuple[Callable[[], Inspection], Callable[[], Inspection]]] = {
    "ND501": (
        lambda: _wheel(
            (EXT, _pe(needed=("KERNEL32.dll", "msvcrt.dll", "python312.dll"), linker_version="2.40"))
        ),
        lambda: _wheel((EXT, _pe(needed=UCRT))),
    ),
    "ND502": (
        lambda: _wheel((EXT, _pe(needed=(*UCRT, "libstdc++-6.dll")))),
        lambda: _wheel(
            (EXT, _pe(needed=(*UCRT, "libgcc_s_seh-1.dll"))),
            ("demo/libgcc_s_seh-1.dll", _pe(needed=("KERNEL32.dll",))),
        ),
    ),
    "ND503": (
        lambda: _wheel((EXT, _pe(needed=(*UCRT, "MSVCP140.dll")))),
        lambda: _wheel((EXT, _pe(needed=(*UCRT, "VCRUNTIME140_1.dll")))),
    ),
    "ND504": (
        lambda: _delvewheel("14.42", "14.29.30133.0"),
        lambda: _delvewheel("14.42", "14.42.34433.0"),
    ),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_cases(code: str) -> None:
    bad, good = CASES[code]
    assert [f.code for f in _codes(bad(), code)] == [code]
    assert _codes(good(), code) == []


def test_msvcrt_alongside_ucrt_is_named() -> None:
    (finding,) = _codes(_wheel((EXT, _pe(needed=(*UCRT, "msvcrt.dll")))), "ND501")
    assert "as well as the UCRT" in finding.message and finding.detail == "msvcrt.dll"


def test_runtime_predicates() -> None:
    def dep(name: str, resolution: Resolution = Resolution.EXTERNAL) -> Dependency:
        return Dependency(name, resolution, None, "x")

    assert is_missing_mingw_runtime(dep("libwinpthread-1.dll"))
    assert is_missing_mingw_runtime(dep("libgfortran-5.dll"))
    assert not is_missing_mingw_runtime(dep("libwinpthread-1.dll", Resolution.BUNDLED))
    assert not is_missing_mingw_runtime(dep("msvcp140.dll"))
    assert is_missing_msvc_runtime(dep("msvcp140.dll"))
    assert is_missing_msvc_runtime(dep("VCOMP140.DLL"))
    assert is_missing_msvc_runtime(dep("concrt140.dll"))
    assert not is_missing_msvc_runtime(dep("vcruntime140.dll"))
    assert not is_missing_msvc_runtime(dep("libfoo.dll"))


def test_debug_runtime_is_called_out() -> None:
    (finding,) = _codes(_wheel((EXT, _pe(needed=(*UCRT, "MSVCP140D.dll")))), "ND503")
    assert "debug runtime" in finding.message


def test_msvc_version() -> None:
    assert msvc_version("14.38") == (14, 38)
    assert msvc_version("2.36") is None  # GNU ld
    assert msvc_version(None) is None
    assert msvc_version("14") is None


def test_runtime_too_old_ignores_mingw_modules_and_groups_users() -> None:
    mingw_user = _wheel(
        (EXT, _pe(needed=(*UCRT, "msvcp140.dll"), linker_version="2.40")),
        ("demo/msvcp140.dll", _pe(linker_version="14.10", file_version="14.10.25008.0")),
    )
    assert _codes(mingw_user, "ND504") == []
    many = _wheel(
        *(
            (f"demo/_m{i}.pyd", _pe(needed=(*UCRT, "msvcp140.dll"), linker_version=f"14.{40 + i}"))
            for i in range(5)
        ),
        ("demo/msvcp140.dll", _pe(linker_version="14.40", file_version="14.40.33810.0")),
    )
    (finding,) = _codes(many, "ND504")
    assert finding.member == "demo/msvcp140.dll" and finding.detail == "14.40.33810 < 14.44"
    assert "and 1 more" in finding.message


@pytest.mark.parametrize(
    ("linker", "file_version", "fires"),
    [
        pytest.param("14.50", "14.51.36260.0", False, id="pycurl-runtime-linked-by-an-earlier-toolset"),
        pytest.param("14.51", "14.50.35719.0", True, id="file-version-decides-not-the-linker"),
        pytest.param("14.29", None, False, id="no-version-resource-not-judged"),
        pytest.param("14.29", "10.0.26100.1", False, id="not-a-v14-runtime-version"),
    ],
)
def test_runtime_too_old_compares_the_file_version(
    linker: str, file_version: str | None, fires: bool
) -> None:
    inspection = _wheel(
        (EXT, _pe(needed=(*UCRT, "msvcp140.dll"), linker_version="14.51")),
        ("demo/msvcp140.dll", _pe(linker_version=linker, file_version=file_version)),
    )
    assert bool(_codes(inspection, "ND504")) is fires


# --- real binaries -----------------------------------------------------------------------------

_THREADS_C = """\
#include <pthread.h>
static void *run(void *arg) { return arg; }
__int128 divide(__int128 a, __int128 b) { return a / b; }
int go(void) { pthread_t t; pthread_create(&t, 0, run, 0); return pthread_join(t, 0); }
"""


def _read(tmp: Path, members: dict[str, bytes]) -> Inspection:
    path = make_wheel(tmp, WHEEL, {"demo/__init__.py": b"", **members})
    return inspect_artifact(read_wheel(path, deep=True))


@pytest.fixture(scope="module")
def mingw_dll(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A MinGW-w64 DLL on msvcrt.dll needing libgcc_s_seh-1.dll and libwinpthread-1.dll, and those."""
    gcc = require("x86_64-w64-mingw32-gcc")
    out = tmp_path_factory.mktemp("mingw")
    (out / "ext.c").write_text(_THREADS_C)
    run(gcc, "-shared", "-shared-libgcc", "-o", out / "ext.pyd", out / "ext.c", "-lpthread")
    files = {"ext.pyd": (out / "ext.pyd").read_bytes()}
    for name in ("libgcc_s_seh-1.dll", "libwinpthread-1.dll"):
        found = Path(run(gcc, f"-print-file-name={name}").strip())
        if not found.is_file():
            _toolchain.unavailable(f"{name} is not installed with the MinGW-w64 toolchain")
        files[name] = found.read_bytes()
    return files


@pytest.mark.toolchain
def test_real_mingw_dll(tmp_path: Path, mingw_dll: dict[str, bytes]) -> None:
    unrepaired = _read(tmp_path, {EXT: mingw_dll["ext.pyd"]})
    assert {f.detail for f in _codes(unrepaired, "ND502")} == {"libgcc_s_seh-1.dll", "libwinpthread-1.dll"}
    assert [f.member for f in _codes(unrepaired, "ND501")] == [EXT]
    (tmp_path / "repaired").mkdir()
    repaired = _read(
        tmp_path / "repaired",
        {
            EXT: mingw_dll["ext.pyd"],
            **{f"demo/{n}": mingw_dll[n] for n in ("libgcc_s_seh-1.dll", "libwinpthread-1.dll")},
        },
    )
    assert _codes(repaired, "ND502") == []
    assert EXT in {f.member for f in _codes(repaired, "ND501")}  # bundling does not change the CRT


_MODULE_C = """\
void _Thrd_yield(void);
__declspec(dllexport) void go(void) { _Thrd_yield(); }
int _DllMainCRTStartup(void *a, unsigned b, void *c) { return 1; }
"""
_RUNTIME_C = """\
__declspec(dllexport) void _Thrd_yield(void) {}
int _DllMainCRTStartup(void *a, unsigned b, void *c) { return 1; }
"""


def _set_linker_minor(data: bytes, minor: int) -> bytes:
    """Patch MinorLinkerVersion in the PE optional header (lld-link always writes 14.0)."""
    (pe_offset,) = struct.unpack_from("<I", data, 0x3C)
    patched = bytearray(data)
    patched[pe_offset + 4 + 20 + 3] = minor
    return bytes(patched)


@pytest.fixture(scope="module")
def msvc_dlls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """An MSVC-ABI module importing msvcp140.dll, and stand-in msvcp140.dll files (clang + lld-link):
    ``msvcp140.dll`` without a version resource, ``msvcp140-<minor>.dll`` with FileVersion
    14.<minor>.30000.0 (minors 29, 40, 44)."""
    clang = require("clang")
    require("ld.lld")
    dlltool = require("llvm-dlltool", "llvm-dlltool-14")
    out = tmp_path_factory.mktemp("msvc")
    (out / "msvcp140.def").write_text("LIBRARY msvcp140.dll\nEXPORTS\n_Thrd_yield\n")
    run(dlltool, "-m", "i386:x86-64", "-d", out / "msvcp140.def", "-l", out / "msvcp140.lib")
    (out / "module.c").write_text(_MODULE_C)
    (out / "runtime.c").write_text(_RUNTIME_C)
    common = ("--target=x86_64-pc-windows-msvc", "-fuse-ld=lld", "-nostdlib", "-shared")
    entry = "-Wl,-entry:_DllMainCRTStartup"
    run(clang, *common, "-o", out / "module.pyd", out / "module.c", f"-Wl,{out / 'msvcp140.lib'}", entry)
    run(clang, *common, "-o", out / "msvcp140.dll", out / "runtime.c", entry)
    built = {name: (out / name).read_bytes() for name in ("module.pyd", "msvcp140.dll")}
    for minor in (29, 40, 44):
        resource = version_resource(out, minor, 30000, res=True)
        target = out / f"msvcp140-{minor}.dll"
        run(clang, *common, "-o", target, out / "runtime.c", f"-Wl,{resource}", entry)
        built[target.name] = target.read_bytes()
    return built


@pytest.mark.toolchain
def test_real_msvc_runtime_not_bundled(tmp_path: Path, msvc_dlls: dict[str, bytes]) -> None:
    alone = _read(tmp_path, {EXT: msvc_dlls["module.pyd"]})
    assert [f.detail for f in _codes(alone, "ND503")] == ["msvcp140.dll"]
    (tmp_path / "bundled").mkdir()
    bundled = _read(
        tmp_path / "bundled", {EXT: msvc_dlls["module.pyd"], "demo/msvcp140.dll": msvc_dlls["msvcp140.dll"]}
    )
    assert _codes(bundled, "ND503") == []


@pytest.mark.toolchain
@pytest.mark.parametrize(
    ("module", "runtime", "fires"), [(40, 29, True), (40, 40, False), (38, 44, False), (44, 40, True)]
)
def test_real_msvc_runtime_too_old(
    tmp_path: Path, msvc_dlls: dict[str, bytes], module: int, runtime: int, fires: bool
) -> None:
    """The runtime's linker version is always 14.0 here (lld-link): only its FileVersion counts."""
    members = {
        EXT: _set_linker_minor(msvc_dlls["module.pyd"], module),
        "demo/msvcp140.dll": msvc_dlls[f"msvcp140-{runtime}.dll"],
    }
    findings = _codes(_read(tmp_path, members), "ND504")
    assert bool(findings) is fires
    if fires:
        assert findings[0].detail == f"14.{runtime}.30000 < 14.{module}"


# --- corpus ------------------------------------------------------------------------------------


def _corpus(filename: str) -> list[Finding]:
    (entry,) = [w for w in wheels() if w.filename == filename]
    return list(run_checks(inspect_artifact(read_wheel(ensure(entry), deep=True))))


@pytest.mark.corpus
def test_corpus_gmpy2_2_1_5_links_msvcrt() -> None:
    """gmpy2 2.1.5 was built with MinGW-w64 on msvcrt.dll; 2.3.2 moved to the UCRT."""
    old = _corpus("gmpy2-2.1.5-cp311-cp311-win_amd64.whl")
    (msvcrt,) = [f for f in old if f.code == "ND501"]  # one cause, one finding listing every file
    assert set(msvcrt.all_locations) == {
        "gmpy2/gmpy2.cp311-win_amd64.pyd",
        "gmpy2/libgcc_s_seh-1.dll",
        "gmpy2/libgmp-10.dll",
        "gmpy2/libmpc-3.dll",
        "gmpy2/libmpfr-6.dll",
        "gmpy2/libwinpthread-1.dll",
    }
    assert [f for f in old if f.code in ("ND502", "ND503")] == []  # the runtime DLLs are bundled
    new = _corpus("gmpy2-2.3.2-cp312-cp312-win_amd64.whl")
    assert [f for f in new if f.code.startswith("ND5")] == []


@pytest.mark.corpus
def test_corpus_numpy_vendors_an_older_msvcp140() -> None:
    """numpy 2.4.6's delvewheel-vendored msvcp140 is version 14.40.33810; its modules were linked
    by 14.44."""
    findings = [f for f in _corpus("numpy-2.4.6-cp312-cp312-win_amd64.whl") if f.code == "ND504"]
    assert [(f.member, f.detail) for f in findings] == [
        ("numpy.libs/msvcp140-a4c2229bdc2a2a630acdc095b4d86008.dll", "14.40.33810 < 14.44")
    ]


@pytest.mark.corpus
def test_corpus_scikit_learn_vendors_a_current_runtime() -> None:
    """scikit-learn 1.9.1 vendors msvcp140/vcomp140 14.51.36247 (linked by toolset 14.50, as
    Microsoft builds them) for modules linked by 14.51: new enough (pycurl 7.49's case too)."""
    findings = _corpus("scikit_learn-1.9.1-cp311-cp311-win_amd64.whl")
    assert [f for f in findings if f.code == "ND504"] == []


@pytest.mark.parametrize(
    ("needed", "instead_of"),
    [
        pytest.param((*UCRT, "VCOMP140.DLL"), "ND503", id="msvc-openmp"),
        pytest.param((*UCRT, "libgomp-1.dll"), "ND502", id="mingw-openmp"),
        pytest.param((*UCRT, "tbb12.dll"), "ND201", id="external"),
    ],
)
def test_an_optional_extension_modules_missing_dlls_are_nd211(
    needed: tuple[str, ...], instead_of: str
) -> None:
    """numba's ``omppool``/``tbbpool`` on Windows: one ND211 warning, none of the errors."""
    plain = _wheel((EXT, _pe(needed=needed)))
    optional = replace(plain, artifact=replace(plain.artifact, optional_extensions=(EXT,)))
    assert _codes(plain, instead_of) and not _codes(plain, "ND211")
    [finding] = _codes(optional, "ND211")
    assert needed[-1] in finding.message and not _codes(optional, instead_of)
