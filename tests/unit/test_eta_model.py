"""ETA model: the task x status join per shipment, routes per vehicle, predictions, emission policy."""
import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.colocation import haversine_m
from udfs.eta import (
    DWELL_S,
    EMIT_CHANGE_MS,
    EMIT_INTERVAL_MS,
    MIN_PACE_SEGMENTS,
    PACE_LIMITS,
    Assign,
    Delivery,
    Route,
    Stop,
    Unassign,
    apply_changes,
)
from udfs.kernels.eta import eta_batch_reference

T0 = 1_762_153_200_000  # 2025-11-03T07:00:00Z, a Monday
MIN = 60_000


def test_a_shipment_joins_its_van_once_task_and_status_are_both_known():
    d = Delivery("p1", "S1")
    assert d.on_status(T0, "OUT_FOR_DELIVERY", "VAN-1", 3) == []  # destination unknown yet
    changes = d.on_task(T0 - 3_600_000, 52.5, 13.4, T0 + 60 * MIN)
    assert changes == [Assign("p1:VAN-1", Stop("S1", 3, 52.5, 13.4, T0 + 60 * MIN), T0 - 3_600_000)]
    moved = d.on_task(T0 + MIN, 52.5, 13.4, T0 + 120 * MIN)  # the recipient moved the window
    assert moved == [Assign("p1:VAN-1", Stop("S1", 3, 52.5, 13.4, T0 + 120 * MIN), T0 + MIN)]
    assert d.on_task(T0 - 7_200_000, 0.0, 0.0, 0) == []  # an older announcement changes nothing
    assert d.on_status(T0 + 30 * MIN, "OUT_FOR_DELIVERY", "VAN-2", 0) == [
        Unassign("p1:VAN-1", "S1", T0 + 30 * MIN),
        Assign("p1:VAN-2", Stop("S1", 0, 52.5, 13.4, T0 + 120 * MIN), T0 + 30 * MIN)]
    assert d.on_status(T0 + 10 * MIN, "DELIVERED", "VAN-1", 3) == []  # older than the last status applied
    assert d.on_status(T0 + 90 * MIN, "DELIVERED", "VAN-2", 0) == [Unassign("p1:VAN-2", "S1", T0 + 90 * MIN)]
    assert d.on_status(T0 + 91 * MIN, "DELIVERED", "VAN-2", 0) == []  # already off the van


def test_a_final_status_for_a_forgotten_shipment_still_frees_its_van():
    assert Delivery("p1", "S1").on_status(T0, "FAILED_ATTEMPT", "VAN-1", 4) == [Unassign("p1:VAN-1", "S1", T0)]
    assert Delivery("p1", "S1").on_status(T0, "CANCELLED", None, None) == []


@settings(max_examples=80, deadline=None)
@given(order=st.permutations(range(4)), final=st.sampled_from(["DELIVERED", "FAILED_ATTEMPT", "RETURNED"]))
def test_whatever_the_arrival_order_a_finished_shipment_leaves_no_stop(order, final):
    events = [("task", T0 - 3_600_000), ("status", T0, "PICKED_UP"), ("status", T0 + MIN, "OUT_FOR_DELIVERY"),
              ("status", T0 + 50 * MIN, final)]
    routes, d = {}, Delivery("p1", "S1")
    for i in order:
        e = events[i]
        if e[0] == "task":
            apply_changes(routes, d.on_task(e[1], 52.5, 13.4, T0 + 60 * MIN))
        else:
            apply_changes(routes, d.on_status(e[1], e[2], "VAN-1", 0 if e[2] == "OUT_FOR_DELIVERY" else None))
    assert all(not r.stops for r in routes.values())


def test_a_shipment_out_for_delivery_is_on_its_van_in_any_order_of_task_and_status():
    for first_task in (True, False):
        routes, d = {}, Delivery("p1", "S1")
        steps = [lambda d=d: d.on_task(T0 - 3_600_000, 52.5, 13.4, T0),
                 lambda d=d: d.on_status(T0, "OUT_FOR_DELIVERY", "VAN-1", 0)]
        for step in (steps if first_task else steps[::-1]):
            apply_changes(routes, step())
        assert list(routes["p1:VAN-1"].stops) == ["S1"]


def route_with(stops, ts=T0, lat=52.50, lng=13.40):
    route = Route("p1", "VAN-1")
    for s in stops:
        route.assign(s)
    route.observe(ts, lat, lng, 6.0)
    return route


def test_prediction_is_the_kernel_along_the_stops_in_sequence_order():
    stops = [Stop("C", 2, 52.53, 13.40, 0), Stop("A", 0, 52.51, 13.40, T0 + 90 * MIN), Stop("B", 1, 52.52, 13.41, 0),
             Stop("D", None, 52.52, 13.42, T0)]
    route = route_with(stops)
    ordered, _ = route.plan()
    assert [s.shipment_id for s in ordered] == ["A", "B", "C", "D"]  # sequence first, then unsequenced stops
    got = route.predict(lambda cell, hour: 8.0, detour=1.3)
    lat = np.array([s.lat for s in ordered])
    lng = np.array([s.lng for s in ordered])
    expected = eta_batch_reference([52.50], [13.40], [T0], [0, 4], lat, lng, [s.window_start for s in ordered],
                                   np.full(4, 8.0), 1.3, DWELL_S, 1.0)
    assert np.abs(got - np.array(expected)).max() <= 1
    first_leg_s = haversine_m(52.50, 13.40, 52.51, 13.40) * 1.3 / 8.0
    assert abs(got[0] - (T0 + first_leg_s * 1000)) <= 1
    # the van is early for A's window: B's arrival counts from A's window start + dwell
    second_leg_s = haversine_m(52.51, 13.40, 52.52, 13.41) * 1.3 / 8.0
    assert abs(got[1] - (T0 + 90 * MIN + DWELL_S * 1000 + second_leg_s * 1000)) <= 2


def test_slower_streets_later_arrivals():
    route = route_with([Stop("A", 0, 52.51, 13.40, 0), Stop("B", 1, 52.52, 13.40, 0)])
    fast, slow = route.predict(lambda c, h: 10.0), route.predict(lambda c, h: 5.0)
    assert (slow > fast).all()
    assert abs((slow[0] - T0) - 2 * (fast[0] - T0)) <= 2


def test_emission_policy_first_then_on_change_then_on_interval():
    route = route_with([Stop("A", 0, 52.51, 13.40, 0), Stop("B", 1, 52.52, 13.40, 0)])
    first = route.updates(lambda c, h: 8.0)
    assert [u.shipment_id for u in first] == ["A", "B"] and all(u.predicted_at == T0 for u in first)
    route.observe(T0 + 30_000, 52.5003, 13.40, 8.0)
    assert route.updates(lambda c, h: 8.0) == []  # on schedule: nothing new to say
    route.observe(T0 + 60_000, 52.5006, 13.40, 8.0)
    slower = route.updates(lambda c, h: 2.0)  # a jam: both stops move by far more than the threshold
    assert [u.shipment_id for u in slower] == ["A", "B"]
    assert all(u.eta - f.eta > EMIT_CHANGE_MS for u, f in zip(slower, first))
    route.observe(T0 + 60_000 + EMIT_INTERVAL_MS, 52.5006, 13.40, 0.0)  # parked, same ETA, but time has passed
    assert len(route.updates(lambda c, h: 2.0)) == 2


def test_every_update_names_the_digest_of_what_its_prediction_was_made_from():
    """The audit trail of an ETA: the SHA-256 of eta_inputs (the model, the van, its position, its
    stops in order, the legs' speeds in µm/s); another position or another speed gives another digest."""
    import hashlib
    import struct

    from udfs.eta import MODEL_VERSION, eta_inputs

    route = route_with([Stop("A", 0, 52.51, 13.40, 0), Stop("B", 1, 52.52, 13.40, 0)])
    first = route.updates(lambda c, h: 8.0)
    inputs = eta_inputs("p1", "VAN-1", route.last_ping, route.plan()[0], [8.0, 8.0000000001])

    def text(t: str) -> bytes:
        return struct.pack(">i", len(t.encode())) + t.encode()

    ts, lat, lng = route.last_ping[:3]
    assert inputs == (text(MODEL_VERSION) + text("p1") + text("VAN-1") + struct.pack(">qddi", ts, lat, lng, 2)
                      + text("A") + struct.pack(">ddq", 52.51, 13.40, 0) + text("B") + struct.pack(">ddq", 52.52, 13.40, 0)
                      + struct.pack(">qq", 8_000_000, 8_000_000))
    assert {u.inputs_digest for u in first} == {hashlib.sha256(inputs).hexdigest()}
    route.observe(T0 + 60_000, 52.5006, 13.40, 8.0)
    slower = route.updates(lambda c, h: 2.0)
    assert slower and {u.inputs_digest for u in slower} != {u.inputs_digest for u in first}


def test_late_positions_neither_move_the_van_nor_teach():
    route = route_with([Stop("A", 0, 52.51, 13.40, 0)], ts=T0)
    assert route.observe(T0 - 30_000, 52.49, 13.40, 8.0) is None
    assert route.last_ping[0] == T0


def test_a_van_faster_than_the_profile_gets_earlier_etas_within_limits():
    route = route_with([Stop("A", 0, 52.60, 13.40, 0)])
    before = route.predict(lambda c, h: 5.0)
    step = 300.0 / 111_194.93  # 300 m per 30 s: 10 m/s, twice the profile's 5 m/s
    for i, _ in zip(itertools.count(1), range(MIN_PACE_SEGMENTS + 20)):
        segment = route.observe(T0 + i * 30_000, 52.50 + i * step, 13.40, 10.0)
        route.learn_pace(segment, lambda c, h: 5.0)
    assert abs(route.pace_factor() - 2.0) < 0.01
    assert route.predict(lambda c, h: 5.0)[0] - route.last_ping[0] < before[0] - T0
    for _ in range(200):  # a van crawling at a tenth of the profile: believed only down to the limit
        route.learn_pace((0, 0, 0.5), lambda c, h: 5.0)
    assert route.pace_factor() == PACE_LIMITS[0]
    assert route.predict(lambda c, h: 5.0, use_pace=False)[0] == route_with(
        [Stop("A", 0, 52.60, 13.40, 0)], ts=route.last_ping[0], lat=route.last_ping[1]).predict(lambda c, h: 5.0)[0]


def test_a_route_survives_pickling_as_plain_values_and_predicts_the_same():
    import pickle

    stops = [Stop("C", 2, 52.53, 13.40, 0), Stop("A", 0, 52.51, 13.40, T0 + 90 * MIN), Stop("D", None, 52.52, 13.42, T0)]
    route = route_with(stops)
    route.learn_pace((0, 0, 5.0), lambda cell, hour: 8.0)
    speed = lambda cell, hour: 7.0  # noqa: E731
    route.updates(speed)  # fills the plan cache and what was emitted
    copy = pickle.loads(pickle.dumps(route))
    assert copy == route and copy.emitted == route.emitted and copy.pace_sums == route.pace_sums
    assert all(type(s) is Stop for s in copy.stops.values())
    assert copy.predict(speed).tolist() == route.predict(speed).tolist()
    old_form = Route.__new__(Route)  # state pickled as the dataclass's fields (older checkpoints)
    old_form.__setstate__(dict(vars(route)))
    assert old_form == route


def test_a_delivery_survives_pickling_as_plain_values():
    import pickle

    d = Delivery("p1", "S1")
    d.on_task(T0 - 3_600_000, 52.5, 13.4, T0)
    d.on_status(T0, "OUT_FOR_DELIVERY", "VAN-1", 3)
    assert pickle.loads(pickle.dumps(d)) == d
    old_form = Delivery.__new__(Delivery)  # state pickled as the dataclass's fields
    old_form.__setstate__(dict(vars(d)))
    assert old_form == d


@settings(max_examples=100, deadline=None)
@given(order=st.permutations(range(6)))
def test_in_event_order_a_shipment_tells_its_vans_the_same_whatever_the_arrival_order(order):
    """What the Registry does with the events of an interval: the changes do not depend on
    their arrival (a status arriving before its task, a final status before the pick-up)."""
    from udfs.eta import in_event_order, status_event, task_event

    def status(at, status, van, seq, event_id):
        return status_event({"event_time": at, "status": status, "vehicle_id": van, "stop_sequence": seq,
                             "event_id": event_id})

    events = [task_event(T0 - 60 * MIN, "t1", 52.5, 13.4, T0 + 60 * MIN),
              status(T0, "OUT_FOR_DELIVERY", "VAN-1", 2, "s1"),
              task_event(T0 + 10 * MIN, "t2", 52.51, 13.41, T0 + 90 * MIN),  # the window moved
              status(T0 + 20 * MIN, "OUT_FOR_DELIVERY", "VAN-2", 0, "s2"),  # moved to another van
              status(T0 + 20 * MIN, "DELIVERED", "VAN-3", 1, "s0"),  # same millisecond: after the pick-ups
              status(T0 + 20 * MIN, "OUT_FOR_DELIVERY", "VAN-3", 1, "s3")]  # same time and rank: by event id

    def changes(arrival):
        d = Delivery("p1", "S1")
        return [c for e in in_event_order(arrival) for c in d.apply(e)]

    expected = changes(events)
    assert expected == [Assign("p1:VAN-1", Stop("S1", 2, 52.5, 13.4, T0 + 60 * MIN), T0),
                        Assign("p1:VAN-1", Stop("S1", 2, 52.51, 13.41, T0 + 90 * MIN), T0 + 10 * MIN),
                        Unassign("p1:VAN-1", "S1", T0 + 20 * MIN),
                        Assign("p1:VAN-2", Stop("S1", 0, 52.51, 13.41, T0 + 90 * MIN), T0 + 20 * MIN),
                        Unassign("p1:VAN-2", "S1", T0 + 20 * MIN),
                        Assign("p1:VAN-3", Stop("S1", 1, 52.51, 13.41, T0 + 90 * MIN), T0 + 20 * MIN),
                        Unassign("p1:VAN-3", "S1", T0 + 20 * MIN)]
    assert changes([events[i] for i in order]) == expected
