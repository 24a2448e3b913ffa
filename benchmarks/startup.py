"""Start-up cost of the command line: what a small wheel's repair or check pays before any work.

Run from the repository root, in the project's venv::

    python benchmarks/startup.py            # best of 10
    python benchmarks/startup.py --baseline-src /tmp/base/src   # also an earlier tree, same rounds
                                            # (git archive COMMIT src | tar -x -C /tmp/base)

Each command runs as a subprocess of this interpreter; the table gives the best wall-clock time
and the best CPU time (user + system; it barely moves with the machine's load, wall-clock time on a
shared machine does), once with native-doctor's bytecode compiled (as after ``pip install``) and
once compiled from source on every run (an editable install under ``PYTHONDONTWRITEBYTECODE=1``,
simulated with an empty ``PYTHONPYCACHEPREFIX``). ``python -c pass`` is the floor. When the
corpus cache holds the orjson aarch64 wheel, ``inspect`` and ``check`` on it are measured too.
``--baseline-src`` adds a table: each command's CPU time from an earlier tree's ``src/`` and from
this one, run in turn (one of each per round), best of the rounds.
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


_SMALL_WHEEL = "orjson-3.13.0-cp313-cp313-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"


def _commands() -> dict[str, list[str]]:
    """:data:`_COMMANDS`, plus ``inspect`` and ``check`` of a small corpus wheel when it is cached."""
    sys.path.insert(0, str(ROOT / "tests"))
    from _corpus import cache_dir

    wheel = cache_dir() / _SMALL_WHEEL
    if not wheel.is_file():
        print(f"({wheel} is not in the corpus cache: inspect and check are not measured)")
        return dict(_COMMANDS)
    return {
        **_COMMANDS,
        "native-doctor inspect --format json (orjson, 0.1 MB)": [
            "-m", "native_doctor", "inspect", "--format", "json", str(wheel)],
        "native-doctor check --format json (orjson, 0.1 MB)": [
            "-m", "native_doctor", "check", "--format", "json", "--no-config", str(wheel)],
    }  # fmt: skip


def _best(args: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, *args], env=env, capture_output=True, check=False)
        if done.returncode not in (0, 1):  # 1: a check's findings
            raise SystemExit(f"{args} failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}")
        elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, elapsed)
        best_cpu = min(best_cpu, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return best, best_cpu


#: A child process that imports what a Linux repair loads and reports, per module, how many
#: dataclasses it made and the time ``dataclasses`` spent making them (ms), and the import in all.
_DATACLASS_PROBE = """
import dataclasses, json, sys, time
spent, count = {}, {}
make = dataclasses._process_class
def timed(cls, *args, **kwargs):
    start = time.process_time()
    made = make(cls, *args, **kwargs)
    spent[cls.__module__] = spent.get(cls.__module__, 0.0) + time.process_time() - start
    count[cls.__module__] = count.get(cls.__module__, 0) + 1
    return made
dataclasses._process_class = timed
start = time.process_time()
import native_doctor.cli, native_doctor.repair.run, native_doctor.report.repair
import native_doctor.binary.elf_write, native_doctor.sbom.pep770, native_doctor.providers
total = time.process_time() - start
print(json.dumps({"total": total * 1000, "spent": {m: t * 1000 for m, t in spent.items()}, "count": count}))
"""

_SIX = (
    "a: int",
    "b: str",
    "c: tuple[str, ...]",
    "d: int | None",
    "e: str = ''",
    "f: dict[str, int] = dataclasses.field(default_factory=dict)",
)
_FROZEN = "frozen=True, slots=True"
#: (label, options, fields): a six-field class (two with defaults, one a default factory) with each
#: set of options, then the project's usual options with other fields.
_CLASSES = [
    ("plain @dataclass", "", _SIX),
    ("slots=True", "slots=True", _SIX),
    ("frozen=True", "frozen=True", _SIX),
    ("frozen=True, slots=True (the project's usual)", _FROZEN, _SIX),
    ("frozen=True, slots=True, eq=False", f"{_FROZEN}, eq=False", _SIX),
    ("frozen=True, slots=True, repr=False", f"{_FROZEN}, repr=False", _SIX),
    ("usual, six fields without defaults", _FROZEN, tuple(f.split(" =")[0] for f in _SIX)),
    ("usual, six fields all with plain defaults", _FROZEN, tuple(f"{c}: int = 0" for c in "abcdef")),
    ("usual, three fields", _FROZEN, ("a: int", "b: str", "c: int")),
    ("usual, twelve fields", _FROZEN, tuple(f"x{n}: int" for n in range(12))),
]  # fmt: skip


def _dataclass_costs(repeat: int) -> None:
    """What the repair path's dataclasses cost to make (brief: do slots/frozen/defaults matter?)."""
    import dataclasses
    import json
    import timeit

    print("\nOne dataclass, made once (best of the repeats, microseconds):")
    print("| class | with a docstring | without (dataclasses computes one with inspect) |")
    print("|---|---:|---:|")
    for label, options, fields in _CLASSES:
        costs = []
        for doc in ('"""A record."""', "pass"):
            lines = "".join(f"    {f}\n" for f in fields)
            body = f"@dataclasses.dataclass({options})\nclass A:\n    {doc}\n{lines}"
            code = compile("from __future__ import annotations\n" + body, "<probe>", "exec")
            scope = {"code": code, "dataclasses": dataclasses}
            runs = timeit.repeat(
                "exec(code, {'dataclasses': dataclasses})", globals=scope, number=20, repeat=repeat
            )
            costs.append(min(runs) / 20 * 1e6)
        print(f"| {label} | {costs[0]:.0f} us | {costs[1]:.0f} us |")
    total, spent, count = float("inf"), {}, {}
    for _ in range(repeat):
        probe = [sys.executable, "-c", _DATACLASS_PROBE]
        found = json.loads(subprocess.run(probe, capture_output=True, text=True, check=True).stdout)
        if found["total"] < total:
            total, spent, count = found["total"], found["spent"], found["count"]
    print(
        f"\nImporting all a Linux repair loads: {total:.1f} ms CPU, of which making its "
        f"{sum(count.values())} dataclasses {sum(spent.values()):.1f} ms (best of {repeat}); by module:"
    )
    for module in sorted(spent, key=lambda m: -spent[m]):
        print(f"  {module:40} {count[module]:3} classes {spent[module]:5.2f} ms")


def _against_baseline(
    commands: dict[str, list[str]], baseline: Path, env: dict[str, str], repeat: int
) -> None:
    """CPU time of each command from ``baseline`` (PYTHONPATH) and from this tree, in turns."""
    compileall.compile_dir(baseline, quiet=1)
    trees = {
        "baseline": {**env, "PYTHONPATH": str(baseline)},
        "this tree": {**env, "PYTHONPATH": str(ROOT / "src")},
    }
    print(f"\nCPU time, bytecode, {baseline} against this tree (best of {repeat} rounds):")
    print("| command | baseline | this tree |")
    print("|---|---:|---:|")
    for label, command in commands.items():
        best = dict.fromkeys(trees, float("inf"))
        for _ in range(repeat):
            for tree, tree_env in trees.items():
                best[tree] = min(best[tree], _best(command, tree_env, 1)[1])
        print(f"| {label} | {best['baseline'] * 1000:.0f} ms | {best['this tree'] * 1000:.0f} ms |")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--baseline-src", type=Path, help="an earlier tree's src/ folder to compare with")
    parser.add_argument(
        "--dataclasses",
        action="store_true",
        help="also measure what making the repair path's dataclasses costs",
    )
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "src" / "native_doctor", quiet=1)
    compiled = dict(os.environ)
    commands = _commands()
    print(f"load average before: {os.getloadavg()}")
    print("| command | wall, bytecode | CPU, bytecode | wall, from source | CPU, from source |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="nd-empty-pycache-") as empty:
        source = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty}
        for label, command in commands.items():
            wall, cpu = _best(command, compiled, args.repeat)
            wall_src, cpu_src = _best(command, source, args.repeat)
            print(
                f"| {label} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | {wall_src * 1000:.0f} ms | "
                f"{cpu_src * 1000:.0f} ms |"
            )
    if args.baseline_src:
        _against_baseline(commands, args.baseline_src, compiled, args.repeat)
    if args.dataclasses:
        _dataclass_costs(args.repeat)
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
