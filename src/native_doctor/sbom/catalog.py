"""The packaged identification data (``sbom/data/libraries.json``), loaded once and shape-checked."""

from __future__ import annotations

import functools
import json
import re
from typing import Any, NamedTuple

from native_doctor._package_data import read_package_text
from native_doctor.errors import PolicyDataError

__all__ = ["Library", "NamePattern", "StringPattern", "libraries", "library_named", "literal_starts"]

_SOURCE = "sbom/data/libraries.json"
_SONAME_RULES = ("same", "libpng", "harfbuzz", "lcms2", "avif", "zmq43", "freetype", "none")


class StringPattern(NamedTuple):
    """A version string: a literal ``anchor`` and a regex (group 1: the version) matched at it.

    ``pattern`` is the regex's text: the scan compiles it (``re.compile``, cached) only where the
    anchor occurs, so a repair does not compile the patterns of strings its files do not contain.
    """

    anchor: bytes
    pattern: bytes


class NamePattern:
    """A file-name regex of the catalog, compiled on first use. A name that starts with none of
    the literal texts every match starts with (``libtiff`` for ``^libtiff([-.]|$)``; ``libpng`` or
    ``png`` for ``^(lib)?png``: :func:`literal_starts`) is refused without compiling it: a repair's
    first SBOM looked 61 patterns up for each grafted library's name and compiled them all (~1.8 ms)."""

    __slots__ = ("_compiled", "_starts", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._starts: tuple[str, ...] | None = None
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        """The compiled regex (PolicyDataError when the packaged text is not one)."""
        if self._compiled is None:
            try:
                self._compiled = re.compile(self.source)
            except re.error as exc:
                raise PolicyDataError(f"{_SOURCE}: {self.source!r}: {exc}") from None
        return self._compiled

    def search(self, name: str) -> re.Match[str] | None:
        """``re.search`` of the pattern in ``name``."""
        if self._starts is None:
            self._starts = literal_starts(self.source)
        return self.compiled.search(name) if name.startswith(self._starts) else None

    def match(self, name: str) -> re.Match[str] | None:
        """``re.match`` of the pattern at the start of ``name``."""
        if self._starts is None:
            self._starts = literal_starts(self.source)
        return self.compiled.match(name) if name.startswith(self._starts) else None

    def __repr__(self) -> str:
        return f"NamePattern({self.source!r})"


_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def literal_starts(source: str) -> tuple[str, ...]:
    """Texts one of which every match of regex ``source`` starts with: after a leading ``^``, its
    letters, digits, ``_`` and ``-``, and groups of alternatives made of those (optional ones too:
    ``^(lib)?png`` -> ``libpng``, ``png``), up to anything else (a literal followed by a quantifier
    is left out). ``("",)`` when the regex is not anchored so or has an alternative outside groups."""
    if not source.startswith("^") or _has_top_level_bar(source):
        return ("",)
    starts, at = [""], 1
    while at < len(source):
        if source[at] in _LITERAL:
            end = at
            while end < len(source) and source[end] in _LITERAL:
                end += 1
            if end < len(source) and source[end] in "?*{":
                starts = [s + source[at : end - 1] for s in starts]  # the last one is optional or repeated
                break
            starts = [s + source[at:end] for s in starts]
            at = end
        elif source[at] == "(":
            close = source.find(")", at)
            body = source[at + 1 : close]
            after = source[close + 1 : close + 2]
            if close < 0 or not set(body) <= _LITERAL | {"|"} or after in ("*", "+", "{"):
                break
            options = [s + option for s in starts for option in body.split("|")]
            starts = options + starts if after == "?" else options
            at = close + 1 + (after == "?")
        else:
            break
    return tuple(dict.fromkeys(s for s in starts if not any(s != o and s.startswith(o) for o in starts)))


def _has_top_level_bar(source: str) -> bool:
    """Whether ``source`` has a ``|`` outside any group (escapes and character classes skipped)."""
    depth, at = 0, 0
    while at < len(source):
        char = source[at]
        if char == "\\":
            at += 1
        elif char == "[":  # a class: an initial ^ and ] are members, then up to the closing ]
            at += 1
            at += source.startswith("^", at)
            at += source.startswith("]", at)
            while at < len(source) and source[at] != "]":
                at += 2 if source[at] == "\\" else 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth <= 0:
            return True
        at += 1
    return False


class Library(NamedTuple):
    """One upstream project that wheels commonly vendor."""

    name: str
    #: Matched against the file name with repair-tool hashes removed.
    files: NamePattern
    strings: tuple[StringPattern, ...]
    #: Source-directory names seen in build paths (``/project/build/zstd-1.5.7/``).
    paths: tuple[str, ...]
    #: Version-node name of the library's own symbols (``OPENSSL`` in ``OPENSSL_3.5.0``).
    symver: str | None
    #: A regex on the file name whose group 1 is the upstream version.
    filename: NamePattern | None
    #: How the file name's trailing version maps to the upstream version (None: it does not).
    soname: str | None
    #: A NUL-terminated bare ``X.Y.Z`` string is accepted as the version.
    bare: bool
    #: A distribution's debug-link name ``libX.so.6.0.0-1.0.9-3.el8.x86_64.debug`` carries the version.
    debuglink: bool
    #: ``(marker, first digit)``: a NUL-terminated ``XYYZZ`` version string in a file naming ``marker``.
    numeric: tuple[str, str] | None
    #: Version function returning an immediate (``webp``, ``libpq``), x86-64 only.
    code: str | None
    #: Also looked for statically linked into other binaries (strong string anchors only).
    embedded: bool
    #: ``pkg:<type>/<namespace>/<name>`` without a version.
    purl: str
    #: ``vendor:product`` of the NVD CPE dictionary, when one exists.
    cpe: str | None
    #: SPDX license expression, when known.
    license: str | None
    #: A GPL/LGPL compiler runtime (its license text must ship with it).
    runtime_gpl: bool


@functools.cache
def libraries() -> tuple[Library, ...]:
    """Every library of the data file, in file order. Raises PolicyDataError on a malformed file."""
    text = read_package_text("sbom", "data", "libraries.json")
    document = json.loads(text)
    if not isinstance(document, dict) or document.get("schema_version") != 1:
        raise PolicyDataError(f"{_SOURCE}: schema_version 1 expected")
    entries = document.get("libraries")
    if not isinstance(entries, list):
        raise PolicyDataError(f"{_SOURCE}: 'libraries' must be a list")
    return tuple(_library(entry) for entry in entries)


@functools.cache
def library_named(name: str) -> Library | None:
    """The catalog entry called ``name``."""
    return next((lib for lib in libraries() if lib.name == name), None)


def _library(entry: Any) -> Library:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise PolicyDataError(f"{_SOURCE}: every library needs a 'name'")
    name = entry["name"]
    try:
        soname = entry.get("soname")
        if soname is not None and soname not in _SONAME_RULES:
            raise PolicyDataError(f"{_SOURCE}: {name}: unknown soname rule {soname!r}")
        strings = tuple(
            StringPattern(anchor.encode("ascii"), pattern.encode("ascii"))
            for anchor, pattern in entry.get("strings", [])
        )
        for string in strings:  # one group each: tests/sbom/test_catalog.py compiles them all
            if not string.pattern.startswith(string.anchor):
                raise PolicyDataError(f"{_SOURCE}: {name}: a pattern must start with its anchor")
        if not isinstance(entry["files"], str) or not isinstance(entry.get("filename", ""), str):
            raise PolicyDataError(f"{_SOURCE}: {name}: 'files' and 'filename' must be strings")
        return Library(
            name=name,
            files=NamePattern(entry["files"]),
            strings=strings,
            paths=tuple(entry.get("paths", ())),
            symver=entry.get("symver"),
            filename=NamePattern(entry["filename"]) if "filename" in entry else None,
            soname=None if soname == "none" else soname,
            bare=bool(entry.get("bare", False)),
            debuglink=bool(entry.get("debuglink", False)),
            numeric=tuple(entry["numeric"]) if "numeric" in entry else None,
            code=entry.get("code"),
            embedded=bool(entry.get("embedded", False)),
            purl=entry["purl"],
            cpe=entry.get("cpe"),
            license=entry.get("license"),
            runtime_gpl=bool(entry.get("runtime_gpl", False)),
        )
    except (KeyError, TypeError, ValueError, re.error) as exc:
        raise PolicyDataError(f"{_SOURCE}: {name}: {exc}") from None
