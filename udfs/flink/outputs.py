"""Every output of the job's Python functions: gathered per call, framed for the JVM sinks.

A function yields ``(ROWS, udfs.outputs.Row)`` and ``(KAFKA, udfs.outputs.Message)`` as it
goes (what each result produces: udfs/outputs.py); :func:`gather` turns all of one call's
into a single :class:`udfs.records.Outputs` element, on the ``OUTPUTS`` side output or on
the main output. Each element emitted from Python is a call into the JVM, and a side
output's element is handed on from there, so one per call instead of one per row and per
message.

:class:`EncodeOutputs` is the last Python step: ClickHouse frames (RowBinary rows of one
table, udfs.sinks.rowbinary) on its main output and one Kafka frame on ``KAFKA_FRAMES``;
the JVM sinks (udfs/jvm ``sinks``) write them and flush on every checkpoint
(udfs.sinks.frames).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

from pyflink.common import Types
from pyflink.datastream import OutputTag, ProcessFunction

from udfs.outputs import KAFKA, ROWS
from udfs.records import Outputs
from udfs.sinks.frames import clickhouse_frame, kafka_frame
from udfs.sinks.rowbinary import RowEncoder

OUTPUTS = OutputTag("outputs")  # udfs.records.Outputs
KAFKA_FRAMES = OutputTag("kafka-frames", Types.PRIMITIVE_ARRAY(Types.BYTE()))


def gather(results: Iterable, tag: OutputTag | None = OUTPUTS) -> Iterator:
    """``results`` of one call with its rows and messages gathered into one ``Outputs``,
    emitted after the rest on ``tag`` (None: on the main output); everything else passes."""
    rows, messages = [], []
    for item in results:
        kind = item[0] if type(item) is tuple else None
        if kind is ROWS:
            rows.append(item[1])
        elif kind is KAFKA:
            messages.append(item[1])
        else:
            yield item
    if rows or messages:
        out = Outputs(tuple(rows), tuple(messages))
        yield out if tag is None else (tag, out)


class EncodeOutputs(ProcessFunction):
    """``Outputs`` -> one ClickHouse frame per table on the main output, one Kafka frame on
    ``KAFKA_FRAMES``.

    ``columns``: table -> ``[(column, ClickHouse type)]`` in the order of the rows. Topics
    are created on first use by the JVM's ``KafkaFrames`` (a new partner's inbox needs no set-up).
    """

    def __init__(self, database: str, columns: dict[str, list[tuple[str, str]]]):
        self._database = database
        self._columns = columns
        self._encoders: dict[str, tuple[RowEncoder, str]] = {}

    def open(self, runtime_context):
        for table, cols in self._columns.items():
            enc = RowEncoder(table, cols)
            self._encoders[table] = (enc, enc.insert_query(self._database))

    def process_element(self, value: Outputs, ctx):
        if value.rows:
            by_table: dict[str, list[tuple]] = {}
            for table, row in value.rows:
                by_table.setdefault(table, []).append(row)
            for table, rows in by_table.items():
                enc, query = self._encoders[table]
                yield clickhouse_frame(query, enc.encode(rows))
        if value.messages:
            yield KAFKA_FRAMES, kafka_frame((topic, key, payload) for targets, key, payload in value.messages
                                            for topic in targets)
