"""JSON Lines input: one JSON object per line with the schema's field names.

:func:`conform` turns a parsed object into the internal form of the current
schema version: every field present (defaults filled in), doubles as float,
timestamps as epoch-millisecond ints. Timestamps may be given as epoch
milliseconds (integer) or ISO-8601 strings with an offset (``2026-11-25T08:00:00Z``,
``...+01:00``); a string without an offset is refused, since its instant is unknown.
"""
from __future__ import annotations

import datetime as dt
import json

from udfs.contracts.errors import ContractViolation
from udfs.contracts.schemas import SchemaVersion

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def parse_line(line: bytes | str) -> dict:
    """The JSON object on one line; ContractViolation ``malformed_json`` / ``not_an_object``."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, an int of over 4,300 digits
        raise ContractViolation("malformed_json", str(exc)[:200]) from None
    if not isinstance(value, dict):
        raise ContractViolation("not_an_object", f"a JSON {type(value).__name__}, not an object")
    return value


def conform(value: dict, schema: SchemaVersion) -> dict:
    """``value`` checked against ``schema``'s field types and normalized; raises ContractViolation."""
    known = {f["name"] for f in schema.fields}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ContractViolation("unknown_field", f"{schema.name} has no field {', '.join(map(repr, unknown[:5]))}")
    out = {}
    for field in schema.fields:
        name = field["name"]
        if name not in value:
            if "default" not in field:
                raise ContractViolation("missing_field", f"{schema.name}.{name} is required")
            out[name] = field["default"]
            continue
        out[name] = _convert(value[name], field["type"], f"{schema.name}.{name}")
    return out


def _convert(value, avro_type, where: str):
    if isinstance(avro_type, list):  # union: our schemas only use ["null", T]
        if value is None and "null" in avro_type:
            return None
        branches = [t for t in avro_type if t != "null"]
        return _convert(value, branches[0], where)
    logical = None
    if isinstance(avro_type, dict):
        logical = avro_type.get("logicalType")
        if avro_type["type"] == "array":
            if not isinstance(value, list):
                raise ContractViolation("wrong_type", f"{where} must be a list")
            return [_convert(v, avro_type["items"], where + "[]") for v in value]
        avro_type = avro_type["type"]
    if value is None:
        raise ContractViolation("wrong_type", f"{where} must not be null")
    if logical == "timestamp-millis":
        return _timestamp_ms(value, where)
    if avro_type == "string":
        if not isinstance(value, str):
            raise ContractViolation("wrong_type", f"{where} must be a string")
        return value
    if avro_type in ("int", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ContractViolation("wrong_type", f"{where} must be an integer")
        low, high = _INT32 if avro_type == "int" else _INT64
        if not low <= value <= high:
            raise ContractViolation("wrong_type", f"{where} does not fit an Avro {avro_type}")
        return value
    if avro_type in ("double", "float"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ContractViolation("wrong_type", f"{where} must be a number")
        return float(value)
    if avro_type == "boolean":
        if not isinstance(value, bool):
            raise ContractViolation("wrong_type", f"{where} must be true or false")
        return value
    raise ContractViolation("wrong_type", f"{where}: JSON input for Avro {avro_type} is not supported")


def _timestamp_ms(value, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if not _INT64[0] <= value <= _INT64[1]:
            raise ContractViolation("bad_timestamp", f"{where} does not fit a timestamp-millis")
        return value
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ContractViolation("bad_timestamp", f"{where}: {value[:40]!r} is not ISO-8601") from None
        if parsed.tzinfo is None:
            raise ContractViolation("bad_timestamp", f"{where}: {value[:40]!r} has no UTC offset")
        return (parsed - _EPOCH) // dt.timedelta(milliseconds=1)
    raise ContractViolation("bad_timestamp", f"{where} must be epoch milliseconds or an ISO-8601 string")
