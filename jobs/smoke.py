"""Smoke job: a partner topic -> PyFlink (thread mode) -> ClickHouse.

It proves the wiring every later job relies on: the Flink Kafka connector jar,
the Python worker set-up, a Python function with a dead-letter side output, and
the batched ClickHouse writer. Records are JSON vehicle positions (the Avro
contracts come later); each becomes a ``vehicle_positions`` row with its H3 cell
instead of raw coordinates.

    python -m jobs.smoke --bounded     # or: lastmile smoke
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid

from lastmile import topics
from lastmile.config import Config
from udfs.records import DEAD_LETTER_COLUMNS
from udfs.smoke import POSITION_COLUMNS

COLUMNS = {"vehicle_positions": POSITION_COLUMNS, "dead_letters": DEAD_LETTER_COLUMNS}


def build(env, sources: dict, sinks: dict, config: Config):
    """Wire the graph. ``sources["vehicle_positions"]`` yields ``Row(payload, topic, partition, offset)``;
    ``sinks["clickhouse"]`` takes a stream of ``(table, row)`` pairs."""
    from pyflink.common import Types

    from udfs.flink.smoke_functions import DEAD_LETTERS, DecodePositions

    decoded = (sources["vehicle_positions"]
               .process(DecodePositions(), output_type=Types.PICKLED_BYTE_ARRAY())
               .name("decode-positions").uid("decode-positions"))
    dead_letters = decoded.get_side_output(DEAD_LETTERS)
    return sinks["clickhouse"](decoded.union(dead_letters))


def kafka_sources(env, config: Config, bounded: bool) -> dict:
    from jobs.runtime import kafka_raw_source, table_env

    t_env = table_env(env)
    return {"vehicle_positions": kafka_raw_source(
        t_env, config, "smoke_positions", topics.stream_pattern("vehicle_positions"), "lastmile-smoke", bounded)}


def clickhouse_sinks(config: Config) -> dict:
    from pyflink.common import Types

    from jobs.runtime import clickhouse_target, discard
    from udfs.flink.clickhouse_sink import ClickHouseSink

    def write(stream):
        flushed = (stream.process(ClickHouseSink(clickhouse_target(config), COLUMNS),
                                  output_type=Types.TUPLE([Types.STRING(), Types.INT()]))
                   .name("clickhouse-writer").uid("clickhouse-writer"))
        return discard(flushed, "clickhouse-flush-reports")

    return {"clickhouse": write}


def run(config: Config, bounded: bool = True) -> float:
    """Run the job on the configured Kafka and ClickHouse; returns seconds taken."""
    from jobs.runtime import stream_env

    env = stream_env(config)
    build(env, kafka_sources(env, config, bounded), clickhouse_sinks(config), config)
    started = time.monotonic()
    env.execute("lastmile-smoke")
    return time.monotonic() - started


# --- demo helpers (`lastmile smoke`, `make demo` until the simulator exists) -------------------

def generated_positions(partner_id: str, count: int, seed: int = 7) -> list[bytes]:
    """JSON positions around Berlin, with one malformed record in every 100."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    out = []
    for i in range(count):
        if i % 100 == 99:
            out.append(b'{"event_id": "not json')
            continue
        out.append(json.dumps({
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "partner_id": partner_id, "vehicle_id": f"van-{i % 7}", "event_time": now - (count - i) * 1000,
            "lat": 52.52 + rng.uniform(-0.05, 0.05), "lng": 13.405 + rng.uniform(-0.08, 0.08),
            "speed_mps": round(rng.uniform(0, 14), 2),
        }).encode())
    return out


def produce(config: Config, topic: str, payloads: list[bytes]) -> None:
    from lastmile.kafka_io import ReliableProducer

    producer = ReliableProducer(config)
    for payload in payloads:
        producer.produce(topic, payload)
    producer.flush()


def end_offsets(config: Config, topic: str) -> dict[int, int]:
    """Current end offset of every partition of ``topic``."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": config.kafka_bootstrap, "group.id": "lastmile-smoke-offsets",
                         "log_level": 0})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    finally:
        consumer.close()


def run_demo(config: Config, records: int, partner_id: str) -> dict:
    """Produce ``records`` new positions, run the job, count what this run put into ClickHouse."""
    from lastmile.clickhouse import http_client

    topic = topics.partner_topic(partner_id, "vehicle_positions")
    topics.ensure_partner_topics(config, partner_id)
    start = end_offsets(config, topic)
    payloads = generated_positions(partner_id, records, seed=time.time_ns())
    produce(config, topic, payloads)
    seconds = run(config, bounded=True)
    # Only rows from the offsets this run produced (earlier runs' rows stay in the table).
    this_run = " OR ".join(f"(source_partition = {p} AND source_offset >= {o})" for p, o in start.items())
    client = http_client(config)
    rows = client.query(
        f"SELECT count(), uniqExact(h3_cell), uniqExact(vehicle_id) FROM vehicle_positions FINAL "
        f"WHERE source_topic = {{t:String}} AND ({this_run})", parameters={"t": topic}).result_rows[0]
    dead_run = " OR ".join(f"(toInt32(splitByChar('/', source)[2]) = {p} AND toInt64(splitByChar('/', source)[3]) >= {o})"
                           for p, o in start.items())
    dead = client.query(
        f"SELECT reason, count() FROM dead_letters FINAL WHERE startsWith(source, {{t:String}}) AND ({dead_run}) "
        f"GROUP BY reason ORDER BY reason", parameters={"t": topic + "/"}).result_rows
    return {"topic": topic, "produced": len(payloads), "job_seconds": round(seconds, 1),
            "positions_in_clickhouse": rows[0], "distinct_h3_cells": rows[1], "vehicles": rows[2],
            "dead_letters": dict(dead)}


def print_result(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="smoke job: Kafka -> PyFlink -> ClickHouse")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bounded", action="store_true", help="stop at the current end of the topics")
    args = parser.parse_args(argv)
    run(Config.from_env(), bounded=args.bounded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
