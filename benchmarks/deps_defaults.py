"""CPU cost of the setup.py evaluation behind ``Proposal.default`` (issue 13, third round):
``infer_from_tree`` on setup.py files and real sdists, this tree against an older revision.

Run from the repository root::

    python benchmarks/deps_defaults.py --base d94a292            # best of 5
    python benchmarks/deps_defaults.py --base d94a292 --sdists ~/.cache/native-doctor/deps-accuracy/sdists

The base revision's ``src`` is exported with ``git archive`` into a temporary directory; each
side runs in its own child process (``python -c`` with that ``src`` first on ``sys.path``), so
the two never share imported modules. Cases:

* ``setup.py <size>``: a setup.py made of one block repeated up to the size (an environment
  lookup without a default, a ``for`` loop probing a literal list of libraries, an ``if`` on
  the unset name); setup.py files bigger than 512 KiB are not parsed;
* ``sdists``: every ``*.tar.gz``/``*.zip`` in ``--sdists`` read and inferred once per round
  (reading included).

CPU time (user + system of the child, ``time.process_time``), best of ``--repeat``; the ratio
is this tree / base.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BLOCK = (
    "import os\n"
    "d = os.environ.get('D')\n"
    "for n in ('z', 'bz2'):\n"
    "    if check_lib(n):\n"
    "        libraries.append(n)\n"
    "if d is not None:\n"
    "    libraries = ['jpeg']\n"
)

CHILD = r"""
import json, sys, time
from pathlib import Path
from native_doctor.deps.infer import SourceTree, infer_from_tree, read_sdist
case, arg, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
best = float("inf")
for round_ in range(repeat):
    if case == "setup.py":
        block = sys.argv[4]
        text = block * (int(arg) // len(block)) + " " * round_  # a new text: no cached parse
        start = time.process_time()
        infer_from_tree(SourceTree.from_files({"setup.py": text}))
    else:
        paths = sorted(p for p in Path(arg).iterdir() if p.name.endswith((".tar.gz", ".zip")))
        start = time.process_time()
        for path in paths:
            infer_from_tree(read_sdist(path))
    best = min(best, time.process_time() - start)
print(json.dumps(best))
"""


def run(src: Path, case: str, arg: str, repeat: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, case, arg, str(repeat), BLOCK],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout))


def export(revision: str, into: Path) -> Path:
    archive = into / "src.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", revision, "src"], stdout=fh, check=True)
    with tarfile.open(archive) as tf:
        tf.extractall(into, filter="data")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(into / "src")], check=True)
    return into / "src"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="git revision to compare with")
    parser.add_argument("--sizes", default="131072,524288", help="setup.py sizes in bytes")
    parser.add_argument("--sdists", type=Path, help="a folder of sdists to infer")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args(argv)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True)
    cases = [("setup.py", size) for size in options.sizes.split(",")]
    if options.sdists:
        cases.append(("sdists", str(options.sdists)))
    print(f"load average {os.getloadavg()[0]:.2f}; CPU seconds, best of {options.repeat}")
    print(f"{'case':<22} {'base':>8} {'this':>8} {'this/base':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        base_src = export(options.base, Path(tmp))
        for case, arg in cases:
            base = run(base_src, case, arg, options.repeat)
            this = run(ROOT / "src", case, arg, options.repeat)
            label = f"{case} {arg}" if case == "setup.py" else f"sdists ({arg.rsplit('/', 1)[-1]})"
            print(f"{label:<22} {base:8.3f} {this:8.3f} {this / base:10.2f}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
