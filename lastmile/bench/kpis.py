"""`lastmile bench --kpis`: how long each KPI query takes on a month of data.

A fresh database on the running stack gets ``events`` synthetic events spread over 30 days
(5 partners; 75 % positions, 20 % statuses, 5 % tasks, the simulator's mix), written by
ClickHouse itself (``INSERT ... SELECT FROM numbers``) so the materialized views fill the KPI
aggregates as the job's inserts would, in blocks of a million rows; plus the result tables
(co-locations, proposals, ETAs, van kilometres, dead letters) in proportion. Then every KPI
query (lastmile.kpis.compute) is timed for one partner and one day, one partner and the
month, and every partner and the month, the median of ``repeat`` runs.
"""
from __future__ import annotations

import datetime as dt
import statistics
import time
import uuid

from lastmile import kpis, migrations
from lastmile.config import Config

DAYS = 30
START = dt.datetime(2025, 1, 6, tzinfo=dt.UTC)
BLOCK = 1_000_000


def _fill(client, events: int, say) -> dict[str, int]:
    """The month's rows; returns how many rows each table got."""
    start_ms = int(START.timestamp() * 1000)
    span_ms = DAYS * 86_400_000
    shares = {"vehicle_positions": 0.75, "shipment_status": 0.20, "delivery_tasks": 0.05}
    counts = {table: int(events * share) for table, share in shares.items()}
    t = f"toDateTime64({start_ms} / 1000 + intDiv(number * {span_ms}, {{n}}) / 1000, 3, 'UTC')"
    common = "toString(generateUUIDv4(number))"
    rows_of = {
        "vehicle_positions": (
            "event_id, partner_id, vehicle_id, event_time, ingested_at, h3_cell, speed_mps, load_volume_l, "
            "capacity_volume_l, source_topic, source_partition, source_offset, schema_version",
            f"toUUID({common}), concat('p', toString(number % 5)), concat('van-', toString(number % 400)), {t}, "
            f"{t} + toIntervalMillisecond(100 + number % 5000), 622236750562230271, 8.0, NULL, NULL, 't', 0, number, 1"),
        "shipment_status": (
            "event_id, partner_id, shipment_id, event_time, ingested_at, status, vehicle_id, stop_sequence, h3_cell, "
            "reason, source_topic, source_partition, source_offset, schema_version",
            f"toUUID({common}), concat('p', toString(number % 5)), concat('s-', toString(intDiv(number, 4))), {t}, "
            f"{t} + toIntervalMillisecond(100 + number % 5000), ['PICKED_UP', 'OUT_FOR_DELIVERY', 'FAILED_ATTEMPT', "
            "'DELIVERED'][number % 4 + 1], 'van-1', NULL, NULL, NULL, 't', 0, number, 1"),
        "delivery_tasks": (
            "event_id, partner_id, shipment_id, event_time, ingested_at, dest_h3, window_start, window_end, "
            "parcel_count, volume_l, weight_kg, retailer_id, service_level, source_topic, source_partition, "
            "source_offset, schema_version",
            f"toUUID({common}), concat('p', toString(number % 5)), concat('s-', toString(number)), {t}, "
            f"{t} + toIntervalMillisecond(100 + number % 5000), 622236750562230271, {t} + toIntervalHour(2), "
            f"{t} + toIntervalHour(4), 1, NULL, NULL, NULL, NULL, 't', 0, number, 1 + (number % 3 > 0)"),
    }
    for table, n in counts.items():
        columns, values = rows_of[table]
        for first in range(0, n, BLOCK):
            size = min(BLOCK, n - first)
            client.command(f"INSERT INTO {table} ({columns}) SELECT {values.format(n=n)} "
                           f"FROM numbers({first}, {size})", settings={"max_insert_block_size": BLOCK})
            say(f"  {table}: {first + size:,} of {n:,}")
    tasks = counts["delivery_tasks"]
    pairs = tasks // 4
    client.command(
        "INSERT INTO colocations SELECT toString(number), concat('p', toString(number % 5)), concat('s-', "
        "toString(number * 4)), concat('p', toString((number + 1) % 5)), concat('s-', toString(number * 4 + 1)), "
        f"622236750562230271, 50.0, {t.format(n=pairs)}, {t.format(n=pairs)} + toIntervalHour(1), 0, "
        f"{t.format(n=pairs)}, 1, 0 FROM numbers({pairs})")
    client.command(
        "INSERT INTO consolidation_proposals (proposal_id, partners, shipments, assigned_partner, km_separate, "
        "km_consolidated, km_saved, kernel_version, inputs_digest, created_at) SELECT toString(number), "
        "[concat('p', toString(number % 5)), concat('p', toString((number + 1) % 5))], ['a', 'b'], "
        f"concat('p', toString(number % 5)), 10, 6, 4, 'k', '', {t.format(n=pairs // 2)} "
        f"FROM numbers({pairs // 2})")
    client.command(
        "INSERT INTO eta_predictions SELECT concat('p', toString(number % 5)), concat('s-', toString(intDiv(number, "
        f"3))), 'van-1', {t.format(n=tasks * 3)}, {t.format(n=tasks * 3)} + toIntervalMinute(30), 'm', '' "
        f"FROM numbers({tasks * 3})")
    client.command(
        "INSERT INTO proposal_savings (proposal_id, created_at, partners, assigned_partner, status, km_removed, "
        "km_inserted, km_saved, km_saved_by_partner, km_saved_upper_bound) SELECT toString(number), "
        f"{t.format(n=pairs // 2)}, [concat('p', toString(number % 5)), concat('p', toString((number + 1) % 5))], "
        "concat('p', toString(number % 5)), 'evaluated', 1.2, 0.2, 1.0, "
        "map(concat('p', toString(number % 5)), -0.2, concat('p', toString((number + 1) % 5)), 1.2), 4 "
        f"FROM numbers({pairs // 2})")
    vans = 400 * DAYS * 24 * 6  # a row per van and ten minutes
    client.command(
        "INSERT INTO vehicle_km SELECT concat('p', toString(number % 5)), concat('van-', toString(number % 400)), "
        f"{t.format(n=vans)}, 1500.0, 20 FROM numbers({vans})")
    dead = events // 100
    client.command(
        "INSERT INTO dead_letters (dead_letter_id, received_at, source, partner_id, stage, reason, message, payload, "
        f"payload_sha256) SELECT toString(number), {t.format(n=dead)}, 't', concat('p', toString(number % 5)), "
        "'validate', ['null_island', 'window_not_ordered'][number % 2 + 1], '', '', '' "
        f"FROM numbers({dead})")
    return {**counts, "colocations": pairs, "consolidation_proposals": pairs // 2, "proposal_savings": pairs // 2,
            "eta_predictions": tasks * 3,
            "vehicle_km": vans, "dead_letters": dead}


def run(config: Config, events: int, repeat: int = 3, say=lambda _m: None) -> dict:
    """Fill a fresh database with a month of ``events`` and time each KPI query."""
    from lastmile.clickhouse import http_client

    config = config.with_overrides(clickhouse_database=f"kpi_bench_{uuid.uuid4().hex[:8]}")
    migrations.apply(config)
    client = http_client(config)
    started = time.perf_counter()
    try:
        say(f"writing {events:,} events over {DAYS} days into {config.clickhouse_database}")
        rows = _fill(client, events, say)
        fill_s = time.perf_counter() - started
        day = START.date() + dt.timedelta(days=DAYS // 2)
        month = kpis.Period(START.date(), START.date() + dt.timedelta(days=DAYS - 1))
        cases = {"one partner, one day": (kpis.Period(day, day), "p1"), "one partner, the month": (month, "p1"),
                 "every partner, the month": (month, None)}
        out: dict[str, dict] = {}
        for name, (period, partner) in cases.items():
            runs: list[dict[str, float]] = []
            for _ in range(repeat):
                timings: dict[str, float] = {}
                kpis.compute(config, period, partner, timings)
                runs.append(timings)
            out[name] = {q: round(1000 * statistics.median(r[q] for r in runs), 1) for q in runs[0]}
            out[name]["all"] = round(sum(out[name].values()), 1)
            say(f"  {name}: {out[name]['all']} ms for every KPI")
        return {"events": events, "days": DAYS, "rows": rows, "fill_s": round(fill_s, 1), "query_ms": out}
    finally:
        client.command(f"DROP DATABASE IF EXISTS {config.clickhouse_database}")


def print_report(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    cases = list(result["query_ms"])
    table = Table(title=f"KPI queries on {result['events']:,} events over {result['days']} days (median ms)")
    table.add_column("query (KPIs)")
    for case in cases:
        table.add_column(case, justify="right")
    for query in result["query_ms"][cases[0]]:
        table.add_row(query, *(f"{result['query_ms'][c][query]:,.1f}" for c in cases))
    Console().print(table)
