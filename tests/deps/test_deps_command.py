"""`native-doctor deps` end to end: validation errors, mapping, host check, inference, formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from native_doctor import cli

PYPROJECT = """\
[project]
name = "demo"
version = "1.0"

[external]
build-requires = ["dep:virtual/compiler/c", "dep:generic/pkg-config"]
host-requires = ["dep:generic/zlib", "dep:generic/openssl@>=3"]
dependencies = ["dep:generic/libyaml; sys_platform == 'win32'"]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    return tmp_path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object]]:
    code = cli.main(["deps", *argv, "--format", "json"])
    return code, json.loads(capsys.readouterr().out)["external"]


@pytest.mark.parametrize(
    ("ecosystem", "expected"),
    [
        pytest.param("debian", {"zlib1g-dev", "libssl-dev"}, id="debian"),
        pytest.param("fedora", {"zlib-devel", "openssl-devel"}, id="fedora"),
        pytest.param("alpine", {"zlib-dev", "openssl-dev"}, id="alpine"),
        pytest.param("conda-forge", {"zlib", "openssl"}, id="conda-forge"),
    ],
)
def test_declared_dependencies_map_to_packages(
    capsys: pytest.CaptureFixture[str], project: Path, ecosystem: str, expected: set[str]
) -> None:
    code, report = run_json(capsys, str(project), "--manager", ecosystem)
    assert code == 0
    assert report["declared"] is True and report["ecosystem"] == ecosystem
    host = {p for d in report["dependencies"] if d["category"] == "host" for p in d["packages"] or ()}  # type: ignore[attr-defined, index]
    assert expected <= host
    assert report["install_commands"]
    windows_only = [d for d in report["dependencies"] if d["depurl"] == "dep:generic/libyaml"]  # type: ignore[attr-defined, index]
    assert windows_only and windows_only[0]["applies"] is False


def test_invalid_table_is_an_input_error_naming_the_entry(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[external]\nhost-requires = ["dep:generic/zlib", "dep:generic/x@~=1"]\n'
    )
    assert cli.main(["deps", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "external.host-requires[1]" in err and "~=" in err


def test_unknown_ecosystem_is_a_usage_error(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    assert cli.main(["deps", str(project), "--manager", "no-such-os"]) == 2
    assert "no mapping for ecosystem" in capsys.readouterr().err


def test_user_mapping_file(capsys: pytest.CaptureFixture[str], project: Path, tmp_path: Path) -> None:
    mapping = {
        "name": "mydistro",
        "package_managers": [
            {
                "name": "mypm",
                "commands": {
                    "install": {"command": ["mypm", "add", "{}"]},
                    "query": {"command": ["mypm", "has", "{}"]},
                },
            }
        ],
        "mappings": [
            {
                "id": "dep:generic/zlib",
                "specs": {"build": ["zlib-headers"], "host": ["zlib-headers"], "run": ["zlib"]},
            }
        ],
    }
    path = tmp_path / "mydistro.mapping.json"
    path.write_text(json.dumps(mapping))
    code, report = run_json(capsys, str(project), "--mapping", str(path))
    assert code == 0
    zlib = next(d for d in report["dependencies"] if d["depurl"] == "dep:generic/zlib")  # type: ignore[attr-defined]
    assert zlib["packages"] == ["zlib-headers"]
    assert report["install_commands"] == [["mypm", "add", "zlib-headers"]]


def test_host_check_finds_the_compiler(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    from _toolchain import require

    require("cc", "gcc")
    _, report = run_json(capsys, str(project), "--manager", "debian", "--check")
    checks = {c["depurl"]: c for c in report["check"]}  # type: ignore[union-attr]
    assert checks["dep:virtual/compiler/c"]["present"] is True
    assert "dep:generic/libyaml" not in checks  # its marker excludes this platform


def test_inference_when_there_is_no_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["meson-python"]\nbuild-backend = "mesonpy"\n'
    )
    (tmp_path / "meson.build").write_text(
        "project('demo', 'c', 'fortran')\nzlib = dependency('zlib')\nblas = dependency('openblas')\n"
    )
    (tmp_path / "demo.c").write_text("int x;\n")
    code, report = run_json(capsys, str(tmp_path), "--manager", "debian")
    assert code == 0 and report["declared"] is False
    proposed = {p["depurl"] for p in report["inferred"]["proposals"]}  # type: ignore[index]
    assert {
        "dep:virtual/compiler/c",
        "dep:virtual/compiler/fortran",
        "dep:generic/zlib",
        "dep:generic/openblas",
    } <= proposed
    assert "[external]" in report["inferred"]["toml"]  # type: ignore[index]


def test_text_output(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    assert cli.main(["deps", str(project), "--manager", "debian"]) == 0
    out = capsys.readouterr().out
    assert "[external] declares 5 dependencies" in out
    assert "install: apt-get install -y" in out and "zlib1g-dev" in out


def test_missing_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["deps", str(tmp_path / "nope")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_target_platform_evaluates_markers(capsys: pytest.CaptureFixture[str], project: Path) -> None:
    _, report = run_json(capsys, str(project), "--manager", "vcpkg", "--target", "windows")
    windows_only = next(d for d in report["dependencies"] if d["depurl"] == "dep:generic/libyaml")  # type: ignore[attr-defined]
    assert windows_only["applies"] is True


def test_user_registry_resolves_aliases(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[external]\nhost-requires = ["dep:github/madler/zlib"]\n')
    registry = {
        "schema_version": 1,
        "definitions": [
            {"id": "dep:generic/zlib", "description": "zlib"},
            {"id": "dep:github/madler/zlib", "provides": "dep:generic/zlib"},
        ],
    }
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(registry))
    _, report = run_json(capsys, str(tmp_path), "--manager", "debian", "--mapping", str(path))
    [dep] = report["dependencies"]  # type: ignore[misc]
    assert dep["packages"] == ["zlib1g-dev"]


INFERRED_TREE = {
    "meson.build": ("project('x', 'c')\ndependency('zlib')\ndependency('libpng', required: false)\n"),
}


@pytest.mark.parametrize(
    ("ecosystem", "zlib", "png"),
    [
        pytest.param("debian", "zlib1g-dev", "libpng-dev", id="debian"),
        pytest.param("fedora", "zlib-devel", "libpng-devel", id="fedora"),
    ],
)
def test_inferred_table_goes_through_the_mapping(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ecosystem: str, zlib: str, png: str
) -> None:
    for name, text in INFERRED_TREE.items():
        (tmp_path / name).write_text(text)
    code, report = run_json(capsys, str(tmp_path), "--manager", ecosystem)
    assert code == 0
    inferred = report["inferred"]
    packages = {p["depurl"]: p["packages"] for p in inferred["proposals"]}  # type: ignore[index]
    assert packages["dep:generic/zlib"] == [zlib]
    assert packages["dep:generic/libpng"] == [png]
    # the install command covers what is required, not the optional libpng
    (command,) = inferred["install_commands"]  # type: ignore[index]
    assert zlib in command and png not in command

    assert cli.main(["deps", str(tmp_path), "--manager", ecosystem]) == 0
    text = capsys.readouterr().out
    assert f"inferred ({ecosystem} names):" in text
    assert zlib in text and png in text and "[optional]" in text


def test_inferred_optional_feature_is_shown(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "meson.build").write_text(
        "project('x', 'c')\ndependency('zlib')\ndependency('libpng', required: get_option('png'))\n"
    )
    code, report = run_json(capsys, str(tmp_path), "--manager", "debian")
    assert code == 0
    features = {p["depurl"]: p["feature"] for p in report["inferred"]["proposals"]}  # type: ignore[index]
    assert features["dep:generic/libpng"] == "png" and features["dep:generic/zlib"] is None
    assert cli.main(["deps", str(tmp_path), "--manager", "debian"]) == 0
    text = capsys.readouterr().out
    assert "libpng-dev  [optional: png]" in text
    assert "[external.optional-host-requires]\npng = [" in text


def test_inferred_default_off_feature_is_said(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "meson.build").write_text(
        "project('x', 'c')\ndependency('libpng', required: get_option('png'))\n"
        "dependency('zlib', required: get_option('z'))\n"
    )
    (tmp_path / "meson_options.txt").write_text(
        "option('png', type: 'feature', value: 'disabled')\noption('z', type: 'feature', value: 'auto')\n"
    )
    code, report = run_json(capsys, str(tmp_path), "--manager", "debian")
    assert code == 0
    defaults = {p["depurl"]: p["default"] for p in report["inferred"]["proposals"]}  # type: ignore[index]
    assert defaults["dep:generic/libpng"] == "off" and defaults["dep:generic/zlib"] == "on-if-found"
    assert cli.main(["deps", str(tmp_path), "--manager", "debian"]) == 0
    text = capsys.readouterr().out
    assert "libpng-dev  [optional: png, off unless asked]" in text
    assert "zlib1g-dev  [optional: z]" in text


def test_too_old_library_gets_an_upgrade_command_not_an_install(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from native_doctor.deps import host, report

    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "1"\n[external]\nhost-requires = ["dep:generic/zlib@>=1.3"]\n'
    )

    def fake_check(wanted: list[tuple[object, str]], ecosystem: str | None = None) -> list[host.HostCheck]:
        (dep, category), *_ = wanted
        return [host.HostCheck(dep, category, True, ("pkg-config zlib 1.2.11",), "1.2.11", False)]  # type: ignore[arg-type]

    monkeypatch.setattr(report.host, "check_host", fake_check)
    code, result = run_json(capsys, str(tmp_path), "--manager", "debian", "--check")
    assert code == 1
    assert result["install_missing"] == []
    assert result["upgrade_old"] == [["apt-get", "install", "--only-upgrade", "-y", "zlib1g-dev"]]
    assert cli.main(["deps", str(tmp_path), "--manager", "debian", "--check"]) == 1
    text = capsys.readouterr().out
    assert "installed 1.2.11, needs >=1.3" in text
    assert "to upgrade what is too old: apt-get install --only-upgrade -y zlib1g-dev" in text
