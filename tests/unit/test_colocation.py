"""Exact co-location: the cell index against brute force, on random points and at the edges."""
import math
import random

import h3.api.basic_int as h3i
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lastmile.simulator import truth as truth_mod  # independent reference (grid + brute force)
from udfs.colocation import (
    ACCEPTED,
    DUPLICATE,
    SUPERSEDED,
    CellIndex,
    Task,
    cells_within,
    colocated,
    haversine_m,
    is_late,
    make_match,
    register,
    resolution_for_radius,
    task_from_record,
)

HOUR = 3_600_000


def destination(lat, lng, bearing_deg, distance_m):
    """The point at ``distance_m`` along ``bearing_deg`` on the sphere (direct geodesic problem)."""
    r = 6_371_008.8
    p1, l1, b, d = math.radians(lat), math.radians(lng), math.radians(bearing_deg), distance_m / r
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


class Engine:
    """The streaming algorithm without Flink: register per shipment, then cell indexes."""

    def __init__(self, radius_m):
        self.radius, self.res = radius_m, resolution_for_radius(radius_m)
        self.shipments, self.cells, self.log = {}, {}, []

    def feed(self, record):
        task = task_from_record(record, self.res)
        verdict, stored, messages = register(self.shipments.get(task.key), task, self.radius, self.res)
        self.shipments[task.key] = stored
        for m in messages:
            index = self.cells.setdefault(m.cell, CellIndex(m.cell, self.radius))
            self.log += index.add(m.task) if m.task is not None else index.remove(m.remove_key, m.by_revision)
        return verdict

    def current(self):
        best = {}
        for m in self.log:
            if m.match_id not in best or m.version > best[m.match_id].version:
                best[m.match_id] = m
        return sorted((m.partner_a, m.shipment_a, m.partner_b, m.shipment_b) for m in best.values()
                      if not m.retracted)


def record(i, lat, lng, start=0, end=HOUR, partner=None, t=0, shipment=None, key=None):
    return {"partner_id": partner or f"p{i % 3}", "shipment_id": shipment or f"s{i}", "event_time": t,
            "event_id": f"e{i}-{t}", "dest_lat": lat, "dest_lng": lng, "window_start": start,
            "window_end": end, "recipient_key": key}


@pytest.mark.parametrize("radius", [1.0, 25.0, 150.0, 149.99, 400.0, 2500.0])
def test_resolution_is_the_finest_whose_edge_reaches_the_radius(radius):
    res = resolution_for_radius(radius)
    assert h3i.average_hexagon_edge_length(res, "m") >= radius
    assert res == 15 or h3i.average_hexagon_edge_length(res + 1, "m") < radius


@pytest.mark.parametrize("radius", [5.0, 150.0, 1000.0, 20_000.0])
@pytest.mark.parametrize("seed", range(3))
def test_every_point_within_the_radius_lies_in_a_stored_cell(radius, seed):
    """Points on and inside the circle of radius R around p fall in p's home or replica cells,
    anywhere on Earth, near pentagons too."""
    rng = random.Random(seed)
    res = resolution_for_radius(radius)
    centres = [(rng.uniform(-89, 89), rng.uniform(-180, 180)) for _ in range(60)]
    centres += [(rng.uniform(52.3, 52.7), rng.uniform(13.1, 13.7)) for _ in range(60)]
    centres += [h3i.cell_to_latlng(p) for p in h3i.get_pentagons(res)[:6]]  # the most distorted cells
    for lat, lng in centres:
        home, others = cells_within(lat, lng, radius, res)
        stored = {home, *others}
        for _ in range(24):
            q = destination(lat, lng, rng.uniform(0, 360), radius * rng.choice([1.0, 0.999, rng.random()]))
            assert h3i.latlng_to_cell(q[0], q[1], res) in stored


def _random_records(rng, n, centre_lat, spread_deg, partners=3):
    out = []
    for i in range(n):
        start = int(rng.integers(0, 8)) * HOUR // 2
        out.append(record(i, centre_lat + rng.normal(0, spread_deg), 13.4 + rng.normal(0, spread_deg * 1.5),
                          start, start + int(rng.integers(1, 5)) * HOUR // 2, partner=f"p{rng.integers(partners)}"))
    return out


@pytest.mark.parametrize("centre_lat", [0.0, 52.52, -33.9, 68.0, 85.0, -86.0])
@pytest.mark.parametrize("radius", [150.0, 60.0])
def test_engine_equals_brute_force_on_random_points(centre_lat, radius):
    rng = np.random.default_rng(int(abs(centre_lat) * 10 + radius))
    records = _random_records(rng, 500, centre_lat, radius / 111_000 * 6)
    engine = Engine(radius)
    for r in records:
        engine.feed(r)
    expected = truth_mod.brute_force_pairs(records, radius)
    assert engine.current() == expected
    assert len(expected) > 10
    assert len(engine.log) == len(expected)  # reported exactly once, nothing retracted


def test_pairs_straddling_cell_edges_at_several_resolutions():
    """Pairs placed across H3 edges (and vertices) of the index resolution are all found once."""
    for radius in (40.0, 150.0, 900.0):
        res = resolution_for_radius(radius)
        engine, records, i = Engine(radius), [], 0
        rng = random.Random(int(radius))
        for cell in list(h3i.grid_disk(h3i.latlng_to_cell(48.137, 11.575, res), 2))[:12]:
            for vlat, vlng in h3i.cell_to_boundary(cell):
                for _ in range(3):
                    a = destination(vlat, vlng, rng.uniform(0, 360), rng.uniform(0, radius / 2))
                    b = destination(vlat, vlng, rng.uniform(0, 360), rng.uniform(0, radius / 2))
                    records += [record(i, *a, partner="left"), record(i + 1, *b, partner="right")]
                    i += 2
        for r in records:
            engine.feed(r)
        expected = truth_mod.brute_force_pairs(records, radius)
        assert engine.current() == expected
        assert len(engine.log) == len(expected)
        homes = {h3i.latlng_to_cell(r["dest_lat"], r["dest_lng"], res) for r in records}
        assert len(homes) > 10


@pytest.mark.parametrize("factor, matched", [(0.99, True), (1.0, True), (1.01, False)])
def test_distance_threshold_is_inclusive(factor, matched):
    radius = 150.0
    a = (52.52, 13.405)
    b = destination(*a, 73.0, radius * factor)
    engine = Engine(radius)
    engine.feed(record(1, *a, partner="x"))
    engine.feed(record(2, *b, partner="y"))
    assert bool(engine.current()) == (matched and haversine_m(*a, *b) <= radius)


@pytest.mark.parametrize("lat", [89.999, -89.999, 0.0])
def test_far_north_south_and_across_the_antimeridian(lat):
    a = (lat, 179.9999)
    b = destination(*a, 90.0, 100.0)  # crosses +/-180
    engine = Engine(150.0)
    engine.feed(record(1, *a, partner="x"))
    engine.feed(record(2, *b, partner="y"))
    assert engine.current() == [("x", "s1", "y", "s2")]


def test_windows_that_only_touch_do_not_match_and_one_ms_overlap_does():
    engine = Engine(150.0)
    engine.feed(record(1, 52.5, 13.4, 0, HOUR, partner="x"))
    engine.feed(record(2, 52.5, 13.4, HOUR, 2 * HOUR, partner="y"))
    assert engine.current() == []
    engine.feed(record(3, 52.5, 13.4, HOUR - 1, 2 * HOUR, partner="z"))
    assert engine.current() == [("x", "s1", "z", "s3"), ("y", "s2", "z", "s3")]


def test_same_partner_never_matches_and_same_recipient_flag():
    engine = Engine(150.0)
    engine.feed(record(1, 52.5, 13.4, partner="x", key="k" * 64))
    engine.feed(record(2, 52.5, 13.4, partner="x", key="k" * 64))
    assert engine.current() == []
    engine.feed(record(3, 52.5, 13.4, partner="y", key="k" * 64))
    engine.feed(record(4, 52.5, 13.4, partner="z", key=None))
    flags = {(m.shipment_a, m.shipment_b): m.same_recipient for m in engine.log}
    assert flags[("s1", "s3")] and flags[("s2", "s3")] and not flags[("s1", "s4")]


def test_reannouncement_replaces_and_retracts_what_no_longer_holds():
    engine = Engine(150.0)
    engine.feed(record(1, 52.5, 13.4, 0, HOUR, partner="x", shipment="A", t=10))
    engine.feed(record(2, 52.5, 13.4, 0, HOUR, partner="y", shipment="B", t=10))
    assert engine.current() == [("x", "A", "y", "B")]
    # A moves its window away: the match is undone
    assert engine.feed(record(3, 52.5, 13.4, 2 * HOUR, 3 * HOUR, partner="x", shipment="A", t=20)) == ACCEPTED
    assert engine.current() == []
    # ... and moves far away and back into the window: matched again, same match_id
    engine.feed(record(4, 48.1, 11.5, 0, HOUR, partner="x", shipment="A", t=30))
    assert engine.current() == []
    engine.feed(record(5, 52.5001, 13.4, 0, HOUR, partner="x", shipment="A", t=40))
    assert engine.current() == [("x", "A", "y", "B")]
    assert len({m.match_id for m in engine.log}) == 1


def test_older_and_duplicate_announcements_change_nothing():
    engine = Engine(150.0)
    first = record(1, 52.5, 13.4, 0, HOUR, partner="x", shipment="A", t=20)
    engine.feed(record(2, 52.5, 13.4, 0, HOUR, partner="y", shipment="B", t=5))
    assert engine.feed(first) == ACCEPTED
    assert engine.feed(dict(first)) == DUPLICATE
    assert engine.feed(record(9, 40.0, 3.0, 5 * HOUR, 6 * HOUR, partner="x", shipment="A", t=10)) == SUPERSEDED
    assert engine.current() == [("x", "A", "y", "B")]
    assert len(engine.log) == 1


def test_versions_order_any_delivery_of_the_updates():
    engine = Engine(150.0)
    engine.feed(record(1, 52.5, 13.4, partner="x", shipment="A", t=1))
    engine.feed(record(2, 52.5, 13.4, partner="y", shipment="B", t=99))  # matched while B is "newer"
    engine.feed(record(3, 52.5, 13.4, 5 * HOUR, 6 * HOUR, partner="x", shipment="A", t=50))
    for shuffled in (engine.log, engine.log[::-1]):
        best = max(shuffled, key=lambda m: m.version)
        assert best.retracted


def test_lateness_is_measured_from_the_window_end():
    task = Task("x", "s", 0, "e", 0.0, 0.0, 0, HOUR, None, 0)
    assert not is_late(task, HOUR + 600_000, 600_000)
    assert is_late(task, HOUR + 600_001, 600_000)


def test_expiry_drops_only_finished_windows():
    index = CellIndex(1, 150.0)
    index.add(Task("x", "a", 0, "e1", 0.0, 0.0, 0, HOUR, None, 1))
    index.add(Task("y", "b", 0, "e2", 0.0, 0.0, 0, 3 * HOUR, None, 1))
    assert index.expire(2 * HOUR) == 1 and list(index.tasks) == ["y:b"]


@settings(max_examples=60, deadline=None)
@given(points=st.lists(st.tuples(st.floats(-0.004, 0.004), st.floats(-0.004, 0.004), st.integers(0, 3),
                                 st.integers(0, 6), st.integers(1, 4)), min_size=2, max_size=40),
       lat0=st.floats(-80, 80), lng0=st.floats(-179, 179))
def test_property_engine_equals_brute_force_anywhere(points, lat0, lng0):
    records = [record(i, lat0 + dy, lng0 + dx, s * HOUR // 2, (s + w) * HOUR // 2, partner=f"p{p}")
               for i, (dy, dx, p, s, w) in enumerate(points)]
    engine = Engine(150.0)
    for r in records:
        engine.feed(r)
    assert engine.current() == truth_mod.brute_force_pairs(records, 150.0)


def test_match_orders_the_pair_and_is_deterministic():
    a = Task("zeta", "1", 5, "e1", 52.5, 13.4, 0, 2 * HOUR, None, 0)
    b = Task("alpha", "9", 7, "e2", 52.5005, 13.4, HOUR, 3 * HOUR, None, 0)
    m1, m2 = make_match(a, b, colocated(a, b, 150.0)), make_match(b, a, colocated(b, a, 150.0))
    assert m1 == m2
    assert (m1.partner_a, m1.partner_b) == ("alpha", "zeta")
    assert (m1.overlap_start, m1.overlap_end, m1.detected_at) == (HOUR, 2 * HOUR, 7)
