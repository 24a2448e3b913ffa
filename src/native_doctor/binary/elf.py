"""Read what a dynamic loader needs from an ELF file, touching as few bytes as possible.

Only the ELF header, the program header table and what the segments point at are read: PT_INTERP,
the PT_DYNAMIC segment (in one read), the strings it names in the dynamic string table, the
DT_VERNEED / DT_VERDEF chains, PT_GNU_STACK and the GNU property note. Section headers are never
read: they sit at the end of the file, and a wheel member may be decompressed on demand.

References: the System V gABI ("gABI", chapters 4 and 5), the Linux Standard Base Core
specification ("LSB", symbol versioning), "Linux Extensions to gABI" (GNU property notes) and
the x86-64 psABI (ISA level bits).
"""

from __future__ import annotations

import struct
from dataclasses import replace
from enum import IntEnum
from types import MappingProxyType
from typing import Final, NamedTuple

from native_doctor.binary._bytes import MAX_STRING, ByteSource, BytesSource, View
from native_doctor.binary.model import BinaryFormat, BinaryInfo, FileKind
from native_doctor.errors import BinaryFormatError

__all__ = ["read_elf"]

#: Most dynamic entries read; real files have a few dozen.
MAX_DYNAMIC_ENTRIES = 100_000
#: Most verneed/vernaux (or verdef) entries followed in one chain.
MAX_VERSION_ENTRIES = 100_000
#: Most bytes of one note segment scanned for the GNU property note, and most segments scanned.
MAX_NOTE_BYTES = 1 << 16
MAX_NOTE_SEGMENTS = 16
#: Largest program header table read (65534 entries of 56 bytes fit).
MAX_PROGRAM_HEADER_BYTES = 4 << 20
#: Pieces of the file kept in memory (a chain spread over a huge file must not pile them up).
MAX_PIECES = 16
#: Smallest read: the head of the file, a string table or version chain come in pieces this big.
READ_CHUNK = 4096

# Field values are plain ``int`` constants in classes used as namespaces: an ``IntEnum`` class
# costs ~0.05-0.15 ms to create at import in Python 3.11 (the fifteen here ~1 ms of every command
# that reads ELF), and the reader only compares values. ``SegmentType`` and ``DynamicTag`` stay
# enums: the writer's checks name them in their messages.


class ElfClass:
    """e_ident[EI_CLASS]."""

    ELFCLASS32: Final = 1
    ELFCLASS64: Final = 2


class ElfData:
    """e_ident[EI_DATA]."""

    ELFDATA2LSB: Final = 1
    ELFDATA2MSB: Final = 2


class ElfType:
    """e_type."""

    ET_NONE: Final = 0
    ET_REL: Final = 1
    ET_EXEC: Final = 2
    ET_DYN: Final = 3
    ET_CORE: Final = 4


class Machine:
    """e_machine values this reader names."""

    EM_386: Final = 3
    EM_IAMCU: Final = 6
    EM_MIPS: Final = 8
    EM_PPC: Final = 20
    EM_PPC64: Final = 21
    EM_S390: Final = 22
    EM_ARM: Final = 40
    EM_X86_64: Final = 62
    EM_AARCH64: Final = 183
    EM_RISCV: Final = 243
    EM_LOONGARCH: Final = 258


class SegmentType(IntEnum):
    """p_type values this reader uses."""

    PT_LOAD = 1
    PT_DYNAMIC = 2
    PT_INTERP = 3
    PT_NOTE = 4
    PT_GNU_STACK = 0x6474E551
    PT_GNU_PROPERTY = 0x6474E553


class SegmentFlag:
    """p_flags."""

    PF_X: Final = 0x1
    PF_W: Final = 0x2
    PF_R: Final = 0x4


class DynamicTag(IntEnum):
    """d_tag values this reader uses."""

    DT_NULL = 0
    DT_NEEDED = 1
    DT_HASH = 4
    DT_STRTAB = 5
    DT_SYMTAB = 6
    DT_STRSZ = 10
    DT_SYMENT = 11
    DT_SONAME = 14
    DT_RPATH = 15
    DT_TEXTREL = 22
    DT_RUNPATH = 29
    DT_FLAGS = 30
    DT_GNU_HASH = 0x6FFFFEF5
    DT_FLAGS_1 = 0x6FFFFFFB
    DT_VERDEF = 0x6FFFFFFC
    DT_VERDEFNUM = 0x6FFFFFFD
    DT_VERNEED = 0x6FFFFFFE
    DT_VERNEEDNUM = 0x6FFFFFFF


class DynamicFlag:
    """DT_FLAGS bits."""

    DF_TEXTREL: Final = 0x4


class DynamicFlag1:
    """DT_FLAGS_1 bits."""

    DF_1_PIE: Final = 0x08000000


class VersionFlag:
    """vd_flags / vna_flags bits (LSB)."""

    VER_FLG_BASE: Final = 0x1
    VER_FLG_WEAK: Final = 0x2


#: LSB: "vn_version ... shall be set to 1"; the same for vd_version.
VER_CURRENT = 1


class NoteType:
    """n_type values of notes named "GNU"."""

    NT_GNU_PROPERTY_TYPE_0: Final = 5


class GnuProperty:
    """pr_type values this reader uses."""

    GNU_PROPERTY_X86_ISA_1_NEEDED: Final = 0xC0008002


_GNU_NOTE_NAME = b"GNU\0"
_X86_MACHINES = frozenset({Machine.EM_386, Machine.EM_IAMCU, Machine.EM_X86_64})
_ELF_MAGIC = b"\x7fELF"
_EI_NIDENT = 16


# Private fixed records are NamedTuples: one costs ~0.05 ms to define where a frozen dataclass
# costs ~0.3 ms, paid by every command at start-up (benchmarks/startup.py --dataclasses).
class _Layout(NamedTuple):
    """Struct formats for one (EI_CLASS, EI_DATA) pair."""

    bits: int
    byteorder: str
    #: The ELF header after e_ident: e_type, e_machine, e_version, e_entry, e_phoff, e_shoff,
    #: e_flags, e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx.
    ehdr: struct.Struct
    #: Elf32_Phdr and Elf64_Phdr order their fields differently; see :func:`_segment`.
    phdr: struct.Struct
    #: d_tag, d_un.
    dyn: struct.Struct
    #: Elf_Verneed / Elf_Vernaux / Elf_Verdef / Elf_Verdaux have the same size in both classes.
    verneed: struct.Struct
    vernaux: struct.Struct
    verdef: struct.Struct
    verdaux: struct.Struct
    #: n_namesz, n_descsz, n_type (32-bit words in both classes).
    note: struct.Struct
    #: pr_type, pr_datasz.
    prop: struct.Struct
    u32: struct.Struct
    #: Elf32_Sym (st_name, st_value, st_size, st_info, st_other, st_shndx) and Elf64_Sym (st_name,
    #: st_info, st_other, st_shndx, st_value, st_size); ``sym_fields`` indexes st_info, st_other, st_shndx.
    sym: struct.Struct
    sym_fields: tuple[int, int, int]
    #: Elf_Shdr: sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info,
    #: sh_addralign, sh_entsize.
    shdr: struct.Struct


def _make_layout(bits: int, order: str) -> _Layout:
    word = "Q" if bits == 64 else "I"  # Elf64_Addr/Off/Xword vs Elf32_Addr/Off/Word
    phdr = "IIQQQQQQ" if bits == 64 else "IIIIIIII"
    return _Layout(
        bits=bits,
        byteorder="little" if order == "<" else "big",
        ehdr=struct.Struct(f"{order}HHI{word}{word}{word}IHHHHHH"),
        phdr=struct.Struct(order + phdr),
        dyn=struct.Struct(f"{order}{word}{word}"),
        verneed=struct.Struct(order + "HHIII"),
        vernaux=struct.Struct(order + "IHHII"),
        verdef=struct.Struct(order + "HHHHIII"),
        verdaux=struct.Struct(order + "II"),
        note=struct.Struct(order + "III"),
        prop=struct.Struct(order + "II"),
        u32=struct.Struct(order + "I"),
        sym=struct.Struct(order + ("IBBHQQ" if bits == 64 else "IIIBBH")),
        sym_fields=(1, 2, 3) if bits == 64 else (3, 4, 5),
        shdr=struct.Struct(order + ("IIQQQQIIQQ" if bits == 64 else "IIIIIIIIII")),
    )


_LAYOUTS: dict[tuple[int, int], _Layout] = {
    (ElfClass.ELFCLASS32, ElfData.ELFDATA2LSB): _make_layout(32, "<"),
    (ElfClass.ELFCLASS32, ElfData.ELFDATA2MSB): _make_layout(32, ">"),
    (ElfClass.ELFCLASS64, ElfData.ELFDATA2LSB): _make_layout(64, "<"),
    (ElfClass.ELFCLASS64, ElfData.ELFDATA2MSB): _make_layout(64, ">"),
}


class _Header(NamedTuple):
    """The ELF header fields after e_ident that the reader uses."""

    elf_type: int
    machine: int
    phoff: int
    phentsize: int
    phnum: int
    #: The section header table (read by deep reading only): e_shoff, e_shentsize, e_shnum, e_shstrndx.
    shoff: int = 0
    shentsize: int = 0
    shnum: int = 0
    shstrndx: int = 0


class _Segment(NamedTuple):
    """One program header (p_type, p_flags, p_offset, p_vaddr, p_filesz, p_align)."""

    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    align: int


class _Dynamic:
    """The raw values of the dynamic entries this reader uses (string-table indexes, addresses)."""

    __slots__ = (
        "flags", "flags_1", "gnu_hash", "hash", "needed", "rpath", "runpath", "soname", "strsz", "strtab",
        "syment", "symtab", "textrel", "verdef", "verdefnum", "verneed", "verneednum",
    )  # fmt: skip

    def __init__(self) -> None:
        self.needed: list[int] = []
        self.soname: int | None = None
        self.rpath: int | None = None
        self.runpath: int | None = None
        self.strtab: int | None = None
        self.strsz: int | None = None
        self.verneed: int | None = None
        self.verneednum: int | None = None
        self.verdef: int | None = None
        self.verdefnum: int | None = None
        self.flags = 0
        self.flags_1 = 0
        self.textrel = False
        #: Deep reading only: the dynamic symbol table and the hash tables that give its size.
        self.symtab: int | None = None
        self.syment: int | None = None
        self.hash: int | None = None
        self.gnu_hash: int | None = None


class _Reader:
    """Reads the file in few, small pieces and keeps them: later reads inside a piece are free."""

    __slots__ = ("_pieces", "_view")

    def __init__(self, view: View) -> None:
        self._view = view
        self._pieces: list[tuple[int, bytes, View]] = []

    def sub(self, offset: int, length: int, what: str) -> View:
        """A bounds-checked view of exactly ``length`` bytes at file offset ``offset``."""
        for start, data, view in reversed(self._pieces):  # chains read forward
            if start <= offset and offset + length <= start + len(data):
                return view.sub(offset - start, length, what)
        piece = self._read(offset, length, what)
        return piece.sub(0, length, what)

    def cstring(self, offset: int, what: str, max_length: int) -> str:
        """The NUL-terminated string at file offset ``offset`` (at most ``max_length`` bytes)."""
        for start, data, view in reversed(self._pieces):  # chains read forward
            rel = offset - start
            if 0 <= rel < len(data) and data.find(b"\0", rel, rel + max_length + 1) >= 0:
                return view.cstring(rel, what, max_length=max_length)
        piece = self._read(offset, max_length + 1, what, at_most=True)
        return piece.cstring(0, what, max_length=max_length)

    def _read(self, offset: int, length: int, what: str, *, at_most: bool = False) -> View:
        """Read ``length`` bytes (``at_most``: up to ``length``), but a chunk at least, and keep them."""
        available = self._view.limit - offset
        if at_most:
            length = max(0, min(length, available))
        data = self._view.bytes(offset, max(length, min(READ_CHUNK, available)), what)
        view = View(BytesSource(data))
        self._pieces.append((offset, data, view))
        if len(self._pieces) > MAX_PIECES:
            del self._pieces[1]  # keep the head of the file; forget the oldest other piece
        return view

    @property
    def size(self) -> int:
        """Bytes in the file."""
        return self._view.limit

    def table(self, offset: int, length: int, what: str) -> bytes:
        """Exactly ``length`` bytes at ``offset`` in one read, not kept (symbol and string tables)."""
        return self._view.bytes(offset, length, what)


class _StringTable:
    """The dynamic string table (DT_STRTAB, DT_STRSZ), read string by string."""

    __slots__ = ("_offset", "_reader", "_size")

    def __init__(self, reader: _Reader, offset: int, size: int) -> None:
        self._reader = reader
        self._offset = offset
        self._size = size

    def get(self, index: int, what: str) -> str:
        """The string at ``index`` (gABI: "one references a string as an index into the string section")."""
        if index >= self._size:
            raise BinaryFormatError(
                f"{what}: string index {index} is outside the dynamic string table ({self._size} bytes)",
                offset=self._offset,
            )
        max_length = min(MAX_STRING, self._size - index - 1)
        return self._reader.cstring(self._offset + index, what, max_length)


class _Budget:
    """How many more entries of one table may be read, shared by its nested chains."""

    __slots__ = ("_left", "_what")

    def __init__(self, what: str, limit: int) -> None:
        self._what = what
        self._left = limit

    def spend(self, offset: int) -> None:
        """Count one more entry; raise when there are too many."""
        if self._left <= 0:
            raise BinaryFormatError(f"{self._what}: too many entries", offset=offset)
        self._left -= 1


class _ChainGuard:
    """Bounds one linked chain of table entries: no entry visited twice, and a shared budget.

    The LSB's next-entry fields are unsigned byte offsets added to the current entry's, so a
    chain cannot really loop; the guard keeps that true whatever the arithmetic becomes.
    """

    __slots__ = ("_budget", "_seen", "_what")

    def __init__(self, what: str, budget: _Budget) -> None:
        self._what = what
        self._budget = budget
        self._seen: set[int] = set()

    def visit(self, offset: int) -> None:
        """Record a visit to the entry at ``offset``; raise on a cycle or too many entries."""
        if offset in self._seen:
            raise BinaryFormatError(f"{self._what}: chain loops back to offset {offset}", offset=offset)
        self._budget.spend(offset)
        self._seen.add(offset)


def read_elf(source: ByteSource, *, deep: bool = False) -> BinaryInfo:
    """Parse the ELF file in ``source`` into a :class:`BinaryInfo`.

    :raises BinaryFormatError: the bytes are not a well-formed ELF file.
    """
    reader = _Reader(View(source))
    layout = _identify(reader)
    header = _read_header(reader, layout)
    segments = _read_program_headers(reader, layout, header)
    dynamic_segment = _first(segments, SegmentType.PT_DYNAMIC)
    dynamic = _read_dynamic(reader, layout, dynamic_segment) if dynamic_segment else _Dynamic()
    names = _read_names(reader, layout, segments, dynamic)
    info = BinaryInfo(
        format=BinaryFormat.ELF,
        arch=_arch(header.machine, layout),
        bits=layout.bits,
        byteorder=layout.byteorder,
        kind=_kind(header.elf_type, dynamic),
        interpreter=_read_interpreter(reader, segments),
        executable_stack=_executable_stack(segments),
        # gABI: with DT_TEXTREL (or DF_TEXTREL in DT_FLAGS) "one or more relocation entries might
        # request modifications to a non-writable segment".
        text_relocations=dynamic.textrel or bool(dynamic.flags & DynamicFlag.DF_TEXTREL),
        x86_isa_level=_x86_isa_level(reader, layout, header, segments),
        needed=names.needed,
        soname=names.soname,
        rpath=names.rpath,
        runpath=names.runpath,
        symbol_versions=MappingProxyType(names.symbol_versions),
        weak_symbol_versions=MappingProxyType(names.weak_symbol_versions),
        version_definitions=names.version_definitions,
    )
    return _read_deep(reader, layout, header, segments, dynamic, info) if deep else info


def _identify(reader: _Reader) -> _Layout:
    ident = reader.sub(0, _EI_NIDENT, "ELF identification").bytes(0, _EI_NIDENT, "ELF identification")
    if ident[:4] != _ELF_MAGIC:
        raise BinaryFormatError("not an ELF file (bad magic number)", offset=0)
    # gABI: e_ident[EI_CLASS] (byte 4) "identifies the file's class, or capacity";
    # e_ident[EI_DATA] (byte 5) "specifies the encoding of ... data structures".
    layout = _LAYOUTS.get((ident[4], ident[5]))
    if layout is None:
        raise BinaryFormatError(f"unsupported ELF class/data encoding {ident[4]}/{ident[5]}", offset=4)
    return layout


def _read_header(reader: _Reader, layout: _Layout) -> _Header:
    fields = reader.sub(_EI_NIDENT, layout.ehdr.size, "ELF header").unpack(layout.ehdr, 0, "ELF header")
    e_type, e_machine, _version, _entry, e_phoff, e_shoff, _flags, _ehsize, e_phentsize, e_phnum = fields[:10]
    e_shentsize, e_shnum, e_shstrndx = fields[10:]
    if e_phnum == 0xFFFF:
        # gABI: PN_XNUM means "the actual number of program header table entries is contained in
        # the sh_info field of the section header at index 0": only core files need that many.
        raise BinaryFormatError("extended program header count (PN_XNUM) is not supported", offset=16)
    if e_phnum and e_phentsize < layout.phdr.size:
        raise BinaryFormatError(f"program header entry size {e_phentsize} is too small", offset=16)
    if e_phnum * e_phentsize > MAX_PROGRAM_HEADER_BYTES:
        raise BinaryFormatError(
            f"program header table of {e_phnum * e_phentsize} bytes is too large", offset=16
        )
    return _Header(
        e_type, e_machine, e_phoff, e_phentsize, e_phnum, e_shoff, e_shentsize, e_shnum, e_shstrndx
    )


def _read_program_headers(reader: _Reader, layout: _Layout, header: _Header) -> list[_Segment]:
    if header.phnum == 0:
        return []
    table = reader.sub(header.phoff, header.phentsize * header.phnum, "program header table")
    return [
        _segment(layout, table.unpack(layout.phdr, i * header.phentsize, "program header"))
        for i in range(header.phnum)
    ]


def _segment(layout: _Layout, fields: tuple[int, ...]) -> _Segment:
    if layout.bits == 64:
        # Elf64_Phdr: p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align.
        p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, _memsz, p_align = fields
    else:
        # Elf32_Phdr: p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align.
        p_type, p_offset, p_vaddr, _paddr, p_filesz, _memsz, p_flags, p_align = fields
    return _Segment(p_type, p_flags, p_offset, p_vaddr, p_filesz, p_align)


def _first(segments: list[_Segment], kind: SegmentType) -> _Segment | None:
    return next((s for s in segments if s.type == kind), None)


def _read_interpreter(reader: _Reader, segments: list[_Segment]) -> str | None:
    # gABI: PT_INTERP "specifies the location and size of a null-terminated path name to invoke
    # as an interpreter".
    seg = _first(segments, SegmentType.PT_INTERP)
    if seg is None:
        return None
    if seg.filesz == 0:
        raise BinaryFormatError("PT_INTERP segment is empty", offset=seg.offset)
    return reader.cstring(seg.offset, "PT_INTERP path", min(MAX_STRING, seg.filesz - 1))


def _executable_stack(segments: list[_Segment]) -> bool | None:
    # Linux Extensions to gABI: "PT_GNU_STACK: the p_flags member specifies the permissions on
    # the segment containing the stack". glibc lets the last one win.
    stacks = [s for s in segments if s.type == SegmentType.PT_GNU_STACK]
    return bool(stacks[-1].flags & SegmentFlag.PF_X) if stacks else None


def _read_dynamic(reader: _Reader, layout: _Layout, seg: _Segment) -> _Dynamic:
    """Collect the dynamic entries this reader uses, reading the segment in one piece."""
    size = layout.dyn.size
    count = min(seg.filesz // size, MAX_DYNAMIC_ENTRIES)
    dynamic = _Dynamic()
    if count == 0:
        return dynamic
    table = reader.sub(seg.offset, count * size, "dynamic segment")
    for i in range(count):
        tag, value = table.unpack(layout.dyn, i * size, "dynamic entry")
        # gABI: "An entry with a DT_NULL tag marks the end of the _DYNAMIC array."
        if tag == DynamicTag.DT_NULL:
            break
        _apply_dynamic_entry(dynamic, tag, value)
    return dynamic


def _apply_dynamic_entry(dynamic: _Dynamic, tag: int, value: int) -> None:
    # Single-valued tags: the last entry wins, as in glibc's l_info[] table.
    match tag:
        case DynamicTag.DT_NEEDED:
            dynamic.needed.append(value)
        case DynamicTag.DT_SONAME:
            dynamic.soname = value
        case DynamicTag.DT_RPATH:
            dynamic.rpath = value
        case DynamicTag.DT_RUNPATH:
            dynamic.runpath = value
        case DynamicTag.DT_STRTAB:
            dynamic.strtab = value
        case DynamicTag.DT_STRSZ:
            dynamic.strsz = value
        case DynamicTag.DT_VERNEED:
            dynamic.verneed = value
        case DynamicTag.DT_VERNEEDNUM:
            dynamic.verneednum = value
        case DynamicTag.DT_VERDEF:
            dynamic.verdef = value
        case DynamicTag.DT_VERDEFNUM:
            dynamic.verdefnum = value
        case DynamicTag.DT_FLAGS:
            dynamic.flags = value
        case DynamicTag.DT_FLAGS_1:
            dynamic.flags_1 = value
        case DynamicTag.DT_TEXTREL:
            dynamic.textrel = True
        case DynamicTag.DT_SYMTAB:
            dynamic.symtab = value
        case DynamicTag.DT_SYMENT:
            dynamic.syment = value
        case DynamicTag.DT_HASH:
            dynamic.hash = value
        case DynamicTag.DT_GNU_HASH:
            dynamic.gnu_hash = value
        case _:
            pass


def _kind(elf_type: int, dynamic: _Dynamic) -> FileKind:
    if elf_type == ElfType.ET_EXEC:
        return FileKind.EXECUTABLE
    if elf_type == ElfType.ET_DYN:
        # DF_1_PIE (a GNU extension, glibc <elf.h>: "Object is a PIE"), set by ld for -pie. Older
        # PIEs without it read as shared libraries, like libc.so.6, which has a PT_INTERP too.
        if dynamic.flags_1 & DynamicFlag1.DF_1_PIE:
            return FileKind.EXECUTABLE
        return FileKind.SHARED_LIBRARY
    if elf_type == ElfType.ET_REL:
        return FileKind.OBJECT
    return FileKind.OTHER


def _map_address(segments: list[_Segment], address: int, what: str) -> tuple[int, int]:
    """File offset of a virtual address, and how many file bytes its PT_LOAD segment has from there.

    gABI: DT_STRTAB "holds the address of the string table"; a PT_LOAD header's p_vaddr and
    p_offset say where the bytes at that address are in the file.
    """
    for seg in segments:
        if seg.type == SegmentType.PT_LOAD and seg.vaddr <= address < seg.vaddr + seg.filesz:
            delta = address - seg.vaddr
            return seg.offset + delta, seg.filesz - delta
    raise BinaryFormatError(f"{what}: address {address:#x} is in no loadable segment")


class _Names(NamedTuple):
    """What the dynamic string table resolves to."""

    needed: tuple[str, ...]
    soname: str | None
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    symbol_versions: dict[str, tuple[str, ...]]
    weak_symbol_versions: dict[str, tuple[str, ...]]
    version_definitions: tuple[str, ...]


def _read_names(reader: _Reader, layout: _Layout, segments: list[_Segment], dynamic: _Dynamic) -> _Names:
    """Resolve the dynamic entries that name strings, and the version chains."""
    singles = (dynamic.soname, dynamic.rpath, dynamic.runpath, dynamic.verneed, dynamic.verdef)
    if not dynamic.needed and all(value is None for value in singles):
        return _Names((), None, (), (), {}, {}, ())
    if dynamic.strtab is None:
        raise BinaryFormatError("dynamic segment names strings but has no DT_STRTAB")
    offset, available = _map_address(segments, dynamic.strtab, "DT_STRTAB")
    # gABI: DT_STRSZ "holds the size, in bytes, of the string table".
    strtab = _StringTable(reader, offset, available if dynamic.strsz is None else dynamic.strsz)
    symbol_versions: dict[str, tuple[str, ...]] = {}
    weak_versions: dict[str, tuple[str, ...]] = {}
    if dynamic.verneed is not None:
        start, _ = _map_address(segments, dynamic.verneed, "DT_VERNEED")
        symbol_versions, weak_versions = _read_verneed(reader, layout, strtab, start, dynamic.verneednum)
    version_definitions: tuple[str, ...] = ()
    if dynamic.verdef is not None:
        start, _ = _map_address(segments, dynamic.verdef, "DT_VERDEF")
        version_definitions = _read_verdef(reader, layout, strtab, start, dynamic.verdefnum)
    return _Names(
        needed=tuple(strtab.get(i, "DT_NEEDED") for i in dynamic.needed),
        soname=None if dynamic.soname is None else strtab.get(dynamic.soname, "DT_SONAME"),
        rpath=_search_path(strtab, dynamic.rpath, "DT_RPATH"),
        runpath=_search_path(strtab, dynamic.runpath, "DT_RUNPATH"),
        symbol_versions=symbol_versions,
        weak_symbol_versions=weak_versions,
        version_definitions=version_definitions,
    )


def _search_path(strtab: _StringTable, index: int | None, what: str) -> tuple[str, ...]:
    # gABI: DT_RUNPATH names "a string that contains a list of directories, separated by colons";
    # DT_RPATH is read the same way. Empty entries are dropped.
    if index is None:
        return ()
    return tuple(part for part in strtab.get(index, what).split(":") if part)


def _read_verneed(
    reader: _Reader, layout: _Layout, strtab: _StringTable, offset: int, count: int | None
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Follow the Elf_Verneed chain: {file name: sorted version names}, and the same for the
    entries flagged VER_FLG_WEAK.

    LSB: "vn_aux: offset in bytes to a corresponding entry in an array of Elf_Vernaux
    structures"; "vn_next: offset in bytes to the next Verneed entry"; 0 ends each chain;
    vna_flags "VER_FLG_WEAK: weak version identifier".
    """
    needed: dict[str, set[str]] = {}
    weak: dict[str, set[str]] = {}
    budget = _Budget("DT_VERNEED", MAX_VERSION_ENTRIES)
    files = _ChainGuard("DT_VERNEED", budget)
    for _ in range(MAX_VERSION_ENTRIES if count is None else min(count, MAX_VERSION_ENTRIES)):
        files.visit(offset)
        entry = reader.sub(offset, layout.verneed.size, "verneed entry")
        vn_version, vn_cnt, vn_file, vn_aux, vn_next = entry.unpack(layout.verneed, 0, "verneed entry")
        if vn_version != VER_CURRENT:
            raise BinaryFormatError(f"verneed entry: unsupported vn_version {vn_version}", offset=offset)
        names = needed.setdefault(strtab.get(vn_file, "verneed file name"), set())
        aux = offset + vn_aux
        entries = _ChainGuard("vernaux", budget)
        for _ in range(vn_cnt):
            entries.visit(aux)
            vernaux = reader.sub(aux, layout.vernaux.size, "vernaux entry")
            _hash, flags, _other, vna_name, vna_next = vernaux.unpack(layout.vernaux, 0, "vernaux entry")
            version = strtab.get(vna_name, "vernaux version name")
            names.add(version)
            if flags & VersionFlag.VER_FLG_WEAK:
                weak.setdefault(strtab.get(vn_file, "verneed file name"), set()).add(version)
            if vna_next == 0:
                break
            aux += vna_next
        if vn_next == 0:
            break
        offset += vn_next
    return _sorted_versions(needed), _sorted_versions(weak)


def _sorted_versions(versions: dict[str, set[str]]) -> dict[str, tuple[str, ...]]:
    return {name: tuple(sorted(names)) for name, names in versions.items()}


def _read_verdef(
    reader: _Reader, layout: _Layout, strtab: _StringTable, offset: int, count: int | None
) -> tuple[str, ...]:
    """Follow the Elf_Verdef chain: the defined version names, base version left out.

    LSB: "VER_FLG_BASE: version definition of the file itself"; the first Elf_Verdaux entry
    "vda_name" names the version, later ones its predecessors.
    """
    names: dict[str, None] = {}
    chain = _ChainGuard("DT_VERDEF", _Budget("DT_VERDEF", MAX_VERSION_ENTRIES))
    for _ in range(MAX_VERSION_ENTRIES if count is None else min(count, MAX_VERSION_ENTRIES)):
        chain.visit(offset)
        entry = reader.sub(offset, layout.verdef.size, "verdef entry")
        vd_version, vd_flags, _ndx, vd_cnt, _hash, vd_aux, vd_next = entry.unpack(
            layout.verdef, 0, "verdef entry"
        )
        if vd_version != VER_CURRENT:
            raise BinaryFormatError(f"verdef entry: unsupported vd_version {vd_version}", offset=offset)
        if vd_cnt and not vd_flags & VersionFlag.VER_FLG_BASE:
            verdaux = reader.sub(offset + vd_aux, layout.verdaux.size, "verdaux entry")
            vda_name, _next = verdaux.unpack(layout.verdaux, 0, "verdaux entry")
            names.setdefault(strtab.get(vda_name, "verdaux version name"), None)
        if vd_next == 0:
            break
        offset += vd_next
    return tuple(names)


def _arch(machine: int, layout: _Layout) -> str:
    wide = layout.bits == 64
    match machine:
        case Machine.EM_X86_64:
            return "x86_64"
        case Machine.EM_386:
            return "i686"
        case Machine.EM_AARCH64:
            return "aarch64"
        case Machine.EM_ARM:
            return "armv7l"
        case Machine.EM_PPC64:
            return "ppc64le" if layout.byteorder == "little" else "ppc64"
        case Machine.EM_PPC:
            return "ppc"
        case Machine.EM_S390:
            return "s390x" if wide else "s390"
        case Machine.EM_RISCV:
            return "riscv64" if wide else "riscv32"
        case Machine.EM_LOONGARCH:
            return "loongarch64"
        case Machine.EM_MIPS:
            return "mips64" if wide else "mips"
        case _:
            return f"unknown-{machine}"


def _x86_isa_level(reader: _Reader, layout: _Layout, header: _Header, segments: list[_Segment]) -> int | None:
    """The highest x86-64 ISA level bit of GNU_PROPERTY_X86_ISA_1_NEEDED, for x86 files only."""
    if header.machine not in _X86_MACHINES:
        return None
    # Linux Extensions to gABI: PT_GNU_PROPERTY covers the .note.gnu.property section, which a
    # PT_NOTE covers too; files from older linkers have only the PT_NOTE.
    notes = [s for s in segments if s.type == SegmentType.PT_GNU_PROPERTY]
    notes = notes or [s for s in segments if s.type == SegmentType.PT_NOTE]
    mask: int | None = None
    for seg in notes[:MAX_NOTE_SEGMENTS]:
        found = _isa_needed_in_notes(reader, layout, seg)
        if found is not None:
            mask = (mask or 0) | found
    if mask is None:
        return None
    # x86-64 psABI: GNU_PROPERTY_X86_ISA_1_BASELINE (1 << 0), _V2 (1 << 1), _V3 (1 << 2), _V4 (1 << 3).
    for level in (4, 3, 2, 1):
        if mask & (1 << (level - 1)):
            return level
    return None


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) & -alignment


def _isa_needed_in_notes(reader: _Reader, layout: _Layout, seg: _Segment) -> int | None:
    """OR of the GNU_PROPERTY_X86_ISA_1_NEEDED values in one note segment, None if absent."""
    # gABI: "Padding is present, if necessary, to ensure 4-byte alignment for the descriptor"
    # (and the next note); GNU property notes in 64-bit files pad to 8 and set p_align to 8.
    align = 8 if seg.align == 8 else 4
    scanned = min(seg.filesz, MAX_NOTE_BYTES)
    if scanned < layout.note.size:
        return None
    notes = reader.sub(seg.offset, scanned, "note segment")
    mask: int | None = None
    pos = 0
    while pos + layout.note.size <= scanned:
        namesz, descsz, n_type = notes.unpack(layout.note, pos, "note header")
        name_at = pos + layout.note.size
        desc_at = _align(name_at + namesz, align)
        if desc_at + descsz > scanned:
            if scanned < seg.filesz:
                break  # the rest of an oversized segment is not scanned
            raise BinaryFormatError("note runs past the end of its segment", offset=seg.offset + pos)
        name = notes.bytes(name_at, namesz, "note name")
        if n_type == NoteType.NT_GNU_PROPERTY_TYPE_0 and name == _GNU_NOTE_NAME:
            found = _isa_needed_in_properties(layout, notes.sub(desc_at, descsz, "GNU property note"))
            if found is not None:
                mask = (mask or 0) | found
        pos = _align(desc_at + descsz, align)
    return mask


def _isa_needed_in_properties(layout: _Layout, desc: View) -> int | None:
    # Linux Extensions to gABI: the descriptor is an array of properties (pr_type, pr_datasz,
    # pr_data), each padded to 8 bytes in 64-bit objects and to 4 bytes in 32-bit objects.
    align = 8 if layout.bits == 64 else 4
    mask: int | None = None
    pos = 0
    while pos + layout.prop.size <= desc.limit:
        pr_type, pr_datasz = desc.unpack(layout.prop, pos, "GNU property")
        data_at = pos + layout.prop.size
        if data_at + pr_datasz > desc.limit:
            raise BinaryFormatError("GNU property runs past the end of its note", offset=desc.base + pos)
        if pr_type == GnuProperty.GNU_PROPERTY_X86_ISA_1_NEEDED and pr_datasz == 4:
            (value,) = desc.unpack(layout.u32, data_at, "GNU_PROPERTY_X86_ISA_1_NEEDED")
            mask = (mask or 0) | value
        pos = _align(data_at + pr_datasz, align)
    return mask


# --- deep reading: dynamic symbols and debug sections -------------------------------------------

#: Most dynamic symbols read (libtorch_cpu.so has a few hundred thousand).
MAX_SYMBOLS = 2_000_000
#: Most section headers read.
MAX_SECTIONS = 1 << 20


class SymbolBinding:
    """ELF_ST_BIND(st_info) values this reader uses."""

    STB_LOCAL: Final = 0
    STB_GLOBAL: Final = 1
    STB_WEAK: Final = 2
    #: GNU extension (glibc <elf.h>: "Unique symbol"): a global symbol the loader keeps one copy of.
    STB_GNU_UNIQUE: Final = 10


class SymbolVisibility:
    """ELF_ST_VISIBILITY(st_other) values."""

    STV_DEFAULT: Final = 0
    STV_INTERNAL: Final = 1
    STV_HIDDEN: Final = 2
    STV_PROTECTED: Final = 3


class SectionType:
    """sh_type values this reader uses."""

    SHT_NOBITS: Final = 8
    SHT_DYNSYM: Final = 11


#: gABI: "SHN_UNDEF: This value marks an undefined, missing, irrelevant, or otherwise meaningless
#: section reference"; "SHN_XINDEX: ... the actual section header index is too large to fit".
SHN_UNDEF = 0
SHN_XINDEX = 0xFFFF
_EXPORTED_BINDINGS = frozenset(
    {SymbolBinding.STB_GLOBAL, SymbolBinding.STB_WEAK, SymbolBinding.STB_GNU_UNIQUE}
)
_EXPORTED_VISIBILITIES = frozenset({SymbolVisibility.STV_DEFAULT, SymbolVisibility.STV_PROTECTED})
_DEBUG_PREFIXES = (b".debug_", b".zdebug_")
#: The DT_HASH table has 8-byte entries on 64-bit s390 and Alpha (binutils: hash_entry_size 8).
_EM_ALPHA = 0x9026
_GNU_HASH_HEADER = 16


class _SectionHeader(NamedTuple):
    """One section header (deep reading only)."""

    name: int
    type: int
    offset: int
    size: int
    link: int
    entsize: int


def _read_deep(
    reader: _Reader,
    layout: _Layout,
    header: _Header,
    segments: list[_Segment],
    dynamic: _Dynamic,
    info: BinaryInfo,
) -> BinaryInfo:
    """``info`` with the dynamic symbols and the debug section sizes filled in."""
    sections = _read_section_headers(reader, layout, header)
    imported, weak, exported = _read_dynamic_symbols(reader, layout, header, segments, dynamic, sections)
    return replace(
        info,
        deep=True,
        imported_symbols=imported,
        weak_imported_symbols=weak,
        exported_symbols=exported,
        debug_bytes=_debug_bytes(reader, header, sections),
    )


def _read_section_headers(reader: _Reader, layout: _Layout, header: _Header) -> list[_SectionHeader] | None:
    """The section header table in one read; None when the file has none (e_shoff == 0)."""
    # gABI: e_shoff "holds the section header table's file offset in bytes. If the file has no
    # section header table, this member holds zero."
    if header.shoff == 0:
        return None
    if header.shentsize < layout.shdr.size:
        raise BinaryFormatError(f"section header entry size {header.shentsize} is too small", offset=16)
    count = header.shnum
    if count == 0:
        # gABI: "If the number of sections is greater than or equal to SHN_LORESERVE (0xff00),
        # e_shnum has the value zero and the actual number ... is contained in the sh_size field of
        # the section header at index 0."
        first = reader.table(header.shoff, layout.shdr.size, "section header 0")
        count = _section_header(layout, first, 0).size
    if count > MAX_SECTIONS:
        raise BinaryFormatError(f"{count} section headers are too many", offset=header.shoff)
    table = reader.table(header.shoff, count * header.shentsize, "section header table")
    return [_section_header(layout, table, i * header.shentsize) for i in range(count)]


def _section_header(layout: _Layout, table: bytes, at: int) -> _SectionHeader:
    name, sh_type, _flags, _addr, offset, size, link, _info, _align, entsize = layout.shdr.unpack_from(
        table, at
    )
    return _SectionHeader(name, sh_type, offset, size, link, entsize)


def _debug_bytes(reader: _Reader, header: _Header, sections: list[_SectionHeader] | None) -> int | None:
    """Sum of the sizes of the ``.debug_*`` / ``.zdebug_*`` sections with file data."""
    if sections is None:
        return None
    index = header.shstrndx
    if index == SHN_XINDEX and sections:
        # gABI: "the actual index of the section name string table section is contained in the
        # sh_link field of the section header at index 0".
        index = sections[0].link
    if index == SHN_UNDEF or not sections:
        return 0  # gABI: "If the file has no section name string table, this member holds SHN_UNDEF"
    if index >= len(sections):
        raise BinaryFormatError(f"e_shstrndx {index} is not a section ({len(sections)} sections)", offset=16)
    strtab = sections[index]
    names = reader.table(strtab.offset, strtab.size, "section name string table")
    total = 0
    for section in sections:
        if section.type == SectionType.SHT_NOBITS:
            continue  # gABI: SHT_NOBITS "occupies no space in the file"
        if section.name >= len(names):
            raise BinaryFormatError(
                f"section name index {section.name} is outside .shstrtab", offset=strtab.offset
            )
        if names.startswith(_DEBUG_PREFIXES, section.name):
            if section.offset + section.size > reader.size:
                raise BinaryFormatError("debug section runs past the end of the file", offset=section.offset)
            total += section.size
    return total


def _read_dynamic_symbols(
    reader: _Reader,
    layout: _Layout,
    header: _Header,
    segments: list[_Segment],
    dynamic: _Dynamic,
    sections: list[_SectionHeader] | None,
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(imported, weakly imported, exported) names of the DT_SYMTAB symbols, each sorted and unique.

    A name is weakly imported when every undefined entry of it is STB_WEAK (gABI: "unresolved
    weak symbols have a zero value"; the loader does not fail on them).
    """
    if dynamic.symtab is None:
        return (), (), ()
    if dynamic.strtab is None:
        raise BinaryFormatError("dynamic segment has DT_SYMTAB but no DT_STRTAB")
    # gABI: DT_SYMENT "holds the size, in bytes, of a symbol table entry".
    entsize = layout.sym.size if dynamic.syment is None else dynamic.syment
    if entsize < layout.sym.size:
        raise BinaryFormatError(f"DT_SYMENT {entsize} is smaller than a symbol table entry")
    count = _symbol_count(reader, layout, header, segments, dynamic, sections)
    offset, available = _map_address(segments, dynamic.symtab, "DT_SYMTAB")
    if count * entsize > available:
        raise BinaryFormatError(f"{count} dynamic symbols run past their segment", offset=offset)
    table = reader.table(offset, count * entsize, "dynamic symbol table")
    strong, weak, exported = _classify_symbols(layout, table, count, entsize)
    str_offset, str_available = _map_address(segments, dynamic.strtab, "DT_STRTAB")
    strings = reader.table(str_offset, str_available if dynamic.strsz is None else dynamic.strsz, "DT_STRTAB")
    strong_names = frozenset(_symbol_names(strings, strong, str_offset))
    weak_names = tuple(n for n in _symbol_names(strings, weak, str_offset) if n not in strong_names)
    imported = tuple(sorted(strong_names.union(weak_names)))
    return imported, weak_names, _symbol_names(strings, exported, str_offset)


def _classify_symbols(
    layout: _Layout, table: bytes, count: int, entsize: int
) -> tuple[set[int], set[int], set[int]]:
    """The st_name values of the strongly imported, weakly imported and exported symbols."""
    if entsize == layout.sym.size:
        rows = list(layout.sym.iter_unpack(table))
    else:
        rows = [layout.sym.unpack_from(table, i * entsize) for i in range(count)]
    info_at, other_at, shndx_at = layout.sym_fields
    imported: set[int] = set()
    weak: set[int] = set()
    exported: set[int] = set()
    # gABI: "The symbol table entry for index 0 (STN_UNDEF) is reserved": skipped.
    for row in rows[1:]:
        name, info, other, shndx = row[0], row[info_at], row[other_at], row[shndx_at]
        # gABI: ELF32_ST_BIND(i) ((i)>>4); ELF32_ST_VISIBILITY(o) ((o)&0x3).
        binding = info >> 4
        if name == 0 or binding == SymbolBinding.STB_LOCAL:
            continue
        if shndx == SHN_UNDEF:
            (weak if binding == SymbolBinding.STB_WEAK else imported).add(name)
        elif binding in _EXPORTED_BINDINGS and other & 0x3 in _EXPORTED_VISIBILITIES:
            exported.add(name)
    return imported, weak, exported


def _symbol_names(strings: bytes, indexes: set[int], offset: int) -> tuple[str, ...]:
    """The sorted, unique names at ``indexes`` of a string table."""
    names: set[str] = set()
    for index in indexes:
        end = strings.find(b"\0", index)
        if index >= len(strings) or end < 0:
            raise BinaryFormatError(f"symbol name {index} is outside the dynamic string table", offset=offset)
        if end > index:
            names.add(strings[index:end].decode("utf-8", "backslashreplace"))
    return tuple(sorted(names))


def _symbol_count(
    reader: _Reader,
    layout: _Layout,
    header: _Header,
    segments: list[_Segment],
    dynamic: _Dynamic,
    sections: list[_SectionHeader] | None,
) -> int:
    """How many entries DT_SYMTAB has: from DT_HASH, DT_GNU_HASH or else the SHT_DYNSYM header."""
    if dynamic.hash is not None:
        count = _hash_nchain(reader, layout, header, segments, dynamic.hash)
    elif dynamic.gnu_hash is not None:
        count = _gnu_hash_count(reader, layout, segments, dynamic.gnu_hash)
    else:
        dynsym = next((s for s in sections or () if s.type == SectionType.SHT_DYNSYM), None)
        if dynsym is None:
            raise BinaryFormatError("DT_SYMTAB without DT_HASH, DT_GNU_HASH or a .dynsym section header")
        count = dynsym.size // max(1, dynsym.entsize)
    if count > MAX_SYMBOLS:
        raise BinaryFormatError(f"{count} dynamic symbols are too many (more than {MAX_SYMBOLS})")
    return count


def _hash_nchain(
    reader: _Reader, layout: _Layout, header: _Header, segments: list[_Segment], address: int
) -> int:
    # gABI, "Hash Table": words nbucket, nchain, bucket[nbucket], chain[nchain]; "nchain should
    # equal the number of symbol table entries".
    wide = layout.bits == 64 and header.machine in (Machine.EM_S390, _EM_ALPHA)
    word = struct.Struct(layout.dyn.format[0] + ("Q" if wide else "I"))
    offset, _ = _map_address(segments, address, "DT_HASH")
    (nchain,) = word.unpack_from(reader.table(offset + word.size, word.size, "DT_HASH nchain"))
    return int(nchain)


def _gnu_hash_count(reader: _Reader, layout: _Layout, segments: list[_Segment], address: int) -> int:
    """The symbol count implied by DT_GNU_HASH: one past the end of the highest bucket's chain.

    The GNU hash section (binutils, glibc dl-lookup.c): uint32 nbuckets, symoffset, bloom_size,
    bloom_shift; ElfW(Addr) bloom[bloom_size]; uint32 buckets[nbuckets]; uint32 chain[]. Bucket
    values are symbol indexes (0: empty); a chain entry with bit 0 set ends its chain.
    """
    offset, available = _map_address(segments, address, "DT_GNU_HASH")
    header = reader.table(offset, _GNU_HASH_HEADER, "DT_GNU_HASH header")
    nbuckets, symoffset, bloom_size, _shift = (int(v) for (v,) in layout.u32.iter_unpack(header))
    if nbuckets > MAX_SYMBOLS or bloom_size > MAX_SYMBOLS:
        raise BinaryFormatError(f"DT_GNU_HASH: {nbuckets} buckets, {bloom_size} bloom words", offset=offset)
    buckets_at = _GNU_HASH_HEADER + bloom_size * (layout.bits // 8)
    chains_at = buckets_at + 4 * nbuckets
    if chains_at > available:
        raise BinaryFormatError("DT_GNU_HASH: buckets run past their segment", offset=offset)
    buckets = reader.table(offset + buckets_at, 4 * nbuckets, "DT_GNU_HASH buckets")
    last = max((int(b) for (b,) in layout.u32.iter_unpack(buckets)), default=0)
    if last == 0:
        return symoffset  # no hashed symbols: only the symoffset unhashed ones
    if last < symoffset:
        raise BinaryFormatError(f"DT_GNU_HASH: bucket {last} is below symoffset {symoffset}", offset=offset)
    return _gnu_chain_end(
        reader,
        layout,
        offset + chains_at + 4 * (last - symoffset),
        available - chains_at - 4 * (last - symoffset),
        last,
    )


def _gnu_chain_end(reader: _Reader, layout: _Layout, offset: int, available: int, index: int) -> int:
    """One past the index of the chain entry with bit 0 set, walking from ``index`` at ``offset``."""
    pos = 0
    while True:
        length = min(READ_CHUNK, available - pos) & ~3
        if length <= 0:
            raise BinaryFormatError("DT_GNU_HASH: chain runs past its segment", offset=offset + pos)
        for (value,) in layout.u32.iter_unpack(reader.table(offset + pos, length, "DT_GNU_HASH chain")):
            if value & 1:
                return index + 1
            index += 1
            if index > MAX_SYMBOLS:
                raise BinaryFormatError("DT_GNU_HASH: chain too long", offset=offset + pos)
        pos += length
