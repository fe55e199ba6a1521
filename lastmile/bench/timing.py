"""Timing helper shared by the benchmarks."""
from __future__ import annotations

import time


def best_of(fn, repeat: int) -> float:
    """The shortest of ``repeat`` runs of ``fn()``, in seconds (the least disturbed by a noisy machine)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)
