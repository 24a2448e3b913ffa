"""Pinned real sdists (``tests/deps/sdists.json``): manifest loading and cached, verified downloads.

The sdists live in ``<corpus cache>/sdists`` (:func:`_corpus.cache_dir`, outside the repository),
like the wheel corpus. :func:`ensure` returns a verified copy: the cached file if its sha256
matches, an identical file from one of the local package directories, or a download.

Why not ``pip download --no-binary :all:``: for an sdist, pip prepares its metadata by running
the project's build backend, in an isolated environment it first populates. With
``--no-binary :all:`` that environment is itself built from sdists (Cython compiled from source,
minutes), and meson-python has no ``prepare_metadata_for_build_wheel`` hook, so for SciPy pip
falls back to building the whole wheel (which needs compilers and BLAS). A download must not run
the code under test, so this helper asks the index for the pinned file name through the same
"simple" API pip uses (PEP 691 JSON), fetches that URL and checks the pinned sha256 and size.
From the command line::

    python tests/_sdists.py fetch
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from _corpus import LARGE_BYTES, LOCAL_WHEEL_DIRS, CorpusError, _locked, cache_dir, require_large, sha256_file

__all__ = ["MANIFEST_PATH", "Sdist", "ensure", "load_manifest", "sdists"]

MANIFEST_PATH = Path(__file__).resolve().parent / "deps" / "sdists.json"
SCHEMA_VERSION = 1
#: ``$NATIVE_DOCTOR_SDIST_INDEX`` overrides the package index otherwise taken from pip (its
#: configured index-url, else pip's own default), so this file names no index itself.
_TIMEOUT = 120


@dataclass(frozen=True, slots=True)
class Sdist:
    """One pinned sdist."""

    name: str
    version: str
    filename: str
    sha256: str
    size: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Sdist:
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            filename=str(data["filename"]),
            sha256=str(data["sha256"]).lower(),
            size=int(data["size"]),
        )

    def __str__(self) -> str:
        return self.filename


@functools.cache
def _load(path: Path) -> tuple[Sdist, ...]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise CorpusError(f"{path}: expected a JSON object with schema_version {SCHEMA_VERSION}")
    return tuple(Sdist.from_json(entry) for entry in data["sdists"])


def load_manifest(path: Path | None = None) -> list[Sdist]:
    """Every pinned sdist, in manifest order."""
    return list(_load((path or MANIFEST_PATH).resolve()))


def sdists(name: str | None = None) -> list[Sdist]:
    """Manifest entries, optionally only those of one project."""
    wanted = canonicalize_name(name) if name else None
    return [s for s in load_manifest() if wanted is None or canonicalize_name(s.name) == wanted]


def sdist_cache_dir() -> Path:
    """``<corpus cache>/sdists`` (created if needed)."""
    path = cache_dir() / "sdists"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _matches(path: Path, entry: Sdist) -> bool:
    try:
        return path.stat().st_size == entry.size and sha256_file(path) == entry.sha256
    except OSError:
        return False


def ensure(entry: Sdist) -> Path:
    """A verified local copy of ``entry``, downloading it if needed.

    :raises CorpusError: the file cannot be obtained or does not match its pinned hash.
    """
    if entry.size > LARGE_BYTES:
        require_large(f"{entry.filename} ({entry.size / 1e6:.1f} MB)")
    cache = sdist_cache_dir()
    target = cache / entry.filename
    if _matches(target, entry):
        return target
    with _locked(cache / f".{entry.filename}.lock"):
        if _matches(target, entry):
            return target
        for directory in LOCAL_WHEEL_DIRS:
            candidate = directory / entry.filename
            if candidate.is_file() and _matches(candidate, entry):
                _store(candidate.read_bytes(), target)
                return target
        _store(_download(entry), target)
        if not _matches(target, entry):  # pragma: no cover - _download verified it already
            raise CorpusError(f"{entry.filename}: cached file does not match the pinned sha256")
        return target


def _store(data: bytes, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        Path(tmp).replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()


def _pip_index() -> str:
    """The simple-API index pip uses here: ``PIP_INDEX_URL``, pip's configuration, or its default."""
    configured = os.environ.get("PIP_INDEX_URL")
    if configured:
        return configured
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 0 and proc.stdout.strip():
        return proc.stdout.strip()
    from pip._internal.models.index import PyPI  # pip's own default index

    return str(PyPI.simple_url)


def _download(entry: Sdist) -> bytes:
    import hashlib

    index = (os.environ.get("NATIVE_DOCTOR_SDIST_INDEX") or _pip_index()).rstrip("/")
    page = f"{index}/{canonicalize_name(entry.name)}/"
    request = urllib.request.Request(page, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
            listing = json.load(response)
        url = next(f["url"] for f in listing.get("files", ()) if f.get("filename") == entry.filename)
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as response:
            data: bytes = response.read(entry.size + 1)
    except StopIteration:
        raise CorpusError(f"{entry.filename}: not listed on {page}") from None
    except (OSError, ValueError) as exc:
        raise CorpusError(f"{entry.filename}: download failed ({exc})") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256 or len(data) != entry.size:
        raise CorpusError(
            f"{entry.filename}: sha256 mismatch: pinned {entry.sha256} ({entry.size} bytes), "
            f"downloaded {digest} ({len(data)} bytes)"
        )
    return data


def main(argv: list[str] | None = None) -> int:
    """``python tests/_sdists.py fetch``: download and verify every pinned sdist."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["fetch"]:
        print("usage: _sdists.py fetch", file=sys.stderr)
        return 2
    failures = 0
    for entry in load_manifest():
        try:
            print(f"ok {ensure(entry)}", file=sys.stderr)
        except CorpusError as exc:
            failures += 1
            print(f"FAILED {exc}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
