"""What the live map shows, from ClickHouse: hexes per layer, the side panel's summary, and a
partner's own active shipments.

The map's *now* is the feed's clock: the newest event time the pipeline accepted (so a replay
of last year's city shows its own day, and a live feed shows today). *Today* is the UTC day of
that clock. An *active delivery* is a shipment whose latest task has a window still open or
opening later today, and which has no final status (udfs.statuses.FINAL_STATUSES).

Privacy: the operator's layers and summary are counts per hex (at resolution 8 or 9) and per
partner; only :func:`partner_shipments` names shipments, and only the asking partner's (its
own ClickHouse account where the stack has one, and ``partner_id = P`` in the query as well).
"""
from __future__ import annotations

import datetime as dt

from udfs.statuses import FINAL_STATUSES

LAYERS = ("deliveries", "colocations", "proposals", "vans")
RESOLUTIONS = (7, 8, 9)
VAN_RECENT_MS = 15 * 60_000  # a van counts where its latest position of the last 15 minutes is
TASK_LOOKBACK_DAYS = 2  # tasks announced this long before now may still be active

_FINAL = "(" + ", ".join(f"'{s}'" for s in FINAL_STATUSES) + ")"
_ACTIVE = f"""
    SELECT partner_id, shipment_id, argMax(dest_h3, event_time) AS cell, argMax(window_start, event_time) AS ws,
           argMax(window_end, event_time) AS we
    FROM delivery_tasks FINAL
    WHERE event_time >= {{since:DateTime64(3)}} {{who}}
    GROUP BY partner_id, shipment_id
    HAVING we > {{now:DateTime64(3)}} AND ws < {{day_end:DateTime64(3)}}
       AND (partner_id, shipment_id) NOT IN (
           SELECT partner_id, shipment_id FROM shipment_status
           WHERE status IN {_FINAL} AND event_time >= {{since:DateTime64(3)}} {{who}})"""


def clock(client) -> dt.datetime | None:
    """The feed's newest event time (None before any event)."""
    newest = client.query(
        "SELECT greatest((SELECT max(event_time) FROM delivery_tasks), (SELECT max(event_time) FROM shipment_status), "
        "(SELECT max(event_time) FROM vehicle_positions))").result_rows[0][0]
    return None if newest is None or newest.year < 2000 else newest.replace(tzinfo=dt.UTC)


def _params(now: dt.datetime, partner: str | None = None) -> dict:
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"now": now, "day_start": day, "day_end": day + dt.timedelta(days=1),
            "since": now - dt.timedelta(days=TASK_LOOKBACK_DAYS), "recent": now - dt.timedelta(milliseconds=VAN_RECENT_MS),
            **({"partner": partner} if partner else {})}


def _who(partner: str | None) -> str:
    return "AND partner_id = {partner:String}" if partner else ""


def hexes(client, layer: str, res: int, now: dt.datetime, partner: str | None = None) -> list[dict]:
    """``[{"h3": hex id, "value": n, "partners": k, ...}]``, one per hex of ``layer`` at ``res``:

    * deliveries: active deliveries, and how many partners deliver them;
    * colocations: current co-located pairs whose overlap is still open or opens later today;
    * proposals: today's consolidation proposals at their first delivery, with ``km``: the
      marginal km saved of those already evaluated (docs/kpis.md);
    * vans: vans whose latest position of the last 15 minutes is there.

    ``partner``: only that partner's own (its view's "mine" layers)."""
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}")
    if res not in RESOLUTIONS:
        raise ValueError(f"res must be one of {', '.join(map(str, RESOLUTIONS))}")
    who = _who(partner)
    if layer == "deliveries":
        sql = (f"SELECT h3ToParent(cell, {res}) AS hex, count(), uniqExact(partner_id), 0 "
               f"FROM ({_ACTIVE.replace('{who}', who)}) GROUP BY hex ORDER BY hex")
    elif layer == "colocations":
        mine = "AND (partner_a = {partner:String} OR partner_b = {partner:String})" if partner else ""
        sql = (f"SELECT h3ToParent(h3_cell, {res}) AS hex, count(), length(groupUniqArrayArray([partner_a, partner_b])), 0 "
               "FROM colocations_current WHERE overlap_end > {now:DateTime64(3)} "
               f"AND overlap_start < {{day_end:DateTime64(3)}} {mine} GROUP BY hex ORDER BY hex")
    elif layer == "proposals":
        mine = "AND has(p.partners, {partner:String})" if partner else ""
        sql = (f"SELECT h3ToParent(t.cell, {res}) AS hex, count(), length(groupUniqArrayArray(p.partners)), "
               "round(sum(ifNull(s.km_saved, 0)), 3) FROM consolidation_proposals AS p FINAL "
               "LEFT JOIN (SELECT proposal_id, km_saved FROM proposal_savings FINAL WHERE status = 'evaluated') AS s "
               "ON p.proposal_id = s.proposal_id "
               "INNER JOIN (SELECT concat(partner_id, ':', shipment_id) AS key, argMax(dest_h3, event_time) AS cell "
               "FROM delivery_tasks WHERE event_time >= {since:DateTime64(3)} GROUP BY partner_id, shipment_id) AS t "
               "ON t.key = p.shipments[1] "
               "WHERE p.created_at >= {day_start:DateTime64(3)} - INTERVAL 1 DAY AND p.created_at < {day_end:DateTime64(3)} "
               f"{mine} GROUP BY hex ORDER BY hex")
    else:
        sql = (f"SELECT h3ToParent(cell, {res}) AS hex, count(), uniqExact(partner_id), 0 FROM ("
               "SELECT partner_id, vehicle_id, argMax(h3_cell, event_time) AS cell FROM vehicle_positions "
               "WHERE event_time > {recent:DateTime64(3)} AND event_time <= {now:DateTime64(3)} "
               f"{who} GROUP BY partner_id, vehicle_id) GROUP BY hex ORDER BY hex")
    return [{"h3": format(h, "x"), "value": n, "partners": k, **({"km": km} if layer == "proposals" else {})}
            for h, n, k, km in client.query(sql, parameters=_params(now, partner)).result_rows]


def summary(client, now: dt.datetime | None, wall: dt.datetime) -> dict:
    """The side panel: the clock, active deliveries, today's co-location rate, proposals and
    km saved today, each partner's feed freshness, dead letters of the last hour by reason."""
    fresh = {p: {"seconds_since_last_event": round((wall - last.replace(tzinfo=dt.UTC)).total_seconds(), 1),
                 "newest_event_time": newest.replace(tzinfo=dt.UTC).isoformat()}
             for p, last, newest in client.query(
                 "SELECT partner_id, max(ingested_at), max(event_time) FROM ("
                 + " UNION ALL ".join(f"SELECT partner_id, ingested_at, event_time FROM {t}"
                                      for t in ("delivery_tasks", "shipment_status", "vehicle_positions",
                                                "capacity_offers"))
                 + ") GROUP BY partner_id ORDER BY partner_id").result_rows}
    dead = {f"{stage}/{reason}": n for stage, reason, n in client.query(
        "SELECT stage, reason, count() AS n FROM dead_letters_summary WHERE received_at > {since:DateTime64(3)} "
        "GROUP BY stage, reason ORDER BY n DESC", parameters={"since": wall - dt.timedelta(hours=1)}).result_rows}
    out = {"now": now.isoformat() if now else None, "wall": wall.isoformat(), "feeds": fresh,
           "dead_letters_last_hour": dead, "active_deliveries": 0, "colocation_rate": None, "proposals_today": 0,
           "km_saved_today": 0.0, "km_saved_today_upper_bound": 0.0, "center": None}
    if now is None:
        return out
    params = _params(now)
    active, lat, lng = client.query(
        f"SELECT count(), avg(h3ToGeo(cell).1), avg(h3ToGeo(cell).2) FROM ({_ACTIVE.replace('{who}', '')})",
        parameters=params).result_rows[0]
    tasks, matched = client.query(
        "SELECT count(), countIf(m.s != '') FROM (SELECT concat(partner_id, ':', shipment_id) AS key FROM delivery_tasks "
        "WHERE event_time >= {since:DateTime64(3)} GROUP BY partner_id, shipment_id "
        "HAVING argMax(window_start, event_time) >= {day_start:DateTime64(3)} "
        "AND argMax(window_start, event_time) < {day_end:DateTime64(3)}) AS t LEFT JOIN (SELECT DISTINCT "
        "arrayJoin([concat(partner_a, ':', shipment_a), concat(partner_b, ':', shipment_b)]) AS s FROM colocations_current) "
        "AS m ON t.key = m.s", parameters=params).result_rows[0]
    proposals, upper, saved = client.query(
        "SELECT count(), round(sum(p.km_saved), 3), round(sum(ifNull(s.km_saved, 0)), 3) "
        "FROM consolidation_proposals AS p FINAL LEFT JOIN (SELECT proposal_id, km_saved FROM proposal_savings FINAL "
        "WHERE status = 'evaluated') AS s ON p.proposal_id = s.proposal_id "
        "WHERE p.created_at >= {day_start:DateTime64(3)} - INTERVAL 1 DAY AND p.created_at < {day_end:DateTime64(3)}",
        parameters=params).result_rows[0]
    out.update(active_deliveries=active, colocation_rate=round(matched / tasks, 4) if tasks else None,
               proposals_today=proposals, km_saved_today=saved or 0.0, km_saved_today_upper_bound=upper or 0.0,
               center=[lat, lng] if active else None)
    return out


def partner_shipments(client, partner: str, now: dt.datetime, limit: int = 500) -> list[dict]:
    """The partner's own active deliveries: id, resolution-10 cell, window, latest status."""
    rows = client.query(
        f"SELECT a.shipment_id, a.cell, a.ws, a.we, s.status FROM ({_ACTIVE.replace('{who}', _who(partner))}) AS a "
        "LEFT JOIN (SELECT shipment_id, argMax(status, event_time) AS status FROM shipment_status "
        "WHERE partner_id = {partner:String} AND event_time >= {since:DateTime64(3)} GROUP BY shipment_id) AS s "
        f"ON a.shipment_id = s.shipment_id ORDER BY a.ws, a.shipment_id LIMIT {int(limit)}",
        parameters=_params(now, partner)).result_rows
    return [{"shipment_id": s, "h3": format(cell, "x"), "window_start": ws.replace(tzinfo=dt.UTC).isoformat(),
             "window_end": we.replace(tzinfo=dt.UTC).isoformat(), "status": status or "CREATED"}
            for s, cell, ws, we, status in rows]
