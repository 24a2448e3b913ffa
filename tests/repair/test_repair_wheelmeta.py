"""Reading the wheel a repair starts from, and the name and WHEEL tags of the one it writes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from _wheels import make_wheel
from native_doctor.errors import InvalidArchiveError
from native_doctor.repair.wheelmeta import (
    claimed_platforms,
    dist_info_dir,
    open_wheel,
    read_member,
    retag_wheel,
    retagged_file_name,
)

WHEEL = "demo-1.0-cp312-cp312-linux_x86_64.whl"


def test_a_wheel_opens_reads_and_names_its_dist_info(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, WHEEL, {"demo/a.py": b"x = 1\n", "demo/WHEEL": b"package data"})
    with open_wheel(path) as archive:
        assert dist_info_dir(archive, path) == "demo-1.0.dist-info"  # demo/WHEEL is package data
        assert read_member(archive, "demo/a.py") == b"x = 1\n"
        with pytest.raises(InvalidArchiveError, match=r"demo/missing\.py: cannot be read"):
            read_member(archive, "demo/missing.py")
    assert archive.fp is None  # the with block closed it


def test_not_a_zip_is_an_invalid_archive(tmp_path: Path) -> None:
    path = tmp_path / WHEEL
    path.write_bytes(b"not a zip")
    with pytest.raises(InvalidArchiveError, match="not a readable zip archive"):
        open_wheel(path)


@pytest.mark.parametrize(
    ("members", "found"),
    [
        pytest.param({"demo/a.py": b""}, 0, id="none"),
        pytest.param({"a-1.dist-info/WHEEL": b"", "b-1.dist-info/WHEEL": b""}, 2, id="two"),
    ],
)
def test_not_exactly_one_dist_info_is_an_invalid_archive(
    tmp_path: Path, members: dict[str, bytes], found: int
) -> None:
    path = tmp_path / WHEEL
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with open_wheel(path) as archive, pytest.raises(InvalidArchiveError, match=f"found {found}$"):
        dist_info_dir(archive, path)


@pytest.mark.parametrize(
    ("name", "platforms", "expected"),
    [
        pytest.param(
            WHEEL, ("manylinux_2_17_x86_64",), "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", id="one"
        ),
        pytest.param(
            "demo-1.0-1-cp312-cp312-linux_x86_64.whl",
            ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64"),
            "demo-1.0-1-cp312-cp312-manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl",
            id="build-tag-two-sorted",
        ),
    ],
)
def test_retagged_file_name(name: str, platforms: tuple[str, ...], expected: str) -> None:
    assert retagged_file_name(name, platforms) == expected
    assert claimed_platforms(Path(expected)) == tuple(sorted(platforms))


def test_retag_wheel_replaces_every_tag_line_and_keeps_the_rest() -> None:
    text = "Wheel-Version: 1.0\nTag: py2.py3-none-linux_x86_64\nRoot-Is-Purelib: false\n\n\n"
    out = retag_wheel(text, "demo-1.0-py2.py3-none-linux_x86_64.whl", ("macosx_11_0_arm64",))
    assert out == (
        "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n"
        "Tag: py2-none-macosx_11_0_arm64\nTag: py3-none-macosx_11_0_arm64\n"
    )
