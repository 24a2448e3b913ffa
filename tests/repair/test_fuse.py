"""``native-doctor fuse``: two thin macOS wheels -> one universal2 wheel.

Oracles: ``llvm-lipo -create`` (the fat files must be its bytes), ``llvm-lipo -info``, the
inspection model (the fused wheel qualifies for universal2), the independent signature checker.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from _codesign_check import check_signed_slices
from _corpus import CorpusWheel, corpus_params, ensure
from _macho_wheels import build_mac_wheel
from _toolchain import require, run
from _wheels import make_wheel
from native_doctor.analysis import inspect_artifact
from native_doctor.cli import main
from native_doctor.sbom.pep770 import SBOM_NAME
from native_doctor.sources.wheel import read_wheel

SBOM = f"demo-1.0.dist-info/sboms/{SBOM_NAME}"


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


def test_a_package_file_named_wheel_is_not_a_second_dist_info(tmp_path: Path) -> None:
    """Only a ``*.dist-info`` folder's WHEEL counts: ``demo/WHEEL`` (package data) is a file like
    any other (fuse refused such a pair before)."""
    files = {"demo/__init__.py": b"", "demo/WHEEL": b"package data\n"}
    (tmp_path / "a").mkdir()
    (tmp_path / "i").mkdir()
    arm = make_wheel(tmp_path / "a", "demo-1.0-py3-none-macosx_11_0_arm64.whl", files)
    intel = make_wheel(tmp_path / "i", "demo-1.0-py3-none-macosx_10_9_x86_64.whl", files)
    assert fuse("-w", tmp_path / "out", arm, intel) == 0
    [wheel] = (tmp_path / "out").iterdir()
    assert members(wheel)["demo/WHEEL"] == b"package data\n"


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


def _graft_components(wheel: Path) -> dict[str, dict[str, Any]]:
    text = members(wheel)[SBOM].decode()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    return {c["evidence"]["occurrences"][0]["location"]: c for c in document["components"]}


def _sources(component: dict[str, Any]) -> list[str]:
    return [p["value"] for p in component["properties"] if p["name"] == "native-doctor:grafted-from"]


@pytest.mark.toolchain
def test_fused_sbom_describes_the_fused_dylibs(repaired_pair: tuple[Path, Path], tmp_path: Path) -> None:
    """Both repaired thin wheels carry a PEP 770 SBOM (their hashes differ per architecture): the
    fused wheel's is written again, every graft hashed as fused, with both places it came from and
    the grafts' dependencies kept."""
    arm, intel = repaired_pair
    thin_arm, thin_intel = _graft_components(arm), _graft_components(intel)
    assert fuse("-w", tmp_path / "out", arm, intel) == 0
    [wheel] = (tmp_path / "out").iterdir()
    files = members(wheel)
    components = _graft_components(wheel)
    assert set(components) == set(thin_arm) == set(thin_intel) == {n for n in files if "/.dylibs/" in n}
    for member, component in components.items():
        digest = hashlib.sha256(files[member]).hexdigest()
        assert component["hashes"] == [{"alg": "SHA-256", "content": digest}]
        thin = {c[member]["hashes"][0]["content"] for c in (thin_arm, thin_intel)}
        assert digest not in thin
        assert _sources(component) == [*_sources(thin_arm[member]), *_sources(thin_intel[member])]
        assert len(set(_sources(component))) == 2  # the arm64 and the x86_64 lib folders
    document = json.loads(files[SBOM])
    needs = {d["ref"]: sorted(d["dependsOn"]) for d in document["dependencies"]}
    ref = {posixpath.basename(m): c["bom-ref"] for m, c in components.items()}
    assert needs[ref["libbar.dylib"]] == sorted([ref["libfoo.dylib"], ref["libweak.dylib"]])
    assert SBOM in files["demo-1.0.dist-info/RECORD"].decode()


@pytest.mark.toolchain
def test_a_foreign_sbom_is_compared_like_any_file(
    repaired_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A document at the same place that this tool did not write is not merged: it differs, and the
    fuse is refused (or, with --allow-different, the arm64 one is kept, as for any file)."""
    arm, intel = repaired_pair
    files = {n: d for n, d in members(intel).items() if not n.startswith("demo-1.0.dist-info/")}
    changed = make_wheel(tmp_path, intel.name, files, extra_dist_info={f"sboms/{SBOM_NAME}": b"{}"})
    assert fuse("-w", tmp_path / "out", arm, changed) == 1
    assert f"differs {SBOM}: the contents differ" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


@pytest.mark.toolchain
def test_an_sbom_only_one_wheel_has_is_a_difference_written_again_when_kept(
    repaired_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arm, intel = repaired_pair
    files = {n: d for n, d in members(intel).items() if not n.startswith("demo-1.0.dist-info/")}
    bare = make_wheel(tmp_path, intel.name, files)
    assert fuse("-w", tmp_path / "out", arm, bare) == 1
    assert f"differs {SBOM}: only in {arm.name}" in capsys.readouterr().out
    assert fuse("-w", tmp_path / "out", "--allow-different", arm, bare) == 0
    [wheel] = (tmp_path / "out").iterdir()
    fused = members(wheel)
    components = _graft_components(wheel)
    assert set(components) == {n for n in fused if "/.dylibs/" in n}
    for member, component in components.items():
        digest = hashlib.sha256(fused[member]).hexdigest()
        assert component["hashes"] == [{"alg": "SHA-256", "content": digest}]
