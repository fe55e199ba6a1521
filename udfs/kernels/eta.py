"""ETA along a vehicle's remaining stops.

Layout for a batch of vehicles (CSR): vehicle ``v``'s remaining stops are
``stop_*[offsets[v]:offsets[v + 1]]`` in visiting order. Travel time of a leg is
``haversine x detour / speed``; the result is the arrival at each stop. A van that
arrives before a stop's ``not_before_ms`` (the start of the delivery window) waits
for it, and each stop adds ``dwell_s`` before the next leg starts. Distances in
metres on the sphere of radius 6,371,008.8 m, speeds in m/s, times in epoch
milliseconds. Speeds <= 0 are replaced by ``fallback_speed_mps``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from udfs.geo import EARTH_RADIUS_M

KERNEL_VERSION = "eta-2"


@njit(cache=True, fastmath=True, error_model="numpy")  # speeds are > 0: no zero-division checks
def eta_batch(start_lat, start_lng, start_ms, offsets, stop_lat, stop_lng, not_before_ms, leg_speed_mps, detour,
              dwell_s, fallback_speed_mps):
    """Arrival time (epoch ms) at every stop of every vehicle; see the module docstring."""
    out = np.empty(stop_lat.shape[0], dtype=np.int64)
    to_rad = math.pi / 180.0
    ms_per_m = detour * 1000.0
    dwell_ms = dwell_s * 1000.0
    for v in range(start_lat.shape[0]):
        # radians and cos(lat) of a point are computed once and reused by the next leg
        p1 = start_lat[v] * to_rad
        l1 = start_lng[v] * to_rad
        c1 = math.cos(p1)
        t = float(start_ms[v])
        for i in range(offsets[v], offsets[v + 1]):
            p2 = stop_lat[i] * to_rad
            l2 = stop_lng[i] * to_rad
            c2 = math.cos(p2)
            s_p = math.sin((p2 - p1) * 0.5)
            s_l = math.sin((l2 - l1) * 0.5)
            a = s_p * s_p + c1 * c2 * s_l * s_l
            metres = 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
            speed = leg_speed_mps[i]
            if not speed > 0.0:
                speed = fallback_speed_mps
            t += metres * ms_per_m / speed
            out[i] = np.int64(t)
            t = max(t, float(not_before_ms[i])) + dwell_ms
            p1, l1, c1 = p2, l2, c2
    return out


def eta_batch_reference(start_lat, start_lng, start_ms, offsets, stop_lat, stop_lng, not_before_ms, leg_speed_mps,
                        detour, dwell_s, fallback_speed_mps) -> list[int]:
    """The same computation in plain Python, one leg at a time (the specification)."""
    out = []
    for v in range(len(start_lat)):
        lat, lng, t = float(start_lat[v]), float(start_lng[v]), float(start_ms[v])
        for i in range(int(offsets[v]), int(offsets[v + 1])):
            speed = float(leg_speed_mps[i]) if leg_speed_mps[i] > 0 else fallback_speed_mps
            p1, p2 = math.radians(lat), math.radians(float(stop_lat[i]))
            a = (math.sin((p2 - p1) / 2) ** 2
                 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(float(stop_lng[i]) - lng) / 2) ** 2)
            t += 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a))) * detour / speed * 1000.0
            out.append(int(t))
            t = max(t, float(not_before_ms[i])) + dwell_s * 1000.0
            lat, lng = float(stop_lat[i]), float(stop_lng[i])
    return out


def eta_batch_numpy(start_lat, start_lng, start_ms, offsets, stop_lat, stop_lng, not_before_ms, leg_speed_mps,
                    detour, dwell_s, fallback_speed_mps) -> np.ndarray:
    """Vectorized numpy version (for the benchmark's comparison): legs are independent of
    each other, so they are computed all at once; the waits make the clock a running
    maximum, so time advances one stop position at a time across all vehicles."""
    counts = np.diff(offsets)
    vehicle = np.repeat(np.arange(len(start_lat)), counts)
    first = np.zeros(len(stop_lat), dtype=bool)
    first[offsets[:-1][counts > 0]] = True
    prev_lat = np.where(first, start_lat[vehicle], np.roll(stop_lat, 1))
    prev_lng = np.where(first, start_lng[vehicle], np.roll(stop_lng, 1))
    p1, p2 = np.radians(prev_lat), np.radians(stop_lat)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(stop_lng - prev_lng) / 2) ** 2
    metres = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    speed = np.where(leg_speed_mps > 0, leg_speed_mps, fallback_speed_mps)
    leg_ms = metres * detour / speed * 1000.0
    out = np.empty(len(stop_lat), dtype=np.int64)
    clock = start_ms.astype(np.float64)
    for k in range(int(counts.max(initial=0))):
        has = np.flatnonzero(counts > k)
        row = offsets[has] + k
        arrival = clock[has] + leg_ms[row]
        out[row] = arrival.astype(np.int64)
        clock[has] = np.maximum(arrival, not_before_ms[row]) + dwell_s * 1000.0
    return out
