"""Ad-hoc code signatures for thin Mach-O images: the shape ``codesign -s -`` writes.

arm64 macOS kills a process that maps code whose signature does not match its bytes, so every
image the writer changes is signed again. The signature is an embedded SuperBlob at the end of
``__LINKEDIT`` (``LC_CODE_SIGNATURE`` points at it) holding:

* a CodeDirectory (version 0x20400, flags ``CS_ADHOC``): the identifier, SHA-256 hashes of
  every 4 KiB page of the image up to the signature (the code limit, the last page partial), two
  special slots (-1 Info.plist: absent, zeros; -2 requirements: the hash of the requirements
  blob) and the executable segment (``__TEXT``; ``CS_EXECSEG_MAIN_BINARY`` for executables);
* an empty requirements set;
* an empty CMS wrapper (ad-hoc: no certificate).

The header is patched first (``LC_CODE_SIGNATURE`` size, ``__LINKEDIT`` file and memory size),
then hashed, so the page hashes cover the final header. An unsigned image gets an
``LC_CODE_SIGNATURE`` command when the header padding has 16 bytes to spare. Format reference:
Apple's ``cs_blobs.h`` (xnu) and ``codesign(1)``; everything is big-endian.
"""

from __future__ import annotations

import hashlib
import struct

from native_doctor.binary._macho_layout import LC_CODE_SIGNATURE, Layout, MachOWriteError, parse_layout

__all__ = ["PAGE_SIZE", "current_identifier", "sign_image", "signature_problems"]

CSMAGIC_EMBEDDED_SIGNATURE = 0xFADE0CC0
CSMAGIC_CODEDIRECTORY = 0xFADE0C02
CSMAGIC_REQUIREMENTS = 0xFADE0C01
CSMAGIC_BLOBWRAPPER = 0xFADE0B01
CSSLOT_CODEDIRECTORY, CSSLOT_REQUIREMENTS, CSSLOT_SIGNATURESLOT = 0, 2, 0x10000
CSSLOT_ALTERNATE = 0x1000
CS_ADHOC = 0x2
CS_EXECSEG_MAIN_BINARY = 0x1
CS_HASHTYPE_SHA256 = 2
CD_VERSION = 0x20400  # with the executable-segment fields
CD_HEADER = 88
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
HASH_SIZE = 32
SPECIAL_SLOTS = 2
MH_EXECUTE = 2
CPU_TYPE_ARM64 = 0x0100000C
EMPTY_REQUIREMENTS = struct.pack(">III", CSMAGIC_REQUIREMENTS, 12, 0)
EMPTY_WRAPPER = struct.pack(">II", CSMAGIC_BLOBWRAPPER, 8)
_BLOBS = 3
_SUPER_HEADER = 12 + 8 * _BLOBS


def sign_image(data: bytes, identifier: str) -> bytes:
    """``data`` (a thin image) with a fresh ad-hoc signature named ``identifier``.

    A signature already present gives its place, its reserved size when the new one fits in it,
    and its page size (``codesign`` uses 16 KiB pages on some arm64 images); otherwise pages are
    4 KiB and the reserved size is the signature's, rounded up to 16 bytes.
    """
    layout = parse_layout(data)
    if layout.linkedit is None:
        raise MachOWriteError("the image has no __LINKEDIT segment to hold a code signature")
    code_limit, header = _code_limit_and_header(data, layout)
    if code_limit >= 1 << 32:
        raise MachOWriteError("images of 4 GiB or more are not signed (codeLimit64 is not written)")
    reserved, page_shift = _existing(data, layout)
    ident = identifier.encode() + b"\0"
    n_code = -(-code_limit // (1 << page_shift))
    cd_length = CD_HEADER + len(ident) + (SPECIAL_SLOTS + n_code) * HASH_SIZE
    super_length = _SUPER_HEADER + cd_length + len(EMPTY_REQUIREMENTS) + len(EMPTY_WRAPPER)
    datasize = reserved if reserved >= super_length else -(-super_length // 16) * 16
    head = _patch_sizes(header, code_limit, datasize)
    code = head + data[len(head) : code_limit]
    code += b"\0" * (code_limit - len(code))
    directory = _code_directory(code, ident, cd_length, page_shift, _header_layout(head))
    blob = _super_blob(directory, super_length)
    return code + blob + b"\0" * (datasize - len(blob))


def _existing(data: bytes, layout: Layout) -> tuple[int, int]:
    """(reserved size, page shift) of the image's current signature; (0, 12) without one."""
    sig = layout.signature()
    if sig is None:
        return 0, PAGE_SHIFT
    dataoff, datasize = struct.unpack_from(layout.order + "II", sig.data, 8)
    shift = PAGE_SHIFT
    for cd in _directories(data[dataoff : dataoff + datasize]):
        if len(cd) >= 40 and cd[37] == CS_HASHTYPE_SHA256 and 12 <= cd[39] <= 16:
            shift = cd[39]
    return datasize, shift


def current_identifier(data: bytes) -> str | None:
    """The identifier of a thin image's current primary CodeDirectory, or None."""
    layout = parse_layout(data)
    sig = layout.signature()
    if sig is None:
        return None
    dataoff, datasize = struct.unpack_from(layout.order + "II", sig.data, 8)
    for cd in _directories(data[dataoff : dataoff + datasize])[:1]:
        if len(cd) >= 24:
            (offset,) = struct.unpack_from(">I", cd, 20)
            return cd[offset:].split(b"\0", 1)[0].decode("utf-8", "replace") or None
    return None


def _directories(blob: bytes) -> list[bytes]:
    """The CodeDirectory blobs of an embedded signature (primary and alternates)."""
    if len(blob) < 12 or struct.unpack_from(">I", blob)[0] != CSMAGIC_EMBEDDED_SIGNATURE:
        return []
    (count,) = struct.unpack_from(">I", blob, 8)
    found = []
    for i in range(min(count, 16)):
        if 12 + 8 * i + 8 > len(blob):
            break
        slot, offset = struct.unpack_from(">II", blob, 12 + 8 * i)
        is_cd = slot == CSSLOT_CODEDIRECTORY or CSSLOT_ALTERNATE <= slot < CSSLOT_ALTERNATE + 5
        if (
            is_cd
            and offset + 8 <= len(blob)
            and struct.unpack_from(">I", blob, offset)[0] == CSMAGIC_CODEDIRECTORY
        ):
            found.append(blob[offset:])
    return found


def _code_limit_and_header(data: bytes, layout: Layout) -> tuple[int, bytes]:
    """Where the signature starts, and the image's header + commands (with LC_CODE_SIGNATURE)."""
    assert layout.linkedit is not None
    existing = layout.signature()
    header = data[: layout.commands_end]
    if existing is not None:
        (dataoff,) = struct.unpack_from(layout.order + "I", existing.data, 8)
        if not layout.linkedit.fileoff <= dataoff <= len(data):
            raise MachOWriteError(f"LC_CODE_SIGNATURE dataoff {dataoff} is outside __LINKEDIT")
        return dataoff, header
    end = layout.linkedit.fileoff + layout.linkedit.filesize
    if end != len(data):
        raise MachOWriteError(f"{len(data) - end} bytes follow __LINKEDIT; cannot append a signature")
    if layout.commands_end + 16 > layout.padding_end:
        raise MachOWriteError(
            "no room in the header padding for LC_CODE_SIGNATURE "
            "(relink with -Wl,-headerpad_max_install_names)"
        )
    limit = -(-end // 16) * 16
    command = struct.pack(layout.order + "4I", LC_CODE_SIGNATURE, 16, limit, 0)
    ncmds, sizeofcmds = struct.unpack_from(layout.order + "II", data, 16)
    fixed = bytearray(header + command)
    struct.pack_into(layout.order + "II", fixed, 16, ncmds + 1, sizeofcmds + 16)
    padding = data[layout.commands_end + 16 : layout.padding_end]
    if padding.strip(b"\0"):
        raise MachOWriteError("the header padding is not empty; LC_CODE_SIGNATURE cannot be added")
    return limit, bytes(fixed)


def _patch_sizes(header: bytes, code_limit: int, datasize: int) -> bytes:
    """The header with LC_CODE_SIGNATURE and __LINKEDIT sized for a ``datasize`` signature."""
    layout = _header_layout(header)
    out = bytearray(header)
    sig = layout.signature()
    assert sig is not None and layout.linkedit is not None
    struct.pack_into(layout.order + "II", out, sig.offset + 8, code_limit, datasize)
    seg = layout.commands[layout.linkedit.index]
    filesize = code_limit + datasize - layout.linkedit.fileoff
    page = 0x4000 if layout.cputype == CPU_TYPE_ARM64 else 0x1000
    vmsize = max(layout.linkedit.vmsize, -(-filesize // page) * page)
    if layout.is64:
        struct.pack_into(layout.order + "Q", out, seg.offset + 32, vmsize)
        struct.pack_into(layout.order + "Q", out, seg.offset + 48, filesize)
    else:
        struct.pack_into(layout.order + "I", out, seg.offset + 28, vmsize)
        struct.pack_into(layout.order + "I", out, seg.offset + 36, filesize)
    return bytes(out)


def _header_layout(header: bytes) -> Layout:
    """Parse just a header + commands (segments are checked against a large virtual size)."""
    return parse_layout(header, size=1 << 62)


def _code_directory(code: bytes, ident: bytes, length: int, page_shift: int, layout: Layout) -> bytes:
    page = 1 << page_shift
    n_code = -(-len(code) // page)
    hash_offset = CD_HEADER + len(ident) + SPECIAL_SLOTS * HASH_SIZE
    text = layout.text
    exec_base, exec_limit = (text.fileoff, text.filesize) if text else (0, 0)
    exec_flags = CS_EXECSEG_MAIN_BINARY if layout.filetype == MH_EXECUTE else 0
    fields = struct.pack(
        ">9I4B4IQ3Q",
        CSMAGIC_CODEDIRECTORY,
        length,
        CD_VERSION,
        CS_ADHOC,
        hash_offset,
        CD_HEADER,
        SPECIAL_SLOTS,
        n_code,
        len(code),
        HASH_SIZE,
        CS_HASHTYPE_SHA256,
        0,  # platform
        page_shift,
        0,  # spare2
        0,  # scatterOffset
        0,  # teamOffset
        0,  # spare3
        0,  # codeLimit64
        exec_base,
        exec_limit,
        exec_flags,
    )
    special = hashlib.sha256(EMPTY_REQUIREMENTS).digest() + b"\0" * HASH_SIZE  # slots -2, -1
    pages = b"".join(hashlib.sha256(code[i : i + page]).digest() for i in range(0, len(code), page))
    assert len(pages) == n_code * HASH_SIZE
    return fields + ident + special + pages


def _super_blob(directory: bytes, length: int) -> bytes:
    at = _SUPER_HEADER
    index = b""
    for slot, blob in (
        (CSSLOT_CODEDIRECTORY, directory),
        (CSSLOT_REQUIREMENTS, EMPTY_REQUIREMENTS),
        (CSSLOT_SIGNATURESLOT, EMPTY_WRAPPER),
    ):
        index += struct.pack(">II", slot, at)
        at += len(blob)
    head = struct.pack(">III", CSMAGIC_EMBEDDED_SIGNATURE, length, _BLOBS)
    return head + index + directory + EMPTY_REQUIREMENTS + EMPTY_WRAPPER


def signature_problems(data: bytes) -> list[str]:
    """Why the embedded signature of a thin image does not match its bytes ([] when it does).

    Every CodeDirectory (SHA-1 or SHA-256, primary or alternate) must hash the image's pages.
    """
    layout = parse_layout(data)
    sig = layout.signature()
    if sig is None:
        return ["no LC_CODE_SIGNATURE"]
    dataoff, datasize = struct.unpack_from(layout.order + "II", sig.data, 8)
    if dataoff + datasize > len(data):
        return [f"the signature [{dataoff}, {dataoff + datasize}) lies outside the file"]
    directories = _directories(data[dataoff : dataoff + datasize])
    if not directories:
        return ["the signature has no CodeDirectory"]
    problems: list[str] = []
    for cd in directories:
        problems += _directory_problems(data, cd, dataoff)
    return problems


_HASHES = {1: ("sha1", 20), 2: ("sha256", 32)}


def _directory_problems(data: bytes, cd: bytes, dataoff: int) -> list[str]:
    if len(cd) < 44:
        return ["the CodeDirectory is truncated"]
    hash_offset, _ident, _special, n_code, code_limit = struct.unpack_from(">5I", cd, 16)
    hash_size, hash_type, _platform, page_shift = struct.unpack_from(">4B", cd, 36)
    if _HASHES.get(hash_type, ("", 0))[1] != hash_size:
        return [f"unsupported hash type {hash_type} (size {hash_size})"]
    algorithm = _HASHES[hash_type][0]
    problems = []
    if code_limit != dataoff:
        problems.append(f"code limit {code_limit} is not the signature offset {dataoff}")
    page = 1 << page_shift if page_shift else max(code_limit, 1)
    if n_code != -(-code_limit // page):
        problems.append(f"{n_code} code slots for a code limit of {code_limit}")
    if hash_offset + n_code * hash_size > len(cd):
        return [*problems, "the code slots lie outside the CodeDirectory"]
    for i in range(n_code):
        want = cd[hash_offset + i * hash_size : hash_offset + (i + 1) * hash_size]
        got = hashlib.new(algorithm, data[i * page : min((i + 1) * page, code_limit)]).digest()
        if want != got:
            problems.append(f"{algorithm} hash of page {i} does not match")
            break
    return problems
