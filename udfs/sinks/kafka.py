"""A Kafka writer for output records: (topic, key, value) in, delivered or raised.

Partner inbox topics are created on first use (a new partner needs no set-up).
"""
from __future__ import annotations

from lastmile.config import Config
from lastmile.kafka_io import ReliableProducer


class KafkaWriter:
    def __init__(self, config: Config):
        self._config = config
        self._producer: ReliableProducer | None = None
        self._known_topics: set[str] = set()

    def write(self, topic: str, key: str | None, value: bytes) -> None:
        if self._producer is None:
            self._producer = ReliableProducer(self._config, **{"linger.ms": 50})
        if topic not in self._known_topics:
            from lastmile import topics

            topics.ensure_topics(self._config, [topic])
            self._known_topics.add(topic)
        self._producer.produce(topic, value, key)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush()
            self._producer = None
