"""The ecosystem's KPIs per partner over a period, from the aggregates ClickHouse keeps up to
date (infra/clickhouse/migrations/0007_kpis.sql; each KPI's definition and SQL in
docs/kpis.md). Days are UTC days of event time; ``since`` and ``until`` are inclusive.

Every query reads an aggregate table or a small result table (``colocations``,
``consolidation_proposals``, ``proposal_savings``, ``vehicle_km``: one row per van and ETA
interval), never the raw event tables.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

from lastmile.config import Config

#: KPI -> (unit, what it is), in the order the report shows them.
KPIS = {
    "parcels_delivered": ("shipments", "shipments with a DELIVERED status that day"),
    "attempts": ("events", "DELIVERED and FAILED_ATTEMPT statuses"),
    "missed_delivery_rate": ("share", "FAILED_ATTEMPT / attempts"),
    "on_time_rate": ("share", "shipments delivered inside their task's window / delivered with a known window"),
    "km_driven": ("km", "distance the partner's vans drove (from positions: legs of at most 10 min and 40 m/s)"),
    "km_per_parcel": ("km", "km_driven / parcels_delivered"),
    "received": ("events", "accepted events (tasks, statuses, positions, offers)"),
    "feed_latency_p50_ms": ("ms", "ingested_at - event_time at an event's first arrival, median"),
    "feed_latency_p95_ms": ("ms", "the same, 95th percentile"),
    "feed_latency_p99_ms": ("ms", "the same, 99th percentile"),
    "dead_letters": ("records", "refused records"),
    "error_rate": ("share", "dead letters / (accepted events + dead letters)"),
    "colocations": ("pairs", "current co-located pairs the partner is part of (overlap starting in the period)"),
    "colocation_rate": ("share", "the partner's tasks with at least one current co-location / its tasks"),
    "proposals": ("proposals", "consolidation proposals the partner is part of"),
    "proposals_evaluated": ("proposals", "those evaluated on the routes the vans drove (lastmile/savings.py)"),
    "km_saved": ("km", "marginal km those evaluated proposals save: the others' routes without the group's "
                       "stops, less the carrier's route with them inserted"),
    "km_saved_own": ("km", "of that, what the partner's own vans drive less (negative for a carrier)"),
    "km_saved_upper_bound": ("km", "km_saved of all its proposals as decided (depot-to-group trips: an upper bound)"),
    "eta_mae_s": ("s", "mean |last ETA - delivery| of delivered shipments with an ETA"),
    "current_schema_share": ("share", "accepted events written with the current version of their schema"),
    "schema_rejected_share": ("share", "records refused at decoding (no known schema, not Avro single-object, "
                                       "undecodable, wrong type) / (accepted events + dead letters)"),
}
#: The dead letters' reasons at decoding (stage ``decode``): records that do not follow any known schema.
DECODE_STAGE = "decode"


@dataclasses.dataclass(frozen=True)
class Period:
    since: dt.date | None = None
    until: dt.date | None = None

    def where(self, column: str) -> str:
        """A SQL condition on the date ``column`` (parameters ``since``, ``until``)."""
        parts = ([f"{column} >= {{since:Date}}"] if self.since else []) + (
            [f"{column} <= {{until:Date}}"] if self.until else [])
        return " AND ".join(parts) or "1"

    def parameters(self) -> dict:
        return {k: v for k, v in (("since", self.since), ("until", self.until)) if v is not None}


def _rate(part, whole):
    return round(part / whole, 6) if whole else None


def compute(config: Config, period: Period = Period(), partner: str | None = None,
            timings: dict[str, float] | None = None) -> dict[str, dict]:
    """``{partner_id: {kpi: value}}`` for every partner with data in the period (or ``partner``).
    ``timings``, if given, gets the seconds each query took, by the KPIs it computes."""
    import time

    from lastmile.clickhouse import http_client

    client = http_client(config)
    params = {**period.parameters(), **({"partner": partner} if partner else {})}
    who = "partner_id = {partner:String}" if partner else "1"
    def rows(name: str, sql: str) -> list:
        """The rows of ``sql``, its time in ``timings[name]``."""
        started = time.perf_counter()
        found = client.query(sql.replace("{who}", who), parameters=params).result_rows
        if timings is not None:
            timings[name] = time.perf_counter() - started
        return found

    out: dict[str, dict] = {}

    def put(p: str, **values) -> None:
        out.setdefault(p, {k: None for k in KPIS}).update(values)

    for p, attempts, failed, delivered in rows(
            "statuses", "SELECT partner_id, uniqExactIfMerge(attempts), uniqExactIfMerge(failed), uniqExactIfMerge(delivered) "
            f"FROM kpi_status_daily WHERE {period.where('day')} AND {{who}} GROUP BY partner_id"):
        put(p, parcels_delivered=delivered, attempts=attempts, missed_delivery_rate=_rate(failed, attempts))
    for p, known, on_time in rows(
            "on_time_rate", "SELECT d.partner_id, count(), countIf(d.delivered_at >= w.ws AND d.delivered_at <= w.we) FROM "
            "(SELECT partner_id, shipment_id, min(delivered_at) AS delivered_at FROM kpi_deliveries WHERE {who} "
            f"GROUP BY partner_id, shipment_id HAVING {period.where('toDate(delivered_at)')}) AS d "
            "INNER JOIN (SELECT partner_id, shipment_id, argMaxMerge(window_start) AS ws, argMaxMerge(window_end) AS we "
            "FROM kpi_task_windows WHERE {who} GROUP BY partner_id, shipment_id) AS w "
            "ON d.partner_id = w.partner_id AND d.shipment_id = w.shipment_id GROUP BY d.partner_id"):
        put(p, on_time_rate=_rate(on_time, known))
    for p, metres in rows(
            "km_driven", f"SELECT partner_id, sum(metres) FROM vehicle_km FINAL WHERE "
                          f"{period.where('toDate(interval_at)')} AND {{who}} GROUP BY partner_id"):
        put(p, km_driven=round(metres / 1000, 3))
    # FINAL merges an event's rows in key order (min of their latencies): cheaper than grouping by event_id
    for p, received, (p50, p95, p99) in rows(
            "feed", "SELECT partner_id, count(), quantilesExact(0.5, 0.95, 0.99)(latency_ms) FROM kpi_feed_events FINAL "
            f"WHERE {period.where('day')} AND {{who}} GROUP BY partner_id"):
        put(p, received=received, feed_latency_p50_ms=p50, feed_latency_p95_ms=p95, feed_latency_p99_ms=p99)
    for p, dead in rows(
            "dead_letters", f"SELECT partner_id, uniqExactMerge(dead_letters) FROM kpi_dead_letters_daily "
                        f"WHERE partner_id != '' AND {period.where('day')} AND {{who}} GROUP BY partner_id"):
        put(p, dead_letters=dead)
    for p, pairs in rows(
            "colocations", "SELECT partner_id, count() FROM (SELECT arrayJoin([partner_a, partner_b]) AS partner_id "
            f"FROM colocations_current WHERE {period.where('toDate(overlap_start)')}) WHERE {{who}} "
            "GROUP BY partner_id"):
        put(p, colocations=pairs)
    for p, tasks, matched in rows(
            "colocation_rate", "SELECT t.partner_id, count(), countIf(m.shipment_id != '') FROM "
            "(SELECT partner_id, shipment_id FROM kpi_task_windows WHERE {who} GROUP BY partner_id, shipment_id "
            f"HAVING {period.where('toDate(argMaxMerge(window_start))')}) AS t LEFT JOIN "
            "(SELECT DISTINCT arrayJoin([(partner_a, shipment_a), (partner_b, shipment_b)]) AS s, s.1 AS partner_id, "
            "s.2 AS shipment_id FROM colocations_current) AS m "
            "ON t.partner_id = m.partner_id AND t.shipment_id = m.shipment_id GROUP BY t.partner_id"):
        put(p, colocation_rate=_rate(matched, tasks))
    for p, proposals, km in rows(
            "proposals", "SELECT partner_id, count(), round(sum(km_saved), 3) FROM (SELECT arrayJoin(partners) AS partner_id, "
            f"km_saved FROM consolidation_proposals FINAL WHERE {period.where('toDate(created_at)')}) "
            "WHERE {who} GROUP BY partner_id"):
        put(p, proposals=proposals, km_saved_upper_bound=km)
    for p, evaluated, km, own in rows(
            "km_saved", "SELECT partner_id, count(), round(sum(km_saved), 3), round(sum(km_saved_by_partner[partner_id]), 3) "
            "FROM (SELECT arrayJoin(partners) AS partner_id, km_saved, km_saved_by_partner FROM proposal_savings FINAL "
            f"WHERE status = 'evaluated' AND {period.where('toDate(created_at)')}) WHERE {{who}} GROUP BY partner_id"):
        put(p, proposals_evaluated=evaluated, km_saved=km, km_saved_own=own)
    for p, mae in rows(
            "eta_mae_s", "SELECT d.partner_id, "
            "round(avg(abs(toUnixTimestamp64Milli(e.eta) - toUnixTimestamp64Milli(d.delivered_at))) / 1000, 1) "
            "FROM (SELECT partner_id, shipment_id, min(delivered_at) AS delivered_at FROM kpi_deliveries "
            f"WHERE {{who}} GROUP BY partner_id, shipment_id HAVING {period.where('toDate(delivered_at)')}) AS d "
            "INNER JOIN (SELECT partner_id, shipment_id, argMaxMerge(eta) AS eta FROM kpi_last_eta WHERE {who} "
            "GROUP BY partner_id, shipment_id) AS e ON d.partner_id = e.partner_id AND d.shipment_id = e.shipment_id "
            "GROUP BY d.partner_id"):
        put(p, eta_mae_s=mae)
    current = _current_versions()
    on_current: dict[str, int] = {}
    recorded: dict[str, int] = {}
    for p, stream, version, n in rows(
            "schema_versions", "SELECT partner_id, stream, schema_version, uniqExactMerge(records) FROM kpi_schema_daily "
            f"WHERE {period.where('day')} AND {{who}} GROUP BY partner_id, stream, schema_version"):
        if version:  # 0: written before the tables kept the version
            put(p)
            on_current[p] = on_current.get(p, 0) + n * (version == current[stream])
            recorded[p] = recorded.get(p, 0) + n
    rejected: dict[str, int] = {}
    for p, n in rows(
            "schema_rejected", "SELECT partner_id, uniqExactMerge(dead_letters) FROM kpi_dead_letters_daily "
            f"WHERE stage = '{DECODE_STAGE}' AND partner_id != '' AND {period.where('day')} AND {{who}} GROUP BY partner_id"):
        put(p)
        rejected[p] = n
    for p, values in out.items():
        received, dead = values["received"] or 0, values["dead_letters"] or 0
        values["current_schema_share"] = _rate(on_current.get(p, 0), recorded.get(p, 0))
        values["schema_rejected_share"] = _rate(rejected.get(p, 0), received + dead)
        values["error_rate"] = _rate(dead, received + dead)
        if values["km_driven"] is not None and values["parcels_delivered"]:
            values["km_per_parcel"] = round(values["km_driven"] / values["parcels_delivered"], 3)
        for k in ("parcels_delivered", "attempts", "received", "dead_letters", "colocations", "proposals",
                  "proposals_evaluated"):
            values[k] = values[k] or 0
    return dict(sorted(out.items()))


def _current_versions() -> dict[str, int]:
    """Stream -> the version of its record's current schema (avro_schemas/)."""
    from udfs.contracts import STREAM_RECORDS
    from udfs.contracts.schemas import default_registry

    return {stream: default_registry().latest(name).version for stream, name in STREAM_RECORDS.items()}


def schema_versions(config: Config, period: Period = Period(), partner: str | None = None) -> dict:
    """``{partner: {"<stream> v<N>": accepted events}}`` in the period (v0: written before the
    tables kept the version)."""
    from lastmile.clickhouse import http_client

    params = {**period.parameters(), **({"partner": partner} if partner else {})}
    who = "partner_id = {partner:String}" if partner else "1"
    out: dict[str, dict[str, int]] = {}
    for p, stream, version, n in http_client(config).query(
            "SELECT partner_id, stream, schema_version, uniqExactMerge(records) FROM kpi_schema_daily "
            f"WHERE {period.where('day')} AND {who} GROUP BY partner_id, stream, schema_version "
            "ORDER BY partner_id, stream, schema_version", parameters=params).result_rows:
        out.setdefault(p, {})[f"{stream} v{version}"] = n
    return out


def savings_totals(config: Config, period: Period = Period(), partner: str | None = None) -> dict:
    """The ecosystem's proposals in the period (or ``partner``'s): how many, how many evaluated
    on the routes driven and what those save (marginal), and what the same ones were decided on
    (the upper bound), next to the km all vans drove."""
    from lastmile.clickhouse import http_client

    client = http_client(config)
    params = {**period.parameters(), **({"partner": partner} if partner else {})}
    who = "has(partners, {partner:String})" if partner else "1"
    proposals, upper = client.query(
        f"SELECT count(), sum(km_saved) FROM consolidation_proposals FINAL WHERE {period.where('toDate(created_at)')} "
        f"AND {who}", parameters=params).result_rows[0]
    evaluated, saved, upper_evaluated, not_evaluable = client.query(
        "SELECT countIf(status = 'evaluated'), sumIf(km_saved, status = 'evaluated'), "
        "sumIf(km_saved_upper_bound, status = 'evaluated'), countIf(status != 'evaluated') FROM proposal_savings FINAL "
        f"WHERE {period.where('toDate(created_at)')} AND {who}", parameters=params).result_rows[0]
    driven = client.query(
        f"SELECT sum(metres) / 1000 FROM vehicle_km FINAL WHERE {period.where('toDate(interval_at)')} AND "
        + ("partner_id = {partner:String}" if partner else "1"), parameters=params).result_rows[0][0]
    r = lambda x: round(x or 0.0, 3)  # noqa: E731
    return {"proposals": proposals, "evaluated": evaluated, "not_evaluable": not_evaluable,
            "pending": proposals - evaluated - not_evaluable, "km_saved": r(saved),
            "km_saved_upper_bound_evaluated": r(upper_evaluated), "km_saved_upper_bound": r(upper),
            "km_driven": r(driven)}


def dead_letters_by_reason(config: Config, period: Period = Period(), partner: str | None = None) -> dict:
    """``{"stage/reason": count}`` of refused records in the period."""
    from lastmile.clickhouse import http_client

    params = {**period.parameters(), **({"partner": partner} if partner else {})}
    who = "partner_id = {partner:String}" if partner else "1"
    return {f"{stage}/{reason}": n for stage, reason, n in http_client(config).query(
        f"SELECT stage, reason, uniqExactMerge(dead_letters) AS n FROM kpi_dead_letters_daily "
        f"WHERE {period.where('day')} AND {who} GROUP BY stage, reason ORDER BY n DESC", parameters=params).result_rows}
