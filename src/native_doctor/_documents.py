"""TOML and JSON parsing of untrusted documents: nesting too deep for the parser is a decode error.

:mod:`tomllib` and :mod:`json` recurse once per nesting level, so ``a = [[[[...]]]]`` a few
thousand levels deep raises ``RecursionError``, which would escape every ``except TOMLDecodeError``
as an internal error. These wrappers turn it into the parser's own decode error, so each caller's
existing handling names the file and exits as an input error.
"""

from __future__ import annotations

import json
import sys
import tomllib
from typing import Any

__all__ = ["TOO_DEEP", "loads_json", "loads_toml"]

TOO_DEEP = "nested too deeply to parse"


def loads_toml(text: str) -> dict[str, Any]:
    """:func:`tomllib.loads`; too deep a nesting raises :class:`tomllib.TOMLDecodeError` too."""
    try:
        return tomllib.loads(text)
    except RecursionError:
        if sys.version_info >= (3, 14):  # pragma: no cover - the constructor's signature changed
            raise tomllib.TOMLDecodeError(TOO_DEEP, text, 0) from None
        raise tomllib.TOMLDecodeError(TOO_DEEP) from None


def loads_json(text: str) -> Any:
    """:func:`json.loads`; too deep a nesting raises :class:`json.JSONDecodeError` too."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError(TOO_DEEP, text, 0) from None
