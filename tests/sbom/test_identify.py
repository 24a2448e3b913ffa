"""Identification and version evidence on synthetic bytes with planted version strings."""

from __future__ import annotations

import pytest

from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.sbom.catalog import libraries, library_named
from native_doctor.sbom.evidence import MAX_HITS, scan
from native_doctor.sbom.identify import embedded, identify, library_of, normalized_name

_EMBEDDABLE = tuple(lib for lib in libraries() if lib.embedded)


def _elf(soname: str | None = None) -> BinaryInfo:
    return BinaryInfo(BinaryFormat.ELF, "x86_64", 64, "little", FileKind.SHARED_LIBRARY, soname=soname)


def _version(path: str, data: bytes, arch: str = "x86_64") -> tuple[str | None, str | None]:
    """(library, version) the pure pipeline gives a file called ``path`` with bytes ``data``."""
    own = library_of(path)
    found = identify(path, _elf(), scan(data, own, _EMBEDDABLE, arch=arch, soname=normalized_name(path)), own)
    return (found.library.name, found.version) if found else (None, None)


def _padded(*strings: bytes) -> bytes:
    return b"\x7fELF" + b"\x00" * 64 + b"".join(b"\x00" + s + b"\x00" for s in strings) + b"\x00" * 64


def _mov_ret(value: int) -> bytes:
    return b"\xb8" + value.to_bytes(4, "little") + b"\xc3"


CASES = [
    # (id, member path, planted bytes, library, version)
    (
        "openssl-string",
        "x.libs/libcrypto-1a2b3c4d.so.3",
        _padded(b"OpenSSL 3.0.13 30 Jan 2024"),
        "openssl",
        "3.0.13",
    ),
    (
        "openssl-letter",
        "x.libs/libcrypto-1a2b3c4d.so.1.1",
        _padded(b"OpenSSL 1.1.1w  11 Sep 2023"),
        "openssl",
        "1.1.1w",
    ),
    (
        "jpeg-turbo",
        "x.libs/libjpeg-6dc8d115.so.62.4.0",
        _padded(b"libjpeg-turbo version 3.0.4 (build 20240912)"),
        "libjpeg-turbo",
        "3.0.4",
    ),
    ("libtiff", "x.libs/libtiff-aaaaaaaa.so.6.0.2", _padded(b"LIBTIFF, Version 4.6.0"), "libtiff", "4.6.0"),
    (
        "openblas",
        "numpy.libs/libscipy_openblas64_-32a4b2a6.so",
        _padded(b"OpenBLAS 0.3.31.188.0  USE64BITINT DYNAMIC_ARCH"),
        "openblas",
        "0.3.31",
    ),
    (
        "hdf5",
        "h5py.libs/libhdf5-9e18f0c6.so.320.0.0",
        _padded(b"                   HDF5 Version: 1.14.4"),
        "hdf5",
        "1.14.4",
    ),
    (
        "build-path",
        "x.libs/libopenjp2-e530e1bf.so",
        _padded(b"/project/build/openjpeg-2.5.2/src/lib/j2k.c"),
        "openjpeg",
        "2.5.2",
    ),
    (
        "debuglink",
        "x.libs/libXau-154567c4.so.6.0.0",
        _padded(b"libXau.so.6.0.0-1.0.9-3.el8.x86_64.debug"),
        "libXau",
        "1.0.9",
    ),
    ("soname-same", "x.libs/liblzma-de26b416.so.5.8.4", _padded(), "xz", "5.8.4"),
    ("soname-libpng", "x.libs/libpng16-1d1ba958.so.16.44.0", _padded(), "libpng", "1.6.44"),
    ("soname-harfbuzz", "x.libs/libharfbuzz-fb49c9fc.so.0.60830.0", _padded(), "harfbuzz", "8.3.0"),
    ("soname-lcms2", "x.libs/liblcms2-88eaba2f.so.2.0.16", _padded(), "lcms2", "2.16"),
    ("soname-freetype-table", "x.libs/libfreetype-57f805ba.so.6.20.2", _padded(), "freetype", "2.13.3"),
    ("soname-zmq", "zmq.libs/libzmq-2f02442c.so.5.2.4", _padded(), "libzmq", "4.3.4"),
    ("code-webp", "x.libs/libwebp-51b0b3f7.so.7.2.0", _padded() + _mov_ret(0x010500) * 2, "libwebp", "1.5.0"),
    (
        "code-webp-once-is-not-enough",
        "x.libs/libwebp-51b0b3f7.so.7.2.0",
        _padded() + _mov_ret(0x010500),
        "libwebp",
        None,
    ),
    ("code-libpq", "x.libs/libpq-a17e3caa.so.5.16", _padded() + _mov_ret(160004), "libpq", "16.4"),
    (
        "code-ambiguous",
        "x.libs/libpq-a17e3caa.so.5.16",
        _padded() + _mov_ret(160004) + _mov_ret(160005),
        "libpq",
        None,
    ),
    ("bare-unique", "x.libs/libsodium-6c8f8377.so.26.4.0", _padded(b"1.0.20"), "libsodium", "1.0.20"),
    (
        "bare-ambiguous",
        "x.libs/libsodium-6c8f8377.so.26.4.0",
        _padded(b"1.0.20", b"2.3.4"),
        "libsodium",
        None,
    ),
    (
        "bare-agrees-with-soname",
        "x.libs/libzstd-40ad5e7e.so.1.5.6",
        _padded(b"1.5.6", b"9.9.9"),
        "zstd",
        "1.5.6",
    ),
    (
        "string-beats-soname",
        "x.libs/libz-a147dcb0.so.1.2.13",
        _padded(b" deflate 1.3.1 Copyright 1995-2024 Jean-loup Gailly and Mark Adler "),
        "zlib",
        "1.3.1",
    ),
    (
        "gpl-runtime-no-version",
        "x.libs/libgfortran-040039e1-0352e75f.so.5.0.0",
        _padded(),
        "libgfortran",
        None,
    ),
    ("unknown", "x.libs/libfoo-12345678.so.1", _padded(b"OpenSSL 3.0.13 30 Jan 2024"), None, None),
    (
        "filename-version",
        "numpy.libs/libopenblas64__v0.3.23-293-gc2f4bdbb-gcc_10_3_0-2bde3a66a51006b2b53eb373ff767a3f.dll",
        _padded(),
        "openblas",
        "0.3.23",
    ),
    ("mingw-libgcc", "gmpy2.libs/libgcc_s_seh-1.dll", _padded(), "libgcc_s", None),
]


@pytest.mark.parametrize(
    ("path", "data", "library", "version"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_version_from_evidence(path: str, data: bytes, library: str | None, version: str | None) -> None:
    assert _version(path, data) == (library, version)


def test_machine_code_rule_only_for_x86_64() -> None:
    data = _padded() + _mov_ret(160004)
    assert _version("x.libs/libpq-a17e3caa.so.5.16", data, arch="aarch64") == ("libpq", None)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("pillow.libs/libz-a147dcb0.so.1.3.1", "libz.so.1.3.1"),
        ("numpy.libs/libgfortran-040039e1-0352e75f.so.5.0.0", "libgfortran.so.5.0.0"),
        ("scipy/.dylibs/libgfortran.5.dylib", "libgfortran.5.dylib"),
        ("numpy.libs\\libscipy_openblas64_-fb1711452d4d8cee9f276fd1449ee5c7.dll", "libscipy_openblas64_.dll"),
    ],
)
def test_normalized_name(path: str, expected: str) -> None:
    assert normalized_name(path) == expected


def test_library_from_own_soname_when_file_renamed() -> None:
    found = library_of("pkg/renamed_blob.so", _elf(soname="libssl.so.3"))
    assert found is not None
    assert found.name == "openssl"


def test_statically_linked_copies_are_found_in_extension_modules() -> None:
    data = _padded(b"OpenSSL 3.4.0 22 Oct 2024", b"libxml2: out of memory", b"21406", b"libxslt", b"10143")
    found = embedded(scan(data, None, _EMBEDDABLE), None)
    assert {(i.library.name, i.version) for i in found} == {
        ("openssl", "3.4.0"),
        ("libxml2", "2.14.6"),
        ("libxslt", "1.1.43"),
    }


def test_numeric_version_needs_the_library_named_in_the_file() -> None:
    assert embedded(scan(_padded(b"21406"), None, _EMBEDDABLE), None) == ()


def test_anchor_hits_are_bounded() -> None:
    noisy = b"OpenSSL x" * (MAX_HITS + 10) + b"\x00OpenSSL 3.0.13 30 Jan 2024\x00"
    own = library_named("openssl")
    assert scan(noisy, own) == ()  # the real string sits after MAX_HITS decoys: not looked at


def test_catalog_has_at_least_forty_libraries_with_unique_names() -> None:
    names = [lib.name for lib in libraries()]
    assert len(names) >= 40
    assert len(set(names)) == len(names)
    assert {lib.name for lib in libraries() if lib.runtime_gpl} >= {"libgfortran", "libquadmath", "libgomp"}


def test_symbol_versions_are_evidence_not_the_version() -> None:
    info = BinaryInfo(
        BinaryFormat.ELF,
        "x86_64",
        64,
        "little",
        FileKind.SHARED_LIBRARY,
        version_definitions=("OPENSSL_3.0.0", "OPENSSL_3.4.0", "GLIBC_2.99"),
    )
    found = identify("x.libs/libssl-8bd944e8.so.3", info, ())
    assert found is not None
    assert found.version is None  # a lower bound only: libssl takes its version from libcrypto
    assert [(e.kind, e.version) for e in found.evidence] == [("symver", "3.4.0")]
