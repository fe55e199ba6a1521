"""Numeric kernels: numpy arrays in, arrays out, ``@njit(cache=True)``, each with a
plain-Python reference beside it and a property test that the two agree.

Call them through :func:`call`. In a Flink job (thread mode) every operator runs on
a JVM thread whose Python thread state is pemja's own; when a Numba call releases
the array it borrowed from Python, Numba's runtime calls ``PyGILState_Ensure``,
which on such a thread creates a second thread state and waits for the GIL the
thread already holds: the whole task manager hangs (seen with gdb, two operators
never got past ``open``). :func:`use_kernel_thread` (called in the operators'
``open``) makes :func:`call` run kernels on one ordinary Python thread instead,
where ``PyGILState_Ensure`` finds its own thread state. Elsewhere (tests, benchmarks,
the offline accuracy run) :func:`call` runs them in place.
"""
from __future__ import annotations

import queue
import threading

_jobs: queue.SimpleQueue | None = None
_start = threading.Lock()


def _serve(jobs: queue.SimpleQueue) -> None:
    while True:
        fn, args, box, done = jobs.get()
        try:
            box.append((True, fn(*args)))
        except BaseException as error:  # handed back to the caller, raised there
            box.append((False, error))
        done.set()


def use_kernel_thread() -> None:
    """Run kernels on a dedicated Python thread from now on (idempotent), and warm them up there."""
    global _jobs
    with _start:
        if _jobs is None:
            jobs: queue.SimpleQueue = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(jobs,), name="lastmile-kernels", daemon=True).start()
            _jobs = jobs
    call(_warm_up)


def call(fn, *args):
    """``fn(*args)``, on the kernel thread once :func:`use_kernel_thread` was called."""
    jobs = _jobs
    if jobs is None:
        return fn(*args)
    box: list = []
    done = threading.Event()
    jobs.put((fn, args, box, done))
    done.wait()
    ok, value = box[0]
    if not ok:
        raise value
    return value


_warmed = False


def _warm_up() -> None:
    """Compile (or load from the cache) every kernel once, before the first record."""
    global _warmed
    if not _warmed:
        from udfs.kernels import consolidation, eta

        eta.warm_up()
        consolidation.warm_up()
        _warmed = True
