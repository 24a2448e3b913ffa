"""The canonical wheel writer: raw copies, RECORD, order, timestamps, zip64 end records, atomicity,
and a property test (any member names and contents come back intact)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _wheels import make_wheel
from native_doctor.repair import wheelfile
from native_doctor.repair.wheelfile import write_wheel

DIST = "demo-1.0.dist-info"


def _raw_bytes(path: Path, name: str) -> bytes:
    """The compressed bytes of member ``name`` as stored in the archive."""
    with zipfile.ZipFile(path) as archive, path.open("rb") as raw:
        info = archive.getinfo(name)
        raw.seek(info.header_offset + 26)
        n, m = int.from_bytes(raw.read(2), "little"), int.from_bytes(raw.read(2), "little")
        raw.seek(info.header_offset + 30 + n + m)
        return raw.read(info.compress_size)


def _record(path: Path) -> dict[str, tuple[str, str]]:
    with zipfile.ZipFile(path) as archive:
        rows = list(csv.reader(io.StringIO(archive.read(f"{DIST}/RECORD").decode())))
        result = {row[0]: (row[1], row[2]) for row in rows}
        for name in archive.namelist():
            if name == f"{DIST}/RECORD":
                assert result[name] == ("", "")
                continue
            data = archive.read(name)
            digest = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert result[name] == (digest, str(len(data))), name
    return result


def test_untouched_members_are_copied_raw_and_the_rest_is_canonical(tmp_path: Path) -> None:
    members = {"demo/z.py": b"z" * 5000, "demo/a.py": b"print(1)\n", "demo/data.bin": bytes(range(256)) * 40}
    source = make_wheel(tmp_path, "demo-1.0-py3-none-any.whl", members)
    target = tmp_path / "out.whl"
    write_wheel(
        source,
        target,
        dist_info=DIST,
        replace={"demo/a.py": b"print(2)\n"},
        add={"demo.libs/libx-00000000.so.1": b"\x7fELF" + bytes(100)},
        epoch=1700000000,
    )
    assert _raw_bytes(target, "demo/z.py") == _raw_bytes(source, "demo/z.py")
    assert _raw_bytes(target, "demo/data.bin") == _raw_bytes(source, "demo/data.bin")
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert archive.read("demo/a.py") == b"print(2)\n"
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    assert names == [
        "demo.libs/libx-00000000.so.1",
        "demo/a.py",
        "demo/data.bin",
        "demo/z.py",
        f"{DIST}/METADATA",
        f"{DIST}/WHEEL",
        f"{DIST}/RECORD",
    ]
    assert modes["demo.libs/libx-00000000.so.1"] == 0o100755
    assert modes["demo/a.py"] == 0o100644
    _record(target)


def _data_offset(path: Path, name: str) -> int:
    with zipfile.ZipFile(path) as archive, path.open("rb") as raw:
        info = archive.getinfo(name)
        raw.seek(info.header_offset + 26)
        n, m = int.from_bytes(raw.read(2), "little"), int.from_bytes(raw.read(2), "little")
        return int(info.header_offset) + 30 + n + m


def test_large_raw_copies_keep_their_offset_modulo_64_kib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wheelfile, "ALIGN_MIN", 3000)  # instead of building a 16 MiB wheel
    members = {"demo/big.bin": bytes(range(256)) * 20, "demo/small.bin": bytes(range(256)) * 2}
    source = make_wheel(tmp_path, "demo-1.0-py3-none-any.whl", members, compression=zipfile.ZIP_STORED)
    target = tmp_path / "out.whl"
    add = {"demo.libs/libx-00000000.so.1": b"\x7fELF" + bytes(100)}
    write_wheel(source, target, dist_info=DIST, replace={}, add=add, epoch=1700000000)
    big_in, big_out = _data_offset(source, "demo/big.bin"), _data_offset(target, "demo/big.bin")
    assert big_out != big_in and (big_out - big_in) % (1 << 16) == 0
    with zipfile.ZipFile(target) as archive, target.open("rb") as raw:
        assert archive.testzip() is None
        info = archive.getinfo("demo/big.bin")
        raw.seek(info.header_offset + 30 + len(info.filename))
        assert raw.read(2) == b"nd"  # the padding field: ID 0x646E
        small = archive.getinfo("demo/small.bin")
        raw.seek(small.header_offset + 28)
        assert raw.read(2) == b"\x00\x00"  # small members get no padding
    assert _raw_bytes(target, "demo/big.bin") == _raw_bytes(source, "demo/big.bin")
    _record(target)
    again = tmp_path / "again.whl"
    write_wheel(source, again, dist_info=DIST, replace={}, add=add, epoch=1700000000)
    assert again.read_bytes() == target.read_bytes()


@pytest.mark.parametrize(
    ("start", "source", "room", "size"),
    [
        pytest.param(100, 100, 0xFFFF, 0, id="in-place-already"),
        pytest.param(100, 100 + 70000 * (1 << 16), 0xFFFF, 0, id="same-offset-modulo-64-KiB"),
        pytest.param(100, 110, 0xFFFF, 10, id="ten-bytes"),
        pytest.param(100, 102, 0xFFFF, 0, id="too-close-for-a-field"),
        pytest.param(100, 99, 0xFFFF, 0xFFFF, id="all-the-room-there-is"),
        pytest.param(100, 99, 0xFFFF - 20, 0, id="no-room-beside-zip64"),
        pytest.param(100, 90, 0xFFFF, (1 << 16) - 10, id="wraps"),
    ],
)
def test_padding_field(start: int, source: int, room: int, size: int) -> None:
    field = wheelfile._padding(start, source, room)
    assert len(field) == size
    if size:
        assert field[:4] == b"nd" + (size - 4).to_bytes(2, "little")
        assert (start + size - source) % (1 << 16) == 0


def test_record_signatures_are_dropped(tmp_path: Path) -> None:
    source = make_wheel(
        tmp_path, "demo-1.0-py3-none-any.whl", {"demo/a.py": b""}, extra_dist_info={"RECORD.jws": b"{}"}
    )
    target = tmp_path / "out.whl"
    write_wheel(source, target, dist_info=DIST, replace={}, add={"demo/b.py": b""})
    assert f"{DIST}/RECORD.jws" not in zipfile.ZipFile(target).namelist()


def test_many_members_get_a_zip64_end_record(tmp_path: Path) -> None:
    members = {f"demo/m{i:05}.py": b"" for i in range(0x10000 + 10)}
    source = make_wheel(tmp_path, "demo-1.0-py3-none-any.whl", members, compression=zipfile.ZIP_STORED)
    target = tmp_path / "out.whl"
    write_wheel(source, target, dist_info=DIST, replace={}, add={"demo/new.py": b"x"})
    with zipfile.ZipFile(target) as archive:
        assert len(archive.namelist()) == len(members) + 4
        assert archive.read("demo/new.py") == b"x"
    assert target.read_bytes().rfind(b"PK\x06\x06") > 0


def test_a_failure_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = make_wheel(tmp_path, "demo-1.0-py3-none-any.whl", {"demo/a.py": b"a" * 100})
    out = tmp_path / "out"
    out.mkdir()

    def broken(self: object, offset: int, length: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wheelfile._Output, "copy", broken)
    with pytest.raises(OSError, match="No space"):
        write_wheel(source, out / "x.whl", dist_info=DIST, replace={}, add={"demo/b.py": b""})
    assert list(out.iterdir()) == []


_NAMES = st.text(alphabet="abcXYZ019_-.é/", min_size=1, max_size=20).filter(
    lambda n: not n.startswith("/") and not n.endswith("/") and "//" not in n and not n.startswith("demo-1.0")
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    members=st.dictionaries(_NAMES, st.binary(max_size=3000), min_size=1, max_size=8),
    replaced=st.binary(max_size=2000),
    added=st.binary(max_size=2000),
    stored=st.booleans(),
)
def test_any_members_come_back_intact(
    tmp_path: Path, members: dict[str, bytes], replaced: bytes, added: bytes, stored: bool
) -> None:
    compression = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    source = make_wheel(tmp_path, "demo-1.0-py3-none-any.whl", members, compression=compression)
    first = sorted(members)[0]
    target = tmp_path / "out.whl"
    write_wheel(source, target, dist_info=DIST, replace={first: replaced}, add={"zz/new.bin": added})
    expected = {**members, first: replaced, "zz/new.bin": added}
    with zipfile.ZipFile(target) as archive:
        assert archive.testzip() is None
        for name, data in expected.items():
            assert archive.read(name) == data
    _record(target)
    again = tmp_path / "again.whl"
    write_wheel(source, again, dist_info=DIST, replace={first: replaced}, add={"zz/new.bin": added})
    assert again.read_bytes() == target.read_bytes()


def test_members_packed_on_threads_are_the_bytes_packed_in_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the threshold new members are packed on threads; the wheel is the same bytes."""
    source = make_wheel(tmp_path, "demo-1.0-py3-none-any.whl", {"demo/a.py": b"a"})
    added = {f"demo/lib{n}.so": bytes(range(256)) * (n * 300) + b"x" * 5000 for n in range(1, 12)}
    assert sum(map(len, added.values())) >= wheelfile._PARALLEL_MIN
    threaded, serial = tmp_path / "threaded.whl", tmp_path / "serial.whl"
    write_wheel(source, threaded, dist_info=DIST, replace={}, add=added)
    monkeypatch.setattr(wheelfile, "_PARALLEL_MIN", 1 << 62)
    write_wheel(source, serial, dist_info=DIST, replace={}, add=added)
    assert threaded.read_bytes() == serial.read_bytes()
    with zipfile.ZipFile(threaded) as archive:
        assert all(archive.read(name) == data for name, data in added.items())


def test_packing_on_threads_loads_no_pool_module(tmp_path: Path) -> None:
    """The threads are plain ``threading`` ones: no ``concurrent.futures`` (which imports
    ``logging``) even when there is enough new content to pack in parallel."""
    source = make_wheel(tmp_path, "demo-1.0-py3-none-any.whl", {"demo/a.py": b"a"})
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from native_doctor.repair.wheelfile import _PARALLEL_MIN, write_wheel\n"
        "add = {f'demo/lib{n}.so': bytes(range(256)) * (_PARALLEL_MIN // 256) for n in range(4)}\n"
        f"write_wheel(Path({str(source)!r}), Path({str(tmp_path / 'out.whl')!r}), dist_info={DIST!r},"
        " replace={}, add=add)\n"
        "print(' '.join(m for m in ('concurrent.futures', 'logging') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
    assert (tmp_path / "out.whl").stat().st_size > 0
