"""Single-object encoding round trips and the ways decoding refuses bytes."""
import pytest
from hypothesis import given, settings
from samples import for_schema, valid

from udfs.contracts import STREAM_RECORDS, wire
from udfs.contracts.errors import ContractViolation
from udfs.contracts.schemas import default_registry

REGISTRY = default_registry()
ALL_VERSIONS = [(n, v.version) for n in REGISTRY.names() for v in REGISTRY.versions(n)]


@pytest.mark.parametrize("name, version", ALL_VERSIONS)
@settings(max_examples=40, deadline=None)
@given(data=__import__("hypothesis").strategies.data())
def test_every_record_type_and_version_round_trips(name, version, data):
    schema = REGISTRY.get(name, version)
    record = data.draw(for_schema(schema.schema))
    encoded = wire.encode(record, name, version)
    assert encoded[:2] == b"\xc3\x01" and encoded[2:10] == schema.fingerprint
    decoded, writer = wire.decode(encoded, expected=name)
    assert writer == schema
    latest = REGISTRY.latest(name)
    for field in latest.fields:  # fields the writer lacked come back with their defaults
        expected = record[field["name"]] if field["name"] in record else field["default"]
        assert decoded[field["name"]] == expected


@pytest.mark.parametrize("stream", STREAM_RECORDS)
def test_sample_partner_records_round_trip_exactly(stream):
    record = valid(stream)
    decoded, _ = wire.decode(wire.encode(record, STREAM_RECORDS[stream]))
    assert decoded == record


def test_missing_header_is_not_single_object():
    body = wire.encode(valid("vehicle_positions"), "VehiclePosition")[10:]
    for data in (b"", b"\xc3", b"\xc3\x01\x00", body, b"\xc3\x02" + body):
        with pytest.raises(ContractViolation) as info:
            wire.decode(data)
        assert info.value.reason == "not_single_object"


def test_unknown_fingerprint_is_reported_not_raised_otherwise():
    data = wire.encode(valid("vehicle_positions"), "VehiclePosition")
    with pytest.raises(ContractViolation) as info:
        wire.decode(data[:2] + bytes(8) + data[10:])
    assert info.value.reason == "unknown_schema"


def test_truncated_and_padded_bodies_are_undecodable():
    data = wire.encode(valid("delivery_tasks"), "DeliveryTask")
    for broken in (data[:-1], data[:12], data + b"\x00"):
        with pytest.raises(ContractViolation) as info:
            wire.decode(broken)
        assert info.value.reason == "undecodable"


def test_record_of_another_stream_is_wrong_record_type():
    data = wire.encode(valid("vehicle_positions"), "VehiclePosition")
    with pytest.raises(ContractViolation) as info:
        wire.decode(data, expected="DeliveryTask")
    assert info.value.reason == "wrong_record_type"


def test_encoding_a_record_that_does_not_fit_is_a_violation():
    with pytest.raises(ContractViolation) as info:
        wire.encode(valid("vehicle_positions", lat="north"), "VehiclePosition")
    assert info.value.reason == "not_encodable"
