"""Read the RFC 822-style header block of METADATA and WHEEL files.

Only the header block matters here (names, versions, ``Requires-Dist``, ``Tag``, ``Root-Is-Purelib``),
and :mod:`email.parser` costs about 15 ms to import (``benchmarks/design_choices.py``: it pulls in
``email.utils`` and ``socket``), a sixth of a small wheel's whole run. This reader handles what
the core metadata spec allows in headers: ``Name: value`` lines, continuation lines that start
with white space (also when nothing else is on them, as in a multi-paragraph ``License``), and the
empty line that ends the block.
"""

from __future__ import annotations

__all__ = ["Headers", "parse_headers"]


class Headers:
    """Header fields in file order; names compare case-insensitively, as in email headers."""

    __slots__ = ("_fields",)

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields

    def get(self, name: str) -> str | None:
        """The first value of ``name``, or None."""
        wanted = name.lower()
        return next((value for key, value in self._fields if key.lower() == wanted), None)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        wanted = name.lower()
        return [value for key, value in self._fields if key.lower() == wanted]


def parse_headers(text: str) -> Headers:
    """Parse the header block at the start of ``text`` (the body, if any, is ignored)."""
    fields: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line:
            break  # only an empty line ends the block: "   " is a (blank) continuation line
        if line[0] in " \t":
            if fields:
                key, value = fields[-1]
                fields[-1] = (key, f"{value}\n{line.strip()}" if value else line.strip())
            continue
        key, sep, value = line.partition(":")
        if sep and key and " " not in key.strip():
            fields.append((key.strip(), value.strip()))
    return Headers(fields)
