"""Numeric kernels: numpy arrays in, arrays out, ``@njit(cache=True)``, each with a
plain-Python reference beside it and a property test that the two agree.

Code that may run on a Flink operator thread calls them through
:mod:`udfs.kernels.native` (why: see there), and warms them up in ``open()`` with
:func:`warm_up_all`.
"""
from __future__ import annotations

_warmed = False


def warm_up_all() -> None:
    """Compile or load every kernel and its C entry point, and run each once, before the first record."""
    global _warmed
    if not _warmed:
        from udfs.kernels import consolidation, eta

        eta.warm_up()
        consolidation.warm_up()
        _warmed = True
