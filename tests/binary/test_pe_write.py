"""Tests for the PE writer: DLL names renamed in the import and delay-load import tables.

Fixtures are the mingw-w64 / clang + lld DLL graph of ``tests/_pe_builds.py``. Every edit is
re-read by the project's reader and checked by two reference tools (``llvm-readobj --coff-imports``,
binutils ``objdump -p``), its checksum by pefile; the renamed graph is loaded by Wine's loader; the
writer is fuzzed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _pe_builds import EXPECTED, PeGraph, build_pe_graph, mingw_runtime_dirs, run_in_wine
from _toolchain import require, run
from native_doctor.binary._bytes import BytesSource
from native_doctor.binary.pe import read_pe
from native_doctor.binary.pe_write import (
    PeEdit,
    PeEdited,
    PeWriteError,
    check_pe_invariants,
    edit_pe,
    pe_checksum,
)
from native_doctor.errors import NativeDoctorError

pytestmark = pytest.mark.toolchain

FUZZ = settings(
    max_examples=int(os.environ.get("NATIVE_DOCTOR_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> PeGraph:
    return build_pe_graph(tmp_path_factory.mktemp("pe_graph"))


def _file(graph: PeGraph, name: str) -> bytes:
    return (graph.ext if name == "ext.pyd" else graph.libs / name).read_bytes()


def _checksum_offset(data: bytes) -> int:
    (pe,) = struct.unpack_from("<I", data, 0x3C)
    return pe + 24 + 64


def _readobj_imports(path: Path) -> tuple[list[str], list[str]]:
    """(imported DLL names, delay-imported DLL names) as llvm-readobj lists them."""
    text = run(require("llvm-readobj"), "--coff-imports", path)
    imports, delayed = [], []
    for block in re.split(r"\n(?=(?:Import|DelayImport) \{)", text):
        match = re.search(r"^\s*Name: (\S+)", block, re.M)
        if match is None:
            continue
        (delayed if block.lstrip().startswith("DelayImport") else imports).append(match.group(1))
    return imports, delayed


def _objdump_imports(path: Path) -> list[str]:
    text = run(require("x86_64-w64-mingw32-objdump"), "-p", path)
    return re.findall(r"DLL Name: (\S+)", text)


_CXX_RUNTIME = {
    "libstdc++-6.dll": "libstdc++-6-a1b2c3d4.dll",
    "libgcc_s_seh-1.dll": "libgcc_s_seh-1-d4c3b2a1.dll",
}
#: (file, rename, may use padding, where the names go: "in place", a section's padding, "new section")
EDITS = [
    pytest.param(
        "ext.pyd", {"libchain.dll": "libchain-0123abcd.dll"}, True, ".rdata", id="import-longer-padding"
    ),
    pytest.param("ext.pyd", {"libchain.dll": "chain.dll"}, True, "in place", id="import-shorter-in-place"),
    pytest.param("ext.pyd", {"LIBCHAIN.DLL": "libchain-0123abcd.dll"}, True, ".rdata", id="case-insensitive"),
    pytest.param("ext.pyd", {"lazy.dll": "lazy-89abcdef.dll"}, True, ".rdata", id="delay-import"),
    pytest.param(
        "ext.pyd",
        {"lazy.dll": "lazy-89abcdef.dll", "libcxx.dll": "libcxx-00112233.dll", "libchain.dll": "lc.dll"},
        True,
        ".rdata",
        id="import-and-delay-import-mixed",
    ),
    pytest.param("libcxx.dll", _CXX_RUNTIME, True, ".data", id="gnu-ld-dll-padding"),
    pytest.param("libcxx.dll", _CXX_RUNTIME, False, "new section", id="gnu-ld-dll-new-section"),
    pytest.param(
        "libchain.dll", {"libbase.dll": "libbase-0f0f0f0f.dll"}, False, "new section", id="gnu-ld-chain"
    ),
]


#: Where the names stay inside the section holding the import directory (lld: .rdata).
_IN_IMPORT_SECTION = {"in place", ".rdata"}


def _placement(edited: PeEdited) -> str:
    return "new section" if edited.section_added else edited.slack_section or "in place"


@pytest.mark.parametrize(("name", "rename", "padding", "placement"), EDITS)
def test_rename_read_back_by_reader_and_reference_tools(
    graph: PeGraph, tmp_path: Path, name: str, rename: dict[str, str], padding: bool, placement: str
) -> None:
    import pefile

    data = _file(graph, name)
    before = read_pe(BytesSource(data), deep=True)
    edited = edit_pe(data, PeEdit(rename, use_padding=padding))
    assert _placement(edited) == placement
    lowered = {k.lower(): v for k, v in rename.items()}
    expect_needed = tuple(lowered.get(n.lower(), n) for n in before.needed)
    expect_delayed = tuple(lowered.get(n.lower(), n) for n in before.delay_needed)
    assert check_pe_invariants(edited.data) == []
    after = read_pe(BytesSource(edited.data), deep=True)
    assert (after.needed, after.delay_needed) == (expect_needed, expect_delayed)
    assert after.imported_symbols == before.imported_symbols
    assert after.exported_symbols == before.exported_symbols
    out = tmp_path / name
    out.write_bytes(edited.data)
    assert _readobj_imports(out) == (list(expect_needed), list(expect_delayed))
    if placement in _IN_IMPORT_SECTION:
        assert _objdump_imports(out) == list(expect_needed)
    else:  # binutils stops listing at the first name outside the import section (docs/differences.md)
        assert _objdump_imports(out) == list(expect_needed)[: len(_objdump_imports(out))]
    pe = pefile.PE(data=edited.data)
    # GNU ld writes a CheckSum, lld writes 0 ("not checked"): a nonzero one is kept correct.
    was_checked = pefile.PE(data=data).OPTIONAL_HEADER.CheckSum != 0
    assert pe.OPTIONAL_HEADER.CheckSum == (pe.generate_checksum() if was_checked else 0)
    assert pe_checksum(edited.data, _checksum_offset(edited.data)) == pe.generate_checksum()


def test_unrelated_rename_changes_nothing(graph: PeGraph) -> None:
    data = _file(graph, "ext.pyd")
    assert edit_pe(data, PeEdit({"absent.dll": "absent-12345678.dll"})).data == data
    assert edit_pe(data, PeEdit({"libchain.dll": "libchain.dll"})).data == data


def test_overlay_stays_at_its_offset(graph: PeGraph) -> None:
    data = _file(graph, "ext.pyd")
    overlay = b"trailing data some installers and tools append" * 7
    edited = edit_pe(data + overlay, PeEdit({"libchain.dll": "libchain-0123abcd.dll"})).data
    assert edited[len(data) : len(data) + len(overlay)] == overlay
    assert edited[:0x3C] == data[:0x3C]
    assert check_pe_invariants(edited) == []


def _signed(data: bytes) -> bytes:
    """``data`` with a WIN_CERTIFICATE (PKCS#7 type) appended and the security directory set."""
    padded = data + b"\0" * (-len(data) % 8)
    certificate = struct.pack("<IHH", 8 + 24, 0x0200, 0x0002) + b"\x30\x82" + b"\x5a" * 22
    out = bytearray(padded + certificate)
    (pe,) = struct.unpack_from("<I", out, 0x3C)
    (magic,) = struct.unpack_from("<H", out, pe + 24)
    directories = pe + 24 + (96 if magic == 0x10B else 112)
    struct.pack_into("<II", out, directories + 4 * 8, len(padded), len(certificate))
    struct.pack_into("<I", out, pe + 24 + 64, pe_checksum(out, pe + 24 + 64))
    return bytes(out)


def test_authenticode_signature_removed_with_a_warning(graph: PeGraph) -> None:
    import pefile

    signed = _signed(_file(graph, "ext.pyd"))
    assert check_pe_invariants(signed) == []
    edited = edit_pe(signed, PeEdit({"libchain.dll": "libchain-0123abcd.dll"}))
    assert edited.signature_removed
    assert "Authenticode" in edited.warnings[0]
    pe = pefile.PE(data=edited.data)
    security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[4]
    assert (security.VirtualAddress, security.Size) == (0, 0)
    assert b"\x5a" * 22 not in edited.data
    assert check_pe_invariants(edited.data) == []
    # Nothing to rename: the signature still matches and stays.
    assert edit_pe(signed, PeEdit({"absent.dll": "x.dll"})).data == signed


def test_no_room_for_a_section_header_is_refused(graph: PeGraph) -> None:
    """lld fills ext.pyd's headers with section headers (debug sections): no room for one more."""
    data = _file(graph, "ext.pyd")
    with pytest.raises(PeWriteError, match="no room for one more section header"):
        edit_pe(data, PeEdit({"libchain.dll": "libchain-0123abcd.dll"}, use_padding=False))
    # A shorter name still fits in place.
    edited = edit_pe(data, PeEdit({"libchain.dll": "c.dll"}, use_padding=False))
    assert "c.dll" in read_pe(BytesSource(edited.data)).needed


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("bad/name.dll", "not a plain file name", id="path"),
        pytest.param("", "not a plain file name", id="empty"),
        pytest.param("n\u00e4me.dll", "not ASCII", id="non-ascii"),
    ],
)
def test_bad_new_names_are_refused(graph: PeGraph, name: str, message: str) -> None:
    with pytest.raises(PeWriteError, match=message):
        edit_pe(_file(graph, "ext.pyd"), PeEdit({"libchain.dll": name}))


def test_renamed_graph_loads_under_wine(graph: PeGraph, tmp_path: Path) -> None:
    """The Windows loader (Wine's) follows the new names, from a new section and in place."""
    rename = {
        "libchain.dll": "libchain-0123abcd.dll",
        "libcxx.dll": "cx.dll",
        "lazy.dll": "lazy-89abcdef.dll",
    }
    folder = tmp_path / "libs"
    folder.mkdir()
    for old, new in rename.items():
        shutil.copy(graph.libs / old, folder / new)
    shutil.copy(graph.libs / "libbase.dll", folder / "libbase.dll")
    module = tmp_path / "ext.pyd"
    module.write_bytes(edit_pe(graph.ext.read_bytes(), PeEdit(rename)).data)
    value = run_in_wine(
        graph.loader,
        module,
        "PyInit_ext",
        folder,
        *mingw_runtime_dirs(),
        preload=(folder / "lazy-89abcdef.dll",),
        prefix_root=tmp_path,
    )
    assert int(value) == EXPECTED


@FUZZ
@given(st.data())
def test_fuzz_any_bytes_give_a_result_or_the_projects_error(graph: PeGraph, data: st.DataObject) -> None:
    original = _file(graph, "ext.pyd")
    blob = bytearray(original[: data.draw(st.integers(64, len(original)))])
    for _ in range(data.draw(st.integers(0, 8))):
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    try:
        edited = edit_pe(bytes(blob), PeEdit({"libchain.dll": "libchain-0123abcd.dll", "lazy.dll": "l.dll"}))
    except NativeDoctorError:
        return
    assert check_pe_invariants(edited.data) == [] or check_pe_invariants(bytes(blob)) != []


@FUZZ
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes(blob: bytes) -> None:
    assert isinstance(check_pe_invariants(blob), list)
    with contextlib.suppress(NativeDoctorError):
        edit_pe(b"MZ" + blob, PeEdit({"a.dll": "b-12345678.dll"}))
