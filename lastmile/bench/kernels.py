"""Kernel benchmark: ETA legs per second (Numba vs plain Python vs numpy, and through the C entry
point the job uses), 1,000 co-located deliveries consolidated (lastmile/bench/consolidation.py), cold
and cached JIT start.

Each variant runs on the same generated batch in the same process, so the ratios
hold even on a noisy machine; the best of several repetitions is reported.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import numpy as np

from lastmile.bench.timing import best_of


def _batch(vehicles: int, stops: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    offsets = np.arange(0, (vehicles + 1) * stops, stops, dtype=np.int64)
    n = vehicles * stops
    start = rng.integers(1_700_000_000_000, 1_800_000_000_000, vehicles).astype(np.int64)
    not_before = np.where(rng.random(n) < 0.3, np.repeat(start, stops) + rng.integers(0, 8 * 3_600_000, n), 0)
    return (52.5 + rng.normal(0, 0.05, vehicles), 13.4 + rng.normal(0, 0.05, vehicles), start, offsets,
            52.5 + rng.normal(0, 0.05, n), 13.4 + rng.normal(0, 0.05, n), not_before.astype(np.int64),
            rng.uniform(2, 20, n))


def _cold_start_seconds(cached: bool) -> float:
    """Seconds for a fresh interpreter to import the kernel and run one batch (JIT cache on or off)."""
    code = ("import time; t=time.perf_counter(); from udfs.kernels import warm_up_all; warm_up_all(); "
            "print(time.perf_counter()-t)")
    env = dict(os.environ)
    if not cached:  # an empty cache directory: the kernels compile from scratch
        env["NUMBA_CACHE_DIR"] = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"lastmile-numba-cold-{os.getpid()}")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def run(vehicles: int = 20_000, stops: int = 50, python_legs: int = 50_000) -> dict:
    from lastmile.bench import consolidation
    from udfs.kernels import native, warm_up_all
    from udfs.kernels.eta import eta_batch, eta_batch_numpy, eta_batch_reference

    warm_up_all()
    args = _batch(vehicles, stops)
    legs = vehicles * stops
    numba_s = best_of(lambda: eta_batch(*args, 1.3, 90.0, 6.0), 5)
    native_s = best_of(lambda: native.eta_batch(*args, 1.3, 90.0, 6.0), 5)
    # what the job does: one van's ~50 remaining stops per call, call overhead included
    one_van = _batch(1, stops, seed=3)
    per_van_s = best_of(lambda: [native.eta_batch(*one_van, 1.3, 90.0, 6.0) for _ in range(1000)], 3) / 1000
    numpy_s = best_of(lambda: eta_batch_numpy(*args, 1.3, 90.0, 6.0), 3)
    small_vehicles = max(1, python_legs // stops)
    small = _batch(small_vehicles, stops, seed=2)
    python_s = best_of(lambda: eta_batch_reference(*small, 1.3, 90.0, 6.0), 2) * legs / (small_vehicles * stops)
    return {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.python_implementation()} "
                   f"{platform.python_version()}",
        "eta_legs": legs,
        "eta_legs_per_s": round(legs / numba_s),
        "eta_native_legs_per_s": round(legs / native_s),
        "eta_one_van_call_us": round(per_van_s * 1e6, 1),
        "eta_numpy_legs_per_s": round(legs / numpy_s),
        "eta_python_legs_per_s": round(legs / python_s),
        "eta_speedup_vs_python": round(python_s / numba_s, 1),
        "eta_speedup_vs_numpy": round(numpy_s / numba_s, 1),
        **consolidation.run(),
        "jit_cold_start_s": round(_cold_start_seconds(cached=False), 3),
        "jit_cached_start_s": round(_cold_start_seconds(cached=True), 3),
    }
