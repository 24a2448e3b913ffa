"""Rename the DLLs a PE image imports: the import and delay-load import tables.

Pure bytes in, bytes out, for PE32 and PE32+ images of any machine. The writer sits beside the
reader (:mod:`native_doctor.binary.pe`) and is verified by it and by :func:`check_pe_invariants`.

How an edit is made (the reasons are in docs/design.md, "Why the PE writer is written by hand"):

* A descriptor's ``Name`` points at a NUL-terminated DLL name. A new name no longer than the old
  one is written over the old string (the rest of its bytes zeroed), when only the renamed
  descriptors point at it.
* Otherwise the new names go, together, into the zero padding between a data section's
  VirtualSize and the end of its file data (FileAlignment padding, inside the section's address
  range; not code, not discardable); VirtualSize grows to cover them.
* Otherwise every new name goes into one new section (``.ndimp``, initialized read-only data)
  appended to the image: its header takes the 40 bytes after the section table (they must be
  inside SizeOfHeaders, before the first section's data, and zero), its RVA follows the last
  section (SectionAlignment), its file data is placed after everything the file holds today
  (FileAlignment), so trailing data (an overlay, a COFF symbol table) stays at its offset.
  NumberOfSections, SizeOfImage and SizeOfInitializedData follow.
* A bound import directory names the old DLLs and their timestamps: it is dropped and the
  renamed descriptors' TimeDateStamp cleared, so the loader resolves them (needs an import
  lookup table).
* An Authenticode signature (the security directory: file offset + size of the certificate
  table, "not loaded into memory") no longer matches the edited bytes: it is removed (the
  directory entry zeroed, the certificate bytes cut when they end the file, zeroed otherwise)
  and the result says so.
* A nonzero CheckSum is recomputed (the image loader's algorithm); zero ("not checked") stays.

References: Microsoft's "PE Format" specification and delayimp.h (ImgDelayDescr).
"""

from __future__ import annotations

import itertools
import struct
import sys
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from native_doctor.binary._bytes import BytesSource
from native_doctor.binary.model import BinaryInfo
from native_doctor.binary.pe import read_pe
from native_doctor.errors import BinaryFormatError, NativeDoctorError

__all__ = ["PeEdit", "PeEdited", "PeWriteError", "check_pe_invariants", "edit_pe", "pe_checksum"]

_EMPTY: Mapping[str, str] = MappingProxyType({})

#: Name of the section that receives new DLL names.
NEW_SECTION_NAME = b".ndimp"
#: IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ.
_NEW_SECTION_FLAGS = 0x00000040 | 0x40000000
_MAX_SECTIONS = 96  # "the Windows loader limits the number of sections to 96"
_MAX_NAME = 255

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_COFF = struct.Struct("<HHIIIHH")
_SECTION = struct.Struct("<8sIIIIIIHHI")
_SECTION_SIZE = 40
_IMPORT = struct.Struct("<IIIII")
_DELAY = struct.Struct("<IIIIIIII")
_DIRECTORY = struct.Struct("<II")
_DLATTR_RVA = 0x1

# Optional header field offsets, the same for PE32 and PE32+.
_SECTION_ALIGNMENT = 32
_FILE_ALIGNMENT = 36
_SIZE_OF_INITIALIZED_DATA = 8
_SIZE_OF_IMAGE = 56
_SIZE_OF_HEADERS = 60
_CHECKSUM = 64
_RVA_COUNT = {0x10B: 92, 0x20B: 108}
_IMAGE_BASE = {0x10B: struct.Struct("<I"), 0x20B: struct.Struct("<Q")}
_IMAGE_BASE_OFFSET = {0x10B: 28, 0x20B: 24}

_DIR_IMPORT = 1
_DIR_SECURITY = 4
_DIR_BOUND_IMPORT = 11
_DIR_DELAY_IMPORT = 13


class PeWriteError(NativeDoctorError, ValueError):
    """The edit cannot be made to this image (malformed, or no room), or its result is unsound."""


@dataclass(frozen=True, slots=True)
class PeEdit:
    """What to change: ``rename`` maps an imported DLL name (matched case-insensitively, as the
    Windows loader does) to its new name, in the import and the delay-load import tables."""

    rename: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: Longer names may go into a data section's zero padding (else always a new section).
    use_padding: bool = True


@dataclass(frozen=True, slots=True)
class PeEdited:
    """The edited image and what the edit had to do besides renaming."""

    data: bytes
    #: The image carried an Authenticode signature, now removed (it no longer matched).
    signature_removed: bool = False
    #: A section was appended to hold names longer than the old ones.
    section_added: bool = False
    #: Names longer than the old ones went into the zero padding at the end of this section.
    slack_section: str | None = None
    #: A bound import directory was dropped.
    unbound: bool = False

    @property
    def warnings(self) -> tuple[str, ...]:
        """What a user should be told about the edit."""
        if self.signature_removed:
            return ("its Authenticode signature no longer matched the edited bytes and was removed",)
        return ()


@dataclass(slots=True)
class _Section:
    index: int
    name: bytes
    virtual_size: int
    virtual_address: int
    raw_size: int
    raw_pointer: int
    flags: int = 0


@dataclass(slots=True)
class _Image:
    data: bytearray
    pe: int
    optional: int
    magic: int
    sections: list[_Section]
    directories: list[tuple[int, int]]
    section_table: int
    image_base: int

    def u32(self, offset: int) -> int:
        return int(_U32.unpack_from(self.data, offset)[0])

    def directory_offset(self, index: int) -> int:
        return self.optional + _RVA_COUNT[self.magic] + 4 + index * _DIRECTORY.size

    def directory(self, index: int) -> tuple[int, int]:
        return self.directories[index] if index < len(self.directories) else (0, 0)

    def offset(self, rva: int, size: int, what: str) -> int:
        """File offset of ``size`` bytes of file data at ``rva``."""
        for s in self.sections:
            delta = rva - s.virtual_address
            if delta >= 0 and delta + size <= min(s.raw_size, s.virtual_size or s.raw_size):
                if s.raw_pointer + delta + size > len(self.data):
                    break
                return s.raw_pointer + delta
        raise PeWriteError(f"{what}: RVA {rva:#x} (+{size}) is not backed by file data")

    def cstring_at(self, rva: int, what: str) -> tuple[int, bytes]:
        start = self.offset(rva, 1, what)
        end = self.data.find(b"\0", start, start + _MAX_NAME + 1)
        if end < 0:
            raise PeWriteError(f"{what}: name at RVA {rva:#x} is not terminated")
        self.offset(rva, end - start + 1, what)  # the whole string lies in one section
        return start, bytes(self.data[start:end])


def _parse(data: bytes) -> _Image:
    try:
        read_pe(BytesSource(data))
    except BinaryFormatError as exc:
        raise PeWriteError(f"not a PE image the writer can edit: {exc}") from None
    buf = bytearray(data)
    (pe,) = _U32.unpack_from(buf, 0x3C)
    _machine, count, _time, _sym, _nsym, optional_size, _chars = _COFF.unpack_from(buf, pe + 4)
    optional = pe + 4 + _COFF.size
    if optional_size == 0:
        raise PeWriteError("an object file (no optional header) has no import table to edit")
    (magic,) = _U16.unpack_from(buf, optional)
    if magic not in _RVA_COUNT or optional_size < _RVA_COUNT[magic] + 4:
        raise PeWriteError(f"optional header magic {magic:#x} / size {optional_size}: not PE32 or PE32+")
    (rva_count,) = _U32.unpack_from(buf, optional + _RVA_COUNT[magic])
    room = (optional_size - _RVA_COUNT[magic] - 4) // _DIRECTORY.size
    first_dir = optional + _RVA_COUNT[magic] + 4
    directories = [_DIRECTORY.unpack_from(buf, first_dir + 8 * i) for i in range(min(rva_count, room, 16))]
    table = optional + optional_size
    if table + count * _SECTION_SIZE > len(buf):
        raise PeWriteError("the section table runs past the end of the file")
    sections = []
    for index in range(count):
        name, vsize, va, rsize, rptr, *_, flags = _SECTION.unpack_from(buf, table + index * _SECTION_SIZE)
        sections.append(_Section(index, name, vsize, va, rsize, rptr, flags))
    (image_base,) = _IMAGE_BASE[magic].unpack_from(buf, optional + _IMAGE_BASE_OFFSET[magic])
    return _Image(buf, pe, optional, magic, sections, [tuple(d) for d in directories], table, image_base)


@dataclass(frozen=True, slots=True)
class _NameRef:
    """One descriptor field that holds a DLL name address."""

    field_offset: int  # file offset of the Name field
    rva: int  # the name's RVA
    va_bias: int  # 0 for an RVA field, ImageBase for a VC6 delay descriptor's VA
    time_offset: int | None  # file offset of an import descriptor's TimeDateStamp
    has_lookup_table: bool


def _name_refs(image: _Image) -> list[_NameRef]:
    refs: list[_NameRef] = []
    rva, _size = image.directory(_DIR_IMPORT)
    if rva:
        at = image.offset(rva, _IMPORT.size, "import directory")
        while True:
            fields = _IMPORT.unpack_from(image.data, at) if at + _IMPORT.size <= len(image.data) else (0,) * 5
            if not any(fields):
                break
            refs.append(_NameRef(at + 12, fields[3], 0, at + 4, fields[0] != 0))
            at += _IMPORT.size
    rva, _size = image.directory(_DIR_DELAY_IMPORT)
    if rva:
        at = image.offset(rva, _DELAY.size, "delay-load directory")
        while True:
            fields = _DELAY.unpack_from(image.data, at) if at + _DELAY.size <= len(image.data) else (0,) * 8
            if not any(fields):
                break
            bias = 0 if fields[0] & _DLATTR_RVA else image.image_base
            refs.append(_NameRef(at + 4, fields[1] - bias, bias, None, True))
            at += _DELAY.size
    return refs


def _encode(name: str) -> bytes:
    try:
        raw = name.encode("ascii")
    except UnicodeEncodeError:
        raise PeWriteError(f"DLL name {name!r} is not ASCII") from None
    if not raw or b"\0" in raw or len(raw) > _MAX_NAME or "/" in name or "\\" in name:
        raise PeWriteError(f"DLL name {name!r} is not a plain file name")
    return raw


def edit_pe(data: bytes, edit: PeEdit) -> PeEdited:
    """The image ``data`` with ``edit`` applied, verified by re-reading it.

    :raises PeWriteError: the image cannot be edited so, or the edited image fails verification.
    """
    image = _parse(data)
    wanted = {old.lower(): _encode(new) for old, new in edit.rename.items()}
    refs = _name_refs(image)
    by_rva: dict[int, list[_NameRef]] = {}
    for ref in refs:
        by_rva.setdefault(ref.rva, []).append(ref)
    changes: list[tuple[list[_NameRef], int, bytes, bytes]] = []  # refs, string offset, old, new
    for rva, group in by_rva.items():
        start, old = image.cstring_at(rva, "import name")
        new = wanted.get(old.decode("ascii", "replace").lower())
        if new is not None and new != old:
            changes.append((group, start, old, new))
    if not changes:
        return PeEdited(bytes(data))
    before = read_pe(BytesSource(data), deep=True)
    shared = _shared_strings(image, refs, {start for _g, start, _o, _n in changes})
    appended: list[tuple[list[_NameRef], bytes]] = []
    for group, start, old, new in changes:
        if len(new) <= len(old) and start not in shared:
            image.data[start : start + len(old)] = new + b"\0" * (len(old) - len(new))
        else:
            appended.append((group, new))
    signature_removed = _remove_signature(image)
    slack = None
    if appended:
        blob, placed = _names_blob(appended)
        slack = _place_in_slack(image, blob, placed) if edit.use_padding else None
        if slack is None:
            _append_section(image, blob, placed)
    unbound = _unbind(image, [r for g, *_ in changes for r in g])
    _update_checksum(image)
    out = bytes(image.data)
    _verify(out, before, edit.rename)
    return PeEdited(
        out,
        signature_removed=signature_removed,
        section_added=bool(appended) and slack is None,
        slack_section=slack,
        unbound=unbound,
    )


def _shared_strings(image: _Image, refs: list[_NameRef], starts: set[int]) -> set[int]:
    """String offsets also pointed at by something that is not a descriptor Name (the export
    directory's Name): such strings are never overwritten."""
    rva, _size = image.directory(0)
    if not rva:
        return set()
    try:
        at = image.offset(rva, 40, "export directory")
        start, _ = image.cstring_at(image.u32(at + 12), "export name")
    except PeWriteError:
        return set()
    return {start} & starts


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def _names_blob(
    appended: list[tuple[list[_NameRef], bytes]],
) -> tuple[bytes, list[tuple[list[_NameRef], int]]]:
    blob = bytearray()
    placed: list[tuple[list[_NameRef], int]] = []
    for group, new in appended:
        placed.append((group, len(blob)))
        blob += new + b"\0"
        blob += b"\0" * (-len(blob) % 2)
    return bytes(blob), placed


def _point(image: _Image, rva: int, placed: list[tuple[list[_NameRef], int]]) -> None:
    for group, at in placed:
        for ref in group:
            value = rva + at + ref.va_bias
            if value >= 1 << 32:
                raise PeWriteError("a delay-load descriptor's name address does not fit 32 bits")
            _U32.pack_into(image.data, ref.field_offset, value)


#: IMAGE_SCN_MEM_READ, and what a section receiving names must not be: code, discardable.
_SCN_MEM_READ = 0x40000000
_SCN_UNFIT = 0x20000000 | 0x02000000 | 0x00000020


def _place_in_slack(image: _Image, blob: bytes, placed: list[tuple[list[_NameRef], int]]) -> str | None:
    """Put ``blob`` in the zero padding between a data section's VirtualSize and its file data's
    end (FileAlignment padding, inside the section's own address range); the section's name, or
    None when no section has room."""
    starts = sorted(s.virtual_address for s in image.sections)
    # The section holding the import directory first: binutils' objdump -p only lists names
    # that lie in that section.
    import_rva = image.directory(_DIR_IMPORT)[0]
    for s in sorted(image.sections, key=lambda s: not 0 <= import_rva - s.virtual_address < s.virtual_size):
        if not s.flags & _SCN_MEM_READ or s.flags & _SCN_UNFIT or not s.virtual_size or not s.raw_size:
            continue
        following = [v for v in starts if v > s.virtual_address]
        span = (following[0] - s.virtual_address) if following else s.raw_size
        start = _align(s.virtual_size, 8)
        limit = min(s.raw_size, span, len(image.data) - s.raw_pointer)
        if start + len(blob) > limit:
            continue
        at = s.raw_pointer + start
        if any(image.data[s.raw_pointer + s.virtual_size : at + len(blob)]):
            continue
        image.data[at : at + len(blob)] = blob
        table_at = image.section_table + s.index * _SECTION_SIZE + 8
        s.virtual_size = start + len(blob)
        _U32.pack_into(image.data, table_at, s.virtual_size)
        _point(image, s.virtual_address + start, placed)
        return s.name.rstrip(b"\0").decode("ascii", "replace")
    return None


def _append_section(image: _Image, blob: bytes, placed: list[tuple[list[_NameRef], int]]) -> None:
    data = image.data
    section_alignment = image.u32(image.optional + _SECTION_ALIGNMENT)
    file_alignment = image.u32(image.optional + _FILE_ALIGNMENT)
    for what, value in (("SectionAlignment", section_alignment), ("FileAlignment", file_alignment)):
        if value == 0 or value & (value - 1):
            raise PeWriteError(f"{what} {value:#x} is not a power of two")
    if len(image.sections) >= _MAX_SECTIONS:
        raise PeWriteError(f"the image already has {len(image.sections)} sections (the loader allows 96)")
    header_at = image.section_table + len(image.sections) * _SECTION_SIZE
    size_of_headers = image.u32(image.optional + _SIZE_OF_HEADERS)
    first_data = min((s.raw_pointer for s in image.sections if s.raw_size), default=size_of_headers)
    first_rva = min((s.virtual_address for s in image.sections), default=size_of_headers)
    if header_at + _SECTION_SIZE > min(size_of_headers, first_data, first_rva) or any(
        data[header_at : header_at + _SECTION_SIZE]
    ):
        raise PeWriteError(
            "no room for one more section header after the section table (the headers are full); "
            "keep this DLL's name (--no-mangle) or relink it with room in the headers"
        )
    end_rva = max((s.virtual_address + max(s.virtual_size, s.raw_size) for s in image.sections), default=0)
    va = _align(max(end_rva, size_of_headers), section_alignment)
    raw_pointer = _align(len(data), file_alignment)
    raw_size = _align(len(blob), file_alignment)
    if va + len(blob) >= 1 << 31 or raw_pointer + raw_size >= 1 << 32:
        raise PeWriteError("the image is too large for one more section")
    data += b"\0" * (raw_pointer - len(data)) + blob + b"\0" * (raw_size - len(blob))
    data[header_at : header_at + _SECTION_SIZE] = _SECTION.pack(
        NEW_SECTION_NAME, len(blob), va, raw_size, raw_pointer, 0, 0, 0, 0, _NEW_SECTION_FLAGS
    )
    image.sections.append(
        _Section(len(image.sections), NEW_SECTION_NAME, len(blob), va, raw_size, raw_pointer)
    )
    _U16.pack_into(data, image.pe + 6, len(image.sections))
    _U32.pack_into(data, image.optional + _SIZE_OF_IMAGE, _align(va + len(blob), section_alignment))
    initialized = image.u32(image.optional + _SIZE_OF_INITIALIZED_DATA)
    _U32.pack_into(data, image.optional + _SIZE_OF_INITIALIZED_DATA, (initialized + raw_size) & 0xFFFFFFFF)
    _point(image, va, placed)


def _remove_signature(image: _Image) -> bool:
    offset, size = image.directory(_DIR_SECURITY)
    if not offset and not size:
        return False
    # "The virtual address value from the Certificate Table entry ... is a file offset".
    end = offset + size
    if end == len(image.data) or (end < len(image.data) and not any(image.data[end:])):
        del image.data[offset:]
    elif end <= len(image.data):
        image.data[offset:end] = bytes(size)
    image.data[image.directory_offset(_DIR_SECURITY) : image.directory_offset(_DIR_SECURITY) + 8] = bytes(8)
    image.directories[_DIR_SECURITY] = (0, 0)
    return True


def _unbind(image: _Image, renamed: list[_NameRef]) -> bool:
    rva, size = image.directory(_DIR_BOUND_IMPORT)
    bound = bool(rva or size)
    for ref in renamed:
        if ref.time_offset is not None and image.u32(ref.time_offset):
            if not ref.has_lookup_table:
                raise PeWriteError(
                    "a bound import descriptor without an import lookup table cannot be renamed"
                )
            _U32.pack_into(image.data, ref.time_offset, 0)
            bound = True
    if bound and len(image.directories) > _DIR_BOUND_IMPORT:
        at = image.directory_offset(_DIR_BOUND_IMPORT)
        image.data[at : at + 8] = bytes(8)
    return bound


def pe_checksum(data: bytes | bytearray, checksum_offset: int) -> int:
    """The image loader's CheckSum of ``data``, the 4 bytes at ``checksum_offset`` taken as zero:
    a 16-bit one's-complement-style sum of the file's words with carries folded, plus its length."""
    padded = bytes(data[:checksum_offset]) + b"\0\0\0\0" + bytes(data[checksum_offset + 4 :])
    if len(padded) % 2:
        padded += b"\0"
    words = array("H")
    words.frombytes(padded)
    if sys.byteorder == "big":
        words.byteswap()
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (total + len(data)) & 0xFFFFFFFF


def _update_checksum(image: _Image) -> None:
    at = image.optional + _CHECKSUM
    if image.u32(at):
        _U32.pack_into(image.data, at, pe_checksum(image.data, at))


def _verify(out: bytes, before: BinaryInfo, rename: Mapping[str, str]) -> None:
    problems = check_pe_invariants(out)
    try:
        after = read_pe(BytesSource(out), deep=True)
    except BinaryFormatError as exc:
        raise PeWriteError(f"the edited image cannot be read back: {exc}") from None
    lowered = {k.lower(): v for k, v in rename.items()}

    def renamed(names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(lowered.get(n.lower(), n) for n in names)

    if after.needed != renamed(before.needed):
        problems.append(f"imports read back as {after.needed}, expected {renamed(before.needed)}")
    if after.delay_needed != renamed(before.delay_needed):
        problems.append(f"delay imports read back as {after.delay_needed}")
    if after.imported_symbols != before.imported_symbols or after.exported_symbols != before.exported_symbols:
        problems.append("imported or exported names changed")
    if problems:
        raise PeWriteError("the edited image is unsound: " + "; ".join(problems))


def check_pe_invariants(data: bytes) -> list[str]:
    """What is wrong with the layout of image ``data`` (empty when it is sound).

    Checks what an edit could break: sections' file data inside the file and not overlapping,
    RVAs ascending, aligned and not overlapping, SizeOfImage covering the last section,
    the section table inside SizeOfHeaders, a nonzero CheckSum matching, the certificate table
    inside the file, and the import and delay-load tables readable with every name present.
    """
    try:
        image = _parse(data)
    except PeWriteError as exc:
        return [str(exc)]
    problems: list[str] = []
    section_alignment = image.u32(image.optional + _SECTION_ALIGNMENT)
    file_alignment = image.u32(image.optional + _FILE_ALIGNMENT)
    size_of_headers = image.u32(image.optional + _SIZE_OF_HEADERS)
    table_end = image.section_table + len(image.sections) * _SECTION_SIZE
    if table_end > size_of_headers:
        problems.append(f"section table ends at {table_end:#x}, past SizeOfHeaders {size_of_headers:#x}")
    previous_end = 0
    ranges: list[tuple[int, int, bytes]] = []
    for s in image.sections:
        label = s.name.rstrip(b"\0").decode("ascii", "replace")
        if section_alignment and s.virtual_address % section_alignment:
            problems.append(f"section {label}: RVA {s.virtual_address:#x} not SectionAlignment-aligned")
        if s.virtual_address < previous_end:
            problems.append(f"section {label}: RVA {s.virtual_address:#x} overlaps the section before")
        previous_end = s.virtual_address + max(s.virtual_size, s.raw_size)
        if s.raw_size:
            if file_alignment and s.raw_pointer % file_alignment:
                problems.append(f"section {label}: file offset {s.raw_pointer:#x} not FileAlignment-aligned")
            if s.raw_pointer + s.raw_size > len(data):
                problems.append(f"section {label}: file data runs past the end of the file")
            ranges.append((s.raw_pointer, s.raw_pointer + s.raw_size, s.name))
    ranges.sort()
    for (_a, end, name), (start, _b, _n) in itertools.pairwise(ranges):
        if start < end:
            problems.append(f"section {name.rstrip(bytes(1)).decode('ascii', 'replace')}: file data overlaps")
    size_of_image = image.u32(image.optional + _SIZE_OF_IMAGE)
    if section_alignment and size_of_image < _align(previous_end, section_alignment):
        problems.append(
            f"SizeOfImage {size_of_image:#x} does not cover the last section (ends {previous_end:#x})"
        )
    checksum = image.u32(image.optional + _CHECKSUM)
    if checksum and checksum != pe_checksum(data, image.optional + _CHECKSUM):
        problems.append(f"CheckSum {checksum:#x} does not match the file")
    offset, size = image.directory(_DIR_SECURITY)
    if size and offset + size > len(data):
        problems.append("the certificate table runs past the end of the file")
    try:
        for ref in _name_refs(image):
            image.cstring_at(ref.rva, "import name")
    except PeWriteError as exc:
        problems.append(str(exc))
    return problems
