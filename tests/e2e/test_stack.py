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


def test_raw_tables_keep_rows_for_the_configured_days_after_ingestion_and_forever_with_0(stack):
    import datetime as dt
    import uuid

    from lastmile.clickhouse import http_client

    config = stack.with_overrides(clickhouse_database=f"ttl_{uuid.uuid4().hex[:8]}", raw_ttl_days=30)
    migrations.apply(config)
    client = http_client(config)
    snapshot = _schema_snapshot(client, config.clickhouse_database)
    migrations.apply(config)  # set once: applying again changes nothing
    assert _schema_snapshot(client, config.clickhouse_database) == snapshot
    now = dt.datetime.now(dt.UTC)
    # an event of 2024 ingested today stays (retention counts from ingestion); one ingested 40 days ago goes
    rows = [(uuid.uuid4(), "ttl-p", "v", dt.datetime(2024, 5, 1, tzinfo=dt.UTC), ingested, 1, None, None, None, "t", 0, n)
            for n, ingested in enumerate((now, now - dt.timedelta(days=40)))]
    columns = ["event_id", "partner_id", "vehicle_id", "event_time", "ingested_at", "h3_cell", "speed_mps",
               "load_volume_l", "capacity_volume_l", "source_topic", "source_partition", "source_offset"]
    client.insert("vehicle_positions", rows, column_names=columns)
    client.command("OPTIMIZE TABLE vehicle_positions FINAL")
    assert client.query("SELECT source_offset FROM vehicle_positions").result_rows == [(0,)]
    migrations.apply(config.with_overrides(raw_ttl_days=0))
    assert all(" TTL " not in q for _, q in _schema_snapshot(client, config.clickhouse_database)
               if _ in migrations.RAW_TABLES)
    client.insert("vehicle_positions", rows[1:], column_names=columns)
    client.command("OPTIMIZE TABLE vehicle_positions FINAL")
    assert sorted(client.query("SELECT source_offset FROM vehicle_positions").result_rows) == [(0,), (1,)]
    client.command(f"DROP DATABASE {config.clickhouse_database}")


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
