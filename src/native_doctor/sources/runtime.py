"""The ``--runtime`` probe: import a module in a child Python and report what got loaded.

The doctor never imports the environment's code in its own process: a bad extension can die by
SIGILL, abort in OpenMP's duplicate-runtime check, or change process-wide state. Each probe runs
``python -X faulthandler -c <script> <module>``; the child imports the module, then prints one
JSON line (after a marker, so the module's own output cannot be mistaken for it) holding the
import error if any, the text of ``/proc/self/maps`` (Linux) and ``KMP_DUPLICATE_LIB_OK`` as the
import left it (threadpoolctl sets it silently). Parsing happens here, in pure functions.
"""

from __future__ import annotations

import json
import posixpath
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["ImportProbe", "diagnose_output", "module_of", "parse_maps", "probe_import", "top_level_modules"]

_MARKER = "\x1enative-doctor-probe:"
_STDERR_TAIL = 8192

# Runs in the child. Keep it dependency-free and compatible with old Pythons (3.6+ syntax).
_CHILD = r"""
import importlib, os, sys, traceback
result = {"ok": False, "error": None}
try:
    importlib.import_module(sys.argv[1])
    result["ok"] = True
except BaseException as exc:
    lines = traceback.format_exception_only(type(exc), exc)
    result["error"] = "".join(lines).strip().splitlines()[-1] if lines else repr(exc)
    root, seen = exc, set()
    while id(root) not in seen:
        seen.add(id(root))
        inner = root.__cause__ or (None if root.__suppress_context__ else root.__context__)
        if inner is None:
            break
        root = inner
    if root is not exc:
        text = "".join(traceback.format_exception_only(type(root), root)).strip()
        result["root_cause"] = " ".join(text.split())[:1000]
try:
    with open("/proc/self/maps") as handle:
        result["maps"] = handle.read()
except OSError:
    result["maps"] = None
result["kmp_duplicate_lib_ok"] = os.environ.get("KMP_DUPLICATE_LIB_OK")
import json  # only now: its accelerator must not show up among the loaded libraries
sys.stdout.flush()
sys.stdout.write("\n" + MARKER + json.dumps(result) + "\n")
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
""".replace("MARKER", repr(_MARKER))


@dataclass(frozen=True, slots=True)
class ImportProbe:
    """The outcome of importing one module in a child interpreter."""

    module: str
    #: The import succeeded (the child reached its report).
    ok: bool
    #: The child's exit status; None when it was killed for taking too long.
    returncode: int | None
    #: Name of the signal that killed the child (``"SIGILL"``, ``"SIGABRT"``, ``"SIGSEGV"``), if one did.
    signal: str | None
    #: Last line of the import's traceback, a fatal-error line, or a timeout/launch message.
    error: str | None
    #: Shared objects mapped in the child after the import, in address order, each once.
    loaded: tuple[str, ...]
    #: Seconds the child ran.
    duration: float
    #: ``KMP_DUPLICATE_LIB_OK`` after the import (None when unset or unknown).
    kmp_duplicate_lib_ok: str | None = None
    timed_out: bool = False
    #: Interpretations: ``"CPU instruction set"`` for SIGILL, ``"OpenMP duplicate runtime (Error #15)"``.
    notes: tuple[str, ...] = ()
    #: The end of the child's stderr (faulthandler traceback, OpenMP messages).
    stderr: str = ""
    #: For a chained exception, the innermost one (``ValueError: numpy.dtype size changed, ...``).
    root_cause: str | None = None


def parse_maps(text: str) -> tuple[str, ...]:
    """Paths of shared objects in ``/proc/<pid>/maps`` text, first-seen order, each once.

    A shared object is a mapped file whose name ends in ``.so`` or contains ``.so.``; ``(deleted)``
    suffixes are removed. Anonymous and pseudo mappings (``[heap]``, ``[vdso]``) are skipped.
    """
    seen: dict[str, None] = {}
    for line in text.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) < 6:
            continue
        path = parts[5].strip()
        if path.endswith(" (deleted)"):
            path = path[: -len(" (deleted)")]
        if not path.startswith("/"):
            continue
        name = posixpath.basename(path)
        if name.endswith(".so") or ".so." in name:
            seen.setdefault(path, None)
    return tuple(seen)


def diagnose_output(stderr: str, signal_name: str | None) -> tuple[str, ...]:
    """Known failure signatures in a child's stderr and death signal."""
    notes: list[str] = []
    if signal_name == "SIGILL" or "Fatal Python error: Illegal instruction" in stderr:
        notes.append("CPU instruction set")
    if "OMP: Error #15" in stderr:
        notes.append("OpenMP duplicate runtime (Error #15)")
    if "compiled using NumPy 1.x cannot be run in" in stderr:
        notes.append("NumPy 1.x-built module under NumPy 2")
    if "GIL) has been enabled to load module" in stderr:
        notes.append("GIL re-enabled by an extension")
    return tuple(notes)


def _fatal_line(stderr: str) -> str | None:
    for line in stderr.splitlines():
        if line.startswith("Fatal Python error:"):
            return line.strip()
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else None


def _signal_name(returncode: int | None) -> str | None:
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _report(stdout: str) -> dict[str, object] | None:
    position = stdout.rfind(_MARKER)
    if position < 0:
        return None
    try:
        data = json.loads(stdout[position + len(_MARKER) :].splitlines()[0])
    except (ValueError, IndexError):
        return None
    return data if isinstance(data, dict) else None


def probe_import(
    module: str,
    *,
    python: str = sys.executable,
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
) -> ImportProbe:
    """Import ``module`` in a child ``python`` and report the outcome; never raises for the
    child's failures (launch errors, crashes and timeouts are reported in the result)."""
    command = [python, "-X", "faulthandler", "-c", _CHILD, module]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            timeout=timeout,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = _decode(exc.stderr)
        return ImportProbe(
            module=module,
            ok=False,
            returncode=None,
            signal=None,
            error=f"import did not finish within {timeout:g} s",
            loaded=(),
            duration=time.monotonic() - started,
            timed_out=True,
            notes=diagnose_output(stderr, None),
            stderr=stderr[-_STDERR_TAIL:],
        )
    except OSError as exc:
        return ImportProbe(
            module, False, None, None, f"cannot run {python}: {exc}", (), time.monotonic() - started
        )
    duration = time.monotonic() - started
    stderr = _decode(proc.stderr)
    report = _report(_decode(proc.stdout))
    signal_name = _signal_name(proc.returncode)
    root: object = None
    if report is not None:
        maps = report.get("maps")
        error = report.get("error")
        root = report.get("root_cause")
        kmp = report.get("kmp_duplicate_lib_ok")
        ok = report.get("ok") is True and proc.returncode == 0
        loaded = parse_maps(maps) if isinstance(maps, str) else ()
    else:
        ok, loaded, kmp = False, (), None
        error = _fatal_line(stderr) or f"child exited with status {proc.returncode}"
    return ImportProbe(
        module=module,
        ok=ok,
        returncode=proc.returncode,
        signal=signal_name,
        error=error if isinstance(error, str) else None,
        loaded=loaded,
        duration=duration,
        kmp_duplicate_lib_ok=kmp if isinstance(kmp, str) else None,
        notes=diagnose_output(stderr, signal_name),
        stderr=stderr[-_STDERR_TAIL:],
        root_cause=root if isinstance(root, str) else None,
    )


def module_of(path: str) -> str | None:
    """The dotted module an extension or source file at RECORD ``path`` is, or None
    (``sklearn/tree/_tree.cpython-311-x86_64-linux-gnu.so`` -> ``sklearn.tree._tree``)."""
    if path.startswith(("../", "/")):
        return None
    parts = path.split("/")
    stem = parts[-1].split(".", 1)[0]
    parts[-1] = stem
    if stem == "__init__":
        parts.pop()
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def top_level_modules(dist_records: Iterable[str]) -> tuple[str, ...]:
    """Importable top-level names among RECORD paths: packages (``pkg/...``) and single-file
    modules (``mod.py``, ``mod.cpython-311-x86_64-linux-gnu.so``, ``mod.pyd``); metadata,
    ``.data`` trees, paths outside site-packages and ``__pycache__`` are ignored."""
    names: set[str] = set()
    for raw in dist_records:
        # RECORD paths from the environment reader are normalized already; others are made so.
        path = raw if "\\" not in raw and "./" not in raw else posixpath.normpath(raw.replace("\\", "/"))
        if path.startswith(("../", "/")) or path == "..":
            continue
        head, _, rest = path.partition("/")
        if head.endswith((".dist-info", ".data", ".egg-info", ".libs")) or head == "__pycache__":
            continue
        if rest:
            if head.isidentifier() and rest.endswith((".py", ".so", ".pyd")):
                names.add(head)
            continue
        stem = head.split(".", 1)[0]
        if stem.isidentifier() and head.endswith((".py", ".so", ".pyd")) and stem != "__init__":
            names.add(stem)
    return tuple(sorted(names))
