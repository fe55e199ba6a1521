"""The naive baseline of `lastmile bench`: what a team would write without this project.

One Python process: a confluent-kafka consumer over every partner topic, per-record
decode and validation (fastavro and the contract's rules, through
:func:`udfs.contracts.intake.from_wire`), per-record H3 cells, a dict of index
cells for co-location matching, clickhouse-connect inserts of the raw-event rows
in batches of 1,000. Correct and simple, not crippled; and it does less than the
job: no ETAs, no consolidation, no Kafka outputs, no checkpoints, no event time.

Run as ``python -m lastmile.bench.baseline --out FILE`` (so the bench measures its CPU and
memory apart from everything else); it reads the topics up to the end offsets it
sees at start, writes to the configured ClickHouse database, and writes its
co-located pairs and counts as JSON to FILE.
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import pathlib
import time

import h3.api.basic_int as h3i

from lastmile import topics
from lastmile.config import Config
from udfs.geo import haversine_m

BATCH_ROWS = 1_000


class NaiveMatcher:
    """Tasks in a dict of H3 cells (edge >= radius, so a 2-ring lookup sees every neighbour).

    A later announcement of a shipment ((event_time, event_id) greater) replaces the
    earlier one and its pairs; the current pairs are kept as a set."""

    def __init__(self, radius_m: float):
        self.radius_m = radius_m
        self.resolution = next(r for r in range(15, -1, -1) if h3i.average_hexagon_edge_length(r, "m") >= radius_m)
        self.latest: dict[tuple[str, str], tuple] = {}
        self.cells: dict[int, dict[tuple[str, str], tuple]] = collections.defaultdict(dict)
        self.pairs_of: dict[tuple[str, str], set] = collections.defaultdict(set)

    def add(self, r: dict) -> None:
        key = (r["partner_id"], r["shipment_id"])
        old = self.latest.get(key)
        if old is not None and (r["event_time"], r["event_id"]) <= (old[0], old[1]):
            return  # a duplicate or an older version
        if old is not None:
            del self.cells[old[6]][key]
            for other in self.pairs_of.pop(key, ()):
                self.pairs_of[other].discard(key)
        cell = h3i.latlng_to_cell(r["dest_lat"], r["dest_lng"], self.resolution)
        task = (r["event_time"], r["event_id"], r["dest_lat"], r["dest_lng"], r["window_start"], r["window_end"], cell)
        self.latest[key] = task
        for near in h3i.grid_disk(cell, 2):
            for other_key, o in self.cells.get(near, {}).items():
                if (other_key[0] != key[0] and max(task[4], o[4]) < min(task[5], o[5])
                        and haversine_m(task[2], task[3], o[2], o[3]) <= self.radius_m):
                    self.pairs_of[key].add(other_key)
                    self.pairs_of[other_key].add(key)
        self.cells[cell][key] = task

    def pairs(self) -> list[tuple[str, str, str, str]]:
        return sorted({(*min(a, b), *max(a, b)) for a, others in self.pairs_of.items() for b in others})


def run(config: Config) -> dict:
    """Consume every partner topic to its end offsets; returns counts, pairs and seconds."""
    import clickhouse_connect
    from confluent_kafka import Consumer, TopicPartition

    from udfs.contracts.errors import ContractViolation
    from udfs.contracts.intake import from_wire, versioned
    from udfs.records import Source
    from udfs.rows import COLUMNS, event_row

    started = time.monotonic()
    consumer = Consumer({**config.kafka_client(), "group.id": f"naive-baseline-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    names = [t for t in consumer.list_topics(timeout=10).topics if topics.partner_of_topic(t)
             and t.rsplit(".", 1)[-1] in topics.STREAMS]
    starts, ends = {}, {}
    for name in names:
        for p in consumer.list_topics(name, timeout=10).topics[name].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)
            if high > low:
                starts[(name, p)], ends[(name, p)] = low, high
    consumer.assign([TopicPartition(t, p, starts[(t, p)]) for t, p in ends])
    client = clickhouse_connect.get_client(host=config.clickhouse_host, port=config.clickhouse_http_port,
                                           username=config.clickhouse_user, password=config.clickhouse_password,
                                           database=config.clickhouse_database)
    buffers: dict[str, list] = collections.defaultdict(list)
    matcher = NaiveMatcher(config.colocation_radius_m)
    accepted, rejected = collections.Counter(), collections.Counter()
    remaining = dict(ends)
    while remaining:
        for msg in consumer.consume(1000, timeout=1.0):
            if msg.error():
                raise RuntimeError(f"consumer error: {msg.error()}")
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            stream = topic.rsplit(".", 1)[-1]
            now = int(time.time() * 1000)
            try:
                record, writer = from_wire(msg.value(), stream, topics.partner_of_topic(topic), now)
            except ContractViolation as violation:
                rejected[violation.reason] += 1
            else:
                accepted[stream] += 1
                buffer = buffers[stream]
                buffer.append(event_row(stream, versioned(record, writer), Source(topic, partition, offset), now))
                if len(buffer) >= BATCH_ROWS:
                    client.insert(stream, buffer, column_names=COLUMNS[stream])
                    buffer.clear()
                if stream == "delivery_tasks":
                    matcher.add(record)
            if offset + 1 >= remaining.get((topic, partition), math.inf):
                del remaining[(topic, partition)]
    for stream, buffer in buffers.items():
        if buffer:
            client.insert(stream, buffer, column_names=COLUMNS[stream])
    consumer.close()
    client.close()
    return {"seconds": time.monotonic() - started, "events": sum(ends[k] - starts[k] for k in ends), "accepted": dict(accepted),
            "rejected": dict(rejected), "pairs": matcher.pairs()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=pathlib.Path)
    args = parser.parse_args()
    args.out.write_text(json.dumps(run(Config.from_env())))


if __name__ == "__main__":
    main()
