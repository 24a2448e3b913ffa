"""Reading wheels without extracting them: metadata, native members, install paths, corruption."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _wheels import make_wheel
from native_doctor.errors import InvalidArchiveError
from native_doctor.model import Artifact
from native_doctor.sources._members import install_path, may_be_native
from native_doctor.sources.wheel import read_wheel

WHEEL = "demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
EXAMPLES = int(os.environ.get("NATIVE_DOCTOR_FUZZ_EXAMPLES", "100"))


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        pytest.param("demo/_ext.so", "demo/_ext.so", id="plain"),
        pytest.param("demo-1.0.data/platlib/demo/_ext.so", "demo/_ext.so", id="platlib"),
        pytest.param("demo-1.0.data/purelib/demo/x.py", "demo/x.py", id="purelib"),
        pytest.param("demo-1.0.data/scripts/tool", "<scripts>/tool", id="scripts"),
        pytest.param("demo-1.0.data/data/share/x", "<data>/share/x", id="data-scheme"),
    ],
)
def test_install_path(member: str, expected: str) -> None:
    assert install_path(member) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("a/_ext.cpython-312-x86_64-linux-gnu.so", True, id="extension"),
        pytest.param("a.libs/libfoo-1a2b3c4d.so.1.2", True, id="versioned-soname"),
        pytest.param("bin/tool", True, id="no-suffix"),
        pytest.param("a/x.pyd", True, id="pyd"),
        pytest.param("a/__init__.py", False, id="python"),
        pytest.param("a/include/x.h", False, id="header"),
        pytest.param("a-1.0.dist-info/RECORD", False, id="record"),
        pytest.param("a/LICENSE.txt", False, id="license"),
    ],
)
def test_may_be_native(path: str, expected: bool) -> None:
    assert may_be_native(path) is expected


@pytest.mark.parametrize(
    "compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"]
)
def test_reads_metadata_and_native_members(
    tmp_path: Path, demo_wheel_members: dict[str, bytes], compression: int
) -> None:
    members = dict(demo_wheel_members)
    members["demo-1.0.data/scripts/tool"] = demo_wheel_members["demo.libs/libdep.so.1"]
    wheel = make_wheel(tmp_path, WHEEL, members, requires_dist=("numpy>=2",), compression=compression)
    artifact = read_wheel(wheel)
    assert (artifact.name, artifact.version) == ("demo", "1.0")
    assert artifact.claimed_tags == ("cp311-cp311-manylinux_2_17_x86_64",)
    assert artifact.requires_dist == ("numpy>=2",)
    assert artifact.root_is_purelib is False
    paths = {n.path: n for n in artifact.native}
    assert set(paths) == {
        "demo/_ext.cpython-311-x86_64-linux-gnu.so",
        "demo.libs/libdep.so.1",
        "demo-1.0.data/scripts/tool",
    }
    assert paths["demo-1.0.data/scripts/tool"].install_path == "<scripts>/tool"
    assert all(n.info is not None and n.fingerprint for n in artifact.native)


def test_dll_directories_come_from_the_init_hook(tmp_path: Path) -> None:
    hook = (
        b"import os\nos.add_dll_directory(os.path.join(os.path.dirname(__file__), os.pardir, 'demo.libs'))\n"
    )
    members = {
        "demo/__init__.py": hook,
        "demo.libs/x.dll": b"MZ" + bytes(100),
        "other/__init__.py": b"'demo.libs'",
    }
    artifact = read_wheel(make_wheel(tmp_path, "demo-1.0-cp311-cp311-win_amd64.whl", members))
    assert artifact.dll_directories == ("demo.libs",)


def test_dll_directories_come_from_a_private_module_too(tmp_path: Path) -> None:
    # google-crc32c 1.9.0 (win_amd64): __init__.py imports __config__ first, which adds extra-dll.
    hook = (
        b"import os\nfrom importlib.resources import files\n"
        b"os.add_dll_directory(str(files('demo') / 'extra-dll'))\n"
    )
    members = {
        "demo/__init__.py": b"import demo.__config__\n",
        "demo/__config__.py": hook,
        "demo/extra-dll/x.dll": b"MZ" + bytes(100),
        "demo/sub/_hidden.py": b"import os\nos.add_dll_directory('demo/sub')\n",
    }
    artifact = read_wheel(make_wheel(tmp_path, "demo-1.0-cp311-cp311-win_amd64.whl", members))
    # every literal naming a directory counts ('demo' too); modules below the top level do not
    assert "demo/extra-dll" in artifact.dll_directories
    assert "demo/sub" not in artifact.dll_directories


def test_no_dist_info_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / WHEEL
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("demo/__init__.py", b"")
    with pytest.raises(InvalidArchiveError, match="not a wheel"):
        read_wheel(path)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_wheels_give_an_artifact_or_our_error(
    tmp_path: Path, demo_wheel_members: dict[str, bytes], data: st.DataObject
) -> None:
    wheel = make_wheel(tmp_path, WHEEL, demo_wheel_members)
    blob = bytearray(wheel.read_bytes())
    for _ in range(data.draw(st.integers(1, 20))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(blob) // 2, len(blob)))
    wheel.write_bytes(bytes(blob[:cut]))
    try:
        artifact = read_wheel(wheel)
    except InvalidArchiveError:
        return
    assert isinstance(artifact, Artifact)


def _rewrite(path: Path, changes: dict[str, bytes | None]) -> None:
    """Rewrite a wheel: replace members (bytes), drop them (None), or add new ones."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    for name, data in changes.items():
        if data is None:
            members.pop(name, None)
        else:
            members[name] = data
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        pytest.param({}, "mismatched", (), id="clean"),
        pytest.param(
            {"demo/__init__.py": b"# changed\n"},
            "mismatched",
            (("demo/__init__.py", "sha256 digest differs"),),
            id="changed",
        ),
        pytest.param({"demo/extra.py": b""}, "unlisted", ("demo/extra.py",), id="unlisted"),
        pytest.param({"demo/__init__.py": None}, "missing", ("demo/__init__.py",), id="missing"),
    ],
)
def test_record_verification(
    tmp_path: Path,
    demo_wheel_members: dict[str, bytes],
    changes: dict[str, bytes | None],
    field: str,
    expected: object,
) -> None:
    wheel = make_wheel(tmp_path, WHEEL, demo_wheel_members)
    _rewrite(wheel, changes)
    record = read_wheel(wheel, verify_record=True).record
    assert record is not None and record.present
    assert getattr(record, field) == expected
    assert read_wheel(wheel).record is None


def test_record_absent(tmp_path: Path, demo_wheel_members: dict[str, bytes]) -> None:
    wheel = make_wheel(tmp_path, WHEEL, demo_wheel_members)
    _rewrite(wheel, {"demo-1.0.dist-info/RECORD": None})
    record = read_wheel(wheel, verify_record=True).record
    assert record is not None and not record.present


def test_license_texts_are_read_deeply_and_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import native_doctor.sources.wheel as wheel_source

    monkeypatch.setattr(wheel_source, "MAX_LICENSE_BYTES", 8)
    members = {"demo/__init__.py": b"", "demo/LICENSE.txt": b"0123456789abcdef", "NOTICE": b"notice"}
    extra = {"licenses/COPYING.md": b"copying"}
    wheel = make_wheel(tmp_path, "demo-1.0-py3-none-any.whl", members, extra_dist_info=extra)
    assert read_wheel(wheel).license_texts is None
    assert read_wheel(wheel, deep=True).license_texts == (
        ("demo/LICENSE.txt", "01234567"),
        ("NOTICE", "notice"),
        ("demo-1.0.dist-info/licenses/COPYING.md", "copying"),
    )
    assert read_wheel(wheel, licenses=True).license_texts == read_wheel(wheel, deep=True).license_texts
