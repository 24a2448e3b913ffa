"""Hostile environments (issue 15 items 2, 7, 10): FIFOs and devices where files belong, RECORD
entries that lead out of the tree, unreadable files, and huge files under the marker scan.

Each case runs the whole ``env`` command in a child process with a timeout: a FIFO opened for
reading blocks forever, so a regression shows as a timeout, never as a hung test run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _envsite import install
from native_doctor.sources import env as envsource
from native_doctor.sources.env import read_environment
from native_doctor.sources.markers import MAX_SCAN, elf_marker_regions, read_markers

#: Seconds a child may take; the real run takes well under one.
TIMEOUT = 120


def _install(site: Path, name: str, files: dict[str, bytes], record: list[str] | None = None) -> Path:
    return install(site, name, files, tag="py3-none-any", record=record or ())


def _env_json(site: Path) -> tuple[int, dict[str, object]]:
    proc = subprocess.run(
        [sys.executable, "-m", "native_doctor", "env", "--path", str(site), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _findings(document: dict[str, object], code: str) -> list[dict[str, str]]:
    findings = document["findings"]
    assert isinstance(findings, list)
    return [f for f in findings if f["code"] == code]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return tmp_path / "prefix" / "lib" / "python3.11" / "site-packages"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
@pytest.mark.parametrize("where", ["extension", "record-entry", "metadata", "record"])
def test_a_fifo_is_never_opened_and_is_reported(site: Path, where: str) -> None:
    dist_info = _install(
        site, "demo", {"demo/__init__.py": b""}, record=["demo/_x.cpython-311-x86_64-linux-gnu.so,,"]
    )
    fifo = {
        "extension": site / "demo" / "_x.cpython-311-x86_64-linux-gnu.so",
        "record-entry": site / "demo" / "data.bin",
        "metadata": dist_info / "METADATA",
        "record": dist_info / "RECORD",
    }[where]
    if where == "record-entry":
        (dist_info / "RECORD").write_text("demo/__init__.py,,\ndemo/data.bin,,\n")
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    code, document = _env_json(site)
    assert code == 0  # info only: the verdict is not failed by what could not be read
    [finding] = _findings(document, "ND717")
    assert "named pipe (FIFO)" in finding["message"]
    assert finding["severity"] == "info"


def test_record_entries_out_of_the_tree_are_reported_not_followed(site: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.so"
    secret.write_bytes(b"\x7fELF" + b"\0" * 60)
    _install(
        site,
        "evil",
        {"evil/__init__.py": b""},
        record=[
            "../../../../../etc/passwd,,",
            "/proc/self/mem,,",
            "../../../bin/evil,,",  # inside the prefix: an ordinary script entry
            "evil/link.so,,",
        ],
    )
    (site / "evil" / "link.so").symlink_to(secret)
    (site / "evil" / "zero.so").symlink_to("/dev/zero")
    (site / "evil-1.0.dist-info" / "RECORD").write_text(
        (site / "evil-1.0.dist-info" / "RECORD").read_text() + "evil/zero.so,,\n"
    )
    [state] = read_environment(site).states
    assert "../../../../../etc/passwd" in state.outside and "/proc/self/mem" in state.outside
    assert any(o.startswith("evil/link.so -> ") for o in state.outside)
    assert any(o.startswith("evil/zero.so -> /dev/zero") for o in state.outside)
    assert state.missing == ("../../../bin/evil",)  # inside the prefix, and gone
    _code, document = _env_json(site)
    [finding] = _findings(document, "ND716")
    assert finding["severity"] == "warning" and "/proc/self/mem" in finding["message"]


def test_unreadable_files_are_said_as_info(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root reads everything, so the permission error is injected where the file is opened."""
    _install(site, "demo", {"demo/_x.cpython-311-x86_64-linux-gnu.so": b"\x7fELF" + b"\0" * 60})

    def denied(full: Path, path: str) -> None:
        raise PermissionError(13, "Permission denied", str(full))

    monkeypatch.setattr(envsource, "_read_native", denied)
    [state] = read_environment(site).states
    assert state.unreadable == (("demo/_x.cpython-311-x86_64-linux-gnu.so", "Permission denied"),)


def test_missing_and_modified_files_against_record(site: Path, elf_pair: dict[str, bytes]) -> None:
    import base64
    import hashlib

    data = elf_pair["_ext.so"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    _install(
        site,
        "demo",
        {"demo/_ext.cpython-311-x86_64-linux-gnu.so": data, "demo/_b.cpython-311-x86_64-linux-gnu.so": data},
    )
    record = site / "demo-1.0.dist-info" / "RECORD"
    record.write_text(
        f"demo/_ext.cpython-311-x86_64-linux-gnu.so,sha256={digest},{len(data)}\n"
        f"demo/_b.cpython-311-x86_64-linux-gnu.so,sha256={digest},{len(data)}\n"
        "demo/__init__.py,,\ndemo/__pycache__/__init__.cpython-311.pyc,,\n"
    )
    patched = bytearray(data)
    patched[-1] ^= 0xFF
    (site / "demo" / "_b.cpython-311-x86_64-linux-gnu.so").write_bytes(bytes(patched))
    [state] = read_environment(site).states
    assert state.missing == ("demo/__init__.py",)  # the .pyc is not counted
    assert state.modified == (
        ("demo/_b.cpython-311-x86_64-linux-gnu.so", "sha256 digest differs from RECORD"),
    )
    assert state.has_extensions


def test_a_record_no_python_installer_wrote_is_not_held_against_the_disk(site: Path) -> None:
    """Debian's dh_python keeps the upstream RECORD, then strips binaries and moves scripts."""
    dist_info = _install(site, "distro", {"distro/__init__.py": b""}, record=["scripts-3.10/distro,,"])
    (dist_info / "INSTALLER").unlink()
    [state] = read_environment(site).states
    assert state.missing == ()


def test_windows_launchers_are_counted_apart(site: Path) -> None:
    pe = b"MZ" + b"\0" * 58 + (64).to_bytes(4, "little") + b"PE\0\0" + b"\0" * 200
    _install(site, "pip", {"pip/_vendor/distlib/t64.exe": pe, "pip/__init__.py": b""})
    environment = read_environment(site)
    [dist] = environment.distributions
    [state] = environment.states
    if sys.platform.startswith("linux"):
        assert dist.native == () and state.foreign == ("pip/_vendor/distlib/t64.exe",)


# --------------------------------------------------------------------------- the marker scan


def _elf_with_sections(sections: list[tuple[bytes, int, int, int]]) -> bytes:
    """A little-endian ELF64 header and section table: (name, type, offset, size) per section."""
    import struct

    names = b"\0" + b"\0".join(n for n, *_ in sections) + b"\0.shstrtab\0"
    header_size, entry = 64, 64
    names_at = header_size
    table_at = names_at + len(names)
    offsets = []
    position = 1
    for name, *_ in sections:
        offsets.append(position)
        position += len(name) + 1
    shstr_name = position
    entries = [b"\0" * entry]
    for (_name, kind, offset, size), name_at in zip(sections, offsets, strict=True):
        entries.append(struct.pack("<IIQQQQIIQQ", name_at, kind, 0, 0, offset, size, 0, 0, 1, 0))
    entries.append(struct.pack("<IIQQQQIIQQ", shstr_name, 3, 0, 0, names_at, len(names), 0, 0, 1, 0))
    shnum = len(entries)
    head = bytearray(64)
    head[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", head, 0x28, table_at)
    struct.pack_into("<HHH", head, 0x3A, entry, shnum, shnum - 1)
    return bytes(head) + names + b"".join(entries)


def test_marker_scan_reads_only_the_data_sections() -> None:
    text = b"OpenBLAS 0.3.30 DYNAMIC_ARCH NO_AFFINITY\0"
    body_at = 4096
    elf = _elf_with_sections([(b".text", 1, body_at, 64), (b".rodata", 1, body_at + 64, len(text))])
    data = elf + b"\0" * (body_at - len(elf)) + b"OpenBLAS 9.9.9 IN_TEXT\0".ljust(64, b"\0") + text
    regions = elf_marker_regions(data)
    assert regions == [(body_at + 64, len(text))]


def test_marker_scan_clamps_sections_that_claim_more_than_the_file() -> None:
    elf = _elf_with_sections([(b".rodata", 1, 1024, 1 << 40), (b".data", 1, 2048, 1 << 40)])
    data = elf + b"\0" * 4096
    regions = elf_marker_regions(data)
    assert regions == [(1024, len(data) - 1024), (2048, len(data) - 2048)]


def test_marker_scan_budget_holds_for_many_overlapping_sections() -> None:
    """Thousands of section headers naming the same bytes cannot multiply the work past the cap."""
    elf = _elf_with_sections([(b".rodata", 1, 0, 1 << 40)] * 2000)
    regions = elf_marker_regions(elf + b"\0" * 4096)
    assert regions is not None and sum(size for _offset, size in regions) <= MAX_SCAN


def test_marker_scan_of_a_huge_sparse_file_stays_small(tmp_path: Path) -> None:
    """A 4 GiB sparse `_x.so` is scanned only up to the cap: the child's peak RSS stays far below
    the file size."""
    huge = tmp_path / "_x.cpython-311-x86_64-linux-gnu.so"
    with huge.open("wb") as handle:
        handle.write(b"\x7fELF\x02\x01")
        handle.truncate(4 << 30)
    script = (
        "import resource, sys; from native_doctor.sources.markers import read_markers; "
        "read_markers(sys.argv[1]); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(huge)], capture_output=True, text=True, timeout=TIMEOUT, check=True
    )
    peak_kib = int(proc.stdout)
    # The scanned pages stay mapped until the scan ends; the kernel may also map pages around each
    # fault (seen once in CI: 500 MiB). Either way the bound is set by the cap, not the 4 GiB file.
    assert peak_kib < 2 * (MAX_SCAN >> 10) + (200 << 10), f"peak RSS {peak_kib} KiB"
    assert read_markers(huge).openblas is None
