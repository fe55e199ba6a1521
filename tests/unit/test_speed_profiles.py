"""Speed profiles: segment filtering, robust estimates, fallbacks."""
import numpy as np
import h3.api.basic_int as h3i

from udfs.speed_profiles import (PARENT_RESOLUTION, PROFILE_RESOLUTION, RobustSpeed, SpeedProfile, hour_of_week,
                                 segment_speed)

MONDAY = 1_762_128_000_000  # 2025-11-03T00:00:00Z, a Monday


def test_hour_of_week_starts_on_monday_utc():
    assert hour_of_week(MONDAY) == 0
    assert hour_of_week(MONDAY + 25 * 3_600_000) == 25
    assert hour_of_week(MONDAY + 7 * 24 * 3_600_000 - 1) == 167


def test_segment_speed_of_a_moving_van():
    step = 300.0 / 111_194.93  # 300 m north in 30 s: 10 m/s
    result = segment_speed((MONDAY, 52.5, 13.4), (MONDAY + 30_000, 52.5 + step, 13.4))
    assert result is not None
    cell, hour, speed = result
    assert abs(speed - 10.0) < 0.01 and hour == 0
    assert h3i.get_resolution(cell) == PROFILE_RESOLUTION


def test_gaps_jumps_and_parked_vans_are_ignored():
    base = (MONDAY, 52.5, 13.4)
    assert segment_speed(base, (MONDAY, 52.51, 13.4)) is None  # no time passed
    assert segment_speed(base, (MONDAY + 11 * 60_000, 52.51, 13.4)) is None  # gap
    assert segment_speed(base, (MONDAY + 30_000, 52.52, 13.4)) is None  # 2.2 km in 30 s: GPS jump
    assert segment_speed(base, (MONDAY + 30_000, 52.50005, 13.4)) is None  # 5.6 m: parked


def test_robust_estimate_follows_the_median_not_outliers():
    rng = np.random.default_rng(1)
    estimate = RobustSpeed()
    for value in rng.normal(8.0, 1.0, 2000):
        estimate.update(float(value) if rng.random() > 0.05 else 39.0)  # 5 % wild readings
    assert abs(estimate.estimate - 8.0) < 0.8
    assert estimate.count == 2000 and estimate.warmup == ()


def test_profile_falls_back_from_cell_to_parent_to_default():
    profile = SpeedProfile(default_mps=7.0)
    cell = h3i.latlng_to_cell(52.52, 13.405, PROFILE_RESOLUTION)
    sibling = next(c for c in h3i.cell_to_children(h3i.cell_to_parent(cell, PARENT_RESOLUTION), PROFILE_RESOLUTION)
                   if c != cell)
    assert profile.speed(cell, 10) == 7.0
    for _ in range(6):
        profile.observe(cell, 10, 4.0)
    assert profile.speed(cell, 10) == 4.0
    assert profile.speed(sibling, 10) == 4.0  # parent knows
    assert profile.speed(cell, 11) == 7.0  # another hour: default
