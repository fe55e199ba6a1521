"""Plain spherical geometry shared by the simulator and its ground truth."""
from __future__ import annotations

import numpy as np

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = np.pi / 180.0 * EARTH_RADIUS_M


def haversine_m(lat1, lng1, lat2, lng2):
    """Great-circle distance in metres (sphere of radius 6,371,008.8 m); numpy-broadcasting."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lng2) - np.asarray(lng1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def offset(lat, lng, east_m, north_m):
    """A point ``east_m``/``north_m`` metres away (local flat approximation, fine below ~20 km)."""
    lat2 = lat + np.asarray(north_m) / METRES_PER_DEGREE
    lng2 = lng + np.asarray(east_m) / (METRES_PER_DEGREE * np.cos(np.radians(lat)))
    return lat2, lng2
