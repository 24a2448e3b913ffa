"""The packaged identification data (``sbom/data/libraries.json``), loaded once and shape-checked."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from native_doctor._package_data import read_package_text
from native_doctor.errors import PolicyDataError

__all__ = ["Library", "StringPattern", "libraries", "library_named"]

_SOURCE = "sbom/data/libraries.json"
_SONAME_RULES = ("same", "libpng", "harfbuzz", "lcms2", "avif", "zmq43", "freetype", "none")


@dataclass(frozen=True, slots=True)
class StringPattern:
    """A version string: a literal ``anchor`` and a regex (group 1: the version) matched at it."""

    anchor: bytes
    pattern: re.Pattern[bytes]


@dataclass(frozen=True, slots=True)
class Library:
    """One upstream project that wheels commonly vendor."""

    name: str
    #: Matched against the file name with repair-tool hashes removed.
    files: re.Pattern[str]
    strings: tuple[StringPattern, ...]
    #: Source-directory names seen in build paths (``/project/build/zstd-1.5.7/``).
    paths: tuple[str, ...]
    #: Version-node name of the library's own symbols (``OPENSSL`` in ``OPENSSL_3.5.0``).
    symver: str | None
    #: A regex on the file name whose group 1 is the upstream version.
    filename: re.Pattern[str] | None
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
            StringPattern(anchor.encode("ascii"), re.compile(pattern.encode("ascii")))
            for anchor, pattern in entry.get("strings", [])
        )
        for string in strings:
            if not string.pattern.pattern.startswith(string.anchor) or string.pattern.groups != 1:
                raise PolicyDataError(f"{_SOURCE}: {name}: a pattern must start with its anchor, one group")
        return Library(
            name=name,
            files=re.compile(entry["files"]),
            strings=strings,
            paths=tuple(entry.get("paths", ())),
            symver=entry.get("symver"),
            filename=re.compile(entry["filename"]) if "filename" in entry else None,
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
