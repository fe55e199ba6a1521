"""Topic creation and look-up on a Kafka cluster; the names are the contract's (udfs.contracts.topics)."""
from __future__ import annotations

import re
import time

from lastmile.config import Config
from lastmile.errors import ConfigError, StackError
from udfs.contracts import topics as names
from udfs.contracts.topics import (  # noqa: F401
    COLOCATIONS,
    COORDINATION_TOPICS,
    DEAD_LETTERS,
    ETA,
    PARTNER_ID,
    PROPOSALS,
    STREAMS,
    partner_of_topic,
    stream_pattern,
)


def check_partner_id(partner_id: str) -> str:
    """:func:`udfs.contracts.topics.check_partner_id`, its error the command line's."""
    return _named(names.check_partner_id, partner_id)


def partner_topic(partner_id: str, stream: str) -> str:
    """``partners.<partner_id>.<stream>``; raises ConfigError for an unknown stream or bad id."""
    return _named(names.partner_topic, partner_id, stream)


def inbox_topic(partner_id: str) -> str:
    return _named(names.inbox, partner_id)


def dead_letters_topic(partner_id: str) -> str:
    return _named(names.dead_letters, partner_id)


def _named(name, *args) -> str:
    try:
        return name(*args)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def ensure_topics(config: Config, names: list[str], partitions: int | None = None, timeout_s: float = 15.0) -> list[str]:
    """Create the topics that do not exist yet; return the ones created now."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({**config.kafka_client(), "log_level": 0})
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        raise StackError(f"cannot reach Kafka at {config.kafka_bootstrap}: {exc.args[0].str()}") from None
    missing = [n for n in names if n not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions or config.topic_partitions, replication_factor=1) for n in missing],
        operation_timeout=timeout_s,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise StackError(f"could not create topic {name}: {exc.args[0].str()}") from None
    _wait_for_leaders(admin, missing, timeout_s)
    return created


def matching(config: Config, pattern: str, timeout_s: float = 15.0) -> list[str]:
    """The existing topics whose whole name matches ``pattern`` (a :func:`stream_pattern`)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**config.kafka_client(), "log_level": 0})
    try:
        names = admin.list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise StackError(f"cannot reach Kafka at {config.kafka_bootstrap}: {exc.args[0].str()}") from None
    compiled = re.compile(pattern)
    return sorted(n for n in names if compiled.fullmatch(n))


def _wait_for_leaders(admin, names: list[str], timeout_s: float) -> None:
    """Block until every partition of ``names`` has a leader: a topic is usable only then
    (right after creation, offset look-ups fail with NOT_LEADER_FOR_PARTITION)."""
    deadline = time.monotonic() + timeout_s
    while True:
        metadata = admin.list_topics(timeout=timeout_s).topics
        pending = [n for n in names if n not in metadata or metadata[n].error is not None
                   or not metadata[n].partitions or any(p.leader < 0 for p in metadata[n].partitions.values())]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise StackError(f"topics without a leader after {timeout_s:.0f} s: {', '.join(pending)}")
        time.sleep(0.1)


def ensure_partner_topics(config: Config, partner_id: str) -> list[str]:
    """The four ingest topics, the inbox and the dead letters of one partner."""
    names = [partner_topic(partner_id, s) for s in STREAMS] + [inbox_topic(partner_id), dead_letters_topic(partner_id)]
    return ensure_topics(config, names)
