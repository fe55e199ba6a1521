"""Reading a whole topic back in tests (an independent consumer, not the project's code)."""
from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, TopicPartition


def read_topic(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[tuple[int, int, bytes | None, bytes]]:
    """Every record now in ``topic`` as (partition, offset, key, value), up to the current end offsets."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        out, deadline = [], time.monotonic() + timeout_s
        remaining = {p for p, end in ends.items() if end > 0}
        while remaining and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            if msg.offset() < ends[msg.partition()]:
                out.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
            if msg.offset() >= ends[msg.partition()] - 1:
                remaining.discard(msg.partition())
        assert not remaining, f"could not read {topic} to its end within {timeout_s} s"
        return out
    finally:
        consumer.close()
