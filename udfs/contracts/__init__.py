"""Data contracts: Avro schemas, the wire format, JSON Lines input and validation.

Used by the partner SDK before producing and again inside the pipeline: the
platform never trusts a producer.
"""
from udfs.contracts.errors import ContractViolation

STREAM_RECORDS = {
    "delivery_tasks": "DeliveryTask",
    "shipment_status": "ShipmentStatus",
    "vehicle_positions": "VehiclePosition",
    "capacity_offers": "CapacityOffer",
}

__all__ = ["ContractViolation", "STREAM_RECORDS"]
