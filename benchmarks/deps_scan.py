"""Time the build-file scanners of ``deps`` inference on adversarial files (issue 15 item 3).

Run from the repository root::

    python benchmarks/deps_scan.py                       # 256 KiB .. 2 MiB, best of 3
    python benchmarks/deps_scan.py --compare-rev 1be7166 # also the scanners of that commit

Each case is a build file made of one unit repeated up to the size (an unclosed
``dependency('zlib'`` per line, ``#[[`` per line, blank lines, a word of underscores...). The
scanner (``scan_meson``, ``scan_cmake``, ``scan_python``, ``scan_setup_cfg``) is called in
process on the text, best of ``--repeat``, wall-clock and CPU time (``time.process_time``).
The growth column is the wall-time ratio from one size to the next (size doubles): about 2
for a linear scanner, 4 for a quadratic one.

``--compare-rev REV`` loads ``src/native_doctor/deps/infer.py`` of that git revision as a
separate module and times it on the same files (only up to ``--compare-max`` bytes, each case in
a child process killed after ``--compare-timeout`` seconds, best of ``--compare-repeat``), side
by side: the old columns are its wall-clock and CPU time, the ratio is old CPU / new CPU.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from native_doctor.deps import infer  # noqa: E402

EXT_MODULE = "[[tool.setuptools.ext-modules]]\nname = 'x'\nsources = ['a.c']\n"
LIBRARIES_100 = "libraries = [" + "'z', " * 100 + "]\n"
# (case, file name, unit, prefix)
CASES: list[tuple[str, str, str, str]] = [
    ("meson: closed dependency() calls", "meson.build", "dependency('zlib', version: '>=1.2')\n", ""),
    ("meson: unclosed dependency( calls", "meson.build", "dependency('zlib'\n", ""),
    ("meson: nested dependency( calls", "meson.build", "dependency(", ""),
    ("meson: blank lines", "meson.build", " \n", ""),
    ("cmake: unclosed #[[ comments", "CMakeLists.txt", "#[[\n", ""),
    ("cmake: unclosed find_package(", "CMakeLists.txt", "find_package(ZLIB\n", ""),
    ("cmake: closed find_package()", "CMakeLists.txt", "find_package(ZLIB 1.2 REQUIRED)\n", ""),
    ("setup.py: string literals", "setup.py", "'a' ", ""),
    ("setup.py: unclosed libraries=[", "setup.py", "libraries=['z'\n", ""),
    ("setup.py: one word of underscores", "setup.py", "_", ""),
    ("setup.py: backslashes in a string", "setup.py", "\\", "x = '"),
    ("setup.py: blank lines", "setup.py", " \n", ""),
    ("setup.py: one pkg-config line", "setup.py", "'pkg-config' ", ""),
    ("setup.py: unclosed escaped quotes", "setup.py", "'\\", ""),
    ("setup.py: nested brackets", "setup.py", "[(", "libraries="),
    ("setup.py: find_library calls", "setup.py", "find_library('z')\n", ""),
    ("setup.py: helper's return lists", "setup.py", "    return ['z']\n", "libraries=f()\ndef f():\n"),
    ("setup.py: pkg-config helper functions", "setup.py", "def f():\n    pkgconfig.parse('x')\n", ""),
    ("setup.cfg: libraries keys", "setup.cfg", "libraries = z\n", ""),
    ("setup.cfg: indented keys", "setup.cfg", "  libraries = a\n", "libraries = z\n"),
    ("configure.ac: PKG_CHECK_MODULES calls", "configure.ac", "PKG_CHECK_MODULES([X], [zlib >= 1.2])\n", ""),
    ("configure.ac: unclosed AC_CHECK_LIB(", "configure.ac", "AC_CHECK_LIB(z\n", ""),
    ("configure.ac: dnl lines", "configure.ac", "dnl x\n", ""),
    ("pyproject: ext-module tables", "pyproject.toml", EXT_MODULE + "libraries = ['z']\n", ""),
    ("pyproject: ext-modules of 100 libraries", "pyproject.toml", EXT_MODULE + LIBRARIES_100, ""),
    ("pyproject: unclosed libraries array", "pyproject.toml", "'z', ", EXT_MODULE + "libraries = ["),
]


def make(unit: str, prefix: str, size: int) -> str:
    return prefix + unit * (size // len(unit))


def scanner(module: Any, name: str) -> Callable[[str], object]:
    table = module.load_table()
    if name == "meson.build":
        return lambda text: module.scan_meson(name, text)
    if name == "CMakeLists.txt":
        return lambda text: module.scan_cmake(name, text)
    if name == "setup.py":
        return lambda text: module.scan_python(name, text, table)
    if name == "configure.ac":
        return lambda text: module.scan_autoconf(name, text)
    if name == "pyproject.toml":
        return lambda text: module.scan_pyproject(name, text)
    return lambda text: module.scan_setup_cfg(name, text)


def best_both(fn: Callable[[str], object], text: str, repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU time (``time.process_time``) of ``repeat`` calls. On a
    shared machine the CPU time is the steadier figure: wall time includes waiting for a core."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn(text)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def load_old(rev: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:src/native_doctor/deps/infer.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("native_doctor.deps.infer_old")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:infer.py", "exec"), module.__dict__)
    return module


def _old_child(rev: str, name: str, text: str, repeat: int, out: Any) -> None:
    out.send(best_both(scanner(load_old(rev), name), text, repeat))


def time_old(rev: str, name: str, text: str, timeout: float, repeat: int = 1) -> tuple[float, float] | None:
    """The old scanner's wall-clock and CPU time in a child, None when it ran past ``timeout``.

    :raises RuntimeError: the child failed.
    """
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.Process(target=_old_child, args=(rev, name, text, repeat, send))
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    if not receive.poll():
        raise RuntimeError(f"the scanner of {rev} failed (exit code {child.exitcode})")
    wall, cpu = receive.recv()
    return float(wall), float(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="262144,524288,1048576,2097152", help="bytes, comma-separated")
    parser.add_argument("--compare-rev", help="a git revision whose scanners to time as well")
    parser.add_argument("--compare-max", type=int, default=131072)
    parser.add_argument("--compare-timeout", type=float, default=60.0)
    parser.add_argument("--compare-repeat", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write the results here")
    options = parser.parse_args(argv)
    sizes = [int(s) for s in options.sizes.split(",")]
    results: list[dict[str, Any]] = []
    print(
        f"{'case':<38} {'bytes':>8} {'new s':>8} {'cpu s':>6} {'growth':>6}"
        f" {'old s':>8} {'old cpu':>7} {'old/new':>7}"
    )
    for case, name, unit, prefix in CASES:
        fn = scanner(infer, name)
        previous = None
        for size in sizes:
            text = make(unit, prefix, size)
            seconds, cpu = best_both(fn, text, options.repeat)
            growth = f"{seconds / previous:6.2f}" if previous else ""
            previous = seconds
            old: tuple[float, float] | None = None
            old_shown, old_cpu, ratio = "", "", ""
            if options.compare_rev and size <= options.compare_max:
                old = time_old(
                    options.compare_rev, name, text, options.compare_timeout, options.compare_repeat
                )
                old_shown = f">{options.compare_timeout:.0f}" if old is None else f"{old[0]:8.3f}"
                old_cpu = "" if old is None else f"{old[1]:7.2f}"
                ratio = "" if old is None else f"{old[1] / max(cpu, 1e-6):7.1f}"
            print(
                f"{case:<38} {size:>8} {seconds:8.3f} {cpu:6.2f} {growth:>6} {old_shown:>8} {old_cpu:>7}"
                f" {ratio:>7}",
                flush=True,
            )
            results.append(
                {
                    "case": case,
                    "bytes": size,
                    "seconds": seconds,
                    "cpu_seconds": cpu,
                    "old_seconds": None if old is None else old[0],
                    "old_cpu_seconds": None if old is None else old[1],
                }
            )
    if options.json:
        options.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
