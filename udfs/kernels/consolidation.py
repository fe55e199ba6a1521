"""Consolidation: which carrier should serve a group of co-located deliveries, and in what order.

Groups come from :func:`components` over the match edges (two deliveries are joined
when they are co-located, see ``udfs/colocation.py``); :func:`plan_groups` then
plans every group of a batch.

Layout of a batch of G groups (CSR, numpy arrays):

* ``group_offsets`` int64[G + 1]: group ``g`` is delivery rows
  ``group_offsets[g]:group_offsets[g + 1]``. Per row: ``lat``, ``lng`` (degrees),
  ``window_start``, ``window_end`` (epoch ms, the window is ``[start, end)``),
  ``volume_l`` (litres), ``partner`` (int64 index) and ``own_lat``, ``own_lng``
  (where that row's partner would start its own trip, NaN when unknown; the first
  row of a partner in the group speaks for the partner).
* ``decision_ms`` int64[G]: the earliest start of a consolidated tour.
* ``cand_offsets`` int64[G + 1]: the candidate carriers of group ``g`` are rows
  ``cand_offsets[g]:cand_offsets[g + 1]`` of ``cand_partner`` (int64), ``cand_lat``,
  ``cand_lng`` (its vehicle or depot: the tour starts there), ``cand_from``,
  ``cand_to`` (availability, epoch ms), ``cand_spare_volume`` (litres) and
  ``cand_spare_stops`` (int64).
* scalars ``detour`` (road km per straight km), ``speed_mps`` and ``dwell_s``.

Algorithm, per group:

* A tour from a start point through a set of stops is an open path (no return
  leg): nearest neighbour from the start (ties: lowest row), then 2-opt, first
  improvement, scanning ``i`` then ``j`` ascending and restarting after every
  reversal of path positions ``i..j`` whose length change is below -1e-7 m, until
  a full scan finds none (at most :data:`MAX_TWO_OPT_PASSES` scans).
* ``km_separate``: every partner of the group drives its own tour through its own
  deliveries, from its own start (or from its first delivery when unknown). Only
  computed for a group that has a candidate with the room (below): without one
  nothing is planned, and a district-sized group's own tours cost most of a batch.
* A candidate is feasible when its spare volume and stops cover the deliveries of
  the other partners and a tour through all deliveries of the group, started at
  ``max(decision_ms, cand_from)``, reaches every stop before its window ends and
  no later than ``cand_to``. An early van waits for the window to open, and every
  stop adds ``dwell_s``. The 2-opt tour is tried first, then the earliest-deadline
  order (by window end, window start, row).
* The feasible candidate saving the most km is chosen (ties: lowest candidate
  row), provided it saves more than 0 km.

Straight distances are haversine metres on the sphere of radius 6,371,008.8 m; km
are road km (metres x detour / 1000). The Numba kernels use no fastmath and
perform every floating-point operation in the same order as the plain-Python
references, so the two agree to the last bit and make the same choices on ties.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from udfs import geo

KERNEL_VERSION = "consolidation-1"
MAX_TWO_OPT_PASSES = 1000
TWO_OPT_MIN_GAIN_M = 1e-7  # a reversal must shorten the path by more than this: no cycling on float noise


# The references call these and the kernels compiled copies, so both get the same numbers.
_point = geo.point
_haversine_m = geo.haversine_points_m
_point_nb = njit(cache=True)(_point)
_haversine_m_nb = njit(cache=True)(_haversine_m)


# ---------------------------------------------------------------- components


@njit(cache=True)
def _find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        parent[x], x = root, parent[x]
    return root


@njit(cache=True)
def components(n_nodes, edge_a, edge_b):
    """Connected components of the undirected graph on nodes ``0..n_nodes-1`` with
    edges ``(edge_a[e], edge_b[e])``: int64[n_nodes], each node labelled with the
    smallest node of its component. Raises ValueError on an endpoint out of range."""
    parent = np.empty(n_nodes, np.int64)
    for i in range(n_nodes):
        parent[i] = i
    for e in range(edge_a.shape[0]):
        a, b = edge_a[e], edge_b[e]
        if a < 0 or a >= n_nodes or b < 0 or b >= n_nodes:
            raise ValueError("edge endpoint outside 0..n_nodes-1")
        ra = _find(parent, a)
        rb = _find(parent, b)
        # the smaller root becomes the parent, so a root is always its component's smallest node
        if ra < rb:
            parent[rb] = ra
        elif rb < ra:
            parent[ra] = rb
    for i in range(n_nodes):
        parent[i] = _find(parent, i)
    return parent


def components_reference(n_nodes, edge_a, edge_b) -> list[int]:
    """The same union-find in plain Python."""
    parent = list(range(n_nodes))

    def find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in zip(edge_a, edge_b):
        a, b = int(a), int(b)
        if not (0 <= a < n_nodes and 0 <= b < n_nodes):
            raise ValueError("edge endpoint outside 0..n_nodes-1")
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(i) for i in range(n_nodes)]


# ---------------------------------------------------------------- Numba kernel
# A tour works on a distance matrix ``d`` whose point 0 is the start and points
# 1..m the stops, and fills ``path[0..m]`` (path[0] = 0). Matrices and paths are
# buffers sized for the largest group of the batch, reused for every tour.


@njit(cache=True)
def _open_tour(d, m, path):
    """Nearest neighbour then first-improvement 2-opt on the open path; see the module docstring."""
    for k in range(m + 1):
        path[k] = k
    # nearest neighbour as a selection sort: path[k..m] holds the stops not yet visited
    for k in range(1, m + 1):
        here = path[k - 1]
        best = k
        for q in range(k + 1, m + 1):
            dq, db = d[here, path[q]], d[here, path[best]]
            if dq < db or (dq == db and path[q] < path[best]):
                best = q
        path[k], path[best] = path[best], path[k]
    for _ in range(MAX_TWO_OPT_PASSES):
        improved = False
        for i in range(1, m):
            a, b = path[i - 1], path[i]
            for j in range(i + 1, m + 1):
                c = path[j]
                if j < m:
                    e = path[j + 1]
                    change = d[a, c] + d[b, e] - d[a, b] - d[c, e]
                else:  # reversing the tail: the path ends at b instead of c
                    change = d[a, c] - d[a, b]
                if change < -TWO_OPT_MIN_GAIN_M:
                    lo, hi = i, j
                    while lo < hi:
                        path[lo], path[hi] = path[hi], path[lo]
                        lo += 1
                        hi -= 1
                    improved = True
                    break
            if improved:
                break
        if not improved:
            break


@njit(cache=True)
def _path_metres(d, path, m):
    total = 0.0
    for k in range(1, m + 1):
        total += d[path[k - 1], path[k]]
    return total


@njit(cache=True)
def _meets_windows(d, path, m, first_row, t, cand_to, window_start, window_end, detour, speed_mps, dwell_s):
    """Whether a van leaving at ``t`` along ``path`` (stop k is row first_row + k - 1)
    reaches every stop inside its window and by ``cand_to``."""
    for k in range(1, m + 1):
        row = first_row + path[k] - 1
        arrival = t + d[path[k - 1], path[k]] * detour / speed_mps * 1000.0
        if not (arrival < float(window_end[row]) and arrival <= float(cand_to)):
            return False
        t = max(arrival, float(window_start[row])) + dwell_s * 1000.0
    return True


@njit(cache=True)
def _earliest_deadline_order(window_start, window_end, first_row, n, path):
    """path[1..n] = the group's stops by (window end, window start, row): a stable insertion sort."""
    path[0] = 0
    for k in range(1, n + 1):
        end, start = window_end[first_row + k - 1], window_start[first_row + k - 1]
        q = k
        while q > 1:
            prev = first_row + path[q - 1] - 1
            if window_end[prev] > end or (window_end[prev] == end and window_start[prev] > start):
                path[q] = path[q - 1]
                q -= 1
            else:
                break
        path[q] = k


@njit(cache=True)
def _km_separate(d, own, members, path, first_row, n, phi, lam, cos_phi, partner, own_lat, own_lng, detour):
    """Road km when every partner of the group serves its own deliveries. ``d`` holds the
    group's stop-to-stop metres (points 1..n); ``own`` and ``members`` are scratch."""
    total = 0.0
    for k in range(n):
        row = first_row + k
        seen = False
        for q in range(k):
            if partner[first_row + q] == partner[row]:
                seen = True
                break
        if seen:
            continue
        # row is this partner's first delivery in the group
        from_first = math.isnan(own_lat[row]) or math.isnan(own_lng[row])
        m = 0
        for q in range(k + 1 if from_first else k, n):
            if partner[first_row + q] == partner[row]:
                members[m] = q + 1
                m += 1
        if from_first:
            s_phi, s_lam, s_cos = phi[row], lam[row], cos_phi[row]
        else:
            s_phi, s_lam, s_cos = _point_nb(own_lat[row], own_lng[row])
        for x in range(m):
            stop = first_row + members[x] - 1
            metres = _haversine_m_nb(s_phi, s_lam, s_cos, phi[stop], lam[stop], cos_phi[stop])
            own[0, x + 1] = metres
            own[x + 1, 0] = metres
            for y in range(m):
                own[x + 1, y + 1] = d[members[x], members[y]]
        _open_tour(own, m, path)
        total += _path_metres(own, path, m) * detour / 1000.0
    return total


class GroupBatch(NamedTuple):
    """The groups of one kernel call and the candidates that could serve them, as
    :func:`plan_groups` reads them (layout in the module docstring): what callers build,
    by name; :mod:`udfs.kernels.native` alone flattens it into the kernel's arrays."""

    group_offsets: np.ndarray  # int64[G + 1]: group g's deliveries are rows [g_o[g], g_o[g + 1])
    lat: np.ndarray  # float64[rows]: the deliveries
    lng: np.ndarray
    window_start: np.ndarray  # int64[rows], epoch ms
    window_end: np.ndarray
    volume_l: np.ndarray  # float64[rows]
    partner: np.ndarray  # int64[rows]: partner number
    own_lat: np.ndarray  # float64[rows]: the delivery's partner's own start (NaN: from its first stop)
    own_lng: np.ndarray
    decision_ms: np.ndarray  # int64[G]: when each group is decided
    cand_offsets: np.ndarray  # int64[G + 1]: group g's candidates are [c_o[g], c_o[g + 1])
    cand_partner: np.ndarray  # int64[C]
    cand_lat: np.ndarray  # float64[C]: the candidate's start
    cand_lng: np.ndarray
    cand_from: np.ndarray  # int64[C]: availability, epoch ms
    cand_to: np.ndarray
    cand_spare_volume: np.ndarray  # float64[C]
    cand_spare_stops: np.ndarray  # int64[C]


@njit(cache=True)
def plan_groups(group_offsets, lat, lng, window_start, window_end, volume_l, partner, own_lat, own_lng, decision_ms,
                cand_offsets, cand_partner, cand_lat, cand_lng, cand_from, cand_to, cand_spare_volume,
                cand_spare_stops, detour, speed_mps, dwell_s):
    """Plan every group of the batch (layout and rules in the module docstring).

    Returns ``(chosen, km_separate, km_consolidated, order)``: ``chosen`` int64[G] is
    the global candidate row proposed to serve the group, -1 for none; ``km_separate``
    float64[G], NaN when no candidate has the room; ``km_consolidated`` float64[G], NaN for none; ``order`` int64[n_rows]
    holds, at a group's rows, the global rows in the chosen tour's visiting order
    (-1 for none). Distances in road km. Array lengths are not checked: they must
    match the offsets.
    """
    n_groups = group_offsets.shape[0] - 1
    chosen = np.full(n_groups, -1, np.int64)
    km_separate = np.zeros(n_groups)
    km_consolidated = np.full(n_groups, np.nan)
    order = np.full(lat.shape[0], -1, np.int64)
    phi = np.empty(lat.shape[0])
    lam = np.empty(lat.shape[0])
    cos_phi = np.empty(lat.shape[0])
    for row in range(lat.shape[0]):
        phi[row], lam[row], cos_phi[row] = _point_nb(lat[row], lng[row])
    max_n = 0
    for g in range(n_groups):
        max_n = max(max_n, group_offsets[g + 1] - group_offsets[g])
    d = np.zeros((max_n + 1, max_n + 1))  # point 0: a candidate's start, 1..n: the group's stops
    own = np.zeros((max_n + 1, max_n + 1))  # point 0: a partner's own start, 1..m: its stops
    members = np.empty(max_n, np.int64)
    path = np.empty(max_n + 1, np.int64)
    deadline_path = np.empty(max_n + 1, np.int64)
    best_path = np.empty(max_n + 1, np.int64)
    for g in range(n_groups):
        first_row = group_offsets[g]
        n = group_offsets[g + 1] - first_row
        km_separate[g] = np.nan  # stays NaN without a candidate that has the room: nothing is planned
        measured = False
        best_saved = 0.0  # only a saving above 0 km is proposed; strict > keeps the lowest candidate on ties
        for c in range(cand_offsets[g], cand_offsets[g + 1]):
            volume = 0.0
            stops = 0
            for row in range(first_row, first_row + n):
                if partner[row] != cand_partner[c]:
                    volume += volume_l[row]
                    stops += 1
            if volume > cand_spare_volume[c] or stops > cand_spare_stops[c]:
                continue
            if not measured:  # the first candidate with room: what the partners drive alone
                measured = True
                for k in range(1, n + 1):  # the stops' distances; the diagonal stays 0
                    a = first_row + k - 1
                    for q in range(k + 1, n + 1):
                        b = first_row + q - 1
                        metres = _haversine_m_nb(phi[a], lam[a], cos_phi[a], phi[b], lam[b], cos_phi[b])
                        d[k, q] = metres
                        d[q, k] = metres
                km_separate[g] = _km_separate(d, own, members, path, first_row, n, phi, lam, cos_phi, partner,
                                              own_lat, own_lng, detour)
                _earliest_deadline_order(window_start, window_end, first_row, n, deadline_path)
            c_phi, c_lam, c_cos = _point_nb(cand_lat[c], cand_lng[c])
            for k in range(1, n + 1):
                row = first_row + k - 1
                metres = _haversine_m_nb(c_phi, c_lam, c_cos, phi[row], lam[row], cos_phi[row])
                d[0, k] = metres
                d[k, 0] = metres
            _open_tour(d, n, path)
            leave = float(max(decision_ms[g], cand_from[c]))
            if _meets_windows(d, path, n, first_row, leave, cand_to[c], window_start, window_end, detour, speed_mps,
                              dwell_s):
                tour = path
            elif _meets_windows(d, deadline_path, n, first_row, leave, cand_to[c], window_start, window_end, detour,
                                speed_mps, dwell_s):
                tour = deadline_path
            else:
                continue
            km = _path_metres(d, tour, n) * detour / 1000.0
            saved = km_separate[g] - km
            if saved > best_saved:
                best_saved = saved
                chosen[g] = c
                km_consolidated[g] = km
                best_path[:n + 1] = tour[:n + 1]
        if chosen[g] >= 0:
            for k in range(1, n + 1):
                order[first_row + k - 1] = first_row + best_path[k] - 1
    return chosen, km_separate, km_consolidated, order


# ---------------------------------------------------------------- plain-Python reference


def _matrix_reference(start, stops, points, stop_metres):
    """Distances of [start] + stops as a list matrix: start legs by haversine, stop-to-stop
    legs from the group's matrix (stops are group-local indices into points)."""
    head = [0.0] + [_haversine_m(*start, *points[s]) for s in stops]
    return [head] + [[head[x + 1]] + [stop_metres[s][t] for t in stops] for x, s in enumerate(stops)]


def _two_opt_move_reference(d, path):
    """The first reversal (i, j) that shortens the open path, or None."""
    m = len(path) - 1
    for i in range(1, m):
        for j in range(i + 1, m + 1):
            a, b, c = path[i - 1], path[i], path[j]
            if j < m:
                e = path[j + 1]
                change = d[a][c] + d[b][e] - d[a][b] - d[c][e]
            else:  # the tail: no leg after c, the path ends at b instead
                change = d[a][c] - d[a][b]
            if change < -TWO_OPT_MIN_GAIN_M:
                return i, j
    return None


def _open_tour_reference(d) -> list[int]:
    """Nearest neighbour from point 0, then 2-opt: the visiting order as matrix points."""
    path = [0]
    left = list(range(1, len(d)))
    while left:
        nearest = min(left, key=lambda s: (d[path[-1]][s], s))
        path.append(nearest)
        left.remove(nearest)
    for _ in range(MAX_TWO_OPT_PASSES):
        move = _two_opt_move_reference(d, path)
        if move is None:
            break
        i, j = move
        path[i:j + 1] = path[i:j + 1][::-1]
    return path


def _path_metres_reference(d, path) -> float:
    total = 0.0
    for k in range(1, len(path)):
        total += d[path[k - 1]][path[k]]
    return total


def plan_groups_reference(group_offsets, lat, lng, window_start, window_end, volume_l, partner, own_lat, own_lng,
                          decision_ms, cand_offsets, cand_partner, cand_lat, cand_lng, cand_from, cand_to,
                          cand_spare_volume, cand_spare_stops, detour, speed_mps, dwell_s, trace=None):
    """The same planning in plain Python, one step at a time (the specification).
    Returns lists ``(chosen, km_separate, km_consolidated, order)`` as :func:`plan_groups`.

    ``trace``: a list that gets, per group, what was checked of each candidate row: the volume
    and stops it would take from the other partners, whether it has the room, whether a tour
    reaches every stop in time (and the km of the first that does), the group's km alone
    (udfs.audit explains a proposal with it)."""
    n_groups = len(group_offsets) - 1
    chosen, km_separate, km_consolidated = [-1] * n_groups, [0.0] * n_groups, [math.nan] * n_groups
    order = [-1] * len(lat)
    for g in range(n_groups):
        rows = list(range(int(group_offsets[g]), int(group_offsets[g + 1])))
        points = [_point(float(lat[r]), float(lng[r])) for r in rows]
        n = len(rows)
        stop_metres = [[0.0] * n for _ in range(n)]
        for k in range(n):
            for q in range(k + 1, n):
                stop_metres[k][q] = stop_metres[q][k] = _haversine_m(*points[k], *points[q])

        needs = {c: (sum(float(volume_l[r]) for r in rows if partner[r] != cand_partner[c]),
                     sum(1 for r in rows if partner[r] != cand_partner[c]))
                 for c in range(int(cand_offsets[g]), int(cand_offsets[g + 1]))}
        roomy = [c for c, (volume, stops) in needs.items()
                 if volume <= cand_spare_volume[c] and stops <= cand_spare_stops[c]]
        checked = {c: {"needs_volume_l": volume, "needs_stops": stops, "room": c in roomy, "on_time": None,
                       "km_consolidated": None} for c, (volume, stops) in needs.items()}
        if trace is not None:
            trace.append({"candidates": checked, "km_separate": None})
        if not roomy:  # no candidate has the room: nothing to plan, the partners' own km are not needed
            km_separate[g] = math.nan
            continue
        # every partner alone, in the order of its first delivery in the group
        by_partner: dict[int, list[int]] = {}
        for k, r in enumerate(rows):
            by_partner.setdefault(int(partner[r]), []).append(k)
        separate = 0.0
        for own_stops in by_partner.values():
            first = rows[own_stops[0]]
            if math.isnan(own_lat[first]) or math.isnan(own_lng[first]):
                start, own_stops = points[own_stops[0]], own_stops[1:]
            else:
                start = _point(float(own_lat[first]), float(own_lng[first]))
            d = _matrix_reference(start, own_stops, points, stop_metres)
            separate += _path_metres_reference(d, _open_tour_reference(d)) * detour / 1000.0
        km_separate[g] = separate
        if trace is not None:
            trace[-1]["km_separate"] = separate

        deadline_order = [0] + sorted(range(1, n + 1), key=lambda k: (int(window_end[rows[k - 1]]),
                                                                     int(window_start[rows[k - 1]]), k))
        feasible = []  # (candidate row, km, path)
        for c in roomy:
            d = _matrix_reference(_point(float(cand_lat[c]), float(cand_lng[c])), range(n), points, stop_metres)
            for path in (_open_tour_reference(d), deadline_order):
                t = float(max(int(decision_ms[g]), int(cand_from[c])))
                on_time = True
                for k in range(1, n + 1):
                    r = rows[path[k] - 1]
                    arrival = t + d[path[k - 1]][path[k]] * detour / speed_mps * 1000.0
                    if not (arrival < float(window_end[r]) and arrival <= float(cand_to[c])):
                        on_time = False
                        break
                    t = max(arrival, float(window_start[r])) + dwell_s * 1000.0
                if on_time:
                    feasible.append((c, _path_metres_reference(d, path) * detour / 1000.0, path))
                    break
            checked[c]["on_time"] = bool(feasible) and feasible[-1][0] == c
            if checked[c]["on_time"]:
                checked[c]["km_consolidated"] = feasible[-1][1]
        if not feasible:
            continue
        best_c, best_km, best_path = feasible[0]
        for c, km, path in feasible[1:]:
            if separate - km > separate - best_km:
                best_c, best_km, best_path = c, km, path
        if separate - best_km > 0:
            chosen[g], km_consolidated[g] = best_c, best_km
            for k in range(1, n + 1):
                order[rows[k - 1]] = rows[best_path[k] - 1]
    return chosen, km_separate, km_consolidated, order
