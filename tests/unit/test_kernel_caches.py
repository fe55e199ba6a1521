"""udfs.kernels drops its Numba caches when one of its sources changed (Numba itself only
checks the file a cached function is defined in, not the kernels it inlines)."""
import os
import subprocess
import sys

SCENARIO = r'''
import pathlib
from numba.core.caching import FunctionCache
import udfs.kernels as kernels

cache = pathlib.Path(FunctionCache(kernels._drop_stale_caches).cache_path)
stamp = cache / kernels._STAMP
current = stamp.read_text()
stale = cache / "native._plan_groups-1.py311.nbi"  # as an edit of consolidation.py would leave it
foreign = cache / "unrelated.f-1.py311.nbi"
stale.write_bytes(b"old")
foreign.write_bytes(b"other")
kernels._drop_stale_caches()  # sources unchanged: nothing happens
assert stale.exists()
stamp.write_text("0" * 64)  # as if a source had changed since the caches were written
kernels._drop_stale_caches()
assert not stale.exists() and foreign.exists(), sorted(p.name for p in cache.iterdir())
assert stamp.read_text() == current
print("ok", cache)
'''


def test_caches_of_changed_sources_are_dropped_and_others_kept(tmp_path):
    # in a cache directory of its own: the suite's compiled kernels stay where they are
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    run = subprocess.run([sys.executable, "-c", SCENARIO], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"ok {tmp_path}")
