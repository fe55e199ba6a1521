"""A batched ClickHouse writer: one job, write a batch.

Rows are buffered per table and written when a table's buffer reaches
``max_rows`` or its oldest row is ``max_seconds`` old, and on ``flush()`` /
``close()``. Idempotency comes from the tables, not from here: every table is a
ReplacingMergeTree ordered by the record's deterministic id, so writing a batch
twice (a replay after a failure) leaves one row visible through ``FINAL``.
A failed insert raises: the caller (a Flink operator) fails and restarts from
its last checkpoint instead of dropping rows.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Sequence


@dataclasses.dataclass(frozen=True)
class ClickHouseTarget:
    """Connection parameters, picklable so a Flink function can carry them."""

    host: str
    port: int
    username: str
    password: str
    database: str
    secure: bool = False

    def connect(self):
        import clickhouse_connect

        return clickhouse_connect.get_client(
            host=self.host, port=self.port, username=self.username, password=self.password,
            database=self.database, secure=self.secure, connect_timeout=10, send_receive_timeout=120,
            compress="lz4",
        )


@dataclasses.dataclass
class FlushReport:
    table: str
    rows: int
    seconds: float


class ClickHouseBatchWriter:
    """Buffers rows per table and inserts them in batches (size or age, whichever first)."""

    def __init__(self, target: ClickHouseTarget, columns: dict[str, Sequence[str]],
                 max_rows: int = 10_000, max_seconds: float = 1.0, client=None):
        self._target = target
        self._columns = {table: tuple(cols) for table, cols in columns.items()}
        self._max_rows = max_rows
        self._max_seconds = max_seconds
        self._client = client
        self._buffers: dict[str, list] = {table: [] for table in columns}
        self._oldest: dict[str, float] = {}
        self.rows_written = 0

    def _connection(self):
        if self._client is None:
            self._client = self._target.connect()
        return self._client

    def add(self, table: str, row: Sequence) -> list[FlushReport]:
        """Buffer one row; returns the flushes this triggered (usually none)."""
        return self.add_many(table, (row,))

    def add_many(self, table: str, rows: Sequence[Sequence]) -> list[FlushReport]:
        """Buffer rows of one table; returns the flushes this triggered (usually none)."""
        buffer = self._buffers[table]
        if not buffer:
            self._oldest[table] = time.monotonic()
        buffer.extend(rows)
        if len(buffer) >= self._max_rows:
            return [self._flush_table(table)]
        return self.flush_due()

    def flush_due(self) -> list[FlushReport]:
        """Flush every table whose oldest buffered row is older than ``max_seconds``."""
        now = time.monotonic()
        return [self._flush_table(t) for t, b in self._buffers.items()
                if b and now - self._oldest[t] >= self._max_seconds]

    def flush(self) -> list[FlushReport]:
        return [self._flush_table(t) for t, b in self._buffers.items() if b]

    def close(self) -> list[FlushReport]:
        reports = self.flush()
        if self._client is not None:
            self._client.close()
            self._client = None
        return reports

    def _flush_table(self, table: str) -> FlushReport:
        rows = self._buffers[table]
        started = time.monotonic()
        self._connection().insert(table, rows, column_names=self._columns[table])
        self._buffers[table] = []
        self.rows_written += len(rows)
        return FlushReport(table, len(rows), time.monotonic() - started)
