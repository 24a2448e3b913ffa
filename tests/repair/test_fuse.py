"""``native-doctor fuse``: two thin macOS wheels -> one universal2 wheel.

Oracles: ``llvm-lipo -create`` (the fat files must be its bytes), ``llvm-lipo -info``, the
inspection model (the fused wheel qualifies for universal2), the independent signature checker.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from _codesign_check import check_signed_slices
from _corpus import CorpusWheel, corpus_params, ensure
from _macho_wheels import build_mac_wheel
from _toolchain import require, run
from _wheels import make_wheel
from native_doctor.analysis import inspect_artifact
from native_doctor.cli import main
from native_doctor.sources.wheel import read_wheel


def fuse(*args: str | Path) -> int:
    return main(["fuse", *(str(a) for a in args)])


def members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def assert_universal(wheel: Path, tmp_path: Path) -> list[str]:
    """Every Mach-O file has x86_64 and arm64 slices, each validly signed where signed (arm64
    always); the inspection says universal2. Returns the Mach-O members."""
    lipo = require("llvm-lipo-14", "llvm-lipo")
    machos = []
    for name, data in members(wheel).items():
        if data[:4] != b"\xca\xfe\xba\xbe":
            assert data[:4] not in (b"\xcf\xfa\xed\xfe",), f"{name} is still thin"
            continue
        machos.append(name)
        path = tmp_path / "probe"
        path.write_bytes(data)
        assert run(lipo, "-info", path).split(":")[-1].split() == ["x86_64", "arm64"], name
        assert check_signed_slices(data) >= 1, name
    inspection = inspect_artifact(read_wheel(wheel))
    assert set(inspection.platform.archs) == {"x86_64", "arm64"}
    assert any(t.endswith("_universal2") for t in inspection.platform.qualifies_for)
    return machos


@pytest.fixture(scope="module")
def repaired_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The synthetic dylib graph for both architectures, each repaired (vendored, signed)."""
    root = tmp_path_factory.mktemp("fuse")
    out = []
    for arch in ("arm64", "x86_64"):
        built = build_mac_wheel(root / arch, arch)
        assert (
            main(["repair", "-w", str(root / f"r-{arch}"), "--lib-path", str(built.lib), str(built.wheel)])
            == 0
        )
        [wheel] = (root / f"r-{arch}").iterdir()
        out.append(wheel)
    return out[0], out[1]


@pytest.mark.toolchain
def test_fuse_repaired_pair(repaired_pair: tuple[Path, Path], tmp_path: Path) -> None:
    arm, intel = repaired_pair
    assert fuse("-w", tmp_path / "out", arm, intel) == 0
    [wheel] = (tmp_path / "out").iterdir()
    assert wheel.name == "demo-1.0-cp312-cp312-macosx_10_9_universal2.whl"
    assert "Tag: cp312-cp312-macosx_10_9_universal2" in members(wheel)["demo-1.0.dist-info/WHEEL"].decode()
    machos = assert_universal(wheel, tmp_path)
    assert len(machos) == 4
    assert main(["check", str(wheel)]) == 0  # RECORD, tags, dependencies: no finding
    # each fat file is byte for byte what llvm-lipo -create makes of the two thin files
    lipo = require("llvm-lipo-14", "llvm-lipo")
    thin_a, thin_i, fused = members(arm), members(intel), members(wheel)
    for name in machos:
        (tmp_path / "a").write_bytes(thin_a[name])
        (tmp_path / "i").write_bytes(thin_i[name])
        run(lipo, "-create", tmp_path / "i", tmp_path / "a", "-output", tmp_path / "lipo")
        assert (tmp_path / "lipo").read_bytes() == fused[name], name
    # reproducible, in either argument order
    assert fuse("-w", tmp_path / "again", intel, arm) == 0
    assert (tmp_path / "again" / wheel.name).read_bytes() == wheel.read_bytes()


@pytest.mark.toolchain
def test_differences_listed_and_refused(
    repaired_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arm, intel = repaired_pair
    files = {n: d for n, d in members(intel).items() if ".dist-info/" not in n}
    files["demo/__init__.py"] = b"LONG_DOUBLE = 8\n"
    files["demo/only_intel.txt"] = b"x"
    changed = make_wheel(tmp_path, intel.name, files)
    out = tmp_path / "out"
    assert fuse("-w", out, arm, changed) == 1
    captured = capsys.readouterr()
    assert "differs demo/__init__.py: the contents differ" in captured.out
    assert "demo/only_intel.txt" in captured.out and "--allow-different" in captured.err
    assert not out.exists()
    assert fuse("-w", out, "--allow-different", arm, changed) == 0
    [wheel] = out.iterdir()
    fused = members(wheel)
    assert fused["demo/__init__.py"] == members(arm)["demo/__init__.py"]
    assert fused["demo/only_intel.txt"] == b"x"


def test_not_a_pair_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = make_wheel(tmp_path, "demo-1.0-cp312-cp312-macosx_11_0_arm64.whl", {"demo/__init__.py": b""})
    (tmp_path / "b").mkdir()
    b = make_wheel(tmp_path / "b", "demo-1.0-cp312-cp312-macosx_11_0_arm64.whl", {"demo/__init__.py": b""})
    assert fuse("-w", tmp_path / "out", a, b) == 2
    assert "one arm64 wheel and one x86_64 wheel" in capsys.readouterr().err
    linux = make_wheel(tmp_path, "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", {"demo/__init__.py": b""})
    assert fuse("-w", tmp_path / "out", a, linux) == 2


def _simplejson(arch: str) -> CorpusWheel:
    [param] = [p for p in corpus_params(family=f"macos-{arch}") if p.id.startswith("simplejson-")]
    entry = param.values[0]
    assert isinstance(entry, CorpusWheel)
    return entry


@pytest.mark.corpus
def test_fuse_real_c_extension_wheels(tmp_path: Path) -> None:
    """simplejson 3.19.3's (a pure-C extension) arm64 and x86_64 PyPI wheels fuse into a universal2
    wheel whose extension carries both slices, each still carrying its original (valid) signature."""
    arm, intel = ensure(_simplejson("arm64")), ensure(_simplejson("x86_64"))
    out = tmp_path / "out"
    assert fuse("-w", out, "--dry-run", arm, intel) == 0
    assert not out.exists()
    assert fuse("-w", out, arm, intel) == 0
    [wheel] = out.iterdir()
    assert wheel.name == "simplejson-3.19.3-cp312-cp312-macosx_10_9_universal2.whl"
    assert assert_universal(wheel, tmp_path) == ["simplejson/_speedups.cpython-312-darwin.so"]


@pytest.mark.toolchain
def test_json_output(
    repaired_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    arm, intel = repaired_pair
    assert fuse("-w", tmp_path / "out", "--dry-run", "--format", "json", arm, intel) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema_version"] == 1 and document["dry_run"] is True
    assert (document["platform"], document["output"], document["problem"]) == (
        "macosx_10_9_universal2",
        None,
        None,
    )
    assert "demo/_ext.cpython-312-darwin.so" in document["fused"]
    assert document["different"] == []
    assert not (tmp_path / "out").exists()
