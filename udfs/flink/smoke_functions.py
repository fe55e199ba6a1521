"""Flink functions of the smoke job."""
from __future__ import annotations

from pyflink.datastream import OutputTag, ProcessFunction

from udfs.records import DeadLetter, Source
from udfs.smoke import position_row
from udfs.topic_names import partner_of_topic

DEAD_LETTERS = OutputTag("dead-letters")


class DecodePositions(ProcessFunction):
    """Raw Kafka rows ``(payload, topic, partition, offset)`` into ``("vehicle_positions", row)``.

    Undecodable records go to the ``DEAD_LETTERS`` side output as
    ``("dead_letters", row)`` with their source and reason.
    """

    def process_element(self, value, ctx):
        payload, topic, partition, offset = value[0], value[1], value[2], value[3]
        result = position_row(payload.encode("latin-1"), Source(topic, partition, offset), partner_of_topic(topic))
        if isinstance(result, DeadLetter):
            yield DEAD_LETTERS, ("dead_letters", result.clickhouse_row())
        else:
            yield "vehicle_positions", result
