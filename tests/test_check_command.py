"""`native-doctor check`: selection from options and pyproject.toml, thresholds, formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _wheels import make_wheel
from native_doctor import cli

WHEEL = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"


@pytest.fixture
def broken_wheel(tmp_path: Path, demo_wheel_members: dict[str, bytes]) -> Path:
    """The extension's library is missing: ND201 (error)."""
    members = {k: v for k, v in demo_wheel_members.items() if not k.startswith("demo.libs/")}
    return make_wheel(tmp_path, WHEEL, members)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from an empty directory so the repository's own pyproject.toml does not apply."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)


def codes(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, set[str]]:
    code = cli.main(["check", *argv, "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    return code, {f["code"] for f in doc["findings"]}


@pytest.mark.parametrize(
    ("init", "expected", "exit_code"),
    [
        pytest.param(b"from demo import _ext\n", "ND201", 1, id="imported-plainly"),
        pytest.param(
            b"try:\n    from . import _ext\nexcept ImportError:\n    _ext = None\n", "ND211", 0, id="optional"
        ),
        pytest.param(
            b"def layer():\n    from . import _ext\n    return _ext\n", "ND201", 1, id="in-a-function-only"
        ),
        pytest.param(
            b"try:\n    from . import _ext\nexcept KeyError:\n    pass\n", "ND201", 1, id="other-handler"
        ),
    ],
)
def test_an_optional_extension_module_lacking_a_library_is_a_warning(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    demo_wheel_members: dict[str, bytes],
    init: bytes,
    expected: str,
    exit_code: int,
) -> None:
    """numba's OpenMP and TBB threading layers: every import of the module is inside a ``try`` that
    catches ImportError, so the package imports without the library; ND211 (a warning) says so
    instead of ND201. Imported anywhere else, the module is not optional."""
    members = {k: v for k, v in demo_wheel_members.items() if not k.startswith("demo.libs/")}
    members["demo/__init__.py"] = init
    code, found = codes(capsys, str(make_wheel(tmp_path, WHEEL, members)))
    assert expected in found and ({"ND201", "ND211"} - {expected}).isdisjoint(found)
    assert code == exit_code


def test_check_runs_the_catalog(capsys: pytest.CaptureFixture[str], broken_wheel: Path) -> None:
    code, found = codes(capsys, str(broken_wheel))
    assert code == 1
    assert "ND201" in found


@pytest.mark.parametrize(
    ("argv", "present", "absent"),
    [
        pytest.param(["--ignore", "ND201"], set(), {"ND201"}, id="ignore-code"),
        pytest.param(["--ignore", "external-library"], set(), {"ND201"}, id="ignore-name"),
        pytest.param(["--select", "ND2"], {"ND201"}, set(), id="select-prefix"),
        pytest.param(["--select", "ND0,unreadable-binary"], set(), {"ND201"}, id="select-comma-list"),
    ],
)
def test_selection_options(
    capsys: pytest.CaptureFixture[str],
    broken_wheel: Path,
    argv: list[str],
    present: set[str],
    absent: set[str],
) -> None:
    _, found = codes(capsys, str(broken_wheel), *argv)
    assert present <= found and not absent & found


def test_pyproject_settings_apply_and_options_override(
    capsys: pytest.CaptureFixture[str], broken_wheel: Path
) -> None:
    Path("pyproject.toml").write_text('[tool.native-doctor]\nignore = ["ND201"]\n')
    _, found = codes(capsys, str(broken_wheel))
    assert "ND201" not in found
    _, found = codes(capsys, str(broken_wheel), "--no-config")
    assert "ND201" in found


def test_bad_pyproject_is_a_usage_error(capsys: pytest.CaptureFixture[str], broken_wheel: Path) -> None:
    Path("pyproject.toml").write_text('[tool.native-doctor]\nfail-on = "sometimes"\n')
    assert cli.main(["check", str(broken_wheel)]) == 2
    assert "fail-on" in capsys.readouterr().err


def test_unknown_selector_is_a_usage_error(capsys: pytest.CaptureFixture[str], broken_wheel: Path) -> None:
    assert cli.main(["check", str(broken_wheel), "--select", "ND999"]) == 2
    assert "unknown check selector" in capsys.readouterr().err


def test_exit_zero(capsys: pytest.CaptureFixture[str], broken_wheel: Path) -> None:
    assert cli.main(["check", str(broken_wheel), "--exit-zero", "--format", "json"]) == 0
    capsys.readouterr()


def test_text_output_lists_findings_not_every_binary(
    capsys: pytest.CaptureFixture[str], broken_wheel: Path
) -> None:
    assert cli.main(["check", str(broken_wheel), "--color", "never"]) == 1
    out = capsys.readouterr().out
    assert "ND201 external-library" in out
    assert "native files:" in out


def test_sarif_output(capsys: pytest.CaptureFixture[str], broken_wheel: Path) -> None:
    assert cli.main(["check", str(broken_wheel), "--format", "sarif"]) == 1
    log = json.loads(capsys.readouterr().out)
    assert log["version"] == "2.1.0"
    [run] = log["runs"]
    assert any(r["ruleId"] == "ND201" for r in run["results"])


def test_github_annotations(capsys: pytest.CaptureFixture[str], broken_wheel: Path) -> None:
    assert cli.main(["check", str(broken_wheel), "--format", "github"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("::error file=") and "ND201" in line for line in lines)


def test_unreadable_wheel_without_nd001_is_an_input_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junk = tmp_path / "junk-1.0-py3-none-any.whl"
    junk.write_bytes(b"not a zip")
    assert cli.main(["check", str(junk), "--ignore", "ND001"]) == 2
    assert "not a readable zip" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["check", "inspect"])
def test_numbas_optional_threading_layers_are_warnings_not_errors(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    """The real numba wheel: its OpenMP and TBB threading layers need libgomp and libtbb, which
    it does not bundle, and numba imports them only inside ``try: ... except ImportError: pass``
    (it falls back to its workqueue layer): ND211 warnings, no ND201 error, exit 0; ``inspect``
    says so too."""
    from _corpus import ensure, wheels

    [entry] = wheels(tag="optional-extension-module")
    code = cli.main([command, str(ensure(entry)), "--format", "json"])
    findings = json.loads(capsys.readouterr().out)["findings"]
    optional = {(f["code"], f["member"].rpartition("/")[2].split(".")[0]) for f in findings}
    assert {("ND211", "omppool"), ("ND211", "tbbpool")} <= optional
    assert not [f for f in findings if f["severity"] == "error"] and code == 0
