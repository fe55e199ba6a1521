"""The local stack that `lastmile up` starts: real Kafka, real ClickHouse."""
import subprocess
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer

from lastmile import migrations, topics
from lastmile.clickhouse import native_client
from lastmile.stack import control


def test_status_reports_both_components_healthy(stack):
    rows = {r.name: r for r in control.status(stack)}
    assert set(rows) == {"kafka", "clickhouse"}
    assert all(r.healthy and r.managed and r.pid for r in rows.values())


def test_kafka_produce_consume_round_trip(stack):
    topic = f"test.roundtrip.{uuid.uuid4().hex[:8]}"
    topics.ensure_topics(stack, [topic], partitions=2)
    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(50)}
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap, "enable.idempotence": True})
    for key, value in sent.items():
        producer.produce(topic, value, key)
    assert producer.flush(20) == 0

    consumer = Consumer({"bootstrap.servers": stack.kafka_bootstrap, "group.id": topic,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    received, partitions = {}, set()
    deadline = time.monotonic() + 30
    while len(received) < len(sent) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            received[msg.key()] = msg.value()
            partitions.add(msg.partition())
    consumer.close()
    assert received == sent
    assert partitions == {0, 1}


def test_coordination_topics_exist_with_configured_partitions(stack):
    from confluent_kafka.admin import AdminClient

    metadata = AdminClient({"bootstrap.servers": stack.kafka_bootstrap}).list_topics(timeout=10)
    for name in topics.COORDINATION_TOPICS:
        assert len(metadata.topics[name].partitions) == stack.topic_partitions


def test_partner_topics_get_at_least_two_partitions(stack):
    from confluent_kafka.admin import AdminClient

    topics.ensure_partner_topics(stack, "partitions-check")
    metadata = AdminClient({"bootstrap.servers": stack.kafka_bootstrap}).list_topics(timeout=10)
    for stream in topics.STREAMS:
        assert len(metadata.topics[topics.partner_topic("partitions-check", stream)].partitions) >= 2


def test_clickhouse_http_and_native_clients_see_the_same_data(stack, ch):
    ch.command("CREATE TABLE IF NOT EXISTS roundtrip (id UInt64, name String) ENGINE = MergeTree ORDER BY id")
    ch.insert("roundtrip", [[1, "one"], [2, "two"], [3, "three"]], column_names=["id", "name"])
    assert ch.query("SELECT id, name FROM roundtrip ORDER BY id").result_rows == [(1, "one"), (2, "two"), (3, "three")]

    native = native_client(stack)
    native.execute("INSERT INTO roundtrip (id, name) VALUES", [(4, "four")])
    assert native.execute("SELECT count(), sum(id) FROM roundtrip") == [(4, 10)]
    assert ch.query("SELECT name FROM roundtrip WHERE id = 4").result_rows == [("four",)]
    native.disconnect()


def _schema_snapshot(ch, database):
    return ch.query("SELECT name, create_table_query FROM system.tables WHERE database = {db:String} ORDER BY name",
                    parameters={"db": database}).result_rows


def test_migrations_applied_twice_change_nothing(stack, ch):
    before = _schema_snapshot(ch, stack.clickhouse_database)
    recorded = ch.query("SELECT version, checksum FROM schema_migrations ORDER BY version").result_rows
    assert [v for v, _ in recorded] == [m.version for m in migrations.discover()]
    assert migrations.apply(stack) == []
    assert migrations.apply(stack) == []
    assert _schema_snapshot(ch, stack.clickhouse_database) == before
    assert ch.query("SELECT version, checksum FROM schema_migrations ORDER BY version").result_rows == recorded


def test_up_twice_is_harmless(stack, stack_env):
    pids = {r.name: r.pid for r in control.status(stack)}
    result = subprocess.run([sys.executable, "-m", "lastmile.cli", "up"], env=stack_env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stdout
    assert {r.name: r.pid for r in control.status(stack)} == pids


def test_status_command_exits_zero_and_names_addresses(stack, stack_env):
    result = subprocess.run([sys.executable, "-m", "lastmile.cli", "status", "--json"], env=stack_env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert stack.kafka_bootstrap in result.stdout and stack.clickhouse_url in result.stdout
