"""Version evidence in a binary's bytes, found without loading it.

Pure: the caller passes the bytes (``bytes`` or an ``mmap``). Every search starts at a fixed
literal anchor found with ``find`` (no per-byte Python work) and matches a bounded window
there; a pattern looks at no more than ``MAX_HITS`` occurrences of its anchor, and the bare
``X.Y.Z`` scan stops after ``MAX_HITS`` candidates. A 25 MB library costs a few memory scans.
"""

from __future__ import annotations

import mmap
import re
from collections.abc import Iterable
from typing import NamedTuple

from native_doctor.sbom.catalog import Library

__all__ = ["MAX_HITS", "Evidence", "scan"]

#: Occurrences of one anchor looked at (bounds a pathological file).
MAX_HITS = 256
#: Bytes after an anchor that a version string may span.
WINDOW = 160
_BARE = re.compile(rb"\x00(\d{1,3}\.\d{1,3}\.\d{1,3})\x00")


#: What the scan reads: a whole file's bytes, or a read-only map of it.
Buffer = bytes | mmap.mmap


class Evidence(NamedTuple):
    """One observation that names a library's version."""

    library: str
    #: ``string`` (a version string), ``path`` (a build path), ``debuglink``, ``bare`` (a lone
    #: ``X.Y.Z`` string); ``identify`` adds ``soname`` (from the file name).
    kind: str
    version: str
    #: The text that was matched, for the SBOM's evidence properties.
    text: str


def scan(
    buf: Buffer,
    own: Library | None,
    embedded: Iterable[Library] = (),
    *,
    arch: str | None = None,
    soname: str = "",
) -> tuple[Evidence, ...]:
    """Evidence for ``own`` (the library the file is, all kinds) and for the ``embedded``
    libraries (statically linked copies: version strings only). ``arch`` and ``soname`` (the
    file's name) enable the machine-code rules."""
    found: list[Evidence] = []
    if own is not None:
        found += _strings(buf, own)
        found += _paths(buf, own)
        if own.debuglink:
            found += _debuglinks(buf, own)
        if own.bare:
            found += _bare(buf, own)
        if own.code is not None and arch == "x86_64":
            found += _code(buf, own, soname)
    for library in embedded:
        if library is not own:
            found += _strings(buf, library)
            found += _numeric(buf, library)
    return tuple(dict.fromkeys(found))


def _numeric(buf: Buffer, library: Library) -> list[Evidence]:
    # libxml2's xmlParserVersion "21406" = 2.14.6; only in a file that names the library
    if library.numeric is None:
        return []
    marker, digit = library.numeric
    if buf.find(marker.encode("ascii")) < 0:
        return []
    pattern = re.compile(rb"\x00(" + digit.encode("ascii") + rb"\d{4})\x00")
    values = set()
    for count, match in enumerate(pattern.finditer(buf)):
        if count >= MAX_HITS:
            break
        values.add(match.group(1).decode("ascii"))
    if len(values) != 1:
        return []
    value = values.pop()
    version = f"{value[0]}.{int(value[1:3])}.{int(value[3:5])}"
    return [Evidence(library.name, "string", version, f"{library.name} version number {value}")]


def _code(buf: Buffer, library: Library, soname: str) -> list[Evidence]:
    """A version function compiled to ``mov eax, imm32; ret`` (x86-64): search the few candidate
    encodings; accept only when exactly one value is found often enough."""
    candidates: dict[int, str] = {}
    least = 1
    if library.code == "webp":  # WebPGetDecoderVersion and WebPGetEncoderVersion: 1.minor.revision
        candidates = {(1 << 16) | (b << 8) | c: f"1.{b}.{c}" for b in range(10) for c in range(10)}
        least = 2
    elif (
        library.code == "brotli"
    ):  # BrotliDecoderVersion / BrotliEncoderVersion: major << 24 | minor << 12 | patch
        candidates = {(1 << 24) | (b << 12) | c: f"1.{b}.{c}" for b in range(10) for c in range(30)}
    elif library.code == "libpq":  # PQlibVersion: PG_VERSION_NUM, major from libpq.so.5.<major>
        match = re.search(r"\.so\.5\.(\d{2})$", soname)
        if match is not None:
            major = int(match.group(1))
            candidates = {major * 10000 + minor: f"{major}.{minor}" for minor in range(100)}
    counts = _immediates(buf, candidates)
    hits = [text for value, text in candidates.items() if counts.get(value, 0) >= least]
    if len(hits) != 1:
        return []
    version = hits[0]
    return [
        Evidence(library.name, "code", version, f"version function returns {version} (mov eax, imm32; ret)")
    ]


def _immediates(buf: Buffer, candidates: Iterable[int]) -> dict[int, int]:
    """How often ``mov eax, imm32; ret`` (``B8 imm32 C3``) occurs with each candidate immediate,
    overlapping occurrences included, at most 8 each. One scan: a regex whose four immediate bytes
    are the byte values the candidates have at each position (a superset of the candidates, checked
    after), instead of one ``find`` over the whole file per candidate (300 for brotli: ~0.1 s of a
    repair grafting Pillow's libraries)."""
    encoded = [value.to_bytes(4, "little") for value in candidates]
    if not encoded:
        return {}
    sets = [sorted({e[at] for e in encoded}) for at in range(4)]
    classes = b"".join(b"[" + b"".join(re.escape(bytes([v])) for v in values) + b"]" for values in sets)
    wanted = set(encoded)
    counts: dict[int, int] = {}
    for match in re.finditer(rb"\xb8(?=(" + classes + rb")\xc3)", buf):
        immediate = match.group(1)
        if immediate in wanted:
            value = int.from_bytes(immediate, "little")
            counts[value] = min(counts.get(value, 0) + 1, 8)
    return counts


def _hits(buf: Buffer, anchor: bytes) -> Iterable[int]:
    start, count = buf.find(anchor), 0
    while start >= 0 and count < MAX_HITS:
        yield start
        count += 1
        start = buf.find(anchor, start + 1)


def _match(buf: Buffer, anchor: bytes, pattern: bytes, library: str, kind: str) -> list[Evidence]:
    """Matches of regex ``pattern`` at each place ``anchor`` occurs (compiled at the first)."""
    found = []
    compiled = None
    for offset in _hits(buf, anchor):
        compiled = compiled or re.compile(pattern)
        match = compiled.match(buf[offset : offset + WINDOW])
        if match is not None:
            text = match.group(0).decode("ascii", "replace").strip()
            found.append(Evidence(library, kind, match.group(1).decode("ascii"), text))
    return found


def _strings(buf: Buffer, library: Library) -> list[Evidence]:
    found = []
    for string in library.strings:
        found += _match(buf, string.anchor, string.pattern, library.name, "string")
    return found


def _paths(buf: Buffer, library: Library) -> list[Evidence]:
    found = []
    for name in library.paths:
        anchor = b"/" + name.encode("ascii")
        sep = b"" if name.endswith(("-", "_", "-v")) else b"-v?"
        pattern = re.escape(anchor) + sep + rb"(\d+(?:\.\d+){1,3})/"
        found += _match(buf, anchor, pattern, library.name, "path")
    return found


def _debuglinks(buf: Buffer, library: Library) -> list[Evidence]:
    # libXau.so.6.0.0-1.0.9-3.el8.x86_64.debug: the distribution package's version after the file name
    found = []
    for offset in _hits(buf, b".debug\x00"):
        window = buf[max(0, offset - 120) : offset + 6]
        match = re.search(rb"(lib[\w+]+)\.so[.\d]*-(\d+(?:\.\d+)+)-[\w.]+\.debug$", window)
        if match is not None and library.files.match(match.group(1).decode("ascii") + ".so"):
            found.append(Evidence(library.name, "debuglink", match.group(2).decode("ascii"), _text(match)))
    return found


def _bare(buf: Buffer, library: Library) -> list[Evidence]:
    found = []
    for count, match in enumerate(_BARE.finditer(buf)):
        if count >= MAX_HITS:
            break
        found.append(Evidence(library.name, "bare", match.group(1).decode("ascii"), _text(match)))
    return found


def _text(match: re.Match[bytes]) -> str:
    return match.group(0).strip(b"\x00/").decode("ascii", "replace")
