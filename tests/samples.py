"""Test data shared by the unit and end-to-end tests: valid records and Avro-driven strategies."""
from __future__ import annotations

import uuid

from hypothesis import strategies as st

HOUR = 3_600_000
NOW = 1_764_063_000_000  # 2025-11-25T09:30:00Z


def valid(stream: str, partner: str = "acme", now_ms: int = NOW, **changes) -> dict:
    """A record of ``stream`` that keeps every rule, in internal form (all fields, ms timestamps)."""
    event_id = str(uuid.uuid4())
    base = {
        "delivery_tasks": {
            "event_id": event_id, "partner_id": partner, "shipment_id": "S-1", "event_time": now_ms,
            "dest_lat": 52.52, "dest_lng": 13.405, "window_start": now_ms + HOUR, "window_end": now_ms + 3 * HOUR,
            "recipient_key": "ab" * 32, "parcel_count": 2, "volume_l": 12.5, "weight_kg": 3.0,
            "retailer_id": "shop-1", "service_level": "standard"},
        "shipment_status": {
            "event_id": event_id, "partner_id": partner, "shipment_id": "S-1", "event_time": now_ms,
            "status": "OUT_FOR_DELIVERY", "vehicle_id": "van-1", "stop_sequence": 3, "lat": 52.5, "lng": 13.4,
            "reason": None},
        "vehicle_positions": {
            "event_id": event_id, "partner_id": partner, "vehicle_id": "van-1", "event_time": now_ms,
            "lat": 52.5, "lng": 13.4, "speed_mps": 8.3, "load_volume_l": 400.0, "capacity_volume_l": 1200.0},
        "capacity_offers": {
            "event_id": event_id, "partner_id": partner, "vehicle_id": "van-2", "depot_lat": 52.4,
            "depot_lng": 13.3, "available_from": now_ms, "available_to": now_ms + 4 * HOUR,
            "spare_volume_l": 800.0, "spare_stops": 12},
    }[stream]
    base.update(changes)
    return base


# --- Avro-driven strategies: any value a schema admits -------------------------------------------

_PRIMITIVES = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(width=32, allow_nan=False),
    "double": st.floats(allow_nan=False),
    "bytes": st.binary(max_size=64),
    "string": st.text(max_size=40),
}


def for_type(avro_type):
    if isinstance(avro_type, list):
        return st.one_of([for_type(t) for t in avro_type])
    if isinstance(avro_type, dict):
        if avro_type["type"] == "array":
            return st.lists(for_type(avro_type["items"]), max_size=5)
        if avro_type.get("logicalType") == "uuid":
            return st.uuids().map(str)
        return for_type(avro_type["type"])
    return _PRIMITIVES[avro_type]


def for_schema(schema: dict):
    """Records (dicts) that fit an Avro record schema's fields."""
    return st.fixed_dictionaries({f["name"]: for_type(f["type"]) for f in schema["fields"]})
