"""Static text markers in a native binary, read without importing or loading it.

Each marker is a string a build leaves in ``.rodata`` that answers a runtime question before the
import happens (see the environment-doctor notes, §2.1, §2.4, §2.5, §2.9):

- the NumPy C-API *target* of an extension built with NumPy >= 2 headers: the import-time check
  message ``module was compiled against NumPy C-API version 0x%x (NumPy 1.25) ...``;
- which NumPy *ABI* the extension was built for: NumPy >= 2 headers import
  ``numpy._core._multiarray_umath`` (falling back to ``numpy.core``); NumPy 1.x headers name only
  ``numpy.core._multiarray_umath`` next to ``module compiled against ABI version 0x%x``; pybind11
  < 2.12 names only ``numpy.core.multiarray``;
- NumPy's own CPU *baseline* and *dispatch* lists, from the messages in ``_multiarray_umath``
  (``... part of the baseline optimizations:\\n(X86_V2).`` and
  ``... part of the dispatched optimizations\\n(X86_V3 X86_V4 AVX512_ICL AVX512_SPR).``);
- the pybind11 internals key (``__pybind11_internals_v11_..._use_cxx11_abi_1__``): modules with
  different keys do not share C++ type registrations;
- the OpenBLAS configuration string (``OpenBLAS 0.3.30 DYNAMIC_ARCH NO_AFFINITY``);
- the OpenMP runtime a library *is*: GNU libgomp reads ``GOMP_CPU_AFFINITY``; the LLVM/Intel
  runtimes (libomp, libiomp5) read ``KMP_DUPLICATE_LIB_OK``. A library that merely *uses* OpenMP
  carries neither.

The scan maps the file and looks for fixed anchors with ``find`` (no per-byte Python work), then
matches a bounded window after each anchor. In an ELF file only the sections that can hold the
markers are scanned (read-only data, initialised data, the dynamic string table), at most
:data:`MAX_SCAN` bytes in all; other formats are scanned from the start up to the same cap. So a
500 MB library costs a few scans of its data sections, and a huge sparse file costs nothing more.
"""

from __future__ import annotations

import mmap
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

__all__ = [
    "MAX_SCAN",
    "BinaryMarkers",
    "markers_from_json",
    "markers_to_json",
    "parse_markers",
    "read_markers",
]

NumpyAbi = Literal["1.x", "2.x"]

#: Look at no more than this many occurrences of one anchor (bounds a pathological file).
_MAX_HITS = 64
#: Bytes after an anchor that a marker's value may span.
_WINDOW = 256
#: Most bytes of one file the scan looks at.
MAX_SCAN = 256 << 20
#: ELF sections that can hold a marker: string literals (``.rodata*``), initialised data, and the
#: dynamic string table (``__kmp*`` symbol names).
_ELF_SECTIONS = (b".rodata", b".data", b".dynstr", b".lrodata", b".ldata")


class _Buffer(Protocol):
    """What the scan needs: ``bytes`` and ``mmap.mmap`` both qualify."""

    def find(self, sub: bytes, start: int = ..., end: int = ..., /) -> int: ...
    def __getitem__(self, index: slice, /) -> bytes: ...
    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class BinaryMarkers:
    """The static markers found in one binary; None / empty when a marker is absent."""

    #: NumPy C-API target ``"X.Y"`` of an extension built with NumPy >= 2 headers.
    numpy_target: str | None = None
    #: NumPy ABI the extension was built for, when it uses NumPy's C API at all.
    numpy_abi: NumpyAbi | None = None
    #: NumPy's compiled-in CPU baseline (only in NumPy's own ``_multiarray_umath``), e.g. ``("X86_V2",)``.
    numpy_baseline: tuple[str, ...] = ()
    #: NumPy's runtime-dispatch targets, e.g. ``("X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR")``.
    numpy_dispatch: tuple[str, ...] = ()
    #: pybind11 internals ID without the ``__pybind11_internals_`` prefix and ``__`` suffix,
    #: e.g. ``"v11_system_libstdcpp_gxx_abi_1xxx_use_cxx11_abi_1"``.
    pybind11_abi: str | None = None
    #: OpenBLAS configuration string, whitespace-normalized: ``"OpenBLAS 0.3.30 DYNAMIC_ARCH NO_AFFINITY"``.
    openblas: str | None = None
    #: The OpenMP runtime this binary is: ``"gnu"`` (libgomp) or ``"kmp"`` (LLVM libomp / Intel libiomp5).
    openmp_runtime: Literal["gnu", "kmp"] | None = None
    #: True when NumPy's baseline marker was found (an empty baseline ``()`` is then meaningful).
    has_numpy_cpu_lists: bool = False

    @property
    def openblas_version(self) -> str | None:
        """The version token of :attr:`openblas` (``"0.3.30"``), or None."""
        if self.openblas is None:
            return None
        parts = self.openblas.split()
        return parts[1] if len(parts) > 1 else None

    @property
    def uses_cxx11_abi(self) -> bool | None:
        """``_GLIBCXX_USE_CXX11_ABI`` as recorded in the pybind11 key (new-style keys only)."""
        if self.pybind11_abi is None:
            return None
        match = re.search(r"use_cxx11_abi_([01])", self.pybind11_abi)
        return None if match is None else match.group(1) == "1"


def markers_to_json(markers: BinaryMarkers) -> dict[str, object]:
    """``markers`` as JSON-ready data (for the scan cache)."""
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name in BinaryMarkers.__dataclass_fields__
        for value in [getattr(markers, name)]
    }


def markers_from_json(data: dict[str, object]) -> BinaryMarkers:
    """The markers :func:`markers_to_json` wrote.

    :raises ValueError: ``data`` is not such a document.
    """
    fields: dict[str, object] = {}
    for name, value in data.items():
        if name not in BinaryMarkers.__dataclass_fields__:
            raise ValueError(f"unknown field {name!r}")
        fields[name] = tuple(map(str, value)) if isinstance(value, list) else value
    try:
        return BinaryMarkers(**fields)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


def read_markers(path: str | Path) -> BinaryMarkers:
    """Scan the file at ``path``; an empty file has no markers.

    :raises OSError: it cannot be read, or is no regular file (a FIFO or device is never opened
        for reading).
    """
    from native_doctor.sources._file import open_regular

    with open_regular(path) as handle:
        try:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # empty file: mmap refuses length 0
            return BinaryMarkers()
        with mapped:
            regions = elf_marker_regions(mapped)
            if regions is None:
                regions = [(0, min(len(mapped), MAX_SCAN))]
            return _scan(_Regions(mapped, regions))


def elf_marker_regions(data: _Buffer) -> list[tuple[int, int]] | None:
    """(offset, size) of the sections of an ELF file that can hold markers, clamped to the file
    and to :data:`MAX_SCAN` bytes in all; None when ``data`` is no ELF file whose section table can
    be read (the caller then scans a capped prefix)."""
    head = data[0:64]
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return None
    end = "<" if head[5] == 1 else ">"
    try:
        if head[4] == 2:
            (shoff,) = struct.unpack_from(end + "Q", head, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", head, 0x3A)
            layout = end + "IIQQQQ"
        else:
            (shoff,) = struct.unpack_from(end + "I", head, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", head, 0x2E)
            layout = end + "IIIIII"
    except struct.error:
        return None
    size = len(data)
    if shnum == 0 or shnum > 65535 or shentsize < struct.calcsize(layout) or shoff + shnum * shentsize > size:
        return None
    table = data[shoff : shoff + shnum * shentsize]
    sections: list[tuple[int, int, int, int]] = []  # name, type, offset, size
    for number in range(shnum):
        name, kind, *rest = struct.unpack_from(layout, table, number * shentsize)
        sections.append((name, kind, rest[2], rest[3]))
    if shstrndx >= shnum:
        return None
    _n, _k, names_at, names_size = sections[shstrndx]
    names = data[names_at : names_at + min(names_size, 1 << 20)] if names_at < size else b""
    regions: list[tuple[int, int]] = []
    budget = MAX_SCAN
    for name, kind, offset, length in sections:
        if kind == 8 or offset >= size or length <= 0:  # SHT_NOBITS (.bss) has no bytes in the file
            continue
        label = names[name : names.find(b"\0", name)] if name < len(names) else b""
        if not label.startswith(_ELF_SECTIONS):
            continue
        take = min(length, size - offset, budget)
        if take > 0:
            regions.append((offset, take))
            budget -= take
    return regions


class _Regions:
    """Several byte ranges of one buffer, seen as one buffer (offsets are virtual); no copy."""

    __slots__ = ("_buffer", "_regions", "_size")

    def __init__(self, buffer: _Buffer, regions: Sequence[tuple[int, int]]) -> None:
        self._buffer = buffer
        starts: list[tuple[int, int, int]] = []  # virtual start, real start, length
        virtual = 0
        for real, length in regions:
            starts.append((virtual, real, length))
            virtual += length
        self._regions = starts
        self._size = virtual

    def __len__(self) -> int:
        return self._size

    def find(self, sub: bytes, start: int = 0, end: int | None = None, /) -> int:
        stop = self._size if end is None else end
        for virtual, real, length in self._regions:
            if virtual + length <= start or virtual >= stop:
                continue
            limit = real + min(length, stop - virtual)
            hit = self._buffer.find(sub, real + max(0, start - virtual), limit)
            if hit >= 0:
                return virtual + hit - real
        return -1

    def __getitem__(self, index: slice, /) -> bytes:
        start = index.start or 0
        stop = self._size if index.stop is None else min(index.stop, self._size)
        for virtual, real, length in self._regions:
            if virtual <= start < virtual + length:
                end = min(stop, virtual + length)
                return bytes(self._buffer[real + start - virtual : real + end - virtual])
        return b""


def parse_markers(data: bytes) -> BinaryMarkers:
    """The markers in ``data`` (a whole binary's bytes). Pure."""
    return _scan(data)


# --------------------------------------------------------------------------- scanning

_NUMPY2_API_MSG = b"module was compiled against NumPy C-API version 0x%x (NumPy "
_NUMPY1_ABI_MSG = b"module compiled against ABI version 0x%x"
_CORE2 = b"numpy._core._multiarray_umath"
_CORE1 = b"numpy.core._multiarray_umath"
_PYBIND_NUMPY1 = b"numpy.core.multiarray"
_BASELINE = b"part of the baseline optimizations:"
_DISPATCH = b"part of the dispatched optimizations"
_PYBIND11 = b"__pybind11_internals_"
_OPENBLAS = b"OpenBLAS "

_TARGET_RE = re.compile(rb"(\d{1,2}\.\d{1,3})\)")
_CPU_LIST_RE = re.compile(rb" ?\n?\(([A-Z0-9_ ]*)\)")
_PYBIND11_RE = re.compile(rb"(v[A-Za-z0-9_]+?)__(?![A-Za-z0-9])")
_OPENBLAS_RE = re.compile(rb"OpenBLAS (\d+\.\d+\.\d+[0-9A-Za-z_.+ -]*)")


def _scan(buf: _Buffer) -> BinaryMarkers:
    baseline = _cpu_list(buf, _BASELINE)
    return BinaryMarkers(
        numpy_target=_numpy_target(buf),
        numpy_abi=_numpy_abi(buf),
        numpy_baseline=baseline or (),
        numpy_dispatch=_cpu_list(buf, _DISPATCH) or (),
        pybind11_abi=_after(buf, _PYBIND11, _PYBIND11_RE),
        openblas=_openblas(buf),
        openmp_runtime=_openmp_runtime(buf),
        has_numpy_cpu_lists=baseline is not None,
    )


def _hits(buf: _Buffer, anchor: bytes) -> list[int]:
    """Offsets of up to ``_MAX_HITS`` occurrences of ``anchor``."""
    found: list[int] = []
    start = buf.find(anchor)
    while start >= 0 and len(found) < _MAX_HITS:
        found.append(start)
        start = buf.find(anchor, start + 1)
    return found


def _after(buf: _Buffer, anchor: bytes, pattern: re.Pattern[bytes]) -> str | None:
    """Group 1 of ``pattern`` matched right after the first occurrence of ``anchor`` that matches."""
    for offset in _hits(buf, anchor):
        start = offset + len(anchor)
        match = pattern.match(buf[start : start + _WINDOW])
        if match is not None:
            return match.group(1).decode("ascii")
    return None


def _numpy_target(buf: _Buffer) -> str | None:
    return _after(buf, _NUMPY2_API_MSG, _TARGET_RE)


def _numpy_abi(buf: _Buffer) -> NumpyAbi | None:
    has_core2 = buf.find(_CORE2) >= 0
    if has_core2 and buf.find(_NUMPY2_API_MSG) >= 0:
        return "2.x"
    if has_core2:
        return None  # NumPy itself (or a module naming it without using the C-API import)
    if buf.find(_CORE1) >= 0 and buf.find(_NUMPY1_ABI_MSG) >= 0:
        return "1.x"
    if buf.find(_PYBIND11) >= 0 and buf.find(_PYBIND_NUMPY1) >= 0 and buf.find(b"numpy._core") < 0:
        return "1.x"  # pybind11 < 2.12: imports numpy.core.multiarray only
    return None


def _cpu_list(buf: _Buffer, anchor: bytes) -> tuple[str, ...] | None:
    value = _after(buf, anchor, _CPU_LIST_RE)
    return None if value is None else tuple(value.split())


def _openblas(buf: _Buffer) -> str | None:
    for offset in _hits(buf, _OPENBLAS):
        match = _OPENBLAS_RE.match(buf[offset : offset + _WINDOW])
        if match is not None:
            return "OpenBLAS " + " ".join(match.group(1).decode("ascii").split())
    return None


def _openmp_runtime(buf: _Buffer) -> Literal["gnu", "kmp"] | None:
    if buf.find(b"GOMP_CPU_AFFINITY\x00") >= 0:
        return "gnu"
    if buf.find(b"KMP_DUPLICATE_LIB_OK") >= 0 and buf.find(b"__kmp") >= 0:
        return "kmp"
    return None
