import h3
import pytest
from samples import valid

from udfs.contracts import wire
from udfs.records import DeadLetter, Source
from udfs.smoke import POSITION_COLUMNS, position_row

SOURCE = Source("partners.acme.vehicle_positions", 1, 42)
NOW = 1764063009999


def avro(**changes) -> bytes:
    return wire.encode(valid("vehicle_positions", now_ms=NOW - 9000, **changes), "VehiclePosition")


def test_good_record_becomes_a_row_with_the_res10_cell_and_no_coordinates():
    row = position_row(avro(lat=52.52, lng=13.405), SOURCE, "acme", now_ms=NOW)
    assert isinstance(row, tuple) and len(row) == len(POSITION_COLUMNS)
    values = dict(zip(POSITION_COLUMNS, row))
    assert values["h3_cell"] == h3.str_to_int(h3.latlng_to_cell(52.52, 13.405, 10))
    assert values["event_time"] == NOW - 9000 and values["ingested_at"] == NOW
    assert (values["source_topic"], values["source_partition"], values["source_offset"]) == (SOURCE.topic, 1, 42)
    assert 52.52 not in row and 13.405 not in row


@pytest.mark.parametrize("payload, stage, reason", [
    (b"\xff\xfe garbage", "decode", "not_single_object"),
    (b'{"lat": 1}', "decode", "not_single_object"),
    (wire.encode(valid("delivery_tasks"), "DeliveryTask"), "decode", "wrong_record_type"),
    (avro(partner_id="other"), "validate", "partner_mismatch"),
    (avro(lat=91.0), "validate", "coordinates_out_of_range"),
    (avro(lat=float("nan")), "validate", "not_finite"),
])
def test_bad_records_become_dead_letters_that_keep_payload_and_source(payload, stage, reason):
    result = position_row(payload, SOURCE, "acme", now_ms=NOW)
    assert isinstance(result, DeadLetter)
    assert (result.stage, result.reason) == (stage, reason)
    assert result.payload == payload
    assert result.source == "partners.acme.vehicle_positions/1/42"
    assert result.received_at_ms == NOW and result.partner_id == "acme"


def test_dead_letter_ids_are_deterministic_per_source():
    a = position_row(b"x", SOURCE, "acme")
    b = position_row(b"x", SOURCE, "acme")
    c = position_row(b"x", Source(SOURCE.topic, 1, 43), "acme")
    assert a.dead_letter_id == b.dead_letter_id != c.dead_letter_id
