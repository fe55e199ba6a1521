"""Each validation rule: the valid sample keeps it, a minimal change breaks it with its code."""
import pytest
from samples import HOUR, NOW, valid

from udfs.contracts import rules
from udfs.contracts.errors import ContractViolation

MIN = 60_000

# (stream, change that breaks exactly one rule, reason)
BROKEN = [
    ("delivery_tasks", {"window_start": NOW + 31 * 86_400_000, "window_end": NOW + 31 * 86_400_000 + 3_600_000},
     "window_too_far_ahead"),
    ("delivery_tasks", {"shipment_id": "s" * 10_000_000}, "string_too_long"),  # a 10 MB shipment_id
    ("shipment_status", {"reason": "r" * 257}, "string_too_long"),
    ("vehicle_positions", {"vehicle_id": "\U0001f69a" * 257}, "string_too_long"),
    ("delivery_tasks", {"event_id": "123"}, "invalid_uuid"),
    ("vehicle_positions", {"event_id": "0b6c1f1e-8d5e-4a57-9a39-3c5b2b0c9f0"}, "invalid_uuid"),
    ("delivery_tasks", {"partner_id": "ACME"}, "invalid_partner_id"),
    ("capacity_offers", {"partner_id": "a"}, "invalid_partner_id"),
    ("delivery_tasks", {"partner_id": "rival"}, "partner_mismatch"),
    ("shipment_status", {"partner_id": "rival"}, "partner_mismatch"),
    ("vehicle_positions", {"partner_id": "rival"}, "partner_mismatch"),
    ("capacity_offers", {"partner_id": "rival"}, "partner_mismatch"),
    ("delivery_tasks", {"shipment_id": ""}, "empty_id"),
    ("shipment_status", {"shipment_id": "   "}, "empty_id"),
    ("vehicle_positions", {"vehicle_id": ""}, "empty_id"),
    ("delivery_tasks", {"dest_lat": float("nan")}, "not_finite"),
    ("vehicle_positions", {"speed_mps": float("inf")}, "not_finite"),
    ("shipment_status", {"lat": None}, "incomplete_position"),
    ("delivery_tasks", {"dest_lat": 90.000001}, "coordinates_out_of_range"),
    ("delivery_tasks", {"dest_lng": -180.5}, "coordinates_out_of_range"),
    ("shipment_status", {"lat": -91.0}, "coordinates_out_of_range"),
    ("capacity_offers", {"depot_lng": 181.0}, "coordinates_out_of_range"),
    ("delivery_tasks", {"dest_lat": 0.0, "dest_lng": 0.0}, "null_island"),
    ("vehicle_positions", {"lat": 0.0, "lng": 0.0}, "null_island"),
    ("delivery_tasks", {"volume_l": -1.0}, "negative_quantity"),
    ("shipment_status", {"stop_sequence": -1}, "negative_quantity"),
    ("capacity_offers", {"spare_stops": -1}, "negative_quantity"),
    ("vehicle_positions", {"capacity_volume_l": -0.5}, "negative_quantity"),
    ("delivery_tasks", {"parcel_count": 0}, "parcel_count_below_one"),
    ("delivery_tasks", {"recipient_key": "AB" * 32}, "invalid_recipient_key"),
    ("delivery_tasks", {"recipient_key": "ab" * 31}, "invalid_recipient_key"),
    ("shipment_status", {"status": "LOST"}, "unknown_status"),
    ("shipment_status", {"status": "delivered"}, "unknown_status"),
    ("vehicle_positions", {"event_time": NOW // 1000}, "timestamp_out_of_range"),
    ("delivery_tasks", {"window_start": 5, "window_end": 10}, "timestamp_out_of_range"),
    ("delivery_tasks", {"window_end": NOW + HOUR}, "window_not_ordered"),
    ("delivery_tasks", {"window_end": NOW + HOUR - 1}, "window_not_ordered"),
    ("delivery_tasks", {"window_end": NOW + 25 * HOUR + 1}, "window_too_long"),
    ("capacity_offers", {"available_to": NOW}, "availability_not_ordered"),
    ("delivery_tasks", {"event_time": NOW + 5 * MIN + 1}, "event_time_in_future"),
    ("shipment_status", {"event_time": NOW + HOUR}, "event_time_in_future"),
    ("vehicle_positions", {"event_time": NOW + 6 * MIN}, "event_time_in_future"),
]

# Changes at the edge of a rule that must still be accepted.
KEPT = [
    ("delivery_tasks", {"dest_lat": 90.0, "dest_lng": 180.0}),
    ("delivery_tasks", {"dest_lat": -90.0, "dest_lng": -180.0}),
    ("delivery_tasks", {"dest_lat": 0.0, "dest_lng": 0.000001}),
    ("delivery_tasks", {"window_end": NOW + 25 * HOUR}),  # exactly 24 h
    ("delivery_tasks", {"window_end": NOW + HOUR + 1}),  # 1 ms window
    ("delivery_tasks", {"event_time": NOW + 5 * MIN}),  # exactly 5 min ahead
    ("delivery_tasks", {"recipient_key": None, "volume_l": None, "weight_kg": None, "retailer_id": None}),
    ("delivery_tasks", {"parcel_count": 1, "volume_l": 0.0}),
    ("shipment_status", {"lat": None, "lng": None, "vehicle_id": None, "stop_sequence": 0}),
    ("capacity_offers", {"vehicle_id": None, "spare_stops": 0, "spare_volume_l": 0.0}),
    ("vehicle_positions", {"event_time": NOW - 30 * 24 * HOUR}),  # old data is fine (lateness is the job's call)
]

RECORD = {"delivery_tasks": "DeliveryTask", "shipment_status": "ShipmentStatus",
          "vehicle_positions": "VehiclePosition", "capacity_offers": "CapacityOffer"}


@pytest.mark.parametrize("stream", RECORD)
def test_valid_samples_keep_every_rule(stream):
    rules.validate(RECORD[stream], valid(stream), "acme", NOW)


@pytest.mark.parametrize("stream, change, reason", BROKEN, ids=[f"{b[2]}-{i}" for i, b in enumerate(BROKEN)])
def test_each_rule_refuses_its_case_with_its_code(stream, change, reason):
    with pytest.raises(ContractViolation) as info:
        rules.validate(RECORD[stream], valid(stream, **change), "acme", NOW)
    assert info.value.reason == reason


@pytest.mark.parametrize("stream, change", KEPT)
def test_edges_that_keep_the_rules(stream, change):
    rules.validate(RECORD[stream], valid(stream, **change), "acme", NOW)


def test_every_rule_code_is_exercised_by_a_negative_case():
    assert {rule.code for rule in rules.RULES} == {reason for _, _, reason in BROKEN}


def test_without_a_topic_partner_the_spoofing_rule_does_not_apply():
    rules.validate("DeliveryTask", valid("delivery_tasks", partner="rival"), None, NOW)


def test_reason_codes_are_unique_and_snake_case():
    codes = [r.code for r in rules.RULES] + list(rules.DECODE_REASONS)
    assert len(codes) == len(set(codes))
    assert all(c.replace("_", "").isalpha() and c.islower() for c in codes)
