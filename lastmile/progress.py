"""Progress of a running coordination job, as a newcomer watching `lastmile run` wants it:
events of the backlog taken in so far, events/s, and how many are still to go.

Measured from outside the job, so it works the same on the MiniCluster and on a
cluster: the backlog is what the partner topics held when the run started (Kafka
end offsets); what is done is what reached ClickHouse since then, accepted rows of
the four partner tables plus dead letters. A few events are neither (a duplicate
announcement, a record of a partner topic whose partner is unknown), so the
count can end a little below the backlog; the summary printed at the end is exact.
"""
from __future__ import annotations

import threading
import time

from lastmile import topics
from lastmile.config import Config

RAW_TABLES = ("delivery_tasks", "shipment_status", "vehicle_positions", "capacity_offers")


def backlog(config: Config) -> int:
    """Records in every partner topic now (end minus start offsets)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**config.kafka_client(), "group.id": "lastmile-progress",
                         "enable.auto.commit": False})
    try:
        total = 0
        metadata = consumer.list_topics(timeout=10)
        for name, topic in metadata.topics.items():
            if topics.partner_of_topic(name) and name.rsplit(".", 1)[-1] in topics.STREAMS:
                for p in topic.partitions:
                    low, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)
                    total += high - low
        return total
    finally:
        consumer.close()


def taken_in(client, since_ms: int) -> int:
    """Rows written since ``since_ms`` to the partner tables and dead letters."""
    parts = [f"SELECT count() AS n FROM {t} WHERE ingested_at >= fromUnixTimestamp64Milli({since_ms})"
             for t in RAW_TABLES]
    parts.append(f"SELECT count() AS n FROM dead_letters WHERE received_at >= fromUnixTimestamp64Milli({since_ms})")
    return int(client.query("SELECT sum(n) FROM (" + " UNION ALL ".join(parts) + ")").result_rows[0][0])


class ProgressReporter:
    """A rich progress bar on stderr, refreshed from a thread while the job runs."""

    def __init__(self, config: Config, total: int | None, interval_s: float = 2.0):
        self.config, self.total, self.interval_s = config, total, interval_s
        self.started_ms = int(time.time() * 1000)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lastmile-progress", daemon=True)

    def __enter__(self) -> ProgressReporter:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from lastmile.clickhouse import http_client

        client = http_client(self.config)
        columns = (TextColumn("coordination job"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]:>8,.0f} events/s  lag {task.fields[lag]:>9,}"), TimeElapsedColumn())
        last_n, last_t = 0, time.monotonic()
        with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
            task = progress.add_task("run", total=self.total, rate=0.0, lag=self.total or 0)
            while not self._stop.wait(self.interval_s):
                try:
                    n = taken_in(client, self.started_ms)
                except Exception as exc:  # noqa: BLE001 - progress is advisory: say why it stopped, keep the job
                    progress.console.print(f"progress unavailable: {type(exc).__name__}: {exc}")
                    return
                now = time.monotonic()
                rate = (n - last_n) / max(now - last_t, 1e-3)
                last_n, last_t = n, now
                lag = max((self.total or 0) - n, 0)
                progress.update(task, completed=min(n, self.total) if self.total else n, rate=rate, lag=lag)
        client.close()
