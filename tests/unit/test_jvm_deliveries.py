"""core.Deliveries (udfs/jvm) against udfs.eta's Delivery, DeliveryEvent and in_event_order.

A shipment's tasks and statuses are fed in random arrival orders, released in random batches as
the Registry releases them (each batch applied in event order) or one by one as they arrive;
after every batch the Assign / Unassign messages, the delivery's state and its clean-up time
must be equal. Floats cross as ``float.hex`` text, so equal means the same bits.
"""
import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.eta import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    Assign,
    Delivery,
    DeliveryEvent,
    Stop,
    Unassign,
    in_event_order,
    status_event,
    task_event,
)
from udfs.flink.coordination import DELIVERY_RETENTION_MS, HOUR_MS

AREA = "Deliveries"
STATUSES = [*OPEN_STATUSES, *OPEN_STATUSES, *FINAL_STATUSES, "PICKED_UP"]  # and one neither open nor final
IDS = ["a", "b", "e1", "e10", "e2", "\uffff", "\U0001f600", "é"]


def hx(x: float) -> str:
    return float(x).hex()


def fx(s: str) -> float:
    return float.fromhex(s)


def calls(jvm, op: str, many: list) -> list:
    """``jvm.calls`` in chunks of under 32 kB of requests (a round trip writes them all before it
    reads a reply: more could fill both pipes and block both processes)."""
    out, chunk, size = [], [], 0
    for args in many:
        chunk.append(args)
        size += len(json.dumps(args)) + 40
        if size > 32_000:
            out += jvm.calls(AREA, op, chunk)
            chunk, size = [], 0
    return out + (jvm.calls(AREA, op, chunk) if chunk else [])


def to_java(spec: tuple) -> list:
    if spec[0] == "task":
        _kind, at, event_id, lat, lng, window_start = spec
        return ["task", at, event_id, hx(lat), hx(lng), window_start]
    return list(spec)


def to_python(spec: tuple) -> DeliveryEvent:
    if spec[0] == "task":
        return task_event(*spec[1:])
    _kind, at, event_id, status, vehicle_id, stop_sequence = spec
    return status_event({"event_time": at, "event_id": event_id, "status": status, "vehicle_id": vehicle_id,
                         "stop_sequence": stop_sequence})


def event_of(j: list) -> DeliveryEvent:
    dest = None if j[3] is None else (fx(j[3][0]), fx(j[3][1]), j[3][2])
    return DeliveryEvent(j[0], j[1], j[2], dest, *j[4:])


def change_of(j: list):
    if j[0] == "assign":
        shipment, sequence, lat, lng, window_start = j[2]
        return Assign(j[1], Stop(shipment, sequence, fx(lat), fx(lng), window_start), j[3])
    return Unassign(j[1], j[2], j[3])


def state_of(j: list) -> tuple:
    dest = None if j[2] is None else (fx(j[2][0]), fx(j[2][1]), j[2][2])
    return (j[0], j[1], dest, *j[3:])


def state(d: Delivery) -> tuple:
    return d.partner_id, d.shipment_id, d.dest, d.task_time, d.status, d.status_time, d.vehicle_id, d.stop_sequence


def reference(key: str, batches: list[list[tuple]], one_by_one: bool) -> list:
    """What the Registry does (udfs.flink.coordination.Registry._apply), batch by batch."""
    delivery = Delivery(*key.split(":", 1))
    out = []
    for batch in batches:
        events = [to_python(e) for e in batch]
        ordered = events if one_by_one else in_event_order(events)
        changes = [c for e in ordered for c in delivery.apply(e)]
        retain_until = max(delivery.task_time, delivery.status_time) + DELIVERY_RETENTION_MS
        out.append((changes, state(delivery), retain_until, -(-retain_until // HOUR_MS) * HOUR_MS))
    return out


def random_events(rng, n: int) -> list[tuple]:
    """A shipment's tasks and statuses with many equal times (ranks and event ids decide), vans
    that change, statuses without a van or a stop sequence."""
    events = []
    for i in range(n):
        at = int(rng.integers(0, 12)) * 60_000 + int(rng.choice([0, 0, 0, 1]))
        event_id = str(rng.choice(IDS)) + (str(i) if rng.random() < 0.7 else "")
        if rng.random() < 0.3:
            events.append(("task", at, event_id, float(rng.uniform(52.3, 52.7)), float(rng.uniform(13.1, 13.7)),
                           int(rng.integers(0, 8)) * HOUR_MS // 2))
        else:
            events.append(("status", at, event_id, str(rng.choice(STATUSES)),
                           None if rng.random() < 0.15 else f"v{rng.integers(3)}",
                           None if rng.random() < 0.3 else int(rng.integers(0, 20))))
    return events


def random_batches(rng, events: list[tuple]) -> list[list[tuple]]:
    order = [events[i] for i in rng.permutation(len(events))]
    cuts = sorted({0, len(order), *(int(c) for c in rng.integers(0, len(order) + 1, int(rng.integers(0, 5))))})
    return [order[a:b] for a, b in zip(cuts, cuts[1:])]


def test_events_and_their_order_agree(jvm):
    rng = np.random.default_rng(21)
    specs = random_events(rng, 600) + [("status", 5, "x", None, None, None), ("task", 0, "", -0.0, 180.0, -5)]
    assert [event_of(e) for e in calls(jvm, "event", [to_java(s) for s in specs])] == [to_python(s) for s in specs]
    groups = []
    for _ in range(200):
        group = [specs[int(i)] for i in rng.integers(0, len(specs), int(rng.integers(0, 12)))]
        if group and rng.random() < 0.3:  # equal (time, rank, event id), another van: the sort must be stable
            kind, at, event_id, status, _vehicle, sequence = group[0] if group[0][0] == "status" else (
                "status", group[0][1], group[0][2], "DELIVERED", None, None)
            group += [(kind, at, event_id, status, "w1", sequence), (kind, at, event_id, status, "w2", sequence)]
        groups.append(group)
    java = calls(jvm, "in_event_order", [[to_java(s) for s in g] for g in groups])
    assert [[event_of(e) for e in g] for g in java] == [in_event_order([to_python(s) for s in g]) for g in groups]


def test_delivery_sequences_agree_batch_by_batch(jvm):
    rng = np.random.default_rng(22)
    requests, expected = [], []
    for _ in range(1500):
        key = str(rng.choice(["p:s", "p:s:with:colons", "\U0001f600:é"]))
        events = random_events(rng, int(rng.integers(1, 16)))
        batches = random_batches(rng, events)
        one_by_one = bool(rng.random() < 0.3)
        requests.append([key, [[to_java(e) for e in b] for b in batches], one_by_one])
        expected.append(reference(key, batches, one_by_one))
    java = calls(jvm, "run", requests)
    decoded = [[([change_of(c) for c in changes], state_of(s), retain, timer) for changes, s, retain, timer in run]
               for run in java]
    for i, (j, p) in enumerate(zip(decoded, expected)):
        assert j == p, (i, requests[i])
    changes = [c for run in expected for changes, *_ in run for c in changes]
    assert sum(isinstance(c, Assign) for c in changes) > 300
    assert sum(isinstance(c, Unassign) for c in changes) > 300
    assert any(c.stop.stop_sequence is None for c in changes if isinstance(c, Assign))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.sampled_from(["task", "status"]), st.integers(0, 4), st.sampled_from(IDS),
                          st.sampled_from(STATUSES), st.sampled_from([None, "v0", "v1"]),
                          st.sampled_from([None, 0, 3])), min_size=1, max_size=12),
       st.lists(st.integers(0, 12), max_size=3), st.booleans())
def test_property_any_arrival_and_release_agrees(jvm, raw, cuts, one_by_one):
    events = [("task", at, eid, 52.5 + at / 1000, 13.4, at * 1000) if kind == "task"
              else ("status", at, eid, status, vehicle, sequence)
              for kind, at, eid, status, vehicle, sequence in raw]
    bounds = sorted({0, len(events), *(min(c, len(events)) for c in cuts)})
    batches = [events[a:b] for a, b in zip(bounds, bounds[1:])]
    [java] = calls(jvm, "run", [["p:s", [[to_java(e) for e in b] for b in batches], one_by_one]])
    assert [([change_of(c) for c in changes], state_of(s), retain, timer) for changes, s, retain, timer in java] == \
        reference("p:s", batches, one_by_one)
