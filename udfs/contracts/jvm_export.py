"""The contract as data for the JVM functions (udfs/jvm): every schema version with its
fingerprint, and the rules of :mod:`udfs.contracts.rules` by code with their parameters.

The JVM side is generated from this, never written by hand: ``lastmile fetch-jars``
writes :func:`contract_spec` into the jar as ``lastmile/contract.json``. A rule added to
``rules.RULES`` without a JVM check makes the jar refuse to load (and its test fail).
"""
from __future__ import annotations

import copy
import json

from udfs.contracts import rules
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
        "rules": {
            "by_record": by_record,
            "ids": rules.IDS, "points": rules.POINTS, "non_negative": rules.NON_NEGATIVE,
            "timestamps": rules.TIMESTAMPS, "intervals": rules.INTERVALS,
            # Python's `$` also matches before a final newline; the JVM's full match is stricter,
            # which is safe: what the JVM refuses, the Python reference decides.
            "uuid": rules.UUID_TEXT.pattern, "partner_id": rules.PARTNER_ID.pattern,
            "recipient_key": rules.RECIPIENT_KEY.pattern, "statuses": list(rules.STATUSES),
            "min_ts_ms": rules.MIN_TS_MS, "max_ts_ms": rules.MAX_TS_MS,
            "max_future_ms": rules.MAX_FUTURE_MS, "max_window_ms": rules.MAX_WINDOW_MS,
        },
    }


def contract_json() -> str:
    return json.dumps(contract_spec(), sort_keys=True, indent=1)
