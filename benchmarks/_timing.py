"""Timing shared by the writer benchmarks (run as ``python benchmarks/NAME.py``, so this folder is
on ``sys.path``)."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_seconds(repeat: int, run: Callable[[], object]) -> float:
    """The best wall-clock time of ``repeat`` calls of ``run``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best
