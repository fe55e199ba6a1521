"""Ground truth of a simulated feed, computed without any of the pipeline's code.

* co-located pairs, by the definition in shared/design/domain.md: tasks of
  different partners, haversine distance <= radius, windows overlapping
  (``max(start) < min(end)``), using only the latest announcement of each
  (partner, shipment); found with a plain lat/lng grid (no H3) and checked exactly;
* what happened to every shipment (delivered, failed attempt, cancelled) and when;
* kilometres driven per partner.
"""
from __future__ import annotations

import collections
import math

import numpy as np

from lastmile.simulator.geo import METRES_PER_DEGREE, haversine_m


def latest_tasks(tasks: list[dict]) -> list[dict]:
    """One task per (partner_id, shipment_id): the one with the latest event_time."""
    best: dict[tuple[str, str], dict] = {}
    for task in tasks:
        key = (task["partner_id"], task["shipment_id"])
        if key not in best or task["event_time"] > best[key]["event_time"]:
            best[key] = task
    return list(best.values())


def colocated_pairs(tasks: list[dict], radius_m: float) -> list[tuple[str, str, str, str]]:
    """Every co-located pair once, as (partner_a, shipment_a, partner_b, shipment_b) with a < b."""
    if not tasks:
        return []
    lat = np.array([t["dest_lat"] for t in tasks])
    lng = np.array([t["dest_lng"] for t in tasks])
    # Grid cells at least `radius` wide everywhere in the data: then a partner within the
    # radius is always in the same or a neighbouring cell. (Small areas, no antimeridian.)
    cell_lat = radius_m / METRES_PER_DEGREE * 1.001
    widest = math.cos(math.radians(min(89.9, float(np.max(np.abs(lat))))))
    cell_lng = cell_lat / widest
    gy = np.floor(lat / cell_lat).astype(np.int64)
    gx = np.floor(lng / cell_lng).astype(np.int64)
    cells: dict[tuple[int, int], list[int]] = collections.defaultdict(list)
    for i, key in enumerate(zip(gy.tolist(), gx.tolist())):
        cells[key].append(i)
    pairs = []
    for (cy, cx), members in cells.items():
        near = [j for dy in (-1, 0, 1) for dx in (-1, 0, 1) for j in cells.get((cy + dy, cx + dx), ())]
        near_arr = np.array(near)
        for i in members:
            cand = near_arr[near_arr > i]
            if len(cand) == 0:
                continue
            d = haversine_m(lat[i], lng[i], lat[cand], lng[cand])
            for j in cand[d <= radius_m].tolist():
                a, b = tasks[i], tasks[j]
                if a["partner_id"] == b["partner_id"]:
                    continue
                if max(a["window_start"], b["window_start"]) >= min(a["window_end"], b["window_end"]):
                    continue
                ka, kb = (a["partner_id"], a["shipment_id"]), (b["partner_id"], b["shipment_id"])
                pairs.append((*min(ka, kb), *max(ka, kb)))
    return sorted(pairs)


def brute_force_pairs(tasks: list[dict], radius_m: float) -> list[tuple[str, str, str, str]]:
    """The same definition by comparing every pair (for tests on small inputs)."""
    pairs = []
    for i, a in enumerate(tasks):
        for b in tasks[i + 1:]:
            if a["partner_id"] == b["partner_id"]:
                continue
            if max(a["window_start"], b["window_start"]) >= min(a["window_end"], b["window_end"]):
                continue
            if haversine_m(a["dest_lat"], a["dest_lng"], b["dest_lat"], b["dest_lng"]) <= radius_m:
                ka, kb = (a["partner_id"], a["shipment_id"]), (b["partner_id"], b["shipment_id"])
                pairs.append((*min(ka, kb), *max(ka, kb)))
    return sorted(pairs)
