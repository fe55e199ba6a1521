"""A confluent-kafka producer that counts deliveries and refuses to lose records silently."""
from __future__ import annotations

from lastmile.config import Config
from lastmile.errors import StackError


class ReliableProducer:
    """Idempotent producer (acks=all); :meth:`flush` raises if any record was not acknowledged."""

    def __init__(self, config: Config, **options):
        from confluent_kafka import Producer

        self.bootstrap = config.kafka_bootstrap
        settings = {**config.kafka_client(), "enable.idempotence": True, "acks": "all",
                    "linger.ms": 20, "compression.type": "lz4", "log_level": 0,
                    # fail (and report) after 60 s instead of retrying forever against a dead broker
                    "message.timeout.ms": 60_000}
        settings.update(options)
        self._producer = Producer(settings)
        self.delivered = 0
        self.failed: list[str] = []

    def produce(self, topic: str, value: bytes, key: bytes | str | None = None, timestamp_ms: int | None = None) -> None:
        """Queue one record; ``timestamp_ms`` becomes its Kafka timestamp (partners: the event time)."""
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=self._on_delivery, timestamp=timestamp_ms or 0)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                self._producer.poll(0.5)
        self._producer.poll(0)

    def _on_delivery(self, err, msg) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed.append(f"{msg.topic()}: {err.str()}")

    def flush(self, timeout_s: float = 90.0) -> None:
        remaining = self._producer.flush(timeout_s)
        if remaining or self.failed:
            detail = self.failed[0] if self.failed else f"{remaining} still queued after {timeout_s:.0f} s"
            raise StackError(f"{len(self.failed) + remaining} records were not delivered to {self.bootstrap} ({detail})")
