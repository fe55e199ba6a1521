"""A week of simulated time through a live `lastmile run`, on a stack of its own: the state of
every operator stays flat from day to day, as the checkpoints hold it (lastmile.state).

Each day is published when the job has read and checkpointed the one before (its committed
offsets reached the topics' ends), then the newest checkpoint is measured per operator. State
that something keeps forever grows by a day's worth each day; state with a bounded lifetime
(timers, the learned speeds' time to live) levels off once the oldest day it keeps is
forgotten. The speeds are learned per (cell, hour of the week), so every simulated day teaches
new keys: without their time to live (1 day here, `LASTMILE_SPEED_TTL_DAYS`) the profiles and
the ETA's speed table grow all week.

Its own Kafka because a live job reads every partner topic: the session stack's topics hold
records stamped with today's date, which would put the watermark past this week of 2025.
"""
import datetime
import statistics
import time

import pytest
from faults import FaultStack, Job, wait_for

from lastmile import migrations, state
from udfs.contracts.topics import STREAMS

DAYS = 9
# days before the state can level off: the longest lifetime (a delivery's, 2 days after its
# last change; the speeds' is 1 day here) and the day being read
WARM_UP = 3
IDLE_S = 3  # LASTMILE_IDLE_TIMEOUT_S: a partition done with its day stops holding the watermark back
FIRST_DAY = datetime.date(2025, 9, 1)  # a Monday; no other test simulates this week
PREFIX = "wk-"
PORTS = {"kafka": 16092, "controller": 16093, "http": 16123, "native": 16900}
GROUP = "lastmile-coordination"  # the job's consumer group (jobs.coordination.kafka_sources)
FLAT = 1.3  # the last days may hold at most this much more than the days after the warm-up
SLACK = 16 * 1024  # and a few KiB more, for the operators whose state is that small


@pytest.fixture(scope="module")
def week_stack(stack, tmp_path_factory):  # `stack` first: its fixture fetched the jars once
    own = FaultStack(tmp_path_factory.mktemp("week") / "home", stack.cache, PORTS)
    own.down()
    own.up()
    yield own
    own.down()


def partner_topics(bootstrap: str) -> list[str]:
    """The partners' ingest topics (the ones the job reads; not their inboxes or dead letters)."""
    from confluent_kafka.admin import AdminClient

    names = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    return sorted(t for t in names if t.startswith(f"partners.{PREFIX}") and t.rsplit(".", 1)[1] in STREAMS)


def read_to_the_end(bootstrap: str) -> bool:
    """The job's committed offsets (written when a checkpoint completes) are the topics' ends."""
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP, "enable.auto.commit": False})
    try:
        partitions = [TopicPartition(t, p) for t in partner_topics(bootstrap)
                      for p in consumer.list_topics(t, timeout=10).topics[t].partitions]
        committed = consumer.committed(partitions, timeout=10)
        return bool(partitions) and all(  # (an empty partition has no committed offset)
            max(c.offset, 0) == consumer.get_watermark_offsets(TopicPartition(c.topic, c.partition), timeout=10)[1]
            for c in committed)
    except KafkaException as e:  # the group's coordinator is not elected yet on a fresh broker
        if e.args[0].retriable() or e.args[0].code() == KafkaError.NOT_COORDINATOR:
            return False
        raise
    finally:
        consumer.close()


def checkpointed_after(config, moment: float) -> bool:
    """A checkpoint completed after ``moment`` (the job discards older ones as it goes)."""
    try:
        return state.newest_checkpoint(config).joinpath("_metadata").stat().st_mtime > moment
    except FileNotFoundError:
        return False


def test_a_week_of_simulated_time_leaves_every_operator_s_state_flat(week_stack, tmp_path):
    from tests_env import lastmile

    config = week_stack.config.with_overrides(clickhouse_database="state_week", home=tmp_path / "home",
                                              checkpoint_interval_s=1.0)
    migrations.apply(config)
    env = {**week_stack.env, "LASTMILE_CLICKHOUSE_DATABASE": config.clickhouse_database,
           "LASTMILE_HOME": str(config.home), "LASTMILE_SPEED_TTL_DAYS": "1", "LASTMILE_CHECKPOINT_INTERVAL_S": "1",
           "LASTMILE_IDLE_TIMEOUT_S": str(IDLE_S)}
    sizes: list[dict[str, int]] = []
    split: list[dict[str, tuple[int, int]]] = []  # keyed, operator state
    job = None
    try:
        for day in range(DAYS):
            date = (FIRST_DAY + datetime.timedelta(days=day)).isoformat()
            lastmile(env, "simulate", "--partners", "3", "--partner-prefix", PREFIX, "--tasks-per-day", "600",
                     "--start", date, "--seed", str(40 + day), "--json", timeout=300)
            if job is None:
                job = Job.start(env, tmp_path / "job.log", "run")
            wait_for(lambda: read_to_the_end(config.kafka_bootstrap), 300, f"day {day + 1} read and checkpointed",
                     every_s=1)
            # then the day's partitions go idle and the watermark passes the day: a checkpoint after that
            settled = time.time() + IDLE_S + 2
            wait_for(lambda settled=settled: checkpointed_after(config, settled), 60,
                     f"a checkpoint after day {day + 1} settled", every_s=0.5)
            assert job.proc.poll() is None, job.output()
            _checkpoint, census = state.newest_census(config)
            sizes.append({o.uid or o.name: o.total_bytes for o in census})
            split.append({o.uid or o.name: (o.keyed_bytes, o.operator_bytes) for o in census})
    finally:
        if job is not None:
            job.stop()

    table = "\n".join(f"{uid:28s} " + " ".join(f"{day.get(uid, 0) / 1024:9.1f}" for day in sizes)
                      for uid in sorted(sizes[-1]))
    parts = "\n".join(f"{uid:28s} " + " ".join(f"{k / 1024:7.1f}/{o / 1024:<7.1f}" for k, o in
                                                (day.get(uid, (0, 0)) for day in split))
                      for uid in sorted(split[-1]) if any(sum(day.get(uid, (0, 0))) for day in split))
    report = f"KiB per operator after each day:\n{table}\nkeyed/operator state:\n{parts}"
    held = [uid for uid in sizes[-1] if any(day.get(uid, 0) for day in sizes)]
    # the stateful stages are all measured, the learned speeds among them
    assert {"jvm-registry", "jvm-matcher", "jvm-consolidator", "jvm-tracker", "jvm-profiles", "jvm-eta",
            "ping-windows"} <= set(held), report
    middle, end = slice(WARM_UP, WARM_UP + 3), slice(DAYS - 3, DAYS)
    for uid in held:
        first = statistics.mean(day.get(uid, 0) for day in sizes[middle])
        last = statistics.mean(day.get(uid, 0) for day in sizes[end])
        assert last <= FLAT * first + SLACK, f"{uid} grows: {first / 1024:.0f} -> {last / 1024:.0f} KiB\n{report}"
    total = [sum(day.values()) for day in sizes]
    assert statistics.mean(total[end]) <= FLAT * statistics.mean(total[middle]), report
