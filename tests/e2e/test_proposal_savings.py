"""The marginal km of proposals (lastmile/savings.py, proposal_savings) on a hand-made day in the
real ClickHouse: routes from statuses, positions, task cells and the audit log's exact stops,
every figure computed here by hand from the definition (docs/kpis.md)."""
import datetime as dt
import json
import uuid

import h3.api.basic_int as h3i
import pytest

from lastmile import kpis, migrations, savings
from udfs.geo import haversine_m

D = dt.datetime(2025, 3, 10, tzinfo=dt.UTC)  # a day no other test writes
A, B, C = "sav-alpha", "sav-bravo", "sav-charlie"
DETOUR = 1.3
DEPOT = (52.50, 13.40)
NORTH = (52.53, 13.40)  # A's far stop, and next to it (exact, from the audit log) B's
NEXT_DOOR = (52.5305, 13.4003)
B_OTHER = (52.50, 13.44)  # B's stop before the one that moves
A_LATER = (52.51, 13.38)


def at(hour: float) -> dt.datetime:
    return D + dt.timedelta(hours=hour)


def cell(point) -> int:
    return h3i.latlng_to_cell(point[0], point[1], 10)


def centre(point):
    return h3i.cell_to_latlng(cell(point))


def leg(p, q) -> float:
    return haversine_m(p[0], p[1], q[0], q[1]) * DETOUR


@pytest.fixture(scope="module")
def db(stack):
    config = stack.with_overrides(clickhouse_database=f"sav_{uuid.uuid4().hex[:8]}")
    migrations.apply(config)
    return config


def _write(client) -> None:
    src = ("t", 0, 0)
    n = iter(range(1, 1000))

    def eid():
        return uuid.UUID(int=next(n))

    tasks = [(A, "A1", NORTH, 10, 12), (A, "A2", A_LATER, 12, 14), (B, "B1", B_OTHER, 9, 11),
             (B, "B2", NEXT_DOOR, 10, 12), (C, "C1", NEXT_DOOR, 10, 12),
             (A, "A9", NORTH, 20, 23), (B, "B9", NEXT_DOOR, 20, 23)]  # A9 + B9: a proposal not settled yet
    client.insert("delivery_tasks", [
        (eid(), p, s, at(6), at(6), cell(pt), at(ws), at(we), 1, None, None, None, None, *src)
        for p, s, pt, ws, we in tasks],
        column_names=["event_id", "partner_id", "shipment_id", "event_time", "ingested_at", "dest_h3",
                      "window_start", "window_end", "parcel_count", "volume_l", "weight_kg", "retailer_id",
                      "service_level", "source_topic", "source_partition", "source_offset"])
    # A's van-a: A1 then A2; B's van-b: B1 then B2; C1 never goes out (its van is unknown)
    statuses = [(A, "A1", 7, "OUT_FOR_DELIVERY", "van-a", 1), (A, "A2", 7, "OUT_FOR_DELIVERY", "van-a", 2),
                (B, "B1", 7, "OUT_FOR_DELIVERY", "van-b", 1), (B, "B2", 7, "OUT_FOR_DELIVERY", "van-b", 2),
                (A, "A1", 11, "DELIVERED", "van-a", 1), (A, "A2", 13, "DELIVERED", "van-a", 2),
                (B, "B1", 10, "DELIVERED", "van-b", 1), (B, "B2", 11, "DELIVERED", "van-b", 2),
                (C, "C1", 6.5, "CREATED", None, None), (A, "A9", 7, "CREATED", None, None)]
    client.insert("shipment_status", [
        (eid(), p, s, at(t), at(t), status, v, seq, None, None, *src) for p, s, t, status, v, seq in statuses],
        column_names=["event_id", "partner_id", "shipment_id", "event_time", "ingested_at", "status", "vehicle_id",
                      "stop_sequence", "h3_cell", "reason", "source_topic", "source_partition", "source_offset"])
    client.insert("vehicle_positions", [
        (eid(), p, v, at(t), at(t), cell(pt), None, None, None, *src)
        for p, v, t, pt in [(A, "van-a", 6.9, DEPOT), (A, "van-a", 9, NORTH), (B, "van-b", 6.8, DEPOT)]],
        column_names=["event_id", "partner_id", "vehicle_id", "event_time", "ingested_at", "h3_cell", "speed_mps",
                      "load_volume_l", "capacity_volume_l", "source_topic", "source_partition", "source_offset"])
    client.insert("consolidation_proposals", [
        ("p-ab", [A, B], [f"{A}:A1", f"{B}:B2"], A, 9.0, 2.0, 7.0, "k", "d", at(7), f"{A}:van-spare", []),
        ("p-ac", [A, C], [f"{A}:A1", f"{C}:C1"], A, 8.0, 2.0, 6.0, "k", "d", at(7), f"{A}:van-a", []),
        ("p-late", [A, B], [f"{A}:A9", f"{B}:B9"], A, 5.0, 1.0, 4.0, "k", "d", at(17), f"{A}:van-a", [])],
        column_names=["proposal_id", "partners", "shipments", "assigned_partner", "km_separate", "km_consolidated",
                      "km_saved", "kernel_version", "inputs_digest", "created_at", "assigned_offer", "tour"])
    inputs = {"deliveries": [[A, "A1", *NORTH, 0, 0, 1.0], [B, "B2", *NEXT_DOOR, 0, 0, 1.0]]}
    client.insert("audit_log", [("p-ab", "proposal", at(7), "k", "d", json.dumps(inputs))],
                  column_names=["decision_id", "kind", "created_at", "kernel_version", "inputs_digest", "inputs"])


def test_a_proposal_saves_what_the_routes_driven_lose_and_gain_counted_once_and_only_when_settled(db):
    from lastmile.clickhouse import http_client

    client = http_client(db)
    _write(client)
    # the newest status is 13:00: p-late's windows (20-23) are open and its stops not final
    assert savings.refresh(db) == {"evaluated": 1, "not_evaluable": 1, "pending": 1}
    assert savings.refresh(db) == {"evaluated": 0, "not_evaluable": 0, "pending": 1}  # each proposal once
    rows = {r[0]: r[1:] for r in client.query(
        "SELECT proposal_id, status, receiving_vehicle, km_removed, km_inserted, km_saved, km_saved_by_partner "
        "FROM proposal_savings FINAL").result_rows}
    assert set(rows) == {"p-ab", "p-ac"}
    assert rows["p-ac"][:2] == ("route_unknown", None)  # C1 never went out on a van

    # by hand: B's tour depot -> B_OTHER -> B2 -> depot loses B2 (exact, from the audit log);
    # the depot is B's first position's cell centre; A's van (its own stop A1 is in the group,
    # so van-a, not the offered spare van) takes B2 at the cheapest place of depot -> A1 -> A2 -> depot
    depot, a_later, b_other = centre(DEPOT), centre(A_LATER), centre(B_OTHER)
    removed = (leg(depot, b_other) + leg(b_other, NEXT_DOOR) + leg(NEXT_DOOR, depot)) - 2 * leg(depot, b_other)
    tour = [depot, NORTH, a_later, depot]
    inserted = min(leg(tour[i], NEXT_DOOR) + leg(NEXT_DOOR, tour[i + 1]) - leg(tour[i], tour[i + 1]) for i in range(3))
    status, vehicle, km_removed, km_inserted, km_saved, by_partner = rows["p-ab"]
    assert (status, vehicle) == ("evaluated", "van-a")
    assert km_removed == pytest.approx(removed / 1000, abs=1e-3)
    assert km_inserted == pytest.approx(inserted / 1000, abs=1e-3)
    assert km_saved == pytest.approx((removed - inserted) / 1000, abs=1e-3)
    assert by_partner == {A: pytest.approx(-inserted / 1000, abs=1e-3), B: pytest.approx(removed / 1000, abs=1e-3)}
    assert 0 < km_inserted < 0.2 < km_removed  # next door for A, a trip out for B

    period = kpis.Period(D.date(), D.date())
    found = kpis.compute(db, period)
    assert (found[A]["proposals"], found[A]["proposals_evaluated"]) == (3, 1)
    assert found[A]["km_saved"] == found[B]["km_saved"] == pytest.approx(km_saved, abs=1e-3)
    assert (found[A]["km_saved_own"], found[B]["km_saved_own"]) == (by_partner[A], by_partner[B])
    assert found[A]["km_saved_upper_bound"] == 17.0 and found[C]["km_saved_upper_bound"] == 6.0
    totals = kpis.savings_totals(db, period)
    assert totals == {"proposals": 3, "evaluated": 1, "not_evaluable": 1, "pending": 1,
                      "km_saved": pytest.approx(km_saved, abs=1e-3), "km_saved_upper_bound_evaluated": 7.0,
                      "km_saved_upper_bound": 17.0, "km_driven": 0.0}
