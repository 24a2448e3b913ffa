"""Whole-file contents of native files, for hashing and evidence scans (the SBOM's I/O edge).

A file is read once: its SHA-256 is computed and ``visit`` sees its bytes (a wheel member is
decompressed into memory; a file on disk is mapped read-only). Files above ``max_scan`` bytes
are hashed in chunks and not visited.
"""

from __future__ import annotations

import hashlib
import mmap
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from native_doctor.errors import InvalidArchiveError

__all__ = ["MAX_SCAN", "file_contents", "sha256_file", "wheel_member_contents"]

T = TypeVar("T")
#: Files larger than this are hashed but not scanned (bounds memory for a wheel member).
MAX_SCAN = 512 << 20
_CHUNK = 1 << 20


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
                    continue
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


def _stream_digest(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    digest = hashlib.sha256()
    with archive.open(info) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
