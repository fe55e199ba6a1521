"""The coordination graph on the MiniCluster at parallelism 2 with small bounded sources (no services).

The source is a collection with event-time timestamps and watermarks, so lateness
is deterministic here (on Kafka it depends on how fast each partition is read).
"""
import functools
import pathlib
import sys

import cloudpickle
import numpy as np
from clickhouse_types import column_types
from pyflink.common import Duration, Row, Types
from pyflink.common.watermark_strategy import TimestampAssigner, WatermarkStrategy
from pyflink.datastream import DataStream
from pyflink.java_gateway import get_gateway
from samples import HOUR, valid

from jobs import coordination
from lastmile.config import Config
from lastmile.run import stream_env
from lastmile.simulator import truth as truth_mod
from udfs.contracts import wire
from udfs.records import Outputs
from udfs.sinks import frames
from udfs.sinks.rowbinary import decode_rows

BASE = 1_751_328_000_000  # 2025-07-01
SCHEMAS = {"delivery_tasks": "DeliveryTask", "vehicle_positions": "VehiclePosition",
           "shipment_status": "ShipmentStatus", "capacity_offers": "CapacityOffer"}

# The Python workers cannot import this test module: ship its classes by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class KafkaTime(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[4]


def _source(env, rows):
    """A source like udfs/jvm KafkaRows: rows (payload, topic, partition, offset, ts), with
    event-time timestamps and watermarks on ``ts``."""
    names = ["payload", "topic", "partition", "offset", "ts"]
    types = [Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.STRING(), Types.INT(), Types.LONG(), Types.LONG()]
    return env.from_collection(rows, type_info=Types.ROW_NAMED(names, types)).assign_timestamps_and_watermarks(
        WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(60)).with_timestamp_assigner(KafkaTime()))


def _decode_frames(kind: str, frame: bytes, rows: list, kafka: list) -> None:
    """What the JVM stages framed, as the Python stages' rows and messages."""
    if kind == "clickhouse":
        query, body = frames.read_clickhouse(frame)
        table = query.split("`.`")[1].split("`")[0]
        rows.extend((table, r) for r in decode_rows(column_types()[table], body))
        return
    for topic, key, value in frames.read_kafka(frame):  # one message to several topics: consecutive
        key = key.decode() if key is not None else None
        if kafka and kafka[-1][1:] == (key, value) and topic not in kafka[-1][0]:
            kafka[-1] = ((*kafka[-1][0], topic), key, value)
        else:
            kafka.append(((topic,), key, value))


def run_graph(tmp_path, records, operators="jvm", parallelism=2):
    """records: (stream, partner, record or raw bytes[, partition[, Kafka timestamp]]); returns what
    reached the sinks:
    ``(table, row)`` ClickHouse rows and ``(topics, key, value)`` Kafka messages.

    Each partition of a source is a collection of its own, with its own watermarks (as the
    Kafka source tracks them per partition): the source's watermark is their minimum.
    ``operators``: the job's stateful stages on the JVM or in Python (the reference). A
    partition's records reach an operator of parallelism 2 round robin, no longer in order.
    """
    config = Config.from_env({}, home=tmp_path, parallelism=parallelism, out_of_orderness_s=60, operators=operators,
                             inbox_key="the tests' inbox key")  # the same tokens whatever the home
    # Watermarks are emitted periodically; every millisecond makes them follow the data closely.
    env = stream_env(config, extra={"pipeline.auto-watermark-interval": "1 ms"})
    rows = {"positions": {}, "partner_events": {}}
    last_ts = BASE
    for offset, (stream, partner, record, *where) in enumerate(records):
        payload = record if isinstance(record, bytes) else wire.encode(record, SCHEMAS[stream])
        ts = record.get("event_time", record.get("available_from")) if isinstance(record, dict) else last_ts
        ts = where[1] if len(where) > 1 else ts
        last_ts = ts
        source = "positions" if stream == "vehicle_positions" else "partner_events"
        part = where[0] if where else 0
        rows[source].setdefault(part, []).append(Row(payload, f"partners.{partner}.{stream}", part, offset, ts))
    streams = {}
    for name, parts in rows.items():
        per_partition = [_source(env, r) for _, r in sorted(parts.items())] or [_source(env, [])]
        streams[name] = functools.reduce(lambda a, b: a.union(b), per_partition)
    sinks = {"columns": column_types()}

    def rows_sink(rows, outputs, _name):  # the partner rows the JVM decoded for ClickHouse, as frames
        sinks.setdefault("rows", []).append(
            DataStream(Stages.frames(rows, outputs)).map(lambda b: ("clickhouse", bytes(b)),
                                                         output_type=Types.PICKLED_BYTE_ARRAY()))

    def outputs(streams, clickhouse_frames=(), kafka_frames=()):
        sinks["outputs"] = streams
        sinks["frames"] = [DataStream(f).map(lambda b, kind=kind: (kind, bytes(b)),
                                             output_type=Types.PICKLED_BYTE_ARRAY())
                           for kind, streams in (("clickhouse", clickhouse_frames), ("kafka", kafka_frames))
                           for f in streams]

    Stages = get_gateway().jvm.io.lastmile.udfs.flink.Stages
    coordination.build(env, streams, {**sinks, "outputs": outputs, "rows": rows_sink}, config.job_settings())
    rows, kafka = [], []
    # Through a map: PyFlink finds a Python function's side outputs from the operators
    # registered downstream of them, and a bare collect is not registered.
    outputs = [s.map(lambda r: r, output_type=Types.PICKLED_BYTE_ARRAY()) for s in sinks["outputs"]]
    first, *others = [*outputs, *sinks["rows"], *sinks["frames"]]
    for r in first.union(*others).execute_and_collect():
        if isinstance(r, Outputs):  # what one call of a Python function wrote
            rows.extend(r.rows)
            kafka.extend(r.messages)
        elif r[0] in ("clickhouse", "kafka") and isinstance(r[1], bytes):
            _decode_frames(r[0], r[1], rows, kafka)
        else:
            rows.append(r)
    return rows, kafka


def test_matches_equal_brute_force_and_side_effects_are_routed(tmp_path):
    rng = np.random.default_rng(3)
    tasks = []
    for i in range(120):
        start = BASE + int(rng.integers(2, 10)) * HOUR
        tasks.append(valid("delivery_tasks", partner=f"p{i % 3}", now_ms=BASE + i * 1000, shipment_id=f"S{i}",
                           dest_lat=52.52 + rng.normal(0, 0.002), dest_lng=13.405 + rng.normal(0, 0.003),
                           window_start=start, window_end=start + int(rng.integers(1, 4)) * HOUR,
                           recipient_key=None))
    positions = [valid("vehicle_positions", partner="p0", now_ms=BASE + 200_000 + i * 1000) for i in range(30)]
    records = [("delivery_tasks", t["partner_id"], t) for t in tasks] + [("vehicle_positions", "p0", p) for p in positions]
    records += [("delivery_tasks", "p1", b"\x00garbage"),
                ("vehicle_positions", "p0", valid("vehicle_positions", partner="intruder", now_ms=BASE + 230_000))]
    rows, kafka = run_graph(tmp_path, records)

    found = sorted((r[1], r[2], r[3], r[4]) for t, r in rows if t == "colocations" and not r[12])
    assert found == truth_mod.brute_force_pairs(tasks, 150.0) and len(found) > 20
    assert len({r[0] for t, r in rows if t == "colocations"}) == len(found)  # each pair once
    assert sum(t == "delivery_tasks" for t, _ in rows) == 120
    assert sum(t == "vehicle_positions" for t, _ in rows) == 30
    reasons = sorted(r[5] for t, r in rows if t == "dead_letters")
    assert reasons == ["not_single_object", "partner_mismatch"]
    topics_written = {topic for m in kafka for topic in m[0]}
    assert {"coordination.colocations", "coordination.dead_letters", "partners.p0.inbox"} <= topics_written


def test_late_tasks_and_positions_become_dead_letters(tmp_path):
    early = valid("delivery_tasks", partner="pa", now_ms=BASE, shipment_id="A1")
    later = valid("delivery_tasks", partner="pb", now_ms=BASE + 40 * HOUR, shipment_id="B1")
    # window ended ~38 h before the watermark: late
    late_task = valid("delivery_tasks", partner="pc", now_ms=BASE + 40 * HOUR, shipment_id="C1",
                      window_start=BASE, window_end=BASE + HOUR)
    late_task["event_time"] = BASE + 40 * HOUR
    old_position = valid("vehicle_positions", partner="pa", now_ms=BASE + HOUR)
    records = [("delivery_tasks", "pa", early), ("delivery_tasks", "pb", later)]
    # enough records at the later time for several watermark intervals to pass, in both
    # sources (positions are read apart from the other streams, each with its own watermarks)
    records += [("vehicle_positions", "pa", valid("vehicle_positions", partner="pa", now_ms=BASE + 40 * HOUR + i))
                for i in range(3000)]
    records += [("shipment_status", "pb", valid("shipment_status", partner="pb", now_ms=BASE + 40 * HOUR + i,
                                                status="CREATED")) for i in range(3000)]
    records += [("delivery_tasks", "pc", late_task), ("vehicle_positions", "pa", old_position)]
    rows, _ = run_graph(tmp_path, records)
    dead = sorted((r[4], r[5], r[2]) for t, r in rows if t == "dead_letters")
    assert [(stage, reason) for stage, reason, _ in dead] == [("event-time", "late"), ("event-time", "late")]
    assert {source.split("/")[0] for *_, source in dead} == {"partners.pc.delivery_tasks", "partners.pa.vehicle_positions"}
    assert sum(t == "delivery_tasks" for t, _ in rows) == 2
    assert sum(t == "vehicle_positions" for t, _ in rows) == 3000
    assert sum(t == "shipment_status" for t, _ in rows) == 3000


def test_etas_for_vans_out_for_delivery_and_proposals_for_co_located_groups(tmp_path):
    from udfs.consolidation import Member, Neighbourhood, neighbourhood_of, offer_from_record
    from udfs.eta import MODEL_VERSION
    from udfs.h3cells import cell
    from udfs.rows import proposal_row

    def task(partner, shipment, lat, lng, start_h, end_h, volume):
        return valid("delivery_tasks", partner=partner, now_ms=BASE + HOUR, shipment_id=shipment, dest_lat=lat,
                     dest_lng=lng, window_start=BASE + start_h * HOUR, window_end=BASE + end_h * HOUR,
                     volume_l=volume, recipient_key=None)

    tasks = [task("pa", "S1", 52.5200, 13.4050, 10, 12, 30.0), task("pa", "S2", 52.5300, 13.4100, 10, 13, 20.0),
             task("pb", "T1", 52.5205, 13.4052, 10, 12, 25.0), task("pc", "U1", 52.5198, 13.4046, 11, 14, 40.0)]
    offers = [valid("capacity_offers", partner="pa", now_ms=BASE + 6 * HOUR, vehicle_id="van-9", depot_lat=52.45,
                    depot_lng=13.30, available_to=BASE + 18 * HOUR, spare_volume_l=500.0, spare_stops=20),
              valid("capacity_offers", partner="pb", now_ms=BASE + 6 * HOUR, vehicle_id="van-7", depot_lat=52.60,
                    depot_lng=13.50, available_to=BASE + 18 * HOUR, spare_volume_l=0.5, spare_stops=20)]
    statuses = [valid("shipment_status", partner="pa", now_ms=BASE + 8 * HOUR + i, shipment_id=s, vehicle_id="van-1",
                      stop_sequence=i, lat=None, lng=None) for i, s in enumerate(("S1", "S2"))]
    step = 200.0 / 111_194.93  # 200 m north per 30 s ping
    pings = [valid("vehicle_positions", partner="pa", now_ms=BASE + 8 * HOUR + 300_000 + i * 30_000,
                   vehicle_id="van-1", lat=52.49 + i * step, lng=13.405, speed_mps=6.7) for i in range(40)]
    records = [("delivery_tasks", t["partner_id"], t) for t in tasks]
    records += [("capacity_offers", o["partner_id"], o) for o in offers]
    records += [("shipment_status", "pa", s) for s in statuses] + [("vehicle_positions", "pa", p) for p in pings]
    rows, kafka = run_graph(tmp_path, records)

    etas = [r for t, r in rows if t == "eta_predictions"]
    ping_times = {p["event_time"] for p in pings}
    assert {r[1] for r in etas} == {"S1", "S2"}
    assert all(r[0] == "pa" and r[2] == "van-1" and r[5] == MODEL_VERSION for r in etas)
    assert all(r[3] in ping_times and r[4] > r[3] for r in etas)
    by_time = {}
    for r in etas:
        by_time.setdefault(r[3], {})[r[1]] = r[4]
    assert all(both["S2"] > both["S1"] for both in by_time.values() if len(both) == 2)  # stop order holds
    assert sum(r[1] == "S2" for r in etas) < len(pings)  # only moves worth telling are emitted
    eta_messages = [m for m in kafka if "coordination.eta" in m[0]]
    assert len(eta_messages) == len(etas) and all("partners.pa.inbox" in m[0] for m in eta_messages)
    decoded = sorted(tuple(wire.decode(m[2], "EtaUpdate")[0].values()) for m in eta_messages)
    assert decoded == sorted(etas)

    # The proposal is the pure model's, from the same inputs: S2 is nobody's neighbour.
    members = {t["shipment_id"]: Member(t["partner_id"], t["shipment_id"], t["dest_lat"], t["dest_lng"],
                                        t["window_start"], t["window_end"], t["volume_l"]) for t in tasks}
    expected = Neighbourhood()
    for a, b in (("S1", "T1"), ("S1", "U1"), ("T1", "U1")):
        expected.link(members[a], members[b])
    assert {neighbourhood_of(cell(m.lat, m.lng)) for m in members.values() if m.shipment_id != "S2"} == {
        neighbourhood_of(cell(52.5200, 13.4050))}
    proposals = expected.decide(BASE + 7 * HOUR, {o.offer_key: o for o in map(offer_from_record, offers)})
    assert len(proposals) == 1 and proposals[0].assigned_partner == "pa"  # pb's van has no room
    found = [r for t, r in rows if t == "consolidation_proposals"]
    assert found == [proposal_row(proposals[0])]
    assert found[0][2] == ["pa:S1", "pb:T1", "pc:U1"] and found[0][6] > 0
    proposal_messages = [m for m in kafka if m[1] == proposals[0].proposal_id]
    assert sorted(tuple(m[0]) for m in proposal_messages) == [
        ("coordination.proposals",), ("partners.pa.inbox",), ("partners.pb.inbox",), ("partners.pc.inbox",)]
    for targets, _key, value in proposal_messages:
        record, schema = wire.decode(value)
        assert record["proposal_id"] == proposals[0].proposal_id
        if targets == ("coordination.proposals",):
            assert schema.name == "ConsolidationProposal"
        else:  # each partner its own part: pa serves, the others hand over to a carrier they know as a token
            partner = targets[0].split(".")[1]
            assert schema.name == "InboxProposal" and record["partner_id"] == partner
            assert record["shipments"] == [{"pa": "S1", "pb": "T1", "pc": "U1"}[partner]]
            assert record["serves"] == (partner == "pa") and (record["carrier"] == "pa") == (partner == "pa")
            assert record["carrier_partner_id"] == ("pa" if partner == "pa" else None)


def _van_day(task_partition=0, tasks_last=False, pings_until=None, shuffle=None):
    """A van's day (two shipments out for delivery, one delivered at 08:15; three hours of
    pings, back and forth on a street) and another van nearby: the ETA rows.

    ``tasks_last``: the shipments' tasks come after their statuses on another partition,
    behind 3,000 other records, so the statuses arrive long before the tasks (as when a
    replay reads the tasks topic more slowly than the statuses topic); in event time the
    tasks come first. ``pings_until``: only the pings before then. ``shuffle``: a seed to
    reorder each partition's records within 30 s of event time (inside the watermarks'
    60 s of out-of-orderness).
    """
    def task(shipment, lat, start_h, lng=13.41):
        return valid("delivery_tasks", partner="pa", now_ms=BASE + HOUR, shipment_id=shipment, dest_lat=lat,
                     dest_lng=lng, window_start=BASE + start_h * HOUR, window_end=BASE + (start_h + 6) * HOUR,
                     recipient_key=None)

    out = [valid("shipment_status", partner="pa", now_ms=BASE + 8 * HOUR + i, shipment_id=s, vehicle_id="van-1",
                 stop_sequence=i, lat=None, lng=None) for i, s in enumerate(("S1", "S2"))]
    delivered = valid("shipment_status", partner="pa", now_ms=BASE + 8 * HOUR + 900_000, shipment_id="S1",
                      vehicle_id="van-1", stop_sequence=0, status="DELIVERED", lat=None, lng=None)
    def back_and_forth(partner, van, lng, start, count, metres_per_ping):
        along = 0.0
        for i in range(count):
            along += metres_per_ping
            leg = along % 2400.0  # up and down 1.2 km
            north = (leg if leg < 1200.0 else 2400.0 - leg) / 111_194.93
            yield valid("vehicle_positions", partner=partner, now_ms=start + i * 30_000, vehicle_id=van,
                        lat=52.49 + north, lng=lng, speed_mps=None)

    # van-1 at 5 m/s all morning; from 10:00 another partner's van at 12 m/s on the street
    # half-way between van-1 and S2: what the profile learns there only then
    pings = [*back_and_forth("pa", "van-1", 13.405, BASE + 8 * HOUR + 60_000, 360, 150.0),
             *back_and_forth("pb", "van-2", 13.415, BASE + 10 * HOUR, 120, 360.0)]
    tasks = [("delivery_tasks", "pa", task("S1", 52.492, 8), task_partition),
             ("delivery_tasks", "pa", task("S2", 52.497, 8, lng=13.425), task_partition)]
    others = [("shipment_status", "pz", valid("shipment_status", partner="pz", now_ms=BASE + HOUR - 3000 + i,
                                              status="CREATED"), task_partition) for i in range(3000)]
    statuses = [("shipment_status", "pa", s, 0) for s in (*out, delivered)]
    positions = [("vehicle_positions", p["partner_id"], p) for p in sorted(pings, key=lambda p: p["event_time"])
                 if pings_until is None or p["event_time"] < pings_until]
    if shuffle is not None:
        rng = np.random.default_rng(shuffle)
        statuses, positions = ([r for _, r in sorted(((r[2]["event_time"] + rng.uniform(0, 30_000), i), r)
                                                     for i, r in enumerate(records))]
                               for records in (statuses, positions))
    records = (statuses + others + tasks if tasks_last else tasks + statuses + others) + positions
    return sorted(r for t, r in _rows(records) if t == "eta_predictions")


def _rows(records):
    import tempfile

    with tempfile.TemporaryDirectory() as home:
        return run_graph(pathlib.Path(home), records)[0]


def test_etas_do_not_depend_on_the_order_tasks_and_statuses_arrive_in():
    in_order = _van_day()
    assert {r[1] for r in in_order} == {"S1", "S2"}
    # S1 was delivered at 08:15: no ETA for it after that
    assert max(r[3] for r in in_order if r[1] == "S1") < BASE + 8 * HOUR + 900_000
    assert _van_day(task_partition=1, tasks_last=True) == in_order
    assert _van_day(shuffle=3) == in_order  # and within each partition, inside the out-of-orderness


def test_etas_use_only_what_was_learned_before_them():
    """When the partner events lag behind the positions (their watermark holds the ETA
    operator's timers back), later intervals' speeds are learned and published before the
    ETAs of earlier ones are computed. The ETAs of the first hour must still be those of a
    run that ends after that hour (the van speeds up later)."""
    cut = BASE + 9 * HOUR
    first_hour = [r for r in _van_day(task_partition=1, tasks_last=True) if r[3] < cut - 300_000]
    assert len(first_hour) > 5  # ETAs of the intervals before the cut's
    assert [r for r in _van_day(task_partition=1, tasks_last=True, pings_until=cut)
            if r[3] < cut - 300_000] == first_hour


def test_a_number_beyond_its_avro_int_is_a_dead_letter_not_a_failed_job(tmp_path):
    """fastavro reads an Avro int as any 64-bit varint; no INT column downstream holds such a
    value, and one record of it failed the whole job (every partner's)."""
    ok = valid("delivery_tasks", partner="pa", now_ms=BASE, shipment_id="A1")
    huge = valid("delivery_tasks", partner="pb", now_ms=BASE + 1, shipment_id="B1")
    huge["parcel_count"] = 2 ** 40
    status = valid("shipment_status", partner="pb", now_ms=BASE + 2, stop_sequence=-(2 ** 35))
    rows, _ = run_graph(tmp_path, [("delivery_tasks", "pa", ok), ("delivery_tasks", "pb", huge),
                                   ("shipment_status", "pb", _as_if_long(status, "ShipmentStatus"))])
    dead = sorted((r[4], r[5], r[6]) for t, r in rows if t == "dead_letters")
    assert dead == [("decode", "undecodable", "DeliveryTask v2: parcel_count is 1099511627776, beyond an Avro "
                                              "int's 32 bits"),
                    ("decode", "undecodable", "ShipmentStatus v1: stop_sequence is -34359738368, beyond an Avro "
                                              "int's 32 bits")]
    assert [r[2] for t, r in rows if t == "delivery_tasks"] == ["A1"]


def _as_if_long(record: dict, name: str) -> bytes:
    """``record`` in single-object bytes of ``name``'s schema, its int fields written as longs
    (the same zig-zag varints, beyond 32 bits): what fastavro's writer refuses in a union."""
    import copy
    import io

    import fastavro

    from udfs.contracts.schemas import default_registry

    schema = default_registry().latest(name)
    wide = copy.deepcopy(schema.parsed)
    for field in wide["fields"]:
        field["type"] = ["null", "long"] if field["type"] == ["null", "int"] else field["type"]
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(wide), record)
    return wire.MAGIC + schema.fingerprint + body.getvalue()
