"""Start-up cost of the command line: what a small wheel's repair or check pays before any work.

Run from the repository root, in the project's venv::

    python benchmarks/startup.py            # best of 10

Each command runs as a subprocess of this interpreter; the table gives the best wall-clock time
and the best CPU time (user + system; it barely moves with the machine's load, wall-clock time on a
shared machine does), once with native-doctor's bytecode compiled (as after ``pip install``) and
once compiled from source on every run (an editable install under ``PYTHONDONTWRITEBYTECODE=1``,
simulated with an empty ``PYTHONPYCACHEPREFIX``). ``python -c pass`` is the floor.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "native-doctor --version": ["-m", "native_doctor", "--version"],
    "native-doctor explain ND201": ["-m", "native_doctor", "explain", "ND201"],
    "import the repair command's modules": [
        "-c",
        "import native_doctor.cli, native_doctor.repair.run, native_doctor.report.repair, "
        "native_doctor.binary.elf_write",
    ],
    "import all a Linux repair loads (+ SBOM, providers)": [
        "-c",
        "import native_doctor.cli, native_doctor.repair.run, native_doctor.report.repair, "
        "native_doctor.binary.elf_write, native_doctor.sbom.pep770, native_doctor.providers",
    ],
    "import the check command's modules": [
        "-c",
        "import native_doctor.cli, native_doctor.analysis, native_doctor.checks.builtin, "
        "native_doctor.report.text, native_doctor.sources.wheel",
    ],
}


def _best(args: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], env=env, capture_output=True, check=True)
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, elapsed)
        best_cpu = min(best_cpu, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return best, best_cpu


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "src" / "native_doctor", quiet=1)
    compiled = dict(os.environ)
    print(f"load average before: {os.getloadavg()}")
    print("| command | wall, bytecode | CPU, bytecode | wall, from source | CPU, from source |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="nd-empty-pycache-") as empty:
        source = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty}
        for label, command in _COMMANDS.items():
            wall, cpu = _best(command, compiled, args.repeat)
            wall_src, cpu_src = _best(command, source, args.repeat)
            print(
                f"| {label} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | {wall_src * 1000:.0f} ms | "
                f"{cpu_src * 1000:.0f} ms |"
            )
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
