"""The wheel a repair reads, and the file name and WHEEL tags of the wheel it writes.

Shared by the Linux, macOS and Windows repair flows (and ``fuse``); :mod:`.wheelfile` writes the
output. Reading goes through the zip module directly: a member the repair changes is read whole,
everything else is copied raw by the writer. Every failure to read is an
:class:`~native_doctor.errors.InvalidArchiveError`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from native_doctor.errors import InvalidArchiveError

__all__ = [
    "claimed_platforms",
    "dist_info_dir",
    "open_wheel",
    "read_member",
    "retag_wheel",
    "retagged_file_name",
]


def open_wheel(path: Path) -> zipfile.ZipFile:
    """The wheel at ``path`` opened as a zip archive (use it in a ``with`` block, which closes it).

    :raises InvalidArchiveError: the file is not a readable zip archive.
    """
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidArchiveError(f"{path}: not a readable zip archive ({exc})") from exc


def read_member(archive: zipfile.ZipFile, member: str) -> bytes:
    """The uncompressed bytes of ``member``.

    :raises InvalidArchiveError: the member is missing or cannot be inflated (a corrupt member).
    """
    try:
        return archive.read(member)
    except (KeyError, zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InvalidArchiveError(f"{member}: cannot be read from the wheel ({exc})") from exc
    except Exception as exc:  # zlib.error and friends from a corrupt member
        raise InvalidArchiveError(f"{member}: cannot be read from the wheel ({exc})") from exc


def dist_info_dir(archive: zipfile.ZipFile, path: Path) -> str:
    """The one top-level ``*.dist-info`` folder that holds a ``WHEEL`` file.

    :raises InvalidArchiveError: there is none, or more than one.
    """
    names = {n.split("/", 1)[0] for n in archive.namelist() if n.count("/") == 1 and n.endswith("/WHEEL")}
    dirs = sorted(n for n in names if n.endswith(".dist-info"))
    if len(dirs) != 1:
        raise InvalidArchiveError(
            f"{path}: expected one .dist-info folder with a WHEEL file, found {len(dirs)}"
        )
    return dirs[0]


def claimed_platforms(path: Path) -> tuple[str, ...]:
    """The platform tags the wheel's file name claims (its last, dot-separated field)."""
    return tuple(path.name[: -len(".whl")].split("-")[-1].split("."))


def retagged_file_name(name: str, platforms: tuple[str, ...]) -> str:
    """The wheel file name ``name`` with its platform field replaced by ``platforms`` (sorted)."""
    stem = name[: -len(".whl")]
    head, _, _old = stem.rpartition("-")
    return f"{head}-{'.'.join(sorted(platforms))}.whl"


def retag_wheel(text: str, file_name: str, platforms: tuple[str, ...]) -> str:
    """The WHEEL file ``text`` with its ``Tag:`` lines replaced: one per python, ABI (both from
    ``file_name``) and platform in ``platforms``; every other line kept, trailing blank lines dropped."""
    parts = file_name[: -len(".whl")].split("-")
    pythons, abis = parts[-3].split("."), parts[-2].split(".")
    tags = [f"Tag: {p}-{a}-{plat}" for p in pythons for a in abis for plat in platforms]
    lines = [line for line in text.splitlines() if not line.startswith("Tag:")]
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join([*lines, *tags]) + "\n"
