"""The last Python step of every output: the stage's rows and messages, framed for the JVM sinks.

``EncodeRows`` turns ``(table, row)`` or :class:`udfs.records.RowBatch` into one ClickHouse
frame (RowBinary rows, udfs.sinks.rowbinary); ``EncodeMessages`` turns ``(topics, key,
value)`` or :class:`udfs.records.MessageBatch` into one Kafka frame. A frame is one
crossing into the JVM per element, however many rows or messages it holds; the JVM
sinks (udfs/jvm ``sinks``) write them and flush on every checkpoint (udfs.sinks.frames).
"""
from __future__ import annotations

from pyflink.datastream import MapFunction

from udfs.records import MessageBatch, RowBatch
from udfs.sinks.frames import clickhouse_frame, kafka_frame
from udfs.sinks.rowbinary import RowEncoder


class EncodeRows(MapFunction):
    """``columns``: table -> ``[(column, ClickHouse type)]`` in the order of the rows."""

    def __init__(self, database: str, columns: dict[str, list[tuple[str, str]]]):
        self._database = database
        self._columns = columns
        self._encoders: dict[str, tuple[RowEncoder, str]] = {}

    def open(self, runtime_context):
        for table, cols in self._columns.items():
            enc = RowEncoder(table, cols)
            self._encoders[table] = (enc, enc.insert_query(self._database))

    def map(self, value):
        table, rows = (value.table, value.rows) if isinstance(value, RowBatch) else (value[0], (value[1],))
        enc, query = self._encoders[table]
        return clickhouse_frame(query, enc.encode(rows))


class EncodeMessages(MapFunction):
    """``ensure_topics(names)`` creates topics on first use (a new partner's inbox needs no set-up)."""

    def __init__(self, ensure_topics):
        self._ensure_topics = ensure_topics
        self._known: set[str] = set()

    def map(self, value):
        messages = value.messages if isinstance(value, MessageBatch) else (value,)
        flat = [(topic, key, payload) for targets, key, payload in messages for topic in targets]
        new = {topic for topic, _, _ in flat} - self._known
        if new:
            self._ensure_topics(sorted(new))
            self._known |= new
        return kafka_frame(flat)
