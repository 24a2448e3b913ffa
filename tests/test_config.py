"""[tool.native-doctor] in pyproject.toml: found upward, validated, overridden by options."""

from __future__ import annotations

from pathlib import Path

import pytest

from native_doctor.config import Config, find_pyproject, load_config
from native_doctor.errors import UsageError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    return path


def test_found_in_a_parent_directory(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_pyproject(nested) == path


def test_settings_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[tool.native-doctor]\nselect = ["ND2"]\nignore = ["ND204"]\nfail-on = "warning"\npreview = true\n',
    )
    assert load_config(path) == Config(
        select=("ND2",), ignore=("ND204",), fail_on="warning", preview=True, source=path
    )


def test_no_table_gives_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "[project]\nname = 'x'\n")) == Config()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[tool.native-doctor]\nselct = []\n", "unknown key", id="typo"),
        pytest.param('[tool.native-doctor]\nfail-on = "fatal"\n', "fail-on", id="bad-severity"),
        pytest.param('[tool.native-doctor]\nselect = "ND2"\n', "list of strings", id="not-a-list"),
        pytest.param("[tool.native-doctor]\npreview = 1\n", "preview", id="bad-bool"),
        pytest.param("[tool.native-doctor\n", "cannot read", id="bad-toml"),
    ],
)
def test_bad_settings_are_usage_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        load_config(write(tmp_path, text))


def test_tool_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"\[tool\] must be a table"):
        load_config(write(tmp_path, "tool = 1\n"))
