"""The smoke job's one transformation: an Avro VehiclePosition into a table row.

It proves the Kafka -> PyFlink -> ClickHouse wiring with real logic: the
contract (single-object Avro, validation), H3 assignment, privacy (the cell,
not the coordinates) and dead letters.
"""
from __future__ import annotations

import time

from udfs.contracts.errors import ContractViolation
from udfs.contracts.intake import from_wire, versioned
from udfs.records import DeadLetter, Source
from udfs.rows import COLUMNS, event_row

POSITION_COLUMNS = COLUMNS["vehicle_positions"]


def position_row(payload: bytes, source: Source, topic_partner: str | None,
                 now_ms: int | None = None) -> tuple | DeadLetter:
    """A ``vehicle_positions`` row (raw coordinates replaced by the res-10 H3 cell), or a DeadLetter."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        record, writer = from_wire(payload, "vehicle_positions", topic_partner, now_ms)
    except ContractViolation as violation:
        return DeadLetter(str(source), violation.stage, violation.reason, violation.message, bytes(payload),
                          topic_partner, now_ms)
    return event_row("vehicle_positions", versioned(record, writer), source, now_ms)
