"""Spherical geometry, written once: the Earth's radius and the haversine in the forms the
project needs (scalar for one pair, per-point precomputed for the kernels, numpy-broadcasting
for the simulator and vectorised comparisons).

Every distance of the project is a haversine on the sphere of radius 6,371,008.8 m (the
IUGG mean radius, as H3 uses). The scalar and the per-point forms are separate functions on
purpose: they round differently in the last bit, and the JVM ports (``core.Geo`` in
udfs/jvm) reproduce each bit for bit, so a caller keeps the form it was specified with.
No Numba here: the kernels compile their own copies of :func:`point` and
:func:`haversine_points_m` (udfs/kernels), and importing this module stays cheap.
"""
from __future__ import annotations

import math

import numpy as np

EARTH_RADIUS_M = 6_371_008.8
TO_RAD = math.pi / 180.0
METRES_PER_DEGREE = math.pi / 180.0 * EARTH_RADIUS_M  # of latitude, and of longitude at the equator


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres between two points in degrees (co-location's definition)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lng2 - lng1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def point(lat: float, lng: float) -> tuple[float, float, float]:
    """What :func:`haversine_points_m` needs of a point in degrees: latitude and longitude in
    radians, cosine of the latitude. Computed once per point, not once per pair."""
    phi = lat * TO_RAD
    return phi, lng * TO_RAD, math.cos(phi)


def haversine_points_m(phi1: float, lam1: float, cos1: float, phi2: float, lam2: float, cos2: float) -> float:
    """Great-circle metres between two points given by :func:`point` (the kernels' form)."""
    s_p = math.sin((phi2 - phi1) * 0.5)
    s_l = math.sin((lam2 - lam1) * 0.5)
    a = s_p * s_p + cos1 * cos2 * s_l * s_l
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def haversine_np(lat1, lng1, lat2, lng2):
    """:func:`haversine_m` over numpy arrays (broadcasting); clipped like the scalar form."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lng2) - np.asarray(lng1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
