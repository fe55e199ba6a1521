"""The KPIs (lastmile/kpis.py, docs/kpis.md) on a small hand-made dataset written into the real
ClickHouse as the job writes its rows, every value computed by hand here; then written again
(a replay) without changing any of them."""
import datetime as dt
import uuid

import pytest

from lastmile import kpis, migrations

D = dt.datetime(2025, 3, 3, tzinfo=dt.UTC)  # a day no other test writes
A, B = "kpi-alpha", "kpi-bravo"


def at(hour: float, ms: int = 0) -> dt.datetime:
    return D + dt.timedelta(hours=hour, milliseconds=ms)


@pytest.fixture(scope="module")
def kpi_db(stack):
    config = stack.with_overrides(clickhouse_database=f"kpi_{uuid.uuid4().hex[:8]}")
    migrations.apply(config)
    return config


def _write(client, ingested_later_ms: int = 0) -> None:
    """The dataset; ``ingested_later_ms`` > 0 writes every row again, that much later (a replay)."""
    ids = uuid.UUID
    src = ("t", 0, 0)

    def tasks(rows):
        client.insert("delivery_tasks", [
            (ids(e), A, s, at(t), at(t, lat + ingested_later_ms), 1, at(ws), at(we), 1, None, None, None, None, *src,
             version) for e, s, t, lat, ws, we, version in rows],
            column_names=["event_id", "partner_id", "shipment_id", "event_time", "ingested_at", "dest_h3",
                          "window_start", "window_end", "parcel_count", "volume_l", "weight_kg", "retailer_id",
                          "service_level", "source_topic", "source_partition", "source_offset", "schema_version"])

    # S1's task is re-announced later with a later window; S3 is never delivered; the first
    # two written with DeliveryTask v1, the others with v2 (the current one)
    tasks([("00000000-0000-0000-0000-000000000001", "S1", 6, 1000, 10, 12, 1),
           ("00000000-0000-0000-0000-000000000002", "S2", 6, 2000, 10, 12, 1),
           ("00000000-0000-0000-0000-000000000003", "S3", 6, 3000, 13, 14, 2),
           ("00000000-0000-0000-0000-000000000004", "S1", 7, 4000, 11, 13, 2)])
    client.insert("shipment_status", [
        (ids(e), A, s, at(t), at(t, lat + ingested_later_ms), status, "van-1", None, None, None, *src, 1)
        for e, s, t, lat, status in [
            ("00000000-0000-0000-0000-000000000011", "S1", 12.5, 500, "DELIVERED"),  # in S1's latest window
            ("00000000-0000-0000-0000-000000000012", "S2", 11.0, 1500, "FAILED_ATTEMPT"),
            ("00000000-0000-0000-0000-000000000013", "S2", 12.5, 2500, "DELIVERED")]],  # after S2's window
        column_names=["event_id", "partner_id", "shipment_id", "event_time", "ingested_at", "status", "vehicle_id",
                      "stop_sequence", "h3_cell", "reason", "source_topic", "source_partition", "source_offset",
                      "schema_version"])
    client.insert("dead_letters", [
        (f"dl-{n}", at(9, ingested_later_ms), f"partners.{A}.delivery_tasks/0/{n}", A, "validate", reason, "m", b"x",
         "") for n, reason in ((1, "window_inverted"), (2, "dest_out_of_range"))],
        column_names=["dead_letter_id", "received_at", "source", "partner_id", "stage", "reason", "message",
                      "payload", "payload_sha256"])
    client.insert("colocations", [
        ("m1", A, "S1", B, "T1", 1, 40.0, at(11), at(12), False, at(6), 1, 0),
        ("m2", A, "S2", B, "T2", 1, 90.0, at(10), at(12), False, at(6), 1, 0),
        ("m2", A, "S2", B, "T2", 1, 90.0, at(10), at(12), False, at(7), 2, 1)],  # S2's match was undone
        column_names=["match_id", "partner_a", "shipment_a", "partner_b", "shipment_b", "h3_cell", "distance_m",
                      "overlap_start", "overlap_end", "same_recipient", "detected_at", "version", "retracted"])
    client.insert("consolidation_proposals", [
        ("p1", [A, B], [f"{A}:S1", f"{B}:T1"], A, 4.0, 2.5, 1.5, "k", "d", at(8), f"{A}:van-1", [])],
        column_names=["proposal_id", "partners", "shipments", "assigned_partner", "km_separate", "km_consolidated",
                      "km_saved", "kernel_version", "inputs_digest", "created_at", "assigned_offer", "tour"])
    client.insert("vehicle_km", [(A, "van-1", at(h), metres, 10) for h, metres in ((8, 1500.5), (9, 2499.5))],
                  column_names=["partner_id", "vehicle_id", "interval_at", "metres", "pings"])
    client.insert("eta_predictions", [
        (A, "S1", "van-1", at(11), at(12, 20 * 60_000), "m", ""), (A, "S1", "van-1", at(12), at(12.5, 60_000), "m", ""),
        (A, "S2", "van-1", at(12), at(12.5, -30_000), "m", "")],
        column_names=["partner_id", "shipment_id", "vehicle_id", "predicted_at", "eta", "model_version",
                      "inputs_digest"])


EXPECTED = {
    "parcels_delivered": 2,  # S1, S2
    "attempts": 3, "missed_delivery_rate": round(1 / 3, 6),  # S1 delivered, S2 failed then delivered
    "on_time_rate": 0.5,  # S1 inside its re-announced window (11-13), S2 after its window (10-12)
    "km_driven": 4.0, "km_per_parcel": 2.0,  # 1.5005 + 2.4995 km for two parcels
    "received": 7,  # four tasks (one a re-announcement) and three statuses
    "feed_latency_p50_ms": 2000, "feed_latency_p95_ms": 4000, "feed_latency_p99_ms": 4000,  # of 500 ... 4000
    "dead_letters": 2, "error_rate": round(2 / 9, 6),
    "colocations": 1, "colocation_rate": round(1 / 3, 6),  # S1's match holds, S2's was retracted; of S1-S3
    "proposals": 1, "km_saved_upper_bound": 1.5,
    "proposals_evaluated": 0, "km_saved": None, "km_saved_own": None,  # not evaluated: tests/e2e/test_proposal_savings.py
    "eta_mae_s": 45.0,  # S1 last ETA a minute late, S2's 30 s early
    "current_schema_share": round(5 / 7, 6),  # two v2 tasks and three statuses of ShipmentStatus v1 (current)
    "schema_rejected_share": 0.0,  # both dead letters failed validation, none decoding
}


def test_every_kpi_on_a_hand_made_day_equals_its_hand_computed_value_also_after_a_replay(kpi_db):
    from lastmile.clickhouse import http_client

    client = http_client(kpi_db)
    _write(client)
    period = kpis.Period(D.date(), D.date())
    assert kpis.compute(kpi_db, period, A)[A] == EXPECTED
    _write(client, ingested_later_ms=3_600_000)  # every row again, an hour later: nothing changes
    assert kpis.compute(kpi_db, period, A)[A] == EXPECTED
    assert kpis.compute(kpi_db, period)[A] == EXPECTED  # all partners at once
    assert kpis.compute(kpi_db, kpis.Period(D.date() + dt.timedelta(days=1)), A) == {}
    assert kpis.dead_letters_by_reason(kpi_db, period, A) == {"validate/window_inverted": 1,
                                                                "validate/dest_out_of_range": 1}
