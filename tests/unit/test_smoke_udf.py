import json

import h3
import pytest

from udfs.records import DeadLetter, Source
from udfs.smoke import POSITION_COLUMNS, position_row

SOURCE = Source("partners.acme.vehicle_positions", 1, 42)
GOOD = {"event_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "partner_id": "acme", "vehicle_id": "van-1",
        "event_time": 1764063000123, "lat": 52.5200, "lng": 13.4050, "speed_mps": 7.5}


def encode(**changes) -> bytes:
    record = {**GOOD, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not ...}).encode()


def test_good_record_becomes_a_row_with_the_res10_cell_and_no_coordinates():
    row = position_row(encode(), SOURCE, "acme", now_ms=1764063009999)
    assert isinstance(row, tuple) and len(row) == len(POSITION_COLUMNS)
    values = dict(zip(POSITION_COLUMNS, row))
    assert values["h3_cell"] == h3.str_to_int(h3.latlng_to_cell(52.52, 13.405, 10))
    assert values["event_time"] == 1764063000123 and values["ingested_at"] == 1764063009999
    assert (values["source_topic"], values["source_partition"], values["source_offset"]) == (SOURCE.topic, 1, 42)
    assert 52.52 not in row and 13.405 not in row


@pytest.mark.parametrize("payload, reason", [
    (b"\xff\xfe garbage", "malformed_json"),
    (b"[1, 2]", "malformed_json"),
    (encode(partner_id="other"), "partner_mismatch"),
    (encode(vehicle_id=...), "missing_field"),
    (encode(event_id="not-a-uuid"), "bad_value"),
    (encode(lat="north"), "bad_value"),
    (encode(speed_mps="fast"), "bad_value"),
    (encode(lat=91.0), "coordinates_out_of_range"),
    (b'{"event_id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "partner_id": "acme", "vehicle_id": "v",'
     b' "event_time": 1, "lat": NaN, "lng": 0}', "coordinates_out_of_range"),
])
def test_bad_records_become_dead_letters_that_keep_payload_and_source(payload, reason):
    result = position_row(payload, SOURCE, "acme", now_ms=5)
    assert isinstance(result, DeadLetter)
    assert result.reason == reason
    assert result.payload == payload
    assert result.source == "partners.acme.vehicle_positions/1/42"
    assert result.received_at_ms == 5


def test_dead_letter_ids_are_deterministic_per_source():
    a = position_row(b"x", SOURCE, "acme")
    b = position_row(b"x", SOURCE, "acme")
    c = position_row(b"x", Source(SOURCE.topic, 1, 43), "acme")
    assert a.dead_letter_id == b.dead_letter_id != c.dead_letter_id
