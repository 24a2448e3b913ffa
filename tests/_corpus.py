"""The pinned real-wheel corpus: manifest loading, cached downloads and a small CLI.

The manifest (``tests/corpus/manifest.json``) pins real wheels from PyPI by exact file name,
size and sha256.  :func:`ensure` returns a verified local copy of one of them, taken from the
cache, from a local wheel directory that already holds the identical file, or downloaded with
``pip download`` using platform/python/abi filters derived from the wheel's own file name.

The cache lives outside the repository (see :func:`cache_dir`).  From the command line::

    python tests/_corpus.py list [--include-large] [--include-benchmark]
    python tests/_corpus.py fetch [--include-large] [--include-benchmark]

The default test run downloads only the small corpus (at most :data:`DEFAULT_BUDGET_BYTES`): a
file over :data:`LARGE_BYTES` and the benchmark-only wheels form the large corpus, which a test
fetches only when opted in (``NATIVE_DOCTOR_LARGE_CORPUS=1``, or ``CI=true``); otherwise the test
skips and says so. Scripts and benchmarks that call :func:`ensure` outside pytest get what they ask.

Tests use :func:`corpus_params` to parametrize over manifest entries::

    @pytest.mark.parametrize("entry", corpus_params(family="win-amd64"))
    def test_something(entry: CorpusWheel) -> None:
        path = ensure(entry)
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name, parse_wheel_filename

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from _pytest.mark.structures import ParameterSet

__all__ = [
    "DEFAULT_BUDGET_BYTES",
    "FAMILIES",
    "LARGE_BYTES",
    "LOCAL_WHEEL_DIRS",
    "MANIFEST_PATH",
    "CorpusError",
    "CorpusWheel",
    "cache_dir",
    "corpus_params",
    "ensure",
    "family_for_platforms",
    "is_large",
    "large_opted_in",
    "load_manifest",
    "pip_download_args",
    "require_large",
    "sha256_file",
    "wheels",
]

MANIFEST_PATH = Path(__file__).resolve().parent / "corpus" / "manifest.json"
SCHEMA_VERSION = 1

#: Every platform family a manifest entry may belong to.
FAMILIES: tuple[str, ...] = (
    "manylinux-x86_64",
    "manylinux-aarch64",
    "manylinux-i686",
    "manylinux-other",
    "musllinux-x86_64",
    "musllinux-aarch64",
    "macos-x86_64",
    "macos-arm64",
    "macos-universal2",
    "win-amd64",
    "win32",
    "win-arm64",
    "pure",
)

#: Directories that may already hold exact copies of corpus wheels (checked by name and sha256
#: before downloading).  ``$NATIVE_DOCTOR_CORPUS_LOCAL_DIRS`` (``os.pathsep``-separated) adds more.
LOCAL_WHEEL_DIRS: tuple[Path, ...] = (
    Path("/opt/wheels"),
    Path("/opt/pypi/files"),
    Path("/opt/pypi-more/files"),
)

#: A corpus file (wheel or sdist) over this size is in the large, opt-in corpus.
LARGE_BYTES = 20_000_000
#: What the default test run may download at most (tests/test_corpus_manifest.py checks it).
DEFAULT_BUDGET_BYTES = 250_000_000

#: Python version handed to pip for wheels tagged only ``py3``/``py2.py3`` (any 3.x works).
_DEFAULT_PY3 = "3.12"
_CHUNK = 1 << 20


class CorpusError(RuntimeError):
    """A corpus wheel could not be obtained or did not match its pinned hash."""


@dataclass(frozen=True, slots=True)
class CorpusWheel:
    """One pinned wheel of the corpus, as described by the manifest."""

    name: str
    version: str
    filename: str
    sha256: str
    size: int
    family: str
    tags: tuple[str, ...]
    benchmark_only: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CorpusWheel:
        """Build an entry from one object of the manifest's ``wheels`` list."""
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            filename=str(data["filename"]),
            sha256=str(data["sha256"]).lower(),
            size=int(data["size"]),
            family=str(data["family"]),
            tags=tuple(str(t) for t in data.get("tags", ())),
            benchmark_only=bool(data.get("benchmark_only", False)),
        )

    def to_json(self) -> dict[str, Any]:
        """The manifest representation of this entry."""
        return {
            "name": self.name,
            "version": self.version,
            "filename": self.filename,
            "sha256": self.sha256,
            "size": self.size,
            "family": self.family,
            "tags": list(self.tags),
            "benchmark_only": self.benchmark_only,
        }

    @property
    def platform_tags(self) -> frozenset[str]:
        """The platform tags in the wheel's file name (``{"any"}`` for a pure wheel)."""
        _, _, _, tags = parse_wheel_filename(self.filename)
        return frozenset(t.platform for t in tags)

    def __str__(self) -> str:
        return self.filename


# --------------------------------------------------------------------------- manifest


@functools.cache
def _load(path: Path) -> tuple[CorpusWheel, ...]:
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise CorpusError(f"{path}: expected a JSON object with schema_version {SCHEMA_VERSION}")
    return tuple(CorpusWheel.from_json(entry) for entry in data["wheels"])


def load_manifest(path: Path | None = None) -> list[CorpusWheel]:
    """Every entry of the manifest, in manifest order (benchmark-only ones included)."""
    return list(_load((path or MANIFEST_PATH).resolve()))


def wheels(
    *,
    family: str | None = None,
    tag: str | None = None,
    name: str | None = None,
    include_benchmark: bool = False,
) -> list[CorpusWheel]:
    """Manifest entries filtered by family, tag and project name.

    Benchmark-only (huge) wheels are left out unless ``include_benchmark`` is true.
    """
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown corpus family {family!r}; expected one of {', '.join(FAMILIES)}")
    wanted_name = canonicalize_name(name) if name is not None else None
    return [
        w
        for w in load_manifest()
        if (include_benchmark or not w.benchmark_only)
        and (family is None or w.family == family)
        and (tag is None or tag in w.tags)
        and (wanted_name is None or canonicalize_name(w.name) == wanted_name)
    ]


def corpus_params(**filters: Any) -> list[ParameterSet]:
    """``pytest.param`` objects for :func:`wheels` (same keyword filters), marked ``corpus``.

    Each param's id is the wheel's file name; the value is the :class:`CorpusWheel`.
    """
    import pytest

    return [pytest.param(w, id=w.filename, marks=pytest.mark.corpus) for w in wheels(**filters)]


def family_for_platforms(platforms: Iterable[str]) -> str | None:
    """The corpus family that a wheel's set of platform tags belongs to, or None if it has none.

    A wheel whose tags span several families (other than macOS fat binaries, which count as
    ``macos-universal2`` as soon as one tag says ``universal2``) has no family.
    """
    families = {_family_of(p) for p in platforms}
    if "macos-universal2" in families and families <= {"macos-universal2", "macos-x86_64", "macos-arm64"}:
        return "macos-universal2"
    if len(families) == 1:
        return families.pop()
    return None


def _family_of(platform: str) -> str | None:
    if platform == "any":
        return "pure"
    if platform.startswith(("manylinux", "linux_")):
        arch = _linux_arch(platform)
        if arch in ("x86_64", "aarch64", "i686"):
            return f"manylinux-{arch}"
        return "manylinux-other"
    if platform.startswith("musllinux_"):
        arch = _linux_arch(platform)
        return f"musllinux-{arch}" if arch in ("x86_64", "aarch64") else None
    if platform.startswith("macosx_"):
        arch = platform.split("_", 3)[-1]
        return {"x86_64": "macos-x86_64", "arm64": "macos-arm64", "universal2": "macos-universal2"}.get(arch)
    return {"win_amd64": "win-amd64", "win32": "win32", "win_arm64": "win-arm64"}.get(platform)


def _linux_arch(platform: str) -> str:
    # manylinux1_x86_64, manylinux2014_aarch64, manylinux_2_28_x86_64, musllinux_1_2_x86_64, linux_armv7l
    head, *rest = platform.split("_")
    if head in ("manylinux", "musllinux"):
        rest = rest[2:]  # drop the major/minor glibc or musl version
    return "_".join(rest)


# --------------------------------------------------------------------------- files


def cache_dir() -> Path:
    """The corpus cache directory (created if needed).

    ``$NATIVE_DOCTOR_CORPUS_CACHE``, else ``$XDG_CACHE_HOME/native-doctor/corpus``, else
    ``~/.cache/native-doctor/corpus``.
    """
    explicit = os.environ.get("NATIVE_DOCTOR_CORPUS_CACHE")
    if explicit:
        path = Path(explicit).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
        path = base / "native-doctor" / "corpus"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# Files already hashed in this process: (path, size, mtime_ns) -> sha256.  Avoids re-hashing
# a 500 MB wheel every time a test asks for it.
_verified: dict[tuple[str, int, int], str] = {}


def _matches(path: Path, entry: CorpusWheel) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_size != entry.size:
        return False
    key = (str(path), st.st_size, st.st_mtime_ns)
    digest = _verified.get(key)
    if digest is None:
        digest = sha256_file(path)
        _verified[key] = digest
    return digest == entry.sha256


def _local_dirs() -> list[Path]:
    extra = os.environ.get("NATIVE_DOCTOR_CORPUS_LOCAL_DIRS", "")
    return [Path(p) for p in extra.split(os.pathsep) if p] + list(LOCAL_WHEEL_DIRS)


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock (POSIX) so parallel workers fetch a wheel only once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX: rely on the atomic os.replace alone
        yield
        return
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def is_large(entry: CorpusWheel) -> bool:
    """Whether ``entry`` is in the large corpus (benchmark-only, or over :data:`LARGE_BYTES`)."""
    return entry.benchmark_only or entry.size > LARGE_BYTES


def require_large(what: str) -> None:
    """In a test run, skip unless opted in to the large corpus (``NATIVE_DOCTOR_LARGE_CORPUS=1``
    or ``CI=true``); outside pytest (scripts, benchmarks) do nothing."""
    if "PYTEST_CURRENT_TEST" not in os.environ:
        return
    from _toolchain import LARGE_CORPUS, require_opt_in

    require_opt_in(LARGE_CORPUS, f"{what} is in the large corpus")


def large_opted_in() -> bool:
    """Whether this run fetches the large corpus (``NATIVE_DOCTOR_LARGE_CORPUS=1`` or ``CI=true``)."""
    from _toolchain import LARGE_CORPUS, opted_in

    return opted_in(LARGE_CORPUS)


def ensure(entry: CorpusWheel, *, quiet: bool = True) -> Path:
    """A verified local copy of ``entry`` in the cache, fetching it if needed.

    Order: the cached file (if its sha256 matches), an identical file in one of the local wheel
    directories (copied), else ``pip download`` from the package index.  Raises
    :class:`CorpusError` naming the wheel when it cannot be obtained or its hash is wrong. A test
    asking for a large wheel skips unless opted in (:func:`require_large`), even when it is cached:
    the default run must not depend on what an earlier opted-in run left behind.
    """
    if is_large(entry):
        require_large(f"{entry.filename} ({_human(entry.size)})")
    cache = cache_dir()
    target = cache / entry.filename
    if _matches(target, entry):
        return target
    with _locked(cache / f".{entry.filename}.lock"):
        if _matches(target, entry):  # another worker fetched it while we waited
            return target
        for directory in _local_dirs():
            candidate = directory / entry.filename
            if candidate.is_file() and _matches(candidate, entry):
                _install_local(candidate, target)
                if _matches(target, entry):
                    return target
        _download(entry, cache, quiet=quiet)
        if not _matches(target, entry):  # pragma: no cover - _download verified it already
            raise CorpusError(f"{entry.filename}: cached file does not match the pinned sha256")
        return target


def _install_local(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    # A copy, not a hard link: a test that damaged its cached wheel must not damage the source,
    # which may be the package index pip itself reads from.
    shutil.copyfile(source, tmp)
    tmp.replace(target)


def pip_download_args(entry: CorpusWheel) -> list[str]:
    """The ``pip download`` arguments that select exactly ``entry`` from the package index.

    Platform, python version, implementation and ABI filters come from the wheel file name's
    tags (via :func:`packaging.utils.parse_wheel_filename`).
    """
    _, _, _, tags = parse_wheel_filename(entry.filename)
    platforms = sorted({t.platform for t in tags})
    abis = sorted({t.abi for t in tags})
    interpreters = sorted({t.interpreter for t in tags})
    args = ["--no-deps", "--only-binary=:all:", "--progress-bar", "off"]
    for platform in platforms:
        args += ["--platform", platform]
    args += ["--python-version", _python_version(interpreters)]
    args += ["--implementation", "pp" if all(i.startswith("pp") for i in interpreters) else "cp"]
    for abi in abis:
        args += ["--abi", abi]
    args.append(f"{entry.name}=={entry.version}")
    return args


def _python_version(interpreters: Iterable[str]) -> str:
    """The newest Python version the interpreter tags name, as ``X.Y`` (``py3`` -> a 3.x default)."""
    best: tuple[int, int] | None = None
    for interp in interpreters:
        digits = interp.lstrip("abcdefghijklmnopqrstuvwxyz")
        if len(digits) >= 2 and digits[0] == "3":
            version = (3, int(digits[1:]))
            best = version if best is None or version > best else best
    if best is None:
        return _DEFAULT_PY3
    return f"{best[0]}.{best[1]}"


def _download(entry: CorpusWheel, cache: Path, *, quiet: bool) -> None:
    tmpdir = Path(tempfile.mkdtemp(prefix=".download-", dir=cache))
    try:
        cmd = [sys.executable, "-m", "pip", "download", *pip_download_args(entry), "-d", str(tmpdir)]
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if quiet else sys.stderr,
            stderr=subprocess.STDOUT if quiet else None,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout or "").strip().splitlines()[-15:])
            raise CorpusError(
                f"{entry.filename}: pip download failed (exit {proc.returncode})"
                + (f":\n{tail}" if tail else "")
            )
        got = tmpdir / entry.filename
        if not got.is_file():
            found = ", ".join(sorted(p.name for p in tmpdir.iterdir())) or "nothing"
            raise CorpusError(f"{entry.filename}: pip downloaded {found} instead of the pinned file")
        digest = sha256_file(got)
        if digest != entry.sha256 or got.stat().st_size != entry.size:
            raise CorpusError(
                f"{entry.filename}: sha256 mismatch: pinned {entry.sha256} ({entry.size} bytes), "
                f"downloaded {digest} ({got.stat().st_size} bytes)"
            )
        got.replace(cache / entry.filename)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


# --------------------------------------------------------------------------- CLI


def _human(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def _selected(args: argparse.Namespace) -> list[CorpusWheel]:
    entries = wheels(include_benchmark=args.include_benchmark)
    if args.include_large or args.include_benchmark:
        return entries
    return [w for w in entries if not is_large(w)]


def _cmd_list(args: argparse.Namespace) -> int:
    entries = _selected(args)
    cache = cache_dir()
    for w in entries:
        cached = "cached" if (cache / w.filename).is_file() else "      "
        bench = " [benchmark]" if w.benchmark_only else " [large]" if is_large(w) else ""
        print(f"{w.family:18} {_human(w.size):>11} {cached} {w.filename}{bench}  ({', '.join(w.tags)})")
    print(f"{len(entries)} wheels, {_human(sum(w.size for w in entries))}; cache: {cache}")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    entries = _selected(args)
    total = sum(w.size for w in entries)
    done = 0
    failures: list[str] = []
    print(f"fetching {len(entries)} wheels ({_human(total)}) into {cache_dir()}", file=sys.stderr)
    for i, w in enumerate(entries, 1):
        start = time.monotonic()
        try:
            ensure(w)
        except CorpusError as exc:
            failures.append(str(exc))
            print(f"[{i}/{len(entries)}] FAILED {exc}", file=sys.stderr)
            continue
        done += w.size
        print(
            f"[{i}/{len(entries)}] ok {w.filename} ({_human(w.size)}, {time.monotonic() - start:.1f}s; "
            f"{_human(done)} of {_human(total)})",
            file=sys.stderr,
        )
    if failures:
        print(f"{len(failures)} wheel(s) failed", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python tests/_corpus.py``."""
    parser = argparse.ArgumentParser(prog="_corpus.py", description="Manage the pinned real-wheel corpus.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, help_text in (
        ("list", _cmd_list, "list the manifest's wheels"),
        ("fetch", _cmd_fetch, "download (and verify) the wheels into the cache"),
    ):
        p = sub.add_parser(name, help=help_text)
        p.add_argument(
            "--include-large",
            action="store_true",
            help=f"include the wheels over {_human(LARGE_BYTES)} (the default test run skips their tests)",
        )
        p.add_argument(
            "--include-benchmark",
            action="store_true",
            help="include the huge benchmark-only wheels too (implies --include-large)",
        )
        p.set_defaults(func=func)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
