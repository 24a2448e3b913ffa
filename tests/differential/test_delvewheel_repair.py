"""Differential test: ``native-doctor repair`` against ``delvewheel repair`` 1.13.2 (pinned) on the
same mingw-w64-built Windows wheels (``tests/_pe_builds.py``): the same vendored set for every
layout; where the two disagree, a Windows loader (Wine's) or the wheel's layout judges, and
docs/differences.md explains."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from _pe_builds import EXPECTED, PeGraph, build_pe_graph, mingw_runtime_dirs, run_in_wine
from _wheels import make_wheel
from native_doctor.cli import main

pytestmark = pytest.mark.toolchain
DELVEWHEEL_VERSION = "1.13.2"
#: ours: name-<8 hex>.dll; delvewheel: name-<32 hex>.dll
_HASHED = re.compile(r"^(?P<base>.+)-(?:[0-9a-f]{8}|[0-9a-f]{32})\.dll$")
_EXT = {"regular": "winpkg/ext.cp312-win_amd64.pyd", "namespace": "winpkg/ext.cp312-win_amd64.pyd",
        "top-level": "ext.cp312-win_amd64.pyd"}  # fmt: skip
_INIT = b'"""Doc."""\n\nVALUE = 1\n'


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> PeGraph:
    return build_pe_graph(tmp_path_factory.mktemp("pe_graph"))


def _wheel(graph: PeGraph, folder: Path, layout: str) -> Path:
    members = {_EXT[layout]: graph.ext.read_bytes()}
    if layout == "regular":
        members["winpkg/__init__.py"] = _INIT
    folder.mkdir(parents=True)
    return make_wheel(folder, "winpkg-1.0-cp312-cp312-win_amd64.whl", members)


def _folders(graph: PeGraph) -> list[Path]:
    return [graph.libs, *mingw_runtime_dirs()]


def _delvewheel(graph: PeGraph, wheel: Path, out: Path, *extra: str) -> Path:
    from importlib.metadata import version

    assert version("delvewheel") == DELVEWHEEL_VERSION, "the oracle is pinned: see pyproject.toml"
    add_path = ":".join(str(f) for f in _folders(graph))
    proc = subprocess.run(
        [sys.executable, "-m", "delvewheel", "repair", "-w", str(out), "--add-path", add_path, *extra,
         str(wheel)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (repaired,) = out.glob("*.whl")
    return repaired


def _ours(graph: PeGraph, wheel: Path, out: Path) -> Path:
    args = [a for f in _folders(graph) for a in ("--lib-path", str(f))]
    assert main(["repair", "-w", str(out), *args, "--no-sys-paths", str(wheel)]) == 0
    (repaired,) = out.glob("*.whl")
    return repaired


def _vendored(wheel: Path) -> set[str]:
    names = set()
    for member in zipfile.ZipFile(wheel).namelist():
        match = _HASHED.match(member.rsplit("/", 1)[-1])
        if match is not None and member.lower().endswith(".dll"):
            names.add(match["base"])
    return names


@pytest.mark.parametrize("layout", list(_EXT))
def test_same_vendored_set_as_delvewheel(graph: PeGraph, tmp_path: Path, layout: str) -> None:
    wheel = _wheel(graph, tmp_path / "in", layout)
    theirs = _delvewheel(graph, wheel, tmp_path / "delvewheel")
    ours = _ours(graph, wheel, tmp_path / "ours")
    expected = {"lazy", "libbase", "libchain", "libcxx", "libgcc_s_seh-1", "libstdc++-6", "libwinpthread-1"}
    assert _vendored(theirs) == _vendored(ours) == expected


def test_namespace_package_stays_one(graph: PeGraph, tmp_path: Path) -> None:
    """Without --namespace-pkg delvewheel writes winpkg/__init__.py (the package stops being a
    namespace package, and another distribution's winpkg/ portion is shadowed); ours leaves it."""
    wheel = _wheel(graph, tmp_path / "in", "namespace")
    theirs = zipfile.ZipFile(_delvewheel(graph, wheel, tmp_path / "delvewheel")).namelist()
    ours = zipfile.ZipFile(_ours(graph, wheel, tmp_path / "ours")).namelist()
    assert "winpkg/__init__.py" in theirs
    assert "winpkg/__init__.py" not in ours


def test_delay_loaded_dll_found_only_with_the_preload(graph: PeGraph, tmp_path: Path) -> None:
    """delvewheel's hook adds winpkg.libs but the delay-load helper (LoadLibraryExA, default
    search) does not search added directories: the first call into lazy.dll raises 0xC06D007E
    (module not found). Ours preloads the delay-loaded DLL, which is then found by name."""
    wheel = _wheel(graph, tmp_path / "in", "regular")
    for tool, repaired, preload in (
        ("delvewheel", _delvewheel(graph, wheel, tmp_path / "delvewheel"), False),
        ("ours", _ours(graph, wheel, tmp_path / "ours"), True),
    ):
        site = tmp_path / f"site-{tool}"
        zipfile.ZipFile(repaired).extractall(site)
        libs = site / "winpkg.libs"
        lazy = tuple(libs.glob("lazy-*.dll")) if preload else ()
        if preload:
            assert f"'{lazy[0].name}'" in (site / "winpkg/__init__.py").read_text()
            value = run_in_wine(
                graph.loader, site / _EXT["regular"], "PyInit_ext", libs, preload=lazy, prefix_root=tmp_path
            )
            assert int(value) == EXPECTED
        else:
            # Wine's crash handler reports the unhandled exception (its exit status is not reliable).
            try:
                output = run_in_wine(
                    graph.loader, site / _EXT["regular"], "PyInit_ext", libs, prefix_root=tmp_path
                )
            except AssertionError as exc:
                output = str(exc)
            assert "0xc06d007e" in output.lower()
            assert str(EXPECTED) not in output


@pytest.mark.corpus
def test_numpy_without_its_libs_same_set_names_kept(tmp_path: Path) -> None:
    """numpy's win_amd64 wheel (repaired by delvewheel on PyPI) with numpy.libs removed and the two
    DLLs handed back: both tools vendor the same two DLLs; delvewheel hashes the already-hashed
    names a second time (``msvcp140-<h>-<h>.dll``), we keep numpy's names (and bytes)."""
    from _corpus import ensure, wheels

    source = ensure(next(w for w in wheels() if w.filename == "numpy-2.4.6-cp312-cp312-win_amd64.whl"))
    libs = tmp_path / "libs"
    libs.mkdir()
    stripped = tmp_path / "in" / source.name
    stripped.parent.mkdir()
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(stripped, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.is_dir() or info.filename.endswith("DELVEWHEEL"):
                continue
            if info.filename.startswith("numpy.libs/"):
                (libs / info.filename.split("/", 1)[1]).write_bytes(src.read(info))
            else:
                out.writestr(info, src.read(info))
    originals = sorted(p.name for p in libs.iterdir())
    proc = subprocess.run(
        [sys.executable, "-m", "delvewheel", "repair", "-w", str(tmp_path / "delvewheel"),
         "--add-path", str(libs), str(stripped)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (
        main(
            ["repair", "-w", str(tmp_path / "ours"), "--lib-path", str(libs), "--no-sys-paths", str(stripped)]
        )
        == 0
    )

    def vendored(folder: Path) -> list[str]:
        (wheel,) = folder.glob("*.whl")
        names = zipfile.ZipFile(wheel).namelist()
        return sorted(n.split("/", 1)[1] for n in names if n.startswith("numpy.libs/") and n != "numpy.libs/")

    ours, theirs = vendored(tmp_path / "ours"), vendored(tmp_path / "delvewheel")
    assert ours == originals
    assert [t.rsplit("-", 1)[0] + ".dll" for t in theirs] == originals
