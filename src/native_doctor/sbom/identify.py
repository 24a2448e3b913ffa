"""Which upstream library a native file is, and which version: pure decisions over a file name,
a :class:`~native_doctor.binary.model.BinaryInfo` and the evidence found in the file's bytes.

Evidence is ranked: a version string the library prints about itself, then a build path
naming its source directory, then a distribution debug-link name, then the file name's
version mapped by the library's documented SONAME rule, then a lone ``X.Y.Z`` string (accepted
only when it agrees with the file name or is the only one).
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

from native_doctor.binary.model import BinaryInfo
from native_doctor.sbom.catalog import Library, libraries
from native_doctor.sbom.evidence import Evidence

__all__ = ["Identity", "identify", "library_of", "normalized_name"]

#: auditwheel ``-a147dcb0``, delocate/delvewheel hashes: 8 to 40 hex digits before a ``.`` or ``-``.
_HASH = re.compile(r"-[0-9a-f]{8,40}(?=[-.])")
_SO_VERSION = re.compile(r"\.so\.(\d+(?:\.\d+)*)$")
_DYLIB_VERSION = re.compile(r"\.(\d+(?:\.\d+)*)\.dylib$")
_RANK = ("string", "code", "path", "debuglink", "soname", "bare", "sibling", "symver")
#: A version node ``NAME_1.2.3`` (``OPENSSL_3.5.0``, ``LIBTIFF_4.7.2``, ``XZ_5.8``).
_VERSION_NODE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*?)_(\d+(?:\.\d+)+)$")
#: FreeType's own table (docs/VERSIONS.TXT: release -> shared object number), newest first.
_FREETYPE = {
    "6.20.3": "2.14.0",
    "6.20.2": "2.13.3",
    "6.20.1": "2.13.2",
    "6.20.0": "2.13.1",
    "6.19.0": "2.13.0",
    "6.18.3": "2.12.1",
    "6.18.2": "2.12.0",
    "6.18.1": "2.11.1",
    "6.18.0": "2.11.0",
    "6.17.4": "2.10.4",
    "6.17.3": "2.10.3",
    "6.17.2": "2.10.2",
    "6.17.1": "2.10.1",
    "6.17.0": "2.10.0",
    "6.16.1": "2.9.1",
    "6.16.0": "2.9.0",
}


class Identity(NamedTuple):
    """What a file (or a copy statically linked into it) is."""

    library: Library
    version: str | None
    #: The evidence the version was chosen from, best first, then the rest.
    evidence: tuple[Evidence, ...]


def normalized_name(path: str) -> str:
    """The file name with repair-tool hashes removed: ``libz-a147dcb0.so.1.3.1`` -> ``libz.so.1.3.1``."""
    name = posixpath.basename(path.replace("\\", "/"))
    return _HASH.sub("", name)


def library_of(path: str, info: BinaryInfo | None = None) -> Library | None:
    """The catalog library this file is, by its (normalized) file name or its own SONAME/install name."""
    names = [normalized_name(path)]
    if info is not None:
        names += [normalized_name(n) for n in (info.soname, info.install_name, info.dll_name) if n]
    for library in libraries():
        if any(library.files.search(name) for name in names):
            return library
    return None


def identify(
    path: str, info: BinaryInfo | None, evidence: Sequence[Evidence], library: Library | None = None
) -> Identity | None:
    """The library ``path`` is and its version, or None when the catalog does not know it."""
    library = library or library_of(path, info)
    if library is None:
        return None
    own = [e for e in evidence if e.library == library.name]
    soname = _soname_version(library, path, info)
    if soname is not None:
        own.append(soname)
    version = _choose(own, soname)
    own += _symbol_versions(library, info)
    return Identity(library, version, tuple(sorted(own, key=_rank)))


def _symbol_versions(library: Library, info: BinaryInfo | None) -> list[Evidence]:
    """The newest version node the file defines for its own symbols (``OPENSSL_3.5.0``,
    ``LIBTIFF_4.7.2``, ``XZ_5.8``): a lower bound on the release, kept as evidence only."""
    if info is None or library.symver is None:
        return []
    best: tuple[tuple[int, ...], str, str] | None = None
    for node in info.version_definitions:
        match = _VERSION_NODE.match(node)
        if match is None or match.group(1) != library.symver:
            continue
        key = tuple(int(part) for part in match.group(2).split("."))
        if best is None or key > best[0]:
            best = (key, match.group(2), node)
    if best is None:
        return []
    return [Evidence(library.name, "symver", best[1], f"defines {best[2]} (a lower bound on the release)")]


def embedded(evidence: Sequence[Evidence], own: Library | None) -> tuple[Identity, ...]:
    """Libraries statically linked into a file: catalog libraries other than ``own`` whose
    version strings were found."""
    by_library: dict[str, list[Evidence]] = {}
    for item in evidence:
        if own is None or item.library != own.name:
            by_library.setdefault(item.library, []).append(item)
    found = []
    for library in libraries():
        items = by_library.get(library.name)
        if items:
            found.append(Identity(library, _choose(items, None), tuple(items)))
    return tuple(found)


def _rank(item: Evidence) -> int:
    return _RANK.index(item.kind) if item.kind in _RANK else len(_RANK)


def _choose(items: Sequence[Evidence], soname: Evidence | None) -> str | None:
    for kind in _RANK[: _RANK.index("bare")]:
        versions = Counter(e.version for e in items if e.kind == kind)
        if versions:
            return max(versions, key=versions.__getitem__)  # most_common(1), without heapq
    bare = {e.version for e in items if e.kind == "bare"}
    if soname is not None and soname.version in bare:
        return soname.version
    return next(iter(bare)) if len(bare) == 1 else None


def _soname_version(library: Library, path: str, info: BinaryInfo | None) -> Evidence | None:
    name = normalized_name(path)
    if library.filename is not None and (found := library.filename.search(name)) is not None:
        return Evidence(library.name, "soname", found.group(1), name)
    if library.soname is None:
        return None
    match = _SO_VERSION.search(name) or _DYLIB_VERSION.search(name)
    if match is None:
        return None
    version = _apply(library.soname, match.group(1))
    return None if version is None else Evidence(library.name, "soname", version, name)


def _freetype_after_table(parts: list[str]) -> str | None:
    # After the table's last row (2.14.0 = 6.20.3) every 2.14.x release bumped the libtool
    # revision by one, as each row within one interface does: 6.20.6 = 2.14.3.
    if len(parts) == 3 and parts[:2] == ["6", "20"] and 3 <= int(parts[2]) <= 20:
        return f"2.14.{int(parts[2]) - 3}"
    return None


def _apply(rule: str, number: str) -> str | None:
    parts = number.split(".")
    if rule == "same":
        return number if len(parts) >= 3 else None
    if rule == "freetype":
        return _FREETYPE.get(number) or _freetype_after_table(parts)
    if len(parts) != 3:
        return None
    major, minor, patch = parts
    if rule == "libpng" and len(major) == 2:  # libpng16.so.16.58.0 -> 1.6.58
        return f"{major[0]}.{major[1]}.{minor}"
    if rule == "lcms2" and (major, minor) == ("2", "0"):  # liblcms2.so.2.0.19 -> 2.19
        return f"2.{patch}"
    if rule == "avif" and major == "16":  # libavif.so.16.4.2 -> 1.4.2
        return f"1.{minor}.{patch}"
    if rule == "zmq43" and (major, minor) == ("5", "2"):  # libzmq.so.5.2.5 -> 4.3.5
        return f"4.3.{patch}"
    if rule == "harfbuzz" and major == "0":  # libharfbuzz.so.0.61450.0 -> 14.5.0
        found = re.fullmatch(r"6(\d\d)(\d)(\d)", minor)
        return None if found is None else f"{int(found.group(1))}.{found.group(2)}.{found.group(3)}"
    return None
