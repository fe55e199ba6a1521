"""Kernel benchmark: grouping and planning 1,000 co-located deliveries, Numba vs plain Python.

The batch looks like a city's worth of matches: groups of 2 to 40 deliveries (mean
about 5) in clusters about 100 m across around Berlin, 2 to 4 partners per group
whose depots or vans are 3 to 10 km away, windows of 1 to 4 hours that overlap
(co-located deliveries do), and 1 to 3 candidate carriers per group. The measured
step is what the job does per batch: :func:`components` over the match edges (every
cross-partner pair inside a group) and :func:`plan_groups` over the groups. Both
variants run on the same batch in the same process; the best of several runs is kept.
"""
from __future__ import annotations

import math

import numpy as np

from lastmile.bench.timing import best_of

DETOUR, SPEED_MPS, DWELL_S = 1.3, 7.0, 180.0
HOUR = 3_600_000
M_PER_DEG_LAT = 111_194.93  # on the sphere of radius 6,371,008.8 m
DELIVERIES = 1000


def _around(rng, lat, lng, min_m, max_m, n):
    """n points at a uniform distance in [min_m, max_m] and a uniform bearing from (lat, lng)."""
    r = rng.uniform(min_m, max_m, n)
    bearing = rng.uniform(0, 2 * math.pi, n)
    return (lat + r * np.cos(bearing) / M_PER_DEG_LAT,
            lng + r * np.sin(bearing) / (M_PER_DEG_LAT * math.cos(math.radians(lat))))


def city_batch(deliveries: int = DELIVERIES, seed: int = 7) -> tuple[dict, np.ndarray, np.ndarray]:
    """(keyword arguments of plan_groups without the scalars, match edge_a, edge_b), rows grouped."""
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < deliveries:
        sizes.append(int(min(40, 1 + rng.geometric(0.25))))  # 2, 3, ... with mean about 5
    sizes[-1] -= sum(sizes) - deliveries
    if sizes[-1] < 2:  # no group of one: give the leftover to the previous group
        sizes[-2] += sizes.pop()
    day = 1_790_000_000_000 - 1_790_000_000_000 % (24 * HOUR)
    cols = {name: [] for name in ("lat", "lng", "window_start", "window_end", "volume_l", "partner", "own_lat",
                                  "own_lng")}
    cand = {name: [] for name in ("partner", "lat", "lng", "from", "to", "spare_volume", "spare_stops")}
    group_offsets, cand_offsets, decision_ms, edge_a, edge_b = [0], [0], [], [], []
    for size in sizes:
        first = group_offsets[-1]
        c_lat, c_lng = 52.52 + rng.normal(0, 0.05), 13.40 + rng.normal(0, 0.08)
        lat, lng = _around(rng, c_lat, c_lng, 0, 50, size)
        partners = rng.choice(12, int(rng.integers(2, min(4, size) + 1)), replace=False)
        partner = np.concatenate((partners, rng.choice(partners, size - len(partners))))
        start_lat, start_lng = _around(rng, c_lat, c_lng, 3000, 10_000, len(partners))
        unknown = rng.random(len(partners)) < 0.1  # no vehicle or depot known: only local km count
        slot = {p: k for k, p in enumerate(partners)}
        # the windows of a group all contain one moment, as co-located deliveries' windows overlap
        anchor = day + int(rng.integers(10 * HOUR, 18 * HOUR))
        length = rng.integers(HOUR, 4 * HOUR + 1, size)
        window_start = anchor - (length * rng.uniform(0.1, 0.9, size)).astype(np.int64)
        cols["lat"] += lat.tolist()
        cols["lng"] += lng.tolist()
        cols["window_start"] += window_start.tolist()
        cols["window_end"] += (window_start + length).tolist()
        cols["volume_l"] += np.minimum(200, rng.lognormal(math.log(20), 0.9, size)).clip(1).tolist()
        cols["partner"] += partner.tolist()
        cols["own_lat"] += [math.nan if unknown[slot[p]] else start_lat[slot[p]] for p in partner]
        cols["own_lng"] += [math.nan if unknown[slot[p]] else start_lng[slot[p]] for p in partner]
        decision = anchor - int(rng.integers(HOUR // 2, 3 * HOUR))
        decision_ms.append(decision)
        # candidates: vans of the group's partners, at their own start (known to the carrier even where the
        # partner's own trip start is not); a fifth nearly full, some off shift soon
        for p in rng.choice(partners, int(rng.integers(1, min(3, len(partners)) + 1)), replace=False):
            k = slot[p]
            cand["partner"].append(int(p))
            cand["lat"].append(float(start_lat[k]))
            cand["lng"].append(float(start_lng[k]))
            cand["from"].append(decision + int(rng.integers(-HOUR, HOUR)))
            cand["to"].append(cand["from"][-1] + int(rng.integers(HOUR, 8 * HOUR)))
            cand["spare_volume"].append(rng.uniform(0, 150) if rng.random() < 0.2 else rng.uniform(150, 2500))
            cand["spare_stops"].append(int(rng.integers(0, 40)))
        group_offsets.append(first + size)
        cand_offsets.append(len(cand["partner"]))
        for i in range(size):
            for j in range(i + 1, size):
                if partner[i] != partner[j]:
                    edge_a.append(first + i)
                    edge_b.append(first + j)
    ints = {"window_start", "window_end", "partner"}
    args = {name: np.array(values, np.int64 if name in ints else np.float64) for name, values in cols.items()}
    args.update(group_offsets=np.array(group_offsets, np.int64), decision_ms=np.array(decision_ms, np.int64),
                cand_offsets=np.array(cand_offsets, np.int64))
    for name, values in cand.items():
        args[f"cand_{name}"] = np.array(values, np.int64 if name in {"partner", "from", "to", "spare_stops"}
                                        else np.float64)
    return args, np.array(edge_a, np.int64), np.array(edge_b, np.int64)


def run() -> dict:
    from udfs.kernels import warm_up_all
    from udfs.kernels.consolidation import components, components_reference, plan_groups, plan_groups_reference

    warm_up_all()
    args, edge_a, edge_b = city_batch()
    scalars = dict(detour=DETOUR, speed_mps=SPEED_MPS, dwell_s=DWELL_S)

    def numba_step():
        return components(DELIVERIES, edge_a, edge_b), plan_groups(**args, **scalars)

    def python_step():
        return components_reference(DELIVERIES, edge_a, edge_b), plan_groups_reference(**args, **scalars)

    labels, (chosen, km_separate, km_consolidated, order) = numba_step()
    ref_labels, (ref_chosen, _, _, ref_order) = python_step()
    # the batch is built group by group, so each group must be one component labelled by its first row
    counts = np.diff(args["group_offsets"])
    assert (labels == np.repeat(args["group_offsets"][:-1], counts)).all()
    numba_s = best_of(numba_step, 20)
    python_s = best_of(python_step, 2)
    proposed = chosen >= 0
    return {
        "consolidation_deliveries": DELIVERIES,
        "consolidation_groups": len(counts),
        "consolidation_edges": len(edge_a),
        "consolidation_proposals": int(proposed.sum()),
        "consolidation_ms_1000": round(numba_s * 1000, 2),
        "consolidation_python_ms_1000": round(python_s * 1000, 2),
        "consolidation_speedup_vs_python": round(python_s / numba_s, 1),
        "consolidation_km_saved": round(float((km_separate - km_consolidated)[proposed].sum()), 1),
        "consolidation_agrees_with_python": (labels.tolist() == ref_labels and chosen.tolist() == ref_chosen
                                             and order.tolist() == ref_order),
    }
