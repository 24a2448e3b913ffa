"""Rename the DLLs a PE image imports (import and delay-load directories): bytes in, bytes out.

The first piece of the Windows repair (issue 11), beside the reader (:mod:`native_doctor.binary.pe`)
and verified by it and by :func:`check_pe_invariants`. Follows Microsoft's "PE Format"
specification (learn.microsoft.com/windows/win32/debug/pe-format).

How a rename is made:

* A new name no longer than the old one is written over it (NUL-padded): the file keeps its size.
* Otherwise the new names go into a new section ``.ndimp`` (initialized, read-only data) appended
  after the last section, and the descriptors' Name fields point there. Its header takes 40 bytes of
  the slack between the section table and the first section's data; without that slack the headers
  grow by one FileAlignment and the sections' file data shifts down (file offsets follow: section
  PointerToRawData, the COFF symbol table, debug directory entries).
* The bound import directory, which records the old names, is cleared (the loader then binds as
  usual); a non-zero CheckSum is recomputed; an Authenticode signature, which any change
  invalidates, is removed only when asked (``drop_signature``), else the edit is refused. Data after
  the last section (a COFF symbol table, debug data) stays where it is: the new section's data
  goes after it.

Windows compares DLL names case-insensitively, so ``replace_imports`` keys match in any case.
Proved by Wine's loader (``tests/binary/test_pe_write_loader.py``, the Windows repair tests).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from native_doctor.binary._bytes import BytesSource
from native_doctor.binary.pe import read_pe
from native_doctor.errors import BinaryFormatError, NativeDoctorError

__all__ = ["PeEdit", "PeWriteError", "check_pe_invariants", "edit_pe", "has_signature", "pe_checksum"]

_EMPTY: Mapping[str, str] = MappingProxyType({})
_E_LFANEW = 0x3C
_COFF = struct.Struct("<HHIIIHH")  # Machine, NumberOfSections, ..., SizeOfOptionalHeader, Characteristics
_SECTION = struct.Struct(
    "<8sIIIIIIHHI"
)  # Name, VirtualSize, VirtualAddress, SizeOfRawData, PointerToRawData, ...
_DIRECTORY = struct.Struct("<II")
_U32 = struct.Struct("<I")
#: Optional header field offsets shared by PE32 and PE32+.
_SECTION_ALIGNMENT, _FILE_ALIGNMENT, _SIZE_OF_IMAGE, _SIZE_OF_HEADERS, _CHECKSUM = 32, 36, 56, 60, 64
#: NumberOfRvaAndSizes: PE32, PE32+.
_RVA_COUNT = {0x10B: 92, 0x20B: 108}
_IMPORT, _CERTIFICATE, _BOUND_IMPORT, _DELAY_IMPORT = 1, 4, 11, 13
_IMPORT_DESCRIPTOR_SIZE, _IMPORT_NAME_AT = 20, 12
_DELAY_DESCRIPTOR_SIZE, _DELAY_NAME_AT = 32, 4
_DLATTR_RVA = 0x1
#: IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ.
_NEW_SECTION_FLAGS = 0x40000040
_NEW_SECTION_NAME = b".ndimp\0\0"
MAX_DESCRIPTORS = 10_000


class PeWriteError(NativeDoctorError, ValueError):
    """The edit cannot be made (the message says why)."""


@dataclass(frozen=True, slots=True)
class PeEdit:
    """What to change in one PE image; the defaults change nothing."""

    #: Imported DLL name -> new name, in the import and the delay-load directories (keys match
    #: case-insensitively, as the Windows loader compares names).
    replace_imports: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: Remove an Authenticode signature (any change invalidates it); refused otherwise.
    drop_signature: bool = False


@dataclass(frozen=True, slots=True)
class _Section:
    header_at: int
    virtual_size: int
    virtual_address: int
    raw_size: int
    raw_pointer: int


@dataclass(slots=True)
class _Pe:
    data: bytes
    optional_at: int
    magic: int
    sections: list[_Section]
    table_end: int
    directories: list[tuple[int, int]]
    directories_at: int
    image_base: int = 0

    def u32(self, at: int) -> int:
        return int(_U32.unpack_from(self.data, at)[0])

    def offset(self, rva: int, what: str) -> int:
        for s in self.sections:
            if s.virtual_address <= rva < s.virtual_address + min(s.raw_size, s.virtual_size or s.raw_size):
                return s.raw_pointer + rva - s.virtual_address
        if 0 <= rva < self.u32(self.optional_at + _SIZE_OF_HEADERS):
            return rva
        raise BinaryFormatError(f"{what}: RVA {rva:#x} has no file data")

    def name(self, rva: int, what: str) -> tuple[int, bytes]:
        at = self.offset(rva, what)
        end = self.data.find(b"\0", at, at + 4096)
        if end < 0:
            raise BinaryFormatError(f"{what}: unterminated name at RVA {rva:#x}")
        return at, self.data[at:end]


def _parse(data: bytes) -> _Pe:
    if len(data) < 0x40 or data[:2] != b"MZ":
        raise BinaryFormatError("not a PE image (no MZ header)")
    pe_at = _U32.unpack_from(data, _E_LFANEW)[0]
    if data[pe_at : pe_at + 4] != b"PE\0\0":
        raise BinaryFormatError("not a PE image (no PE signature)")
    if pe_at + 4 + _COFF.size > len(data):
        raise BinaryFormatError("COFF header is truncated")
    _machine, count, _time, _symbols, _nsymbols, optional_size, _flags = _COFF.unpack_from(data, pe_at + 4)
    optional_at = pe_at + 4 + _COFF.size
    if optional_at + optional_size > len(data) or optional_size < 2:
        raise BinaryFormatError("optional header is truncated or missing")
    magic = struct.unpack_from("<H", data, optional_at)[0]
    if magic not in _RVA_COUNT or optional_size < _RVA_COUNT[magic] + 4:
        raise BinaryFormatError(f"unsupported optional header (magic {magic:#x}, {optional_size} bytes)")
    rva_count = _U32.unpack_from(data, optional_at + _RVA_COUNT[magic])[0]
    directories_at = optional_at + _RVA_COUNT[magic] + 4
    room = (optional_at + optional_size - directories_at) // _DIRECTORY.size
    directories = [
        _DIRECTORY.unpack_from(data, directories_at + i * _DIRECTORY.size)
        for i in range(min(rva_count, room, 16))
    ]
    table_at = optional_at + optional_size
    if table_at + count * _SECTION.size > len(data):
        raise BinaryFormatError("section table runs past the end of the file")
    sections = []
    for i in range(count):
        fields = _SECTION.unpack_from(data, table_at + i * _SECTION.size)
        sections.append(_Section(table_at + i * _SECTION.size, fields[1], fields[2], fields[3], fields[4]))
    image_base_at, image_base_format = (28, "<I") if magic == 0x10B else (24, "<Q")
    image_base = struct.unpack_from(image_base_format, data, optional_at + image_base_at)[0]
    return _Pe(
        data,
        optional_at,
        magic,
        sections,
        table_at + count * _SECTION.size,
        directories,
        directories_at,
        image_base,
    )


def _directory(pe: _Pe, index: int) -> tuple[int, int]:
    return pe.directories[index] if index < len(pe.directories) else (0, 0)


@dataclass(frozen=True, slots=True)
class _NameRef:
    """One descriptor's Name field: where it is, its value's bias (ImageBase for old delay VAs)."""

    field_at: int
    bias: int
    name_at: int
    name: bytes


def _name_refs(pe: _Pe) -> list[_NameRef]:
    refs = []
    for index, size, name_at, is_delay in (
        (_IMPORT, _IMPORT_DESCRIPTOR_SIZE, _IMPORT_NAME_AT, False),
        (_DELAY_IMPORT, _DELAY_DESCRIPTOR_SIZE, _DELAY_NAME_AT, True),
    ):
        rva, _size = _directory(pe, index)
        if rva == 0:
            continue
        at = pe.offset(rva, "descriptor table")
        for i in range(MAX_DESCRIPTORS):
            raw = pe.data[at + i * size : at + (i + 1) * size]
            if len(raw) < size:
                raise BinaryFormatError("descriptor table runs past the end of the file")
            if not any(raw):
                break
            field_at = at + i * size + name_at
            value = pe.u32(field_at)
            bias = pe.image_base if is_delay and not pe.u32(at + i * size) & _DLATTR_RVA else 0
            name_offset, name = pe.name(value - bias, "imported DLL name")
            refs.append(_NameRef(field_at, bias, name_offset, name))
        else:
            raise BinaryFormatError(f"more than {MAX_DESCRIPTORS} descriptors")
    return refs


def _ascii(name: str) -> bytes:
    try:
        raw = name.encode("ascii")
    except UnicodeEncodeError as exc:
        raise PeWriteError(f"DLL name {name!r} is not ASCII") from exc
    if not raw or b"\0" in raw:
        raise PeWriteError(f"DLL name {name!r} must be non-empty and contain no NUL byte")
    return raw


def edit_pe(data: bytes, edit: PeEdit) -> bytes:
    """``data`` with the imported DLLs renamed (``data`` itself when nothing changes).

    :raises PeWriteError: the image is malformed, does not import a named DLL, is signed without
        ``drop_signature``, has data after its sections, or has no room for a section header.
    """
    if not edit.replace_imports:
        return data
    try:
        pe = _parse(bytes(data))
        refs = _name_refs(pe)
    except (BinaryFormatError, struct.error) as exc:
        raise PeWriteError(f"cannot edit a malformed PE image: {exc}") from exc
    wanted = {_ascii(k).lower(): _ascii(v) for k, v in edit.replace_imports.items()}
    present = {r.name.lower() for r in refs}
    for old, new in wanted.items():
        if old not in present and new.lower() not in present:
            raise PeWriteError(f"the image does not import {old.decode()!r}")
    changes = [
        (r, wanted[r.name.lower()])
        for r in refs
        if r.name.lower() in wanted and r.name != wanted[r.name.lower()]
    ]
    if any(len(new) > len(ref.name) for ref, new in changes) and not _header_room(pe):
        try:
            pe = _parse(_with_header_room(pe))
            refs = _name_refs(pe)
        except (BinaryFormatError, struct.error) as exc:
            raise PeWriteError(f"cannot make room for a section header: {exc}") from exc
        changes = [
            (r, wanted[r.name.lower()])
            for r in refs
            if r.name.lower() in wanted and r.name != wanted[r.name.lower()]
        ]
    if not changes:
        return data
    return _write(pe, changes, edit)


def _write(pe: _Pe, changes: list[tuple[_NameRef, bytes]], edit: PeEdit) -> bytes:
    out = bytearray(pe.data)
    cert_rva, cert_size = _directory(pe, _CERTIFICATE)  # a file offset, not an RVA
    end_of_sections = max((s.raw_pointer + s.raw_size for s in pe.sections if s.raw_size), default=len(out))
    if cert_size:
        if not edit.drop_signature:
            raise PeWriteError("the image has an Authenticode signature, which renaming invalidates")
        _put_directory(out, pe, _CERTIFICATE, 0, 0)
        if cert_rva + cert_size >= len(out) and cert_rva >= end_of_sections:
            del out[cert_rva:]
    if _directory(pe, _BOUND_IMPORT)[0]:
        _put_directory(out, pe, _BOUND_IMPORT, 0, 0)  # bindings name the old DLLs
    grown = [(r, new) for r, new in changes if len(new) > len(r.name)]
    for ref, new in changes:
        if len(new) <= len(ref.name):
            out[ref.name_at : ref.name_at + len(ref.name)] = new.ljust(len(ref.name), b"\0")
    if grown:
        _add_section(out, pe, grown)
    if pe.u32(pe.optional_at + _CHECKSUM):
        _U32.pack_into(out, pe.optional_at + _CHECKSUM, pe_checksum(out, pe.optional_at + _CHECKSUM))
    return bytes(out)


def _put_directory(out: bytearray, pe: _Pe, index: int, rva: int, size: int) -> None:
    if index < len(pe.directories):
        _DIRECTORY.pack_into(out, pe.directories_at + index * _DIRECTORY.size, rva, size)


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


_DEBUG_DIRECTORY = 6
_DEBUG_ENTRY_SIZE, _DEBUG_RAW_POINTER_AT = 28, 24
_POINTER_TO_SYMBOL_TABLE_AT = 8  # in the COFF header


def _header_room(pe: _Pe) -> bool:
    """Whether 40 zero bytes follow the section table inside the headers."""
    headers_size = pe.u32(pe.optional_at + _SIZE_OF_HEADERS)
    first_data = min((s.raw_pointer for s in pe.sections if s.raw_size), default=headers_size)
    end = pe.table_end + _SECTION.size
    return end <= min(headers_size, first_data) and not any(pe.data[pe.table_end : end])


def _with_header_room(pe: _Pe) -> bytes:
    """The image with its headers one FileAlignment larger: section data shifts down the file.

    Only file offsets change (every RVA stays): PointerToRawData of each section, the COFF symbol
    table pointer and the debug directory entries' PointerToRawData follow. Refused when the
    larger headers would reach the first section in memory.
    """
    file_alignment = pe.u32(pe.optional_at + _FILE_ALIGNMENT) or 0x200
    headers_size = pe.u32(pe.optional_at + _SIZE_OF_HEADERS)
    first_data = min((s.raw_pointer for s in pe.sections if s.raw_size), default=headers_size)
    first_rva = min((s.virtual_address for s in pe.sections), default=0)
    grown = _align(max(headers_size, pe.table_end + _SECTION.size), file_alignment)
    shift = grown - min(headers_size, first_data)
    if shift <= 0 or grown > first_rva or file_alignment & (file_alignment - 1):
        raise PeWriteError("no room for one more section header, and the headers cannot grow")
    out = bytearray(pe.data[:first_data]) + bytes(shift) + pe.data[first_data:]
    _U32.pack_into(out, pe.optional_at + _SIZE_OF_HEADERS, grown)
    for section in pe.sections:
        if section.raw_pointer >= first_data:
            _U32.pack_into(out, section.header_at + 20, section.raw_pointer + shift)
    coff_at = pe.optional_at - _COFF.size
    symbols = pe.u32(coff_at + _POINTER_TO_SYMBOL_TABLE_AT)
    if symbols >= first_data:
        _U32.pack_into(out, coff_at + _POINTER_TO_SYMBOL_TABLE_AT, symbols + shift)
    debug_rva, debug_size = _directory(pe, _DEBUG_DIRECTORY)
    if debug_rva:
        at = pe.offset(debug_rva, "debug directory") + shift
        for i in range(min(debug_size // _DEBUG_ENTRY_SIZE, MAX_DESCRIPTORS)):
            pointer_at = at + i * _DEBUG_ENTRY_SIZE + _DEBUG_RAW_POINTER_AT
            pointer = _U32.unpack_from(out, pointer_at)[0]
            if pointer >= first_data:
                _U32.pack_into(out, pointer_at, pointer + shift)
    cert_offset, cert_size = _directory(pe, _CERTIFICATE)
    if cert_size and cert_offset >= first_data:
        _put_directory(out, pe, _CERTIFICATE, cert_offset + shift, cert_size)
    return bytes(out)


def _add_section(out: bytearray, pe: _Pe, grown: list[tuple[_NameRef, bytes]]) -> None:
    """Append ``.ndimp`` holding the new names and point the descriptors at them.

    Its data goes at the end of the file, after any data that follows the sections (a COFF symbol
    table, debug data, an installer's payload), which keeps every file offset it is found by.
    """
    headers_size = pe.u32(pe.optional_at + _SIZE_OF_HEADERS)
    first_data = min((s.raw_pointer for s in pe.sections if s.raw_size), default=headers_size)
    slot = pe.table_end
    if slot + _SECTION.size > min(headers_size, first_data) or any(out[slot : slot + _SECTION.size]):
        raise PeWriteError(
            "no room for one more section header between the section table and the first section"
        )
    section_alignment = pe.u32(pe.optional_at + _SECTION_ALIGNMENT)
    file_alignment = pe.u32(pe.optional_at + _FILE_ALIGNMENT) or 0x200
    if (
        section_alignment == 0
        or section_alignment & (section_alignment - 1)
        or file_alignment & (file_alignment - 1)
    ):
        raise PeWriteError("section or file alignment is not a power of two")
    top = max(
        (s.virtual_address + max(s.virtual_size, s.raw_size) for s in pe.sections), default=headers_size
    )
    rva = _align(top, section_alignment)
    names = bytearray()
    placed: dict[bytes, int] = {}
    for _ref, new in grown:
        if new not in placed:
            placed[new] = len(names)
            names += new + b"\0"
    raw_at = _align(len(out), file_alignment)
    raw_size = _align(len(names), file_alignment)
    out += bytes(raw_at - len(out)) + bytes(names) + bytes(raw_size - len(names))
    out[slot : slot + _SECTION.size] = _SECTION.pack(
        _NEW_SECTION_NAME, len(names), rva, raw_size, raw_at, 0, 0, 0, 0, _NEW_SECTION_FLAGS
    )
    coff_at = pe.optional_at - _COFF.size
    count = struct.unpack_from("<H", out, coff_at + 2)[0]
    struct.pack_into("<H", out, coff_at + 2, count + 1)
    _U32.pack_into(out, pe.optional_at + _SIZE_OF_IMAGE, _align(rva + len(names), section_alignment))
    for ref, new in grown:
        _U32.pack_into(out, ref.field_at, rva + placed[new] + ref.bias)


def pe_checksum(data: bytes | bytearray, checksum_at: int) -> int:
    """The PE CheckSum of ``data`` (imagehlp's CheckSumMappedFile).

    The little-endian 16-bit words of the file, the CheckSum field taken as zero, are added with
    the carries folded back in (a one's-complement sum), and the file length is added. Since
    65536 = 1 (mod 65535), that sum is the file read as one little-endian integer, modulo 65535
    (0xFFFF standing for a non-zero multiple), which Python computes in C.
    """
    blob = bytearray(data)
    blob[checksum_at : checksum_at + 4] = bytes(4)
    if len(blob) % 2:
        blob.append(0)
    number = int.from_bytes(blob, "little")
    folded = number % 0xFFFF
    if folded == 0 and number:
        folded = 0xFFFF
    return (folded + len(data)) & 0xFFFFFFFF


def check_pe_invariants(data: bytes) -> tuple[str, ...]:
    """What is wrong with ``data`` as a PE image after an edit; () when nothing is.

    Checked: the section table fits in SizeOfHeaders; sections' file data inside the file and not
    overlapping; sections ascending in memory without overlap and within SizeOfImage; every
    imported and delay-loaded DLL name resolves to file data and is NUL-terminated; a non-zero
    CheckSum is right; the project's reader reads the image.
    """
    try:
        pe = _parse(bytes(data))
        _name_refs(pe)
    except (BinaryFormatError, struct.error) as exc:
        return (str(exc),)
    problems: list[str] = []
    headers_size = pe.u32(pe.optional_at + _SIZE_OF_HEADERS)
    if pe.table_end > headers_size:
        problems.append("the section table runs past SizeOfHeaders")
    previous = None
    for i, s in enumerate(pe.sections):
        if s.raw_size and s.raw_pointer + s.raw_size > len(data):
            problems.append(f"section {i}: its file data runs past the end of the file")
        if previous is not None and s.virtual_address < previous:
            problems.append(f"section {i}: overlaps or precedes the previous section in memory")
        previous = s.virtual_address + max(s.virtual_size, s.raw_size if not s.virtual_size else 0)
    if previous is not None and previous > pe.u32(pe.optional_at + _SIZE_OF_IMAGE):
        problems.append("the last section ends past SizeOfImage")
    problems += _check_debug_directory(pe)
    stored = pe.u32(pe.optional_at + _CHECKSUM)
    if stored and stored != pe_checksum(data, pe.optional_at + _CHECKSUM):
        problems.append(f"CheckSum {stored:#x} is wrong")
    if not problems:
        try:
            read_pe(BytesSource(data))
        except BinaryFormatError as exc:
            problems.append(f"the reader rejects the image: {exc}")
    return tuple(problems)


def _check_debug_directory(pe: _Pe) -> list[str]:
    """Each debug entry's file offset (PointerToRawData) must be where its RVA maps."""
    rva, size = _directory(pe, _DEBUG_DIRECTORY)
    if not rva:
        return []
    try:
        at = pe.offset(rva, "debug directory")
    except BinaryFormatError as exc:
        return [str(exc)]
    problems: list[str] = []
    for i in range(min(size // _DEBUG_ENTRY_SIZE, MAX_DESCRIPTORS)):
        entry = at + i * _DEBUG_ENTRY_SIZE
        if entry + _DEBUG_ENTRY_SIZE > len(pe.data):
            return [*problems, "the debug directory runs past the end of the file"]
        address, pointer = pe.u32(entry + 20), pe.u32(entry + _DEBUG_RAW_POINTER_AT)
        if address and pointer:
            try:
                expected = pe.offset(address, "debug data")
            except BinaryFormatError:
                continue  # debug data outside the sections (only in the file): nothing to compare
            if expected != pointer:
                problems.append(
                    f"debug entry {i}: PointerToRawData {pointer:#x} is not where RVA {address:#x} is"
                )
    return problems


def has_signature(data: bytes) -> bool:
    """Whether image ``data`` carries an Authenticode signature (a certificate table); False for
    data that is not a readable PE image."""
    try:
        pe = _parse(bytes(data))
    except (BinaryFormatError, struct.error):
        return False
    return _directory(pe, _CERTIFICATE)[1] != 0
