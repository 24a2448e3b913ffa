"""Benchmark ``native-doctor inspect`` against ``auditwheel show`` on the pinned wheel corpus.

Run from the repository root (the corpus is read from ``~/.cache/native-doctor/corpus`` and
fetched there first if missing)::

    python benchmarks/inspect_wheels.py                                   # Linux corpus, best of 3
    python benchmarks/inspect_wheels.py --include-benchmark               # + the 400-555 MB wheels
    python benchmarks/inspect_wheels.py --include-benchmark --skip-auditwheel-large --json out.json

What it measures, all in one run on the same files (page cache warmed first):

1. start-up: ``python -c pass``, ``native-doctor --version``, ``auditwheel --version``;
2. per wheel, as users run them (subprocesses, ``sys.executable -m ...``, wall-clock, best of
   ``--repeat``): ``native-doctor inspect --format json WHEEL`` and
   ``auditwheel show --json --ldpaths '' WHEEL``, their ratio and peak RSS (``wait4``);
   the median ratio over the Linux corpus;
3. per wheel, in this process: the *decompression floor*.  Every member that
   ``native_doctor.sources.wheel`` opens is recorded with
   ``ZipMemberSource.inflated_bytes`` after it was parsed; the floor is the time a plain
   ``zlib.decompressobj(-15)`` takes to inflate that many bytes of each member (raw deflate
   from the local header's data offset, compressed input read from the file), summed
   single-threaded and also run on ``_WORKERS`` threads the way the product reads big wheels.
   It is printed next to native-doctor's own in-process times (``read_wheel`` alone, and the
   whole ``inspect`` command without interpreter start-up).
4. per wheel, in this process, both tools' *analysis* without interpreter start-up and imports
   (everything imported and one untimed warm-up call of each tool first; best of ``--repeat``,
   the first call also kept; every ``functools`` cache of the tool's modules is cleared before
   each call, so no call profits from an earlier one):

   * native-doctor: ``read_wheel(path)``, ``inspect_artifact``, ``run_checks``,
     ``sorted_findings``, ``json_report.document`` and ``dumps``: the JSON ``inspect --format
     json`` prints, as a string (no argparse, no progress display, nothing written);
   * auditwheel: ``auditwheel.main_show.execute`` with the namespace ``show --json --ldpaths ''``
     parses to, stdout captured in memory: the wheel tags from the file name,
     ``analyze_wheel_abi(libc, arch, path, frozenset(), disable_isa_ext_check=False,
     allow_graft=False, args_ldpaths='')`` (which extracts the wheel to a temporary directory,
     as the command does) and ``_output_json`` (no argparse, ``auditwheel`` loggers at INFO
     into ``os.devnull`` as the command's ``basicConfig(level=INFO)`` would log to stderr).

   The in-process ratio is what the tools' own work compares to; the subprocess ratio (2.) is
   what a user waits for.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import platform
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from auditwheel import main_show as auditwheel_show  # type: ignore[import-untyped]  # noqa: E402

import _corpus  # noqa: E402
from native_doctor import cli  # noqa: E402
from native_doctor.analysis import inspect_artifact  # noqa: E402
from native_doctor.checks.registry import run_checks  # noqa: E402
from native_doctor.report import json_report  # noqa: E402
from native_doctor.sources import wheel as wheel_source  # noqa: E402
from native_doctor.sources._zip import ZipMemberSource  # noqa: E402

LINUX_FAMILIES = tuple(f for f in _corpus.FAMILIES if f.startswith(("manylinux", "musllinux")))
#: Compressed bytes read per step and bytes inflated per call by the floor (like the product).
_INPUT_BLOCK = 1 << 18
_OUTPUT_CHUNK = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_MIB = float(1 << 20)


# --------------------------------------------------------------------------- results


@dataclass
class Run:
    """Best wall time over the repeats of one command, its exit code and peak RSS."""

    seconds: float
    exit_code: int
    max_rss_kib: int


@dataclass
class Member:
    """One member native-doctor opened, and how much of it it inflated."""

    name: str
    compress_type: int
    compress_size: int
    file_size: int
    header_offset: int
    inflated_bytes: int
    furthest_read: int


@dataclass
class Floor:
    """The decompression floor of one wheel next to native-doctor's in-process times."""

    members: int
    deflated_members: int
    inflated_bytes: int
    excess_bytes: int  # inflated beyond each member's size (restarts); 0 when none
    whole_members: int  # deflated members inflated to their very end
    largest_inflated: int  # the most bytes inflated from one member (the threads' critical path)
    parallel: bool  # whether native-doctor reads this wheel on worker threads
    workers: int
    floor_serial: float
    floor_parallel: float
    read_wheel: float
    inspect: float
    detail: list[Member] = field(default_factory=list)

    @property
    def floor_matched(self) -> float:
        """The floor in the same threading mode native-doctor used for this wheel."""
        return self.floor_parallel if self.parallel else self.floor_serial


@dataclass
class InProcess:
    """Both tools' analysis of one wheel in this process: best and first call, seconds."""

    native_doctor: float
    native_doctor_first: float
    auditwheel: float | None = None
    auditwheel_first: float | None = None
    auditwheel_exit: int | None = None

    @property
    def ratio(self) -> float | None:
        if self.auditwheel is None or self.native_doctor <= 0:
            return None
        return self.auditwheel / self.native_doctor


@dataclass
class WheelResult:
    filename: str
    label: str
    family: str
    size: int
    benchmark_only: bool
    native_doctor: Run | None = None
    auditwheel: Run | None = None
    floor: Floor | None = None
    in_process: InProcess | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.native_doctor is None or self.auditwheel is None or self.native_doctor.seconds <= 0:
            return None
        return self.auditwheel.seconds / self.native_doctor.seconds


# --------------------------------------------------------------------------- subprocess timing


#: Runs one command and prints its wall time, exit code and peak RSS.  A separate small process,
#: because a child's ru_maxrss starts from the RSS of whoever forked it: children forked from this
#: (growing) benchmark process would report at least this process's size.
_LAUNCHER = """
import json, os, sys, time
argv = json.loads(sys.argv[1])
devnull = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
start = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=devnull)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - start
print(json.dumps([elapsed, os.waitstatus_to_exitcode(status), usage.ru_maxrss]))
"""


def _run_once(argv: list[str], timeout: float | None) -> Run:
    """Run ``argv`` with output discarded: wall time, exit code and its own peak RSS."""
    with tempfile.TemporaryDirectory(prefix="nd-bench-") as cwd:
        launcher = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, json.dumps(argv)],
            cwd=cwd,
            stdout=subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills the command too
        )
        try:
            out, _ = launcher.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.communicate()
            raise TimeoutError(
                f"{Path(argv[2]).name if len(argv) > 2 else argv[0]} timed out after {timeout:g} s"
            ) from None
    if launcher.returncode != 0:
        raise RuntimeError(f"launcher failed for {' '.join(argv)}")
    seconds, exit_code, max_rss = json.loads(out)
    return Run(seconds=float(seconds), exit_code=int(exit_code), max_rss_kib=int(max_rss))


def time_command(argv: list[str], repeat: int, timeout: float | None = None) -> Run:
    """Best wall time of ``repeat`` runs (peak RSS: the largest seen)."""
    runs = [_run_once(argv, timeout) for _ in range(max(1, repeat))]
    best = min(runs, key=lambda r: r.seconds)
    return Run(best.seconds, best.exit_code, max(r.max_rss_kib for r in runs))


def native_doctor_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "native_doctor", *args]


def auditwheel_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "auditwheel", *args]


# --------------------------------------------------------------------------- decompression floor


class _RecordingSource(ZipMemberSource):
    """A ZipMemberSource that reports, when closed, how much it inflated and how far it read."""

    records: list[Member]
    lock = threading.Lock()

    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        super().__init__(archive, info)
        self._member_info = info
        self._furthest = 0

    def read_at(self, offset: int, length: int) -> bytes:
        data = super().read_at(offset, length)
        self._furthest = max(self._furthest, offset + len(data))
        return data

    def close(self) -> None:
        info = self._member_info
        record = Member(
            name=info.filename,
            compress_type=info.compress_type,
            compress_size=info.compress_size,
            file_size=info.file_size,
            header_offset=info.header_offset,
            inflated_bytes=self.inflated_bytes,
            furthest_read=self._furthest,
        )
        with self.lock:
            self.records.append(record)
        super().close()


def recorded_members(path: Path) -> list[Member]:
    """Every member ``read_wheel`` opens, with the bytes it inflated (one instrumented read)."""
    _RecordingSource.records = []
    original = getattr(wheel_source, "ZipMemberSource")  # noqa: B009 - the name read_wheel uses
    setattr(wheel_source, "ZipMemberSource", _RecordingSource)  # noqa: B010
    try:
        wheel_source.read_wheel(path)
    finally:
        setattr(wheel_source, "ZipMemberSource", original)  # noqa: B010
    return _RecordingSource.records


def data_offset(fh: Any, member: Member) -> int:
    """Where a member's compressed data starts: after its local header (own name/extra lengths)."""
    fh.seek(member.header_offset)
    fields = _LOCAL_HEADER.unpack(fh.read(_LOCAL_HEADER.size))
    return member.header_offset + _LOCAL_HEADER.size + int(fields[-2]) + int(fields[-1])


def inflate(path: Path, member: Member, want: int) -> int:
    """Plainly inflate the first ``want`` bytes of a deflated member; return how many came out."""
    decompressor = zlib.decompressobj(-zlib.MAX_WBITS)
    got = 0
    with path.open("rb", buffering=0) as fh:
        fh.seek(data_offset(fh, member))
        input_left = member.compress_size
        while got < want:
            pending = decompressor.unconsumed_tail
            if not pending:
                if input_left <= 0 or decompressor.eof:
                    break
                pending = fh.read(min(_INPUT_BLOCK, input_left))
                if not pending:
                    break
                input_left -= len(pending)
            got += len(decompressor.decompress(pending, min(want - got, _OUTPUT_CHUNK)))
    return got


def _floor_work(members: list[Member]) -> list[tuple[Member, int]]:
    work = [
        (m, min(m.inflated_bytes, m.file_size))
        for m in members
        if m.compress_type == zipfile.ZIP_DEFLATED and m.inflated_bytes > 0
    ]
    return sorted(work, key=lambda item: -item[0].compress_size)  # biggest first, like the product


def floor_serial(path: Path, members: list[Member]) -> float:
    start = time.perf_counter()
    for member, want in _floor_work(members):
        inflate(path, member, want)
    return time.perf_counter() - start


def floor_parallel(path: Path, members: list[Member], workers: int) -> float:
    work = _floor_work(members)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(lambda item: inflate(path, *item), work):
            pass
    return time.perf_counter() - start


def best_of(repeat: int, func: Callable[..., float], *args: Any) -> float:
    return min(func(*args) for _ in range(max(1, repeat)))


def _timed(func: Callable[..., object], *args: Any) -> float:
    start = time.perf_counter()
    func(*args)
    return time.perf_counter() - start


def _inspect_in_process(path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="nd-bench-") as tmp, contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(["inspect", "--format", "json", "--output", str(Path(tmp) / "out.json"), str(path)])
    if code not in (0, 1):
        raise RuntimeError(f"native-doctor inspect {path.name} exited {code}")


def measure_floor(path: Path, repeat: int) -> Floor:
    members = recorded_members(path)
    workers = wheel_source._WORKERS
    parallel = sum(m.compress_size for m in members) >= wheel_source._PARALLEL_BYTES and workers >= 2
    deflated = [m for m in members if m.compress_type == zipfile.ZIP_DEFLATED and m.inflated_bytes]
    return Floor(
        members=len(members),
        deflated_members=len(deflated),
        inflated_bytes=sum(m.inflated_bytes for m in members),
        excess_bytes=sum(max(0, m.inflated_bytes - m.file_size) for m in members),
        whole_members=sum(1 for m in deflated if m.inflated_bytes >= m.file_size),
        largest_inflated=max((m.inflated_bytes for m in members), default=0),
        parallel=parallel,
        workers=workers,
        floor_serial=best_of(repeat, floor_serial, path, members),
        floor_parallel=best_of(repeat, floor_parallel, path, members, max(1, workers)),
        read_wheel=best_of(repeat, _timed, wheel_source.read_wheel, path),
        inspect=best_of(repeat, _timed, _inspect_in_process, path),
        detail=members,
    )


# --------------------------------------------------------------------------- in-process analysis


def cached_functions(package: str) -> dict[str, Any]:
    """Every ``functools`` cache (anything with ``cache_clear``) in the imported modules of
    ``package``, module-level or a class attribute, by qualified name."""
    found: dict[str, Any] = {}
    for module_name, module in sorted(sys.modules.items()):
        if module is None or not (module_name == package or module_name.startswith(package + ".")):
            continue
        for attr, value in list(vars(module).items()):
            candidates = [(f"{module_name}.{attr}", value)]
            if isinstance(value, type) and value.__module__ == module_name:
                candidates += [
                    (f"{module_name}.{attr}.{name}", getattr(member, "__func__", member))
                    for name, member in vars(value).items()
                ]
            for name, candidate in candidates:
                if callable(getattr(candidate, "cache_clear", None)):
                    found.setdefault(name, candidate)
    return found


def clear_caches(caches: dict[str, Any]) -> None:
    for cached in caches.values():
        cached.cache_clear()


def native_doctor_analysis(path: Path) -> str:
    """What ``native-doctor inspect --format json PATH`` computes and prints, as a string."""
    inspection = inspect_artifact(wheel_source.read_wheel(path))
    findings = json_report.sorted_findings(list(run_checks(inspection)))
    return json_report.dumps(json_report.document([inspection], findings, extra={}))


def auditwheel_analysis(path: Path) -> tuple[int, str]:
    """What ``auditwheel show --json --ldpaths '' PATH`` does after argparse: exit code, output."""
    args = argparse.Namespace(
        WHEEL_FILE=path,
        JSON=True,
        DISABLE_ISA_EXT_CHECK=False,
        ALLOW_PURE_PY_WHEEL=False,
        LDPATHS="",
        verbose=0,
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = auditwheel_show.execute(args, argparse.ArgumentParser())
    return code, out.getvalue()


def quiet_auditwheel_logging() -> None:
    """Log like the command (INFO and up, formatted) but into ``os.devnull``, not stderr."""
    logger = logging.getLogger("auditwheel")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.StreamHandler(Path(os.devnull).open("w", encoding="utf-8"))  # noqa: SIM115
    handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
    logger.addHandler(handler)


def _timed_calls(
    repeat: int, caches: dict[str, Any], func: Callable[[Path], object], path: Path
) -> tuple[float, float, object]:
    """First and best wall time of ``repeat`` calls (caches cleared before each), last result."""
    times: list[float] = []
    result: object = None
    for _ in range(max(1, repeat)):
        clear_caches(caches)
        start = time.perf_counter()
        result = func(path)
        times.append(time.perf_counter() - start)
    return times[0], min(times), result


def measure_in_process(
    path: Path, repeat: int, aw_repeat: int | None, caches: dict[str, dict[str, Any]]
) -> InProcess:
    """``aw_repeat`` None: auditwheel not measured."""
    nd_first, nd_best, _ = _timed_calls(repeat, caches["native_doctor"], native_doctor_analysis, path)
    result = InProcess(native_doctor=nd_best, native_doctor_first=nd_first)
    if aw_repeat is not None:
        aw_first, aw_best, outcome = _timed_calls(aw_repeat, caches["auditwheel"], auditwheel_analysis, path)
        result.auditwheel, result.auditwheel_first = aw_best, aw_first
        result.auditwheel_exit = outcome[0] if isinstance(outcome, tuple) else None
    return result


def prepare_in_process(warm_up: Path | None) -> dict[str, dict[str, Any]]:
    """Import and warm both tools (one untimed call each), then collect their caches."""
    quiet_auditwheel_logging()
    if warm_up is not None:
        native_doctor_analysis(warm_up)
        auditwheel_analysis(warm_up)
    return {"native_doctor": cached_functions("native_doctor"), "auditwheel": cached_functions("auditwheel")}


# --------------------------------------------------------------------------- driver


def label_of(entry: _corpus.CorpusWheel) -> str:
    """``name-version pytag platform`` (the first of dotted platform tags)."""
    stem = entry.filename.removesuffix(".whl").split("-")
    return f"{entry.name}-{entry.version} {stem[-3]} {stem[-1].split('.')[0]}"


def warm(path: Path) -> None:
    """Read the file once so every tool sees it in the page cache."""
    with path.open("rb", buffering=0) as fh:
        while fh.read(8 << 20):
            pass


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError), Path("/proc/cpuinfo").open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "native_doctor_workers": wheel_source._WORKERS,
    }


def startup(repeat: int) -> dict[str, float]:
    return {
        "python -c pass": time_command([sys.executable, "-c", "pass"], repeat).seconds,
        "native-doctor --version": time_command(native_doctor_argv("--version"), repeat).seconds,
        "auditwheel --version": time_command(auditwheel_argv("--version"), repeat).seconds,
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _size(n: int) -> str:
    return f"{n / _MIB:.1f}M"


def print_tables(
    results: list[WheelResult], start: dict[str, float], info: dict[str, Any], repeat: int
) -> None:
    print(f"machine: {info['nproc']} CPU(s), {info['cpu']}, Python {info['python']}, zlib {info['zlib']}")
    print(f"native-doctor worker threads for big wheels (_WORKERS): {info['native_doctor_workers']}")
    print()
    print(f"start-up (best of {repeat}, wall seconds)")
    for name, seconds in start.items():
        print(f"  {name:<26} {seconds:.3f}")
    print()

    width = max((len(r.label) for r in results), default=10)
    print(
        f"subprocess: native-doctor inspect --format json vs auditwheel show --json --ldpaths '' "
        f"(best of {repeat}, wall seconds; RSS = peak resident MiB)"
    )
    header = (
        f"{'wheel':<{width}} {'size':>7} {'nd s':>7} {'aw s':>8} {'aw/nd':>7} {'nd RSS':>7} {'aw RSS':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        nd, aw = r.native_doctor, r.auditwheel
        print(
            f"{r.label:<{width}} {_size(r.size):>7} {_fmt(nd.seconds if nd else None):>7} "
            f"{_fmt(aw.seconds if aw else None):>8} {_fmt(r.ratio, 1):>7} "
            f"{_fmt(nd.max_rss_kib / 1024 if nd else None, 0):>7} "
            f"{_fmt(aw.max_rss_kib / 1024 if aw else None, 0):>7}"
            + (f"  ({'; '.join(r.notes)})" if r.notes else "")
        )
    print()
    for title, group in (
        ("Linux corpus", [r for r in results if not r.benchmark_only]),
        ("large (benchmark-only) wheels", [r for r in results if r.benchmark_only]),
    ):
        ratios = [r.ratio for r in group if r.ratio is not None]
        if ratios:
            print(
                f"median aw/nd over the {title} ({len(ratios)} wheels): {statistics.median(ratios):.1f}x "
                f"(min {min(ratios):.1f}x, max {max(ratios):.1f}x)"
            )
    print()
    print_in_process(results, info, repeat, width)

    floors = [r for r in results if r.floor is not None]
    if not floors:
        return
    print(
        "decompression floor vs native-doctor in process (best of "
        f"{repeat}, seconds; floor-1T = one thread, floor-NT = {info['native_doctor_workers']} threads; "
        "'mode' = how native-doctor reads it, and the floor the ratio uses)"
    )
    print(
        "whole = members inflated to their end / members opened; inflated = bytes inflated in all, "
        "biggest = from the largest member (no thread count can beat inflating that one alone)"
    )
    header = (
        f"{'wheel':<{width}} {'whole':>7} {'inflated':>9} {'biggest':>8} {'floor-1T':>8} {'floor-NT':>8} "
        f"{'mode':>4} {'read':>7} {'inspect':>7} {'read/fl':>7} {'insp/fl':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in floors:
        f = r.floor
        assert f is not None
        matched = f.floor_matched
        print(
            f"{r.label:<{width}} {f'{f.whole_members}/{f.members}':>7} {_size(f.inflated_bytes):>9} "
            f"{_size(f.largest_inflated):>8} {f.floor_serial:>8.3f} "
            f"{f.floor_parallel:>8.3f} {'NT' if f.parallel else '1T':>4} {f.read_wheel:>7.3f} "
            f"{f.inspect:>7.3f} {_fmt(f.read_wheel / matched if matched else None, 2):>7} "
            f"{_fmt(f.inspect / matched if matched else None, 2):>7}"
            + (f"  (re-inflated {_size(f.excess_bytes)})" if f.excess_bytes else "")
        )


def _median_line(what: str, title: str, ratios: list[float]) -> str:
    return (
        f"median aw/nd {what} over the {title} ({len(ratios)} wheels): {statistics.median(ratios):.1f}x "
        f"(min {min(ratios):.1f}x, max {max(ratios):.1f}x)"
    )


def print_in_process(results: list[WheelResult], info: dict[str, Any], repeat: int, width: int) -> None:
    rows = [r for r in results if r.in_process is not None]
    if not rows:
        return
    caches = info.get("caches_cleared", {})
    print(
        f"in process: analysis + JSON string, imports done and warmed up, best of {repeat} "
        "(first call in brackets), wall seconds; functools caches cleared before every call "
        f"({len(caches.get('native_doctor', []))} of native-doctor's, "
        f"{len(caches.get('auditwheel', []))} of auditwheel's)"
    )
    header = (
        f"{'wheel':<{width}} {'size':>7} {'nd s':>7} {'(1st)':>7} {'aw s':>8} {'(1st)':>8} "
        f"{'aw/nd':>7} {'command':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        ip = r.in_process
        assert ip is not None
        note = f"  (auditwheel exit {ip.auditwheel_exit})" if ip.auditwheel_exit not in (None, 0) else ""
        print(
            f"{r.label:<{width}} {_size(r.size):>7} {ip.native_doctor:>7.3f} "
            f"{'(' + _fmt(ip.native_doctor_first) + ')':>7} {_fmt(ip.auditwheel):>8} "
            f"{'(' + _fmt(ip.auditwheel_first) + ')':>8} {_fmt(ip.ratio, 1):>7} {_fmt(r.ratio, 1):>7}{note}"
        )
    print()
    for title, group in (
        ("Linux corpus", [r for r in rows if not r.benchmark_only]),
        ("large (benchmark-only) wheels", [r for r in rows if r.benchmark_only]),
    ):
        in_process = [r.in_process.ratio for r in group if r.in_process and r.in_process.ratio is not None]
        command = [r.ratio for r in group if r.ratio is not None]
        if command:
            print(_median_line("as commands", title, command))
        if in_process:
            print(_median_line("in process ", title, in_process))
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts")
    parser.add_argument("--include-benchmark", action="store_true", help="add the 400-555 MB wheels")
    parser.add_argument(
        "--skip-auditwheel-large",
        action="store_true",
        help="do not run auditwheel on the benchmark-only wheels (it takes minutes each)",
    )
    parser.add_argument(
        "--auditwheel-large-repeat",
        type=int,
        default=1,
        help="runs of auditwheel per benchmark-only wheel (default 1)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="per auditwheel run, seconds")
    parser.add_argument("--no-floor", action="store_true", help="skip the in-process floor measurements")
    parser.add_argument(
        "--no-in-process",
        action="store_true",
        help="skip the in-process comparison of both tools' analysis",
    )
    parser.add_argument("--only", metavar="TEXT", help="only wheels whose file name contains TEXT")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every number as JSON")
    options = parser.parse_args(argv)

    entries = [
        w
        for family in LINUX_FAMILIES
        for w in _corpus.wheels(family=family, include_benchmark=options.include_benchmark)
    ]
    if options.only:
        entries = [w for w in entries if options.only in w.filename]
    entries.sort(key=lambda w: (w.benchmark_only, w.size))

    info = machine()
    start = startup(options.repeat)
    caches: dict[str, dict[str, Any]] = {}
    if not options.no_in_process:
        caches = prepare_in_process(_corpus.ensure(entries[0]) if entries else None)
        info["caches_cleared"] = {tool: sorted(found) for tool, found in caches.items()}
    results: list[WheelResult] = []
    for entry in entries:
        path = _corpus.ensure(entry)
        result = WheelResult(entry.filename, label_of(entry), entry.family, entry.size, entry.benchmark_only)
        print(f"... {entry.filename}", file=sys.stderr, flush=True)
        warm(path)
        result.native_doctor = time_command(
            native_doctor_argv("inspect", "--format", "json", str(path)), options.repeat
        )
        if result.native_doctor.exit_code not in (0, 1):
            result.notes.append(f"native-doctor exit {result.native_doctor.exit_code}")
        if entry.benchmark_only and options.skip_auditwheel_large:
            result.notes.append("auditwheel skipped")
        else:
            repeat = options.auditwheel_large_repeat if entry.benchmark_only else options.repeat
            try:
                result.auditwheel = time_command(
                    auditwheel_argv("show", "--json", "--ldpaths", "", str(path)), repeat, options.timeout
                )
            except TimeoutError as exc:
                result.notes.append(str(exc))
            else:
                if result.auditwheel.exit_code != 0:
                    result.notes.append(f"auditwheel exit {result.auditwheel.exit_code}")
                if entry.benchmark_only and repeat == 1:
                    result.notes.append("auditwheel: 1 run")
        # auditwheel extracts the wheel to a temporary directory on disk: let the kernel finish
        # writing it back now, not during the next measurements (on two cores that cost
        # native-doctor up to 2x on cuDNN in one run).
        os.sync()
        if not options.no_floor:
            result.floor = measure_floor(path, options.repeat)
        if not options.no_in_process:
            aw_repeat = options.auditwheel_large_repeat if entry.benchmark_only else options.repeat
            if entry.benchmark_only and options.skip_auditwheel_large:
                aw_repeat = None
            result.in_process = measure_in_process(path, options.repeat, aw_repeat, caches)
            os.sync()
        results.append(result)

    print_tables(results, start, info, options.repeat)
    if options.json is not None:
        payload = {
            "machine": info,
            "repeat": options.repeat,
            "startup": start,
            "wheels": [
                {
                    **asdict(r),
                    "ratio": r.ratio,
                    "in_process_ratio": r.in_process.ratio if r.in_process else None,
                    "floor_matched": r.floor.floor_matched if r.floor else None,
                }
                for r in results
            ],
        }
        options.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
