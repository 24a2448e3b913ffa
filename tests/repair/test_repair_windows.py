"""Windows repair end to end: a mingw-w64 DLL graph (C, C++ with its runtime DLLs, a delay-loaded
DLL) packed as a regular package, a namespace package and a top-level extension module; repaired
on this Linux host, installed into a folder standing for site-packages, its hook run as Python
would run it (recording the folders it adds and the DLLs it preloads), then loaded under Wine by a
program that loads an extension module the way CPython 3.8+ does and calls its entry point."""

from __future__ import annotations

import ctypes
import os
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _pe_builds import EXPECTED, PeGraph, build_pe_graph, mingw_runtime_dirs, run_in_wine
from _wheels import make_wheel
from native_doctor.binary._bytes import BytesSource
from native_doctor.binary.pe import read_pe
from native_doctor.binary.pe_write import check_pe_invariants
from native_doctor.cli import main
from native_doctor.repair.model import RepairPlan
from native_doctor.repair.windows import HOOK_MARK

pytestmark = pytest.mark.toolchain

INIT = b'"""A package with a docstring."""\n\nfrom __future__ import annotations\n\nVALUE = 1\n'
#: layout id -> (wheel members besides the extension, the extension's member path)
LAYOUTS = {
    "regular-package": ({"winpkg/__init__.py": INIT}, "winpkg/ext.cp312-win_amd64.pyd"),
    "namespace-package": ({"winpkg/data.txt": b"no __init__.py here\n"}, "winpkg/ext.cp312-win_amd64.pyd"),
    "top-level-module": ({}, "ext.cp312-win_amd64.pyd"),
}


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> PeGraph:
    return build_pe_graph(tmp_path_factory.mktemp("pe_graph"))


def _lib_paths(graph: PeGraph) -> list[str]:
    args = []
    for folder in (graph.libs, *mingw_runtime_dirs()):
        args += ["--lib-path", str(folder)]
    return args


def _wheel(graph: PeGraph, folder: Path, layout: str) -> Path:
    members, ext = LAYOUTS[layout]
    folder.mkdir(parents=True, exist_ok=True)
    return make_wheel(
        folder, "winpkg-1.0-cp312-cp312-win_amd64.whl", {**members, ext: graph.ext.read_bytes()}
    )


def _repair(graph: PeGraph, wheel: Path, out: Path, *extra: str) -> Path:
    assert main(["repair", "-w", str(out), *_lib_paths(graph), "--no-sys-paths", *extra, str(wheel)]) == 0
    (repaired,) = out.glob("*.whl")
    return repaired


def _run_hooks(site: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Path], list[Path]]:
    """Run every hook the repaired wheel installs as Python would (``__init__.py`` on import, a
    ``.pth`` ``import`` line at start-up) with ``os.add_dll_directory`` and ``ctypes.WinDLL``
    recorded: (folders added, DLLs preloaded)."""
    added: list[Path] = []
    preloaded: list[Path] = []
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(os, "add_dll_directory", lambda p: added.append(Path(p)), raising=False)
    monkeypatch.setattr(ctypes, "WinDLL", lambda p: preloaded.append(Path(p)), raising=False)
    scripts = [p for p in site.glob("*/__init__.py") if HOOK_MARK in p.read_text()]
    for pth in site.glob("*.pth"):
        for line in pth.read_text().splitlines():
            if line.startswith("import "):
                scripts.append(site / f"{line.split()[1]}.py")
    for script in scripts:
        exec(compile(script.read_text(), str(script), "exec"), {"__file__": str(script), "__name__": "hook"})
    return added, preloaded


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_repaired_wheel_loads_under_wine(
    graph: PeGraph, tmp_path: Path, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    repaired = _repair(graph, _wheel(graph, tmp_path / "in", layout), tmp_path / "out")
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(repaired) as archive:
        names = archive.namelist()
        archive.extractall(site)
    vendored = sorted(n.split("/", 1)[1].rsplit("-", 1)[0] for n in names if n.startswith("winpkg.libs/"))
    assert vendored == [
        "lazy",
        "libbase",
        "libchain",
        "libcxx",
        "libgcc_s_seh-1",
        "libstdc++-6",
        "libwinpthread-1",
    ]
    if layout == "namespace-package":
        assert "winpkg/__init__.py" not in names  # still a namespace package
    for name in names:
        if name.endswith((".dll", ".pyd")):
            data = (site / name).read_bytes()
            assert check_pe_invariants(data) == ()
            info = read_pe(BytesSource(data))
            # every vendored import now has its mangled name
            assert not {"libchain.dll", "libbase.dll", "lazy.dll", "libstdc++-6.dll"} & {
                n.lower() for n in (*info.needed, *info.delay_needed)
            }
    added, preloaded = _run_hooks(site, monkeypatch)
    assert [p.resolve() for p in added] == [(site / "winpkg.libs").resolve()]
    assert [p.name.rsplit("-", 1)[0] for p in preloaded] == ["lazy"]
    monkeypatch.undo()
    _, ext = LAYOUTS[layout]
    value = run_in_wine(
        graph.loader, site / ext, "PyInit_ext", *added, preload=tuple(preloaded), prefix_root=tmp_path
    )
    assert int(value) == EXPECTED


def test_unrepaired_wheel_does_not_load_under_wine(graph: PeGraph, tmp_path: Path) -> None:
    """The control: without the vendored DLLs the same loader fails (the proof above is not vacuous)."""
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(_wheel(graph, tmp_path / "in", "regular-package")) as archive:
        archive.extractall(site)
    with pytest.raises(AssertionError, match="DLL load failed"):
        run_in_wine(graph.loader, site / LAYOUTS["regular-package"][1], "PyInit_ext", prefix_root=tmp_path)


def test_repair_is_reproducible_and_idempotent(graph: PeGraph, tmp_path: Path) -> None:
    wheel = _wheel(graph, tmp_path / "in", "regular-package")
    first = _repair(graph, wheel, tmp_path / "a")
    second = _repair(graph, wheel, tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:  # PEP 770: the SBOM names every vendored DLL
        names = archive.namelist()
        [sbom] = [n for n in names if n.endswith(".dist-info/sboms/native-doctor.cdx.json")]
        document = archive.read(sbom).decode()
    vendored = [n for n in names if ".libs/" in n and n.endswith(".dll")]
    assert vendored and all(n in document for n in vendored)
    again = _repair(graph, first, tmp_path / "c")
    assert again.read_bytes() == first.read_bytes()


def test_dry_run_writes_nothing_and_missing_dll_exits_1(
    graph: PeGraph, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = _wheel(graph, tmp_path / "in", "regular-package")
    out = tmp_path / "out"
    assert main(["repair", "-w", str(out), *_lib_paths(graph), "--dry-run", str(wheel)]) == 0
    assert "libchain.dll -> winpkg.libs/libchain-" in capsys.readouterr().out
    assert not out.exists()
    assert main(["repair", "-w", str(out), "--lib-path", str(graph.libs), "--no-sys-paths", str(wheel)]) == 1
    assert "cannot find libgcc_s_seh-1.dll" in capsys.readouterr().err
    assert not out.exists()


def test_no_mangle_and_include(graph: PeGraph, tmp_path: Path) -> None:
    wheel = _wheel(graph, tmp_path / "in", "regular-package")
    repaired = _repair(
        graph, wheel, tmp_path / "out", "--no-mangle", "libchain.dll", "--include", "zlib1.dll"
    )
    with zipfile.ZipFile(repaired) as archive:
        names = archive.namelist()
        init = archive.read("winpkg/__init__.py").decode()
    assert "winpkg.libs/libchain.dll" in names
    assert "winpkg.libs/zlib1.dll" in names  # loaded by name at run time: never renamed
    assert "'zlib1.dll'" in init  # ... and preloaded by the hook
    assert init.startswith('"""A package with a docstring."""\n\nfrom __future__ import annotations\n')


def test_missing_msvcp140_is_left_to_the_redistributable(
    graph: PeGraph, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from native_doctor.binary.pe_write import PeEdit, edit_pe

    ext = edit_pe(graph.ext.read_bytes(), PeEdit(replace_imports={"libcxx.dll": "msvcp140.dll"}))
    (tmp_path / "in").mkdir()
    wheel = make_wheel(
        tmp_path / "in",
        "winpkg-1.0-cp312-cp312-win_amd64.whl",
        {"winpkg/__init__.py": INIT, "winpkg/ext.pyd": ext},
    )
    assert (
        main(
            [
                "repair",
                "-w",
                str(tmp_path / "out"),
                *_lib_paths(graph),
                "--no-sys-paths",
                "--dry-run",
                str(wheel),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "Microsoft Visual C++ Redistributable" in captured.out + captured.err


@pytest.mark.parametrize(
    ("target", "tag", "machine"), [("x86", "win32", "I386"), ("arm64", "win_arm64", "ARM64")]
)
def test_win32_and_win_arm64_wheels_are_repaired(tmp_path: Path, target: str, tag: str, machine: str) -> None:
    """No 32-bit or arm64 Windows loader here: the result is checked by the reader, the invariant
    checker, llvm-readobj and the loader simulation that gates every repair."""
    from _pe_builds import build_c_chain
    from _toolchain import require, run

    built = build_c_chain(tmp_path / "build", target)
    (tmp_path / "in").mkdir()
    wheel = make_wheel(
        tmp_path / "in",
        f"winpkg-1.0-cp312-cp312-{tag}.whl",
        {"winpkg/__init__.py": INIT, "winpkg/ext.pyd": (built / "ext.pyd").read_bytes()},
    )
    out = tmp_path / "out"
    assert (
        main(["repair", "-w", str(out), "--lib-path", str(built / "libs"), "--no-sys-paths", str(wheel)]) == 0
    )
    (repaired,) = out.glob("*.whl")
    assert repaired.name == wheel.name
    site = tmp_path / "site"
    with zipfile.ZipFile(repaired) as archive:
        archive.extractall(site)
    (base,) = (site / "winpkg.libs").glob("libbase-*.dll")
    (chain,) = (site / "winpkg.libs").glob("libchain-*.dll")
    readobj = require("llvm-readobj")
    for path, needs in ((site / "winpkg/ext.pyd", chain.name), (chain, base.name)):
        data = path.read_bytes()
        assert check_pe_invariants(data) == ()
        assert needs in read_pe(BytesSource(data)).needed
        text = run(readobj, "--file-headers", "--coff-imports", path)
        assert f"Name: {needs}" in text
        assert f"Machine: IMAGE_FILE_MACHINE_{machine} " in text


def test_process_simulation_needs_the_preload_of_a_delay_loaded_dll(graph: PeGraph, tmp_path: Path) -> None:
    """The verification gate's process simulation (python.exe, the hook, every extension module)
    passes the repaired wheel, and flags it when the hook would not preload the delay-loaded DLL."""
    from native_doctor.analysis import inspect_artifact
    from native_doctor.repair.windows import process_problems
    from native_doctor.sources.wheel import read_wheel

    repaired = _repair(graph, _wheel(graph, tmp_path / "in", "regular-package"), tmp_path / "out")
    artifact = read_wheel(repaired)
    plan_like = _plan_of(repaired)
    (lazy,) = [n.rsplit("/", 1)[1] for n in zipfile.ZipFile(repaired).namelist() if "/lazy-" in n]
    inspection = inspect_artifact(artifact)
    assert inspection.repair.tool == "native-doctor"  # name-<8 hex>.dll in <dist>.libs
    natives = inspection.artifact.native
    assert artifact.dll_directories == ("winpkg.libs",)
    assert process_problems(natives, artifact.dll_directories, (lazy,), plan_like) == []
    problems = process_problems(natives, artifact.dll_directories, (), plan_like)
    assert problems == [
        f"C:\\site-packages\\winpkg\\ext.cp312-win_amd64.pyd delay-loads {lazy}, which the loader would "
        "not find at its first call"
    ]
    problems = process_problems(natives, (), (lazy,), plan_like)
    assert any("DLL load failed while importing ext" in p for p in problems)


def _plan_of(wheel: Path) -> RepairPlan:
    return RepairPlan(str(wheel), "x86_64", "", "winpkg.libs")


def test_exclude_leaves_a_dll_and_its_closure_out(graph: PeGraph, tmp_path: Path) -> None:
    wheel = _wheel(graph, tmp_path / "in", "regular-package")
    repaired = _repair(graph, wheel, tmp_path / "out", "--exclude", "LIBCXX.DLL")
    vendored = sorted(
        n.split("/", 1)[1].rsplit("-", 1)[0]
        for n in zipfile.ZipFile(repaired).namelist()
        if n.startswith("winpkg.libs/")
    )
    assert vendored == ["lazy", "libbase", "libchain"]  # libcxx and the C++ runtime it alone needs: left


def test_signed_dll_loses_its_signature_with_a_warning(
    graph: PeGraph, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil
    import struct

    from native_doctor.binary.pe_write import has_signature

    libs = tmp_path / "libs"
    shutil.copytree(graph.libs, libs)
    data = bytearray((libs / "libchain.dll").read_bytes())
    (pe_at,) = struct.unpack_from("<I", data, 0x3C)
    padded = len(data) + (-len(data) % 8)
    data += bytes(padded - len(data)) + struct.pack("<IHH", 16, 0x200, 2) + bytes(8)
    struct.pack_into("<II", data, pe_at + 24 + 112 + 4 * 8, padded, 16)
    (libs / "libchain.dll").write_bytes(bytes(data))
    assert has_signature(bytes(data))
    wheel = _wheel(graph, tmp_path / "in", "regular-package")
    args = [a for f in (libs, *mingw_runtime_dirs()) for a in ("--lib-path", str(f))]
    assert main(["repair", "-w", str(tmp_path / "out"), *args, "--no-sys-paths", str(wheel)]) == 0
    captured = capsys.readouterr()
    assert "libchain" in captured.out + captured.err
    assert "Authenticode signature" in captured.out + captured.err
    (repaired,) = (tmp_path / "out").glob("*.whl")
    with zipfile.ZipFile(repaired) as archive:
        (member,) = [n for n in archive.namelist() if "/libchain-" in n]
        assert not has_signature(archive.read(member))


def test_dlls_are_searched_on_path_on_a_windows_host(graph: PeGraph, monkeypatch: pytest.MonkeyPatch) -> None:
    from native_doctor.repair.windows import locator

    folders = [graph.libs, *mingw_runtime_dirs()]  # before sys.platform changes how tools are found
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("PATH", os.pathsep.join(str(d) for d in folders))
    found = locator((), arch="x86_64", use_host=True)("LIBCHAIN.DLL", ()).found
    assert found is not None and found.found_in == f"PATH {graph.libs}"
    assert locator((), arch="x86_64", use_host=False)("libchain.dll", ()).found is None
    wrong = locator((str(graph.libs),), arch="arm64", use_host=False)("libchain.dll", ())
    assert wrong.found is None and "built for x86_64" in wrong.rejected[0][1]


_HEADS = st.lists(
    st.sampled_from(
        [
            "#!/usr/bin/env python\n",
            "# -*- coding: utf-8 -*-\n",
            '"""Docstring\nover two lines."""\n',
            "'one-line docstring'\n",
            "from __future__ import annotations\n",
            "from __future__ import (\n    annotations,\n)\n",
            "\n",
            "import os\n",
            "x = 1  # a statement\n",
            "def f():\n    return 1\n",
        ]
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(_HEADS)
def test_hook_insertion_keeps_any_init_valid(parts: list[str]) -> None:
    """Wherever a package's ``__init__.py`` puts its docstring, ``__future__`` imports and comments,
    the patched file still compiles, keeps its docstring, and runs the hook before its own code."""
    import ast

    from native_doctor.repair.model import CannotRepair
    from native_doctor.repair.windows import _hook_code, _patched

    source = "".join(parts)
    try:
        compile(source, "__init__.py", "exec")
    except SyntaxError:
        with pytest.raises(CannotRepair):
            _patched(source.encode(), "pkg/__init__.py", _hook_code(("pkg.libs",), 1, ()))
        return
    patched = _patched(source.encode(), "pkg/__init__.py", _hook_code(("pkg.libs",), 1, ())).decode()
    tree = ast.parse(patched)
    assert ast.get_docstring(tree) == ast.get_docstring(ast.parse(source))
    hook_at = next(
        i
        for i, node in enumerate(tree.body)
        if isinstance(node, ast.FunctionDef) and node.name == "_native_doctor_dll_hook"
    )
    before = tree.body[:hook_at]
    assert all(
        (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
        or (isinstance(n, ast.ImportFrom) and n.module == "__future__")
        for n in before
    )
    assert _patched(patched.encode(), "pkg/__init__.py", _hook_code(("pkg.libs",), 1, ())).decode() == patched


def test_extension_under_data_platlib_gets_the_hook_of_its_package(graph: PeGraph, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    wheel = make_wheel(
        tmp_path / "in",
        "winpkg-1.0-cp312-cp312-win_amd64.whl",
        {
            "winpkg-1.0.data/platlib/winpkg/__init__.py": INIT,
            "winpkg-1.0.data/platlib/winpkg/ext.cp312-win_amd64.pyd": graph.ext.read_bytes(),
        },
    )
    repaired = _repair(graph, wheel, tmp_path / "out")
    with zipfile.ZipFile(repaired) as archive:
        assert HOOK_MARK in archive.read("winpkg-1.0.data/platlib/winpkg/__init__.py").decode()
        assert not [n for n in archive.namelist() if n.endswith(".pth")]


def test_dlls_the_wheel_already_ships_elsewhere_are_reached_not_copied(
    graph: PeGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libchain.dll and libbase.dll ship in winpkg/bin (out of the extension's reach): the hook adds
    that folder too, nothing is copied twice, and Wine loads the result."""
    (tmp_path / "in").mkdir()
    members = {
        "winpkg/__init__.py": INIT,
        "winpkg/ext.cp312-win_amd64.pyd": graph.ext.read_bytes(),
        "winpkg/bin/libchain.dll": (graph.libs / "libchain.dll").read_bytes(),
        "winpkg/bin/libbase.dll": (graph.libs / "libbase.dll").read_bytes(),
    }
    wheel = make_wheel(tmp_path / "in", "winpkg-1.0-cp312-cp312-win_amd64.whl", members)
    repaired = _repair(graph, wheel, tmp_path / "out")
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(repaired) as archive:
        names = archive.namelist()
        archive.extractall(site)
    assert not [n for n in names if "libchain" in n and n.startswith("winpkg.libs/")]
    added, preloaded = _run_hooks(site, monkeypatch)
    assert [p.resolve() for p in added] == [(site / "winpkg.libs").resolve(), (site / "winpkg/bin").resolve()]
    monkeypatch.undo()
    ext = site / "winpkg/ext.cp312-win_amd64.pyd"
    value = run_in_wine(
        graph.loader, ext, "PyInit_ext", *added, preload=tuple(preloaded), prefix_root=tmp_path
    )
    assert int(value) == EXPECTED
