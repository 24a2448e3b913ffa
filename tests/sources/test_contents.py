"""Whole-file contents for the SBOM: hash + visit, in memory, spooled to a temporary file, or not scanned."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from _wheels import make_wheel
from native_doctor.sources import contents

_DATA = b"\x7fELF" + bytes(range(256)) * 64


@pytest.mark.parametrize(
    ("spool", "max_scan", "visited"),
    [
        pytest.param(1 << 30, 1 << 30, True, id="in-memory"),
        pytest.param(0, 1 << 30, True, id="spooled"),
        pytest.param(0, 10, False, id="too-large"),
    ],
)
def test_wheel_member_contents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spool: int, max_scan: int, visited: bool
) -> None:
    monkeypatch.setattr(contents, "_SPOOL", spool)
    wheel = make_wheel(tmp_path, "demo-1.0-py3-none-any.whl", {"demo/libx.so": _DATA})
    found = contents.wheel_member_contents(
        wheel, ["demo/libx.so"], lambda name, buf: (name, bytes(buf[:4]), len(buf)), max_scan=max_scan
    )
    expected = ("demo/libx.so", b"\x7fELF", len(_DATA)) if visited else None
    assert found == {"demo/libx.so": (hashlib.sha256(_DATA).hexdigest(), expected)}


def test_file_contents_skips_unreadable_and_maps_the_rest(tmp_path: Path) -> None:
    (tmp_path / "a.so").write_bytes(_DATA)
    (tmp_path / "empty.so").write_bytes(b"")
    found = contents.file_contents(
        {"a.so": tmp_path / "a.so", "empty.so": tmp_path / "empty.so", "gone.so": tmp_path / "gone.so"},
        lambda name, buf: len(buf),
    )
    assert found == {
        "a.so": (hashlib.sha256(_DATA).hexdigest(), len(_DATA)),
        "empty.so": (hashlib.sha256(b"").hexdigest(), None),
    }
