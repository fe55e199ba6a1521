"""The two ways a partner record enters: a JSON line, or Avro bytes from a topic.

Both return the record in internal form (current schema version, timestamps as
epoch-ms ints) or raise :class:`ContractViolation` whose ``stage`` says which
layer refused it: ``parse`` (JSON), ``decode`` (Avro wire format) or
``validate`` (the rules).
"""
from __future__ import annotations

from udfs.contracts import STREAM_RECORDS, rules, wire
from udfs.contracts.errors import ContractViolation
from udfs.contracts.jsonl import conform, parse_line
from udfs.contracts.limits import MAX_RECORD_BYTES
from udfs.contracts.schemas import SchemaRegistry, SchemaVersion, default_registry
from udfs.statuses import TRACKED_STATUSES

#: Where an accepted record goes after its row (:func:`downstream`).
TO_STAGES = "stages"  # the Registry (tasks, statuses that open or close a stop) or the Consolidator (offers)
TO_PINGS = "pings"  # the ETA path's ping batches


def record_name(stream: str) -> str:
    try:
        return STREAM_RECORDS[stream]
    except KeyError:
        raise ValueError(f"unknown stream {stream!r}; one of {', '.join(STREAM_RECORDS)}") from None


def from_json_line(line: bytes | str, stream: str, topic_partner: str | None, now_ms: int | None = None,
                   registry: SchemaRegistry | None = None) -> dict:
    name = record_name(stream)
    schema = (registry or default_registry()).latest(name)
    if not line.strip():
        raise _staged(ContractViolation("empty_line", "blank line"), "parse")
    size = len(line.encode() if isinstance(line, str) else line)
    if size > MAX_RECORD_BYTES:
        raise _staged(ContractViolation("record_too_large", f"{size} bytes, at most {MAX_RECORD_BYTES}"), "parse")
    try:
        record = conform(parse_line(line), schema)
    except ContractViolation as exc:
        raise _staged(exc, "parse") from None
    return validated(name, record, topic_partner, now_ms)


def from_wire(data: bytes, stream: str, topic_partner: str | None, now_ms: int | None = None,
              registry: SchemaRegistry | None = None) -> tuple[dict, SchemaVersion]:
    name = record_name(stream)
    try:
        record, writer = wire.decode(data, expected=name, registry=registry)
    except ContractViolation as exc:
        raise _staged(exc, "decode") from None
    return validated(name, record, topic_partner, now_ms), writer


def versioned(record: dict, writer: SchemaVersion) -> dict:
    """``record`` with its writer's schema version under ``schema_version`` (not a schema
    field): the event tables keep it for the schema-adherence KPI (udfs.rows.event_row)."""
    record["schema_version"] = writer.version
    return record


def validated(name: str, record: dict, topic_partner: str | None, now_ms: int | None) -> dict:
    try:
        rules.validate(name, record, topic_partner, now_ms)
    except ContractViolation as exc:
        raise _staged(exc, "validate") from None
    return record


def _staged(exc: ContractViolation, stage: str) -> ContractViolation:
    exc.stage = stage
    return exc


def event_time(stream: str, record: dict) -> int:
    """The event time of an accepted record (internal form): an offer's is its start."""
    return record["available_from"] if stream == "capacity_offers" else record["event_time"]


def lateness(stream: str, record: dict, watermark: int) -> str | None:
    """Why an accepted record is late (its dead letter's message), or None. A delivery task
    is never late here: its lateness depends on its window, the Registry decides."""
    if stream == "delivery_tasks":
        return None
    at = event_time(stream, record)
    if at < watermark:
        return f"event_time is {(watermark - at) / 1000:.0f} s behind the watermark"
    return None


def downstream(stream: str, record: dict) -> str | None:
    """Where an accepted, timely record goes after its ClickHouse row: :data:`TO_STAGES`,
    :data:`TO_PINGS`, or nowhere (None: statuses that change nothing for ETAs)."""
    if stream == "vehicle_positions":
        return TO_PINGS
    if stream in ("delivery_tasks", "capacity_offers"):
        return TO_STAGES
    if stream == "shipment_status" and record["status"] in TRACKED_STATUSES:
        return TO_STAGES
    return None
