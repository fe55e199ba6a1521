"""core.Colocation, core.CellIndex and core.ColocationH3 (udfs/jvm) against udfs.colocation and
h3-py 4.5, the reference.

Floats cross the harness as ``float.hex`` text both ways, so every comparison is of the exact
bits. Where the two may differ, by an ulp of java.lang.Math against glibc's libm: a haversine
distance (~0.1 % of inputs, core.Geo), the centre and vertices of a cell (H3's asin and atan2),
and so a circumradius, and the cell of a point within ~1e-13 degrees of a cell vertex. Those are
bounded and counted below; everything else (cells of points, the cells a task is stored in,
matches with their rounded distances, verdicts, routed messages, cell contents) must be equal.
"""
import json
import math
import zlib

import h3.api.basic_int as h3i
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs import colocation as co
from udfs.colocation import CellIndex, Match, Routed, Task
from udfs.h3cells import SHARED_RESOLUTION

HOUR = 3_600_000
RADII = (50.0, 150.0, 500.0, 2000.0)
CENTRES = {"berlin": (52.52, 13.405), "equator": (0.0, -78.5), "south": (-33.9, 18.42), "north": (69.65, 18.96),
           "antimeridian": (-16.5, 179.999)}
AREA = "Colocation"


def hx(x: float) -> str:
    return float(x).hex()


def fx(s: str) -> float:
    return float.fromhex(s)


def calls(jvm, op: str, many: list, area: str = AREA) -> list:
    """``jvm.calls`` in chunks of under 32 kB of requests: a round trip writes every request
    before it reads a reply, so requests that overflow the pipe while the replies fill the other
    one would block both processes."""
    out, chunk, size = [], [], 0
    for args in many:
        chunk.append(args)
        size += len(json.dumps(args)) + 40
        if size > 32_000:
            out += jvm.calls(area, op, chunk)
            chunk, size = [], 0
    return out + (jvm.calls(area, op, chunk) if chunk else [])


def ulps(a: float, b: float) -> float:
    return abs(a - b) / math.ulp(max(abs(a), abs(b)))


def to_java(t: Task) -> list:
    return [t.partner_id, t.shipment_id, t.event_time, t.event_id, hx(t.lat), hx(t.lng), t.window_start,
            t.window_end, t.recipient_key, t.home_cell, t.revision, hx(t.volume_l)]


def task_of(j: list) -> Task:
    return Task(*j[:4], fx(j[4]), fx(j[5]), *j[6:11], fx(j[11]))


def match_of(j: list) -> Match:
    return Match(*j[:6], fx(j[6]), *j[7:])


def routed_of(j: list) -> Routed:
    return Routed(j[0], None if j[1] is None else task_of(j[1]), j[2], j[3])


def destination(lat, lng, bearing_deg, distance_m):
    """The point at ``distance_m`` along ``bearing_deg`` on the sphere (direct geodesic problem)."""
    r = co.EARTH_RADIUS_M
    p1, l1, b, d = math.radians(lat), math.radians(lng), math.radians(bearing_deg), distance_m / r
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


def border_points(rng, res: int, n_cells: int, offsets=(1e-12, 1e-11, 1e-9)) -> list[tuple[float, float]]:
    """Points a hair off the vertices and edge midpoints of cells (``offsets`` in degrees, 0: on
    them, as h3-py computes them): where rounding decides the cell. Pentagons included."""
    out = []
    seeds = [h3i.latlng_to_cell(float(lat), float(lng), res)
             for lat, lng in zip(rng.uniform(-88, 88, n_cells), rng.uniform(-180, 180, n_cells))]
    seeds += list(h3i.get_pentagons(res))[:3]
    for cell in seeds:
        boundary = h3i.cell_to_boundary(cell)
        corners = list(boundary) + [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
                                    for a, b in zip(boundary, boundary[1:] + boundary[:1])]
        for lat, lng in corners:
            for eps in offsets:
                out.append((lat + float(rng.choice([-eps, eps])), lng + float(rng.choice([-eps, eps]))))
    return [(lat, (lng + 540) % 360 - 180 if abs(lng) > 180 else lng) for lat, lng in out if -90 <= lat <= 90]


# --- H3: core.ColocationH3 (a port of H3 C 4.5) returns what h3-py 4.5 does ---------------------------

def test_average_edges_and_h3_pentagons_agree(jvm):
    """The edge table is h3-py's (h3-java 4.1.1, on H3 C 4.1, still has the table H3 4.2 corrected)."""
    for res in range(16):
        assert fx(jvm.call(AREA, "edge", [res])) == h3i.average_hexagon_edge_length(res, "m")
        assert sorted(jvm.call(AREA, "pentagons", [res])) == sorted(h3i.get_pentagons(res))


def test_h3_latlng_to_cell_agrees_anywhere_and_a_hair_off_cell_borders(jvm):
    rng = np.random.default_rng(11)
    points = list(zip(rng.uniform(-90, 90, 1000).tolist(), rng.uniform(-180, 180, 1000).tolist()))
    points += [(89.9999999, 12.0), (-90.0, 0.0), (90.0, 180.0), (0.0, -180.0), (0.0, 180.0), (-0.0, -0.0),
               (52.52, 13.405), (-33.9, 18.42)]
    requests, expected = [], []
    for res in range(16):
        for lat, lng in points + border_points(rng, res, 12):
            requests.append([hx(lat), hx(lng), res])
            expected.append(h3i.latlng_to_cell(lat, lng, res))
    assert calls(jvm, "cell", requests) == expected
    assert len(requests) > 20_000
    # every valid H3 index has its top bit clear: Java's signed order of cells is Python's order
    assert all(0 < cell < 2 ** 63 for cell in expected)


def test_h3_latlng_to_cell_on_cell_vertices_agrees_but_for_a_few(jvm):
    """Points on a vertex (as h3-py computes it) or within 1e-13 degrees (~1e-8 m) of one: there
    an ulp of asin/acos/atan2 (fdlibm against glibc) can tip the cell, on a few percent of them.
    One ulp off an edge midpoint tips it about never; h3-java 4.1.1 missed ~4 % at 1e-9 degrees."""
    rng = np.random.default_rng(13)
    requests, expected = [], []
    for res in range(16):
        for lat, lng in border_points(rng, res, 20, offsets=(0.0, 1e-13)):
            requests.append([hx(lat), hx(lng), res])
            expected.append(h3i.latlng_to_cell(lat, lng, res))
    java = calls(jvm, "cell", requests)
    differ = sum(j != p for j, p in zip(java, expected))
    print(f"latLngToCell on or within 1e-13 degrees of a vertex or edge midpoint: {differ} of {len(java)} differ")
    assert differ <= 0.01 * len(java)
    cells = {c for c in java + expected}
    assert all(0 < cell < 2 ** 63 for cell in cells)


def test_h3_disk_centre_boundary_and_parent_agree(jvm):
    """gridDisk and cellToParent (h3-java: integer logic, unchanged since H3 4.1) agree exactly;
    centres and vertices (asin, atan2 of the port) bit for bit on ~85 %, within 1e-12 degrees
    (~0.1 micrometre) everywhere."""
    rng = np.random.default_rng(12)
    cells = []
    for res in range(16):
        cells += [h3i.latlng_to_cell(float(lat), float(lng), res)
                  for lat, lng in zip(rng.uniform(-89, 89, 40), rng.uniform(-180, 180, 40))]
        cells += [h3i.latlng_to_cell(*CENTRES[name], res) for name in CENTRES]
        pentagons = list(h3i.get_pentagons(res))
        cells += pentagons + [c for p in pentagons[:4] for c in h3i.grid_disk(p, 1)]
    disks = calls(jvm, "disk", [[c, 2] for c in cells])
    assert [sorted(d) for d in disks] == [sorted(h3i.grid_disk(c, 2)) for c in cells]
    assert all(0 < c < 2 ** 63 for d in disks for c in d)
    requests = [[c, p] for c in cells for p in range(h3i.get_resolution(c) + 1)]
    assert calls(jvm, "parent", requests) == [h3i.cell_to_parent(c, p) for c, p in requests]
    java, python = [], []
    for c, centre, boundary in zip(cells, calls(jvm, "centre", [[c] for c in cells]),
                                   calls(jvm, "boundary", [[c] for c in cells])):
        assert len(boundary) == len(h3i.cell_to_boundary(c))  # distortion vertices included, the same ones
        java += [fx(x) for x in centre] + [fx(x) for v in boundary for x in v]
        python += [*h3i.cell_to_latlng(c), *(x for v in h3i.cell_to_boundary(c) for x in v)]
    assert max(abs(j - p) for j, p in zip(java, python)) <= 1e-12
    assert sum(j == p for j, p in zip(java, python)) >= 0.8 * len(java)


# --- the index geometry ------------------------------------------------------------------------------

def test_resolution_for_radius_agrees_also_at_the_edge_lengths(jvm):
    radii = [0.5, 1.0, 25.0, 50.0, 60.0, 149.99, 150.0, 400.0, 500.0, 2000.0, 2500.0, 20_000.0, 1e7, 0.0]
    for res in range(16):
        edge = h3i.average_hexagon_edge_length(res, "m")
        radii += [edge, math.nextafter(edge, 0), math.nextafter(edge, math.inf)]
    java = calls(jvm, "resolution", [[hx(r)] for r in radii])
    assert java == [co.resolution_for_radius(r) for r in radii]
    assert set(java) >= {9, 10, 8, 7}


def _index_points(rng, res: int) -> list[tuple[float, float]]:
    points = [(float(lat), float(lng)) for lat, lng in zip(rng.uniform(-85, 85, 60), rng.uniform(-180, 180, 60))]
    for lat, lng in CENTRES.values():
        points += [(lat + float(dy), lng + float(dx)) for dy, dx in rng.normal(0, 0.02, (30, 2))]
    pentagons = list(h3i.get_pentagons(res))
    points += [h3i.cell_to_latlng(p) for p in pentagons]
    points += [(lat + 1e-11, lng - 1e-11) for p in pentagons[:4] for lat, lng in h3i.cell_to_boundary(p)]
    points += border_points(rng, res, 6)
    return points


@pytest.mark.parametrize("radius", RADII)
def test_cells_within_and_circumradii_agree(jvm, radius):
    """The cells a task is stored in: equal. Circumradii (from the centres and vertices) within
    1e-9 relative (they only meet the radius with 1e-6 of slack)."""
    rng = np.random.default_rng(int(radius))
    res = co.resolution_for_radius(radius)
    points = _index_points(rng, res)
    java = calls(jvm, "cells_within", [[hx(lat), hx(lng), hx(radius), res] for lat, lng in points])
    python = [co.cells_within(lat, lng, radius, res) for lat, lng in points]
    assert [(j[0], tuple(j[1:])) for j in java] == python
    assert sum(len(others) for _home, others in python) > len(points)  # the rings are not empty
    cells = sorted({c for home, others in python for c in (home, *others)})
    circumradii = [fx(r) for r in calls(jvm, "circumradius", [[c] for c in cells])]
    reference = [co._circumradius_m(c) for c in cells]
    print(f"circumradius at {radius} m: {sum(j != p for j, p in zip(circumradii, reference))} of {len(cells)} "
          f"differ, by {max(abs(j - p) / p for j, p in zip(circumradii, reference)):.1e} at most (relative)")
    assert all(abs(j - p) <= 1e-9 * p for j, p in zip(circumradii, reference))
    assert sum(j == p for j, p in zip(circumradii, reference)) >= 0.3 * len(cells)


# --- pairs -------------------------------------------------------------------------------------------

IDS = ["a", "b", "ab", "a:b", "", "\x1f", "z" * 40, "é", "\uffff", "\ue000", "\U0001f600", "\U00010000", "Ω:1",
       "7f3c0e2a-5b1d-4c2e-9a8f-0c6d5e4b3a21"]


def _task(rng, partner, shipment, lat, lng, start, end, *, t=0, event=None, key=None, revision=0, res=9,
          volume=None):
    vol = float(rng.uniform(1, 200)) if volume is None else volume
    return Task(partner, shipment, t, event or f"e-{partner}-{shipment}-{t}", lat, lng, start, end, key,
                h3i.latlng_to_cell(lat, lng, res), revision, vol)


def test_order_and_match_id_agree_by_code_point(jvm):
    rng = np.random.default_rng(3)
    pairs = []
    for _ in range(400):
        p1, s1, p2, s2 = (str(rng.choice(IDS)) + str(rng.choice(IDS)) for _ in range(4))
        if rng.random() < 0.3:
            p2 = p1
        a = _task(rng, p1, s1, 52.5, 13.4, 0, HOUR)
        b = _task(rng, p2, s2, 52.5, 13.4, 0, HOUR)
        pairs.append([to_java(a), to_java(b)])
    precedes = calls(jvm, "precedes", pairs)
    tasks = [(task_of(a), task_of(b)) for a, b in pairs]
    assert precedes == [(a.partner_id, a.shipment_id) < (b.partner_id, b.shipment_id) for a, b in tasks]
    assert [co.ordered(a, b) for a, b in tasks] == [(a, b) if p else (b, a) for p, (a, b) in zip(precedes, tasks)]
    assert 0 < sum(precedes) < len(pairs)
    assert calls(jvm, "match_id", pairs) == [co.match_id(task_of(a), task_of(b)) for a, b in pairs]
    # UTF-16 order would put U+FFFF after U+10000; code point order puts it before
    a, b = _task(rng, "\uffff", "1", 0.0, 0.0, 0, 1), _task(rng, "\U00010000", "1", 0.0, 0.0, 0, 1)
    assert jvm.call(AREA, "precedes", [to_java(a), to_java(b)]) is True
    assert jvm.call(AREA, "precedes", [to_java(b), to_java(a)]) is False


def _pairs_around_the_radius(rng, radius: float, n: int) -> list[tuple[Task, Task, float]]:
    res = co.resolution_for_radius(radius)
    out = []
    for i in range(n):
        lat, lng = list(CENTRES.values())[i % len(CENTRES)]
        lat, lng = lat + float(rng.normal(0, 0.05)), lng + float(rng.normal(0, 0.05))
        factor = float(rng.choice([0.5, 0.999999, 1 - 1e-12, 1.0, 1 + 1e-12, 1.000001, 1.01, rng.random() * 1.2]))
        blat, blng = destination(lat, lng, float(rng.uniform(0, 360)), radius * factor)
        s1 = int(rng.integers(0, 6)) * HOUR // 2
        e1 = s1 + int(rng.integers(1, 4)) * HOUR // 2
        s2 = int(rng.choice([e1, e1 - 1, s1, s1 - HOUR // 2, e1 + 1]))  # touching, 1 ms overlap, ...
        e2 = s2 + int(rng.integers(1, 4)) * HOUR // 2
        partners = ("x", "x") if rng.random() < 0.1 else ("x", "y") if rng.random() < 0.5 else ("y", "x")
        key = str(rng.choice(["k" * 64, "j" * 64])) if rng.random() < 0.5 else None
        key_b = key if rng.random() < 0.7 else (None if rng.random() < 0.5 else "m" * 64)
        a = _task(rng, partners[0], f"s{i}a", lat, lng, s1, e1, t=int(rng.integers(0, 9)), key=key,
                  revision=int(rng.integers(0, 3)), res=res)
        b = _task(rng, partners[1], f"s{i}b", blat, blng, s2, e2, t=int(rng.integers(0, 9)), key=key_b,
                  revision=int(rng.integers(0, 3)), res=res)
        out.append((a, b, radius))
    return out


def test_colocated_agrees_around_the_radius_within_an_ulp(jvm):
    rng = np.random.default_rng(4)
    cases = [p for radius in RADII for p in _pairs_around_the_radius(rng, radius, 500)]
    java = calls(jvm, "colocated", [[to_java(a), to_java(b), hx(r)] for a, b, r in cases])
    python = [co.colocated(a, b, r) for a, b, r in cases]
    assert [j is None for j in java] == [p is None for p in python]
    found = [(fx(j), p) for j, p in zip(java, python) if p is not None]
    assert len(found) > 500
    differ = sum(j != p for j, p in found)
    print(f"colocated: {differ} of {len(found)} distances one ulp apart")
    assert all(ulps(j, p) <= 1 for j, p in found)
    assert differ <= 0.01 * len(found)


def test_make_match_agrees_field_for_field(jvm):
    rng = np.random.default_rng(5)
    cases = [p for radius in RADII for p in _pairs_around_the_radius(rng, radius, 200)]
    # rounding to mm: ties and near-ties of the exact binary value
    tricky = [2.675, 0.0625, 0.0005, 1.0005, 149.9995, 150.0, 0.0, 1e-9, 12.3445, 12.3455, 99.9999999]
    requests, expected = [], []
    for i, (a, b, _radius) in enumerate(cases):
        distance = co.haversine_m(a.lat, a.lng, b.lat, b.lng) if i % 4 else tricky[i % len(tricky)]
        retracted = bool(i % 3 == 0)
        revisions = None if i % 2 else int(rng.integers(0, 7))
        requests.append([to_java(a), to_java(b), hx(distance), retracted, revisions])
        # without revisions: the match of a and b at their own revisions, as CellIndex.add makes it
        expected.append(co.make_match(a, b, distance) if revisions is None
                        else co.make_match(a, b, distance, retracted=retracted, revisions=revisions))
    java = [match_of(m) for m in calls(jvm, "make_match", requests)]
    assert java == expected
    assert {m.same_recipient for m in expected} == {True, False}
    assert all(m.h3_cell == h3i.latlng_to_cell((a.lat + b.lat) / 2, (a.lng + b.lng) / 2, SHARED_RESOLUTION)
               for m, (a, b, _r) in zip(java, cases))


def test_task_fields_volume_and_lateness_agree(jvm):
    rng = np.random.default_rng(6)
    requests, expected, late, late_expected = [], [], [], []
    for i in range(300):
        lat, lng = float(rng.uniform(-85, 85)), float(rng.uniform(-180, 180))
        volume = None if i % 3 == 0 else float(rng.uniform(0, 500))
        parcels = None if i % 2 else int(rng.integers(0, 5))
        res, revision = int(rng.integers(0, 16)), int(rng.integers(0, 4))
        record = {"partner_id": f"p{i % 4}", "shipment_id": f"s{i}", "event_time": int(rng.integers(0, 1 << 41)),
                  "event_id": f"e{i}", "dest_lat": lat, "dest_lng": lng, "window_start": 1000 * i,
                  "window_end": 1000 * i + int(rng.integers(1, 10 * HOUR)),
                  "recipient_key": None if i % 5 == 0 else "r" * 64, "volume_l": volume, "parcel_count": parcels}
        if i % 7 == 0:
            del record["volume_l"], record["parcel_count"]
        requests.append([record["partner_id"], record["shipment_id"], record["event_time"], record["event_id"],
                         hx(lat), hx(lng), record["window_start"], record["window_end"], record["recipient_key"],
                         None if record.get("volume_l") is None else hx(record["volume_l"]),
                         record.get("parcel_count"), res, revision])
        task = co.task_from_record(record, res, revision)
        expected.append(task)
        for lateness in (0, 600_000, int(rng.integers(0, 3 * HOUR))):
            for watermark in (task.window_end + lateness, task.window_end + lateness + 1,
                              task.window_end + lateness + int(rng.integers(1, 10 * HOUR)), -(1 << 63)):
                late.append([to_java(task), watermark, lateness])
                late_expected.append(co.is_late(task, watermark, lateness))
    # window end plus lateness beyond a long, both ways: Python's ints do not overflow
    for end, lateness in ((2 ** 63 - 5, 10), (-(2 ** 63) + 5, -10), (2 ** 63 - 1, 0)):
        task = Task("x", "s", 0, "e", 0.0, 0.0, 0, end, None, 1)
        for watermark in (-(2 ** 63), -1, 0, 2 ** 63 - 1):
            late.append([to_java(task), watermark, lateness])
            late_expected.append(co.is_late(task, watermark, lateness))
    assert [task_of(t) for t in calls(jvm, "task", requests)] == expected
    assert calls(jvm, "is_late", late) == late_expected
    assert sum(late_expected) > 100 and not all(late_expected)
    volumes = [[None, None], [None, 0], [None, 3], [hx(0.0), 5], [hx(12.5), None], [None, 1]]
    assert [fx(v) for v in calls(jvm, "volume_of", volumes)] == [
        co.volume_of(None if v is None else fx(v), n) for v, n in volumes]


def test_registry_messages_agree(jvm):
    """The Registry's dead-letter texts (udfs.flink.coordination.Registry), Python's :.0f included."""
    task = Task("p", "s:1", 0, "e", 0.0, 0.0, 0, HOUR, None, 1)
    cases = [(HOUR + 600_000 + 1, 600_000), (HOUR + 1500, 0), (HOUR + 2500, 0), (HOUR + 500, 0), (HOUR + 499, 0),
             (HOUR + 3_500, 1_500), (HOUR + 10 ** 12 + 500, 2_500), (HOUR - 300, 0), (HOUR - 500, 0)]
    java = calls(jvm, "late_message", [[to_java(task), w, lateness] for w, lateness in cases])
    assert java == [f"delivery window ended {(w - task.window_end) / 1000:.0f} s before the watermark "
                    f"(allowed lateness {lateness / 1000:.0f} s)" for w, lateness in cases]
    assert jvm.call(AREA, "superseded_message", [to_java(task)]) == (
        f"a newer announcement of {task.key} was accepted before this one")


# --- versions of a shipment --------------------------------------------------------------------------

def test_register_verdicts_and_messages_agree(jvm):
    rng = np.random.default_rng(7)
    requests, expected = [], []
    for i in range(600):
        radius = RADII[i % len(RADII)]
        res = co.resolution_for_radius(radius)
        lat, lng = list(CENTRES.values())[i % len(CENTRES)]
        lat, lng = lat + float(rng.normal(0, 0.01)), lng + float(rng.normal(0, 0.01))
        t = int(rng.integers(0, 4))
        task = _task(rng, "p", "s", lat, lng, 0, HOUR, t=t, event=str(rng.choice(["a", "b", "\U0001f600", "\uffff"])),
                     res=res)
        stored = None
        if i % 5:
            current = _task(rng, "p", "s", lat + 0.001, lng, 0, HOUR, t=int(rng.integers(0, 4)),
                            event=str(rng.choice(["a", "b", "\U0001f600", "\uffff"])),
                            revision=int(rng.integers(0, 5)), res=res)
            _verdict, stored, _m = co.register(None, current._replace(revision=0), radius, res)
            stored = (stored[0]._replace(revision=current.revision), stored[1])
        requests.append([None if stored is None else [to_java(stored[0]), list(stored[1])], to_java(task),
                         hx(radius), res])
        expected.append(co.register(stored, task, radius, res))
    java = calls(jvm, "register", requests)
    decoded = [(v, None if s is None else (task_of(s[0]), tuple(s[1])), [routed_of(m) for m in ms])
               for v, s, ms in java]
    assert decoded == expected
    assert {v for v, _s, _m in expected} == {co.ACCEPTED, co.DUPLICATE, co.SUPERSEDED}


class Engine:
    """The streaming algorithm without Flink (the Registry per shipment, the Matcher per cell), step by step."""

    def __init__(self, radius_m):
        self.radius, self.res = radius_m, co.resolution_for_radius(radius_m)
        self.shipments, self.cells = {}, {}

    def feed(self, record):
        task = co.task_from_record(record, self.res)
        verdict, stored, messages = co.register(self.shipments.get(task.key), task, self.radius, self.res)
        self.shipments[task.key] = stored
        matches = []
        for m in messages:
            index = self.cells.setdefault(m.cell, CellIndex(m.cell, self.radius))
            matches += index.add(m.task) if m.task is not None else index.remove(m.remove_key, m.by_revision)
        return verdict, messages, matches

    def expire(self, before):
        return [(index.cell, index.expire(before), list(index.tasks)) for index in self.cells.values()]


def _fields(r: dict) -> list:
    return [r["partner_id"], r["shipment_id"], r["event_time"], r["event_id"], hx(r["dest_lat"]),
            hx(r["dest_lng"]), r["window_start"], r["window_end"], r["recipient_key"],
            None if r.get("volume_l") is None else hx(r["volume_l"]), r.get("parcel_count")]


def _stream(rng, radius: float, centre: tuple[float, float], n: int) -> list[dict]:
    """Announcements of a few partners around a point: re-announcements (moves, new windows),
    duplicates, superseded versions, equal event times, windows that touch."""
    records, latest = [], {}
    spread = radius / 111_000 * 3
    for i in range(n):
        roll = rng.random()
        if latest and roll < 0.35:  # another version of a shipment seen before
            r = dict(latest[list(latest)[int(rng.integers(len(latest)))]])
            kind = rng.random()
            if kind < 0.2:
                pass  # the same event again: a duplicate
            elif kind < 0.35:
                r["event_time"] -= int(rng.integers(0, 3))  # older, or equal time with another id: superseded?
                r["event_id"] = str(rng.choice(["a", "z", "\U0001f600", "\uffff"])) + r["event_id"]
            else:
                r["event_time"] += int(rng.integers(0, 3))
                r["event_id"] = f"e{i}"
                if rng.random() < 0.5:
                    r["dest_lat"] += float(rng.normal(0, spread / 2))
                    r["dest_lng"] += float(rng.normal(0, spread / 2))
                if rng.random() < 0.5:
                    r["window_start"] = int(rng.integers(0, 8)) * HOUR // 2
                    r["window_end"] = r["window_start"] + int(rng.integers(1, 5)) * HOUR // 2
        else:
            start = int(rng.integers(0, 8)) * HOUR // 2
            if rng.random() < 0.5 and records:  # right at the radius from an earlier one
                base = records[int(rng.integers(len(records)))]
                lat, lng = destination(base["dest_lat"], base["dest_lng"], float(rng.uniform(0, 360)),
                                       radius * float(rng.choice([0.999999, 1.0, 1.000001, rng.random()])))
            else:
                lat, lng = centre[0] + float(rng.normal(0, spread)), centre[1] + float(rng.normal(0, spread * 1.5))
                lng = (lng + 540) % 360 - 180
            r = {"partner_id": f"p{rng.integers(4)}", "shipment_id": f"s{i}", "event_time": int(rng.integers(0, 5)),
                 "event_id": f"e{i}", "dest_lat": lat, "dest_lng": lng, "window_start": start,
                 "window_end": start + int(rng.integers(1, 5)) * HOUR // 2,
                 "recipient_key": None if rng.random() < 0.3 else str(rng.choice(["k" * 64, "q" * 64])),
                 "volume_l": None if rng.random() < 0.5 else float(rng.uniform(1, 80)),
                 "parcel_count": None if rng.random() < 0.5 else int(rng.integers(0, 4))}
        latest[f"{r['partner_id']}:{r['shipment_id']}"] = r
        records.append(r)
    return records


@pytest.mark.parametrize("radius", RADII)
@pytest.mark.parametrize("where", [*CENTRES, "pentagon"])
def test_engine_sequences_agree_step_by_step(jvm, radius, where):
    rng = np.random.default_rng([int(radius), zlib.crc32(where.encode())])
    res = co.resolution_for_radius(radius)
    centre = h3i.cell_to_latlng(list(h3i.get_pentagons(res))[3]) if where == "pentagon" else CENTRES[where]
    records = _stream(rng, radius, centre, 300)
    name = f"{where}-{radius}"
    assert jvm.call(AREA, "engine_new", [name, hx(radius)]) == res
    python = Engine(radius)
    verdicts, log = [], []
    for start in range(0, len(records), 100):  # then the Matchers' expiry, in between
        chunk = records[start:start + 100]
        java = calls(jvm, "engine_feed", [[name, _fields(r)] for r in chunk])
        for step, (r, (verdict, messages, matches)) in enumerate(zip(chunk, java), start):
            assert (verdict, [routed_of(m) for m in messages], [match_of(m) for m in matches]) == python.feed(r), step
            verdicts.append(verdict)
            log += matches
        before = int(rng.integers(0, 5)) * HOUR
        assert [tuple(e) for e in jvm.call(AREA, "engine_expire", [name, before])] == python.expire(before)
    jvm.call(AREA, "engine_drop", [name])
    assert {co.ACCEPTED, co.DUPLICATE, co.SUPERSEDED} <= set(verdicts)
    assert any(m[-1] for m in log) and any(not m[-1] for m in log)  # matches and retractions


def test_cell_index_add_remove_expire_agree_step_by_step(jvm):
    """One cell driven directly: older revisions ignored, replacements moved to the end, removals
    of absent keys, expiry in the middle, restores; the stored tasks compared (in order) after
    every step."""
    rng = np.random.default_rng(9)
    radius = 150.0
    res = co.resolution_for_radius(radius)
    cell = h3i.latlng_to_cell(52.52, 13.405, res)
    near = [c for c in h3i.grid_disk(cell, 1)]
    jvm.call(AREA, "index_new", ["one", cell, hx(radius)])
    index = CellIndex(cell, radius)
    tasks: dict[str, Task] = {}
    for step in range(1500):
        roll = rng.random()
        if roll < 0.6:
            key = f"p{rng.integers(4)}:s{rng.integers(40)}"
            partner, shipment = key.split(":")
            lat, lng = destination(52.52, 13.405, float(rng.uniform(0, 360)), float(rng.uniform(0, 2.2 * radius)))
            start = int(rng.integers(0, 8)) * HOUR // 2
            revision = tasks[key].revision + int(rng.integers(-1, 3)) if key in tasks else int(rng.integers(0, 3))
            task = Task(partner, shipment, step, f"e{step}", lat, lng, start, start + int(rng.integers(1, 5)) * HOUR // 2,
                        None if rng.random() < 0.5 else "k" * 64,
                        cell if rng.random() < 0.5 else int(rng.choice(near)), max(revision, 0), 20.0)
            tasks[key] = task
            expected, java = index.add(task), jvm.call(AREA, "index_add", ["one", to_java(task)])
        elif roll < 0.85:
            key = f"p{rng.integers(4)}:s{rng.integers(40)}"
            by = int(rng.integers(0, 6))
            expected, java = index.remove(key, by), jvm.call(AREA, "index_remove", ["one", key, by])
        else:
            before = int(rng.integers(0, 6)) * HOUR
            assert jvm.call(AREA, "index_expire", ["one", before]) == index.expire(before)
            expected, java = [], []
        assert [match_of(m) for m in java] == expected, step
        if rng.random() < 0.03:  # a checkpoint restored: the Java index's columns are built again
            jvm.call(AREA, "index_restore", ["one"])
        stored, earliest = jvm.call(AREA, "index_state", ["one"])
        assert [task_of(t) for t in stored] == list(index.tasks.values()), step
        assert earliest == (min(t.window_end for t in index.tasks.values()) if index.tasks else None)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(points=st.lists(st.tuples(st.floats(-0.004, 0.004), st.floats(-0.004, 0.004), st.integers(0, 3),
                                 st.integers(0, 6), st.integers(1, 4), st.integers(0, 3)), min_size=2, max_size=30),
       lat0=st.floats(-80, 80), lng0=st.floats(-179, 179), radius=st.sampled_from(RADII))
def test_property_engine_agrees_anywhere(jvm, points, lat0, lng0, radius):
    records = []
    for i, (dy, dx, p, s, w, again) in enumerate(points):
        shipment = f"s{i - again}" if again and i >= again else f"s{i}"  # some re-announce an earlier shipment
        records.append({"partner_id": f"p{p}", "shipment_id": shipment, "event_time": i, "event_id": f"e{i}",
                        "dest_lat": lat0 + dy * radius / 150, "dest_lng": lng0 + dx * radius / 150,
                        "window_start": s * HOUR // 2, "window_end": (s + w) * HOUR // 2, "recipient_key": None})
    name = f"prop-{lat0}-{lng0}-{radius}-{len(points)}"
    jvm.call(AREA, "engine_new", [name, hx(radius)])
    python = Engine(radius)
    java = calls(jvm, "engine_feed", [[name, _fields(r)] for r in records])
    jvm.call(AREA, "engine_drop", [name])
    for r, (verdict, messages, matches) in zip(records, java):
        assert (verdict, [routed_of(m) for m in messages], [match_of(m) for m in matches]) == python.feed(r)
