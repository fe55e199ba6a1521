"""`lastmile smoke`: the smoke job (jobs/smoke.py) over every partner's position topic, then
what reached ClickHouse per partner."""
from __future__ import annotations

import time

from lastmile.config import Config


def run(config: Config, bounded: bool = True) -> float:
    """Run the job on the configured Kafka and ClickHouse; returns seconds taken."""
    from jobs import smoke
    from lastmile.run import clickhouse_columns, empty_sources, stream_env

    settings = config.job_settings()
    env = stream_env(config)
    empty = empty_sources(config, smoke.SOURCES) if bounded else frozenset()
    smoke.build(env, smoke.kafka_sources(env, settings, bounded, empty),
                smoke.production_sinks(settings, clickhouse_columns(config, smoke.COLUMNS)), settings)
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
