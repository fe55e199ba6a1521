"""The Intake of the Python reference stages (``LASTMILE_OPERATORS=python``): what the JVM's fast
path did not accept, decided by the Python reference (udfs.contracts).

The JVM decodes and checks every partner record (udfs/jvm ``DecodeRecords``) and its fast path
only ever accepts; what it refuses or finds late reaches an Intake, which writes the dead letter
with its reason, or accepts what the fast path was merely stricter about and sends it on in the
rows the JVM emits for its own accepted records (:data:`ACCEPTED_ROW`, :data:`PING_ROWS`), so the
stages after it see one stream. The JVM stages have a Java Intake (udfs/jvm ``Intake``, held to
this one); this module imports no more than it needs (no kernels), since every TaskManager
imports it at the first job.
"""
from __future__ import annotations

import time

from pyflink.common import Row, Types
from pyflink.datastream import OutputTag, ProcessFunction

from udfs import outputs
from udfs.contracts import topics
from udfs.contracts.errors import ContractViolation
from udfs.contracts.intake import TO_PINGS, TO_STAGES, downstream, from_wire, lateness, versioned
from udfs.contracts.jvm_export import decoded_field_types, decoded_fields
from udfs.flink.outputs import gather
from udfs.pings import ping_text
from udfs.records import DeadLetter, Source

_FLINK_TYPES = {"STRING": Types.STRING(), "BIGINT": Types.LONG(), "DOUBLE": Types.DOUBLE(), "INT": Types.INT(),
                "BOOLEAN": Types.BOOLEAN()}
#: An accepted task, status or offer, as the JVM decodes it (jobs.coordination.event_path's
#: ``accepted``): the Intake emits what it accepts in the same row, so both go on together.
ACCEPTED_FIELDS = ("kind", "topic", "partition", "offset", "ingested_at", *decoded_fields(), "schema_version")
ACCEPTED_ROW = Types.ROW_NAMED(list(ACCEPTED_FIELDS), [Types.STRING(), Types.STRING(), Types.INT(), Types.LONG(),
                                                   Types.LONG(), *(_FLINK_TYPES[t] for t in decoded_field_types()),
                                                   Types.INT()])
#: A vehicle's pings as the JVM batches them (jobs.coordination.position_path's ``batches``):
#: ``(partner_id, vehicle_id, "ts,lat,lng,speed;...")``; the Intake's positions, one each.
PING_ROWS = Types.ROW_NAMED(["partner_id", "vehicle_id", "pings"], [Types.STRING()] * 3)
POSITIONS = OutputTag("positions", PING_ROWS)


def _now_ms() -> int:
    return int(time.time() * 1000)


class Intake(ProcessFunction):
    """Raw Kafka records -> decoded, validated events: the Python reference path.

    In the coordination job it sees only what the JVM functions did not accept or found
    late (jobs/coordination.py), as ``Row(payload, topic, partition, offset, ts[, judged
    watermark])``: it refuses them with their reason, or accepts what the JVM was merely
    stricter about. The watermark the JVM judged by counts as well as this operator's own,
    which may still lag behind it. Delivery tasks continue on the main output as
    :data:`ACCEPTED_ROW` rows, like the JVM's (their lateness depends on their window: the
    Registry decides). The other streams go to their ClickHouse table (``ROWS``), or to
    dead letters as ``late`` when their event time is behind the current watermark;
    statuses that put a shipment on a van or end its delivery and capacity offers also
    continue on the main output, positions on ``POSITIONS`` as :data:`PING_ROWS`.
    """

    def process_element(self, value, ctx):
        return gather(self._process(value, ctx))

    def _process(self, value, ctx):
        payload, topic, partition, offset = value[0], value[1], value[2], value[3]
        source = Source(topic, partition, offset)
        partner = topics.partner_of_topic(topic)
        stream = topic.rsplit(".", 1)[-1]
        now = _now_ms()
        raw = bytes(payload) if payload is not None else b""  # a Kafka record without a value: a tombstone
        try:
            record, writer = from_wire(raw, stream, partner, now)
        except ContractViolation as violation:
            yield from outputs.dead_letter(DeadLetter(str(source), violation.stage, violation.reason,
                                                      violation.message, raw, partner, now))
            return
        versioned(record, writer)
        if stream == "delivery_tasks":  # its rows and lateness are the Registry's (they depend on its window)
            yield accepted_row(stream, record, source, now)
            return
        watermark = ctx.timer_service().current_watermark()
        if len(value) > 5 and value[5] is not None:  # the watermark the JVM judged a position by
            watermark = max(watermark, value[5])
        late = lateness(stream, record, watermark)
        if late is not None:
            yield from outputs.dead_letter(DeadLetter(str(source), "event-time", "late", late, raw, partner, now))
            return
        yield from outputs.event(stream, record, source, now)
        where = downstream(stream, record)
        if where == TO_PINGS:
            yield POSITIONS, Row(record["partner_id"], record["vehicle_id"], ping_text(
                record["event_time"], record["lat"], record["lng"], record["speed_mps"]))
        elif where == TO_STAGES:
            yield accepted_row(stream, record, source, now)


def accepted_row(stream: str, record: dict, source: Source, ingested_at: int) -> Row:
    """``record`` (internal form) as an :data:`ACCEPTED_ROW` row."""
    return Row(stream, source.topic, source.partition, source.offset, ingested_at,
               *(record.get(name) for name in ACCEPTED_FIELDS[5:]))
