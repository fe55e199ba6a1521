"""Smoke job end to end: Avro records in Kafka -> PyFlink (thread mode, Kafka connector) -> rows in ClickHouse."""
import time
import uuid

import h3
from samples import valid

from lastmile import smoke, topics
from udfs.contracts import wire


def _payloads(partner: str, count: int) -> tuple[list[bytes], dict[str, int]]:
    """Good positions plus one bad record of each kind; returns payloads and expected cell per event."""
    now = int(time.time() * 1000)
    good, expected = [], {}
    for i in range(count):
        record = valid("vehicle_positions", partner=partner, now_ms=now - 1000 * i,
                       lat=48.1 + i * 0.001, lng=11.5 + i * 0.0013, vehicle_id=f"v{i % 3}")
        expected[record["event_id"]] = h3.str_to_int(h3.latlng_to_cell(record["lat"], record["lng"], 10))
        good.append(wire.encode(record, "VehiclePosition"))
    bad = [b"\x00\x01 not avro",
           wire.encode(valid("vehicle_positions", partner="someone-else", now_ms=now), "VehiclePosition"),
           wire.encode(valid("vehicle_positions", partner=partner, now_ms=now, lat=123.0), "VehiclePosition")]
    return good + bad, expected


def test_smoke_job_moves_every_record_to_clickhouse(stack, ch):
    partner = f"smoke-{uuid.uuid4().hex[:6]}"
    topic = topics.partner_topic(partner, "vehicle_positions")
    topics.ensure_partner_topics(stack, partner)
    payloads, expected = _payloads(partner, 300)
    smoke.produce(stack, topic, payloads)

    smoke.run(stack, bounded=True)

    rows = ch.query("SELECT toString(event_id), h3_cell, source_topic FROM vehicle_positions FINAL "
                    "WHERE partner_id = {p:String}", parameters={"p": partner}).result_rows
    assert {r[0]: r[1] for r in rows} == expected
    assert {r[2] for r in rows} == {topic}

    dead = ch.query("SELECT reason, source, lower(hex(payload)) FROM dead_letters FINAL "
                    "WHERE source LIKE {t:String} ORDER BY reason", parameters={"t": topic + "/%"}).result_rows
    assert [r[0] for r in dead] == ["coordinates_out_of_range", "not_single_object", "partner_mismatch"]
    assert [bytes.fromhex(r[2]) for r in dead] == [payloads[-1], payloads[-3], payloads[-2]]
    # three records, three places: an offset is per partition, so compare partition/offset
    assert len({r[1].split("/", 1)[1] for r in dead}) == 3

    # A replay (same records again) leaves no duplicate visible through FINAL.
    smoke.run(stack, bounded=True)
    again = ch.query("SELECT count(), uniqExact(event_id) FROM vehicle_positions FINAL WHERE partner_id = {p:String}",
                     parameters={"p": partner}).result_rows[0]
    assert again == (len(expected), len(expected))
    assert ch.query("SELECT count() FROM dead_letters FINAL WHERE source LIKE {t:String}",
                    parameters={"t": topic + "/%"}).result_rows[0][0] == 3
