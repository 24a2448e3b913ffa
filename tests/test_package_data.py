"""``_package_data``: the package's data files read from beside the module."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from native_doctor._package_data import read_package_text


@pytest.mark.parametrize(
    "parts",
    [("platforms", "data", "manylinux.json"), ("checks", "data", "providers.json")],
    ids="/".join,
)
def test_reads_what_importlib_resources_reads(parts: tuple[str, ...]) -> None:
    expected = resources.files("native_doctor").joinpath(*parts).read_text(encoding="utf-8")
    assert read_package_text(*parts) == expected
    json.loads(expected)


def test_a_missing_file_is_an_os_error() -> None:
    with pytest.raises(FileNotFoundError):
        read_package_text("platforms", "data", "no-such-file.json")
