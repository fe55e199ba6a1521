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
from udfs.contracts.schemas import SchemaRegistry, SchemaVersion, default_registry


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


def validated(name: str, record: dict, topic_partner: str | None, now_ms: int | None) -> dict:
    try:
        rules.validate(name, record, topic_partner, now_ms)
    except ContractViolation as exc:
        raise _staged(exc, "validate") from None
    return record


def _staged(exc: ContractViolation, stage: str) -> ContractViolation:
    exc.stage = stage
    return exc
