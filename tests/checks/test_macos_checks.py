"""macOS checks ND401-ND403: synthetic inspections and the macOS wheels of the corpus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from _corpus import CorpusWheel, ensure, wheels
from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.checks.macos import build_machine_prefix, is_unresolved_rpath
from native_doctor.checks.registry import Finding, run_checks
from native_doctor.cli import main
from native_doctor.model import Artifact, ArtifactKind, Dependency, NativeFile, Resolution
from native_doctor.sources.wheel import read_wheel

EXT = "demo/_ext.cpython-312-darwin.so"
DYLIB = "demo/.dylibs/libfoo.1.dylib"
SYSTEM = "/usr/lib/libSystem.B.dylib"


def _macho(**fields: object) -> BinaryInfo:
    base = BinaryInfo(BinaryFormat.MACHO, "arm64", 64, "little", FileKind.BUNDLE, min_os="11.0")
    return replace(base, **fields)  # type: ignore[arg-type]


def _wheel(*files: tuple[str, BinaryInfo]) -> Inspection:
    native = tuple(NativeFile(path, path, 100, None, info) for path, info in files)
    artifact = Artifact(
        kind=ArtifactKind.WHEEL,
        path="demo-1.0-cp312-cp312-macosx_11_0_arm64.whl",
        name="demo",
        version="1.0",
        claimed_tags=("cp312-cp312-macosx_11_0_arm64",),
        files=tuple(n.install_path for n in native),
        native=native,
    )
    return inspect_artifact(artifact)


def _codes(inspection: Inspection, code: str) -> list[Finding]:
    return [f for f in run_checks(inspection) if f.code == code]


def _lib(**fields: object) -> BinaryInfo:
    return _macho(**{"kind": FileKind.SHARED_LIBRARY, "install_name": "@rpath/libfoo.1.dylib", **fields})


#: For every macOS check: (an inspection that triggers it, a clean one).
CASES: dict[str, tuple[Callable[[], Inspection], Callable[[], Inspection]]] = {
    "ND401": (
        lambda: _wheel((EXT, _macho(needed=("/opt/homebrew/opt/libomp/lib/libomp.dylib", SYSTEM)))),
        lambda: _wheel(
            (EXT, _macho(needed=("@loader_path/.dylibs/libfoo.1.dylib", SYSTEM))),
            (DYLIB, _lib(needed=(SYSTEM,))),
        ),
    ),
    "ND402": (
        lambda: _wheel((EXT, _macho(needed=("@rpath/libfoo.1.dylib", SYSTEM), rpath=("@loader_path/lib",)))),
        lambda: _wheel(
            (EXT, _macho(needed=("@rpath/libfoo.1.dylib", SYSTEM), rpath=("@loader_path/.dylibs",))),
            (DYLIB, _lib(needed=(SYSTEM,))),
        ),
    ),
    "ND403": (
        lambda: _wheel((EXT, _macho(needed=(SYSTEM,), rpath=("/Users/runner/micromamba/envs/build/lib",)))),
        lambda: _wheel((EXT, _macho(needed=(SYSTEM,), rpath=("@loader_path/.dylibs",)))),
    ),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_cases(code: str) -> None:
    bad, good = CASES[code]
    assert [f.code for f in _codes(bad(), code)] == [code]
    assert _codes(good(), code) == []


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/opt/homebrew/opt/libomp/lib/libomp.dylib", "Homebrew (Apple silicon)"),
        ("/usr/local/opt/openssl@3/lib/libssl.3.dylib", "Homebrew (Intel)"),
        ("/usr/local/Cellar/gcc/14.1/lib/libgfortran.5.dylib", "Homebrew (Intel)"),
        ("/usr/local/lib/libfoo.dylib", "a library installed into /usr/local"),
        ("/Users/runner/work/x/build/libx.dylib", "a GitHub Actions runner"),
        ("/Users/alice/src/x/libx.dylib", "a home directory"),
        ("/private/var/folders/jk/T/cibw/lib", "a temporary build directory"),
        ("/tmp/build/lib", "a temporary build directory"),
        ("/Applications/Xcode.app/Contents/Developer/Toolchains/x/usr/lib/swift", "an Xcode toolchain"),
        ("/Volumes/build/lib/libx.dylib", "a mounted build volume"),
        ("/opt/miniconda3/envs/build/lib/libz.1.dylib", "a conda installation"),
        ("/some/prefix/envs/build/lib", "a conda environment"),
        ("/usr/lib/libc++.1.dylib", None),
        ("/System/Library/Frameworks/Accelerate.framework/Versions/A/Accelerate", None),
        ("@loader_path/../lib", None),
        ("@rpath/libfoo.dylib", None),
    ],
)
def test_build_machine_prefixes(path: str, what: str | None) -> None:
    assert build_machine_prefix(path) == what


def test_is_unresolved_rpath() -> None:
    assert is_unresolved_rpath(Dependency("@rpath/libfoo.dylib", Resolution.EXTERNAL, None, "not found"))
    assert not is_unresolved_rpath(Dependency("@rpath/libfoo.dylib", Resolution.BUNDLED, DYLIB, "LC_RPATH x"))
    assert not is_unresolved_rpath(
        Dependency("/opt/homebrew/lib/libfoo.dylib", Resolution.EXTERNAL, None, "x")
    )
    assert not is_unresolved_rpath(Dependency("@loader_path/libfoo.dylib", Resolution.EXTERNAL, None, "x"))


def test_rpath_of_a_loader_resolves() -> None:
    """dyld follows the LC_RPATH of the images that load a library: no ND402 then."""
    inspection = _wheel(
        (EXT, _macho(needed=("@rpath/libfoo.1.dylib",), rpath=("@loader_path/.dylibs",))),
        (DYLIB, _lib(needed=("@rpath/libbar.dylib",))),
        ("demo/.dylibs/libbar.dylib", _lib(install_name="@rpath/libbar.dylib")),
    )
    assert _codes(inspection, "ND402") == []


def test_unresolved_rpath_names_a_copy_the_loader_misses() -> None:
    inspection = _wheel(
        (EXT, _macho(needed=("@rpath/libfoo.1.dylib",), rpath=("@loader_path/lib",))),
        (DYLIB, _lib()),
    )
    (finding,) = _codes(inspection, "ND402")
    assert "@loader_path/lib" in finding.message and DYLIB in finding.message


def test_searched_build_rpath_is_an_error_and_unused_one_a_warning() -> None:
    homebrew = "/opt/homebrew/lib"
    searched = _wheel(
        (EXT, _macho(needed=("@rpath/libfoo.1.dylib",), rpath=(homebrew, "@loader_path/.dylibs"))),
        (DYLIB, _lib()),
    )
    assert [f.detail for f in _codes(searched, "ND401")] == [homebrew]
    assert _codes(searched, "ND403") == []
    # The extension's LC_RPATH is searched for its loaded library's @rpath dependency too.
    through_loader = _wheel(
        (EXT, _macho(needed=("@loader_path/.dylibs/libfoo.1.dylib",), rpath=(homebrew,))),
        (DYLIB, _lib(needed=("@rpath/libbar.dylib",))),
    )
    assert [f.detail for f in _codes(through_loader, "ND401")] == [homebrew]
    unused = _wheel((EXT, _macho(needed=(SYSTEM,), rpath=(homebrew,))))
    assert _codes(unused, "ND401") == []
    assert [f.detail for f in _codes(unused, "ND403")] == [homebrew]


def test_unused_build_rpath_is_reported_once_per_entry() -> None:
    entry = "/Users/runner/micromamba/envs/build/lib"
    inspection = _wheel(*((f"demo/_m{i}.cpython-312-darwin.so", _macho(rpath=(entry,))) for i in range(5)))
    (finding,) = _codes(inspection, "ND403")
    assert finding.detail == entry and finding.message.startswith("5 files")


def test_unused_build_rpaths_shared_by_many_files_are_one_finding() -> None:
    """scipy's macOS wheel: the same three build-machine entries in each of 22 files (was 3 findings)."""
    entries = (
        "/Users/runner/work/scipy/build/lib",
        "/opt/homebrew/lib",
        "/private/var/folders/jk/T/cibw-run/build/venv/lib",
    )
    files = [f"scipy/m{i}.cpython-312-darwin.so" for i in range(22)]
    (finding,) = _codes(_wheel(*((f, _macho(needed=(SYSTEM,), rpath=entries)) for f in files)), "ND403")
    assert finding.detail == ", ".join(entries)
    assert finding.all_locations == tuple(files)
    assert finding.message.startswith("22 files (") and "LC_RPATH entries " in finding.message


def test_weak_build_machine_dependency_says_so() -> None:
    name = "/usr/local/opt/libomp/lib/libomp.dylib"
    (finding,) = _codes(_wheel((EXT, _macho(needed=(name,), weak_needed=(name,)))), "ND401")
    assert "weakly" in finding.message


# --- corpus ------------------------------------------------------------------------------------

MACOS = [w for w in wheels() if w.family.startswith("macos") and w.name != "pyodbc"]


@pytest.mark.corpus
@pytest.mark.parametrize("entry", MACOS, ids=lambda w: w.filename)
def test_corpus_macos_wheels(entry: CorpusWheel) -> None:
    """No real macOS wheel in the corpus (pyodbc's aside: below) loads a build-machine library or
    misses an @rpath one; the build-machine LC_RPATH leftovers they do carry are the ones listed here."""
    inspection = inspect_artifact(read_wheel(ensure(entry), deep=True))
    findings = list(run_checks(inspection))
    assert [f for f in findings if f.code in ("ND401", "ND402")] == []
    leftovers = {(f.member, f.detail) for f in findings if f.code == "ND403"}
    expected = {
        "pillow-12.3.0-cp313-cp313-macosx_11_0_arm64.whl": {
            ("PIL/.dylibs/libjpeg.62.4.0.dylib", "/Users/runner/work/Pillow/Pillow/build/deps/darwin/lib")
        },
    }
    name = entry.filename
    if name.startswith("scikit_learn"):
        assert {detail for _, detail in leftovers} == {"/Users/runner/micromamba/envs/build/lib"}
    elif name.startswith("scipy"):
        assert [d for _, d in leftovers if d is not None and "/private/var/folders/" in d] and len(
            leftovers
        ) == 1
    else:
        assert leftovers == expected.get(name, set())


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        pytest.param("/opt/homebrew/opt/unixodbc/lib/libodbc.2.dylib", ["ND401"], id="homebrew-arm64"),
        pytest.param("/usr/local/opt/unixodbc/lib/libodbc.2.dylib", ["ND401"], id="homebrew-intel"),
        pytest.param("libodbc.2.dylib", ["ND201"], id="bare-name-stays-external"),
    ],
)
def test_build_machine_install_name_is_one_finding(name: str, codes: list[str]) -> None:
    """pyodbc's macOS wheels load unixODBC by its Homebrew path: one cause, so one finding (ND401,
    which names the place) and not ND201 too; an external library by any other name stays ND201."""
    inspection = _wheel((EXT, _macho(needed=(name, SYSTEM))))
    found = [f for f in run_checks(inspection) if f.code in ("ND201", "ND401")]
    assert [(f.code, f.detail) for f in found] == [(code, name) for code in codes]


@pytest.mark.corpus
@pytest.mark.parametrize("entry", wheels(name="pyodbc", family="macos-arm64"), ids=lambda w: w.filename)
def test_pyodbc_homebrew_unixodbc_is_one_error(entry: CorpusWheel) -> None:
    """The census saw ND201 and ND401 for pyodbc's one LC_LOAD_DYLIB of Homebrew's unixODBC
    (`llvm-otool -L`: /opt/homebrew/opt/unixodbc/lib/libodbc.2.dylib): now ND401 alone says it."""
    findings = list(run_checks(inspect_artifact(read_wheel(ensure(entry), deep=True))))
    errors = [(f.code, f.member, f.detail) for f in findings if f.severity.value == "error"]
    assert errors == [
        ("ND401", "pyodbc.cpython-312-darwin.so", "/opt/homebrew/opt/unixodbc/lib/libodbc.2.dylib")
    ]


@pytest.mark.corpus
@pytest.mark.parametrize("entry", wheels(name="pyodbc", family="macos-arm64"), ids=lambda w: w.filename)
def test_inspect_still_reports_the_homebrew_library(
    entry: CorpusWheel, capsys: pytest.CaptureFixture[str]
) -> None:
    """`inspect` runs ND201 and the checks that report its special cases, ND401 among them: the
    library pyodbc cannot load is still said there, once."""
    assert main(["inspect", str(ensure(entry))]) == 1
    findings = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("  ND")]
    assert findings == ["ND401"]


def test_an_optional_extension_modules_unresolved_rpath_is_nd211() -> None:
    """numba's ``omppool`` on macOS loads ``@rpath/libomp.dylib`` with no LC_RPATH: ND211, not ND402."""
    ext = "demo/omppool.cpython-312-darwin.so"
    plain = _wheel((ext, _macho(needed=("@rpath/libomp.dylib", SYSTEM))))
    optional = replace(plain, artifact=replace(plain.artifact, optional_extensions=(ext,)))
    assert _codes(plain, "ND402") and not _codes(plain, "ND211")
    [finding] = _codes(optional, "ND211")
    assert finding.detail == "@rpath/libomp.dylib" and not _codes(optional, "ND402")
