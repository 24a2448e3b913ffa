"""Builders of hostile archives, written at test time byte by byte (nothing hostile is committed).

:func:`write_zip` lays out local headers, data and the central directory itself, so a test can
say exactly what a hostile archive carries: a corrupt deflate or LZMA stream, the encryption flag,
an unknown compression method, a name whose bytes are not UTF-8 although flagged UTF-8, or a
member that inflates to gigabytes (:func:`zeros_deflated` repeats one independently decodable
deflate block, so a 6 GiB member costs a few megabytes and no time to build).
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ELF_HEADER",
    "Member",
    "deflated",
    "lzma_member",
    "plain",
    "wheel_members",
    "write_zip",
    "zeros_deflated",
]

_UTF8 = 0x800
_ZIP64_MARK = 0xFFFFFFFF
#: The start of a 64-bit little-endian ELF shared object (enough for the sniffer).
ELF_HEADER = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHI", 3, 62, 1)


@dataclass(frozen=True)
class Member:
    """One zip member exactly as written: raw name bytes, method, flags, CRC and sizes."""

    name: bytes
    data: bytes  # the compressed bytes as stored
    file_size: int
    crc: int
    method: int = 8
    flags: int = 0
    #: The RECORD hash field: the real digest when known (a placeholder for bombs, never hashed whole).
    digest: str = "sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


def plain(name: str, data: bytes, *, method: int = 8) -> Member:
    """A well-formed member (deflated, or stored with ``method=0``)."""
    body = deflated(data) if method == 8 else data
    flags = 0 if name.isascii() else _UTF8
    return Member(name.encode(), body, len(data), zlib.crc32(data), method, flags, f"sha256={_digest(data)}")


def deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def lzma_member(name: str, data: bytes) -> Member:
    """A zip LZMA member (method 14): a 4-byte version/size header, then raw LZMA1 properties and data."""
    import lzma

    filters = [{"id": lzma.FILTER_LZMA1, "preset": 6}]
    raw = lzma.compress(data, format=lzma.FORMAT_RAW, filters=filters)
    props = lzma._encode_filter_properties(filters[0])  # type: ignore[attr-defined]
    body = struct.pack("<BBH", 9, 4, len(props)) + props + raw
    return Member(name.encode(), body, len(data), zlib.crc32(data), 14, digest=f"sha256={_digest(data)}")


def zeros_deflated(name: str, size: int, *, head: bytes = b"") -> Member:
    """A member of ``head`` then zeros up to ``size`` bytes, deflated in ~1 KiB per MiB."""
    block = 1 << 20
    assert size % block == 0 and len(head) < block
    first = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first_piece = first.compress(head + bytes(block - len(head))) + first.flush(zlib.Z_FULL_FLUSH)
    other = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    piece = other.compress(bytes(block)) + other.flush(zlib.Z_FULL_FLUSH)
    tail = other.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head + bytes(block - len(head)))
    zeros = bytes(block)
    for _ in range(size // block - 1):
        crc = zlib.crc32(zeros, crc)
    body = first_piece + piece * (size // block - 1) + tail
    return Member(name.encode(), body, size, crc)


def write_zip(path: Path, members: Sequence[Member]) -> Path:
    """Write ``members`` as a zip archive (zip64 sizes where a member needs them)."""
    out = bytearray()
    central = bytearray()
    for member in members:
        offset = len(out)
        big = member.file_size >= _ZIP64_MARK or len(member.data) >= _ZIP64_MARK
        sizes = (_ZIP64_MARK, _ZIP64_MARK) if big else (len(member.data), member.file_size)
        extra = struct.pack("<HHQQ", 1, 16, member.file_size, len(member.data)) if big else b""
        fixed = (20, member.flags, member.method, 0, 0x21, member.crc, *sizes, len(member.name))
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", *fixed, len(extra))
        out += member.name + extra + member.data
        central += struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, *fixed, len(extra), 0, 0, 0, 0, offset
        )
        central += member.name + extra
    start = len(out)
    out += central
    out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), start, 0)
    path.write_bytes(bytes(out))
    return path


def wheel_members(name: str, extra: Sequence[Member], *, record: bool = True) -> list[Member]:
    """A minimal ``name-1.0`` wheel's metadata members plus ``extra`` (listed in RECORD unhashed)."""
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": b"",
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: py3-none-linux_x86_64\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
    }
    members = [plain(path, data) for path, data in files.items()]
    if record:
        lines = [f"{p},sha256={_digest(d)},{len(d)}" for p, d in files.items()]
        lines += [f"{m.name.decode('utf-8', 'replace')},{m.digest},{m.file_size}" for m in extra]
        lines.append(f"{dist}/RECORD,,")
        members.append(plain(f"{dist}/RECORD", ("\n".join(lines) + "\n").encode()))
    return [*members[:1], *extra, *members[1:]]


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
