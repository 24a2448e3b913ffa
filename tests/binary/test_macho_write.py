"""Tests for the Mach-O writer and the ad-hoc signer.

Oracles: ``llvm-otool -L/-l`` and ``llvm-lipo -info`` read the output; the reader re-reads it;
an independent signature checker (``tests/_codesign_check.py``) recomputes every page hash; the
signatures ld64.lld and Apple's ``codesign`` wrote (corpus wheels) are reproduced.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _codesign_check import check_file, check_image, images
from _corpus import CorpusWheel, corpus_params, ensure
from _macho_builds import MachOBuilder
from _toolchain import run
from native_doctor.binary import BytesSource
from native_doctor.binary.codesign import sign_image, signature_problems
from native_doctor.binary.macho import read_macho
from native_doctor.binary.macho_write import MachOEdit, MachOWriteError, edit_macho
from native_doctor.errors import NativeDoctorError

pytestmark = pytest.mark.toolchain

HOMEBREW = "/opt/homebrew/opt/foo/lib/libfoo.1.dylib"
NEW_FOO = "@loader_path/.dylibs/libfoo.1.dylib"
EDIT = MachOEdit(
    change_names={HOMEBREW: NEW_FOO},
    rpaths=("@loader_path/.dylibs",),
    identifier="ext.so",
)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A Homebrew-style libfoo and a bundle needing it (with a build-machine LC_RPATH), per arch."""
    b = MachOBuilder(tmp_path_factory.mktemp("macho_write"))
    out: dict[str, Path] = {}
    for arch in ("arm64", "x86_64"):
        foo = b.link("libfoo.1.dylib", "foo.c", arch, install_name=HOMEBREW)
        system = b.system(arch)
        pad = ("-Wl,-headerpad_max_install_names",)
        out[f"foo-{arch}"] = foo
        out[f"ext-{arch}"] = b.link(
            "ext.so",
            "ext.c",
            arch,
            mode="-bundle",
            libs=(foo, system),
            rpaths=("/Users/ci/build/lib",),
            extra=pad,
        )
        out[f"tight-{arch}"] = b.link("tight.so", "ext.c", arch, mode="-bundle", libs=(foo, system))
    out["ext-fat"] = b.fat("ext-fat.so", out["ext-x86_64"], out["ext-arm64"])
    out["otool"] = Path(b.otool)
    out["lipo"] = Path(b.lipo)
    return out


def otool_names(otool: Path, path: Path) -> list[str]:
    lines = run(otool, "-L", path).splitlines()[1:]
    return [line.split(" (compatibility")[0].strip() for line in lines if "(compatibility" in line]


def otool_rpaths(otool: Path, path: Path) -> list[str]:
    lines = run(otool, "-l", path).splitlines()
    return [lines[i + 2].split()[1] for i, line in enumerate(lines) if line.strip() == "cmd LC_RPATH"]


@pytest.mark.parametrize("kind", ["arm64", "x86_64", "fat"])
def test_edit_names_and_rpaths(builds: dict[str, Path], kind: str, tmp_path: Path) -> None:
    data = builds[f"ext-{kind}"].read_bytes()
    out = edit_macho(data, EDIT)
    path = tmp_path / "ext.so"
    path.write_bytes(out)
    names = otool_names(builds["otool"], path)
    assert NEW_FOO in names and HOMEBREW not in names
    assert set(otool_rpaths(builds["otool"], path)) == {"@loader_path/.dylibs"}
    info = read_macho(BytesSource(out))
    assert info.needed == (NEW_FOO, "/usr/lib/libSystem.B.dylib")
    assert info.rpath == ("@loader_path/.dylibs",)
    for directories in check_file(out):  # every slice signed, every page hash right
        assert [d.identifier for d in directories] == ["ext.so"]
    if kind == "fat":
        assert "x86_64 arm64" in run(builds["lipo"], "-info", path)
    # deterministic, and applying the same edit again changes nothing
    assert edit_macho(data, EDIT) == out
    assert edit_macho(out, EDIT) is out


def test_install_id_and_unsigned_x86_64_gets_signed(builds: dict[str, Path]) -> None:
    data = builds["foo-x86_64"].read_bytes()
    with pytest.raises(AssertionError, match="exactly one LC_CODE_SIGNATURE"):
        check_image(data)
    out = edit_macho(data, MachOEdit(install_id="@rpath/libfoo.1.dylib", identifier="libfoo.1.dylib"))
    assert read_macho(BytesSource(out)).install_name == "@rpath/libfoo.1.dylib"
    [directory] = check_image(out)
    assert directory.identifier == "libfoo.1.dylib"


def test_no_room_is_refused_with_headerpad_advice(builds: dict[str, Path]) -> None:
    data = builds["tight-arm64"].read_bytes()
    long_name = "@loader_path/" + "x" * 400 + "/libfoo.1.dylib"
    with pytest.raises(MachOWriteError, match="headerpad_max_install_names"):
        edit_macho(data, MachOEdit(change_names={HOMEBREW: long_name}))
    # the same name fits a file linked with -headerpad_max_install_names
    padded = builds["ext-arm64"].read_bytes()
    assert (
        long_name
        in read_macho(BytesSource(edit_macho(padded, MachOEdit(change_names={HOMEBREW: long_name})))).needed
    )


def test_removing_rpaths_and_shrinking_names(builds: dict[str, Path]) -> None:
    data = builds["ext-arm64"].read_bytes()
    out = edit_macho(data, MachOEdit(change_names={HOMEBREW: "@rpath/f"}, rpaths=()))
    info = read_macho(BytesSource(out))
    assert (info.rpath, info.needed[0]) == ((), "@rpath/f")
    check_image(out)


def test_signature_shape_matches_ld64_lld(builds: dict[str, Path]) -> None:
    """Re-signing what lld signed: same code limit, pages, page size and executable segment;
    every page hash but the header's (whose signature size changed) is lld's."""
    data = builds["ext-arm64"].read_bytes()
    [lld] = check_image(data)
    [ours] = check_image(sign_image(data, lld.identifier))
    assert (ours.code_limit, ours.n_code, ours.page_shift, ours.hash_type, ours.exec_seg) == (
        lld.code_limit,
        lld.n_code,
        lld.page_shift,
        lld.hash_type,
        lld.exec_seg,
    )
    assert ours.hashes[1:] == lld.hashes[1:]
    # lld marks its signature linker-signed (0x20000); codesign -s - (and we) write plain CS_ADHOC
    assert (lld.flags, ours.flags) == (0x20002, 0x2)
    assert (lld.n_special, ours.n_special) == (0, 2)


def _corpus_images(entry: CorpusWheel) -> list[tuple[str, bytes]]:
    found = []
    with zipfile.ZipFile(ensure(entry)) as archive:
        for name in archive.namelist():
            if name.endswith((".so", ".dylib")):
                found += [(f"{name}[{i}]", image) for i, image in enumerate(images(archive.read(name)))]
    return found


def _is_signed(image: bytes) -> bool:
    return "no LC_CODE_SIGNATURE" not in signature_problems(image)


MACOS = [
    p for family in ("macos-arm64", "macos-x86_64", "macos-universal2") for p in corpus_params(family=family)
]


def _reproduce(name: str, image: bytes) -> bool:
    """Re-sign a ``codesign -s -`` SHA-256 signature with its identifier: codesign's bytes come
    back (the signature blob and everything before it). False when the image is not of that kind."""
    directories = check_image(image)
    [primary] = [d for d in directories if d.slot == 0]
    if len(directories) != 1 or primary.hash_type != 2 or primary.flags != 0x2:
        return False
    again = sign_image(image, primary.identifier)
    offset = primary.code_limit
    length = struct.unpack(">I", image[offset + 4 : offset + 8])[0]
    assert again[: offset + length] == image[: offset + length], name
    return True


@pytest.mark.parametrize("entry", MACOS)
def test_real_signatures_verify(entry: CorpusWheel) -> None:
    """Both checkers accept every signature of the corpus' macOS wheels (lld, ld64 and codesign
    signatures, SHA-1 + SHA-256 ones included); our re-signature of each verifies too."""
    for name, image in _corpus_images(entry):
        if not _is_signed(image):
            continue
        assert signature_problems(image) == [], name
        check_image(image)
        _reproduce(name, image)
        check_image(sign_image(image, "x"))


CODESIGNED = {
    "numpy": "numpy/linalg/lapack_lite.cpython-312-darwin.so",
    "pillow": "PIL/_imaging.cpython-313-darwin.so",  # 16 KiB pages
    "scipy": "scipy/odr/__odrpack.cpython-312-darwin.so",
}


@pytest.mark.parametrize(
    "entry",
    [
        p
        for family in ("macos-arm64", "macos-x86_64")
        for p in corpus_params(family=family)
        if p.id.split("-")[0] in CODESIGNED
    ],
)
def test_codesign_signature_reproduced(entry: CorpusWheel) -> None:
    member = CODESIGNED[entry.filename.split("-")[0]]
    with zipfile.ZipFile(ensure(entry)) as archive:
        assert _reproduce(member, archive.read(member))


FUZZ = settings(
    max_examples=int(os.environ.get("NATIVE_DOCTOR_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@FUZZ
@given(st.data())
def test_fuzz_mutated_inputs(builds: dict[str, Path], data: st.DataObject) -> None:
    """Any mutation of a real file: bytes out or the project's own error, never a crash."""
    original = bytearray(builds["ext-fat" if data.draw(st.booleans()) else "ext-arm64"].read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        # mostly the header and load commands, sometimes anywhere (the signature too)
        limit = len(original) - 1 if data.draw(st.booleans()) else min(len(original) - 1, 4200)
        original[data.draw(st.integers(0, limit))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(original)))
    blob = bytes(original[:cut]) if data.draw(st.booleans()) else bytes(original)
    try:
        out = edit_macho(blob, EDIT)
    except NativeDoctorError:
        return
    assert isinstance(out, bytes)


@FUZZ
@given(st.data())
def test_fuzz_signer_and_checker(builds: dict[str, Path], data: st.DataObject) -> None:
    """The signer and the signature check on mutated images: bytes, a list, or our own error."""
    image = bytearray(builds["ext-arm64"].read_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        image[data.draw(st.integers(0, len(image) - 1))] = data.draw(st.integers(0, 255))
    blob = bytes(image[: data.draw(st.integers(0, len(image)))]) if data.draw(st.booleans()) else bytes(image)
    for call in (lambda: sign_image(blob, "x"), lambda: signature_problems(blob)):
        with contextlib.suppress(NativeDoctorError):
            result = call()
            assert isinstance(result, bytes | list)
