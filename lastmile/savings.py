"""The marginal kilometres of the consolidation proposals (udfs/savings.py), evaluated on the
routes the partners' vans drove and written to ``proposal_savings`` (migration 0009).

A proposal is evaluated once it is *settled*: every delivery of its group has a final status,
or its window ended before the newest status the pipeline has. Earlier, its vans' routes may
still grow. Its routes come from ClickHouse:

* which van made a stop, and in which order: a shipment's latest status that names a vehicle
  and a ``stop_sequence``, on that status's UTC day (a van's day is a route);
* where: the group's own stops exactly, from the proposal's audit-log inputs; every other
  stop at the centre of its task's resolution-10 cell (the shared tables hold no coordinates);
* where the van started: the cell of its first position that day (no position: its first stop).

The carrier's receiving van is its van with the most of the group's stops (it goes there
anyway), else the offer's vehicle when it drove that day. A proposal whose vans are not known is written with the
reason (``route_unknown``: some other partner's stop has no van; ``carrier_route_unknown``) and
no figure, so that the KPI can say how many it covers. Each proposal is written once.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import h3.api.basic_int as h3i

from lastmile.config import Config
from udfs import keys
from udfs.savings import Point, Route, marginal
from udfs.statuses import FINAL_STATUSES

EVALUATED = "evaluated"
COLUMNS = ("proposal_id", "created_at", "partners", "assigned_partner", "receiving_vehicle", "status", "km_removed",
           "km_inserted", "km_saved", "km_saved_by_partner", "km_saved_upper_bound")


def _pairs(member_keys) -> dict:
    """Query parameters naming ``partner:shipment`` keys as two arrays (use with :data:`_IN_PAIRS`)."""
    split = [keys.split(k) for k in sorted(member_keys)]
    return {"ps": [p for p, _ in split], "ss": [s for _, s in split]}


_IN_PAIRS = ("(partner_id, shipment_id) IN (SELECT t.1, t.2 FROM "
             "(SELECT arrayJoin(arrayZip({ps:Array(String)}, {ss:Array(String)})) AS t))")


def _centre(cell: int) -> Point:
    return h3i.cell_to_latlng(cell)


def refresh(config: Config) -> dict:
    """Evaluate every settled proposal not evaluated yet; ``{"evaluated": n, "not_evaluable": m,
    "pending": k}`` of this call."""
    from lastmile.clickhouse import http_client

    client = http_client(config)
    proposals = client.query(
        "SELECT proposal_id, created_at, partners, shipments, assigned_partner, assigned_offer, km_saved "
        "FROM consolidation_proposals FINAL WHERE proposal_id NOT IN (SELECT proposal_id FROM proposal_savings)"
        " ORDER BY proposal_id").result_rows
    counts = {"evaluated": 0, "not_evaluable": 0, "pending": 0}
    if not proposals:
        return counts
    members = {k for row in proposals for k in row[3]}
    newest = client.query("SELECT max(event_time) FROM shipment_status").result_rows[0][0]
    windows = {(p, s): we for p, s, we in client.query(
        "SELECT partner_id, shipment_id, argMaxMerge(window_end) FROM kpi_task_windows "
        f"WHERE {_IN_PAIRS} GROUP BY partner_id, shipment_id", parameters=_pairs(members)).result_rows}
    final = {(p, s) for p, s in client.query(
        f"SELECT partner_id, shipment_id FROM shipment_status FINAL WHERE {_IN_PAIRS} AND status IN {{final:Array(String)}} "
        "GROUP BY partner_id, shipment_id", parameters={**_pairs(members), "final": list(FINAL_STATUSES)}).result_rows}

    def settled(shipments) -> bool:
        return all(keys.split(k) in final or (keys.split(k) in windows and windows[keys.split(k)] < newest)
                   for k in shipments)

    ready = [row for row in proposals if settled(row[3])]
    counts["pending"] = len(proposals) - len(ready)
    if not ready:
        return counts
    rows = [_evaluate(row, routes, points) for row, routes, points in _routes(client, ready)]
    client.insert("proposal_savings", rows, column_names=list(COLUMNS))
    for row in rows:
        counts["evaluated" if row[5] == EVALUATED else "not_evaluable"] += 1
    return counts


def _routes(client, proposals: list):
    """``(proposal row, {van: Route}, {member key: (van or None, Point or None)})`` for each
    proposal; a van is ``partner:vehicle@day``."""
    members = {k for row in proposals for k in row[3]}
    partners = sorted({keys.split(k)[0] for k in members})
    days = sorted({(row[1] + dt.timedelta(days=d)).date() for row in proposals for d in (0, 1)})
    on_vans = client.query(
        "SELECT partner_id, shipment_id, argMax(vehicle_id, event_time) AS v, argMax(stop_sequence, event_time), "
        "toDate(max(event_time)) FROM shipment_status FINAL WHERE vehicle_id IS NOT NULL AND stop_sequence IS NOT NULL "
        "AND partner_id IN {partners:Array(String)} AND toDate(event_time) IN {days:Array(Date)} "
        "GROUP BY partner_id, shipment_id", parameters={"partners": partners, "days": days}).result_rows
    van_of = {keys.key(p, s): f"{keys.key(p, v)}@{d}" for p, s, v, _, d in on_vans}
    wanted = {van_of[k] for k in members if k in van_of}
    wanted |= {f"{row[5]}@{van.split('@')[1]}" for row in proposals for k in row[3] if (van := van_of.get(k))}
    stops = defaultdict(list)
    for p, s, v, seq, d in on_vans:
        if (van := f"{keys.key(p, v)}@{d}") in wanted:
            stops[van].append((seq, s, keys.key(p, s)))
    on_routes = {k for route in stops.values() for _, _, k in route}
    cells = {keys.key(p, s): cell for p, s, cell in client.query(
        f"SELECT partner_id, shipment_id, argMax(dest_h3, event_time) FROM delivery_tasks FINAL WHERE {_IN_PAIRS} "
        "GROUP BY partner_id, shipment_id", parameters=_pairs(on_routes | members)).result_rows}
    starts = {f"{keys.key(p, v)}@{d}": cell for p, v, d, cell in client.query(
        "SELECT partner_id, vehicle_id, toDate(event_time) AS d, argMin(h3_cell, event_time) FROM vehicle_positions FINAL "
        "WHERE partner_id IN {partners:Array(String)} AND toDate(event_time) IN {days:Array(Date)} "
        "GROUP BY partner_id, vehicle_id, d", parameters={"partners": partners, "days": days}).result_rows}
    exact: dict[str, Point] = {}
    for (inputs,) in client.query(
            "SELECT inputs FROM audit_log FINAL WHERE kind = 'proposal' AND decision_id IN {ids:Array(String)} "
            "ORDER BY created_at", parameters={"ids": [row[0] for row in proposals]}).result_rows:
        for partner, shipment, lat, lng, *_ in json.loads(inputs)["deliveries"]:
            exact[keys.key(partner, shipment)] = (lat, lng)  # the newest decision's, as the task was replaced

    def where(k: str) -> Point | None:
        return exact[k] if k in exact else (_centre(cells[k]) if k in cells else None)

    routes = {}
    for van, route in stops.items():
        known = tuple((k, p) for _, _, k in sorted(route) if (p := where(k)) is not None)
        if known:
            routes[van] = Route(keys.split(van)[0], _centre(starts[van]) if van in starts else known[0][1], known)
    for row in proposals:
        yield row, routes, {k: (van_of.get(k), where(k)) for k in row[3]}


def _evaluate(row, routes: dict[str, Route], members: dict) -> tuple:
    proposal_id, created_at, partners, shipments, carrier, offer, upper = row
    base = (proposal_id, created_at, list(partners), carrier)
    if any(van is None or point is None or van not in routes
           for k, (van, point) in members.items() if keys.split(k)[0] != carrier):
        return (*base, None, "route_unknown", None, None, None, {}, upper)
    carrier_vans = [van for k, (van, _) in members.items() if keys.split(k)[0] == carrier and van in routes]
    days = {van.split("@")[1] for van, _ in members.values() if van in routes}
    offered = [van for van in routes if van.split("@")[0] == offer and van.split("@")[1] in days]
    receiving = (sorted(carrier_vans, key=lambda v: (-carrier_vans.count(v), v)) or sorted(offered) or [None])[0]
    if receiving is None:
        return (*base, None, "carrier_route_unknown", None, None, None, {}, upper)
    s = marginal(routes, {k: van for k, (van, _) in members.items() if van in routes}, carrier, receiving,
                 {k: p for k, (_, p) in members.items()})
    return (*base, receiving.split("@")[0].partition(":")[2], EVALUATED, round(s.removed_m / 1000, 3),
            round(s.inserted_m / 1000, 3), round(s.saved_m / 1000, 3),
            {p: round(m / 1000, 3) for p, m in s.by_partner_m.items()}, upper)
