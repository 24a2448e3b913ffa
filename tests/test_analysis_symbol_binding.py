"""Symbol binding and the platform tag: what a weak reference does and does not change.

A weak undefined symbol is optional (the loader binds it to NULL), but when the linker bound it to
a symbol version, that version sits in DT_VERNEED like any other and glibc's loader insists on it
unless the Elf_Vernaux entry carries VER_FLG_WEAK (``_dl_check_map_versions``). GNU ld and lld
never set that flag, so the entry is patched in to model a linker that does.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from _toolchain import in_ci, require, run
from _wheels import make_wheel
from native_doctor.analysis import Inspection, inspect_artifact
from native_doctor.sources.wheel import read_wheel

pytestmark = pytest.mark.toolchain

SRC = Path(__file__).resolve().parent / "fixtures_src"
WHEEL = "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
MEMBER = "demo/_ext.cpython-312-x86_64-linux-gnu.so"


def _build(tmp_path: Path) -> Path:
    out = tmp_path / "weak.so"
    run(require("gcc"), "-shared", "-fPIC", SRC / "weak_tls.c", "-o", out)
    return out


def _vernaux_flags_offset(path: Path, version: str) -> int | None:
    """File offset of ``vna_flags`` of the Elf_Vernaux naming ``version``, per ``readelf -V``."""
    text = run(require("readelf"), "-V", "-W", path)
    section = re.search(r"Version needs section '\.gnu\.version_r'.*?Offset: 0x([0-9a-f]+)", text, re.S)
    entry = re.search(rf"^\s*0x([0-9a-f]+):\s+Name: {re.escape(version)}\s+Flags:", text, re.M)
    if section is None or entry is None:
        return None
    return int(section.group(1), 16) + int(entry.group(1), 16) + 4  # after vna_hash


def _inspect(tmp_path: Path, data: bytes) -> Inspection:
    return inspect_artifact(read_wheel(make_wheel(tmp_path, WHEEL, {MEMBER: data}), deep=True))


def test_a_weak_reference_bound_to_a_version_still_needs_it(tmp_path: Path) -> None:
    built = _build(tmp_path)
    offset = _vernaux_flags_offset(built, "GLIBC_2.18")
    if offset is None:
        message = "this glibc binds __cxa_thread_atexit_impl to no GLIBC_2.18 version (glibc < 2.18)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    data = built.read_bytes()
    plain = _inspect(tmp_path, data)
    (binary,) = plain.binaries
    info = binary.native.info
    assert info is not None
    assert "__cxa_thread_atexit_impl" in info.weak_imported_symbols
    assert "GLIBC_2.18" in info.required_symbol_versions["libc.so.6"]
    # the next policy after manylinux_2_17 is manylinux_2_24
    assert plain.platform.qualifies_for[0] == "manylinux_2_24_x86_64"

    patched = bytearray(data)
    (flags,) = struct.unpack_from("<H", patched, offset)
    struct.pack_into("<H", patched, offset, flags | 0x2)  # VER_FLG_WEAK
    (tmp_path / "patched").mkdir()
    weak = _inspect(tmp_path / "patched", bytes(patched))
    (binary,) = weak.binaries
    info = binary.native.info
    assert info is not None
    assert dict(info.weak_symbol_versions) == {"libc.so.6": ("GLIBC_2.18",)}
    assert "GLIBC_2.18" in info.symbol_versions["libc.so.6"]
    assert "GLIBC_2.18" not in info.required_symbol_versions["libc.so.6"]
    assert weak.platform.qualifies_for[0] == "manylinux_2_5_x86_64"  # GLIBC_2.2.5 is all that is left
