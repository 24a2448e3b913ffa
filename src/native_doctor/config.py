"""Settings from ``[tool.native-doctor]`` in pyproject.toml (the nearest one above the working directory).

Keys: ``select`` and ``ignore`` (lists of codes, prefixes or names), ``fail-on``
(``error``/``warning``/``info``), ``preview`` (bool). Command-line options override them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from native_doctor._documents import loads_toml
from native_doctor.errors import UsageError

__all__ = ["Config", "find_pyproject", "load_config"]

_SEVERITIES = ("error", "warning", "info")
_KEYS = {"select", "ignore", "fail-on", "preview"}


@dataclass(frozen=True, slots=True)
class Config:
    """Settings for ``check`` (None: not set, use the default)."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    fail_on: str | None = None
    preview: bool = False
    #: The file they came from, if any.
    source: Path | None = None


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path | None) -> Config:
    """Read ``[tool.native-doctor]`` from ``path`` (a missing table gives the defaults).

    :raises UsageError: unreadable TOML, unknown keys, or values of the wrong type.
    """
    if path is None:
        return Config()
    try:
        document = loads_toml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot read settings: {exc}") from None
    tool = document.get("tool", {})
    if not isinstance(tool, dict):
        raise UsageError(f"{path}: [tool] must be a table")
    table = tool.get("native-doctor")
    if table is None:
        return Config(source=None)
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.native-doctor] must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise UsageError(f"{path}: unknown key(s) in [tool.native-doctor]: {', '.join(unknown)}")
    fail_on = table.get("fail-on")
    if fail_on is not None and fail_on not in _SEVERITIES:
        raise UsageError(f"{path}: fail-on must be one of {', '.join(_SEVERITIES)}")
    preview = table.get("preview", False)
    if not isinstance(preview, bool):
        raise UsageError(f"{path}: preview must be true or false")
    select = table.get("select")
    return Config(
        select=None if select is None else _strings(select, "select", path),
        ignore=_strings(table.get("ignore", []), "ignore", path),
        fail_on=fail_on,
        preview=preview,
        source=path,
    )


def _strings(value: object, key: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{path}: {key} must be a list of strings")
    return tuple(value)
