"""Whole-file contents of native files, for hashing and evidence scans (the SBOM's I/O edge).

A file is read once: its SHA-256 is computed and ``visit`` sees its bytes (a wheel member is
decompressed into memory, or above 32 MiB into an anonymous temporary file that is then mapped;
a file on disk is mapped read-only). Files above ``max_scan`` bytes
are hashed in chunks and not visited.
"""

from __future__ import annotations

import functools
import hashlib
import mmap
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from native_doctor.errors import InvalidArchiveError

__all__ = [
    "MAX_LICENSE_BYTES",
    "MAX_LICENSE_FILES",
    "MAX_SCAN",
    "file_contents",
    "is_license_file",
    "license_texts_on_disk",
    "sha256_file",
    "wheel_member_contents",
]

T = TypeVar("T")
#: Files larger than this are hashed but not scanned (bounds memory for a wheel member).
MAX_SCAN = 512 << 20
_CHUNK = 1 << 20
#: Members larger than this are inflated into a temporary file and mapped instead of held in memory.
_SPOOL = 32 << 20
#: License files larger than this are not read; at most this many are read per artifact.
MAX_LICENSE_BYTES, MAX_LICENSE_FILES = 4 << 20, 500
_LICENSE_NAME = re.compile(
    r"(?i)^(licen[cs]e|copying|notice|authors)([-_.][^/]*)?$|[-_](licen[cs]e|copying)[^/]*$"
)


def is_license_file(path: str) -> bool:
    """A license-like file: anything under ``.dist-info/licenses/``, or LICENSE/COPYING/NOTICE named."""
    return ".dist-info/licenses/" in path or bool(_LICENSE_NAME.search(path.rsplit("/", 1)[-1]))


def license_texts_on_disk(root: Path, paths: Iterable[str]) -> dict[str, str]:
    """``path -> text`` of the license files among ``paths`` (relative to ``root``); unreadable ones
    are skipped."""
    texts: dict[str, str] = {}
    for path in paths:
        if len(texts) >= MAX_LICENSE_FILES:
            break
        if not is_license_file(path):
            continue
        try:
            with (root / path).open("rb") as handle:
                texts[path] = handle.read(MAX_LICENSE_BYTES).decode("utf-8", "replace")
        except OSError:
            continue
    return texts


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def wheel_member_contents(
    wheel: Path,
    members: Iterable[str],
    visit: Callable[[str, bytes | mmap.mmap], T],
    *,
    max_scan: int = MAX_SCAN,
) -> dict[str, tuple[str, T | None]]:
    """``member -> (sha256, visit(member, bytes) or None when too large)``."""
    result: dict[str, tuple[str, T | None]] = {}
    try:
        with zipfile.ZipFile(wheel) as archive:
            for member in members:
                info = archive.getinfo(member)
                if info.file_size > max_scan:
                    result[member] = (_stream_digest(archive, info), None)
                elif info.file_size > _SPOOL:
                    result[member] = _spooled(archive, info, functools.partial(visit, member))
                else:
                    data = archive.read(info)
                    result[member] = (hashlib.sha256(data).hexdigest(), visit(member, data))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
        raise InvalidArchiveError(f"{wheel}: cannot read a native member: {exc}") from exc
    return result


def file_contents(
    files: Mapping[str, Path],
    visit: Callable[[str, bytes | mmap.mmap], T],
    *,
    max_scan: int = MAX_SCAN,
) -> dict[str, tuple[str, T | None]]:
    """``name -> (sha256, visit(name, mapped bytes) or None)``; unreadable files are left out."""
    result: dict[str, tuple[str, T | None]] = {}
    for name, path in files.items():
        try:
            with path.open("rb") as handle:
                size = path.stat().st_size
                if size == 0 or size > max_scan:
                    result[name] = (sha256_file(path), None)
                    continue
                with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                    result[name] = (hashlib.sha256(mapped).hexdigest(), visit(name, mapped))
        except (OSError, ValueError):
            continue
    return result


def _spooled(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, visit: Callable[[mmap.mmap], T]
) -> tuple[str, T]:
    """Inflate a large member into an anonymous temporary file (hashing on the way) and visit a
    read-only map of it: the bytes live in the page cache, not in this process's heap."""
    import tempfile  # large members only: ~1.5 ms to import

    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as spool:
        with archive.open(info) as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                spool.write(chunk)
        spool.flush()
        with mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return digest.hexdigest(), visit(mapped)


def _stream_digest(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    digest = hashlib.sha256()
    with archive.open(info) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
