"""Loading and shape-checking of the packaged policy data (``platforms/data/*.json``).

Every data file is a JSON object with ``schema_version`` (an int this module knows),
``source`` (where the facts come from) and ``date`` (ISO date the data was written or
generated). Files are read once per process (:func:`load_data` is cached) and a malformed
file raises :class:`~native_doctor.errors.PolicyDataError` naming the file and the bad key.

The small ``expect_*`` helpers below are shared by the per-platform modules to validate the
rest of each document's shape.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any, Final

from native_doctor._package_data import read_package_text
from native_doctor.errors import PolicyDataError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "SCHEMA_VERSION",
    "expect_int",
    "expect_mapping",
    "expect_str",
    "expect_str_list",
    "load_data",
    "parse_document",
]

#: The one schema version this code reads.
SCHEMA_VERSION: Final = 1


def load_data(name: str) -> Mapping[str, Any]:
    """Return the validated header-checked document ``platforms/data/<name>.json`` (cached)."""
    return _load_cached(name)


@functools.cache
def _load_cached(name: str) -> Mapping[str, Any]:
    """Read and parse one packaged data file; see :func:`load_data`."""
    try:
        text = read_package_text("platforms", "data", f"{name}.json")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyDataError(f"{name}.json: cannot be read: {exc}") from exc
    return parse_document(text, where=f"{name}.json")


def parse_document(text: str, *, where: str) -> Mapping[str, Any]:
    """Parse JSON ``text`` and check the common header (schema_version, source, date)."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise PolicyDataError(f"{where}: not valid JSON: {exc}") from exc
    document = expect_mapping(document, where)
    version = expect_int(document.get("schema_version"), f"{where}: schema_version")
    if version != SCHEMA_VERSION:
        raise PolicyDataError(f"{where}: schema_version {version} is not {SCHEMA_VERSION}")
    expect_str(document.get("source"), f"{where}: source")
    expect_str(document.get("date"), f"{where}: date")
    return document


def expect_mapping(value: object, where: str) -> Mapping[str, Any]:
    """Return ``value`` if it is a JSON object, else raise :class:`PolicyDataError`."""
    if not isinstance(value, dict):
        raise PolicyDataError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def expect_str(value: object, where: str) -> str:
    """Return ``value`` if it is a non-empty string, else raise :class:`PolicyDataError`."""
    if not isinstance(value, str) or not value:
        raise PolicyDataError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def expect_int(value: object, where: str) -> int:
    """Return ``value`` if it is an int (not a bool), else raise :class:`PolicyDataError`."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise PolicyDataError(f"{where}: expected an integer, got {value!r}")
    return value


def expect_str_list(value: object, where: str) -> tuple[str, ...]:
    """Return ``value`` as a tuple if it is a list of non-empty strings, else raise."""
    if not isinstance(value, list):
        raise PolicyDataError(f"{where}: expected a list, got {type(value).__name__}")
    return tuple(expect_str(item, f"{where}[{index}]") for index, item in enumerate(value))
