"""The load-by-name scan: parsing only the call sites against parsing whole modules.

Run from the repository root::

    python benchmarks/loadnames.py                       # the large benchmark environment
    python benchmarks/loadnames.py DIR [DIR ...]         # every .py file under these folders

For every ``.py`` file under the folders, the calls :func:`native_doctor.sources.loadnames.
scan_source` finds (it parses only the top-level statements that mention a loader, and the ones
that may assign a variable a call names) are compared with what parsing the whole module gives
(the same byte prefilter, then ``ast.parse`` of the file): any difference is printed and makes the
exit code 1. Both are timed over the files that pass the prefilter (the ones either parses), CPU
time of this process, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
from pathlib import Path

from native_doctor.sources.loadnames import (
    _CALLED,
    MAX_SOURCE,
    LoadCall,
    _mention_lines,
    _scan_module,
    scan_source,
)

LARGE = Path.home() / ".cache" / "native-doctor" / "corpus" / "venvs" / "large-cp311"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _prefiltered(text: bytes) -> bool:
    """Whether the file passes the byte prefilter (both ways parse only these)."""
    return len(text) <= MAX_SOURCE and (b"ctypes" in text or b"dlopen" in text) and bool(_CALLED.search(text))


def _whole(text: bytes, path: str) -> list[LoadCall]:
    """The calls from parsing the whole module, after the same byte prefilter."""
    return _scan_module(text, path, sys.platform, _mention_lines(text)) if _prefiltered(text) else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="*", type=Path, help=f"folders to walk (default: {LARGE})")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes (best is kept)")
    options = parser.parse_args()
    sources: list[tuple[str, bytes]] = []
    for root in options.roots or [LARGE]:
        for folder, _dirs, names in os.walk(root):
            for name in names:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)  # noqa: PTH118
                    try:
                        sources.append((path, Path(path).read_bytes()))
                    except OSError:
                        continue
    parsed = [(p, t) for p, t in sources if _prefiltered(t)]
    differing = 0
    with_calls = 0
    for path, text in sources:
        ours = [dataclasses.astuple(c) for c in scan_source(text, path)]
        reference = [dataclasses.astuple(c) for c in _whole(text, path)]
        with_calls += bool(reference)
        if ours != reference:
            differing += 1
            print(f"DIFFERENT {path}\n  call sites: {ours}\n  whole:      {reference}")
    timings = {}
    for label, scan in (("whole modules", _whole), ("call sites only", scan_source)):
        best = float("inf")
        for _ in range(options.repeat):
            started = _cpu()
            for path, text in parsed:
                scan(text, path)
            best = min(best, _cpu() - started)
        timings[label] = best
    size = sum(len(t) for _, t in parsed)
    print(f"{len(sources):,} .py files, {with_calls} with load-by-name calls, {differing} differing")
    print(f"{len(parsed)} files pass the prefilter ({size / 1e6:.1f} MB); CPU s, best of {options.repeat}:")
    for label, seconds in timings.items():
        print(f"  {label:16} {seconds:.3f}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
