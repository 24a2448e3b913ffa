"""Rewrite the names a Mach-O file gives dyld: install names, the install id, LC_RPATH.

Pure bytes in, bytes out, thin or fat. The writer sits beside the reader
(:mod:`native_doctor.binary.macho`) and is verified by it.

How an edit is made: the load commands are rebuilt (each command keeps its place; an
``LC_RPATH`` list replaces the old entries where the first one stood, or goes before
``LC_CODE_SIGNATURE``) and written back over the old ones. They must fit in the header padding,
the space between the load commands and the first section's bytes; the rest of the file does not
move. When they do not fit, the edit is refused with the linker flag that makes room
(``-headerpad_max_install_names``). Every changed image is then signed again ad hoc
(:mod:`native_doctor.binary.codesign`): arm64 images always (arm64 macOS refuses unsigned code),
others too unless they are unsigned and their padding has no 16 bytes for ``LC_CODE_SIGNATURE``
(Intel macOS runs unsigned code). An edit that changes nothing returns the input unchanged.
A fat file keeps its slices' order, types and alignments; offsets follow the new sizes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from native_doctor.binary._macho_layout import (
    FAT_MAGIC,
    FAT_MAGIC_64,
    LC_CODE_SIGNATURE,
    Command,
    Layout,
    MachOWriteError,
    fat_slices,
    is_fat,
    parse_layout,
)
from native_doctor.binary.codesign import current_identifier, sign_image

__all__ = ["FatSlice", "MachOEdit", "MachOWriteError", "build_fat", "edit_macho", "thin_images"]

CPU_TYPE_ARM64 = 0x0100000C
LC_REQ_DYLD = 0x80000000
LC_ID_DYLIB = 0xD
LC_RPATH = 0x1C | LC_REQ_DYLD
#: Commands naming a library dyld loads (dylib_command).
DYLIB_LOADS = frozenset(
    {0xC, 0x18 | LC_REQ_DYLD, 0x1F | LC_REQ_DYLD, 0x20, 0x23 | LC_REQ_DYLD, 0x18, 0x1F, 0x23}
)
HEADERPAD_ADVICE = (
    "relink it with -Wl,-headerpad_max_install_names (or a larger -headerpad) to leave room for longer names"
)
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class MachOEdit:
    """What to change in every slice of one Mach-O file; the defaults change nothing."""

    #: Install name of a loaded library: old -> new (LC_LOAD_DYLIB and its weak, re-export, lazy
    #: and upward variants).
    change_names: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: New LC_ID_DYLIB name (only for images that have one); None keeps it.
    install_id: str | None = None
    #: The complete new LC_RPATH list; None keeps the old one.
    rpaths: tuple[str, ...] | None = None
    #: The identifier of the ad-hoc signature written after a change, unless the image's current
    #: signature has one (then that one is kept).
    identifier: str = "a.out"


@dataclass(frozen=True, slots=True)
class FatSlice:
    """One slice of a fat file: cputype, cpusubtype, log2 alignment and bytes."""

    cputype: int
    cpusubtype: int
    align: int
    data: bytes


def thin_images(data: bytes) -> list[FatSlice]:
    """The thin images of ``data`` (one for a thin file)."""
    if not is_fat(data):
        layout = parse_layout(data)
        (subtype,) = struct.unpack_from(layout.order + "I", data, 8)
        return [FatSlice(layout.cputype, subtype, 0, data)]
    return [FatSlice(c, s, a, data[o : o + n]) for c, s, o, n, a in fat_slices(data)]


def build_fat(slices: list[FatSlice]) -> bytes:
    """A fat file (FAT_MAGIC, or FAT_MAGIC_64 past 4 GiB) holding ``slices`` in order."""
    wide = sum(len(s.data) + (1 << s.align) for s in slices) >= 1 << 32
    entry = 32 if wide else 20
    offset = 8 + entry * len(slices)
    table, body = b"", b""
    for s in slices:
        start = -(-offset // (1 << s.align)) * (1 << s.align)
        body += b"\0" * (start - offset) + s.data
        if wide:
            table += struct.pack(">iIQQII", s.cputype, s.cpusubtype, start, len(s.data), s.align, 0)
        else:
            table += struct.pack(">iIIII", s.cputype, s.cpusubtype, start, len(s.data), s.align)
        offset = start + len(s.data)
    head = struct.pack(">II", FAT_MAGIC_64 if wide else FAT_MAGIC, len(slices)) + table
    return head + body


def edit_macho(data: bytes, edit: MachOEdit) -> bytes:
    """``data`` with ``edit`` applied to every slice, each changed slice signed again."""
    if not is_fat(data):
        return _edit_image(data, edit)
    slices = thin_images(data)
    edited = [FatSlice(s.cputype, s.cpusubtype, s.align, _edit_image(s.data, edit)) for s in slices]
    if all(a.data is b.data for a, b in zip(slices, edited, strict=True)):
        return data
    return build_fat(edited)


def _edit_image(data: bytes, edit: MachOEdit) -> bytes:
    layout = parse_layout(data)
    commands = _new_commands(layout, edit)
    if [c.data for c in commands] == [c.data for c in layout.commands]:
        return data
    area = b"".join(c.data for c in commands)
    end = layout.header_size + len(area)
    if end > layout.padding_end:
        raise MachOWriteError(
            f"the new load commands need {end - layout.padding_end} bytes more than the header padding "
            f"holds ({layout.padding_end - layout.commands_end} bytes free); {HEADERPAD_ADVICE}"
        )
    out = bytearray(data)
    struct.pack_into(layout.order + "II", out, 16, len(commands), len(area))
    out[layout.header_size : layout.padding_end] = area + b"\0" * (layout.padding_end - end)
    edited = bytes(out)
    identifier = current_identifier(data) or edit.identifier
    if layout.signature() is None and layout.cputype != CPU_TYPE_ARM64:
        try:
            return sign_image(edited, identifier)
        except MachOWriteError:
            return edited  # no room for LC_CODE_SIGNATURE: Intel macOS runs unsigned code
    return sign_image(edited, identifier)


def _new_commands(layout: Layout, edit: MachOEdit) -> list[Command]:
    result: list[Command] = []
    rpaths_placed = edit.rpaths is None
    for old in layout.commands:
        c = old
        if c.cmd == LC_RPATH and edit.rpaths is not None:
            if not rpaths_placed:
                result += [_rpath(layout, path) for path in edit.rpaths]
                rpaths_placed = True
            continue
        if c.cmd == LC_CODE_SIGNATURE and not rpaths_placed:
            result += [_rpath(layout, path) for path in edit.rpaths or ()]
            rpaths_placed = True
        if c.cmd in DYLIB_LOADS:
            name = _lc_str(layout, c, 24)
            if name in edit.change_names:
                c = _dylib(layout, c, edit.change_names[name])
        elif c.cmd == LC_ID_DYLIB and edit.install_id is not None:
            c = _dylib(layout, c, edit.install_id)
        result.append(c)
    if not rpaths_placed:
        result += [_rpath(layout, path) for path in edit.rpaths or ()]
    return result


def _lc_str(layout: Layout, c: Command, fixed: int) -> str:
    (offset,) = struct.unpack_from(layout.order + "I", c.data, 8)
    if not fixed <= offset < len(c.data):
        raise MachOWriteError(f"load command at {c.offset}: string offset {offset} is outside it")
    return c.data[offset:].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _padded(layout: Layout, body: bytes) -> bytes:
    size = -(-(len(body) + 1) // layout.alignment) * layout.alignment
    return body + b"\0" * (size - len(body))


def _dylib(layout: Layout, c: Command, name: str) -> Command:
    """``c`` (a dylib_command) naming ``name``; timestamp and versions kept."""
    if len(c.data) < 24:
        raise MachOWriteError(f"dylib command at {c.offset} is truncated")
    body = _padded(layout, c.data[:24] + name.encode("utf-8", "surrogateescape"))
    out = bytearray(body)
    struct.pack_into(layout.order + "II", out, 4, len(body), 24)
    return Command(c.cmd, bytes(out), c.offset)


def _rpath(layout: Layout, path: str) -> Command:
    body = _padded(layout, b"\0" * 12 + path.encode("utf-8", "surrogateescape"))
    out = bytearray(body)
    struct.pack_into(layout.order + "III", out, 0, LC_RPATH, len(body), 12)
    return Command(LC_RPATH, bytes(out), -1)
