"""core.ConsolidationKernel, core.Consolidation and core.PythonJson (udfs/jvm) against
udfs.kernels.consolidation, udfs.consolidation and Python's json / repr.

Floats that must agree bit for bit travel to and from the JVM as their IEEE bits (int64).
The one thing the two sides do not share is libm: Java's Math.cos is one ulp off glibc's on
~0.25 % of latitudes (sin and asin on these small arguments practically never). So the kernel
tests demand bit equality on batches whose latitudes both sides agree on, and elsewhere equal
choices and tours with kilometres within a few ulps (in practice they are bit-equal there
too: a cosine an ulp off rarely survives the rounding of the sums).
"""
from __future__ import annotations

import hashlib
import math
import pickle
import random
import time

import h3.api.basic_int as h3i
import numpy as np
import pytest
from test_kernels_consolidation import DAY, HOUR, LAT, LNG, batch  # noqa: I100 (tests/unit is on sys.path)

from udfs import consolidation as c
from udfs.consolidation import Link, Member, Neighbourhood, Offer, Unlink
from udfs.kernels import native
from udfs.kernels.consolidation import KERNEL_VERSION, GroupBatch, _open_tour, _open_tour_reference, components_reference
from udfs.outputs import proposal_record
from udfs.rows import proposal_row

AREA = "Consolidation"
TO_RAD = math.pi / 180.0


def calls(jvm, op: str, many: list, chunk: int = 100) -> list:
    """``jvm.calls`` a chunk at a time: the harness reads all requests of a call before the test
    reads a reply, so the replies of one call must fit in the pipe and the JVM's buffer."""
    return [r for start in range(0, len(many), chunk) for r in jvm.calls(AREA, op, many[start:start + chunk])]


def bits(values) -> list[int]:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.int64).tolist()


def floats(values) -> np.ndarray:
    return np.array(values, dtype=np.int64).view(np.float64)


# ---------------------------------------------------------------- repr and json.dumps


def awkward_doubles(rng: np.random.Generator, n: int) -> list[float]:
    """Doubles of every kind: random bit patterns (all exponents, subnormals), decimals of few
    digits, integers and powers around the repr's switch to exponents, and halfway cases where
    two shortest decimals read back (repr takes the even one)."""
    out = floats(rng.integers(0, 2**63, n, dtype=np.int64)).tolist()
    out = [x for x in out if math.isfinite(x)]
    out += (-floats(rng.integers(0, 2**52, n // 8, dtype=np.int64))).tolist()  # subnormals, negative
    out += [round(float(x), int(d)) for x, d in zip(rng.uniform(-1e4, 1e4, n), rng.integers(0, 8, n))]
    out += [float(x) for x in rng.uniform(0, 1, n // 4) * 10.0 ** rng.integers(-30, 30, n // 4)]
    out += [float(10**k) for k in range(23)] + [10.0**k for k in range(-330, 309)]
    out += [float(2**k) for k in range(-1074, 1024, 7)] + [2.0**k for k in range(40, 64)]
    out += [float(k) + 0.5 for k in range(-20, 20)]
    out += [1e16 - 2, 1e16, 1e16 + 2, 9007199254740993.0, 123456789012345678.0]
    out += [1e-4, 1e-5, 0.0001234, 0.00001234, 1.5e-5, 0.1 + 0.2, 1 / 3, 2 / 3, 5e-324, 2.2250738585072014e-308,
            2.225073858507201e-308, 1.7976931348623157e308, 0.0, -0.0, 52.52, 13.405, 1.3, 7.0, 180.0]
    m = rng.integers(2**51, 2**52, n // 8) | 1  # odd: m / 4 ends in .25 or .75, halfway between 16-digit decimals
    out += [float(x) / 4 for x in m] + [float(x) / 8 for x in m]
    return out


def test_float_repr_is_pythons(jvm):
    rng = np.random.default_rng(17)
    values = awkward_doubles(rng, 40_000)
    java = []
    for start in range(0, len(values), 5000):
        java += jvm.call(AREA, "repr", bits(values[start:start + 5000]))
    wrong = [(v, j) for v, j in zip(values, java) if j != repr(v)]
    assert not wrong[:10], wrong[:10]
    assert len(java) == len(values) > 100_000


def random_text(rng: random.Random, lone_surrogate: bool = True) -> str:
    # a lone high surrogate but no lone low one: Java's UTF-16 would pair "\ud800" "\udfff" into
    # one character that Python keeps as two (valid text, e.g. Avro's, has no lone surrogates)
    alphabet = ["a", "Z", "0", ":", " ", '"', "\\", "/", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "ß", "\u2028",
                "\ud7ff", "\ue000", "\uffff", "\U0001f69a", "\U00010000", "\U0010ffff", "\ud800"]
    if not lone_surrogate:  # for text the JVM sends back: its UTF-8 reply cannot carry one
        alphabet = alphabet[:-1]
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))


def random_json(rng: random.Random, depth: int = 0):
    kind = rng.randint(0, 7 if depth < 3 else 4)
    if kind == 0:
        return random_text(rng)
    if kind == 1:
        return rng.choice([0, 1, -1, 2**62, -(2**63), 2**64 + 5, 10**30, rng.randint(-10**12, 10**12)])
    if kind == 2:
        return rng.choice([rng.uniform(-1e6, 1e6), rng.random() * 10.0 ** rng.randint(-20, 20), 0.0, -0.0, 1e16,
                           1e-5, math.nan, math.inf, -math.inf, float(rng.randint(-1000, 1000))])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return rng.choice(["", "x"])
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {random_text(rng): random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def tagged(value):
    """``value`` for the trip to the JVM: floats as {"$f": bits} (the harness's JSON has no NaN)."""
    if isinstance(value, float):
        return {"$f": bits([value])[0]}
    if isinstance(value, list):
        return [tagged(v) for v in value]
    if isinstance(value, dict):
        return {k: tagged(v) for k, v in value.items()}
    return value


def test_json_dumps_is_pythons_with_sorted_keys_and_escapes(jvm):
    rng = random.Random(3)
    values = [random_json(rng) for _ in range(3000)]
    values += [{"\uffff": 1, "\U0001f69a": 2, "\ud800": 3, "a": 4, "": 5}]  # code point order, not UTF-16's
    java = calls(jvm, "dumps", [tagged(v) for v in values])
    python = [__import__("json").dumps(v, sort_keys=True, separators=(",", ":")) for v in values]
    wrong = [(j, p) for j, p in zip(java, python) if j != p]
    assert not wrong[:5], wrong[:5]
    assert java[-1] == '{"":5,"a":4,"\\ud800":3,"\\uffff":1,"\\ud83d\\ude9a":2}'


# ---------------------------------------------------------------- kernel: components


def test_components_agree(jvm):
    rng = np.random.default_rng(23)
    requests, expected = [], []
    for _ in range(400):
        n_nodes = int(rng.integers(0, 80))
        n_edges = int(rng.uniform(0, 2) * n_nodes)
        a = rng.integers(0, max(n_nodes, 1), n_edges)
        b = rng.integers(0, max(n_nodes, 1), n_edges)
        requests.append({"n": n_nodes, "a": a.tolist(), "b": b.tolist()})
        labels = native.components(n_nodes, a, b).tolist()
        assert labels == components_reference(n_nodes, a, b)
        expected.append(labels)
    assert calls(jvm, "components", requests) == expected


def test_components_reject_an_endpoint_out_of_range(jvm):
    from jvm_harness import JvmError

    with pytest.raises(JvmError, match="outside"):
        jvm.call(AREA, "components", {"n": 3, "a": [0], "b": [3]})
    assert jvm.call(AREA, "components", {"n": 7, "a": [4, 1, 5, 6], "b": [1, 3, 5, 2]}) == [0, 1, 2, 1, 1, 5, 2]


# ---------------------------------------------------------------- kernel: tours


def test_open_tour_agrees_on_tied_and_near_threshold_matrices(jvm):
    """The tour step alone, on matrices no coordinates give: small integers (ties everywhere, so
    the nearest neighbour's tie rule and the 2-opt scanning order decide) and integers moved by
    less than 1.5e-7 (reversals that gain about TWO_OPT_MIN_GAIN_M)."""
    rng = np.random.default_rng(31)
    moved = 0
    for trial in range(600):
        m = int(rng.integers(0, 30))
        d = rng.integers(1, 5, (m + 1, m + 1)).astype(np.float64)
        if trial % 3 == 1:
            d += rng.choice([-1.0, 0.0, 1.0], d.shape) * rng.uniform(0, 1.5e-7, d.shape)
        elif trial % 3 == 2:
            points = rng.uniform(0, 1000, (m + 1, 2))
            d = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
        d = np.triu(d, 1)
        d = np.ascontiguousarray(d + d.T)
        path = np.empty(m + 1, np.int64)
        _open_tour(d, m, path)
        assert path.tolist() == _open_tour_reference(d.tolist())
        assert jvm.call(AREA, "open_tour", {"m": m, "d": bits(d.ravel())}) == path.tolist(), trial
        moved += path.tolist() != sorted(path.tolist())
    assert moved > 300


# ---------------------------------------------------------------- kernel: plan_groups

FLOAT_ARGS = ("lat", "lng", "volume_l", "own_lat", "own_lng", "cand_lat", "cand_lng", "cand_spare_volume")


def java_plan(jvm, args, detour, speed_mps, dwell_s):
    request = {k: (bits(v) if k in FLOAT_ARGS else np.asarray(v).tolist()) for k, v in args.items()}
    request.update(detour=bits([detour])[0], speed_mps=bits([speed_mps])[0], dwell_s=bits([dwell_s])[0])
    return jvm.call(AREA, "plan_groups", request)


def python_plan(args, detour, speed_mps, dwell_s):
    return native.plan_groups(GroupBatch(**args), detour=detour, speed_mps=speed_mps, dwell_s=dwell_s)


def compare_plans(java, python) -> tuple[int, int]:
    """Asserts equal choices and tours, kilometres equal or a few ulps apart (NaN where Python's
    are NaN); returns (kilometre values bit-equal, kilometre values)."""
    chosen, km_separate, km_consolidated, order = python
    assert java["chosen"] == chosen.tolist()
    assert java["order"] == order.tolist()
    equal = total = 0
    for name, expected in (("km_separate", km_separate), ("km_consolidated", km_consolidated)):
        got = floats(java[name])
        assert (np.isnan(got) == np.isnan(expected)).all(), name
        ok = ~np.isnan(expected)
        np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-13, atol=0)
        equal += int((got.view(np.int64) == expected.view(np.int64)).sum())
        total += len(expected)
    return equal, total


def points_both_agree_on(jvm, values: np.ndarray) -> np.ndarray:
    """``values`` (degrees of latitude) each moved by a few ulps, where needed, to one whose
    cosine Java's Math.cos gives as glibc does: on such points the kernels must agree bit for bit."""
    out = np.array(values, dtype=np.float64)
    todo = np.flatnonzero(~np.isnan(out))
    for _ in range(50):
        if not len(todo):
            return out
        java = floats(jvm.call(AREA, "cos", bits(out[todo] * TO_RAD)))
        python = np.array([math.cos(float(x) * TO_RAD) for x in out[todo]])
        bad = todo[java.view(np.int64) != python.view(np.int64)]
        out[bad] = np.nextafter(out[bad], np.inf)
        todo = bad
    raise AssertionError("latitudes without an agreeing cosine")


def test_plan_groups_agrees_bit_for_bit_where_the_cosines_agree(jvm):
    equal = total = proposals = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        args = batch(rng, int(rng.integers(1, 9)), int(rng.integers(1, 17)))
        # the same latitude stays the same latitude (ties of the nearest neighbour)
        for lat_name in ("lat", "own_lat", "cand_lat"):
            values = args[lat_name]
            unique, where = np.unique(values, return_inverse=True)
            args[lat_name] = points_both_agree_on(jvm, unique)[where]
        params = (float(rng.uniform(1, 2)), float(rng.uniform(3, 15)), float(rng.uniform(0, 600)))
        python = python_plan(args, *params)
        e, t = compare_plans(java_plan(jvm, args, *params), python)
        equal, total, proposals = equal + e, total + t, proposals + int((python[0] >= 0).sum())
    assert equal == total > 300
    assert proposals >= 50


def test_plan_groups_agrees_on_random_batches(jvm):
    equal = total = proposals = refusals = 0
    for seed in range(200):
        rng = np.random.default_rng(1000 + seed)
        args = batch(rng, int(rng.integers(1, 9)), int(rng.integers(1, 17)))
        params = (float(rng.uniform(1, 2)), float(rng.uniform(3, 15)), float(rng.uniform(0, 600)))
        python = python_plan(args, *params)
        e, t = compare_plans(java_plan(jvm, args, *params), python)
        equal, total = equal + e, total + t
        proposals, refusals = proposals + int((python[0] >= 0).sum()), refusals + int((python[0] < 0).sum())
    assert proposals >= 100 and refusals >= 100
    assert equal >= 0.9 * total  # the rest: a cosine one ulp apart, see the module docstring


def big_batch(rng, sizes, candidates=4):
    """District-sized groups: ``sizes`` deliveries each, within ~3 km, of 4 partners, all day windows."""
    args = batch(rng, len(sizes), 1)
    n = int(sum(sizes))
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    group = np.repeat(np.arange(len(sizes)), sizes)
    partner = rng.integers(0, 4, n).astype(np.int64)
    depot_lat = LAT + rng.uniform(-0.09, 0.09, (len(sizes), 4))
    depot_lng = LNG + rng.uniform(-0.15, 0.15, (len(sizes), 4))
    cand_offsets = np.arange(0, candidates * len(sizes) + 1, candidates, dtype=np.int64)
    cand_group = np.repeat(np.arange(len(sizes)), candidates)
    cand_partner = np.tile(np.arange(candidates) % 4, len(sizes)).astype(np.int64)
    args.update(group_offsets=offsets, lat=LAT + rng.uniform(-0.015, 0.015, n), lng=LNG + rng.uniform(-0.025, 0.025, n),
                window_start=np.full(n, DAY + 6 * HOUR, np.int64), window_end=np.full(n, DAY + 23 * HOUR, np.int64),
                volume_l=rng.uniform(1, 20, n), partner=partner, own_lat=depot_lat[group, partner],
                own_lng=depot_lng[group, partner], decision_ms=np.full(len(sizes), DAY + 6 * HOUR, np.int64),
                cand_offsets=cand_offsets, cand_partner=cand_partner,
                cand_lat=depot_lat[cand_group, cand_partner], cand_lng=depot_lng[cand_group, cand_partner],
                cand_from=np.full(len(cand_group), DAY + 6 * HOUR, np.int64),
                cand_to=np.full(len(cand_group), DAY + 23 * HOUR, np.int64),
                cand_spare_volume=np.full(len(cand_group), 1e5),
                cand_spare_stops=np.full(len(cand_group), 1000, np.int64))
    return args


def test_plan_groups_agrees_on_district_sized_groups(jvm, capsys):
    rng = np.random.default_rng(99)
    args = big_batch(rng, [350, 120, 40])
    params = (1.3, 7.0, 30.0)  # short dwells: 350 stops fit in the day
    java_plan(jvm, big_batch(np.random.default_rng(1), [60, 60]), *params)  # warm the JVM
    start = time.perf_counter()
    python = python_plan(args, *params)
    numba_s = time.perf_counter() - start
    java = java_plan(jvm, args, *params)
    compare_plans(java, python)
    assert (python[0] >= 0).all()
    with capsys.disabled():
        print(f"\nplan_groups, groups of 350, 120 and 40 with 4 candidates: Numba {numba_s * 1000:.0f} ms, "
              f"Java (C1) {java['nanos'] / 1e6:.0f} ms")


# ---------------------------------------------------------------- small functions


def test_round3_is_pythons_round(jvm):
    rng = np.random.default_rng(12)
    values = [k / 16 for k in range(-800, 800)]  # odd sixteenths: exactly halfway at the third decimal
    values += [k / 2000 for k in range(-4000, 4000)] + rng.uniform(0, 500, 20_000).tolist()
    values += (rng.uniform(0, 1, 2000) * 10.0 ** rng.integers(-8, 17, 2000)).tolist()
    values += [-0.0004, -0.0, 0.0, 0.0005, 1e300, 5e-324, 2.675, 1.0005, 1e15 + 0.0625]
    java = floats(jvm.call(AREA, "round3", bits(values)))
    python = np.array([round(v, 3) for v in values])
    assert java.view(np.int64).tolist() == python.view(np.int64).tolist()



def test_neighbourhood_of_is_h3_pys_parent(jvm):
    rng = np.random.default_rng(8)
    cells = [h3i.latlng_to_cell(float(lat), float(lng), int(res))
             for lat, lng, res in zip(rng.uniform(-89, 89, 3000), rng.uniform(-180, 180, 3000),
                                      rng.integers(7, 16, 3000))]
    assert jvm.call(AREA, "neighbourhood_of", cells) == [c.neighbourhood_of(cell) for cell in cells]


def test_offer_from_fields_and_group_digest(jvm):
    record = {"event_id": "e-1", "partner_id": "pä", "vehicle_id": None, "depot_lat": 52.5, "depot_lng": 13.25,
              "available_from": DAY, "available_to": DAY + HOUR, "spare_volume_l": 120.5, "spare_stops": 4}
    for vehicle in (None, "van-\U0001f69a"):
        r = {**record, "vehicle_id": vehicle}
        fields = [r[k] for k in ("partner_id", "vehicle_id", "event_id", "depot_lat", "depot_lng", "available_from",
                                 "available_to", "spare_volume_l", "spare_stops")]
        assert jvm.call(AREA, "offer_from_fields", fields) == list(c.offer_from_record(r))
    rng = random.Random(4)
    # no lone surrogates: Python cannot encode them in UTF-8 for the digest
    groups = [[Member(random_text(rng, False) or "p", random_text(rng, False), 52.5, 13.4, DAY, DAY + HOUR, 1.0)
               for _ in range(rng.randint(1, 6))] for _ in range(200)]
    assert calls(jvm, "group_digest", [[list(m) for m in g] for g in groups]) == [c.group_digest(g) for g in groups]


def test_ranked_offers_keep_the_three_roomiest_per_partner(jvm):
    rng = random.Random(6)
    for _ in range(300):
        volumes = [0.0, -0.0] if rng.random() < 0.3 else [0.0, -0.0, 10.0, 10.0, 55.5, rng.uniform(0, 100)]
        offers = [Offer(p, f"{p}:{random_text(rng, False)}{i}", 52.5, 13.4, DAY, DAY + HOUR, rng.choice(volumes), 3)
                  for i, p in enumerate(rng.choice(["pa", "pb", "p\uffff", "p\U0001f69a"])
                                        for _ in range(rng.randint(0, 12)))]
        python = {p: [o.offer_key for o in ranked] for p, ranked in c._ranked_offers(offers).items()}
        assert jvm.call(AREA, "ranked_offers", [list(o) for o in offers]) == python


def test_offer_retention_is_per_partner_and_agrees(jvm):
    """A partner's newest offer removes only that partner's offers that ended a day before it
    began: an offer dated far ahead never removes another partner's (it once did)."""
    rng = random.Random(13)
    far = Offer("pz", "pz:far", 52.5, 13.4, 50 * 365 * DAY, 50 * 365 * DAY + HOUR, 10.0, 3)
    others = [(f"{p}:{i}", Offer(p, f"{p}:{i}", 52.5, 13.4, DAY, DAY + HOUR, 10.0, 3)) for i, p in enumerate("ab")]
    assert c.offers_ended_before(others, far) == []
    assert jvm.call(AREA, "offers_ended_before", [[[k, list(o)] for k, o in others], list(far)]) == []
    for _ in range(300):
        offers = []
        for i in range(rng.randint(0, 8)):
            start = rng.choice([0, DAY, 3 * DAY, rng.randint(0, 5 * DAY)])
            o = Offer(rng.choice(["pa", "pb", "pz"]), f"k{i}", 52.5, 13.4, start, start + rng.choice([1, HOUR]), 1.0, 1)
            offers.append((o.offer_key, o))
        start = rng.choice([DAY, 2 * DAY + HOUR, 6 * DAY])
        newest = Offer(rng.choice(["pa", "pz"]), "new", 52.5, 13.4, start, start + HOUR, 1.0, 1)
        python = c.offers_ended_before(offers, newest)
        assert all(dict(offers)[k].partner_id == newest.partner_id for k in python)
        assert jvm.call(AREA, "offers_ended_before", [[[k, list(o)] for k, o in offers], list(newest)]) == python


# ---------------------------------------------------------------- the Neighbourhood, timer by timer


PARTNERS = ["pa", "pb", "pc", "pä", "p\uffff", "p\U0001f69a"]  # the last two sort differently by UTF-16 unit


class Scenario:
    """Random Matcher messages, capacity offers and timers for one neighbourhood."""

    def __init__(self, seed: int, district: bool):
        self.rng = random.Random(seed)
        # district: every new delivery joins one already there, all windows open within two hours
        # of each other and last all day: one group grows to hundreds before it becomes due, then
        # is decided again at every change
        self.district = district
        self.now = DAY + 2 * HOUR
        self.due_from = self.now + 2 * HOUR
        self.tasks: dict[str, Member] = {}
        self.offers: dict[str, Offer] = {}
        self.serial = 0

    def task(self) -> Member:
        rng = self.rng
        self.serial += 1
        partner = rng.choice(PARTNERS)
        volume = rng.choice([20.0, 40.0, 12.5, 1e-05, 0.1, rng.uniform(1, 80)])
        shipment = f"s{self.serial}" + rng.choice(["", "é", '"'])
        if self.district:
            start = self.due_from + c.LEAD_MS + rng.randint(0, 120) * 60_000
            m = Member(partner, shipment, LAT + rng.uniform(-0.01, 0.01), LNG + rng.uniform(-0.015, 0.015), start,
                       start + 24 * HOUR, volume)
        else:
            start = self.now + rng.randint(0, 10) * HOUR + rng.choice([0, 15 * 60_000, 1])
            m = Member(partner, shipment, LAT + rng.uniform(-0.006, 0.006), LNG + rng.uniform(-0.01, 0.01), start,
                       start + rng.randint(1, 6) * HOUR, volume)
        self.tasks[m.key] = m
        return m

    def revised(self, m: Member) -> Member:
        """A new version of a delivery (moved window, other volume)."""
        shift = self.rng.choice([-HOUR, 0, HOUR])
        m = m._replace(window_start=m.window_start + shift, window_end=m.window_end + shift,
                       volume_l=self.rng.choice([m.volume_l, 30.0]))
        self.tasks[m.key] = m
        return m

    def live(self) -> list[Member]:
        return [m for m in self.tasks.values() if m.window_end > self.now]

    def changes(self, edges) -> list[tuple]:
        rng, out = self.rng, []
        for _ in range(rng.choice([0, 1, 2, 3] if self.district and self.now >= self.due_from else
                                  [2, 5] if self.district else [0, 0, 1, 1, 2, 3, 5, 8])):
            r, live = rng.random(), self.live()
            if r < (0.97 if self.district else 0.7) or len(live) < 2:
                if self.district and live:
                    a, b = rng.choice(live), self.task()
                else:
                    a = rng.choice(live) if live and rng.random() < 0.6 else self.task()
                    b = rng.choice(live) if live and rng.random() < 0.3 else self.task()
                if a.key == b.key:
                    continue
                if rng.random() < 0.1:
                    a = self.revised(a)
                out.append(Link(0, a, b))
            elif r < 0.9 and edges:
                key_a, key_b = rng.choice(sorted(edges))
                out.append(Unlink(0, *((key_a, key_b) if rng.random() < 0.5 else (key_b, key_a))))
            else:
                a, b = rng.sample(live, 2)
                out.append(Unlink(0, a.key, b.key))  # mostly not a match: ignored
        return out

    def offer_updates(self) -> None:
        rng = self.rng
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            partner = rng.choice(PARTNERS + ["p-none"])
            who = rng.choice(["van-1", "van-2", "van-3", "van-4", f"e{rng.randint(0, 99)}"])
            start = self.now - rng.randint(0, 3) * HOUR
            volume = rng.choice([0.0, 50.0, 200.0, 200.0, 1000.0, rng.uniform(0, 600)])
            hours, stops = rng.randint(2, 14), rng.choice([0, 2, 5, 10, 40, 400])
            if self.district:
                volume, hours, stops = rng.choice([1e4, 2e4, rng.uniform(5e3, 3e4)]), 48, rng.choice([500, 1000])
            self.offers[f"{partner}:{who}"] = Offer(partner, f"{partner}:{who}", LAT + rng.uniform(-0.08, 0.08),
                                                    LNG + rng.uniform(-0.12, 0.12), start, start + hours * HOUR,
                                                    volume, stops)

    def advance(self) -> None:
        if self.district:
            self.now += self.rng.choice([0, 60_000, 5 * 60_000])
        else:
            self.now += self.rng.choice([0, 1, 60_000, 10 * 60_000, HOUR, HOUR, 3 * HOUR])


def python_state(n: Neighbourhood) -> dict:
    return {"members": {k: list(m) for k, m in n.members.items()}, "edges": set(n.edges),
            "decided": dict(n.decided), "promised": {k: list(v) for k, v in n.promised.items()}}


def java_state(state: dict) -> dict:
    return {"members": {k: fields for k, fields in state["members"]}, "edges": {tuple(e) for e in state["edges"]},
            "decided": state["decided"], "promised": state["promised"]}


def wire_change(change) -> list:
    if isinstance(change, Link):
        return ["link", change.neighbourhood, list(change.a), list(change.b)]
    return ["unlink", *change]


def run_scenario(jvm, seed: int, steps: int, district: bool = False) -> dict:
    s, n, nid = Scenario(seed, district), Neighbourhood(), f"n{seed}-{district}"
    jvm.call(AREA, "nb_reset", {"id": nid})
    counts = {"proposals": 0, "timers": 0, "largest": 0, "java_ns": 0, "python_ns": 0}
    for _ in range(steps):
        changes = s.changes(n.edges)
        s.offer_updates()
        s.advance()
        start = time.perf_counter_ns()
        proposals, changed = n.on_timer(s.now, changes, s.offers)
        counts["python_ns"] += time.perf_counter_ns() - start
        # now and then the groups too: asking for them splits what a cut may have split, which
        # due() leaves for later while the group is not due
        check_groups = s.rng.random() < 0.2
        java = jvm.call(AREA, "nb_timer", {"id": nid, "now": s.now, "changes": [wire_change(x) for x in changes],
                                           "offers": [list(o) for o in s.offers.values()], "groups": check_groups})
        counts["java_ns"] += java["nanos"]
        context = f"seed {seed}, timer {counts['timers']} at {s.now}"
        assert java["changed"] == changed, context
        assert len(java["proposals"]) == len(proposals), context
        for p, j in zip(proposals, java["proposals"]):
            record = proposal_record(p)
            assert j["record"] == record, context
            assert list(j["record"]) == list(record)  # the schema's field order
            assert j["row"] == [list(v) if isinstance(v, tuple) else v for v in proposal_row(p)], context
            assert p.kernel_version == KERNEL_VERSION
            assert j["inputs"] == p.inputs and hashlib.sha256(p.inputs.encode()).hexdigest() == p.inputs_digest
        assert java_state(java["state"]) == python_state(n), context
        if check_groups:
            python_groups = [[m.key for m in g] for g in n.groups()]
            assert java["groups"] == java["groups_rebuilt"] == python_groups, context
        assert java["state"]["empty"] == (not (n.members or n.decided or n.promised))
        counts["proposals"] += len(proposals)
        counts["largest"] = max([counts["largest"]] + [len(p.shipments) for p in proposals])
        counts["timers"] += 1
        if s.rng.random() < 0.05:  # a checkpoint and restore: the caches start over on both sides
            n = pickle.loads(pickle.dumps(n))
            jvm.call(AREA, "nb_restore", {"id": nid, "plain": s.rng.random() < 0.5})
    return counts


@pytest.mark.parametrize("seed", range(8))
def test_neighbourhood_proposes_as_python_timer_by_timer(jvm, seed):
    counts = run_scenario(jvm, seed, 400)
    assert counts["proposals"] >= 20, counts


def test_a_district_with_groups_of_hundreds_proposes_as_python(jvm, capsys):
    counts = run_scenario(jvm, 100, 120, district=True)
    assert counts["proposals"] >= 5 and counts["largest"] >= 100, counts
    with capsys.disabled():
        print(f"\ndistrict: {counts['timers']} timers, {counts['proposals']} proposals of up to {counts['largest']} "
              f"deliveries; on_timer Python {counts['python_ns'] / 1e6:.0f} ms, "
              f"Java (C1) {counts['java_ns'] / 1e6:.0f} ms")


def test_links_between_matcher_and_consolidator_survive_their_serializer(jvm):
    """Matcher.Links cross the network with a serializer of their own (udfs/jvm LinksType):
    links and unlinks of any text (accents, quotes, characters beyond the BMP), in order."""
    s, edges = Scenario(11, district=False), set()
    for _ in range(40):
        changes = s.changes(edges)
        edges |= {tuple(sorted((c.a.key, c.b.key))) for c in changes if isinstance(c, Link)}
        s.advance()
        wire = [wire_change(c._replace(neighbourhood=s.rng.randint(0, 2**62))) for c in changes]
        back = jvm.call(AREA, "links_roundtrip", {"neighbourhood": s.rng.randint(-2**62, 2**62), "changes": wire})
        assert back == {"equal": True, "changes": len(wire)}
