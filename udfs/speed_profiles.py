"""Learned travel speeds per H3 cell and hour of week, from consecutive vehicle pings.

Resolution 9 (cells ~0.1 km², edge ~200 m): fine enough to tell a ring road from the
streets beside it, coarse enough that a city's vans cross each cell-hour often
enough to learn from. Lookups fall back to the resolution-7 parent, then to the
city default, when a cell-hour has too few observations.
"""
from __future__ import annotations

import dataclasses

import h3.api.basic_int as h3i

from udfs.colocation import haversine_m

PROFILE_RESOLUTION = 9
PARENT_RESOLUTION = 7
MIN_OBSERVATIONS = 5
MAX_GAP_MS = 10 * 60_000  # pings further apart say nothing about one street's speed
MAX_SPEED_MPS = 40.0  # 144 km/h: above that, the GPS jumped
MIN_MOVE_M = 15.0  # below that, the van was parked (dwell at a stop), not travelling
HOUR = 3_600_000
WEEK_START_OFFSET_H = 72  # 1970-01-01 was a Thursday: shift so hour 0 is Monday 00:00 UTC


def hour_of_week(ts_ms: int) -> int:
    """0 = Monday 00:00-01:00 UTC ... 167 = Sunday 23:00-24:00 UTC."""
    return int((ts_ms // HOUR + WEEK_START_OFFSET_H) % 168)


def segment_speed(prev: tuple[int, float, float], cur: tuple[int, float, float]) -> tuple[int, int, float] | None:
    """(cell, hour of week, m/s) of the travel between two pings ``(ts_ms, lat, lng)`` of one
    vehicle, attributed to the midpoint; None for gaps, GPS jumps and parked vans."""
    dt = cur[0] - prev[0]
    if dt <= 0 or dt > MAX_GAP_MS:
        return None
    metres = haversine_m(prev[1], prev[2], cur[1], cur[2])
    if metres < MIN_MOVE_M:
        return None
    speed = metres / (dt / 1000.0)
    if speed > MAX_SPEED_MPS:
        return None
    cell = h3i.latlng_to_cell((prev[1] + cur[1]) / 2, (prev[2] + cur[2]) / 2, PROFILE_RESOLUTION)
    return cell, hour_of_week((prev[0] + cur[0]) // 2), speed


@dataclasses.dataclass
class RobustSpeed:
    """A running median estimate of speed that a few wild observations cannot drag far.

    The first observations are kept and their median used; after that each new
    observation moves the estimate a small fixed fraction up or down (stochastic
    approximation of the median), so state stays O(1) per cell-hour.
    """

    estimate: float = 0.0
    count: int = 0
    warmup: tuple[float, ...] = ()

    WARMUP = 5
    RATE = 0.03

    def update(self, speed: float) -> None:
        self.count += 1
        if self.count <= self.WARMUP:
            self.warmup = tuple(sorted((*self.warmup, speed)))
            self.estimate = self.warmup[len(self.warmup) // 2]
            return
        self.warmup = ()
        step = max(self.estimate, 0.5) * self.RATE
        if speed > self.estimate:
            self.estimate += step
        elif speed < self.estimate:
            self.estimate = max(0.0, self.estimate - step)


class SpeedProfile:
    """Speeds per (cell, hour of week) with fallbacks: cell -> parent cell -> city default."""

    def __init__(self, default_mps: float):
        self.default_mps = default_mps
        self.cells: dict[tuple[int, int], RobustSpeed] = {}
        self.parents: dict[tuple[int, int], RobustSpeed] = {}

    def observe(self, cell: int, hour: int, speed: float) -> None:
        self.cells.setdefault((cell, hour), RobustSpeed()).update(speed)
        parent = h3i.cell_to_parent(cell, PARENT_RESOLUTION)
        self.parents.setdefault((parent, hour), RobustSpeed()).update(speed)

    def speed(self, cell: int, hour: int) -> float:
        """Learned m/s for a resolution-9 cell at an hour of week, with fallbacks."""
        own = self.cells.get((cell, hour))
        if own is not None and own.count >= MIN_OBSERVATIONS:
            return own.estimate
        parent = self.parents.get((h3i.cell_to_parent(cell, PARENT_RESOLUTION), hour))
        if parent is not None and parent.count >= MIN_OBSERVATIONS:
            return parent.estimate
        return self.default_mps
