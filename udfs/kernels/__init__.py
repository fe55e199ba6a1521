"""Numeric kernels: numpy arrays in, arrays out, ``@njit(cache=True)``, each with a
plain-Python reference beside it and a property test that the two agree.

Code that may run on a Flink operator thread calls them through
:mod:`udfs.kernels.native` (why: see there), and warms them up in ``open()`` with
:func:`warm_up_all`.
"""
from __future__ import annotations

import hashlib
import os
import pathlib

_warmed = False
_STAMP = "kernels-source.sha256"


def _drop_stale_caches() -> None:
    """Remove this package's Numba caches when any of its sources changed.

    Numba stamps a cached function with its own file's content only. A kernel compiled
    into a function of another file (the C entry points of :mod:`udfs.kernels.native`
    inline the kernels of ``eta`` and ``consolidation``) was loaded from the cache after
    an edit of the kernel, or an upgrade of the package, and ran the old code. So the
    caches hold a stamp of every source here, and are dropped when it no longer matches.
    """
    from numba.core.caching import FunctionCache  # finds the directory as Numba will for these files

    here = pathlib.Path(__file__).parent
    digest = hashlib.sha256()
    for source in [*sorted(here.glob("*.py")), here.parent / "geo.py"]:  # geo: the haversine they compile
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    try:
        cache = pathlib.Path(FunctionCache(_drop_stale_caches).cache_path)
    except RuntimeError:  # no writable place for caches: Numba will compile every time, nothing is stale
        return
    stamp = cache / _STAMP
    try:
        if stamp.read_text() == digest.hexdigest():
            return
    except FileNotFoundError:
        pass
    modules = tuple(f"{source.stem}." for source in here.glob("*.py"))
    for entry in cache.glob("*.nb[ic]"):
        if entry.name.startswith(modules):
            entry.unlink(missing_ok=True)
    partial = cache / f"{_STAMP}.{os.getpid()}"
    partial.write_text(digest.hexdigest())
    partial.replace(stamp)


_drop_stale_caches()


def warm_up_all() -> None:
    """Compile or load every kernel and its C entry point, and run each once, before the first record."""
    global _warmed
    if not _warmed:
        from udfs.kernels import native  # the C entry points: safe on a Flink operator thread

        native.warm_up()
        _warmed = True
