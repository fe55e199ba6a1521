"""The ETA path on the JVM (udfs/jvm core.Pings, core.SpeedProfiles, core.Eta, core.EtaKernel)
against its Python reference (udfs.pings, udfs.speed_profiles, udfs.eta, udfs.kernels.eta).

What is only integer arithmetic, ordering and lookups agrees exactly: ping parsing, cells,
hours, intervals, the learning order, estimates and published speeds learned from the same
segments, table lookups, causal views. A segment's speed (a haversine) is one ulp apart on
~0.1 % of segments: Java's sin, cos and asin and libm's differ in the last ulp now and then,
and CPython's ``x ** 2`` is libm's pow, not always the correctly rounded ``x * x``.

The Java kernel computes as ``eta_batch_reference`` does; the Python job calls the Numba
``eta_batch`` (fastmath, another association), which differs from the reference by a
millisecond now and then. So routes are compared twice: with a Python route on the reference
kernel, and with the job's route on the Numba kernel; each test prints how often they agreed.
"""
from __future__ import annotations

import collections
import contextlib
import json
import math
import struct

import h3.api.basic_int as h3i
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import udfs.eta as eta_module
from udfs.eta import MODEL_VERSION, Assign, Delivery, Route, Stop, Unassign, apply_interval, midpoint_cell
from udfs.kernels import native
from udfs.kernels.eta import KERNEL_VERSION, eta_batch_reference
from udfs.pings import PingBatch, batch_from_row, driven_m, interval_end, parse_pings, ping_text, track
from udfs.speed_profiles import (
    ANY_HOUR,
    DAY_MS,
    HOUR_FACTOR,
    PARENT_RESOLUTION,
    PROFILE_RESOLUTION,
    CausalSpeeds,
    RobustSpeed,
    SpeedTable,
    day_after,
    forget_stale,
    hour_of_week,
    learn,
    learn_interval,
    learning_order,
    profile_keys,
    segment_speed,
)

MONDAY = 1_762_128_000_000  # 2025-11-03T00:00:00Z
NAN = math.nan
MUNICH = (48.137, 11.575)


def calls(jvm, op: str, many: list) -> list:
    """``jvm.calls`` in chunks of requests that fit a pipe's buffer: the harness writes replies
    while the requests are still being written, and both sides would wait on full pipes."""
    out, chunk, size = [], [], 0
    for args in many:
        n = len(json.dumps(args)) + 40
        if chunk and size + n > 32_000:
            out += jvm.calls("Eta", op, chunk)
            chunk, size = [], 0
        chunk.append(args)
        size += n
    return out + (jvm.calls("Eta", op, chunk) if chunk else [])


class Close:
    """Compares nested JSON-like values: all exact but floats, which may differ by ``ulps`` (the
    JVM's sin, cos and asin differ from libm's in the last ulp on ~0.1 % of inputs, and CPython's
    ``x ** 2`` is libm's pow, not always the correctly rounded ``x * x``); counts such floats."""

    def __init__(self, ulps: int = 4):
        self.ulps, self.floats, self.inexact = ulps, 0, 0

    def __call__(self, java, python) -> bool:
        if isinstance(python, float) and isinstance(java, float):
            self.floats += 1
            if java == python:
                return True
            self.inexact += 1
            return abs(java - python) <= self.ulps * math.ulp(max(abs(java), abs(python)))
        if isinstance(python, (list, tuple)) and isinstance(java, (list, tuple)):
            return len(java) == len(python) and all(self(j, p) for j, p in zip(java, python))
        return type(java) is type(python) and java == python


def j_ping(p):
    return [p[0], p[1], p[2], p[3] if len(p) > 3 else None]


def j_speeds(d: dict):
    """As the harness sends them: a forgotten speed (NaN) as null."""
    return [[k[0], k[1], v if v == v else None] for k, v in d.items()]


def j_estimate(e: RobustSpeed):
    return [e.estimate, e.count, list(e.warmup), e.published, e.learned_at]


def j_stop(s: Stop):
    return [s.shipment_id, s.stop_sequence, s.lat, s.lng, s.window_start]


def j_value(v):
    if isinstance(v, Assign):
        return ["assign", j_stop(v.stop), v.at]
    if isinstance(v, Unassign):
        return ["unassign", v.shipment_id, v.at]
    return ["batch", v.key, v.at, [j_ping(p) for p in v.pings]]


def van_pings(rng, n, start=MONDAY + 7 * 3_600_000, lat=MUNICH[0], lng=MUNICH[1], speeds="mixed"):
    """A van's positions: driving, parked (GPS scatter), gaps, jumps, late and repeated pings;
    reported speeds present, missing or standing still."""
    out, ts = [], start
    heading = rng.uniform(0, 2 * math.pi)
    for _ in range(n):
        kind = rng.random()
        if kind < 0.03:
            ts += int(rng.integers(600_001, 1_500_000))  # a gap
        elif kind < 0.06:
            ts -= int(rng.integers(0, 60_000))  # late or repeated
        else:
            ts += int(rng.integers(1_000, 60_000))
        moving = rng.random() < 0.65
        mps = rng.uniform(2, 18) if moving else 0.0
        step = mps * 30 / 111_195
        heading += rng.normal(0, 0.4)
        lat += step * math.cos(heading) + rng.normal(0, 0.00004)
        lng += step * math.sin(heading) / math.cos(math.radians(lat)) + rng.normal(0, 0.00006)
        if rng.random() < 0.02:
            lat += 0.02  # a GPS jump
        reported = max(mps + rng.normal(0, 0.5), 0.0) if moving else float(rng.choice([0.0, 0.3, 0.9]))
        if speeds == "none" or (speeds == "mixed" and rng.random() < 0.3):
            reported = None
        out.append((int(ts), float(lat), float(lng), None if reported is None else float(reported)))
    return out


def test_the_model_and_kernel_versions_are_the_same(jvm):
    assert jvm.call("Eta", "constants") == {"model_version": MODEL_VERSION, "kernel_version": KERNEL_VERSION}


# -- udfs.pings ------------------------------------------------------------------------------------------------

def test_ping_text_in_java_and_python_number_forms_parses_to_the_same_pings(jvm):
    rng = np.random.default_rng(11)
    texts = []
    for n in range(200):
        pings = van_pings(rng, int(rng.integers(1, 40)))
        if n % 3 == 0:  # equal times and positions: the order falls to position, then speed
            pings += [(pings[0][0], pings[0][1], pings[0][2], s) for s in (None, 0.0, 4.5)]
        rng.shuffle(pings)
        values = [v for p in pings for v in p[1:] if v is not None]
        java_forms = iter(jvm.call("Eta", "format", values))  # Double.toString, as Flink's CAST writes them
        items = []
        for ts, lat, lng, speed in pings:
            if n % 2:
                lat, lng, speed = next(java_forms), next(java_forms), (next(java_forms) if speed is not None else None)
            items.append(f"{ts},{lat},{lng},{'' if speed is None else speed}")
        texts.append(";".join(items))
    texts += ["5,1.5,2.5,;5,1.0,2.5,", "1700000000000,1.0E-5,-0.0,12.0", "7,-90.0,180.0,1.0E10;7,-90.0,180.0,"]
    java = calls(jvm, "parse_pings", texts)
    assert java == [[j_ping(p) for p in parse_pings(t)] for t in texts]
    rows = [("pa", f"van-{i}", t) for i, t in enumerate(texts[:50])]
    assert calls(jvm, "batch_from_row", [list(r) for r in rows]) == [
        [b.key, b.at, [j_ping(p) for p in b.pings]] for b in map(batch_from_row, rows)]
    # a position the Python reference accepted: one ping, as text of Python's float repr
    for ts, lat, lng, speed in ((1_700_000_000_000, 52.5, 13.4, None), (5, 1e-05, -0.0, 12.25), (7, -90.0, 180.0, 1e16)):
        text = ping_text(ts, lat, lng, speed)
        assert calls(jvm, "parse_pings", [text]) == [[j_ping(p) for p in parse_pings(text)]]
        assert parse_pings(text) == ((ts, lat, lng, speed),)


@pytest.mark.parametrize("text", ["", "1,2,3", "1,2,3,4,5", "1,2,3,4;", "x,2,3,4", "1,2,three,4"])
def test_malformed_ping_text_is_refused_on_both_sides(jvm, text):
    from jvm_harness import JvmError

    with pytest.raises(ValueError):
        parse_pings(text)
    with pytest.raises(JvmError):
        jvm.call("Eta", "parse_pings", text)


@settings(max_examples=200, deadline=None)
@given(ts=st.integers(-4_102_444_800_000, 4_102_444_800_000), interval=st.sampled_from([1, 1_000, 60_000, 300_000,
                                                                                       7_777]))
def test_intervals_and_hours_of_week_agree_also_before_1970(jvm, ts, interval):
    assert jvm.call("Eta", "interval_end", [ts, interval]) == interval_end(ts, interval)
    assert jvm.call("Eta", "hour_of_week", ts) == hour_of_week(ts)


def test_segments_and_tracking_agree_on_random_vans(jvm):
    rng = np.random.default_rng(12)
    close = Close()
    pairs, segments_seen = [], 0
    for n in range(60):
        start = (float(rng.uniform(-60, 70)), float(rng.uniform(-180, 180))) if n % 4 == 0 else MUNICH
        pings = van_pings(rng, 120, lat=start[0], lng=start[1], speeds=["none", "all", "mixed"][n % 3])
        pairs += list(zip(pings, pings[1:]))
        pairs += [(pings[i], pings[j]) for i, j in rng.integers(0, len(pings), (40, 2))]
        # the Tracker's state across batches: the newest ping, carried over (None at first)
        last_py = last_j = None
        for chunk in np.array_split(np.arange(len(pings)), 6):
            batch = tuple(pings[i] for i in chunk)
            assert close(jvm.call("Eta", "driven_m", [last_j, [j_ping(p) for p in batch]]), driven_m(last_py, batch))
            last_py, by_district = track(last_py, batch)
            got = jvm.call("Eta", "track", [last_j, [j_ping(p) for p in batch]])
            last_j = got[0]
            assert close(got, [None if last_py is None else j_ping(last_py),
                               [[d, [list(s) for s in found]] for d, found in by_district.items()]])
            segments_seen += sum(len(s) for s in by_district.values())
    java = calls(jvm, "segment_speed", [[j_ping(a), j_ping(b)] for a, b in pairs])
    python = [segment_speed(a, b) for a, b in pairs]
    assert close(java, [None if s is None else list(s) for s in python])
    assert segments_seen > 1_000 and sum(s is None for s in python) > 1_000  # both kinds, plenty
    assert close.inexact <= 0.005 * close.floats


def test_cells_and_parents_agree_with_h3_py(jvm):
    rng = np.random.default_rng(13)
    points = [(float(a), float(b), float(c), float(d)) for a, b, c, d in zip(
        rng.uniform(-89, 89, 500), rng.uniform(-180, 180, 500), rng.uniform(-89, 89, 500), rng.uniform(-180, 180, 500))]
    points += [(MUNICH[0] + float(x), MUNICH[1] + float(y), MUNICH[0] + float(z), MUNICH[1] + float(w))
               for x, y, z, w in rng.normal(0, 0.05, (2000, 4))]
    cells = calls(jvm, "midpoint_cell", [list(p) for p in points])
    assert cells == [midpoint_cell(*p) for p in points]
    assert calls(jvm, "district", cells) == [h3i.cell_to_parent(c, PARENT_RESOLUTION) for c in cells]
    assert calls(jvm, "profile_keys", [[c, h] for c, h in zip(cells, range(400))]) == [
        [list(k) for k in profile_keys(c, h)] for c, h in zip(cells, range(400))]


# -- udfs.speed_profiles ---------------------------------------------------------------------------------------

def test_robust_estimates_agree_step_by_step(jvm):
    rng = np.random.default_rng(14)
    sequences = [[float(v) for v in rng.normal(8, 2, int(rng.integers(1, 300)))] for _ in range(40)]
    sequences += [[5.0] * 30, [0.0] * 10 + [9.0] * 10, [3.0, 1.0, 3.0, 2.0, 3.0, 0.2, 0.1, 0.1, 0.1] * 20,
                  [float(v) for v in rng.choice([1.0, 2.0, 39.0], 200)], [0.3] * 3 + [0.0] * 200,
                  [0.0, -0.0, 0.0, -0.0, -0.0, 1.0], [-0.0, 0.0, -0.0, 0.0]]
    for speeds in sequences:
        estimate, expected = None, []
        for s in speeds:
            estimate, published = learn(estimate, s)
            expected.append([j_estimate(estimate), published])
        got = jvm.call("Eta", "robust", speeds)
        assert got == expected
        # and the same zeros: -0.0 == 0.0, but the stable sort keeps which came first
        assert [[math.copysign(1, w) for w in g[0][2]] for g in got] == [
            [math.copysign(1, w) for w in e[0][2]] for e in expected]


def test_the_learning_order_is_the_same_and_not_by_speed(jvm):
    rng = np.random.default_rng(15)
    cells = [h3i.latlng_to_cell(MUNICH[0] + float(x), MUNICH[1] + float(y), PROFILE_RESOLUTION)
             for x, y in rng.normal(0, 0.03, (30, 2))]
    segments = [(cells[int(i)], int(h), float(s)) for i, h, s in
                zip(rng.integers(0, 30, 3000), rng.integers(0, 168, 3000), rng.uniform(1, 40, 3000))]
    segments += [(cells[0], 8, 5.0)] * 3 + [(cells[0], 8, -0.0), (cells[0], 8, 0.0), (1, 0, 2.0), (2**63 - 1, 7, 1.0)]
    assert [int(h) for h in jvm.call("Eta", "learning_hash", [list(s) for s in segments])] == [
        learning_order(s)[0] for s in segments]
    one_cell_hour = [(cells[0], 8, float(s)) for s in rng.uniform(2, 14, 500)]
    for batch in (segments, one_cell_hour):
        ordered = sorted(batch, key=learning_order)
        assert jvm.call("Eta", "learning_order", [list(s) for s in batch]) == [list(s) for s in ordered]
    speeds = [s for _, _, s in sorted(one_cell_hour, key=learning_order)]
    rank_correlation = np.corrcoef(np.argsort(np.argsort(speeds)), np.arange(len(speeds)))[0, 1]
    assert abs(rank_correlation) < 0.15  # neither ascending nor descending
    # the key as documented in udfs.speed_profiles.learning_order, spelled out once more
    mask, gamma = 2**64 - 1, 0x9E3779B97F4A7C15

    def mix(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    cell, hour, speed = segments[0]
    h = 0
    for x in (cell, hour, struct.unpack("<Q", struct.pack("<d", speed))[0] >> 20):
        h = mix(((h ^ x) + gamma) & mask)
    assert learning_order(segments[0]) == (h, cell, hour, speed)


def district_segments(rng, vans=40, per_van=150):
    """Segments of many vans around one city, as the Tracker finds them: by district."""
    by_district = collections.defaultdict(list)
    for v in range(vans):
        start = (MUNICH[0] + float(rng.normal(0, 0.03)), MUNICH[1] + float(rng.normal(0, 0.05)))
        for district, found in track(None, tuple(sorted(van_pings(rng, per_van, lat=start[0], lng=start[1],
                                                                  start=MONDAY + v * 600_000))))[1].items():
            by_district[district].extend(found)
    return by_district


def test_learning_intervals_agrees_on_every_estimate_and_every_published_speed(jvm):
    rng = np.random.default_rng(16)
    estimates = collections.defaultdict(dict)
    published_total = 0
    for _interval in range(12):
        for district, segments in district_segments(rng, vans=15, per_van=120).items():
            arrived = list(segments)
            rng.shuffle(arrived)  # the batches' arrival order must not matter: Java gets another one
            changed, published = learn_interval(estimates[district], segments)
            got = jvm.call("Eta", "learn_interval", [str(district), [list(s) for s in arrived]])
            assert got == [[[k[0], k[1], j_estimate(e)] for k, e in changed.items()], j_speeds(published)]
            published_total += len(published)
    for district, known in estimates.items():
        assert jvm.call("Eta", "estimates", str(district)) == [[k[0], k[1], j_estimate(e)]
                                                              for k, e in sorted(known.items())]
    hour_factors = sum(k[1] >= HOUR_FACTOR for known in estimates.values() for k in known)
    assert published_total > 500 and hour_factors > 50


def test_speed_table_lookups_agree_at_every_fallback_level(jvm):
    rng = np.random.default_rng(17)
    cells = list({h3i.latlng_to_cell(MUNICH[0] + float(x), MUNICH[1] + float(y), PROFILE_RESOLUTION)
                  for x, y in rng.normal(0, 0.06, (300, 2))})
    districts = sorted({h3i.cell_to_parent(c, PARENT_RESOLUTION) for c in cells})
    for n, default in enumerate((7.0, 4.5, 0.0)):
        table = SpeedTable(default)
        for c in cells:
            for h in rng.choice(168, 3):
                if rng.random() < 0.3:
                    table.put((c, int(h)), float(rng.choice([0.0, NAN, rng.uniform(1, 20)])))
            if rng.random() < 0.4:  # NaN: forgotten (forget_stale), as absent at every level
                table.put((c, ANY_HOUR), float(rng.choice([0.0, NAN, rng.uniform(1, 20)], p=[0.1, 0.1, 0.8])))
        for d in districts:
            for h in rng.choice(168, 60):
                level = rng.random()
                if level < 0.4:  # factors inside and outside the limits, zero
                    table.put((d, HOUR_FACTOR + int(h)), float(rng.choice([0.0, NAN, rng.uniform(0.1, 2.5)],
                                                                          p=[0.05, 0.1, 0.85])))
                elif level < 0.8:
                    # zero and negative: Python's `or` skips the one, not the other
                    table.put((d, int(h)), float(rng.choice([0.0, -1.5, NAN, rng.uniform(1, 20)],
                                                            p=[0.2, 0.1, 0.1, 0.6])))
            if rng.random() < 0.6:
                table.put((d, ANY_HOUR), float(rng.choice([0.0, -2.5, NAN, rng.uniform(1, 20)], p=[0.2, 0.1, 0.1, 0.6])))
        jvm.call("Eta", "table_new", [f"t{n}", default, j_speeds(table.speeds)])
        queries = [(c, int(h)) for c in cells for h in rng.choice(168, 20)]
        queries += [k for k in table.speeds if k[1] < ANY_HOUR and k[0] in cells]  # the cells' own hours
        python = [table.speed(c, h) for c, h in queries]
        assert jvm.call("Eta", "table_speed", [f"t{n}", [list(q) for q in queries]]) == python

        def level(cell, hour, table=table):
            parent = h3i.cell_to_parent(cell, PARENT_RESOLUTION)
            speeds = {k: v for k, v in table.speeds.items() if v == v}  # not forgotten
            return ("hour" if (cell, hour) in speeds else "usual x factor" if (cell, ANY_HOUR) in speeds
                    and (parent, HOUR_FACTOR + hour) in speeds else "usual" if (cell, ANY_HOUR) in speeds
                    else "district hour" if speeds.get((parent, hour)) else "district" if
                    speeds.get((parent, ANY_HOUR)) else "default")
        used = collections.Counter(level(c, h) for c, h in queries)
        assert len(used) == 6 and min(used.values()) > 30, used
        forgotten = sum(1 for c, h in queries for k in ((c, h), (c, ANY_HOUR))
                        if table.speeds.get(k, 0) != table.speeds.get(k, 0))
        assert forgotten > 30  # lookups that met a forgotten speed and fell back


def test_causal_speeds_agree_over_random_receives_lookups_folds_and_restores(jvm):
    rng = np.random.default_rng(18)
    for run in range(20):
        name = f"c{run}"
        py = CausalSpeeds(default_mps=7.0)
        jvm.call("Eta", "causal_new", [name, 7.0])
        for _ in range(150):
            op = rng.random()
            if op < 0.5:
                version, part = int(rng.integers(-2, 20)) * 300, int(rng.integers(1, 5))
                published = {(int(rng.integers(1, 7)), int(rng.integers(0, 4))):
                             float(NAN if rng.random() < 0.15 else rng.uniform(1, 20))  # NaN: forgotten
                             for _ in range(int(rng.integers(1, 5)))}
                assert jvm.call("Eta", "causal_receive", [name, version, part, j_speeds(published)]) == j_speeds(
                    py.receive(version, part, published))
            elif op < 0.8:
                upto = int(rng.integers(-3, 21)) * 300 + int(rng.choice([0, 0, 1, -1]))
                assert jvm.call("Eta", "causal_table", [name, upto]) == j_speeds(py.table(upto).speeds)
            elif op < 0.95:
                upto = int(rng.integers(-3, 21)) * 300
                changed, gone = py.fold(upto)
                assert jvm.call("Eta", "causal_fold", [name, upto]) == [j_speeds(changed), [list(k) for k in gone]]
            else:  # restored from what the broadcast state holds
                pending = [[v, p, j_speeds(s)] for (v, p), s in py.pending.items()]
                py = CausalSpeeds.restored(py.base, py.base_upto, py.pending, 7.0)
                jvm.call("Eta", "causal_restore", [name, 7.0, j_speeds(py.base), py.base_upto, pending])
            assert jvm.call("Eta", "causal_state", name) == [
                j_speeds(py.base), py.base_upto, [[v, p, j_speeds(s)] for (v, p), s in sorted(py.pending.items())]]


def test_forgetting_stale_estimates_agrees_and_what_was_published_is_forgotten_in_the_table(jvm):
    """flink.Profiles dates each estimate by the interval that last taught it and forgets, on
    whole days, those older than the time to live: the same estimates and the same NaN speeds
    on both sides, and lookups fall back as if they had never been learned."""
    rng = np.random.default_rng(21)
    estimates = collections.defaultdict(dict)
    forgotten_total = kept_total = 0
    for day in range(6):
        for district, segments in district_segments(rng, vans=6, per_van=60).items():
            if rng.random() < 0.5:
                continue  # a district not visited that day
            version = MONDAY + day * DAY_MS + 17 * 300_000
            changed, _published = learn_interval(estimates[district], segments)
            for estimate in changed.values():
                estimate.learned_at = version
            jvm.call("Eta", "learn_interval", [f"ttl:{district}", [list(s) for s in segments], version])
        cleanup = day_after(MONDAY + day * DAY_MS + 1)
        assert jvm.call("Eta", "day_after", MONDAY + day * DAY_MS + 1) == cleanup
        for district, known in estimates.items():
            published_before = {k for k, e in known.items() if e.published}
            forgotten = forget_stale(known, cleanup - 2 * DAY_MS)
            assert jvm.call("Eta", "forget_stale", [f"ttl:{district}", cleanup - 2 * DAY_MS]) == j_speeds(forgotten)
            assert jvm.call("Eta", "estimates", f"ttl:{district}") == [[k[0], k[1], j_estimate(e)]
                                                                      for k, e in sorted(known.items())]
            assert set(forgotten) <= published_before and all(v != v for v in forgotten.values())
            assert all(e.learned_at > cleanup - 2 * DAY_MS for e in known.values())
            forgotten_total += len(forgotten)
            kept_total += len(known)
    assert forgotten_total > 30 and kept_total > 100


# -- udfs.kernels.eta ------------------------------------------------------------------------------------------

def kernel_batch(rng, vehicles, max_stops):
    counts = rng.integers(0, max_stops + 1, vehicles)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    n = int(offsets[-1])
    start = rng.integers(1_700_000_000_000, 1_800_000_000_000, vehicles).astype(np.int64)
    not_before = np.where(rng.random(n) < 0.35, np.repeat(start, counts) + rng.integers(0, 4 * 3_600_000, n), 0)
    spread = float(rng.choice([0.002, 0.05, 2.0]))
    return (52.5 + rng.normal(0, spread, vehicles), 13.4 + rng.normal(0, spread, vehicles), start, offsets,
            52.5 + rng.normal(0, spread, n), 13.4 + rng.normal(0, spread, n), not_before.astype(np.int64),
            np.where(rng.random(n) < 0.1, float(rng.choice([0.0, -1.0])), rng.uniform(0.5, 30, n)))


def test_the_kernel_agrees_with_the_reference_and_with_numba_within_milliseconds(jvm):
    rng = np.random.default_rng(19)
    stops = equal_ref = equal_numba = 0
    worst_ref = worst_numba = 0
    for _ in range(150):
        args = kernel_batch(rng, int(rng.integers(1, 12)), int(rng.choice([5, 30, 120])))
        params = (float(rng.uniform(1.0, 2.0)), float(rng.uniform(0, 600)), float(rng.uniform(1, 10)))
        java = np.array(jvm.call("Eta", "eta_batch", [np.asarray(a).tolist() for a in args] + list(params)),
                        dtype=np.int64)
        reference = np.array(eta_batch_reference(*args, *params), dtype=np.int64)
        numba = native.eta_batch(*args, *params)
        stops += len(java)
        equal_ref += int((java == reference).sum())
        equal_numba += int((java == numba).sum())
        worst_ref = max(worst_ref, int(np.abs(java - reference).max(initial=0)))
        worst_numba = max(worst_numba, int(np.abs(java - numba).max(initial=0)))
    print(f"\nkernel: {equal_ref}/{stops} ETAs equal to eta_batch_reference's (worst {worst_ref} ms), "
          f"{equal_numba}/{stops} to Numba eta_batch's (worst {worst_numba} ms)")
    assert stops > 5_000
    assert worst_ref <= 1 and equal_ref >= 0.995 * stops  # libm and Java's trig differ in the last ulp, rarely
    assert worst_numba <= 3 and equal_numba >= 0.95 * stops


# -- udfs.eta: routes ------------------------------------------------------------------------------------------

REFERENCE_CALLS = []


@contextlib.contextmanager
def reference_kernel():
    """Python routes predicting with eta_batch_reference (what the Java kernel computes)."""
    saved = eta_module.eta_batch

    def reference(*args):
        REFERENCE_CALLS.append(1)
        return np.array(eta_batch_reference(*args), dtype=np.int64)

    eta_module.eta_batch = reference
    try:
        yield
    finally:
        eta_module.eta_batch = saved


def j_route_state(route: Route):
    return [[j_stop(s) for s in route.stops.values()], None if route.last_ping is None else j_ping(route.last_ping),
            [[k, *v] for k, v in route.emitted.items()], list(route.pace_sums), route.pace_factor(),
            [s.shipment_id for s in route.plan()[0]]]


class Agreement:
    """Updates of the Java route against a Python route on the same values, counted."""

    def __init__(self):
        self.updates = self.equal = self.eta_equal = self.calls = self.calls_equal = 0
        self.worst_ms = 0
        self.decisions_differ = self.digests_differ = 0

    def add(self, java, python):
        self.calls += 1
        self.calls_equal += java == python
        jk = {(u[1], u[3]): u[4] for u in java}
        pk = {(u[1], u[3]): u[4] for u in python}
        self.updates += len(pk)
        self.decisions_differ += len(jk.keys() ^ pk.keys())
        digests = {(u[1], u[3]): (u[6], v[6]) for u in java for v in python if (u[1], u[3]) == (v[1], v[3])}
        for k in jk.keys() & pk.keys():
            self.digests_differ += digests[k][0] != digests[k][1]
            self.equal += 1
            self.eta_equal += jk[k] == pk[k]
            self.worst_ms = max(self.worst_ms, abs(jk[k] - pk[k]))


def test_routes_of_a_hundred_stops_agree_interval_by_interval(jvm):
    """Synthetic vans with up to a hundred stops (sequenced and not, windows ahead), reassigned and
    completed on the way, predicted at learned speeds."""
    rng = np.random.default_rng(20)
    by_district = district_segments(rng, vans=30, per_van=200)
    table = SpeedTable(7.0)
    for segments in by_district.values():
        table.speeds.update(learn_interval({}, segments)[1])
    jvm.call("Eta", "table_new", ["routes", 7.0, j_speeds(table.speeds)])
    reference, numba, close = Agreement(), Agreement(), Close()
    kernel_calls = len(REFERENCE_CALLS)
    for van in range(8):
        key = f"p{van % 2}:VAN-{van}"
        name = f"r{van}"
        ref_route, job_route = Route(*key.split(":")), Route(*key.split(":"))
        jvm.call("Eta", "route_new", [name, *key.split(":")])
        start = MONDAY + int(rng.integers(6, 60)) * 3_600_000
        n_stops = int(rng.integers(20, 101))
        stops = [Stop(f"S{van}-{i:03d}", None if rng.random() < 0.2 else int(rng.integers(0, 150)),
                      MUNICH[0] + float(rng.normal(0, 0.04)), MUNICH[1] + float(rng.normal(0, 0.06)),
                      0 if rng.random() < 0.5 else start + int(rng.integers(0, 8 * 3_600_000)))
                 for i in range(n_stops)]
        pings = sorted(van_pings(rng, 600, start=start), key=lambda p: p[0])
        intervals = collections.defaultdict(list)
        for s in stops:
            intervals[interval_end(start - 1, 300_000)].append(Assign(key, s, start - 1))
        for p in pings:
            intervals[interval_end(p[0], 300_000)].append(p)
        for s in rng.choice(len(stops), len(stops) // 3, replace=False):
            at = int(rng.integers(start, pings[-1][0]))
            change = (Unassign(key, stops[s].shipment_id, at) if rng.random() < 0.7 else
                      Assign(key, stops[s]._replace(window_start=at + int(rng.integers(0, 3_600_000))), at))
            intervals[interval_end(at, 300_000)].append(change)
        for end in sorted(intervals):
            got = intervals[end]
            in_batch = sorted(p for p in got if isinstance(p, tuple) and not isinstance(p, (Assign, Unassign)))
            values = [v for v in got if isinstance(v, (Assign, Unassign))]
            if in_batch:
                values.append(PingBatch(key, in_batch[-1][0], tuple(in_batch)))
            values.sort(key=lambda v: (v.at, 1 if isinstance(v, PingBatch) else 0))
            java = jvm.call("Eta", "route_apply", [name, [j_value(v) for v in values], ["table", "routes"]])
            with reference_kernel():
                expected = [list(u) for u in apply_interval(ref_route, values, table.speed)]
            reference.add(java, expected)
            numba.add(java, [list(u) for u in apply_interval(job_route, values, table.speed)])
            if java == expected:
                assert close(jvm.call("Eta", "route_state", name), j_route_state(ref_route))
    report(reference, numba)
    assert len(REFERENCE_CALLS) - kernel_calls > 1_000  # the Python route did predict with the reference
    assert reference.updates > 3_000 and reference.digests_differ == 0
    assert reference.calls_equal >= 0.99 * reference.calls and reference.worst_ms <= 1
    assert numba.decisions_differ <= 0.01 * numba.updates and numba.worst_ms <= 3


def report(reference: Agreement, numba: Agreement) -> None:
    for name, a in (("reference kernel", reference), ("numba kernel", numba)):
        print(f"\n{name}: {a.calls_equal}/{a.calls} intervals equal; {a.updates} updates, "
              f"{a.decisions_differ} emitted on one side only, {a.eta_equal}/{a.equal} ETAs equal, "
              f"worst {a.worst_ms} ms")


def test_a_simulated_city_replayed_through_both_gives_the_same_updates(jvm):
    """lastmile.bench.eta_accuracy's replay (Registry, ETA operator, Tracker, Profiles, CausalSpeeds) on a
    small simulated city, the JVM classes driven in lock step; vans of one partner report no speeds."""
    from lastmile.bench.eta_accuracy import _by_interval
    from lastmile.simulator.city import CITIES, build_city
    from lastmile.simulator.plan import SimConfig, build_plan
    from udfs.eta import in_event_order

    interval_ms = 300_000
    cfg = SimConfig(city="munich", partners=2, tasks_per_day=400, seed=5, days=2)
    rng = np.random.default_rng(5)
    plan = build_plan(cfg, build_city(CITIES["munich"], rng), rng)
    deliveries, ref_routes, job_routes, last_ping = {}, {}, {}, {}
    estimates = collections.defaultdict(dict)
    speeds = CausalSpeeds()
    jvm.call("Eta", "causal_new", ["city", 7.0])
    reference, numba, close = Agreement(), Agreement(), Close()
    kernel_calls = len(REFERENCE_CALLS)
    published_total = 0
    for end, interval in _by_interval(plan, interval_ms).items():
        per_van = collections.defaultdict(list)
        for key, events in interval["deliveries"].items():
            delivery = deliveries.setdefault(key, Delivery(*key.split(":", 1)))
            for event in in_event_order(events):
                for change in delivery.apply(event):
                    per_van[change.vehicle_key].append((change.at, 0, len(per_van[change.vehicle_key]), change))
        batches = {}
        for key, pings in interval["pings"].items():
            if key.startswith("bravo"):
                pings = [p[:3] + (None,) for p in pings]
            pings.sort(key=lambda p: p[:3])
            batches[key] = PingBatch(key, pings[-1][0], tuple(pings))
            per_van[key].append((pings[-1][0], 1, len(per_van[key]), batches[key]))
        table = speeds.table(end - interval_ms)
        java_table = jvm.call("Eta", "causal_table", ["city", end - interval_ms])
        assert java_table == j_speeds(table.speeds)
        for key, values in per_van.items():
            values = [v[-1] for v in sorted(values, key=lambda v: v[:3])]
            if key not in ref_routes:
                ref_routes[key], job_routes[key] = Route(*key.split(":", 1)), Route(*key.split(":", 1))
                jvm.call("Eta", "route_new", [key, *key.split(":", 1)])
            java = jvm.call("Eta", "route_apply", [key, [j_value(v) for v in values],
                                                   ["causal", "city", end - interval_ms]])
            with reference_kernel():
                expected = [list(u) for u in apply_interval(ref_routes[key], values, table.speed)]
            reference.add(java, expected)
            numba.add(java, [list(u) for u in apply_interval(job_routes[key], values, table.speed)])
        by_district = collections.defaultdict(list)
        for key, batch in batches.items():
            newest, segments = track(last_ping.get(key), batch.pings)
            got = jvm.call("Eta", "track", [None if key not in last_ping else j_ping(last_ping[key]),
                                            [j_ping(p) for p in batch.pings]])
            assert close(got, [j_ping(newest), [[d, [list(s) for s in f]] for d, f in segments.items()]])
            last_ping[key] = newest
            for district, found in segments.items():
                by_district[district].extend(found)
        for district, segments in by_district.items():
            changed, published = learn_interval(estimates[district], segments)
            got = jvm.call("Eta", "learn_interval", [f"city:{district}", [list(s) for s in segments[::-1]]])
            assert got == [[[k[0], k[1], j_estimate(e)] for k, e in changed.items()], j_speeds(published)]
            if published:
                published_total += len(published)
                assert jvm.call("Eta", "causal_receive", ["city", end, district, j_speeds(published)]) == j_speeds(
                    speeds.receive(end, district, published))
        changed, gone = speeds.fold(end - interval_ms)
        assert jvm.call("Eta", "causal_fold", ["city", end - interval_ms]) == [j_speeds(changed),
                                                                               [list(k) for k in gone]]
    states_equal = sum(close(jvm.call("Eta", "route_state", key), j_route_state(route))
                       for key, route in ref_routes.items())
    report(reference, numba)
    print(f"{close.inexact} of {close.floats} segment and pace floats one ulp or so apart")
    assert states_equal >= 0.95 * len(ref_routes) and close.inexact <= 0.005 * close.floats
    assert len(REFERENCE_CALLS) - kernel_calls > 1_000
    assert published_total > 1_000 and reference.updates > 2_000 and reference.digests_differ == 0
    assert reference.calls_equal >= 0.99 * reference.calls and reference.worst_ms <= 1
    assert numba.decisions_differ <= 0.01 * numba.updates and numba.worst_ms <= 3
