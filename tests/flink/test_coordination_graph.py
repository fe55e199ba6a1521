"""The coordination graph on the MiniCluster at parallelism 2 with small bounded sources (no services).

The source is a collection with event-time timestamps and watermarks, so lateness
is deterministic here (on Kafka it depends on how fast each partition is read).
"""
import sys

import cloudpickle
import numpy as np
from pyflink.common import Duration, Row, Types
from pyflink.common.watermark_strategy import TimestampAssigner, WatermarkStrategy

from jobs import coordination
from jobs.runtime import stream_env
from lastmile.config import Config
from lastmile.simulator import truth as truth_mod
from samples import HOUR, valid
from udfs.contracts import wire

BASE = 1_751_328_000_000  # 2025-07-01

# The Python workers cannot import this test module: ship its classes by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class KafkaTime(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[4]


def run_graph(tmp_path, records):
    """records: (stream, partner, record or raw bytes); returns what reached the two sinks."""
    config = Config.from_env({}, home=tmp_path, parallelism=2, out_of_orderness_s=60)
    # Watermarks are emitted periodically; every millisecond makes them follow the data closely.
    env = stream_env(config, extra={"pipeline.auto-watermark-interval": "1 ms"})
    rows = []
    for offset, (stream, partner, record) in enumerate(records):
        payload = record if isinstance(record, bytes) else wire.encode(record, {
            "delivery_tasks": "DeliveryTask", "vehicle_positions": "VehiclePosition"}[stream])
        ts = record.get("event_time", BASE) if isinstance(record, dict) else rows[-1][4] if rows else BASE
        rows.append(Row(payload.decode("latin-1"), f"partners.{partner}.{stream}", 0, offset, ts))
    source = env.from_collection(rows, type_info=Types.ROW([Types.STRING(), Types.STRING(), Types.INT(),
                                                            Types.LONG(), Types.LONG()]))
    source = source.assign_timestamps_and_watermarks(
        WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(60)).with_timestamp_assigner(KafkaTime()))
    sinks = {}
    coordination.build(env, {"partner_events": source},
                       {"clickhouse": lambda s: sinks.setdefault("rows", s), "kafka": lambda s: sinks.setdefault("kafka", s)},
                       config)
    collected = sinks["rows"].union(sinks["kafka"].map(lambda m: ("kafka", m), output_type=Types.PICKLED_BYTE_ARRAY()))
    out = list(collected.execute_and_collect())
    return [r for r in out if r[0] != "kafka"], [r[1] for r in out if r[0] == "kafka"]


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
    # enough records at the later time for several watermark intervals to pass
    records += [("vehicle_positions", "pa", valid("vehicle_positions", partner="pa", now_ms=BASE + 40 * HOUR + i))
                for i in range(3000)]
    records += [("delivery_tasks", "pc", late_task), ("vehicle_positions", "pa", old_position)]
    rows, _ = run_graph(tmp_path, records)
    dead = sorted((r[4], r[5], r[2]) for t, r in rows if t == "dead_letters")
    assert [(stage, reason) for stage, reason, _ in dead] == [("event-time", "late"), ("event-time", "late")]
    assert {source.split("/")[0] for *_, source in dead} == {"partners.pc.delivery_tasks", "partners.pa.vehicle_positions"}
    assert sum(t == "delivery_tasks" for t, _ in rows) == 2
    assert sum(t == "vehicle_positions" for t, _ in rows) == 3000
