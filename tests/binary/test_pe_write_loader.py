"""The PE writer against more oracles: a Windows loader (Wine's), binutils ``objdump -p`` and
pefile's checksum, on the mingw-w64 / clang + lld DLL graph of ``tests/_pe_builds.py`` (a C
chain, C++ with the mingw runtime DLLs, a delay-loaded DLL). ``test_pe_write.py`` holds the
reader/llvm-readobj agreement, refusals, planted defects and fuzzing."""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import pytest

from _pe_builds import EXPECTED, PeGraph, build_pe_graph, mingw_runtime_dirs, run_in_wine
from _toolchain import require, run
from native_doctor.binary._bytes import BytesSource
from native_doctor.binary.pe import read_pe
from native_doctor.binary.pe_write import PeEdit, check_pe_invariants, edit_pe, has_signature, pe_checksum

pytestmark = pytest.mark.toolchain

_CXX_RUNTIME = {
    "libstdc++-6.dll": "libstdc++-6-a1b2c3d4.dll",
    "libgcc_s_seh-1.dll": "libgcc_s_seh-1-d4c3b2a1.dll",
}


@pytest.fixture(scope="module")
def graph(tmp_path_factory: pytest.TempPathFactory) -> PeGraph:
    return build_pe_graph(tmp_path_factory.mktemp("pe_graph"))


def _file(graph: PeGraph, name: str) -> bytes:
    return (graph.ext if name == "ext.pyd" else graph.libs / name).read_bytes()


def _objdump_imports(path: Path) -> list[str]:
    return re.findall(r"DLL Name: (\S+)", run(require("x86_64-w64-mingw32-objdump"), "-p", path))


@pytest.mark.parametrize(
    ("name", "rename"),
    [
        pytest.param("ext.pyd", {"libchain.dll": "libchain-0123abcd.dll"}, id="lld-headers-grow"),
        pytest.param("ext.pyd", {"libchain.dll": "chain.dll"}, id="lld-in-place"),
        pytest.param("libcxx.dll", _CXX_RUNTIME, id="gnu-ld-new-section"),
        pytest.param("libchain.dll", {"libbase.dll": "b.dll"}, id="gnu-ld-in-place"),
    ],
)
def test_objdump_and_pefile_agree(graph: PeGraph, tmp_path: Path, name: str, rename: dict[str, str]) -> None:
    import pefile

    data = _file(graph, name)
    edited = edit_pe(data, PeEdit(replace_imports=rename))
    assert check_pe_invariants(edited) == ()
    before = read_pe(BytesSource(data))
    expected = [rename.get(n, n) for n in before.needed]
    assert list(read_pe(BytesSource(edited)).needed) == expected
    out = tmp_path / name
    out.write_bytes(edited)
    listed = _objdump_imports(out)
    # binutils lists import names only while they lie in the import directory's own section: a
    # name moved to the new section ends its listing (docs/differences.md); the reader and
    # llvm-readobj (test_pe_write.py) read them all.
    assert listed == expected[: len(listed)]
    if all(len(new) <= len(old) for old, new in rename.items()):
        assert listed == expected
    pe = pefile.PE(data=edited)
    (pe_at,) = struct.unpack_from("<I", edited, 0x3C)
    assert pe_checksum(edited, pe_at + 24 + 64) == pe.generate_checksum()
    if pefile.PE(data=data).OPTIONAL_HEADER.CheckSum:  # GNU ld writes one; lld writes 0
        assert pe.OPTIONAL_HEADER.CheckSum == pe.generate_checksum()


def test_overlay_stays_at_its_offset(graph: PeGraph) -> None:
    data = _file(graph, "libcxx.dll")
    overlay = b"trailing data some installers and tools append" * 7
    edited = edit_pe(data + overlay, PeEdit(replace_imports=_CXX_RUNTIME))
    assert edited[len(data) : len(data) + len(overlay)] == overlay
    assert check_pe_invariants(edited) == ()


def test_has_signature(graph: PeGraph) -> None:
    data = bytearray(_file(graph, "libbase.dll"))
    assert not has_signature(bytes(data))
    (pe_at,) = struct.unpack_from("<I", data, 0x3C)
    padded = len(data) + (-len(data) % 8)
    data += bytes(padded - len(data)) + struct.pack("<IHH", 16, 0x200, 2) + bytes(8)
    struct.pack_into("<II", data, pe_at + 24 + 112 + 4 * 8, padded, 16)
    assert has_signature(bytes(data))
    dropped = edit_pe(
        bytes(data), PeEdit(replace_imports={"msvcrt.dll": "msvcrt-0123abcd.dll"}, drop_signature=True)
    )
    assert not has_signature(dropped)
    assert not has_signature(b"MZ not a PE")


def test_renamed_graph_loads_under_wine(graph: PeGraph, tmp_path: Path) -> None:
    """Wine's loader follows the new names: in place, and in a new section after the headers grew
    (lld), for imports and a delay-loaded DLL."""
    rename = {
        "libchain.dll": "libchain-0123abcd.dll",
        "libcxx.dll": "cx.dll",
        "lazy.dll": "lazy-89abcdef.dll",
    }
    folder = tmp_path / "libs"
    folder.mkdir()
    for old, new in rename.items():
        shutil.copy(graph.libs / old, folder / new)
    (folder / "libbase-0f0f0f0f.dll").write_bytes(
        _file(graph, "libbase.dll")
    )  # libchain's import renamed too
    chain = edit_pe(
        _file(graph, "libchain.dll"), PeEdit(replace_imports={"libbase.dll": "libbase-0f0f0f0f.dll"})
    )
    (folder / "libchain-0123abcd.dll").write_bytes(chain)
    module = tmp_path / "ext.pyd"
    module.write_bytes(edit_pe(graph.ext.read_bytes(), PeEdit(replace_imports=rename)))
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
