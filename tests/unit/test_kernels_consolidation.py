"""The consolidation kernels agree with their plain-Python references, and a checker
written here (not using the kernel's helpers) confirms that no proposal breaks a
capacity, a delivery window or the carrier's availability."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.colocation import haversine_m
from udfs.kernels.consolidation import components, components_reference, plan_groups, plan_groups_reference

HOUR = 3_600_000
DAY = 1_790_000_000_000 - 1_790_000_000_000 % (24 * HOUR)  # a UTC midnight
LAT, LNG = 52.52, 13.40
M_PER_DEG_LAT = 111_194.93  # metres per degree of latitude on the 6,371,008.8 m sphere
M_PER_DEG_LNG = M_PER_DEG_LAT * math.cos(math.radians(LAT))

# ---------------------------------------------------------------- components


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_nodes=st.integers(0, 60), density=st.floats(0.0, 2.0))
def test_components_agree_with_the_reference(seed, n_nodes, density):
    rng = np.random.default_rng(seed)
    n_edges = int(density * n_nodes)
    a = rng.integers(0, max(n_nodes, 1), n_edges).astype(np.int64)
    b = rng.integers(0, max(n_nodes, 1), n_edges).astype(np.int64)
    labels = components(n_nodes, a, b)
    assert labels.tolist() == components_reference(n_nodes, a, b)
    # each label is the smallest node of its component, and the endpoints of an edge share one
    assert all(labels[i] <= i and labels[labels[i]] == labels[i] for i in range(n_nodes))
    assert (labels[a] == labels[b]).all()


def test_components_of_a_small_graph():
    labels = components(7, np.array([4, 1, 5, 6], np.int64), np.array([1, 3, 5, 2], np.int64))
    assert labels.tolist() == [0, 1, 2, 1, 1, 5, 2]
    with pytest.raises(ValueError):
        components(3, np.array([0], np.int64), np.array([3], np.int64))


# ---------------------------------------------------------------- batches


def batch(rng, groups, max_size):
    """A batch of groups within ~1 km of central Berlin, as the keyword arguments of plan_groups."""
    sizes = np.where(rng.random(groups) < 0.1, 0, rng.integers(1, max_size + 1, groups))
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    n = int(offsets[-1])
    group = np.repeat(np.arange(groups), sizes)
    lat = LAT + rng.uniform(-0.009, 0.009, n)
    lng = LNG + rng.uniform(-0.015, 0.015, n)
    same_address = np.flatnonzero(rng.random(n) < 0.15)[1:]  # ties for the nearest neighbour
    lat[same_address], lng[same_address] = lat[same_address - 1], lng[same_address - 1]
    partner = rng.integers(0, 4, n).astype(np.int64)
    window_start = DAY + rng.integers(8 * HOUR, 16 * HOUR, n)
    window_end = window_start + rng.integers(1 * HOUR, 4 * HOUR + 1, n)
    # a partner's own start is the same for all its rows of a group; unknown about a quarter of the time
    depot_lat = LAT + rng.uniform(-0.09, 0.09, (groups, 4))
    depot_lng = LNG + rng.uniform(-0.15, 0.15, (groups, 4))
    unknown = rng.random((groups, 4)) < 0.25
    own_lat = np.where(unknown, np.nan, depot_lat)[group, partner]
    own_lng = np.where(unknown, np.nan, depot_lng)[group, partner]
    decision_ms = DAY + rng.integers(7 * HOUR, 12 * HOUR, groups)

    n_cand = np.where(rng.random(groups) < 0.1, 0, rng.integers(1, 5, groups))
    cand_offsets = np.concatenate(([0], np.cumsum(n_cand))).astype(np.int64)
    cand_group = np.repeat(np.arange(groups), n_cand)
    cand_partner = rng.integers(0, 4, len(cand_group)).astype(np.int64)
    at_depot = rng.random(len(cand_group)) < 0.7
    cand_lat = np.where(at_depot, depot_lat[cand_group, cand_partner], LAT + rng.uniform(-0.05, 0.05, len(cand_group)))
    cand_lng = np.where(at_depot, depot_lng[cand_group, cand_partner], LNG + rng.uniform(-0.08, 0.08, len(cand_group)))
    cand_from = decision_ms[cand_group] + rng.integers(-HOUR, 2 * HOUR, len(cand_group))
    cand_to = cand_from + rng.integers(HOUR // 4, 10 * HOUR, len(cand_group))  # some too short
    return dict(group_offsets=offsets, lat=lat, lng=lng, window_start=window_start.astype(np.int64),
                window_end=window_end.astype(np.int64), volume_l=rng.uniform(1, 200, n), partner=partner,
                own_lat=own_lat, own_lng=own_lng, decision_ms=decision_ms.astype(np.int64), cand_offsets=cand_offsets,
                cand_partner=cand_partner, cand_lat=cand_lat, cand_lng=cand_lng, cand_from=cand_from.astype(np.int64),
                cand_to=cand_to.astype(np.int64), cand_spare_volume=rng.uniform(0, 800, len(cand_group)),
                cand_spare_stops=rng.integers(0, 12, len(cand_group)).astype(np.int64))


def plan(args, detour=1.3, speed_mps=7.0, dwell_s=180.0):
    return plan_groups(**args, detour=detour, speed_mps=speed_mps, dwell_s=dwell_s)


def assert_proposals_hold(args, result, detour, speed_mps, dwell_s):
    """Independent check of every proposal: a permutation of the group's rows that meets
    every window and the carrier's availability, within the carrier's spare capacity,
    whose length is km_consolidated, and that saves km. Returns the number of proposals."""
    chosen, km_separate, km_consolidated, order = result
    offsets, proposals = args["group_offsets"], 0
    for g in range(len(offsets) - 1):
        rows = range(offsets[g], offsets[g + 1])
        c = chosen[g]
        if c < 0:
            assert math.isnan(km_consolidated[g]) and all(order[r] == -1 for r in rows)
            continue
        proposals += 1
        assert args["cand_offsets"][g] <= c < args["cand_offsets"][g + 1]
        tour = [int(order[r]) for r in rows]
        assert sorted(tour) == list(rows)
        others = [r for r in rows if args["partner"][r] != args["cand_partner"][c]]
        assert sum(args["volume_l"][r] for r in others) <= args["cand_spare_volume"][c]
        assert len(others) <= args["cand_spare_stops"][c]
        t = max(args["decision_ms"][g], args["cand_from"][c])
        here, metres = (args["cand_lat"][c], args["cand_lng"][c]), 0.0
        for r in tour:
            leg = haversine_m(*here, args["lat"][r], args["lng"][r])
            arrival = t + leg * detour / speed_mps * 1000
            assert arrival < args["window_end"][r] and arrival <= args["cand_to"][c]
            t = max(arrival, args["window_start"][r]) + dwell_s * 1000
            here, metres = (args["lat"][r], args["lng"][r]), metres + leg
        assert km_consolidated[g] == pytest.approx(metres * detour / 1000, rel=1e-9, abs=1e-9)
        assert km_separate[g] - km_consolidated[g] > 0
    return proposals


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), groups=st.integers(1, 8), max_size=st.integers(1, 16),
       detour=st.floats(1.0, 2.0), speed=st.floats(3.0, 15.0), dwell=st.floats(0, 600))
def test_plan_groups_agrees_with_the_reference_and_never_breaks_a_capacity_or_a_window(seed, groups, max_size,
                                                                                        detour, speed, dwell):
    args = batch(np.random.default_rng(seed), groups, max_size)
    got = plan(args, detour, speed, dwell)
    chosen, km_separate, km_consolidated, order = plan_groups_reference(**args, detour=detour, speed_mps=speed,
                                                                        dwell_s=dwell)
    assert got[0].tolist() == chosen
    assert got[3].tolist() == order
    np.testing.assert_allclose(got[1], km_separate, rtol=1e-9, atol=0)
    np.testing.assert_allclose(got[2], km_consolidated, rtol=1e-9, atol=0)  # NaN where there is no proposal
    assert_proposals_hold(args, got, detour, speed, dwell)


def test_random_batches_yield_both_proposals_and_refusals():
    # the property test above is only meaningful if its batches exercise both outcomes
    results = [plan(batch(np.random.default_rng(seed), 8, 10))[0] for seed in range(20)]
    chosen = np.concatenate(results)
    assert (chosen >= 0).sum() >= 10 and (chosen < 0).sum() >= 10


# ---------------------------------------------------------------- hand-built groups


def offset(north_m, east_m):
    """A point north_m and east_m from the centre, in degrees."""
    return LAT + north_m / M_PER_DEG_LAT, LNG + east_m / M_PER_DEG_LNG


def group(stops, candidates, decision_ms=DAY + 8 * HOUR):
    """One group. stops: (partner, (lat, lng), own (lat, lng) or None, window_start, window_end, volume);
    candidates: (partner, (lat, lng), from, to, spare_volume, spare_stops)."""
    nan = (math.nan, math.nan)
    return dict(group_offsets=np.array([0, len(stops)], np.int64),
                lat=np.array([s[1][0] for s in stops]), lng=np.array([s[1][1] for s in stops]),
                window_start=np.array([s[3] for s in stops], np.int64),
                window_end=np.array([s[4] for s in stops], np.int64), volume_l=np.array([s[5] for s in stops], float),
                partner=np.array([s[0] for s in stops], np.int64),
                own_lat=np.array([(s[2] or nan)[0] for s in stops]),
                own_lng=np.array([(s[2] or nan)[1] for s in stops]),
                decision_ms=np.array([decision_ms], np.int64), cand_offsets=np.array([0, len(candidates)], np.int64),
                cand_partner=np.array([c[0] for c in candidates], np.int64),
                cand_lat=np.array([c[1][0] for c in candidates]), cand_lng=np.array([c[1][1] for c in candidates]),
                cand_from=np.array([c[2] for c in candidates], np.int64),
                cand_to=np.array([c[3] for c in candidates], np.int64),
                cand_spare_volume=np.array([c[4] for c in candidates], float),
                cand_spare_stops=np.array([c[5] for c in candidates], np.int64))


def plan_both(args):
    """The kernel's result, after checking the reference agrees and the proposal holds."""
    got = plan(args)
    expected = plan_groups_reference(**args, detour=1.3, speed_mps=7.0, dwell_s=180.0)
    assert got[0].tolist() == expected[0] and got[3].tolist() == expected[3]
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-9, atol=0)
    np.testing.assert_allclose(got[2], expected[2], rtol=1e-9, atol=0)
    assert_proposals_hold(args, got, 1.3, 7.0, 180.0)
    return got


DEPOT_A, DEPOT_B = offset(8000, 0), offset(0, -8000)
ALL_DAY = (DAY + 8 * HOUR, DAY + 18 * HOUR)


def two_partners(spare_volume=500.0, spare_stops=10, last_window=ALL_DAY, cand_to=DAY + 18 * HOUR):
    """Partners 0 and 1, three deliveries each within ~30 m of the centre, depots 8 km north
    and 8 km west; partner 0 is the candidate, at its depot. ``last_window`` is the window
    of the last row (partner 1's, the northmost: the first stop from the north)."""
    near = [offset(10, 5), offset(-20, 10), offset(5, -25), offset(15, 20), offset(-10, -10), offset(25, 0)]
    windows = [ALL_DAY] * 5 + [last_window]
    stops = [(k % 2, near[k], DEPOT_A if k % 2 == 0 else DEPOT_B, *windows[k], 40.0) for k in range(6)]
    return group(stops, [(0, DEPOT_A, DAY + 8 * HOUR, cand_to, spare_volume, spare_stops)])


def test_two_co_located_partners_save_about_one_depot_trip():
    chosen, km_separate, km_consolidated, _ = plan_both(two_partners())
    depot_trip_km = haversine_m(*DEPOT_B, LAT, LNG) * 1.3 / 1000
    assert chosen[0] == 0
    assert km_separate[0] - km_consolidated[0] == pytest.approx(depot_trip_km, rel=0.01)


def test_a_carrier_without_spare_volume_gets_no_proposal():
    assert plan_both(two_partners(spare_volume=120.0))[0][0] == 0  # partner 1 ships 3 x 40 l
    assert plan_both(two_partners(spare_volume=119.0))[0][0] == -1


def test_a_carrier_without_spare_stops_gets_no_proposal():
    assert plan_both(two_partners(spare_stops=3))[0][0] == 0
    assert plan_both(two_partners(spare_stops=2))[0][0] == -1


def test_a_window_the_carrier_cannot_reach_gives_no_proposal():
    # 8 km x 1.3 at 7 m/s: the carrier needs ~25 min from its depot
    drive_ms = haversine_m(*DEPOT_A, LAT, LNG) * 1.3 / 7.0 * 1000
    assert plan_both(two_partners(last_window=(DAY + 7 * HOUR, DAY + 8 * HOUR + int(drive_ms) + 60_000)))[0][0] == 0
    assert plan_both(two_partners(last_window=(DAY + 7 * HOUR, DAY + 8 * HOUR + int(drive_ms) - 60_000)))[0][0] == -1


def test_a_carrier_available_too_briefly_gets_no_proposal():
    # the sixth stop is reached after ~25 min of driving and five dwells of 3 min: 35 min are not enough
    assert plan_both(two_partners(cand_to=DAY + 9 * HOUR))[0][0] == 0
    assert plan_both(two_partners(cand_to=DAY + 8 * HOUR + 35 * 60_000))[0][0] == -1


def test_the_earliest_deadline_order_rescues_a_window_the_short_tour_misses():
    # the carrier comes from 5 km north: the short tour serves A (200 m north) before B (centre),
    # but B's window closes 1,050 s after the start, before the short tour gets there
    start, a, b = offset(5000, 0), offset(200, 0), (LAT, LNG)
    closes = DAY + 8 * HOUR + 1_050_000
    args = group([(0, a, start, *ALL_DAY, 10.0), (1, b, DEPOT_B, DAY + 7 * HOUR, closes, 10.0)],
                 [(0, start, DAY + 8 * HOUR, DAY + 18 * HOUR, 100.0, 5)])
    chosen, _, km_consolidated, order = plan_both(args)
    assert chosen[0] == 0
    assert order.tolist() == [1, 0]  # B first
    edf_km = (haversine_m(*start, *b) + haversine_m(*b, *a)) * 1.3 / 1000
    short_km = (haversine_m(*start, *a) + haversine_m(*a, *b)) * 1.3 / 1000
    assert km_consolidated[0] == pytest.approx(edf_km, rel=1e-9) and edf_km > short_km
    # and the short tour would indeed miss B's window
    assert DAY + 8 * HOUR + (short_km * 1000 / 7.0 + 180) * 1000 >= closes


def path_metres(start, points):
    return sum(haversine_m(*p, *q) for p, q in zip([start] + points[:-1], points))


def test_two_opt_shortens_a_crossing_nearest_neighbour_path():
    # NN from the depot heads 100 m west and on to the south-west, then drives back to the
    # north-east stop across its own first leg; serving the north-east stop first is shorter
    start = offset(0, 0)
    points = [offset(150, 50), offset(0, -100), offset(-100, -200), offset(-200, -200)]
    nn, left = [], list(points)
    while left:
        here = nn[-1] if nn else start
        nearest = min(left, key=lambda p: haversine_m(*here, *p))
        nn.append(nearest)
        left.remove(nearest)
    nn_km = path_metres(start, nn) * 1.3 / 1000
    best_km = min(path_metres(start, list(p)) for p in itertools.permutations(points)) * 1.3 / 1000
    # the partner's own van as the candidate: it has the room (it takes nothing of others), so the
    # group is planned and its own tour measured
    args = group([(0, p, start, *ALL_DAY, 1.0) for p in points], [(0, start, DAY, DAY + HOUR, 0.0, 0)])
    km_separate = plan_both(args)[1][0]
    assert km_separate < nn_km - 0.15  # 772 m vs 612 m straight
    assert km_separate == pytest.approx(best_km, rel=1e-9)  # here 2-opt finds the shortest path


def test_an_empty_group_and_a_group_without_candidates():
    args = group([(0, offset(0, 0), None, *ALL_DAY, 5.0), (1, offset(30, 0), None, *ALL_DAY, 5.0)], [])
    chosen, km_separate, km_consolidated, order = plan_both(args)
    assert chosen.tolist() == [-1] and order.tolist() == [-1, -1] and math.isnan(km_consolidated[0])
    assert math.isnan(km_separate[0])  # no candidate with room: the partners' own trips are not measured
    args["cand_offsets"] = np.array([0, 1], np.int64)  # a candidate of partner 0 with room for partner 1's stop
    for name, value in dict(cand_partner=0, cand_lat=LAT, cand_lng=LNG, cand_from=DAY, cand_to=DAY + HOUR,
                            cand_spare_volume=5.0, cand_spare_stops=1).items():
        args[name] = np.array([value], args[name].dtype)
    assert plan_both(args)[1][0] == 0.0  # each partner starts at its only delivery
    empty = group([], [(0, DEPOT_A, DAY, DAY + HOUR, 1.0, 1)])
    assert plan_both(empty)[0].tolist() == [-1]
