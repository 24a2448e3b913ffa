"""The environment doctor's whole result, kept for a second run on an unchanged environment.

The scan cache (:mod:`native_doctor.sources.envcache`) spares a second run the reading of
unchanged files, but the run still loads it, simulates the loader, runs the checks and renders
the report. This cache keeps the rendered report itself (what ``env`` wrote to stdout and its exit
code) with the state of everything the run read: the folders whose listing it relied on
(modification times), the files it read (path, size, modification time, inode), a digest of the
host files whose content it used (``/etc/os-release``, the CPU's identity in ``/proc/cpuinfo``,
the NVIDIA driver version). A second run with the same command line, working directory,
environment variables, terminal, interpreter and native-doctor code checks that state with
``stat`` calls and prints the kept report; anything changed, missing, corrupt or foreign is a miss
and the run is done again (and kept anew).

This module is imported before any of the heavy ones (readers, checks, reports): a hit must cost
little more than the interpreter's start-up. Nothing in the cache is executed: it is plain JSON,
checked field by field.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "Inputs",
    "ResultCache",
    "cache_directory",
    "file_key",
    "file_state",
    "folder_mtime",
    "for_run",
    "keeps_report",
    "run_identity",
    "state_key",
    "write_text",
]

_FORMAT = "native-doctor-env-result"
_VERSION = 3
#: Environment variables that differ between two shells without changing anything the doctor
#: reads (the working directory is part of the identity on its own).
_VOLATILE = frozenset({"_", "OLDPWD", "PWD", "SHLVL"})
#: Host files whose content (not only their state) the doctor's output depends on.
_HOST_FILES = (
    "/etc/os-release",
    "/usr/lib/os-release",
    "/sys/module/nvidia/version",
    "/proc/driver/nvidia/version",
)
#: The ``/proc/cpuinfo`` fields the host facts read (``sources.host.parse_cpuinfo``); the others
#: (``cpu MHz``, ``bogomips``) change from one read to the next.
_CPU_FIELDS = frozenset({"vendor_id", "model name", "flags", "Features", "CPU implementer", "CPU part"})


def cache_directory() -> Path:
    """The user cache folder for environment scans: ``$NATIVE_DOCTOR_ENV_CACHE``, else
    ``$XDG_CACHE_HOME/native-doctor/env``, else ``~/.cache/native-doctor/env``."""
    explicit = os.environ.get("NATIVE_DOCTOR_ENV_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "native-doctor" / "env"


def file_state(status: os.stat_result) -> str:
    """What a cache keeps of a file's state: its size, modification time (ns) and inode."""
    return f"{status.st_size}\0{status.st_mtime_ns}\0{status.st_ino}"


def file_key(path: str, status: os.stat_result) -> str:
    """The cache key of the file at ``path`` in the state ``status`` describes."""
    return state_key(path, file_state(status))


def state_key(path: str, state: str) -> str:
    """The cache key of the file at ``path`` in the :func:`file_state` ``state``."""
    return f"{path}\0{state}"


def folder_mtime(folder: str) -> int:
    """The modification time (ns) of ``folder`` (a file added, removed or renamed in it changes
    it), or -1 when it cannot be read."""
    try:
        return os.stat(folder).st_mtime_ns  # noqa: PTH116 - thousands of folders, strings
    except OSError:
        return -1


def _current_state(path: str) -> str:
    """The :func:`file_state` of the file at ``path`` now, "" when it cannot be read."""
    try:
        return file_state(os.stat(path))  # noqa: PTH116
    except OSError:
        return ""


def _link(path: str) -> str:
    """What ``path`` itself is (not what it points to): inode and type, "" when missing. A link
    retargeted or a folder replaced by a link is a new inode; a folder's content is not looked at."""
    try:
        status = os.lstat(path)
    except OSError:
        return ""
    return f"{status.st_ino}:{status.st_mode}"


def _cpu_identity(text: bytes) -> bytes:
    """The lines of the first processor block of ``/proc/cpuinfo`` that identify the CPU."""
    kept: list[bytes] = []
    for line in text.splitlines():
        if not line.strip():
            if kept:
                break
            continue
        key = line.partition(b":")[0].strip().decode("ascii", "replace")
        if key in _CPU_FIELDS:
            kept.append(line)
    return b"\n".join(kept)


def _content(path: str) -> str:
    """A digest of what the doctor reads from the host file at ``path`` ("" when unreadable)."""
    try:
        with open(path, "rb") as handle:  # noqa: PTH123 - small host files
            text = handle.read(1 << 20)
    except OSError:
        return ""
    if path == "/proc/cpuinfo":
        text = _cpu_identity(text)
    return hashlib.sha256(text).hexdigest()


class Inputs:
    """What one run of the environment doctor read: folders (their listing), files (their state)
    and host files (their content). Filled while the run reads; checked by the next run."""

    __slots__ = ("contents", "files", "folders", "links")

    def __init__(self) -> None:
        self.folders: dict[str, int] = {}
        self.files: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.contents: dict[str, str] = {}

    def folder(self, path: str) -> None:
        """Depend on the listing of the folder ``path`` (it may not exist)."""
        if path not in self.folders:
            self.folders[path] = folder_mtime(path)

    def parent(self, path: str) -> None:
        """Depend on whether ``path`` exists and what it is: its folder's listing."""
        self.folder(os.path.dirname(path) or ".")  # noqa: PTH120

    def link(self, path: str) -> None:
        """Depend on what ``path`` itself is (a real path resolved through it)."""
        if path not in self.links:
            self.links[path] = _link(path)

    def file(self, path: str, state: str | None = None) -> None:
        """Depend on the file at ``path`` (``state``: its :func:`file_state` when already known)."""
        if path not in self.files:
            self.files[path] = _current_state(path) if state is None else state

    def add_folders(self, folders: Mapping[str, object]) -> None:
        """Depend on folders whose modification times were taken already."""
        for path, mtime in folders.items():
            if isinstance(mtime, int):
                self.folders.setdefault(path, mtime)

    def add_files(self, files: Mapping[str, object]) -> None:
        """Depend on files whose states (:func:`file_state`) were taken already."""
        for path, state in files.items():
            if isinstance(state, str):
                self.files.setdefault(path, state)

    def host(self) -> None:
        """Depend on the host facts: the OS release, the CPU, the NVIDIA driver, the interpreter."""
        for path in (*_HOST_FILES, "/proc/cpuinfo"):
            self.contents[path] = _content(path)
        if sys.executable:
            self.file(sys.executable)

    def unchanged(self) -> bool:
        """Whether every folder, file and host file is as it was when recorded."""
        return (
            all(folder_mtime(path) == mtime for path, mtime in self.folders.items())
            and all(_current_state(path) == state for path, state in self.files.items())
            and all(_link(path) == key for path, key in self.links.items())
            and all(_content(path) == digest for path, digest in self.contents.items())
        )

    def to_json(self) -> dict[str, Any]:
        return {"folders": self.folders, "files": self.files, "links": self.links, "contents": self.contents}

    @classmethod
    def from_json(cls, data: object) -> Inputs | None:
        """The inputs :meth:`to_json` wrote; None when ``data`` is not such a document."""
        if not isinstance(data, dict):
            return None
        folders, files = data.get("folders"), data.get("files")
        links, contents = data.get("links"), data.get("contents")
        if not (
            isinstance(folders, dict)
            and all(isinstance(v, int) for v in folders.values())
            and all(
                isinstance(part, dict) and all(isinstance(v, str) for v in part.values())
                for part in (files, links, contents)
            )
        ):
            return None
        inputs = cls()
        inputs.folders, inputs.files, inputs.links, inputs.contents = folders, files, links, contents  # type: ignore[assignment]
        return inputs


def _code_fingerprint() -> str:
    """native-doctor's version and the state of every file of the package (readers, checks,
    reports, policy data): changed code never serves a stale report."""
    from native_doctor import __version__

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # noqa: PTH100, PTH120
    parts = [__version__]
    for folder, dirs, names in os.walk(here):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith((".py", ".json", ".toml", ".txt")):
                try:
                    status = os.stat(os.path.join(folder, name))  # noqa: PTH116, PTH118
                except OSError:
                    continue
                parts.append(f"{folder[len(here) :]}/{name}:{status.st_size}:{status.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


#: The libraries the report is made with: another version may render or decide differently.
_LIBRARIES = ("packaging", "rich")


def _libraries() -> list[object]:
    """The state of each library's ``__init__`` file (found, not imported: an upgrade replaces it)."""
    from importlib.util import find_spec

    found: list[object] = []
    for name in _LIBRARIES:
        try:
            spec = find_spec(name)
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None else None
        found.append([name, _current_state(origin) if origin else ""])
    return found


def _terminal() -> list[object]:
    """Whether each standard stream is a terminal, and its size (rich renders for both)."""
    found: list[object] = []
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        try:
            descriptor = stream.fileno()
            found.append([os.isatty(descriptor), list(os.get_terminal_size(descriptor))])
        except (AttributeError, ValueError, OSError):
            found.append(None)
    return found


def run_identity(options: Mapping[str, object], directories: Iterable[str], interpreter: object) -> str:
    """A digest of everything besides the files that decides the report: the command line
    (``options``), the examined ``directories``, the ``interpreter``'s facts, the working
    directory, the environment variables, the kernel, the terminal, native-doctor's code and the
    libraries it renders and decides with."""
    document = {
        "options": {k: str(v) for k, v in sorted(options.items())},
        "directories": list(directories),
        "interpreter": interpreter,
        "running": [sys.executable, sys.version, sys.prefix, sys.base_prefix],
        "cwd": os.getcwd(),  # noqa: PTH109
        "environ": sorted((k, v) for k, v in os.environ.items() if k not in _VOLATILE),
        "uname": list(os.uname()) if hasattr(os, "uname") else [sys.platform],
        "user": [os.getuid(), os.getgid()] if hasattr(os, "getuid") else [],
        "terminal": _terminal(),
        "code": _code_fingerprint(),
        "libraries": _libraries(),
    }
    text = json.dumps(document, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


class ResultCache:
    """The last report of ``env`` for one set of examined directories: one file, a line of JSON
    (the format, the run's identity, its exit code and :class:`Inputs`), then the report as it
    was written (kept as it is: a second run prints it without decoding anything)."""

    def __init__(self, directories: Iterable[str], identity: str, *, directory: Path | None = None) -> None:
        self.identity = identity
        name = "\0".join(os.path.realpath(d) for d in directories)
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:24]
        self.path = (directory or cache_directory()) / "results" / f"{digest}.report"

    def replay(self) -> tuple[int, str] | None:
        """(exit code, output) of the kept report when everything it was made from is unchanged;
        None otherwise (no cache, a corrupt or foreign one, another identity, a change)."""
        try:
            with self.path.open("rb") as handle:
                head, _, output = handle.read().partition(b"\n")
            document = json.loads(head)
            text = output.decode("utf-8", "surrogatepass")
        except (OSError, ValueError, RecursionError):
            return None
        if not (
            isinstance(document, dict)
            and document.get("format") == _FORMAT
            and document.get("version") == _VERSION
            and document.get("identity") == self.identity
            and isinstance(document.get("exit"), int)
        ):
            return None
        inputs = Inputs.from_json(document.get("inputs"))
        if inputs is None or not inputs.unchanged():
            return None
        return document["exit"], text

    @staticmethod
    def encode(inputs: Inputs) -> str:
        """``inputs`` as :meth:`store` keeps them (JSON; may be made in another process)."""
        return json.dumps(inputs.to_json(), separators=(",", ":"))

    def store(self, exit_code: int, output: str, inputs: Inputs | str) -> None:
        """Keep this run's report (atomically: a temporary file renamed over the old one); a
        failure to write is silent (the cache is an optimisation only). ``inputs``: the inputs,
        or what :meth:`encode` made of them."""
        encoded = inputs if isinstance(inputs, str) else self.encode(inputs)
        head = json.dumps(
            {"format": _FORMAT, "version": _VERSION, "identity": self.identity, "exit": exit_code},
            separators=(",", ":"),
        )
        write_text(self.path, head[:-1], ',"inputs":', encoded, "}\n", output)


def write_text(path: Path, *pieces: str) -> None:
    """Write ``pieces`` one after the other to ``path`` atomically (a temporary file in the same
    folder, renamed); a cache that cannot be written is not an error: nothing is written. Few,
    large pieces, not joined first (``json.dump`` writes the encoder's many small pieces one by
    one: measured on a 5.9 MB scan cache, 59 ms against 25 ms for one string)."""
    import tempfile  # only a run that writes a cache pays for it

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".tmp")
        try:
            # As written: no newline translated; a lone surrogate in a report survives the trip.
            with os.fdopen(handle, "w", encoding="utf-8", errors="surrogatepass", newline="") as out:
                out.writelines(pieces)
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError:
        return


def keeps_report(options: Mapping[str, object]) -> bool:
    """Whether an ``env`` run with ``options`` uses the whole-result cache (see :func:`for_run`)."""
    return not (options.get("no_cache") or options.get("runtime") or options.get("output") is not None)


def for_run(options: Mapping[str, object], directories: Iterable[str]) -> ResultCache | None:
    """The whole-result cache of one ``env`` run with ``options`` (the parsed command line), or
    None when the run must not use one: ``--no-cache``, ``--runtime`` (imports are run, not read)
    or ``--output`` (the report goes to a file, written by the command itself). ``--jobs`` is not
    part of the key: the report is the same for any number of processes."""
    if not keeps_report(options):
        return None
    from native_doctor.sources.sites import INTERPRETER_FACTS

    python = options.get("python")
    facts = INTERPRETER_FACTS.get(python) if isinstance(python, str) else None
    names = [os.fspath(d) for d in directories]
    # --jobs changes how the environment is read, not the report: not part of the key.
    kept = {k: v for k, v in options.items() if k not in ("no_cache", "jobs")}
    return ResultCache(names, run_identity(kept, names, facts))
