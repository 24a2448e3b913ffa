"""Untrusted text on its way to a person: control and bidi characters made visible, length capped.

Member names, DT_NEEDED strings, paths and DepURLs come from the input. Printed raw, an ESC
sequence can retitle the terminal or clear it, a newline can forge a line of the report, and a
right-to-left override can make ``evil.so`` read as something else. :func:`printable` is the one
escaping function every human-facing renderer (text, GitHub annotations, stderr messages) uses;
JSON and SARIF keep the exact strings. :func:`quoted` and :func:`shorten` keep echoed input
proportional to what a person can read, not to what the input holds.
"""

from __future__ import annotations

import re

__all__ = ["ECHO_LIMIT", "MESSAGE_LIMIT", "printable", "quoted", "shorten"]

#: Characters of one echoed input value (a DepURL, a version) kept in a message.
ECHO_LIMIT = 200
#: Characters of one error message kept on stderr.
MESSAGE_LIMIT = 4000

# C0 controls, DEL and C1 controls; bidi embeddings, overrides, isolates and marks; zero-width and
# invisible format characters; line and paragraph separators; the BOM and interlinear annotations.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\ufff9-\ufffb]"
)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, keep: str = "") -> str:
    """``text`` with every control, bidi and invisible format character written as ``\\xNN`` or
    ``\\uNNNN`` (a backslash is left alone), except those in ``keep`` (e.g. ``"\\n"``)."""
    if keep:
        return "".join(
            part if part in keep else _UNSAFE.sub(_visible, part) for part in re.split(f"([{keep}])", text)
        )
    return _UNSAFE.sub(_visible, text)


def shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text``, cut to ``limit`` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def quoted(text: str, limit: int = ECHO_LIMIT) -> str:
    """``repr(text)`` for a message, of at most about ``limit`` characters of ``text``."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text) - limit} more characters)"
