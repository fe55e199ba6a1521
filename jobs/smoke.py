"""Smoke job: a partner topic -> PyFlink (thread mode) -> ClickHouse.

It proves the wiring every later job relies on: the Flink Kafka connector jar,
the Python worker set-up, a Python function with a dead-letter side output, and
the batched ClickHouse writer. Every partner's ``vehicle_positions`` records
(Avro, validated with the contract) become ``vehicle_positions`` rows with their
H3 cell instead of raw coordinates.

    python -m jobs.smoke --bounded     # or: lastmile smoke
"""
from __future__ import annotations

import argparse
import sys
import time

from lastmile import topics
from lastmile.config import Config
from udfs.records import DEAD_LETTER_COLUMNS
from udfs.smoke import POSITION_COLUMNS

COLUMNS = {"vehicle_positions": POSITION_COLUMNS, "dead_letters": DEAD_LETTER_COLUMNS}


def build(env, sources: dict, sinks: dict, config: Config):
    """Wire the graph. ``sources["vehicle_positions"]`` yields ``Row(payload, topic, partition, offset)``;
    ``sinks["outputs"]`` takes a stream of :class:`udfs.records.Outputs`."""
    from pyflink.common import Types

    from udfs.flink.smoke_functions import DecodePositions

    decoded = (sources["vehicle_positions"]
               .process(DecodePositions(), output_type=Types.PICKLED_BYTE_ARRAY())
               .name("decode-positions").uid("decode-positions"))
    return sinks["outputs"](decoded)


def kafka_sources(env, config: Config, bounded: bool) -> dict:
    from jobs.runtime import kafka_raw_source, table_env

    t_env = table_env(env)
    return {"vehicle_positions": kafka_raw_source(
        t_env, config, "smoke_positions", topics.stream_pattern("vehicle_positions"), "lastmile-smoke", bounded)}


def production_sinks(config: Config) -> dict:
    from jobs.runtime import clickhouse_columns, outputs_sink

    return {"outputs": outputs_sink(config, clickhouse_columns(config, COLUMNS))}


def run(config: Config, bounded: bool = True) -> float:
    """Run the job on the configured Kafka and ClickHouse; returns seconds taken."""
    from jobs.runtime import stream_env

    env = stream_env(config)
    build(env, kafka_sources(env, config, bounded), production_sinks(config), config)
    started = time.monotonic()
    env.execute("lastmile-smoke")
    return time.monotonic() - started


# --- `lastmile smoke` ------------------------------------------------------------------------------

def produce(config: Config, topic: str, payloads: list[bytes]) -> None:
    """Send raw payloads (tests use this to put good and broken records on a partner topic)."""
    from lastmile.kafka_io import ReliableProducer

    producer = ReliableProducer(config)
    for payload in payloads:
        producer.produce(topic, payload)
    producer.flush()


def run_and_report(config: Config) -> dict:
    """Run the job over everything in the partner position topics; summarize the tables per partner."""
    from lastmile.clickhouse import http_client

    seconds = run(config, bounded=True)
    client = http_client(config)
    rows = client.query(
        "SELECT partner_id, count(), uniqExact(vehicle_id), uniqExact(h3_cell) FROM vehicle_positions FINAL "
        "GROUP BY partner_id ORDER BY partner_id").result_rows
    dead = client.query(
        "SELECT reason, count() FROM dead_letters FINAL WHERE source LIKE 'partners.%.vehicle_positions/%' "
        "GROUP BY reason ORDER BY reason").result_rows
    return {"job_seconds": round(seconds, 1),
            "partners": {p: {"positions": n, "vehicles": v, "h3_cells": c} for p, n, v, c in rows},
            "dead_letters": dict(dead)}


def print_result(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"smoke job: Kafka -> PyFlink -> ClickHouse ({result['job_seconds']} s)")
    for col in ("partner", "positions", "vehicles", "H3 cells (res 10)"):
        table.add_column(col, justify="right" if col != "partner" else "left")
    for partner, v in result["partners"].items():
        table.add_row(partner, f"{v['positions']:,}", str(v["vehicles"]), f"{v['h3_cells']:,}")
    console.print(table)
    console.print("dead letters: " + (", ".join(f"{r} {n}" for r, n in result["dead_letters"].items()) or "none"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bounded", action="store_true", help="stop at the current end of the topics")
    args = parser.parse_args(argv)
    run(Config.from_env(), bounded=args.bounded)
    return 0


if __name__ == "__main__":
    sys.exit(main())
