"""Reader for PE/COFF images (Windows ``.dll``, ``.pyd`` and ``.exe`` files).

Follows Microsoft's "PE Format" specification (learn.microsoft.com/windows/win32/debug/pe-format),
quoted briefly where a field is interpreted. The reader touches only the DOS header, the PE
signature, the COFF file header, the optional header, the section table and the three data
directories it needs (export, import, delay-load import); it never reads the whole file.

Layout walked::

    DOS header (e_lfanew at 0x3c) -> "PE\\0\\0" -> COFF file header (20 bytes)
      -> optional header (PE32 / PE32+, SizeOfOptionalHeader bytes, ends with data directories)
      -> section table (NumberOfSections x 40 bytes)

Every malformation raises :class:`~native_doctor.errors.BinaryFormatError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from enum import IntEnum, IntFlag
from types import MappingProxyType
from typing import TYPE_CHECKING

from native_doctor.binary._bytes import BytesSource, View
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.errors import BinaryFormatError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from native_doctor.binary._bytes import ByteSource

__all__ = [
    "MAX_DESCRIPTORS",
    "DataDirectory",
    "FileCharacteristics",
    "Machine",
    "OptionalHeaderMagic",
    "Subsystem",
    "read_pe",
]

#: Most import / delay-import descriptors accepted before the table is judged malformed.
MAX_DESCRIPTORS = 10_000


class Machine(IntEnum):
    """COFF file header ``Machine`` values ("Machine Types") the reader names."""

    I386 = 0x14C
    AMD64 = 0x8664
    ARM64 = 0xAA64
    ARM64EC = 0xA641
    ARM64X = 0xA64E
    ARMNT = 0x1C4
    IA64 = 0x200


class FileCharacteristics(IntFlag):
    """COFF file header ``Characteristics`` flags the reader uses."""

    #: "Image only. This indicates that the image file is valid and can be run."
    EXECUTABLE_IMAGE = 0x0002
    #: "The image file is a dynamic-link library (DLL)."
    DLL = 0x2000


class OptionalHeaderMagic(IntEnum):
    """Optional header ``Magic``: "identifies the state of the image file"."""

    PE32 = 0x10B
    PE32_PLUS = 0x20B
    ROM = 0x107


class Subsystem(IntEnum):
    """Optional header ``Subsystem`` values ("Windows Subsystem")."""

    UNKNOWN = 0
    NATIVE = 1
    WINDOWS_GUI = 2
    WINDOWS_CUI = 3
    OS2_CUI = 5
    POSIX_CUI = 7
    NATIVE_WINDOWS = 8
    WINDOWS_CE_GUI = 9
    EFI_APPLICATION = 10
    EFI_BOOT_SERVICE_DRIVER = 11
    EFI_RUNTIME_DRIVER = 12
    EFI_ROM = 13
    XBOX = 14
    WINDOWS_BOOT_APPLICATION = 16


class DataDirectory(IntEnum):
    """Indexes into the optional header's data directories."""

    EXPORT = 0
    IMPORT = 1
    RESOURCE = 2
    DELAY_IMPORT = 13


_ARCH_NAMES = {
    Machine.I386: "x86",
    Machine.AMD64: "x86_64",
    Machine.ARM64: "arm64",
    Machine.ARM64EC: "arm64ec",
    Machine.ARM64X: "arm64x",
    Machine.ARMNT: "arm",
    Machine.IA64: "ia64",
}
_64_BIT_MACHINES = {Machine.AMD64, Machine.ARM64, Machine.ARM64EC, Machine.ARM64X, Machine.IA64}

# --- on-disk structures (all little-endian) ---------------------------------------------------
_DOS_HEADER_SIZE = 64
_E_LFANEW = struct.Struct("<I")  # at 0x3c: "the file offset of the PE signature"
_E_LFANEW_OFFSET = 0x3C
_PE_SIGNATURE = b"PE\0\0"
#: New Executable (Windows 3.x), Linear Executable (VxD, OS/2 2.x) signatures.
_OLD_SIGNATURES = (b"NE", b"LE", b"LX")
#: Machine, NumberOfSections, TimeDateStamp, PointerToSymbolTable, NumberOfSymbols,
#: SizeOfOptionalHeader, Characteristics.
_COFF_HEADER = struct.Struct("<HHIIIHH")
#: Magic, MajorLinkerVersion, MinorLinkerVersion (the optional header's standard fields).
_OPTIONAL_PREFIX = struct.Struct("<HBB")
_DATA_DIRECTORY = struct.Struct("<II")  # VirtualAddress (an RVA), Size
#: A section header is 40 bytes: Name (8 bytes), then VirtualSize, VirtualAddress, SizeOfRawData,
#: PointerToRawData (+ 16 bytes not needed).
_SECTION_HEADER_SIZE = 40
_SECTION_NAME_SIZE = 8
_SECTION_FIELDS = struct.Struct("<IIII")
#: OriginalFirstThunk (Import Lookup Table RVA), TimeDateStamp, ForwarderChain, Name RVA, FirstThunk.
_IMPORT_DESCRIPTOR = struct.Struct("<IIIII")
#: Attributes, Name, ModuleHandle, DelayImportAddressTable, DelayImportNameTable,
#: BoundDelayImportTable, UnloadDelayImportTable, TimeStamp.
_DELAY_DESCRIPTOR = struct.Struct("<IIIIIIII")
#: Export directory table: Name RVA at offset 12 ("The address of the ASCII string that contains
#: the name of the DLL").
_EXPORT_NAME = struct.Struct("<I")
_EXPORT_NAME_OFFSET = 12
_EXPORT_DIRECTORY_SIZE = 40
#: Bytes read first when looking for a NUL-terminated DLL name (longer names take a second read).
_NAME_PROBE = 64
#: ImgDelayDescr.grAttrs bit 0 (delayimp.h ``dlattrRva``): the descriptor's addresses are RVAs.
_DLATTR_RVA = 0x1


@dataclass(frozen=True, slots=True)
class _OptionalLayout:
    """Where the fields the reader needs sit in one optional header variant."""

    bits: int
    image_base: struct.Struct
    image_base_offset: int
    #: SizeOfHeaders (uint32).
    size_of_headers_offset: int
    #: Subsystem (uint16).
    subsystem_offset: int
    #: NumberOfRvaAndSizes (uint32); the data directories follow it.
    rva_count_offset: int

    @property
    def directories_offset(self) -> int:
        """Offset of the first data directory."""
        return self.rva_count_offset + 4


_LAYOUTS = {
    # PE32 has BaseOfData at 24 and a 4-byte ImageBase at 28; the stack/heap sizes are 4 bytes.
    OptionalHeaderMagic.PE32: _OptionalLayout(32, struct.Struct("<I"), 28, 60, 68, 92),
    # PE32+: "PE32+ images allow for a 64-bit address space": ImageBase and the sizes are 8 bytes.
    OptionalHeaderMagic.PE32_PLUS: _OptionalLayout(64, struct.Struct("<Q"), 24, 60, 68, 108),
}


@dataclass(frozen=True, slots=True)
class _Section:
    """One section table entry, reduced to what RVA resolution needs."""

    name: str
    virtual_address: int
    virtual_size: int
    raw_size: int
    raw_pointer: int

    @property
    def mapped_size(self) -> int:
        """Bytes of the section in memory (VirtualSize; SizeOfRawData when VirtualSize is 0)."""
        return self.virtual_size or self.raw_size


@dataclass(frozen=True, slots=True)
class _OptionalHeader:
    """The optional header fields the reader uses."""

    bits: int
    linker_version: str
    image_base: int
    size_of_headers: int
    subsystem: str
    directories: tuple[tuple[int, int], ...]

    def directory(self, index: DataDirectory) -> int:
        """The RVA of data directory ``index``, 0 when absent (beyond NumberOfRvaAndSizes)."""
        return self.directories[index][0] if index < len(self.directories) else 0


class _Image:
    """Resolves RVAs to file offsets through the section table and reads what they point at."""

    __slots__ = ("headers_end", "sections", "view")

    def __init__(self, view: View, sections: tuple[_Section, ...], size_of_headers: int) -> None:
        self.view = view
        self.sections = sections
        # The headers are mapped at RVA 0 up to SizeOfHeaders; never past the first section.
        starts = [s.virtual_address for s in sections] + [s.raw_pointer for s in sections if s.raw_size]
        self.headers_end = min([size_of_headers, *starts])

    def locate(self, rva: int, what: str) -> tuple[int, int]:
        """File offset of ``rva`` and how many bytes of file data back it from there."""
        for section in self.sections:
            delta = rva - section.virtual_address
            if 0 <= delta < section.mapped_size:
                # "SizeOfRawData ... If this is less than VirtualSize, the remainder of the section
                # is zero-filled": such bytes exist in memory only.
                backed = min(section.raw_size, section.mapped_size) - delta
                if backed <= 0:
                    raise BinaryFormatError(
                        f"{what}: RVA {rva:#x} is in the zero-filled part of section {section.name!r}"
                    )
                return self._clip(section.raw_pointer + delta, backed, rva, what)
        if 0 <= rva < self.headers_end:
            return self._clip(rva, self.headers_end - rva, rva, what)
        raise BinaryFormatError(f"{what}: RVA {rva:#x} is not inside any section")

    def zero_filled(self, rva: int) -> bool:
        """Whether ``rva`` lies past a section's file data but inside its VirtualSize (zeros in memory)."""
        return any(s.raw_size <= rva - s.virtual_address < s.mapped_size for s in self.sections)

    def _clip(self, offset: int, backed: int, rva: int, what: str) -> tuple[int, int]:
        available = min(backed, self.view.limit - offset)
        if available <= 0:
            raise BinaryFormatError(
                f"{what}: RVA {rva:#x} maps to offset {offset:#x}, past the end of the file"
            )
        return offset, available

    def load(self, offset: int, length: int, what: str) -> View:
        """``length`` bytes at file ``offset``, read at once, as an in-memory view."""
        return View(BytesSource(self.view.bytes(offset, length, what)))

    def string(self, rva: int, what: str) -> str:
        """The NUL-terminated name at ``rva``."""
        offset, available = self.locate(rva, what)
        # DLL names are short: probe a few bytes first rather than MAX_STRING of them.
        head = self.view.bytes(offset, min(_NAME_PROBE, available), what)
        end = head.find(b"\0")
        name = head[:end].decode("utf-8", "backslashreplace") if end >= 0 else self.view.cstring(offset, what)
        if not name:
            raise BinaryFormatError(f"{what}: empty name at RVA {rva:#x}", offset=offset)
        return name

    def table(self, rva: int, size_hint: int, entry: struct.Struct, what: str) -> Iterator[tuple[int, ...]]:
        """The entries of a null-terminated descriptor table at ``rva``, terminator excluded.

        The first read covers the directory's declared size plus the terminator (usually the
        whole table); should the terminator lie further, reads double until it is found, the
        section's file data ends or :data:`MAX_DESCRIPTORS` entries have been seen.
        """
        offset, available = self.locate(rva, what)
        limit = min(available // entry.size, MAX_DESCRIPTORS + 1)
        batch = max(1, size_hint // entry.size + 1)
        index = 0
        while index < limit:
            count = min(batch, limit - index)
            chunk = self.load(offset + index * entry.size, count * entry.size, what)
            for i in range(count):
                fields = chunk.unpack(entry, i * entry.size, what)
                if not any(fields):
                    return
                if index + i >= MAX_DESCRIPTORS:
                    raise BinaryFormatError(f"{what}: more than {MAX_DESCRIPTORS} entries", offset=offset)
                yield fields
            index += count
            batch = count * 2
        if limit <= MAX_DESCRIPTORS and available % entry.size == 0 and self.zero_filled(rva + available):
            return  # the loader sees the section's zero fill: a null terminator
        raise BinaryFormatError(
            f"{what}: no terminating null entry before the end of the section's data", offset=offset
        )


def read_pe(source: ByteSource, *, deep: bool = False) -> BinaryInfo:
    """Parse a PE image (``MZ`` DOS header followed by a ``PE\\0\\0`` header).

    :raises BinaryFormatError: not a well-formed PE image (for instance a plain DOS program).
    """
    view = View(source)
    pe_offset = _pe_header_offset(view)
    machine, section_count, optional_size, characteristics, symbols = _coff_header(view, pe_offset + 4)
    arch = _arch_name(machine)
    optional_offset = pe_offset + 4 + _COFF_HEADER.size
    kind = _kind(characteristics, has_optional_header=optional_size > 0)
    if optional_size == 0:
        # "Image files have an optional header; object files do not": nothing more to read.
        bits = 64 if machine in _64_BIT_MACHINES else 32
        # Deep reading has no import, export or section table to read (debug_bytes stays None).
        return BinaryInfo(
            format=BinaryFormat.PE, arch=arch, bits=bits, byteorder="little", kind=kind, deep=deep
        )
    optional = _optional_header(view.sub(optional_offset, optional_size, "optional header"))
    sections = _section_table(view, optional_offset + optional_size, section_count)
    image = _Image(view, sections, optional.size_of_headers)
    imports = _imports(image, optional)
    delay_imports = _delay_imports(image, optional)
    info = BinaryInfo(
        format=BinaryFormat.PE,
        arch=arch,
        bits=optional.bits,
        byteorder="little",
        kind=kind,
        needed=tuple(entry.dll for entry in imports),
        delay_needed=tuple(entry.dll for entry in delay_imports),
        dll_name=_export_name(image, optional),
        linker_version=optional.linker_version,
        file_version=_file_version(image, optional),
        subsystem=optional.subsystem,
    )
    if not deep:
        return info
    return _read_deep(image, optional, symbols, [*imports, *delay_imports], info)


# --- VERSIONINFO (resource type RT_VERSION) ---------------------------------------------------
#: Characteristics, TimeDateStamp, MajorVersion, MinorVersion, NumberOfNamedEntries, NumberOfIdEntries.
_RESOURCE_DIRECTORY = struct.Struct("<IIHHHH")
#: Name (or integer ID), OffsetToData (high bit: "the lower 31 bits are the address of another
#: resource directory table"; else of a resource data entry), both relative to the section start.
_RESOURCE_ENTRY = struct.Struct("<II")
#: OffsetToData (an RVA), Size, CodePage, Reserved.
_RESOURCE_DATA = struct.Struct("<IIII")
_RT_VERSION = 16
_SUBDIRECTORY = 0x80000000
_NAMED = 0x80000000
#: VS_VERSIONINFO: wLength, wValueLength, wType, then szKey L"VS_VERSION_INFO", padding to 32 bits,
#: then VS_FIXEDFILEINFO: dwSignature 0xFEEF04BD, dwStrucVersion, dwFileVersionMS, dwFileVersionLS.
_VERSION_HEADER = struct.Struct("<HHH")
_VERSION_KEY = "VS_VERSION_INFO\0".encode("utf-16-le")
_FIXED_FILE_INFO = struct.Struct("<IIII")
_FIXED_SIGNATURE = 0xFEEF04BD
#: A resource tree is three levels deep (type, name, language); no level needs more entries.
_MAX_RESOURCE_ENTRIES = 4096


def _file_version(image: _Image, optional: _OptionalHeader) -> str | None:
    """FileVersion of the VS_FIXEDFILEINFO in the first RT_VERSION resource (``"14.51.36260.0"``).

    None when the image has no version resource, or when it is malformed: resources do not take
    part in loading, so a broken one does not make the image unreadable.
    """
    root = optional.directory(DataDirectory.RESOURCE)
    if root == 0:
        return None
    try:
        entry = _resource_child(image, root, 0, _RT_VERSION)
        for _level in range(2):  # the name level, then the language level: take the first of each
            if entry is None or not entry & _SUBDIRECTORY:
                return None
            entry = _resource_child(image, root, entry & ~_SUBDIRECTORY, None)
        if entry is None or entry & _SUBDIRECTORY:
            return None
        offset, _ = image.locate(root + entry, "resource data entry")
        data_rva, size, _codepage, _reserved = image.view.unpack(
            _RESOURCE_DATA, offset, "resource data entry"
        )
        return _fixed_file_version(image, data_rva, size)
    except BinaryFormatError:
        return None


def _resource_child(image: _Image, root: int, directory: int, wanted: int | None) -> int | None:
    """OffsetToData of the entry with integer ID ``wanted`` (None: the first entry) of a directory."""
    offset, _ = image.locate(root + directory, "resource directory")
    *_, named, ids = image.view.unpack(_RESOURCE_DIRECTORY, offset, "resource directory")
    count = min(named + ids, _MAX_RESOURCE_ENTRIES)
    table = image.view.bytes(
        offset + _RESOURCE_DIRECTORY.size, count * _RESOURCE_ENTRY.size, "resource entries"
    )
    for name, target in _RESOURCE_ENTRY.iter_unpack(table):
        if wanted is None or (not name & _NAMED and name == wanted):
            return int(target)
    return None


def _fixed_file_version(image: _Image, rva: int, size: int) -> str | None:
    offset, available = image.locate(rva, "VS_VERSIONINFO")
    fixed_at = _VERSION_HEADER.size + len(_VERSION_KEY)
    fixed_at += -fixed_at % 4  # "Padding: ... to align the Value member on a 32-bit boundary"
    if min(size, available) < fixed_at + _FIXED_FILE_INFO.size:
        return None
    data = image.view.bytes(offset, fixed_at + _FIXED_FILE_INFO.size, "VS_VERSIONINFO")
    _length, value_length, _type = _VERSION_HEADER.unpack_from(data, 0)
    if data[_VERSION_HEADER.size : _VERSION_HEADER.size + len(_VERSION_KEY)] != _VERSION_KEY:
        return None
    signature, _struct_version, high, low = _FIXED_FILE_INFO.unpack_from(data, fixed_at)
    if value_length == 0 or signature != _FIXED_SIGNATURE:
        return None
    return f"{high >> 16}.{high & 0xFFFF}.{low >> 16}.{low & 0xFFFF}"


def _pe_header_offset(view: View) -> int:
    """Follow e_lfanew to the PE signature; reject DOS (and 16-bit NE/LE/LX) programs."""
    if view.limit < _DOS_HEADER_SIZE:
        raise BinaryFormatError(f"MZ file of {view.limit} bytes is too short for a DOS header", offset=0)
    # "At location 0x3c, the stub has the file offset to the PE signature."
    (e_lfanew,) = view.unpack(_E_LFANEW, _E_LFANEW_OFFSET, "DOS header e_lfanew")
    in_file = 0 <= e_lfanew <= view.limit - 4
    signature = view.bytes(e_lfanew, 4, "PE signature") if in_file else b""
    if signature != _PE_SIGNATURE:
        what = "a DOS program"
        if signature[:2] in _OLD_SIGNATURES:
            what = f"a 16-bit Windows or OS/2 program ({signature[:2].decode()} signature)"
        raise BinaryFormatError(
            f"MZ file without a PE signature at e_lfanew={e_lfanew:#x}: {what}, not a PE image",
            offset=_E_LFANEW_OFFSET,
        )
    return e_lfanew


def _coff_header(view: View, offset: int) -> tuple[int, int, int, int, tuple[int, int]]:
    """Machine, NumberOfSections, SizeOfOptionalHeader, Characteristics and (PointerToSymbolTable,
    NumberOfSymbols)."""
    machine, sections, _, symbol_table, symbol_count, optional_size, characteristics = view.unpack(
        _COFF_HEADER, offset, "COFF file header"
    )
    return machine, sections, optional_size, characteristics, (symbol_table, symbol_count)


def _arch_name(machine: int) -> str:
    """Normalized architecture name for a COFF ``Machine`` value."""
    try:
        return _ARCH_NAMES[Machine(machine)]
    except (ValueError, KeyError):
        return f"unknown-{machine:#x}"


def _kind(characteristics: int, *, has_optional_header: bool) -> FileKind:
    """What the loader makes of the file, from the COFF ``Characteristics``."""
    flags = FileCharacteristics(
        characteristics & (FileCharacteristics.DLL | FileCharacteristics.EXECUTABLE_IMAGE)
    )
    if FileCharacteristics.DLL in flags:
        return FileKind.SHARED_LIBRARY
    if FileCharacteristics.EXECUTABLE_IMAGE in flags:
        return FileKind.EXECUTABLE
    # "If this flag is not set, it indicates a linker error."
    return FileKind.OTHER if has_optional_header else FileKind.OBJECT


def _optional_header(header: View) -> _OptionalHeader:
    """Parse the optional header (``header`` spans exactly SizeOfOptionalHeader bytes)."""
    magic, major, minor = header.unpack(_OPTIONAL_PREFIX, 0, "optional header magic")
    if magic == OptionalHeaderMagic.ROM:
        raise BinaryFormatError("ROM image (optional header magic 0x107): not a loadable PE image")
    if magic not in _LAYOUTS:
        raise BinaryFormatError(f"unknown optional header magic {magic:#x} (expected 0x10b or 0x20b)")
    layout = _LAYOUTS[OptionalHeaderMagic(magic)]
    if header.limit < layout.directories_offset:
        raise BinaryFormatError(
            f"SizeOfOptionalHeader {header.limit} is too small for a {OptionalHeaderMagic(magic).name} "
            f"optional header ({layout.directories_offset} bytes before the data directories)"
        )
    (image_base,) = header.unpack(layout.image_base, layout.image_base_offset, "optional header ImageBase")
    (size_of_headers,) = header.unpack("<I", layout.size_of_headers_offset, "optional header SizeOfHeaders")
    (subsystem,) = header.unpack("<H", layout.subsystem_offset, "optional header Subsystem")
    (rva_count,) = header.unpack("<I", layout.rva_count_offset, "optional header NumberOfRvaAndSizes")
    # "NumberOfRvaAndSizes: The number of data-directory entries in the remainder of the optional
    # header." Only the 16 defined entries matter; entries past SizeOfOptionalHeader do not exist.
    room = (header.limit - layout.directories_offset) // _DATA_DIRECTORY.size
    count = min(rva_count, room, 16)
    raw = header.bytes(layout.directories_offset, count * _DATA_DIRECTORY.size, "data directories")
    return _OptionalHeader(
        bits=layout.bits,
        # "MajorLinkerVersion: The linker major version number." MSVC 14.38 writes 14 and 38.
        linker_version=f"{major}.{minor}",
        image_base=image_base,
        size_of_headers=size_of_headers,
        subsystem=_subsystem_name(subsystem),
        directories=tuple((rva, size) for rva, size in _DATA_DIRECTORY.iter_unpack(raw)),
    )


def _subsystem_name(value: int) -> str:
    """``windows_cui`` etc. for a ``Subsystem`` value; ``unknown-<n>`` for undefined ones."""
    try:
        return Subsystem(value).name.lower()
    except ValueError:
        return f"unknown-{value}"


def _section_table(view: View, offset: int, count: int) -> tuple[_Section, ...]:
    """The section table, read at once. "The section table immediately follows the optional header"."""
    table = View(BytesSource(view.bytes(offset, count * _SECTION_HEADER_SIZE, "section table")))
    sections = []
    for index in range(count):
        at = index * _SECTION_HEADER_SIZE
        name = table.bytes(at, _SECTION_NAME_SIZE, "section name")
        virtual_size, virtual_address, raw_size, raw_pointer = table.unpack(
            _SECTION_FIELDS, at + _SECTION_NAME_SIZE, "section header"
        )
        sections.append(
            _Section(
                # "An 8-byte, null-padded UTF-8 encoded string." (Long names of object files, "/4",
                # refer to a string table that images do not have.)
                name=name.rstrip(b"\0").decode("utf-8", "backslashreplace"),
                virtual_address=virtual_address,
                virtual_size=virtual_size,
                raw_size=raw_size,
                raw_pointer=raw_pointer,
            )
        )
    return tuple(sections)


@dataclass(frozen=True, slots=True)
class _ImportEntry:
    """One import or delay-load descriptor: the DLL name and where its lookup table is."""

    dll: str
    #: RVA of the import lookup table (0: none); delay-load name tables of Visual C++ 6 hold VAs.
    lookup_table: int
    #: What to subtract from the lookup table's hint/name addresses: ImageBase for VAs, else 0.
    bias: int = 0


def _imports(image: _Image, optional: _OptionalHeader) -> tuple[_ImportEntry, ...]:
    """DLL names of the import directory table, in order, with their lookup tables.

    "The last directory entry is empty (filled with null values), which indicates the end of the
    directory table." Each entry's Name is "the address of an ASCII string that contains the name
    of the DLL. This address is relative to the image base."
    """
    rva = optional.directory(DataDirectory.IMPORT)
    if rva == 0:
        return ()
    size = optional.directories[DataDirectory.IMPORT][1]
    names = []
    for index, descriptor in enumerate(image.table(rva, size, _IMPORT_DESCRIPTOR, "import directory")):
        name_rva = descriptor[3]
        if name_rva == 0:
            raise BinaryFormatError(f"import descriptor {index} has no DLL name")
        name = image.string(name_rva, f"import descriptor {index} DLL name")
        # OriginalFirstThunk: "The RVA of the import lookup table"; FirstThunk, "The RVA of the
        # import address table", has identical contents until the image is bound.
        names.append(_ImportEntry(name, descriptor[0] or descriptor[4]))
    return tuple(names)


def _delay_imports(image: _Image, optional: _OptionalHeader) -> tuple[_ImportEntry, ...]:
    """DLL names of the delay-load directory table, in order.

    The spec ("Delay-Load Directory Table") says Attributes "must be zero" and fields are RVAs;
    in practice (delayimp.h) Visual C++ 7+ sets bit 0, ``dlattrRva``, and Visual C++ 6 left it
    clear and wrote virtual addresses, from which ImageBase has to be subtracted.
    """
    rva = optional.directory(DataDirectory.DELAY_IMPORT)
    if rva == 0:
        return ()
    size = optional.directories[DataDirectory.DELAY_IMPORT][1]
    names = []
    for index, descriptor in enumerate(image.table(rva, size, _DELAY_DESCRIPTOR, "delay-load directory")):
        attributes, name, name_table = descriptor[0], descriptor[1], descriptor[4]
        bias = 0
        if not attributes & _DLATTR_RVA:
            bias = optional.image_base
            if name < optional.image_base:
                raise BinaryFormatError(
                    f"delay-load descriptor {index}: DLL name VA {name:#x} below ImageBase "
                    f"{optional.image_base:#x}"
                )
            name -= optional.image_base
        if name == 0:
            raise BinaryFormatError(f"delay-load descriptor {index} has no DLL name")
        dll = image.string(name, f"delay-load descriptor {index} DLL name")
        # "Delay Import Name Table: The RVA of the delay-load name table (INT) ... This matches the
        # layout of the import name table."
        names.append(_ImportEntry(dll, max(0, name_table - bias) if name_table else 0, bias))
    return tuple(names)


def _export_name(image: _Image, optional: _OptionalHeader) -> str | None:
    """The export directory's Name: "the name of the DLL" as linked (None without exports)."""
    rva = optional.directory(DataDirectory.EXPORT)
    if rva == 0:
        return None
    offset, available = image.locate(rva, "export directory")
    if available < _EXPORT_DIRECTORY_SIZE:
        raise BinaryFormatError("export directory table is truncated", offset=offset)
    (name_rva,) = image.view.unpack(_EXPORT_NAME, offset + _EXPORT_NAME_OFFSET, "export directory Name")
    if name_rva == 0:
        return None
    return image.string(name_rva, "export directory DLL name")


# --- deep reading: imported and exported names, debug information --------------------------------

#: Most import lookup entries and export names read, over the whole image.
MAX_SYMBOLS = 2_000_000
#: "Ordinal/Name Flag: If this bit is set, import by ordinal. Otherwise, import by name. Bit's value
#: is 0x80000000 for PE32, 0x8000000000000000 for PE32+."
_ORDINAL_FLAG = {32: 1 << 31, 64: 1 << 63}
#: "Hint/Name Table RVA: A 31-bit RVA of a hint/name table entry"; "Ordinal Number: A 16-bit number".
_NAME_RVA_MASK = 0x7FFFFFFF
_ORDINAL_MASK = 0xFFFF
#: A hint/name entry: "Hint: 2 bytes", then "Name: An ASCII string that contains the name to import".
_HINT_SIZE = 2
#: Export directory table: NumberOfNamePointers at 24, NamePointerRVA ("The address of the export
#: name pointer table, relative to the image base") at 32.
_U32 = struct.Struct("<I")
_EXPORT_NAME_COUNT_OFFSET = 24
_EXPORT_NAME_POINTERS_OFFSET = 32
#: "Size of a symbol table record: 18 bytes"; "the COFF string table ... immediately following the
#: COFF symbol table ... At the beginning of the COFF string table are 4 bytes that contain the total
#: size (in bytes) of the rest of the string table. This size includes the size field itself".
_SYMBOL_SIZE = 18
_STRING_TABLE_SIZE = struct.Struct("<I")
_DEBUG_PREFIX = ".debug"


class _Sections:
    """The file data of whole sections, each read once: lookup tables and names sit together."""

    __slots__ = ("_image", "_pieces")

    def __init__(self, image: _Image) -> None:
        self._image = image
        self._pieces: list[tuple[int, bytes]] = []

    def at(self, rva: int, what: str) -> tuple[bytes, int]:
        """The file data of the section holding ``rva``, and ``rva``'s index in it."""
        for start, data in self._pieces:
            if start <= rva < start + len(data):
                return data, rva - start
        offset, available = self._image.locate(rva, what)
        start = next(
            (s.virtual_address for s in self._image.sections if 0 <= rva - s.virtual_address < s.mapped_size),
            0,  # the headers, mapped at RVA 0
        )
        data = self._image.view.bytes(offset - (rva - start), rva - start + available, what)
        self._pieces.append((start, data))
        return data, rva - start

    def string(self, rva: int, what: str) -> str:
        data, index = self.at(rva, what)
        end = data.find(b"\0", index)
        if end < 0:
            raise BinaryFormatError(f"{what}: unterminated name at RVA {rva:#x}")
        if end == index:
            raise BinaryFormatError(f"{what}: empty name at RVA {rva:#x}")
        return data[index:end].decode("utf-8", "backslashreplace")

    def words(self, rva: int, entry: struct.Struct, what: str) -> list[int]:
        """The entries of a zero-terminated table of ``entry`` words at ``rva``, terminator excluded."""
        data, index = self.at(rva, what)
        values: list[int] = []
        for (value,) in entry.iter_unpack(
            data[index : index + (len(data) - index) // entry.size * entry.size]
        ):
            if value == 0:
                return values
            values.append(value)
        if self._image.zero_filled(rva + len(data) - index):
            return values  # the loader sees the section's zero fill: a null terminator
        raise BinaryFormatError(f"{what}: no terminating null entry before the end of the section's data")


class _Budget:
    """How many more names may be read."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_SYMBOLS

    def spend(self, count: int, what: str) -> None:
        self.left -= count
        if self.left < 0:
            raise BinaryFormatError(f"{what}: more than {MAX_SYMBOLS} names")


def _read_deep(
    image: _Image,
    optional: _OptionalHeader,
    symbols: tuple[int, int],
    imports: list[_ImportEntry],
    info: BinaryInfo,
) -> BinaryInfo:
    """``info`` with the imported and exported names and the debug information size filled in."""
    sections = _Sections(image)
    budget = _Budget()
    by_library: dict[str, set[str]] = {}
    for index, entry in enumerate(imports):
        names = _lookup_table(
            sections, optional.bits, entry, f"import lookup table {index} ({entry.dll})", budget
        )
        by_library.setdefault(entry.dll, set()).update(names)
    return replace(
        info,
        deep=True,
        imported_symbols=tuple(sorted(set().union(*by_library.values()))),
        exported_symbols=_export_names(image, sections, optional, budget),
        debug_bytes=_debug_bytes(image, symbols),
        imports_by_library=MappingProxyType({dll: tuple(sorted(names)) for dll, names in by_library.items()}),
    )


def _lookup_table(
    sections: _Sections, bits: int, entry: _ImportEntry, what: str, budget: _Budget
) -> list[str]:
    """The names an import lookup table (or delay-load name table) imports; ordinals as ``#<n>``."""
    if entry.lookup_table == 0:
        return []
    thunks = sections.words(entry.lookup_table, struct.Struct("<Q" if bits == 64 else "<I"), what)
    budget.spend(len(thunks), what)
    names = []
    for value in thunks:
        if value & _ORDINAL_FLAG[bits]:
            names.append(f"#{value & _ORDINAL_MASK}")
            continue
        hint_name = value - entry.bias
        if not 0 < hint_name <= _NAME_RVA_MASK:
            raise BinaryFormatError(f"{what}: hint/name address {value:#x} is not a 31-bit RVA")
        names.append(sections.string(hint_name + _HINT_SIZE, f"{what} name"))
    return names


def _export_names(
    image: _Image, sections: _Sections, optional: _OptionalHeader, budget: _Budget
) -> tuple[str, ...]:
    """The export name pointer table's names: "the public export names" of the image."""
    rva = optional.directory(DataDirectory.EXPORT)
    if rva == 0:
        return ()
    data, index = sections.at(rva, "export directory")
    if len(data) - index < _EXPORT_DIRECTORY_SIZE:
        raise BinaryFormatError("export directory table is truncated")
    (count,) = _U32.unpack_from(data, index + _EXPORT_NAME_COUNT_OFFSET)
    (pointers,) = _U32.unpack_from(data, index + _EXPORT_NAME_POINTERS_OFFSET)
    if count == 0:
        return ()
    budget.spend(count, "export name pointer table")
    table, at = sections.at(pointers, "export name pointer table")
    if at + 4 * count > len(table):
        raise BinaryFormatError(f"export name pointer table: {count} entries run past their section")
    rvas = struct.unpack_from(f"<{count}I", table, at)
    return tuple(sorted({sections.string(name, "export name") for name in rvas}))


def _debug_bytes(image: _Image, symbols: tuple[int, int]) -> int:
    """Bytes of ``.debug*`` sections plus the COFF symbol and string tables (0 when none)."""
    pointer, count = symbols
    strings = b""
    total = 0
    if pointer:
        # "PointerToSymbolTable: The file offset of the COFF symbol table, or zero if no COFF symbol
        # table is present. This value should be zero for an image because COFF debugging
        # information is deprecated" (MinGW's unstripped images still carry it).
        end = pointer + count * _SYMBOL_SIZE
        (size,) = image.view.unpack(_STRING_TABLE_SIZE, end, "COFF string table size")
        if size >= _STRING_TABLE_SIZE.size:
            strings = image.view.bytes(end, size, "COFF string table")
        total = count * _SYMBOL_SIZE + max(size, _STRING_TABLE_SIZE.size)
    for section in image.sections:
        if _long_name(section.name, strings).startswith(_DEBUG_PREFIX):
            # The file data without its FileAlignment padding, as binutils' ``objdump -h`` counts it.
            total += min(section.raw_size, section.virtual_size or section.raw_size)
    return total


def _long_name(name: str, strings: bytes) -> str:
    """A section name, "/<decimal>" names resolved through the COFF string table.

    "For longer names, this field contains a slash (/) that is followed by an ASCII representation
    of a decimal number that is an offset into the string table." MinGW writes ``.debug_info`` so.
    """
    if not (name.startswith("/") and name[1:].isdigit() and name[1:].isascii()):
        return name
    offset = int(name[1:])
    end = strings.find(b"\0", offset)
    if offset < _STRING_TABLE_SIZE.size or end < 0:
        raise BinaryFormatError(f"section name {name!r}: offset outside the COFF string table")
    return strings[offset:end].decode("utf-8", "backslashreplace")
