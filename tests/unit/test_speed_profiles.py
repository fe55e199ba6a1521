"""Speed profiles: segment filtering, robust estimates, fallbacks."""
import h3.api.basic_int as h3i
import numpy as np

from udfs.speed_profiles import (
    DAY_MS,
    HOUR_FACTOR,
    MIN_OBSERVATIONS,
    NEVER,
    PARENT_RESOLUTION,
    PROFILE_RESOLUTION,
    PUBLISH_CHANGE,
    CausalSpeeds,
    RobustSpeed,
    SpeedProfile,
    day_after,
    forget_stale,
    hour_of_week,
    learn,
    learn_interval,
    profile_keys,
    segment_speed,
)

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
    assert segment_speed(base, (MONDAY + 30_000, 52.5002, 13.4)) is None  # 22 m: GPS noise of a parked van


def test_robust_estimate_follows_the_median_not_outliers():
    rng = np.random.default_rng(1)
    estimate = RobustSpeed()
    for value in rng.normal(8.0, 1.0, 2000):
        estimate.update(float(value) if rng.random() > 0.05 else 39.0)  # 5 % wild readings
    assert abs(estimate.estimate - 8.0) < 0.8
    assert estimate.count == 2000 and estimate.warmup == ()


def test_profile_falls_back_from_cell_to_any_hour_to_district_to_default():
    profile = SpeedProfile(default_mps=7.0)
    cell = h3i.latlng_to_cell(52.52, 13.405, PROFILE_RESOLUTION)
    district = h3i.cell_to_parent(cell, PARENT_RESOLUTION)
    sibling = next(c for c in h3i.cell_to_children(district, PROFILE_RESOLUTION) if c != cell)
    elsewhere = h3i.latlng_to_cell(48.14, 11.58, PROFILE_RESOLUTION)
    assert profile.speed(cell, 10) == 7.0
    for _ in range(MIN_OBSERVATIONS - 1):
        profile.observe(cell, 10, 4.0)
    assert profile.speed(cell, 10) == 7.0  # not enough segments yet
    profile.observe(cell, 10, 4.0)
    assert profile.speed(cell, 10) == 4.0
    assert profile.speed(cell, 11) == 4.0  # another hour: the cell's all-hours estimate
    assert profile.speed(sibling, 10) == 4.0  # another cell of the district
    assert profile.speed(elsewhere, 10) == 7.0  # another city: the default
    for _ in range(MIN_OBSERVATIONS):
        profile.observe(sibling, 11, 10.0)
    assert profile.speed(sibling, 11) == 10.0
    assert profile.speed(cell, 11) == 4.0  # the cell's own (all-hours) estimate beats the district's hour


def test_publishing_waits_for_enough_segments_then_for_real_moves():
    estimate, published = None, []
    for speed in [5.0] * MIN_OBSERVATIONS + [5.0] * 20:
        estimate, value = learn(estimate, speed)
        published.append(value)
    assert published[:MIN_OBSERVATIONS - 1] == [None] * (MIN_OBSERVATIONS - 1)
    assert published[MIN_OBSERVATIONS - 1] == 5.0
    assert all(v is None for v in published[MIN_OBSERVATIONS:])  # a steady estimate is published once
    for _ in range(30):
        estimate, value = learn(estimate, 9.0)
        if value is not None:
            published.append(value)
    moved = [v for v in published[MIN_OBSERVATIONS:] if v is not None]
    assert moved and all(b > a * (1 + PUBLISH_CHANGE) - 1e-9 for a, b in zip([5.0, *moved], moved))


def test_pings_that_straddle_a_stop_teach_nothing():
    step = 150.0 / 111_194.93  # 150 m in 30 s: 5 m/s
    moving, parked = (MONDAY, 52.5, 13.4, 5.2), (MONDAY + 30_000, 52.5 + step, 13.4, 0.0)
    assert segment_speed(moving, parked) is None  # arrived at a stop during the segment
    assert segment_speed(parked[:3] + (4.9,), (MONDAY + 60_000, 52.5 + 2 * step, 13.4, 5.1)) is not None
    assert segment_speed((MONDAY, 52.5, 13.4), (MONDAY + 30_000, 52.5 + step, 13.4)) is not None  # no speeds sent


def test_an_estimate_survives_pickling_as_plain_values_and_old_pickles_still_load():
    import pickle

    estimate = RobustSpeed()
    for speed in (6.0, 7.5, 5.0, 9.0, 8.0, 7.0, 30.0):
        estimate.update(speed)
    estimate.published = 7.1
    again = pickle.loads(pickle.dumps(estimate))
    assert again == estimate and isinstance(estimate.__getstate__(), tuple)
    old = RobustSpeed.__new__(RobustSpeed)  # a checkpoint written before the plain form
    old.__setstate__(dict(estimate.__dict__))
    assert old == estimate
    undated = RobustSpeed.__new__(RobustSpeed)  # one written before estimates were dated
    undated.__setstate__(estimate.__getstate__()[:4])
    assert undated == estimate and undated.learned_at == NEVER


def test_estimates_no_segment_taught_for_the_time_to_live_are_forgotten_and_lookups_fall_back():
    cell = h3i.latlng_to_cell(52.52, 13.405, PROFILE_RESOLUTION)
    district = h3i.cell_to_parent(cell, PARENT_RESOLUTION)
    estimates: dict = {}
    speeds = CausalSpeeds(default_mps=7.0)
    changed, published = learn_interval(estimates, [(cell, 8, 4.0)] * MIN_OBSERVATIONS)
    for e in changed.values():
        e.learned_at = MONDAY
    speeds.receive(MONDAY, district, published)
    assert speeds.table(MONDAY).speed(cell, 8) == 4.0
    assert forget_stale(estimates, MONDAY - 1) == {} and len(estimates) == len(changed)  # not yet stale
    day = day_after(MONDAY + 7 * DAY_MS + 1)
    assert day == MONDAY + 8 * DAY_MS and day_after(day) == day
    forgotten = forget_stale(estimates, day - 7 * DAY_MS)
    assert estimates == {} and set(forgotten) == set(published) and all(v != v for v in forgotten.values())
    speeds.receive(day, district, forgotten)
    assert speeds.table(day - 1).speed(cell, 8) == 4.0  # a lookup before the forgetting still has it
    assert speeds.table(day).speed(cell, 8) == 7.0  # then: as if never learned
    speeds.fold(day)
    assert speeds.base == {}  # and gone from the state
    never_published = {}
    changed, published = learn_interval(never_published, [(cell, 9, 4.0)])
    assert published == {} and forget_stale(never_published, MONDAY) == {} and never_published == {}


def test_an_interval_is_learned_the_same_whatever_order_its_segments_arrived_in():
    cell = h3i.latlng_to_cell(52.52, 13.405, PROFILE_RESOLUTION)
    rng = np.random.default_rng(4)
    segments = [(cell, 8, float(v)) for v in rng.uniform(2, 14, 40)]
    first, second = {}, {}
    changed, published = learn_interval(first, segments)
    district = h3i.cell_to_parent(cell, PARENT_RESOLUTION)
    # the hour factor is learned once the cell's usual speed rests on enough segments
    assert set(changed) == {*profile_keys(cell, 8), (district, HOUR_FACTOR + 8)} and set(published) == set(changed)
    _, again = learn_interval(second, list(reversed(segments)))
    assert again == published and {k: e.estimate for k, e in first.items()} == {
        k: e.estimate for k, e in second.items()}


def test_causal_speeds_show_a_lookup_only_the_versions_before_it():
    a, b = (1, 8), (2, 8)
    speeds = CausalSpeeds(default_mps=7.0)
    # a replay: later versions arrive before the lookups of earlier intervals
    speeds.receive(300, 11, {a: 5.0})
    speeds.receive(900, 11, {a: 12.0})
    speeds.receive(600, 12, {b: 9.0})
    assert speeds.table(0).speeds == {}
    assert speeds.table(300).speeds == {a: 5.0}
    assert speeds.table(600).speeds == {a: 5.0, b: 9.0}
    assert speeds.table(599).speeds == {a: 5.0, b: 9.0}  # never back to an older view
    changed, gone = speeds.fold(600)
    assert changed == {a: 5.0, b: 9.0} and gone == [(300, 11), (600, 12)]
    assert speeds.base == {a: 5.0, b: 9.0} and speeds.base_upto == 600 and list(speeds.pending) == [(900, 11)]
    assert speeds.table(900).speeds == {a: 12.0, b: 9.0}


def test_causal_speeds_restored_from_state_give_the_same_views():
    a, b = (1, 8), (2, 8)
    live = CausalSpeeds()
    for version, part, published in ((300, 1, {a: 5.0}), (600, 2, {b: 9.0}), (900, 1, {a: 12.0})):
        live.receive(version, part, published)
    live.table(300)
    live.fold(300)
    restored = CausalSpeeds.restored(live.base, live.base_upto, live.pending)
    for upto in (300, 600, 900):
        assert restored.table(upto).speeds == live.table(upto).speeds
    # a version published after a lookup past it (a late batch's speeds): seen from then on
    live.receive(450, 3, {(3, 8): 4.0})
    assert live.table(900).speeds[(3, 8)] == 4.0
    late = CausalSpeeds.restored(live.base, live.base_upto, live.pending)
    assert late.table(900).speeds == live.table(900).speeds


def test_a_cell_never_driven_at_rush_hour_is_slowed_by_its_districts_rush_hour_factor():
    """Vans crossed cell A only off-peak; cell B, in the same district, at both times:
    B says what rush hour does there, whatever the mix of streets driven in each hour."""
    a = h3i.latlng_to_cell(52.5200, 13.4050, PROFILE_RESOLUTION)
    b = next(c for c in h3i.grid_ring(a, 2) if h3i.cell_to_parent(c, PARENT_RESOLUTION)
             == h3i.cell_to_parent(a, PARENT_RESOLUTION))
    quiet, rush = 11, 8
    profile = SpeedProfile(default_mps=7.0)
    rng = np.random.default_rng(5)
    for _ in range(60):
        profile.observe(a, quiet, 12.0 * rng.uniform(0.97, 1.03))
        profile.observe(b, quiet, 6.0 * rng.uniform(0.97, 1.03))
        profile.observe(b, rush, 3.9 * rng.uniform(0.97, 1.03))  # rush hour: x 0.65
    assert abs(profile.speed(a, quiet) - 12.0) < 0.6
    # slower at rush hour than usual (B's rush speed over B's usual, all-hours, speed), and
    # still a fast street: the district's own rush-hour speed (B's streets only) says 3.9 m/s
    assert 6.0 < profile.speed(a, rush) < 0.8 * profile.speed(a, quiet)


def test_the_learning_order_is_fixed_not_by_speed_and_blind_to_a_last_ulp():
    """learn_interval's order (learning_order): computed from the numbers alone (the JVM port
    computes it too), uncorrelated with speed, and unmoved when a speed is one ulp off (libm's
    trig and the JVM's differ in the last ulp now and then)."""
    import math

    from udfs.speed_profiles import learning_order

    cell = h3i.latlng_to_cell(52.52, 13.405, PROFILE_RESOLUTION)
    rng = np.random.default_rng(6)
    segments = [(cell, 8, float(v)) for v in rng.uniform(2, 14, 2000)]
    assert learning_order(segments[0]) == learning_order((cell, 8, segments[0][2]))  # no hidden state
    speeds = [s for _, _, s in sorted(segments, key=learning_order)]
    rank = np.argsort(np.argsort(speeds))
    assert abs(np.corrcoef(rank, np.arange(len(rank)))[0, 1]) < 0.1  # neither ascending nor descending
    order = sorted(range(len(segments)), key=lambda i: learning_order(segments[i]))
    nudged = [(c, h, math.nextafter(s, math.inf)) for c, h, s in segments]
    assert sorted(range(len(nudged)), key=lambda i: learning_order(nudged[i])) == order
