"""The data files shipped inside the package (policy tables, provider knowledge), read as text.

A plain file read next to this module: ``importlib.resources`` costs ~2 ms of start-up to import
(it brings ``tempfile``, ``random`` and the resource-reader machinery), which every command paid
for a few JSON files. It stays the fallback for an installation the file system cannot see into
(a zip import).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["read_package_text"]

_ROOT = Path(__file__).parent


def read_package_text(*parts: str) -> str:
    """The UTF-8 text of ``native_doctor/<parts...>``.

    :raises OSError: the file cannot be read.
    :raises UnicodeDecodeError: it is not UTF-8.
    """
    try:
        return _ROOT.joinpath(*parts).read_text(encoding="utf-8")
    except FileNotFoundError:
        if _ROOT.is_dir():
            raise
    from importlib import resources  # the package is not a folder (a zip import)

    return resources.files("native_doctor").joinpath(*parts).read_text(encoding="utf-8")
