"""Plain spherical geometry shared by the simulator and its ground truth (udfs.geo's, plus a
flat offset for placing points)."""
from __future__ import annotations

import numpy as np

from udfs.geo import METRES_PER_DEGREE
from udfs.geo import haversine_np as haversine_m  # noqa: F401  (numpy-broadcasting)


def offset(lat, lng, east_m, north_m):
    """A point ``east_m``/``north_m`` metres away (local flat approximation, fine below ~20 km)."""
    lat2 = lat + np.asarray(north_m) / METRES_PER_DEGREE
    lng2 = lng + np.asarray(east_m) / (METRES_PER_DEGREE * np.cos(np.radians(lat)))
    return lat2, lng2
