"""The contract as data for the JVM functions (udfs/jvm): every schema version with its
fingerprint, and the rules of :mod:`udfs.contracts.rules` by code with their parameters;
and the way back, from the rows those functions return to records.

The JVM side is generated from this, never written by hand: ``lastmile fetch-jars``
writes :func:`contract_spec` into the jar as ``lastmile/contract.json``. A rule added to
``rules.RULES`` without a JVM check makes the jar refuse to load (and its test fail).
"""
from __future__ import annotations

import copy
import json

from udfs.contracts import STREAM_RECORDS, limits, rules
from udfs.contracts.schemas import SchemaRegistry, _strip_logical_types, default_registry


def contract_spec(registry: SchemaRegistry | None = None) -> dict:
    registry = registry or default_registry()
    schemas = []
    for name in registry.names():
        versions = registry.versions(name)
        for v in versions:
            schemas.append({"name": name, "version": v.version, "latest": v is versions[-1],
                            "fingerprint_le": int.from_bytes(v.fingerprint, "little", signed=True),
                            "schema": _strip_logical_types(copy.deepcopy(v.schema))})
    by_record = {name: [rule.code for rule in rules.RULES if name in rule.records] for name in rules.ALL}
    return {
        "schemas": schemas,
        "streams": STREAM_RECORDS,
        "rules": {
            "by_record": by_record,
            "ids": rules.IDS, "points": rules.POINTS, "non_negative": rules.NON_NEGATIVE,
            "timestamps": rules.TIMESTAMPS, "intervals": rules.INTERVALS,
            # Python's `re.match`: `$` also matches before a final newline; the JVM compiles them
            # with UNIX_LINES and matches from the start the same way (Contract.pythonMatch).
            "uuid": rules.UUID_TEXT.pattern, "partner_id": rules.PARTNER_ID.pattern,
            "recipient_key": rules.RECIPIENT_KEY.pattern, "statuses": list(rules.STATUSES),
            "min_ts_ms": rules.MIN_TS_MS, "max_ts_ms": rules.MAX_TS_MS,
            "max_future_ms": rules.MAX_FUTURE_MS, "max_window_ms": rules.MAX_WINDOW_MS,
            "max_window_ahead_ms": rules.MAX_WINDOW_AHEAD_MS,
        },
        "limits": {"max_record_bytes": limits.MAX_RECORD_BYTES, "max_string_chars": limits.MAX_STRING_CHARS,
                   "max_dead_letter_payload": limits.MAX_DEAD_LETTER_PAYLOAD},
    }


def contract_json() -> str:
    return json.dumps(contract_spec(), sort_keys=True, indent=1)


# --- rows the JVM decoded (udfs/jvm DecodeRecords) back to records ---------------------------------

#: Record types of the partner-events source, whose fields share DecodeRecords' accepted row.
EVENT_RECORDS = ("DeliveryTask", "ShipmentStatus", "CapacityOffer")


def decoded_fields(registry: SchemaRegistry | None = None) -> tuple[str, ...]:
    """The field columns of DecodeRecords' accepted row: every field of :data:`EVENT_RECORDS`
    (current versions), in schema order, each once. DecodeRecords.FIELDS must list the same (tested)."""
    registry = registry or default_registry()
    names: list[str] = []
    for record in EVENT_RECORDS:
        names += [f["name"] for f in registry.latest(record).fields if f["name"] not in names]
    return tuple(names)


_FLINK_TYPES = {"string": "STRING", "long": "BIGINT", "double": "DOUBLE", "int": "INT", "boolean": "BOOLEAN"}


def decoded_field_types(registry: SchemaRegistry | None = None) -> tuple[str, ...]:
    """The Flink type of each of :func:`decoded_fields` (SQL names), as DecodeRecords.FIELD_TYPES has it."""
    registry = registry or default_registry()
    types: dict[str, str] = {}
    for record in EVENT_RECORDS:
        for f in registry.latest(record).fields:
            avro = f["type"]
            if isinstance(avro, list):  # a union with null
                avro = next(t for t in avro if t != "null")
            if isinstance(avro, dict):  # a logical type
                avro = avro["type"]
            types.setdefault(f["name"], _FLINK_TYPES[avro])
    return tuple(types[name] for name in decoded_fields(registry))


def record_reader(stream: str, registry: SchemaRegistry | None = None):
    """A function from DecodeRecords' field values (in :func:`decoded_fields` order, then the
    writer's schema version) to the record of ``stream`` in internal form, as
    :func:`udfs.contracts.intake.from_wire` returns it, and its ``schema_version``."""
    registry = registry or default_registry()
    columns = decoded_fields(registry)
    picks = [(f["name"], columns.index(f["name"])) for f in registry.latest(STREAM_RECORDS[stream]).fields]
    picks.append(("schema_version", len(columns)))  # after the fields: the writer's version (DecodeRecords)
    return lambda values: {name: values[i] for name, i in picks}
