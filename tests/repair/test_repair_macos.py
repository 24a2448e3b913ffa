"""macOS repair on this Linux host: clang + ld64.lld dylib graphs, checked with llvm-otool,
llvm-lipo, the inspection model and an independent signature checker; real delocated wheels
are a no-op."""

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

from _codesign_check import check_signed_slices, images
from _corpus import CorpusWheel, corpus_params, ensure
from _macho_wheels import BAR_ID, build_mac_wheel
from _toolchain import require, run
from _wheels import make_wheel
from native_doctor.analysis import inspect_artifact
from native_doctor.cli import main
from native_doctor.sbom.pep770 import SBOM_NAME
from native_doctor.sources.wheel import read_wheel

SBOM = f"demo-1.0.dist-info/sboms/{SBOM_NAME}"

pytestmark = pytest.mark.toolchain


def repair(*args: str | Path) -> int:
    return main(["repair", *(str(a) for a in args)])


def members(wheel: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wheel) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def _resolves(member: str, name: str, names: set[str]) -> bool:
    """Whether an install name reaches a member of the wheel (or the OS)."""
    if name.startswith("/usr/lib/"):
        return True
    if name.startswith("@loader_path/"):
        return posixpath.normpath(posixpath.join(posixpath.dirname(member), name[13:])) in names
    return False


def assert_self_contained(wheel: Path, tmp_path: Path) -> None:
    """llvm-otool sees only names that resolve inside the wheel, no LC_RPATH leaving it, and
    every slice's signature matches its bytes (arm64 slices must be signed)."""
    otool = require("llvm-otool-14", "llvm-otool")
    files = members(wheel)
    names = set(files)
    for member, data in files.items():
        if not member.endswith((".so", ".dylib")):
            continue
        path = tmp_path / posixpath.basename(member)
        path.write_bytes(data)
        lines = [ln.strip() for ln in run(otool, "-L", path).splitlines()[1:] if "(compatibility" in ln]
        loaded = [ln.split(" (compatibility")[0] for ln in lines]
        if member.endswith(".dylib"):
            assert loaded[0].startswith("@rpath/"), loaded  # the install id
            loaded = loaded[1:]
        for name in loaded:
            assert _resolves(member, name, names), (member, name)
        commands = run(otool, "-l", path)
        assert "/Users/" not in commands and "/opt/homebrew" not in commands, member
        checked = check_signed_slices(data)  # arm64 slices always, others when signed
        if member.endswith(".so"):  # edited: every slice signed again (the padding has room)
            assert checked == len(images(data)), member


@pytest.mark.parametrize("arch", ["arm64", "x86_64", "universal2"])
def test_repair_graph(arch: str, tmp_path: Path) -> None:
    built = build_mac_wheel(tmp_path, arch)
    out = tmp_path / "out"
    assert repair("-w", out, "--lib-path", built.lib, built.wheel) == 0
    [wheel] = out.iterdir()
    assert wheel.name == built.wheel.name
    files = members(wheel)
    assert {"demo/.dylibs/libbar.dylib", "demo/.dylibs/libfoo.dylib", "demo/.dylibs/libweak.dylib"} <= set(
        files
    )
    assert_self_contained(wheel, tmp_path)
    inspection = inspect_artifact(read_wheel(wheel))
    assert inspection.external_libraries == ()
    assert main(["check", str(wheel)]) == 0  # RECORD, tags, dependencies: no finding
    if arch == "universal2":
        lipo = require("llvm-lipo-14", "llvm-lipo")
        path = tmp_path / "ext.so"
        path.write_bytes(files["demo/_ext.cpython-312-darwin.so"])
        assert run(lipo, "-info", path).split(":")[-1].split() == ["x86_64", "arm64"]
    # byte-reproducible, and a repaired wheel repairs to itself
    again = tmp_path / "again"
    assert repair("-w", again, "--lib-path", built.lib, built.wheel) == 0
    assert (again / wheel.name).read_bytes() == wheel.read_bytes()
    third = tmp_path / "third"
    assert repair("-w", third, wheel) == 0
    assert (third / wheel.name).read_bytes() == wheel.read_bytes()


def test_dry_run_plan_and_rpath_drops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built = build_mac_wheel(tmp_path, "arm64")
    out = tmp_path / "out"
    assert repair("-w", out, "--dry-run", "--lib-path", built.lib, built.wheel) == 0
    text = capsys.readouterr().out
    assert f"graft  {BAR_ID} -> demo/.dylibs/libbar.dylib" in text
    assert "dropped /Users/ci/build/lib" in text
    assert "dropped /opt/homebrew/opt/foo/lib" in text
    assert not out.exists()


def test_missing_library_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built = build_mac_wheel(tmp_path, "arm64")
    out = tmp_path / "out"
    assert repair("-w", out, built.wheel) == 1
    assert f"cannot find {BAR_ID}" in capsys.readouterr().err
    assert not out.exists()


def test_weak_library_missing_stays_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built = build_mac_wheel(tmp_path, "arm64")
    (built.lib / "libweak.dylib").unlink()
    out = tmp_path / "out"
    assert repair("-w", out, "--lib-path", built.lib, built.wheel) == 0
    assert "weakly linked" in capsys.readouterr().out
    [wheel] = out.iterdir()
    assert "demo/.dylibs/libweak.dylib" not in members(wheel)


def test_wrong_architecture_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    arm = build_mac_wheel(tmp_path / "a", "arm64")
    intel = build_mac_wheel(tmp_path / "i", "x86_64")
    assert repair("-w", tmp_path / "out", "--dry-run", "--lib-path", intel.lib, arm.wheel) == 1
    assert "has x86_64; the wheel needs arm64" in capsys.readouterr().out


def test_no_header_padding_refused_with_advice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built = build_mac_wheel(tmp_path, "arm64", pad_ext=False, bar_id="/l/libbar.dylib", ext_rpaths=())
    out = tmp_path / "out"
    assert repair("-w", out, "--lib-path", built.lib, built.wheel) == 1
    err = capsys.readouterr().err
    assert "demo/_ext.cpython-312-darwin.so" in err and "-headerpad_max_install_names" in err
    assert not out.exists() or not list(out.iterdir())


def test_minimum_macos_raises_tag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built = build_mac_wheel(tmp_path, "arm64", foo_min_os="13.0")
    out = tmp_path / "out"
    assert repair("-w", out, "--lib-path", built.lib, built.wheel) == 0
    assert "demo/.dylibs/libfoo.dylib needs macOS 13.0 on arm64" in capsys.readouterr().out
    [wheel] = out.iterdir()
    assert wheel.name == "demo-1.0-cp312-cp312-macosx_13_0_arm64.whl"
    assert "Tag: cp312-cp312-macosx_13_0_arm64" in members(wheel)["demo-1.0.dist-info/WHEEL"].decode()


def test_deployment_target_refuses_then_plat_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build_mac_wheel(tmp_path, "arm64", foo_min_os="13.0")
    monkeypatch.setenv("MACOSX_DEPLOYMENT_TARGET", "11.0")
    out = tmp_path / "out"
    assert repair("-w", out, "--lib-path", built.lib, built.wheel) == 1
    err = capsys.readouterr().err
    assert "demo/.dylibs/libfoo.dylib needs macOS 13.0 (arm64)" in err and "--plat macosx_13_0_arm64" in err
    assert not out.exists()
    assert repair("-w", out, "--plat", "macosx_12_0_arm64", "--lib-path", built.lib, built.wheel) == 1
    assert "below what the binaries need" in capsys.readouterr().err
    assert repair("-w", out, "--plat", "macosx_13_0_arm64", "--lib-path", built.lib, built.wheel) == 0
    assert [p.name for p in out.iterdir()] == ["demo-1.0-cp312-cp312-macosx_13_0_arm64.whl"]


MACOS = [
    p for family in ("macos-arm64", "macos-x86_64", "macos-universal2") for p in corpus_params(family=family)
]


@pytest.mark.parametrize("entry", MACOS)
def test_real_wheels_are_a_noop(entry: CorpusWheel, tmp_path: Path) -> None:
    """Already-delocated (or dependency-free) PyPI wheels: nothing to do, the output is a copy.
    A wheel that still needs a library from the build machine (pyodbc: Homebrew's unixODBC) and
    no --lib-path is refused, and nothing is written."""
    source = ensure(entry)
    if inspect_artifact(read_wheel(source)).external_libraries:
        assert repair("-w", tmp_path / "out", source) == 1
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
        return
    assert repair("-w", tmp_path, source) == 0
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()


STRIPPED = [p for p in MACOS if p.id.split("-")[0] in {"pillow", "scipy"}]


@pytest.mark.parametrize("entry", STRIPPED)
def test_real_wheel_with_dylibs_removed_is_repaired_back(entry: CorpusWheel, tmp_path: Path) -> None:
    """A delocated PyPI wheel with its ``.dylibs`` taken out and handed back with ``--lib-path``
    comes back with the same members, nothing external, every slice validly signed."""
    source = ensure(entry)
    lib = tmp_path / "lib"
    lib.mkdir()
    kept: dict[str, bytes] = {}
    original = members(source)
    for name, data in original.items():
        if name.endswith("/") or ".dist-info/" in name:
            continue
        if "/.dylibs/" in name:
            (lib / posixpath.basename(name)).write_bytes(data)
        else:
            kept[name] = data
    stripped = make_wheel(tmp_path, source.name, kept)
    out = tmp_path / "out"
    assert repair("-w", out, "--lib-path", lib, stripped) == 0
    [wheel] = out.iterdir()
    repaired = members(wheel)
    assert {n for n in original if "/.dylibs/" in n and not n.endswith("/")} == {
        n for n in repaired if "/.dylibs/" in n
    }
    assert inspect_artifact(read_wheel(wheel)).external_libraries == ()
    for name, data in repaired.items():
        if name.endswith((".so", ".dylib")):
            check_signed_slices(data)


def test_build_machine_rpath_folders_only_with_host_search(tmp_path: Path) -> None:
    """A requester's absolute LC_RPATH folder is searched unless --no-sys-paths; the folder a
    dylib was found in (its @loader_path) always is."""
    from native_doctor.repair.macos import DylibFinder

    built = build_mac_wheel(tmp_path, "arm64")
    folder = str(built.lib)
    for use_host, host_found in ((True, True), (False, False)):
        finder = DylibFinder((), ("arm64",), use_host=use_host)
        found, _ = finder.find("@rpath/libweak.dylib", ((folder, True),))
        assert (found is not None) is host_found
        found, _ = finder.find("@loader_path/libweak.dylib", ((folder, False),))
        assert found is not None and found.found_in.endswith(folder)
    found, rejected = DylibFinder((folder,), ("x86_64",), use_host=False).find("libfoo.dylib", ())
    assert found is None and "has arm64; the wheel needs x86_64" in rejected[0][1]


def test_corrupt_library_on_lib_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    built = build_mac_wheel(tmp_path, "arm64")
    (built.lib / "libbar.dylib").write_bytes(b"\xcf\xfa\xed\xfe" + b"\xff" * 60)
    out = tmp_path / "out"
    assert repair("-w", out, "--lib-path", built.lib, built.wheel) == 1
    captured = capsys.readouterr()
    assert f"cannot find {BAR_ID}" in captured.err
    assert "not a readable library" in captured.out
    assert not out.exists()


def _sbom(wheel: Path) -> dict[str, Any]:
    text = members(wheel)[SBOM]
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text.decode()) is None
    document: dict[str, Any] = json.loads(text)
    return document


def _sources(component: dict[str, Any]) -> list[str]:
    return [p["value"] for p in component["properties"] if p["name"] == "native-doctor:grafted-from"]


def test_repair_writes_the_pep770_sbom_of_its_grafts(tmp_path: Path) -> None:
    """As on Linux and Windows: every vendored dylib, hashed as written, where it came from, and
    which vendored dylib needs which."""
    built = build_mac_wheel(tmp_path, "arm64")
    out = tmp_path / "out"
    assert repair("-w", out, "--lib-path", built.lib, built.wheel) == 0
    [wheel] = out.iterdir()
    files = members(wheel)
    document = _sbom(wheel)
    assert document["metadata"]["component"]["purl"] == "pkg:pypi/demo@1.0"
    by_path = {c["evidence"]["occurrences"][0]["location"]: c for c in document["components"]}
    dylibs = {n for n in files if n.startswith("demo/.dylibs/")}
    assert set(by_path) == dylibs == {f"demo/.dylibs/lib{n}.dylib" for n in ("bar", "foo", "weak")}
    for member, component in by_path.items():
        digest = hashlib.sha256(files[member]).hexdigest()
        assert component["hashes"] == [{"alg": "SHA-256", "content": digest}]
        assert _sources(component) == [str(built.lib / posixpath.basename(member))]
    needs = {d["ref"]: d["dependsOn"] for d in document["dependencies"]}
    ref = {posixpath.basename(m): c["bom-ref"] for m, c in by_path.items()}
    assert sorted(needs[ref["libbar.dylib"]]) == sorted([ref["libfoo.dylib"], ref["libweak.dylib"]])
    assert SBOM in files["demo-1.0.dist-info/RECORD"].decode()
