"""The kernels behind C entry points, for callers on Flink operator threads.

Calling an ``@njit`` function with numpy arrays makes Numba wrap each array for the
call and, when the call ends, release the wrapper through ``PyGILState_Ensure``. In
PyFlink's thread mode an operator runs on a JVM thread whose Python thread state is
pemja's own, unknown to ``PyGILState``: the release makes a second thread state and
waits for the GIL its own thread holds, and the task manager hangs (found with gdb;
two operators never got past ``open``). A ``@cfunc`` takes raw pointers instead,
views them with ``carray`` (no wrapper, nothing to release) and is called through
ctypes, which gives the GIL up and takes it back with the caller's own thread state.

Same arguments and results as the kernels in ``udfs.kernels.eta`` and
``udfs.kernels.consolidation``; ``tests/unit/test_kernels_native.py`` checks that.
"""
from __future__ import annotations

import ctypes

import numpy as np
from numba import carray, cfunc, types

from udfs.kernels import consolidation, eta

_F, _I = types.CPointer(types.float64), types.CPointer(types.int64)
_n, _x = types.int64, types.float64
_PF, _PI = ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int64)


def _f(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64)


def _i(values) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.int64)


def _p(array: np.ndarray):
    return array.ctypes.data_as(_PI if array.dtype == np.int64 else _PF)


@cfunc(types.void(_F, _F, _I, _I, _n, _F, _F, _I, _F, _n, _x, _x, _x, _I), cache=True)
def _eta_batch(start_lat, start_lng, start_ms, offsets, vehicles, stop_lat, stop_lng, not_before_ms, speed, stops,
               detour, dwell_s, fallback_mps, out):
    result = eta.eta_batch(carray(start_lat, vehicles), carray(start_lng, vehicles), carray(start_ms, vehicles),
                           carray(offsets, vehicles + 1), carray(stop_lat, stops), carray(stop_lng, stops),
                           carray(not_before_ms, stops), carray(speed, stops), detour, dwell_s, fallback_mps)
    carray(out, stops)[:] = result


def eta_batch(start_lat, start_lng, start_ms, offsets, stop_lat, stop_lng, not_before_ms, leg_speed_mps, detour,
              dwell_s, fallback_speed_mps) -> np.ndarray:
    arrays = (_f(start_lat), _f(start_lng), _i(start_ms), _i(offsets), _f(stop_lat), _f(stop_lng),
              _i(not_before_ms), _f(leg_speed_mps))
    vehicles, stops = len(arrays[0]), len(arrays[4])
    out = np.empty(stops, dtype=np.int64)
    _eta_batch.ctypes(*map(_p, arrays[:4]), vehicles, *map(_p, arrays[4:]), stops, detour, dwell_s,
                      fallback_speed_mps, _p(out))
    return out


@cfunc(types.void(_n, _I, _I, _n, _I), cache=True)
def _components(nodes, edge_a, edge_b, edges, out):
    carray(out, nodes)[:] = consolidation.components(nodes, carray(edge_a, edges), carray(edge_b, edges))


def components(n_nodes: int, edge_a, edge_b) -> np.ndarray:
    a, b = _i(edge_a), _i(edge_b)
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_nodes):
        raise ValueError(f"edge endpoints must be node numbers 0..{n_nodes - 1}")
    out = np.empty(n_nodes, dtype=np.int64)
    _components.ctypes(n_nodes, _p(a), _p(b), len(a), _p(out))
    return out


@cfunc(types.void(_n, _I, _n, _F, _F, _I, _I, _F, _I, _F, _F, _I,  # groups, deliveries
                  _n, _I, _I, _F, _F, _I, _I, _F, _I,  # candidates
                  _x, _x, _x, _I, _F, _F, _I), cache=True)
def _plan_groups(groups, group_offsets, rows, lat, lng, window_start, window_end, volume_l, partner, own_lat, own_lng,
                 decision_ms, candidates, cand_offsets, cand_partner, cand_lat, cand_lng, cand_from, cand_to,
                 cand_spare_volume, cand_spare_stops, detour, speed_mps, dwell_s, chosen, km_separate, km_consolidated,
                 order):
    result = consolidation.plan_groups(
        carray(group_offsets, groups + 1), carray(lat, rows), carray(lng, rows), carray(window_start, rows),
        carray(window_end, rows), carray(volume_l, rows), carray(partner, rows), carray(own_lat, rows),
        carray(own_lng, rows), carray(decision_ms, groups), carray(cand_offsets, groups + 1),
        carray(cand_partner, candidates), carray(cand_lat, candidates), carray(cand_lng, candidates),
        carray(cand_from, candidates), carray(cand_to, candidates), carray(cand_spare_volume, candidates),
        carray(cand_spare_stops, candidates), detour, speed_mps, dwell_s)
    carray(chosen, groups)[:] = result[0]
    carray(km_separate, groups)[:] = result[1]
    carray(km_consolidated, groups)[:] = result[2]
    carray(order, rows)[:] = result[3]


def plan_groups(batch: consolidation.GroupBatch, detour: float, speed_mps: float, dwell_s: float):
    """:func:`udfs.kernels.consolidation.plan_groups` of ``batch``: ``(chosen, km_separate,
    km_consolidated, order)``."""
    b = batch
    rows_in = (_f(b.lat), _f(b.lng), _i(b.window_start), _i(b.window_end), _f(b.volume_l), _i(b.partner),
               _f(b.own_lat), _f(b.own_lng))
    cands_in = (_i(b.cand_partner), _f(b.cand_lat), _f(b.cand_lng), _i(b.cand_from), _i(b.cand_to),
                _f(b.cand_spare_volume), _i(b.cand_spare_stops))
    group_offsets, cand_offsets, decision_ms = _i(b.group_offsets), _i(b.cand_offsets), _i(b.decision_ms)
    groups, rows = len(group_offsets) - 1, len(rows_in[0])
    chosen, km_separate = np.empty(groups, np.int64), np.empty(groups)
    km_consolidated, order = np.empty(groups), np.empty(rows, np.int64)
    _plan_groups.ctypes(groups, _p(group_offsets), rows, *map(_p, rows_in), _p(decision_ms), len(cands_in[0]),
                        _p(cand_offsets), *map(_p, cands_in), detour, speed_mps, dwell_s, _p(chosen),
                        _p(km_separate), _p(km_consolidated), _p(order))
    return chosen, km_separate, km_consolidated, order


def warm_up() -> None:
    """Compile (or load from the cache) every entry point and run each once on a tiny batch:
    call before the first real batch (a Flink ``open()``, through ``warm_up_all``)."""
    one = np.zeros(1)
    zero_ms = np.zeros(1, np.int64)
    eta_batch(one, one, zero_ms, np.array([0, 1]), one + 0.001, one, zero_ms, one + 5.0, 1.3, 60.0, 5.0)
    pair = np.array([0, 1], np.int64)
    components(2, pair[:1], pair[1:])
    # one group of two deliveries 100 m apart, one per partner, and one candidate carrier 5 km away
    lat, lng = np.array([52.520, 52.521]), np.array([13.400, 13.400])
    no_own = np.full(2, np.nan)
    window_start, window_end = np.zeros(2, np.int64), np.full(2, 3_600_000, np.int64)
    plan_groups(consolidation.GroupBatch(
        group_offsets=pair * 2, lat=lat, lng=lng, window_start=window_start, window_end=window_end,
        volume_l=np.ones(2), partner=pair, own_lat=no_own, own_lng=no_own, decision_ms=np.zeros(1, np.int64),
        cand_offsets=pair, cand_partner=pair[:1], cand_lat=np.array([52.565]), cand_lng=np.array([13.400]),
        cand_from=np.zeros(1, np.int64), cand_to=np.full(1, 3_600_000, np.int64), cand_spare_volume=np.full(1, 10.0),
        cand_spare_stops=np.ones(1, np.int64)), 1.3, 7.0, 180.0)
