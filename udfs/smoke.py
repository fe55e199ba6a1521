"""The smoke job's one transformation: a JSON vehicle position into a table row.

This predates the Avro contracts; it exists to prove the Kafka -> PyFlink ->
ClickHouse wiring with real logic (H3 assignment, privacy, dead letters).
"""
from __future__ import annotations

import json
import math
import time
import uuid

from udfs.h3cells import cell
from udfs.records import DeadLetter, Source

STAGE = "smoke-decode"

POSITION_COLUMNS = ("event_id", "partner_id", "vehicle_id", "event_time", "ingested_at", "h3_cell", "speed_mps",
                    "load_volume_l", "capacity_volume_l", "source_topic", "source_partition", "source_offset")


def position_row(payload: bytes, source: Source, topic_partner: str | None,
                 now_ms: int | None = None) -> tuple | DeadLetter:
    """A ``vehicle_positions`` row (raw coordinates replaced by the res-10 H3 cell), or a DeadLetter.

    ``payload`` is a UTF-8 JSON object with ``event_id`` (UUID), ``partner_id``,
    ``vehicle_id``, ``event_time`` (epoch ms), ``lat``/``lng`` (WGS84 degrees) and
    optional ``speed_mps``, ``load_volume_l``, ``capacity_volume_l``.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms

    def dead(reason: str, message: str, partner: str | None = None) -> DeadLetter:
        return DeadLetter(str(source), STAGE, reason, message, payload, partner or topic_partner, now_ms)

    try:
        record = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return dead("malformed_json", str(exc))
    if not isinstance(record, dict):
        return dead("malformed_json", "top-level value is not an object")
    partner = record.get("partner_id")
    if topic_partner is not None and partner != topic_partner:
        return dead("partner_mismatch", f"partner_id {partner!r} on topic of {topic_partner!r}", None)
    try:
        event_id = str(uuid.UUID(str(record["event_id"])))
        vehicle_id = str(record["vehicle_id"])
        event_time = int(record["event_time"])
        lat, lng = float(record["lat"]), float(record["lng"])
        extras = tuple(_opt_float(record.get(k)) for k in ("speed_mps", "load_volume_l", "capacity_volume_l"))
    except KeyError as exc:
        return dead("missing_field", f"missing {exc.args[0]}", partner)
    except (TypeError, ValueError) as exc:
        return dead("bad_value", str(exc), partner)
    if not (math.isfinite(lat) and math.isfinite(lng)) or not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return dead("coordinates_out_of_range", f"lat={lat}, lng={lng}", partner)
    return (event_id, partner, vehicle_id, event_time, now_ms, cell(lat, lng), *extras,
            source.topic, source.partition, source.offset)


def _opt_float(value) -> float | None:
    return None if value is None else float(value)
