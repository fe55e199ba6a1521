"""H3 cells as ``uint64`` (ClickHouse ``UInt64``); strings only for people."""
from __future__ import annotations

import h3.api.basic_int as h3i

#: Resolution of every cell stored in shared tables (edge ~66 m, area ~0.015 km²).
SHARED_RESOLUTION = 10


def cell(lat: float, lng: float, resolution: int = SHARED_RESOLUTION) -> int:
    """The H3 cell containing a WGS84 point (degrees) as an unsigned 64-bit integer.

    Raises ``ValueError`` for a latitude outside [-90, 90] or a non-finite value.
    """
    if not (-90.0 <= lat <= 90.0) or not (-180.0 <= lng <= 180.0):
        raise ValueError(f"coordinates out of range: lat={lat}, lng={lng}")
    return h3i.latlng_to_cell(lat, lng, resolution)


def to_string(cell_id: int) -> str:
    """Hex form (``8a1f...``) for display and for tools that expect strings."""
    return h3i.int_to_str(cell_id)
