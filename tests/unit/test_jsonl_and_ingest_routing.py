"""JSON Lines input: parsing, type conformance, timestamps, and the per-line routing of `lastmile ingest`."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import HOUR, NOW, valid

from lastmile.ingest import Accepted, route_line
from udfs.contracts.errors import ContractViolation
from udfs.contracts.intake import from_json_line, from_wire
from udfs.records import DeadLetter


def line(record: dict) -> bytes:
    return json.dumps(record).encode()


def reason_of(data: bytes, stream="delivery_tasks") -> str:
    outcome = route_line(data, stream, "acme", "f.jsonl:1", NOW)
    assert isinstance(outcome, DeadLetter), outcome
    return outcome.reason


def test_iso_timestamps_with_offsets_become_epoch_ms():
    record = valid("delivery_tasks", window_start="2025-11-25T10:30:00Z", window_end="2025-11-25T13:30:00+02:00",
                   event_time="2025-11-25T09:30:00.000+00:00")
    out = from_json_line(line(record), "delivery_tasks", "acme", NOW)
    assert out["window_start"] == NOW + HOUR
    assert out["window_end"] == NOW + 2 * HOUR
    assert out["event_time"] == NOW


def test_missing_optional_fields_get_their_defaults():
    record = valid("delivery_tasks")
    for name in ("recipient_key", "parcel_count", "volume_l", "weight_kg", "retailer_id", "service_level"):
        del record[name]
    out = from_json_line(line(record), "delivery_tasks", "acme", NOW)
    assert out["parcel_count"] == 1 and out["volume_l"] is None and out["retailer_id"] is None


def test_integers_are_accepted_for_doubles_and_come_back_as_floats():
    out = from_json_line(line(valid("vehicle_positions", lat=52, lng=13)), "vehicle_positions", "acme", NOW)
    assert out["lat"] == 52.0 and isinstance(out["lat"], float)


@pytest.mark.parametrize("data, reason", [
    (b"not json", "malformed_json"),
    (b"\xff\xfe{}", "malformed_json"),
    (b"[1, 2]", "not_an_object"),
    (b'"text"', "not_an_object"),
    (b"", "empty_line"),
    (b"   \t", "empty_line"),
    (line({**valid("delivery_tasks"), "colour": "red"}), "unknown_field"),
    (line({k: v for k, v in valid("delivery_tasks").items() if k != "dest_lat"}), "missing_field"),
    (line(valid("delivery_tasks", dest_lat="52.5")), "wrong_type"),
    (line(valid("delivery_tasks", parcel_count=True)), "wrong_type"),
    (line(valid("delivery_tasks", parcel_count=2**31)), "wrong_type"),
    (line(valid("delivery_tasks", parcel_count=1.5)), "wrong_type"),
    (line(valid("delivery_tasks", shipment_id=None)), "wrong_type"),
    (line(valid("delivery_tasks", window_start="2025-11-25T10:30:00")), "bad_timestamp"),
    (line(valid("delivery_tasks", window_start="tomorrow")), "bad_timestamp"),
    (line(valid("delivery_tasks", window_start=1.5e12)), "bad_timestamp"),
    (line(valid("delivery_tasks", partner_id="rival")), "partner_mismatch"),
    (line(valid("delivery_tasks", window_end=NOW)), "window_not_ordered"),
    (line(valid("delivery_tasks", dest_lat=float("nan"))), "not_finite"),
    (line(valid("delivery_tasks", dest_lng=float("inf"))), "not_finite"),
    # an integer of more than 4,300 digits: Python's int parser refuses it (it once crashed ingest)
    (line(valid("delivery_tasks"))[:-1] + b', "parcel_count": ' + b"9" * 5000 + b"}", "malformed_json"),
    (line(valid("delivery_tasks", shipment_id="s" * 300)), "string_too_long"),
    (line(valid("delivery_tasks", retailer_id="r" * 70_000)), "record_too_large"),
])
def test_bad_lines_become_dead_letters_with_their_reason(data, reason):
    assert reason_of(data) == reason


def test_dead_letter_keeps_line_source_stage_and_partner():
    outcome = route_line(b"oops", "delivery_tasks", "acme", "tasks.jsonl:7", NOW)
    assert (outcome.payload, outcome.source, outcome.stage, outcome.partner_id) == (
        b"oops", "tasks.jsonl:7", "ingest-parse", "acme")
    outcome = route_line(line(valid("delivery_tasks", parcel_count=0)), "delivery_tasks", "acme", "x:1", NOW)
    assert outcome.stage == "ingest-validate"


def test_accepted_line_is_keyed_by_shipment_and_decodes_to_the_same_record():
    record = valid("delivery_tasks")
    outcome = route_line(line(record), "delivery_tasks", "acme", "x:1", NOW)
    assert isinstance(outcome, Accepted) and outcome.key == "S-1"
    decoded, writer = from_wire(outcome.payload, "delivery_tasks", "acme", NOW)
    assert decoded == record and writer.name == "DeliveryTask"


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
                    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(value=JSON, stream=st.sampled_from(["delivery_tasks", "shipment_status", "vehicle_positions",
                                           "capacity_offers"]))
def test_arbitrary_json_ends_as_a_valid_record_or_a_dead_letter(value, stream):
    data = json.dumps(value).encode()
    outcome = route_line(data, stream, "acme", "fuzz:1", NOW)
    if isinstance(outcome, DeadLetter):
        assert outcome.reason and outcome.payload == data
    else:
        assert from_wire(outcome.payload, stream, "acme", NOW)[0] == outcome.record


@settings(max_examples=200, deadline=None)
@given(stream=st.sampled_from(["delivery_tasks", "vehicle_positions"]), data=st.data())
def test_records_near_the_schema_end_as_a_valid_record_or_a_dead_letter(stream, data):
    record = valid(stream)
    for name in data.draw(st.lists(st.sampled_from(sorted(record)), max_size=3)):
        record[name] = data.draw(JSON)
    payload = json.dumps(record).encode()
    outcome = route_line(payload, stream, "acme", "fuzz:1", NOW)
    assert isinstance(outcome, (Accepted, DeadLetter))
    if isinstance(outcome, Accepted):
        assert from_wire(outcome.payload, stream, "acme", NOW)[0] == outcome.record


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=200), stream=st.sampled_from(["delivery_tasks", "shipment_status",
                                                             "vehicle_positions", "capacity_offers"]))
def test_arbitrary_bytes_never_crash_the_decoder(data, stream):
    try:
        record, _ = from_wire(data, stream, "acme", NOW)
    except ContractViolation as violation:
        assert violation.reason and violation.stage in ("decode", "validate")
    else:
        assert isinstance(record, dict)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_corrupted_bodies_with_a_valid_header_never_crash_the_decoder(data):
    from udfs.contracts import wire

    encoded = bytearray(wire.encode(valid("delivery_tasks"), "DeliveryTask"))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(10, len(encoded) - 1))
        encoded[position] = data.draw(st.integers(0, 255))
    encoded = bytes(encoded[:data.draw(st.integers(10, len(encoded)))])
    try:
        from_wire(encoded, "delivery_tasks", "acme", NOW)
    except ContractViolation as violation:
        assert violation.reason in ("undecodable",) or violation.stage == "validate"
