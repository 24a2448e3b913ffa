"""Rewrite the names an ELF file gives the dynamic loader: DT_SONAME, DT_NEEDED, DT_RUNPATH.

Pure bytes in, bytes out, for both classes, both byte orders and any machine. The writer sits
beside the reader (:mod:`native_doctor.binary.elf`) and is verified by it and by
:func:`check_elf_invariants`.

How an edit is made (the reasons are in docs/design.md, "Why the ELF writer is written by hand"):

* A string the dynamic string table already holds (as a whole string or as the tail of one) is
  reused; a new string goes into the bytes of a string this edit stops using, when nothing else
  (a symbol, a version name, another entry) points into them.
* Otherwise the dynamic string table is copied, the new strings appended to the copy, and the
  copy placed in a new PT_LOAD segment at the end of the file (file offset and address congruent
  modulo the page size); DT_STRTAB/DT_STRSZ and the ``.dynstr`` section header follow it. Old
  string offsets stay valid in the copy, so symbols, version names and hash tables (DT_HASH and
  DT_GNU_HASH hash symbol names, not library names) are untouched.
* The dynamic array is rewritten in place when its entries fit (dropping DT_RPATH frees one);
  otherwise it moves into the new segment too (PT_DYNAMIC and the ``.dynamic`` header follow).
* The new PT_LOAD needs a program header: a PT_NULL entry or a PT_NOTE duplicated by
  PT_GNU_PROPERTY is reused; otherwise the table grows in place after the tables that follow it
  (PT_INTERP, notes, hash tables, .dynsym, version tables) move into the new segment; only a file
  without section headers has its program header table moved into the new segment instead.

References: the System V gABI (chapters 4 and 5), the LSB Core specification (symbol versioning)
and glibc's loader (what it requires of PT_LOAD, PT_PHDR and PT_DYNAMIC).
"""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from native_doctor.binary._bytes import BytesSource
from native_doctor.binary.elf import DynamicTag, SegmentType, read_elf
from native_doctor.errors import BinaryFormatError, NativeDoctorError

__all__ = ["ElfEdit", "ElfWriteError", "check_elf_invariants", "edit_elf"]

_EMPTY_MAP: Mapping[str, str] = MappingProxyType({})

#: Entries the writer handles; real files have a few dozen dynamic entries and version needs.
MAX_ENTRIES = 100_000
MAX_PHDRS = 65_535
MAX_SECTIONS = 1 << 20
#: Smallest page size assumed for a new PT_LOAD (the largest p_align of the file wins).
MIN_PAGE = 0x1000
#: Most zero bytes added before a program's moved program header table (see _new_segment).
MAX_PADDING = 16 << 20

PT_NULL = 0
PT_PHDR = 6
PT_NOTE = 4
PT_GNU_PROPERTY = 0x6474E553
PF_R, PF_W = 0x4, 0x2
SHT_STRTAB = 3
SHT_DYNAMIC = 6
SHT_NOBITS = 8
SHT_DYNSYM = 11
SHF_ALLOC = 0x2
DT_VERSYM = 0x6FFFFFF0
#: Dynamic tags whose value is a string-table offset (gABI, glibc <elf.h>).
DT_AUXILIARY = 0x7FFFFFFD
DT_FILTER = 0x7FFFFFFF
DT_CONFIG = 0x6FFFFEFA
DT_DEPAUDIT = 0x6FFFFEFB
DT_AUDIT = 0x6FFFFEFC
_STRING_TAGS = frozenset(
    {
        DynamicTag.DT_NEEDED,
        DynamicTag.DT_SONAME,
        DynamicTag.DT_RPATH,
        DynamicTag.DT_RUNPATH,
        DT_AUXILIARY,
        DT_FILTER,
        DT_CONFIG,
        DT_DEPAUDIT,
        DT_AUDIT,
    }
)
#: MIPS: "relative offset of run time loader map, used for debugging" -- relative to the entry itself.
DT_MIPS_RLD_MAP_REL = 0x70000035
EM_MIPS = 8


class ElfWriteError(NativeDoctorError, ValueError):
    """The edit cannot be made (the message says why)."""


class ElfEdit(NamedTuple):
    """What to change in one ELF file; the defaults change nothing."""

    #: New DT_SONAME (added when the file has none); None keeps it.
    soname: str | None = None
    #: DT_NEEDED old name -> new name; the SHT_GNU_verneed entry naming the same file follows.
    replace_needed: Mapping[str, str] = _EMPTY_MAP
    #: New DT_RUNPATH, joined with ':' (() removes it); DT_RPATH is removed. None keeps both.
    runpath: tuple[str, ...] | None = None
    #: DT_NEEDED names to drop (libpython, a provider's library). A library that symbol versions
    #: are needed from is refused: ld.so requires every version need to name a loaded object, and
    #: dropping the need would leave .gnu.version indexes that no version need defines.
    remove_needed: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        """True when the edit changes nothing whatever the file."""
        return (
            self.soname is None
            and not self.replace_needed
            and self.runpath is None
            and not self.remove_needed
        )


# --- the parsed file ---------------------------------------------------------------------------


class _Format(NamedTuple):
    """Struct formats of one (EI_CLASS, EI_DATA) pair, for reading and writing."""

    bits: int
    order: str
    ehdr: struct.Struct  # after e_ident
    phdr: struct.Struct
    shdr: struct.Struct
    dyn: struct.Struct
    sym_name: struct.Struct  # st_name is the first word of both Elf32_Sym and Elf64_Sym
    verneed: struct.Struct
    vernaux: struct.Struct
    verdef: struct.Struct
    verdaux: struct.Struct

    @property
    def word(self) -> int:
        return self.bits // 8


def _make_format(bits: int, order: str) -> _Format:
    w = "Q" if bits == 64 else "I"
    return _Format(
        bits=bits,
        order=order,
        ehdr=struct.Struct(f"{order}HHI{w}{w}{w}IHHHHHH"),
        phdr=struct.Struct(order + ("IIQQQQQQ" if bits == 64 else "IIIIIIII")),
        shdr=struct.Struct(order + ("IIQQQQIIQQ" if bits == 64 else "IIIIIIIIII")),
        dyn=struct.Struct(f"{order}{w}{w}"),
        sym_name=struct.Struct(order + "I"),
        verneed=struct.Struct(order + "HHIII"),
        vernaux=struct.Struct(order + "IHHII"),
        verdef=struct.Struct(order + "HHHHIII"),
        verdaux=struct.Struct(order + "II"),
    )


_FORMATS = {
    (1, 1): _make_format(32, "<"),
    (1, 2): _make_format(32, ">"),
    (2, 1): _make_format(64, "<"),
    (2, 2): _make_format(64, ">"),
}
_EHDR_AT = 16


class _Phdr:
    """One program header, changed in place and packed back."""

    __slots__ = ("align", "filesz", "flags", "memsz", "offset", "paddr", "type", "vaddr")

    def __init__(
        self, type: int, flags: int, offset: int, vaddr: int, paddr: int, filesz: int, memsz: int, align: int
    ) -> None:
        self.type = type
        self.flags = flags
        self.offset = offset
        self.vaddr = vaddr
        self.paddr = paddr
        self.filesz = filesz
        self.memsz = memsz
        self.align = align

    def pack(self, fmt: _Format) -> bytes:
        if fmt.bits == 64:
            fields = (self.type, self.flags, self.offset, self.vaddr, self.paddr, self.filesz, self.memsz)
        else:
            fields = (self.type, self.offset, self.vaddr, self.paddr, self.filesz, self.memsz, self.flags)
        return fmt.phdr.pack(*fields, self.align)


def _unpack_phdr(fmt: _Format, raw: tuple[int, ...]) -> _Phdr:
    if fmt.bits == 64:
        p_type, flags, offset, vaddr, paddr, filesz, memsz, align = raw
    else:
        p_type, offset, vaddr, paddr, filesz, memsz, flags, align = raw
    return _Phdr(p_type, flags, offset, vaddr, paddr, filesz, memsz, align)


class _Shdr:
    """One section header and its index in the table."""

    __slots__ = ("addr", "addralign", "entsize", "flags", "index", "link", "offset", "size", "type")

    def __init__(
        self, index: int, type: int, flags: int, addralign: int, addr: int, offset: int, size: int, link: int,
        entsize: int,
    ) -> None:  # fmt: skip
        self.index = index
        self.type = type
        self.flags = flags
        self.addralign = addralign
        self.addr = addr
        self.offset = offset
        self.size = size
        self.link = link
        self.entsize = entsize


class _Elf:
    """The parts of one file the writer and the checker use (filled in by :func:`_parse`)."""

    __slots__ = (
        "capacity",
        "data",
        "dynamic",
        "entries",
        "fmt",
        "machine",
        "phdrs",
        "phentsize",
        "phoff",
        "shdrs",
        "shentsize",
        "shoff",
        "strsz",
        "strtab_addr",
        "strtab_offset",
    )  # fmt: skip

    def __init__(
        self, data: bytes, fmt: _Format, machine: int, phoff: int, phentsize: int, shoff: int, shentsize: int
    ) -> None:
        self.data = data
        self.fmt = fmt
        self.machine = machine
        self.phoff = phoff
        self.phentsize = phentsize
        self.shoff = shoff
        self.shentsize = shentsize
        self.phdrs: list[_Phdr] = []
        self.shdrs: list[_Shdr] = []
        self.dynamic: _Phdr | None = None
        #: (tag, value) up to and without DT_NULL, and how many entries the array has room for.
        self.entries: list[tuple[int, int]] = []
        self.capacity = 0
        self.strtab_offset = 0
        self.strtab_addr = 0
        self.strsz = 0

    def u(self, st: struct.Struct, offset: int, what: str) -> tuple[int, ...]:
        if offset < 0 or offset + st.size > len(self.data):
            raise BinaryFormatError(f"{what}: bytes [{offset}, {offset + st.size}) are outside the file")
        return st.unpack_from(self.data, offset)

    @property
    def is_program(self) -> bool:
        """True for a file the kernel maps (one with PT_INTERP), not only ld.so."""
        return any(p.type == SegmentType.PT_INTERP for p in self.phdrs)

    def loads(self) -> list[_Phdr]:
        return [p for p in self.phdrs if p.type == SegmentType.PT_LOAD]

    def map_address(self, address: int, what: str) -> tuple[int, int]:
        """File offset of ``address`` and the file bytes its PT_LOAD has from there."""
        for seg in self.loads():
            if seg.vaddr <= address < seg.vaddr + seg.filesz:
                return seg.offset + address - seg.vaddr, seg.filesz - (address - seg.vaddr)
        raise BinaryFormatError(f"{what}: address {address:#x} is in no loadable segment's file bytes")

    def tag(self, tag: int) -> int | None:
        """The value of the last entry with ``tag`` (as glibc's l_info), None if absent."""
        found = None
        for t, v in self.entries:
            if t == tag:
                found = v
        return found

    def string(self, index: int, what: str) -> bytes:
        """The NUL-terminated string at ``index`` of the dynamic string table (without the NUL)."""
        if index >= self.strsz:
            raise BinaryFormatError(f"{what}: string offset {index} is outside DT_STRSZ ({self.strsz})")
        start = self.strtab_offset + index
        end = self.data.find(b"\0", start, self.strtab_offset + self.strsz)
        if end < 0:
            raise BinaryFormatError(f"{what}: string at offset {index} is not NUL-terminated inside DT_STRSZ")
        return self.data[start:end]


def _parse(data: bytes) -> _Elf:
    if data[:4] != b"\x7fELF" or len(data) < _EHDR_AT:
        raise BinaryFormatError("not an ELF file (bad magic number)")
    fmt = _FORMATS.get((data[4], data[5]))
    if fmt is None:
        raise BinaryFormatError(f"unsupported ELF class/data encoding {data[4]}/{data[5]}")
    if len(data) < _EHDR_AT + fmt.ehdr.size:
        raise BinaryFormatError("ELF header is truncated")
    fields = fmt.ehdr.unpack_from(data, _EHDR_AT)
    _type, machine, _version, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum = fields[:10]
    shentsize, shnum = fields[10], fields[11]
    if phnum and phentsize < fmt.phdr.size:
        raise BinaryFormatError(f"program header entry size {phentsize} is too small")
    if phnum >= MAX_PHDRS:
        raise BinaryFormatError("extended program header count (PN_XNUM) is not supported")
    elf = _Elf(data, fmt, machine, phoff, phentsize, shoff, shentsize)
    for i in range(phnum):
        raw = elf.u(fmt.phdr, phoff + i * phentsize, "program header")
        elf.phdrs.append(_unpack_phdr(fmt, raw))
    elf.shdrs = _parse_sections(elf, shnum)
    dynamic = next((p for p in elf.phdrs if p.type == SegmentType.PT_DYNAMIC), None)
    if dynamic is not None:
        _parse_dynamic(elf, dynamic)
    return elf


def _parse_sections(elf: _Elf, shnum: int) -> list[_Shdr]:
    fmt = elf.fmt
    if elf.shoff == 0:
        return []  # gABI: "If the file has no section header table, this member holds zero."
    if elf.shentsize < fmt.shdr.size:
        raise BinaryFormatError(f"section header entry size {elf.shentsize} is too small")
    if shnum == 0:  # gABI: the real count is sh_size of section header 0
        shnum = elf.u(fmt.shdr, elf.shoff, "section header 0")[5]
    # The loader ignores sections, but a table running past the end of the file would start to
    # "exist" once the file grows: such a file is refused rather than edited.
    if shnum > MAX_SECTIONS or elf.shoff + shnum * elf.shentsize > len(elf.data):
        raise BinaryFormatError(f"the section header table ({shnum} entries) runs past the end of the file")
    result = []
    for i in range(shnum):
        _name, sh_type, flags, addr, offset, size, link, _info, align, entsize = elf.u(
            fmt.shdr, elf.shoff + i * elf.shentsize, "section header"
        )
        result.append(_Shdr(i, sh_type, flags, align, addr, offset, size, link, entsize))
    return result


def _parse_dynamic(elf: _Elf, dynamic: _Phdr) -> None:
    size = elf.fmt.dyn.size
    if dynamic.offset + dynamic.filesz > len(elf.data):
        raise BinaryFormatError("PT_DYNAMIC runs past the end of the file")
    elf.dynamic = dynamic
    elf.capacity = min(dynamic.filesz // size, MAX_ENTRIES)
    for i in range(elf.capacity):
        tag, value = elf.u(elf.fmt.dyn, dynamic.offset + i * size, "dynamic entry")
        if tag == DynamicTag.DT_NULL:
            break
        elf.entries.append((tag, value))
    strtab = elf.tag(DynamicTag.DT_STRTAB)
    if strtab is None:
        return
    offset, available = elf.map_address(strtab, "DT_STRTAB")
    strsz = elf.tag(DynamicTag.DT_STRSZ)
    elf.strtab_offset, elf.strtab_addr = offset, strtab
    elf.strsz = available if strsz is None else strsz
    if elf.strsz > available:
        raise BinaryFormatError(f"DT_STRSZ {elf.strsz} runs past its loadable segment ({available} bytes)")


class _Verneed(NamedTuple):
    """One Elf_Verneed entry: where its vn_file field is and what it holds."""

    at: int
    file: int
    aux_names: tuple[int, ...]


def _verneeds(elf: _Elf) -> list[_Verneed]:
    address = elf.tag(DynamicTag.DT_VERNEED)
    if address is None:
        return []
    count = elf.tag(DynamicTag.DT_VERNEEDNUM) or MAX_ENTRIES
    offset, _ = elf.map_address(address, "DT_VERNEED")
    fmt = elf.fmt
    result: list[_Verneed] = []
    seen: set[int] = set()
    for _ in range(min(count, MAX_ENTRIES)):
        if offset in seen:
            raise BinaryFormatError("DT_VERNEED chain loops")
        seen.add(offset)
        _version, cnt, vn_file, vn_aux, vn_next = elf.u(fmt.verneed, offset, "verneed entry")
        names: list[int] = []
        aux = offset + vn_aux
        for _ in range(min(cnt, MAX_ENTRIES)):
            _hash, _flags, _other, vna_name, vna_next = elf.u(fmt.vernaux, aux, "vernaux entry")
            names.append(vna_name)
            if vna_next == 0:
                break
            aux += vna_next
        result.append(_Verneed(offset + 4, vn_file, tuple(names)))  # vn_file follows two half-words
        if vn_next == 0:
            break
        offset += vn_next
    return result


def _verdef_names(elf: _Elf) -> list[int]:
    address = elf.tag(DynamicTag.DT_VERDEF)
    if address is None:
        return []
    count = elf.tag(DynamicTag.DT_VERDEFNUM) or MAX_ENTRIES
    offset, _ = elf.map_address(address, "DT_VERDEF")
    fmt = elf.fmt
    names: list[int] = []
    seen: set[int] = set()
    for _ in range(min(count, MAX_ENTRIES)):
        if offset in seen:
            raise BinaryFormatError("DT_VERDEF chain loops")
        seen.add(offset)
        _version, _flags, _ndx, cnt, _hash, vd_aux, vd_next = elf.u(fmt.verdef, offset, "verdef entry")
        aux = offset + vd_aux
        for _ in range(min(cnt, MAX_ENTRIES)):
            vda_name, vda_next = elf.u(fmt.verdaux, aux, "verdaux entry")
            names.append(vda_name)
            if vda_next == 0:
                break
            aux += vda_next
        if vd_next == 0:
            break
        offset += vd_next
    return names


def _symbol_names(elf: _Elf) -> list[int] | None:
    """st_name of every dynamic symbol, from the SHT_DYNSYM section header; None when unknown."""
    if elf.tag(DynamicTag.DT_SYMTAB) is None:
        return []
    dynsym = next((s for s in elf.shdrs if s.type == SHT_DYNSYM), None)
    if dynsym is None or dynsym.entsize < elf.fmt.sym_name.size:
        return None
    if dynsym.offset + dynsym.size > len(elf.data):
        return None
    count = dynsym.size // dynsym.entsize  # bounded by the file's size (checked above)
    st = elf.fmt.sym_name
    return [st.unpack_from(elf.data, dynsym.offset + i * dynsym.entsize)[0] for i in range(count)]


# --- planning an edit --------------------------------------------------------------------------


def _encode(value: str, what: str) -> bytes:
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ElfWriteError(f"{what} {value!r} cannot be encoded as UTF-8") from exc
    if not raw or b"\0" in raw:
        raise ElfWriteError(f"{what} {value!r} must be non-empty and contain no NUL byte")
    return raw


def _runpath_string(runpath: tuple[str, ...]) -> bytes:
    for entry in runpath:
        if not entry or ":" in entry:
            raise ElfWriteError(f"RUNPATH entry {entry!r} must be non-empty and contain no ':'")
    return _encode(":".join(runpath), "RUNPATH")


def _new_entries(elf: _Elf, edit: ElfEdit) -> list[tuple[int, int | bytes]]:
    """The dynamic entries after the edit; a ``bytes`` value is a string still to be placed."""
    current_needed = [elf.string(v, "DT_NEEDED") for t, v in elf.entries if t == DynamicTag.DT_NEEDED]
    replace = {_encode(k, "DT_NEEDED"): _encode(v, "DT_NEEDED") for k, v in edit.replace_needed.items()}
    remove = {_encode(name, "DT_NEEDED") for name in edit.remove_needed}
    # a replacement already made (the new name needed, the old one not) is not made again
    replace = {k: v for k, v in replace.items() if k in current_needed or v not in current_needed}
    for name in (*replace, *remove):
        if name not in current_needed:
            raise ElfWriteError(f"the file does not need {name.decode('utf-8', 'backslashreplace')!r}")
    entries: list[tuple[int, int | bytes]] = []
    last_needed = -1
    for tag, value in elf.entries:
        if tag == DynamicTag.DT_NEEDED:
            name = elf.string(value, "DT_NEEDED")
            if name in remove:
                continue
            entries.append((tag, replace[name] if name in replace and replace[name] != name else value))
            last_needed = len(entries) - 1
            continue
        if tag == DynamicTag.DT_SONAME and edit.soname is not None:
            continue
        if tag in (DynamicTag.DT_RPATH, DynamicTag.DT_RUNPATH) and edit.runpath is not None:
            continue
        entries.append((tag, value))
    added: list[tuple[int, int | bytes]] = []
    if edit.soname is not None:
        soname = _encode(edit.soname, "SONAME")
        old = elf.tag(DynamicTag.DT_SONAME)
        added.append(
            (DynamicTag.DT_SONAME, old if old is not None and elf.string(old, "SONAME") == soname else soname)
        )
    if edit.runpath:
        text = _runpath_string(edit.runpath)
        old = elf.tag(DynamicTag.DT_RUNPATH)
        keep = old is not None and elf.string(old, "DT_RUNPATH") == text
        added.append((DynamicTag.DT_RUNPATH, old if keep and old is not None else text))
    return entries[: last_needed + 1] + added + entries[last_needed + 1 :]


def _unchanged(elf: _Elf, entries: list[tuple[int, int | bytes]]) -> bool:
    return sorted(entries, key=repr) == sorted(elf.entries, key=repr)


def _string_references(elf: _Elf, edited: set[int]) -> list[int] | None:
    """String offsets referenced by anything the edit does not rewrite; None when unknown."""
    symbols = _symbol_names(elf)
    if symbols is None:
        return None
    refs = [v for i, (t, v) in enumerate(elf.entries) if t in _STRING_TAGS and i not in edited]
    for need in _verneeds(elf):
        refs.extend(need.aux_names)
    refs.extend(_verdef_names(elf))
    refs.extend(symbols)
    return refs


class _Strings:
    """Where each new string goes: offsets into the table, and bytes written into it or appended."""

    __slots__ = ("appended", "in_place", "offsets", "table")

    def __init__(self) -> None:
        self.offsets: dict[bytes, int] = {}
        self.in_place: list[tuple[int, bytes]] = []
        self.appended = bytearray()
        #: The table with the in-place strings written (what a moved copy starts with).
        self.table = b""


def _place_strings(elf: _Elf, new: list[bytes], dropped: list[int], kept_refs: list[int] | None) -> _Strings:
    """Reuse existing strings, then the bytes of dropped strings, then append."""
    table = bytearray(elf.data[elf.strtab_offset : elf.strtab_offset + elf.strsz])
    placed = _Strings()
    free = _free_ranges(bytes(table), dropped, kept_refs)
    for raw in dict.fromkeys(new):
        found = table.find(raw + b"\0")  # a whole string or the tail of one
        if found >= 0:
            placed.offsets[raw] = found
            # the bytes it now points at must not be overwritten by a later string
            free = [(s, e) for s, e in free if e <= found or found + len(raw) < s]
            continue
        slot = next((i for i, (start, end) in enumerate(free) if end - start >= len(raw) + 1), None)
        if slot is not None:
            start, end = free[slot]
            placed.offsets[raw] = start
            placed.in_place.append((start, raw + b"\0"))
            table[start : start + len(raw) + 1] = raw + b"\0"
            free[slot] = (start + len(raw) + 1, end)
            continue
        placed.offsets[raw] = elf.strsz + len(placed.appended)
        placed.appended += raw + b"\0"
    placed.table = bytes(table)
    return placed


def _free_ranges(table: bytes, dropped: list[int], kept: list[int] | None) -> list[tuple[int, int]]:
    """[start, end) ranges (NUL included) of dropped strings no kept reference points into."""
    if kept is None:
        return []
    refs = sorted(set(kept))
    # where each kept string ends: a dropped string ending there may be the tail of a kept one
    kept_ends = {table.find(b"\0", ref) + 1 for ref in refs if 0 <= ref < len(table)}
    ranges: list[tuple[int, int]] = []
    for start in sorted(set(dropped)):
        end = table.find(b"\0", start) + 1
        if end <= 0 or (ranges and start < ranges[-1][1]):
            continue  # unterminated, or inside a dropped string already taken
        first = bisect.bisect_left(refs, start)
        if (first < len(refs) and refs[first] < end) or end in kept_ends:
            continue  # a kept reference points into it, or it is the tail of a kept string
        ranges.append((start, end))
    return ranges


# --- writing ---------------------------------------------------------------------------------


def edit_elf(data: bytes, edit: ElfEdit) -> bytes:
    """``data`` with the edit applied (``data`` itself when nothing changes).

    :raises ElfWriteError: the edit cannot be made (the file is malformed, has no dynamic
        section, does not need a library named in the edit, or a new name is invalid).
    """
    if edit.is_empty:
        return data
    try:
        elf = _parse(bytes(data))
    except BinaryFormatError as exc:
        raise ElfWriteError(f"cannot edit a malformed ELF file: {exc}") from exc
    if elf.dynamic is None or not elf.entries:
        raise ElfWriteError("the file has no dynamic section (a static executable or an object file)")
    if elf.tag(DynamicTag.DT_STRTAB) is None:
        raise ElfWriteError("the dynamic section has no DT_STRTAB")
    try:
        return _edit(elf, edit)
    except BinaryFormatError as exc:
        raise ElfWriteError(f"cannot edit a malformed ELF file: {exc}") from exc


def _edit(elf: _Elf, edit: ElfEdit) -> bytes:
    entries = _new_entries(elf, edit)
    renames = {
        _encode(k, "DT_NEEDED"): _encode(v, "DT_NEEDED") for k, v in edit.replace_needed.items() if k != v
    }
    removed = {_encode(name, "DT_NEEDED") for name in edit.remove_needed}
    needs = _verneeds(elf)
    need_names = [elf.string(n.file, "verneed file name") for n in needs]
    if any(name in removed for name in need_names):
        raise ElfWriteError(
            "removing a DT_NEEDED entry that symbol versions are needed from is not supported"
        )
    needs_renamed = any(name in renames for name in need_names)
    if _unchanged(elf, entries) and not needs_renamed:
        return elf.data
    new_strings = [v for _t, v in entries if isinstance(v, bytes)]
    new_strings += [renames[name] for name in need_names if name in renames]
    edited = _edited_entry_indexes(elf, edit)
    dropped = [v for i, (t, v) in enumerate(elf.entries) if i in edited]
    dropped += [n.file for n, name in zip(needs, need_names, strict=True) if name in renames]
    # which strings stay referenced is worth finding out (it reads every symbol) only when some
    # new string could take the bytes of a dropped one
    longest_dropped = max((len(elf.string(v, "dropped string")) for v in dropped), default=-1)
    could_fit = any(len(raw) <= longest_dropped for raw in new_strings)
    refs = _string_references(elf, edited) if could_fit else None
    if refs is not None:
        # a verneed file name that is not renamed keeps its string, and so does an entry the
        # edit sets to the value it already has (a SONAME or RUNPATH asked for again)
        refs += [n.file for n, name in zip(needs, need_names, strict=True) if name not in renames]
        refs += [v for t, v in entries if t in _STRING_TAGS and isinstance(v, int)]
    strings = _place_strings(elf, new_strings, dropped, refs)
    resolved = [(t, strings.offsets[v] if isinstance(v, bytes) else v) for t, v in entries]
    verneed_updates = [
        (n.at, strings.offsets[renames[name]])
        for n, name in zip(needs, need_names, strict=True)
        if name in renames
    ]
    return _write(elf, resolved, strings, verneed_updates)


def _edited_entry_indexes(elf: _Elf, edit: ElfEdit) -> set[int]:
    """Indexes of the dynamic entries whose string the edit replaces or drops."""
    renamed = {_encode(k, "DT_NEEDED") for k, v in edit.replace_needed.items() if k != v}
    renamed |= {_encode(name, "DT_NEEDED") for name in edit.remove_needed}
    result = set()
    for i, (tag, value) in enumerate(elf.entries):
        needed = tag == DynamicTag.DT_NEEDED and elf.string(value, "DT_NEEDED") in renamed
        soname = tag == DynamicTag.DT_SONAME and edit.soname is not None
        path = tag in (DynamicTag.DT_RPATH, DynamicTag.DT_RUNPATH) and edit.runpath is not None
        if needed or soname or path:
            result.add(i)
    return result


class _Output:
    """The edited file as the input plus patches and an appended tail, joined once at the end.

    A library of 100 MB is copied once (by the final join), not once per step.
    """

    __slots__ = ("_data", "_patches", "_tail")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._patches: list[tuple[int, bytes]] = []
        self._tail = bytearray()

    def write(self, offset: int, raw: bytes) -> None:
        """Put ``raw`` at ``offset`` (inside the input, or anywhere past its end)."""
        size = len(self._data)
        if offset >= size:
            end = offset - size + len(raw)
            if end > len(self._tail):
                self._tail += bytes(end - len(self._tail))
            self._tail[offset - size : end] = raw
        elif offset + len(raw) <= size:
            end = offset + len(raw)
            overlapping = [(o, r) for o, r in self._patches if o < end and offset < o + len(r)]
            if not overlapping:
                self._patches.append((offset, bytes(raw)))
                return
            start = min(offset, *(o for o, _r in overlapping))
            stop = max(end, *(o + len(r) for o, r in overlapping))
            merged = bytearray(self.read(start, stop - start))
            merged[offset - start : end - start] = raw
            self._patches = [p for p in self._patches if p not in overlapping]
            self._patches.append((start, bytes(merged)))
        else:
            raise AssertionError("a patch straddles the end of the input")  # a bug, not bad input

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes of the input at ``offset`` with the patches written so far."""
        buffer = bytearray(self._data[offset : offset + size])
        for o, r in self._patches:
            lo, hi = max(o, offset), min(o + len(r), offset + size)
            if lo < hi:
                buffer[lo - offset : hi - offset] = r[lo - o : hi - o]
        return bytes(buffer)

    def pack(self, st: struct.Struct, offset: int, *values: int) -> None:
        self.write(offset, st.pack(*values))

    def grow_to(self, size: int) -> None:
        """Zero-fill the file up to ``size`` bytes."""
        if size > len(self._data) + len(self._tail):
            self._tail += bytes(size - len(self._data) - len(self._tail))

    def result(self) -> bytes:
        pieces: list[bytes | bytearray | memoryview] = []
        view = memoryview(self._data)
        at = 0
        for offset, raw in sorted(self._patches, key=lambda p: p[0]):
            if offset < at:
                raise AssertionError("overlapping patches")  # a bug, not bad input
            pieces += (view[at:offset], raw)
            at = offset + len(raw)
        pieces += (view[at:], self._tail)
        return b"".join(pieces)


def _write(
    elf: _Elf,
    entries: list[tuple[int, int]],
    strings: _Strings,
    verneed_updates: list[tuple[int, int]],
) -> bytes:
    out = _Output(elf.data)
    u32 = struct.Struct(elf.fmt.order + "I")
    for start, raw in strings.in_place:
        out.write(elf.strtab_offset + start, raw)
    for at, value in verneed_updates:
        out.pack(u32, at, value)
    assert elf.dynamic is not None
    if not strings.appended and len(entries) + 1 <= elf.capacity:
        _write_dynamic(out, elf, entries, elf.dynamic.offset, elf.dynamic.vaddr, elf.capacity)
        return out.result()
    return _write_grown(out, elf, entries, strings)


def _write_dynamic(
    out: _Output, elf: _Elf, entries: list[tuple[int, int]], offset: int, address: int, capacity: int
) -> None:
    """Write ``entries`` and DT_NULL up to ``capacity`` entries at ``offset`` (mapped at ``address``)."""
    assert elf.dynamic is not None
    size = elf.fmt.dyn.size
    old_at = {tag: elf.dynamic.vaddr + i * size for i, (tag, _v) in enumerate(elf.entries)}
    table = bytearray()
    for i, (tag, value) in enumerate(entries):
        if tag == DT_MIPS_RLD_MAP_REL and elf.machine == EM_MIPS:
            # the value is relative to the entry's own address: keep the target fixed
            moved = (value + old_at[tag] - (address + i * size)) % (1 << elf.fmt.bits)
            table += elf.fmt.dyn.pack(tag, moved)
        else:
            table += elf.fmt.dyn.pack(tag, value)
    table += bytes((capacity - len(entries)) * size)
    out.write(offset, bytes(table))


#: Spare DT_NULL entries left in a moved dynamic array, so that a later edit fits in place.
SPARE_DYNAMIC_ENTRIES = 4


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


class _NewSegment:
    """The PT_LOAD appended to the file: ``start`` in the file is mapped at ``base``."""

    __slots__ = ("base", "cursor", "page", "start")

    def __init__(self, start: int, base: int, page: int) -> None:
        self.start = start
        self.base = base
        self.page = page
        self.cursor = 0

    def reserve(self, size: int, alignment: int = 1) -> tuple[int, int]:
        """File offset and address of ``size`` new bytes."""
        at = _align(max(self.cursor, self.start), alignment)
        self.cursor = at + size
        return at, self.base + at - self.start

    def check(self, bits: int) -> None:
        """Refuse a segment that would end beyond the address space of the file's class."""
        if self.base + self.cursor - self.start >= 1 << bits:
            raise ElfWriteError(f"no room for a new segment above address {self.base:#x}")

    def header(self, flags: int) -> _Phdr:
        size = self.cursor - self.start
        return _Phdr(SegmentType.PT_LOAD, flags, self.start, self.base, self.base, size, size, self.page)


def _new_segment(elf: _Elf, *, phdrs_move: bool) -> _NewSegment:
    """Where the new PT_LOAD goes: after the file's last byte and above every segment's memory.

    A library's new segment starts right after the file, at an address congruent to it modulo the
    page size. A program whose program header table moves is placed so that its address minus its
    offset equals the first PT_LOAD's: Linux before 5.18 (and qemu-user) give the program
    ``AT_PHDR`` as that difference plus e_phoff, and ld.so finds PT_INTERP and PT_DYNAMIC there.
    The file is padded up to that offset.
    """
    loads = elf.loads()
    if not loads:
        raise ElfWriteError("the file has no loadable segment")
    page = max([MIN_PAGE, *(p.align for p in loads)])
    if page & (page - 1):
        raise ElfWriteError(f"loadable segment alignment {page:#x} is not a power of two")
    start = _align(len(elf.data), 16)
    top = _align(max(p.vaddr + p.memsz for p in loads), page)
    if phdrs_move and elf.is_program:
        delta = loads[0].vaddr - loads[0].offset
        if delta % page:
            raise ElfWriteError("the first loadable segment's address and offset differ by a non-page amount")
        base = max(top, _align(start + delta, page))
        if base - delta - start > MAX_PADDING:
            raise ElfWriteError(
                f"the program header table would move {base - delta - start} bytes past the end of the"
                " file (a program whose memory image is much larger than the file)"
            )
        return _NewSegment(base - delta, base, page)
    return _NewSegment(start, top + start % page, page)


def _write_grown(out: _Output, elf: _Elf, entries: list[tuple[int, int]], strings: _Strings) -> bytes:
    """Put what no longer fits into a new PT_LOAD segment at the end of the file."""
    assert elf.dynamic is not None
    fmt = elf.fmt
    phdrs = [_Phdr(**{k: getattr(p, k) for k in _Phdr.__slots__}) for p in elf.phdrs]
    slot = _free_phdr_slot(phdrs)
    units = _units_after_phdrs(elf, entries) if slot is None else []
    segment = _new_segment(elf, phdrs_move=units is None)
    table: tuple[int, int] | None = None
    if units is None:  # the program header table moves into the new segment
        table = segment.reserve((len(phdrs) + 1) * fmt.phdr.size, fmt.word)
    elif slot is not None:
        del phdrs[slot]
    pieces: list[tuple[int, bytes]] = []
    copy_strtab = bool(strings.appended)
    for unit in units or ():
        if unit.tag == DynamicTag.DT_STRTAB:
            copy_strtab = True  # the string table moves below, with or without new strings
            continue
        address, piece = _move_unit(out, elf, phdrs, unit, segment)
        pieces.append(piece)
        if unit.tag is not None:
            entries = _set_entry(entries, unit.tag, address)
    if copy_strtab:
        strtab = strings.table + bytes(strings.appended)
        str_at, str_address = segment.reserve(len(strtab))
        pieces.append((str_at, strtab))
        entries = _set_entry(entries, DynamicTag.DT_STRTAB, str_address)
        entries = _set_entry(entries, DynamicTag.DT_STRSZ, len(strtab))
        _move_section(out, elf, _dynstr_section(elf), str_at, str_address, len(strtab))
    dynamic = next(p for p in phdrs if p.type == SegmentType.PT_DYNAMIC)
    flags = PF_R
    if len(entries) + 1 > elf.capacity:
        capacity = len(entries) + 1 + SPARE_DYNAMIC_ENTRIES
        dyn_at, dyn_address = segment.reserve(capacity * fmt.dyn.size, fmt.word)
        _set_segment(dynamic, dyn_at, dyn_address, capacity * fmt.dyn.size)
        section = next((s for s in elf.shdrs if s.type == SHT_DYNAMIC), None)
        _move_section(out, elf, section, dyn_at, dyn_address, capacity * fmt.dyn.size)
        flags |= PF_W  # the loader writes DT_DEBUG (and on some machines relocates entries)
    else:
        capacity, dyn_at, dyn_address = elf.capacity, dynamic.offset, dynamic.vaddr
    segment.check(fmt.bits)
    out.grow_to(segment.cursor)
    for at, piece_bytes in pieces:
        out.write(at, piece_bytes)
    _write_dynamic(out, elf, entries, dyn_at, dyn_address, capacity)
    last_load = max(i for i, p in enumerate(phdrs) if p.type == SegmentType.PT_LOAD)
    phdrs.insert(last_load + 1, segment.header(flags))
    _write_phdrs(out, elf, phdrs, table, grew_in_place=bool(units))
    return out.result()


def _write_phdrs(
    out: _Output, elf: _Elf, phdrs: list[_Phdr], moved_to: tuple[int, int] | None, *, grew_in_place: bool
) -> None:
    """Write the program header table (at e_phoff, or at ``moved_to``) and the ELF header."""
    fmt = elf.fmt
    header = list(fmt.ehdr.unpack_from(elf.data, _EHDR_AT))
    if moved_to is not None:
        header[4], header[8] = moved_to[0], fmt.phdr.size  # e_phoff, e_phentsize
    for p in phdrs:
        if p.type == PT_PHDR and moved_to is not None:
            _set_segment(p, moved_to[0], moved_to[1], len(phdrs) * fmt.phdr.size)
        elif p.type == PT_PHDR and grew_in_place:
            p.filesz = p.memsz = len(phdrs) * header[8]
    header[9] = len(phdrs)  # e_phnum
    out.pack(fmt.ehdr, _EHDR_AT, *header)
    for i, p in enumerate(phdrs):
        out.write(header[4] + i * header[8], p.pack(fmt).ljust(header[8], b"\0"))


#: Tables the loader finds through a dynamic entry holding their address: they can move.
_MOVABLE_TABLES = (
    DynamicTag.DT_GNU_HASH,
    DynamicTag.DT_HASH,
    DynamicTag.DT_SYMTAB,
    DynamicTag.DT_STRTAB,
    DT_VERSYM,
    DynamicTag.DT_VERDEF,
    DynamicTag.DT_VERNEED,
)
#: Segments found through their program header only: their bytes can move with them.
_MOVABLE_SEGMENTS = (SegmentType.PT_INTERP, PT_NOTE, PT_GNU_PROPERTY)


class _Unit(NamedTuple):
    """Bytes right after the program header table that move so that the table can grow."""

    offset: int
    size: int
    align: int
    #: The dynamic entry holding the unit's address, if the loader finds it that way.
    tag: int | None


def _units_after_phdrs(elf: _Elf, entries: list[tuple[int, int]]) -> list[_Unit] | None:
    """What must move for one more program header to fit in place; None when that is not possible.

    Growing the table in place keeps it at e_phoff at the start of the first PT_LOAD, where the
    kernel, old kernels' AT_PHDR, qemu-user and binutils' strip expect it. The bytes it grows into
    must be tables found through a dynamic entry (hash tables, .dynsym, .dynstr, version tables)
    or segments found through their program header (PT_INTERP, notes): they move to the new
    segment and their entries, program headers and section headers follow.
    """
    if not elf.shdrs:
        return None  # without section headers, what follows the table is unknown
    start = elf.phoff + len(elf.phdrs) * elf.phentsize
    end = start + elf.phentsize
    if not any(p.offset <= elf.phoff and end <= p.offset + p.filesz for p in elf.loads()):
        return None
    addresses = {v: t for t, v in entries if t in _MOVABLE_TABLES}
    units: dict[int, _Unit] = {}
    for section in elf.shdrs:
        if section.type == SHT_NOBITS or section.size == 0 or not section.flags & SHF_ALLOC:
            continue
        if section.offset >= end or section.offset + section.size <= start:
            continue
        unit = _unit_for(elf, section, addresses)
        if unit is None or unit.offset + unit.size > len(elf.data):
            return None
        if unit.align & (unit.align - 1) or unit.align > MIN_PAGE:
            return None  # an alignment the new segment cannot honour
        units[unit.offset] = unit
    for seg in elf.phdrs:
        overlaps = seg.filesz and seg.offset < end and start < seg.offset + seg.filesz
        if (
            overlaps
            and seg.type not in (SegmentType.PT_LOAD, PT_PHDR)
            and not any(
                u.offset <= seg.offset and seg.offset + seg.filesz <= u.offset + u.size
                for u in units.values()
            )
        ):
            return None  # a segment with no section describing it
    ordered = sorted(units.values(), key=lambda u: u.offset)
    if any(a.offset + a.size > b.offset for a, b in itertools.pairwise(ordered)):
        return None  # overlapping units (a segment spanning two tables): not moved piecewise
    return ordered


def _unit_for(elf: _Elf, section: _Shdr, addresses: dict[int, int]) -> _Unit | None:
    tag = addresses.get(section.addr)
    if tag is not None and section.addr - section.offset == _load_delta(elf, section.offset):
        return _Unit(section.offset, section.size, max(1, section.addralign), tag)
    covering = [
        p
        for p in elf.phdrs
        if p.type in _MOVABLE_SEGMENTS
        and p.offset <= section.offset
        and section.offset + section.size <= p.offset + p.filesz
    ]
    if not covering:
        return None
    lo = min(p.offset for p in covering)
    hi = max(p.offset + p.filesz for p in covering)
    return _Unit(lo, hi - lo, max([1, *(p.align for p in covering)]), None)


def _load_delta(elf: _Elf, offset: int) -> int | None:
    """Address minus offset of the PT_LOAD holding file offset ``offset``."""
    for p in elf.loads():
        if p.offset <= offset < p.offset + p.filesz:
            return p.vaddr - p.offset
    return None


def _move_unit(
    out: _Output, elf: _Elf, phdrs: list[_Phdr], unit: _Unit, segment: _NewSegment
) -> tuple[int, tuple[int, bytes]]:
    """Reserve the unit's new place; update the segments and sections inside it.

    Returns the new address and the bytes to write at the new offset.
    """
    at, address = segment.reserve(unit.size, unit.align)
    old_address = unit.offset + (_load_delta(elf, unit.offset) or 0)
    shift = address - old_address
    for p in phdrs:
        if p.type in _MOVABLE_SEGMENTS and unit.offset <= p.offset < unit.offset + unit.size:
            p.offset += at - unit.offset
            p.vaddr += shift
            p.paddr += shift
    for section in elf.shdrs:
        inside = unit.offset <= section.offset < unit.offset + unit.size
        if inside and section.flags & SHF_ALLOC and section.type != SHT_NOBITS:
            _move_section(
                out, elf, section, section.offset + at - unit.offset, section.addr + shift, section.size
            )
    return address, (at, out.read(unit.offset, unit.size))


def _set_entry(entries: list[tuple[int, int]], tag: int, value: int) -> list[tuple[int, int]]:
    if any(t == tag for t, _v in entries):
        return [(t, value if t == tag else v) for t, v in entries]
    return [*entries, (tag, value)]


def _set_segment(p: _Phdr, offset: int, address: int, size: int) -> None:
    p.offset, p.vaddr, p.paddr, p.filesz, p.memsz = offset, address, address, size, size


def _free_phdr_slot(phdrs: list[_Phdr]) -> int | None:
    """A program header the new PT_LOAD may take: PT_NULL, or a PT_NOTE PT_GNU_PROPERTY repeats."""
    for i, p in enumerate(phdrs):
        if p.type == PT_NULL:
            return i
    properties = {(p.offset, p.filesz) for p in phdrs if p.type == PT_GNU_PROPERTY}
    for i, p in enumerate(phdrs):
        if p.type == PT_NOTE and (p.offset, p.filesz) in properties:
            return i
    return None


def _dynstr_section(elf: _Elf) -> _Shdr | None:
    """The section header of the dynamic string table (linked from .dynamic, or at its address)."""
    dynamic = next((s for s in elf.shdrs if s.type == SHT_DYNAMIC), None)
    if dynamic is not None and 0 < dynamic.link < len(elf.shdrs):
        linked = elf.shdrs[dynamic.link]
        if linked.type == SHT_STRTAB and linked.addr == elf.strtab_addr:
            return linked
    return next((s for s in elf.shdrs if s.type == SHT_STRTAB and s.addr == elf.strtab_addr), None)


def _move_section(
    out: _Output, elf: _Elf, section: _Shdr | None, offset: int, address: int, size: int
) -> None:
    """Point a section header at its new place (sh_addr, sh_offset, sh_size)."""
    if section is None:
        return
    at = elf.shoff + section.index * elf.shentsize
    fields = list(elf.fmt.shdr.unpack_from(elf.data, at))
    fields[3], fields[4], fields[5] = address, offset, size
    out.pack(elf.fmt.shdr, at, *fields)


# --- verification ------------------------------------------------------------------------------


def check_elf_invariants(data: bytes) -> tuple[str, ...]:
    """What is wrong with ``data`` as a loadable ELF file; () when nothing is.

    Checked: the program header table and every segment lie inside the file; each PT_LOAD has a
    power-of-two p_align with p_offset congruent to p_vaddr, p_filesz <= p_memsz, and PT_LOADs
    ascend and do not overlap; PT_PHDR and PT_DYNAMIC lie inside a PT_LOAD; DT_STRTAB maps into a
    PT_LOAD with DT_STRSZ bytes; every DT_NEEDED/SONAME/RPATH/RUNPATH and version string offset
    is inside DT_STRSZ and NUL-terminated; every version need names a DT_NEEDED library; the
    ``.dynstr`` and ``.dynamic`` section headers agree with the dynamic section; the project's
    reader reads the file.
    """
    try:
        elf = _parse(bytes(data))
    except BinaryFormatError as exc:
        return (str(exc),)
    problems: list[str] = []
    problems += _check_segments(elf)
    if elf.dynamic is not None:
        try:
            problems += _check_dynamic(elf)
        except BinaryFormatError as exc:
            problems.append(str(exc))
    if not problems:
        problems += _check_reader(data)
    return tuple(problems)


def _check_segments(elf: _Elf) -> list[str]:
    problems: list[str] = []
    size = len(elf.data)
    if elf.phdrs and elf.phoff + len(elf.phdrs) * elf.phentsize > size:
        problems.append("the program header table runs past the end of the file")
    for i, p in enumerate(elf.phdrs):
        name = _segment_name(p.type)
        if p.type != SegmentType.PT_LOAD and p.filesz == 0:
            continue
        if p.offset + p.filesz > size:
            problems.append(f"segment {i} ({name}) runs past the end of the file")
    previous_end: int | None = None
    for i, p in enumerate(elf.phdrs):
        if p.type != SegmentType.PT_LOAD:
            continue
        if p.align > 1 and p.align & (p.align - 1):
            problems.append(f"PT_LOAD {i}: p_align {p.align:#x} is not a power of two")
        elif p.align > 1 and p.offset % p.align != p.vaddr % p.align:
            problems.append(
                f"PT_LOAD {i}: p_offset {p.offset:#x} and p_vaddr {p.vaddr:#x} differ"
                f" modulo p_align {p.align:#x}"
            )
        if p.filesz > p.memsz:
            problems.append(f"PT_LOAD {i}: p_filesz {p.filesz:#x} exceeds p_memsz {p.memsz:#x}")
        if previous_end is not None and p.vaddr < previous_end:
            problems.append(f"PT_LOAD {i} at {p.vaddr:#x} overlaps or precedes the previous PT_LOAD")
        previous_end = p.vaddr + p.memsz
    for kind in (PT_PHDR, SegmentType.PT_DYNAMIC):
        for p in elf.phdrs:
            if p.type == kind and not _inside_load(elf, p):
                problems.append(f"{_segment_name(kind)} is not inside a PT_LOAD's file bytes")
    phdr = next((p for p in elf.phdrs if p.type == PT_PHDR), None)
    if phdr is not None and phdr.offset != elf.phoff:
        problems.append(f"PT_PHDR offset {phdr.offset:#x} is not e_phoff {elf.phoff:#x}")
    return problems


def _segment_name(kind: int) -> str:
    names = {PT_PHDR: "PT_PHDR", PT_NOTE: "PT_NOTE", PT_NULL: "PT_NULL", PT_GNU_PROPERTY: "PT_GNU_PROPERTY"}
    try:
        return names.get(kind) or SegmentType(kind).name
    except ValueError:
        return f"type {kind:#x}"


def _inside_load(elf: _Elf, seg: _Phdr) -> bool:
    for load in elf.loads():
        if (
            load.offset <= seg.offset
            and seg.offset + seg.filesz <= load.offset + load.filesz
            and seg.vaddr - load.vaddr == seg.offset - load.offset
        ):
            return True
    return False


def _check_dynamic(elf: _Elf) -> list[str]:
    problems: list[str] = []
    strings = [(t, v) for t, v in elf.entries if t in _STRING_TAGS]
    needs = _verneeds(elf)
    if not strings and not needs and elf.tag(DynamicTag.DT_VERDEF) is None:
        return problems
    if elf.tag(DynamicTag.DT_STRTAB) is None:
        return ["the dynamic section names strings but has no DT_STRTAB"]
    names = {t: _tag_name(t) for t, _v in strings}
    for tag, value in strings:
        problems += _check_string(elf, value, names[tag])
    needed = {
        elf.string(v, "DT_NEEDED")
        for t, v in strings
        if t == DynamicTag.DT_NEEDED and not _check_string(elf, v, "")
    }
    for need in needs:
        bad = _check_string(elf, need.file, "verneed file name")
        problems += bad
        if not bad and elf.string(need.file, "verneed") not in needed:
            name = elf.string(need.file, "verneed").decode("utf-8", "backslashreplace")
            problems.append(f"a version need names {name!r}, which is not a DT_NEEDED library")
        for aux in need.aux_names:
            problems += _check_string(elf, aux, "vernaux version name")
    for aux in _verdef_names(elf):
        problems += _check_string(elf, aux, "verdaux version name")
    problems += _check_sections(elf)
    return problems


def _tag_name(tag: int) -> str:
    try:
        return DynamicTag(tag).name
    except ValueError:
        return f"dynamic tag {tag:#x}"


def _check_string(elf: _Elf, index: int, what: str) -> list[str]:
    try:
        elf.string(index, what)
    except BinaryFormatError as exc:
        return [str(exc)]
    return []


def _check_sections(elf: _Elf) -> list[str]:
    problems: list[str] = []
    section = next((s for s in elf.shdrs if s.type == SHT_DYNAMIC), None)
    if section is None or elf.dynamic is None:
        return problems
    if section.addr != elf.dynamic.vaddr or section.offset != elf.dynamic.offset:
        problems.append(".dynamic section header disagrees with PT_DYNAMIC")
    if 0 < section.link < len(elf.shdrs):
        dynstr = elf.shdrs[section.link]
        if dynstr.type == SHT_STRTAB and (dynstr.addr, dynstr.offset) != (elf.strtab_addr, elf.strtab_offset):
            problems.append(".dynstr section header disagrees with DT_STRTAB")
        elif dynstr.type == SHT_STRTAB and dynstr.size > elf.strsz:
            problems.append(".dynstr section header is larger than DT_STRSZ")
    return problems


def _check_reader(data: bytes) -> list[str]:
    try:
        read_elf(BytesSource(data))
    except BinaryFormatError as exc:
        return [f"the reader rejects the file: {exc}"]
    return []
