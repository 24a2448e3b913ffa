"""An independent checker of embedded Mach-O code signatures, for tests only.

Written separately from ``native_doctor.binary.codesign`` (it imports nothing from the package):
it walks the load commands itself, reads the SuperBlob, and recomputes every CodeDirectory's page
hashes and the requirements special slot from the file's bytes. Its own correctness is shown by
accepting what ld64.lld and Apple's ``codesign`` wrote (the corpus wheels).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

__all__ = ["Directory", "check_file", "check_image", "check_signed_slices", "images", "is_signed"]

_ALGORITHMS = {1: "sha1", 2: "sha256", 3: "sha256", 4: "sha384"}


@dataclass(frozen=True)
class Directory:
    """What a CodeDirectory says, as read by this checker."""

    slot: int
    version: int
    flags: int
    identifier: str
    hash_type: int
    page_shift: int
    code_limit: int
    n_code: int
    n_special: int
    exec_seg: tuple[int, int, int]
    hashes: tuple[bytes, ...]


def images(data: bytes) -> list[bytes]:
    """Thin images of a thin or fat file."""
    magic = struct.unpack(">I", data[:4])[0]
    if magic not in (0xCAFEBABE, 0xCAFEBABF):
        return [data]
    count = struct.unpack(">I", data[4:8])[0]
    out = []
    for i in range(count):
        if magic == 0xCAFEBABE:
            _c, _s, off, size, _a = struct.unpack(">iIIII", data[8 + 20 * i : 28 + 20 * i])
        else:
            _c, _s, off, size, _a, _r = struct.unpack(">iIQQII", data[8 + 32 * i : 40 + 32 * i])
        out.append(data[off : off + size])
    return out


def _commands(image: bytes) -> list[tuple[int, bytes]]:
    is64 = image[:4] == b"\xcf\xfa\xed\xfe"
    ncmds = struct.unpack("<I", image[16:20])[0]
    at = 32 if is64 else 28
    out = []
    for _ in range(ncmds):
        cmd, size = struct.unpack("<II", image[at : at + 8])
        out.append((cmd, image[at : at + size]))
        at += size
    return out


def check_image(image: bytes) -> list[Directory]:
    """Every CodeDirectory of a little-endian thin image, after asserting that each one matches."""
    sig = [body for cmd, body in _commands(image) if cmd == 0x1D]
    assert len(sig) == 1, "exactly one LC_CODE_SIGNATURE"
    dataoff, datasize = struct.unpack("<II", sig[0][8:16])
    assert dataoff % 16 == 0, "signature 16-byte aligned"
    assert dataoff + datasize == len(image), "the signature ends the image"
    linkedit = [b for c, b in _commands(image) if c == 0x19 and b[8:24].rstrip(b"\0") == b"__LINKEDIT"]
    if linkedit:
        _vmaddr, vmsize, fileoff, filesize = struct.unpack("<4Q", linkedit[0][24:56])
        assert fileoff + filesize == dataoff + datasize, "__LINKEDIT covers the signature"
        assert vmsize >= filesize
    blob = image[dataoff : dataoff + datasize]
    magic, length, count = struct.unpack(">III", blob[:12])
    assert magic == 0xFADE0CC0 and length <= datasize
    index = [struct.unpack(">II", blob[12 + 8 * i : 20 + 8 * i]) for i in range(count)]
    blobs = {slot: blob[off : off + struct.unpack(">I", blob[off + 4 : off + 8])[0]] for slot, off in index}
    found = []
    for slot, body in blobs.items():
        if slot == 0 or 0x1000 <= slot < 0x1005:
            found.append(_check_directory(image, body, slot, dataoff, blobs))
    assert found, "a CodeDirectory"
    return found


def _check_directory(image: bytes, cd: bytes, slot: int, dataoff: int, blobs: dict[int, bytes]) -> Directory:
    fields = struct.unpack(">9I4B", cd[:40])
    magic, _length, version, flags, hash_offset, ident_offset, n_special, n_code, code_limit = fields[:9]
    hash_size, hash_type, _platform, page_shift = fields[9:]
    assert magic == 0xFADE0C02
    assert code_limit == dataoff, "code limit is where the signature starts"
    algorithm = _ALGORITHMS[hash_type]
    page = 1 << page_shift
    assert n_code == (code_limit + page - 1) // page
    hashes = []
    for i in range(n_code):
        want = cd[hash_offset + i * hash_size : hash_offset + (i + 1) * hash_size]
        chunk = image[i * page : min((i + 1) * page, code_limit)]
        assert hashlib.new(algorithm, chunk).digest()[:hash_size] == want, f"page {i} of slot {slot:#x}"
        hashes.append(want)
    if n_special >= 2 and 2 in blobs:
        requirements = cd[hash_offset - 2 * hash_size : hash_offset - hash_size]
        assert hashlib.new(algorithm, blobs[2]).digest()[:hash_size] == requirements, "requirements slot"
    identifier = cd[ident_offset:].split(b"\0", 1)[0].decode()
    exec_seg = struct.unpack(">3Q", cd[64:88]) if version >= 0x20400 else (0, 0, 0)
    return Directory(
        slot,
        version,
        flags,
        identifier,
        hash_type,
        page_shift,
        code_limit,
        n_code,
        n_special,
        exec_seg,
        tuple(hashes),
    )


def check_file(data: bytes) -> list[list[Directory]]:
    """``check_image`` for every slice."""
    return [check_image(image) for image in images(data)]


def is_signed(image: bytes) -> bool:
    """Whether a thin image has an LC_CODE_SIGNATURE command."""
    return any(cmd == 0x1D for cmd, _ in _commands(image))


def check_signed_slices(data: bytes) -> int:
    """Check every signed slice (arm64 slices must be signed); the number of slices checked."""
    checked = 0
    for image in images(data):
        arm64 = struct.unpack("<i", image[4:8])[0] == 0x0100000C
        if arm64 or is_signed(image):
            check_image(image)
            checked += 1
    return checked
