"""Smoke job end to end: records in Kafka -> PyFlink (thread mode, Kafka connector) -> rows in ClickHouse."""
import json
import uuid

import h3

from jobs import smoke
from lastmile import topics


def _payloads(partner: str, count: int) -> tuple[list[bytes], dict[str, int]]:
    """Good positions plus one bad record of each kind; returns payloads and expected cell per event."""
    good, expected = [], {}
    for i in range(count):
        event_id = str(uuid.uuid4())
        lat, lng = 48.1 + i * 0.001, 11.5 + i * 0.0013
        expected[event_id] = h3.str_to_int(h3.latlng_to_cell(lat, lng, 10))
        good.append(json.dumps({"event_id": event_id, "partner_id": partner, "vehicle_id": f"v{i % 3}",
                                "event_time": 1764063000000 + i, "lat": lat, "lng": lng}).encode())
    bad = [b"\x00\x01 not json", json.dumps({"event_id": str(uuid.uuid4()), "partner_id": "someone-else",
                                             "vehicle_id": "v", "event_time": 1, "lat": 1, "lng": 1}).encode(),
           json.dumps({"event_id": str(uuid.uuid4()), "partner_id": partner, "vehicle_id": "v",
                       "event_time": 1, "lat": 123.0, "lng": 1}).encode()]
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
    assert [r[0] for r in dead] == ["coordinates_out_of_range", "malformed_json", "partner_mismatch"]
    assert [bytes.fromhex(r[2]) for r in dead] == [payloads[-1], payloads[-3], payloads[-2]]
    offsets = sorted(int(r[1].rsplit("/", 1)[1]) for r in dead)
    assert len(set(offsets)) == 3

    # A replay (same records again) leaves no duplicate visible through FINAL.
    smoke.run(stack, bounded=True)
    again = ch.query("SELECT count(), uniqExact(event_id) FROM vehicle_positions FINAL WHERE partner_id = {p:String}",
                     parameters={"p": partner}).result_rows[0]
    assert again == (len(expected), len(expected))
    assert ch.query("SELECT count() FROM dead_letters FINAL WHERE source LIKE {t:String}",
                    parameters={"t": topic + "/%"}).result_rows[0][0] == 3
