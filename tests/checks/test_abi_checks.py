"""ABI checks (ND601-ND604) on inspections built in the test, their data, and real abi3 wheels.

The differential test runs abi3audit (``pip install abi3audit==0.0.26``; it works offline on a
wheel path) on corpus wheels and compares its verdicts with ND601/ND602's.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import pytest

import _toolchain
from _corpus import CorpusWheel, ensure, wheels
from _toolchain import require, run
from _wheels import make_wheel
from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.checks.abi import forbidden_for, forbidden_symbols, stable_abi
from native_doctor.checks.registry import Finding, run_checks
from native_doctor.model import Artifact, ArtifactKind, NativeFile
from native_doctor.sources.wheel import read_wheel

ROOT = Path(__file__).resolve().parents[2]
Factory = Callable[[], Inspection]
MINE = frozenset({"ND601", "ND602", "ND603", "ND604"})


def elf(
    imported: tuple[str, ...] = (),
    *,
    needed: tuple[str, ...] = ("libc.so.6",),
    exported: tuple[str, ...] = (),
    deep: bool = True,
    rpath: tuple[str, ...] = (),
) -> BinaryInfo:
    return BinaryInfo(
        BinaryFormat.ELF,
        "x86_64",
        64,
        "little",
        FileKind.SHARED_LIBRARY,
        needed=needed,
        rpath=rpath,
        deep=deep,
        imported_symbols=tuple(sorted(imported)) if deep else (),
        exported_symbols=tuple(sorted(exported)) if deep else (),
    )


def pe(imports: dict[str, tuple[str, ...]]) -> BinaryInfo:
    return BinaryInfo(
        BinaryFormat.PE,
        "x86_64",
        64,
        "little",
        FileKind.SHARED_LIBRARY,
        needed=tuple(imports),
        deep=True,
        imported_symbols=tuple(sorted({s for names in imports.values() for s in names})),
        imports_by_library=MappingProxyType(imports),
    )


def native(path: str, info: BinaryInfo | None) -> NativeFile:
    return NativeFile(path, path, 100, None, info)


def wheel(tags: str, *files: NativeFile) -> Inspection:
    interps, abis, plats = tags.split("-")
    claimed = tuple(
        f"{i}-{a}-{p}" for i in interps.split(".") for a in abis.split(".") for p in plats.split(".")
    )
    artifact = Artifact(
        kind=ArtifactKind.WHEEL,
        path=f"demo-1.0-{tags}.whl",
        name="demo",
        version="1.0",
        claimed_tags=claimed,
        files=tuple(f.install_path for f in files),
        native=files,
    )
    return inspect_artifact(artifact)


def codes(inspection: Inspection, code: str) -> list[Finding]:
    return [f for f in run_checks(inspection) if f.code == code]


ABI3 = "cp311-abi3-manylinux_2_17_x86_64"
MOD = "demo/_ext.abi3.so"

#: For each of this module's codes: (an inspection that triggers it, a clean one).
CASES: dict[str, tuple[Factory, Factory]] = {
    "ND601": (
        lambda: wheel(ABI3, native(MOD, elf(("PyArg_ParseTuple", "_PyLong_AsInt", "PyInit__ext")))),
        lambda: wheel(ABI3, native(MOD, elf(("PyArg_ParseTuple", "_Py_Dealloc", "PyInit__ext")))),
    ),
    "ND602": (
        lambda: wheel("cp39-abi3-manylinux_2_17_x86_64", native(MOD, elf(("PyModule_AddType",)))),
        lambda: wheel("cp310-abi3-manylinux_2_17_x86_64", native(MOD, elf(("PyModule_AddType",)))),
    ),
    "ND603": (
        lambda: wheel(
            "cp312-cp312-manylinux_2_17_x86_64", native("demo/_ext.cpython-311-x86_64-linux-gnu.so", elf())
        ),
        lambda: wheel(
            "cp312-cp312-manylinux_2_17_x86_64", native("demo/_ext.cpython-312-x86_64-linux-gnu.so", elf())
        ),
    ),
    "ND604": (
        lambda: wheel(
            "cp312-cp312-manylinux_2_17_x86_64",
            native("demo/_ext.so", elf(("_tr_flush_block", "inflate"), needed=("libz.so.1",))),
        ),
        lambda: wheel(
            "cp312-cp312-manylinux_2_17_x86_64",
            native("demo/_ext.so", elf(("deflate", "inflate"), needed=("libz.so.1",))),
        ),
    ),
}


@pytest.mark.parametrize(("code", "which"), [(c, w) for c in CASES for w in ("bad", "good")], ids=lambda v: v)
def test_cases_fire_and_stay_quiet(code: str, which: str) -> None:
    bad, good = CASES[code]
    found = {f.code for f in run_checks((bad if which == "bad" else good)())}
    assert (code in found) == (which == "bad")


# --- ND601 / ND602 ---------------------------------------------------------------------------------


def test_symbol_checks_are_silent_without_deep_reading() -> None:
    shallow = elf(deep=False, needed=("libz.so.1",))
    for tags in (ABI3, "cp39-abi3-manylinux_2_17_x86_64"):
        assert not [f for f in run_checks(wheel(tags, native(MOD, shallow))) if f.code in MINE]


def test_nd601_lists_symbols_and_skips_init_and_wheel_internal_ones() -> None:
    inspection = wheel(
        ABI3,
        native(
            MOD, elf(("PyInit__ext", "PyInit_other", "_PyObject_GC_Malloc", "PyFoo_Helper", "_Py_Dealloc"))
        ),
        native("demo/libhelper.so", elf(exported=("PyFoo_Helper",))),
    )
    (finding,) = codes(inspection, "ND601")
    assert finding.member == MOD and finding.detail == "_PyObject_GC_Malloc"
    assert ABI3 in finding.message


def test_nd601_only_in_abi3_wheels() -> None:
    assert not codes(
        wheel("cp311-cp311-manylinux_2_17_x86_64", native(MOD, elf(("_PyLong_AsInt",)))), "ND601"
    )


def test_nd601_windows_versioned_python_dll() -> None:
    inspection = wheel(
        "cp311-abi3-win_amd64",
        native(
            "demo/_ext.pyd", pe({"python311.dll": ("PyArg_ParseTuple",), "KERNEL32.dll": ("GetLastError",)})
        ),
    )
    (finding,) = codes(inspection, "ND601")
    assert finding.detail == "python311.dll"
    clean = wheel(
        "cp311-abi3-win_amd64",
        native("demo/_ext.pyd", pe({"python3.dll": ("PyArg_ParseTuple", "PyNewer_Thing")})),
    )
    assert not codes(clean, "ND601")


def test_nd602_uses_the_lowest_abi3_tag_and_names_the_version() -> None:
    inspection = wheel(
        "cp38.cp39-abi3-manylinux_2_17_x86_64", native(MOD, elf(("PyModule_AddType", "PyArg_ParseTuple")))
    )
    (finding,) = codes(inspection, "ND602")
    assert finding.detail == "3.10" and "admits Python 3.8" in finding.message
    assert "PyModule_AddType (3.10)" in finding.message


def test_nd602_windows_python3_dll_imports() -> None:
    inspection = wheel(
        "cp39-abi3-win_amd64", native("demo/_ext.pyd", pe({"python3.dll": ("PyModule_AddType",)}))
    )
    assert [f.detail for f in codes(inspection, "ND602")] == ["3.10"]


# --- ND603 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "name", "problem"),
    [
        ("cp312-cp312-manylinux_2_17_x86_64", "_ext.cpython-312-x86_64-linux-gnu.so", None),
        ("cp312-cp312-manylinux_2_17_x86_64", "_ext.cpython-311-x86_64-linux-gnu.so", "cp311 module"),
        ("cp311-abi3-manylinux_2_17_x86_64", "_ext.cpython-311-x86_64-linux-gnu.so", "cp311 module"),
        ("cp311-abi3-manylinux_2_17_x86_64", "_ext.abi3.so", None),
        ("cp311-cp311-manylinux_2_17_x86_64", "_ext.abi3.so", None),
        ("cp313-cp313t-manylinux_2_17_x86_64", "_ext.abi3.so", "free-threaded"),
        ("cp313-cp313t-manylinux_2_17_x86_64", "_ext.cpython-313t-x86_64-linux-gnu.so", None),
        ("cp313-cp313t-manylinux_2_17_x86_64", "_ext.cpython-313-x86_64-linux-gnu.so", "cp313 module"),
        ("cp313-cp313-macosx_11_0_arm64", "_ext.cpython-313t-darwin.so", "cp313t module"),
        ("cp313-cp313-macosx_11_0_arm64", "_ext.cpython-313-darwin.so", None),
        ("cp312-cp312-win_amd64", "_ext.cp311-win_amd64.pyd", "cp311 module"),
        ("cp312-cp312-win_amd64", "_ext.cp312-win32.pyd", "win32 module"),
        ("cp312-cp312-win_amd64", "_ext.cp312-win_amd64.pyd", None),
        ("cp37-cp37m-win_amd64", "_ext.cp37-win_amd64.pyd", None),
        ("cp37-cp37m-manylinux_2_17_x86_64", "_ext.cpython-37m-x86_64-linux-gnu.so", None),
        (
            "cp312-cp312-manylinux_2_17_x86_64",
            "_ext.cpython-312-aarch64-linux-gnu.so",
            "aarch64-linux-gnu module",
        ),
        ("cp312-cp312-musllinux_1_2_x86_64", "_ext.cpython-312-x86_64-linux-musl.so", None),
        ("cp312-cp312-manylinux_2_17_x86_64", "_ext.cpython-312-darwin.so", "darwin module"),
        ("py3-none-manylinux_2_17_x86_64", "_ext.cpython-310-x86_64-linux-gnu.so", None),
        ("cp311-none-manylinux_2_17_x86_64", "_ext.cpython-312-x86_64-linux-gnu.so", "cp312 module"),
        ("cp312-cp312-manylinux_2_17_x86_64", "_ext.so", None),
    ],
    ids=lambda v: v,
)
def test_nd603(tags: str, name: str, problem: str | None) -> None:
    found = codes(wheel(tags, native(f"demo/{name}", elf())), "ND603")
    if problem is None:
        assert not found
    else:
        (finding,) = found
        assert problem in finding.message and finding.member == f"demo/{name}"


# --- ND604 -----------------------------------------------------------------------------------------


def test_nd604_depends_on_the_claimed_policy() -> None:
    info = elf(("__cxa_thread_atexit_impl",), needed=("libc.so.6",))
    (finding,) = codes(wheel("cp312-cp312-manylinux_2_17_x86_64", native("demo/_ext.so", info)), "ND604")
    assert finding.detail == "libc.so.6" and "manylinux_2_17_x86_64" in finding.message
    assert not codes(wheel("cp312-cp312-manylinux_2_28_x86_64", native("demo/_ext.so", info)), "ND604")


def test_nd604_musllinux_and_bundled_libraries() -> None:
    info = elf(("zcalloc",), needed=("libz.so.1",))
    assert codes(wheel("cp312-cp312-musllinux_1_2_x86_64", native("demo/_ext.so", info)), "ND604")
    bundled = wheel(
        "cp312-cp312-manylinux_2_17_x86_64",
        native("demo/_ext.so", elf(("zcalloc",), needed=("libz.so.1",), rpath=("$ORIGIN",))),
        native("demo/libz.so.1", elf(exported=("zcalloc",))),
    )
    assert not codes(bundled, "ND604")
    # A symbol imported while the library is not needed is not judged against that library.
    assert not codes(
        wheel("cp312-cp312-manylinux_2_17_x86_64", native("demo/_ext.so", elf(("zcalloc",)))), "ND604"
    )


# --- data ------------------------------------------------------------------------------------------


def test_stable_abi_data() -> None:
    data = stable_abi()
    assert data["PyArg_ParseTuple"] == (3, 2)
    assert data["PyModule_AddType"] == (3, 10)
    assert data["_Py_Dealloc"] == (3, 2)  # abi_only items are part of the stable ABI
    assert "_PyLong_AsInt" not in data and "PyUnicode_New" not in data
    document = json.loads((ROOT / "src/native_doctor/checks/data/stable_abi.json").read_text())
    assert "stable_abi.toml" in document["source"] and document["date"]


def test_stable_abi_data_matches_abi3info() -> None:
    abi3info = _toolchain.require_module("abi3info")  # abi3audit's dependency

    theirs = {
        item.symbol.name: (item.added.major, item.added.minor)
        for table in (abi3info.FUNCTIONS, abi3info.DATAS)
        for item in table.values()
    }
    ours = dict(stable_abi())
    assert ours.items() <= theirs.items()  # a newer abi3info may know newer symbols
    assert len(ours) >= len(theirs) - 20


def test_gen_stable_abi_reads_the_cpython_toml(tmp_path: Path) -> None:
    toml = tmp_path / "stable_abi.toml"
    toml.write_text(
        "[struct.PyObject]\n    added = '3.2'\n"
        "[function.PyArg_Parse]\n    added = '3.2'\n"
        "[function._Py_DecRef]\n    added = '3.10'\n    abi_only = true\n"
        "[data.PyBool_Type]\n    added = '3.2'\n"
        "[macro.Py_BEGIN_ALLOW_THREADS]\n    added = '3.2'\n"
    )
    out = tmp_path / "out.json"
    script = ROOT / "scripts" / "gen_stable_abi.py"
    subprocess.run(
        [sys.executable, str(script), "--toml", str(toml), "--output", str(out)],
        check=True,
        capture_output=True,
    )
    document = json.loads(out.read_text())
    assert document["symbols"] == {"PyArg_Parse": "3.2", "PyBool_Type": "3.2", "_Py_DecRef": "3.10"}
    assert document["schema_version"] == 1 and "stable_abi.toml" in document["source"]


def _auditwheel_policies(family: str) -> list[dict[str, object]]:
    spec = importlib.util.find_spec("auditwheel")
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent / "policy" / f"{family}-policy.json"
    policies: list[dict[str, object]] = json.loads(path.read_text())
    return [p for p in policies if p["name"] != "linux"]


@pytest.mark.parametrize("family", ["manylinux", "musllinux"])
def test_forbidden_symbols_agree_with_auditwheel_policies(family: str) -> None:
    """auditwheel's policy files are the oracle: every policy's blacklist, library by library."""
    _toolchain.require_module("auditwheel")
    policies = _auditwheel_policies(family)
    newest = max(tuple(int(x) for x in str(p["name"]).split("_")[1:3]) for p in policies)
    for policy in policies:
        version = tuple(int(x) for x in str(policy["name"]).split("_")[1:3])
        blacklist = policy["blacklist"]
        assert isinstance(blacklist, dict)
        for library in set(blacklist) | set(forbidden_symbols(family)):
            expected = frozenset(blacklist.get(library, ()))
            assert forbidden_for(family, library, (version[0], version[1])) == expected, (
                policy["name"],
                library,
            )
    assert forbidden_for(family, "libz.so.1", (newest[0], newest[1] + 5)) == forbidden_for(
        family, "libz.so.1", (newest[0], newest[1])
    )


# --- real wheels -----------------------------------------------------------------------------------


def _abi3_entries() -> list[CorpusWheel]:
    return [e for e in wheels() if any("-abi3-" in t for t in e.tags) or "-abi3-" in e.filename]


@pytest.mark.corpus
@pytest.mark.parametrize("entry", _abi3_entries(), ids=lambda e: e.filename)
def test_real_abi3_wheels_are_clean(entry: CorpusWheel) -> None:
    from native_doctor.sources.wheel import read_wheel

    inspection = inspect_artifact(read_wheel(ensure(entry), deep=True))
    assert any(b.native.info and b.native.info.deep for b in inspection.binaries)
    assert not [f for f in run_checks(inspection) if f.code in MINE]


#: Wheels that are not abi3, audited as if tagged cp32-abi3: many non-stable symbols to compare.
_RELABELLED = ("orjson", "scikit_learn", "pillow")


def _differential_entries() -> list[CorpusWheel]:
    extra = [e for e in wheels() if e.name in _RELABELLED and e.family.startswith(("manylinux", "macos"))]
    return _abi3_entries() + extra


def _abi3audit() -> str:
    """The pinned abi3audit (a test dependency): skip locally without it, fail in CI."""
    beside = Path(sys.executable).parent / "abi3audit"
    return str(beside) if beside.exists() else require("abi3audit")


@pytest.mark.corpus
@pytest.mark.parametrize("entry", _differential_entries(), ids=lambda e: e.filename)
def test_differential_against_abi3audit(entry: CorpusWheel) -> None:
    """ND601/ND602 against abi3audit, extension by extension.

    Known, accepted difference: abi3audit counts every global ``Py*`` symbol in the symbol
    tables, including ones the extension itself defines (Pillow's ``PyImaging_*`` functions);
    we count imports only, since only an import can fail to resolve. So abi3audit's set may
    exceed ours by symbols the binary exports, and never otherwise.
    """
    from native_doctor.sources.wheel import read_wheel

    path = ensure(entry)
    artifact = read_wheel(path, deep=True)
    abi3 = any(t.split("-")[1] == "abi3" for t in artifact.claimed_tags)
    if not abi3:
        artifact = dataclasses.replace(
            artifact, claimed_tags=tuple(f"cp32-abi3-{t.split('-')[2]}" for t in artifact.claimed_tags)
        )
    inspection = inspect_artifact(artifact)
    findings = list(run_checks(inspection))
    ours_non = {
        member: set((f.detail or "").split(", "))
        for f in findings
        if f.code == "ND601" and not (f.detail or "").endswith(".dll")
        for member in f.all_locations  # one finding per cause lists every file
    }
    ours_version = {member: f.detail for f in findings if f.code == "ND602" for member in f.all_locations}

    exe = _abi3audit()
    args = (
        [exe, "--report", str(path)] if abi3 else [exe, "--report", "--assume-minimum-abi3", "3.2", str(path)]
    )
    report = json.loads(subprocess.run(args, capture_output=True, text=True, check=False).stdout)
    results = {so["name"]: so["result"] for spec in report["specs"].values() for so in spec.get("wheel", [])}
    assert results, "abi3audit scanned nothing"
    by_name: dict[str, list[NativeFile]] = {}
    for file in artifact.native:
        by_name.setdefault(file.path.rsplit("/", 1)[-1], []).append(file)
    compared = 0
    for name, result in results.items():
        files = by_name.get(name, [])
        if len(files) != 1:
            continue  # abi3audit names files by base name only; skip ambiguous ones
        (file,) = files
        assert file.info is not None
        theirs_non = set(result["non_abi3_symbols"])
        ours = ours_non.get(file.path, set())
        assert ours <= theirs_non, (file.path, sorted(ours - theirs_non))
        assert theirs_non - ours <= set(file.info.exported_symbols), (file.path, sorted(theirs_non - ours))
        baseline = result["baseline"]
        computed = result["computed"]
        expected_version = computed if computed != baseline else None
        assert ours_version.get(file.path) == expected_version, file.path
        compared += 1
    assert compared


# --- ND604 on real binaries: weak undefined references ----------------------------------------------

FIXTURES = ROOT / "tests" / "fixtures_src"


def _weak_tls_wheel(tmp_path: Path, *, strong: bool) -> Inspection:
    """A manylinux2014 wheel whose extension references ``__cxa_thread_atexit_impl`` as Rust's
    std does (weak), or as an ordinary global reference with ``strong``."""
    out = tmp_path / ("strong.so" if strong else "weak.so")
    flags = ("-DSTRONG",) if strong else ()
    run(require("gcc"), "-shared", "-fPIC", *flags, FIXTURES / "weak_tls.c", "-o", out)
    path = make_wheel(
        tmp_path,
        "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        {"demo/_ext.cpython-312-x86_64-linux-gnu.so": out.read_bytes()},
    )
    return inspect_artifact(read_wheel(path, deep=True))


@pytest.mark.toolchain
@pytest.mark.parametrize("strong", [False, True], ids=["weak-reference", "global-reference"])
def test_nd604_skips_weak_undefined_references(tmp_path: Path, strong: bool) -> None:
    inspection = _weak_tls_wheel(tmp_path, strong=strong)
    (binary,) = inspection.binaries
    info = binary.native.info
    assert info is not None and info.deep
    assert "__cxa_thread_atexit_impl" in info.imported_symbols
    assert ("__cxa_thread_atexit_impl" in info.weak_imported_symbols) is not strong
    assert ("__cxa_thread_atexit_impl" in info.required_imported_symbols) is strong
    assert "strlen" in info.required_imported_symbols
    found = codes(inspection, "ND604")
    if strong:
        (finding,) = found
        assert "__cxa_thread_atexit_impl" in finding.message and finding.detail == "libc.so.6"
    else:
        assert not found


_WEAK_RUST = [pytest.param(w, id=w.filename) for w in wheels() if "weak-undefined" in w.tags]


@pytest.mark.corpus
@pytest.mark.parametrize("entry", _WEAK_RUST)
def test_nd604_quiet_on_real_rust_wheels_with_weak_references(entry: CorpusWheel) -> None:
    """Rust's std references ``__cxa_thread_atexit_impl`` weakly; those wheels load on glibc 2.17."""
    inspection = inspect_artifact(read_wheel(ensure(entry), deep=True))
    weak = {s for b in inspection.binaries if b.native.info for s in b.native.info.weak_imported_symbols}
    assert "__cxa_thread_atexit_impl" in weak
    assert not codes(inspection, "ND604")
