"""Flink functions of the smoke job."""
from __future__ import annotations

from pyflink.datastream import ProcessFunction

from udfs.contracts.topics import partner_of_topic
from udfs.records import DeadLetter, Outputs, Source
from udfs.smoke import position_row


class DecodePositions(ProcessFunction):
    """Raw Kafka rows ``(payload, topic, partition, offset)`` into a ``vehicle_positions`` row,
    or a ``dead_letters`` row with their source and reason for an undecodable record (as
    :class:`udfs.records.Outputs`).
    """

    def process_element(self, value, ctx):
        payload, topic, partition, offset = value[0], value[1], value[2], value[3]
        raw = payload.encode("latin-1") if payload is not None else b""  # a record without a value: a tombstone
        result = position_row(raw, Source(topic, partition, offset), partner_of_topic(topic))
        if isinstance(result, DeadLetter):
            yield Outputs(rows=(("dead_letters", result.clickhouse_row()),))
        else:
            yield Outputs(rows=(("vehicle_positions", result),))
