"""Flink wrapper around :class:`udfs.sinks.clickhouse.ClickHouseBatchWriter`.

Input elements are ``(table, row)`` pairs or :class:`udfs.records.RowBatch`; output elements are one
``(table, rows)`` pair per batch written, so a job (or a test) can see what was
flushed. The last partial batch is written in ``close()``, which Flink calls when
a bounded input ends or the task is cancelled.
"""
from __future__ import annotations

from pyflink.datastream import ProcessFunction

from udfs.records import RowBatch
from udfs.sinks.clickhouse import ClickHouseBatchWriter, ClickHouseTarget


class ClickHouseSink(ProcessFunction):
    def __init__(self, target: ClickHouseTarget, columns: dict, max_rows: int = 10_000, max_seconds: float = 1.0):
        self._target = target
        self._columns = columns
        self._max_rows = max_rows
        self._max_seconds = max_seconds
        self._writer: ClickHouseBatchWriter | None = None

    def open(self, runtime_context):
        self._writer = ClickHouseBatchWriter(self._target, self._columns, self._max_rows, self._max_seconds)

    def process_element(self, value, ctx):
        if isinstance(value, RowBatch):
            reports = self._writer.add_many(value.table, value.rows)
        else:
            reports = self._writer.add(*value)
        for report in reports:
            yield report.table, report.rows

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
