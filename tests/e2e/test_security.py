"""A secure stack (`lastmile up --secure`) of its own: every Kafka and ClickHouse client
authenticates, and a partner added with `lastmile partners add` can do what its rights say and
nothing else (docs/security.md). Partners are attacked here with plain clients (confluent-kafka,
HTTP), not the project's SDK, as a hostile partner would.
"""
import json
import os
import stat
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest
from faults import FaultStack

from lastmile import credentials, migrations
from lastmile.clickhouse import http_client

PORTS = {"kafka": 17092, "controller": 17093, "http": 17123, "native": 17900}
A, B = "sec-alpha", "sec-bravo"


@pytest.fixture(scope="module")
def secure(stack, tmp_path_factory):  # `stack` first: its fixture fetched the jars once
    own = FaultStack(tmp_path_factory.mktemp("secure") / "home", stack.cache, PORTS, secure=True)
    own.down()
    try:
        own.up()
        own.partners = {p: add_partner(own, p) for p in (A, B)}
        yield own
    finally:
        own.down()


def lastmile(stack: FaultStack, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "lastmile.cli", *args], env=stack.env, capture_output=True,
                            text=True, timeout=300)
    assert not check or result.returncode == 0, result.stderr[-3000:]
    return result


def add_partner(stack: FaultStack, partner: str) -> dict:
    return json.loads(lastmile(stack, "partners", "add", partner, "--json").stdout.strip().splitlines()[-1])


def kafka_settings(stack: FaultStack, user: str | None, password: str | None) -> dict:
    settings = {"bootstrap.servers": stack.config.kafka_bootstrap, "log_level": 0, "socket.timeout.ms": 5000}
    if user is not None:
        settings.update({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "SCRAM-SHA-512",
                         "sasl.username": user, "sasl.password": password})
    return settings


def produce(stack: FaultStack, topic: str, user: str | None, password: str | None) -> str | None:
    """One record to ``topic``: None when it was written, else the error."""
    from confluent_kafka import KafkaException, Producer

    producer = Producer({**kafka_settings(stack, user, password), "message.timeout.ms": 10_000,
                         "enable.idempotence": False, "acks": "all"})
    errors: list[str] = []
    try:
        producer.produce(topic, b"probe", on_delivery=lambda err, _m: errors.append(err.str()) if err else None)
    except KafkaException as e:
        return str(e)
    left = producer.flush(15)
    return errors[0] if errors else (f"{left} undelivered" if left else None)


def consume(stack: FaultStack, topic: str, user: str, password: str, group: str) -> str:
    """``ok`` when ``topic`` could be read from its start, else the error."""
    from confluent_kafka import Consumer, KafkaError

    consumer = Consumer({**kafka_settings(stack, user, password), "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        for _ in range(20):
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is None:
                return "ok"
            if msg.error().code() != KafkaError._PARTITION_EOF:
                return msg.error().str()
        return "ok (nothing to read)"
    finally:
        consumer.close()


def read_topic_as(stack: FaultStack, topic: str) -> list[bytes]:
    """The keys of every record of ``topic``, read with the pipeline's account."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**stack.config.kafka_client(), "group.id": f"lastmile-test-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "log_level": 0})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        keys: list[bytes] = []
        for p in partitions:
            end = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            if end == 0:
                continue
            consumer.assign([TopicPartition(topic, p, 0)])
            while True:
                msg = consumer.poll(5)
                assert msg is not None, f"{topic}/{p}: nothing more before offset {end}"
                if msg.error() is None:
                    keys.append(msg.key())
                    if msg.offset() >= end - 1:
                        break
        return keys
    finally:
        consumer.close()


def clickhouse(stack: FaultStack, user: str, password: str, query: str) -> tuple[int, str]:
    """(HTTP status, body) of ``query`` as ``user``."""
    request = urllib.request.Request(f"{stack.config.clickhouse_url}/?database={stack.config.clickhouse_database}",
                                     data=query.encode(), headers={"X-ClickHouse-User": user,
                                                                   "X-ClickHouse-Key": password})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_stack_s_secrets_are_its_owner_s_alone_and_never_in_a_repr(secure):
    folder = credentials.folder(secure.config.home)
    home = secure.config.home
    for path in (home, folder, folder / "stack.json", folder / "partners.json", home / "kafka" / "server.properties",
                 home / "clickhouse" / "users.xml"):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode & 0o077 == 0, f"{path} is readable by others ({oct(mode)})"
    assert secure.config.kafka_password and secure.config.kafka_password not in repr(secure.config)
    assert secure.config.clickhouse_password not in repr(secure.config)
    assert secure.config.kafka_password not in repr(secure.config.job_settings())
    partners = (folder / "partners.json").read_text()
    assert secure.partners[A]["clickhouse"]["password"] not in partners  # only its hash is kept
    assert secure.partners[A]["kafka"]["password"] not in partners


def test_kafka_refuses_clients_without_an_account_or_with_a_wrong_password(secure):
    topic = f"partners.{A}.delivery_tasks"
    assert produce(secure, topic, None, None) is not None  # no SASL at all
    assert produce(secure, topic, A, "not-the-password") is not None
    assert produce(secure, topic, A, secure.partners[A]["kafka"]["password"]) is None


def test_a_partner_writes_only_its_own_topics_and_reads_only_its_own_inbox(secure):
    a = secure.partners[A]["kafka"]["password"]
    for stream in ("delivery_tasks", "shipment_status", "vehicle_positions", "capacity_offers"):
        assert produce(secure, f"partners.{A}.{stream}", A, a) is None
        refused = produce(secure, f"partners.{B}.{stream}", A, a)
        assert refused is not None and "authoriz" in refused.lower(), refused
    for topic in (f"partners.{A}.inbox", "coordination.colocations", f"partners.{A}.new-stream"):
        assert produce(secure, topic, A, a) is not None, topic  # not its to write, nor to create
    assert consume(secure, f"partners.{A}.inbox", A, a, f"{A}.inbox").startswith("ok")
    assert consume(secure, f"partners.{A}.dead_letters", A, a, f"{A}.rejects").startswith("ok")
    for topic in (f"partners.{B}.inbox", f"partners.{B}.dead_letters", f"partners.{B}.delivery_tasks",
                  "coordination.dead_letters"):
        refused = consume(secure, topic, A, a, f"{A}.probe")
        assert not refused.startswith("ok") and "authoriz" in refused.lower(), (topic, refused)
    refused = consume(secure, f"partners.{A}.inbox", A, a, f"{B}.steal")  # another's consumer group
    assert not refused.startswith("ok"), refused


def test_a_partner_reads_only_its_own_rows_and_writes_nothing_in_clickhouse(secure):
    ch = http_client(secure.config)
    own, other = uuid.uuid4(), uuid.uuid4()
    ch.command(f"INSERT INTO capacity_offers (partner_id, event_id) VALUES ('{A}', '{own}'), ('{B}', '{other}')")
    a = secure.partners[A]["clickhouse"]["password"]
    status, body = clickhouse(secure, A, a, f"SELECT partner_id, event_id FROM capacity_offers "
                                            f"WHERE event_id IN ('{own}', '{other}')")
    assert status == 200 and body.split() == [A, str(own)], body
    status, body = clickhouse(secure, A, a, "SELECT count() FROM capacity_offers WHERE partner_id = 'sec-bravo'")
    assert status == 200 and body.strip() == "0", body
    for query in (f"INSERT INTO capacity_offers (partner_id, event_id) VALUES ('{A}', '{uuid.uuid4()}')",
                  "SELECT * FROM colocations", "SELECT * FROM consolidation_proposals", "DROP TABLE capacity_offers",
                  "SELECT * FROM system.users"):
        status, body = clickhouse(secure, A, a, query)
        assert status != 200, (query, body)
    assert clickhouse(secure, A, "not-the-password", "SELECT 1")[0] != 200
    # the one password-less account (chdb's own session opens the listeners as it) reads nothing
    for table in ("capacity_offers", "colocations", "system.users"):
        assert clickhouse(secure, "default", "", f"SELECT count() FROM {table}")[0] != 200, table
    assert clickhouse(secure, "default", "", "INSERT INTO capacity_offers (partner_id) VALUES ('x')")[0] != 200
    assert clickhouse(secure, secure.config.clickhouse_user, "", "SELECT 1")[0] != 200


RAW = ("lat", "lng", "latitude", "longitude", "recipient_key", "address")  # never readable but by the pipeline
OTHERS = ("partner_a", "partner_b", "shipment_a", "shipment_b", "partners", "shipments", "tour", "assigned_offer")


def readable(secure, user: str, password: str) -> dict[str, list[str]]:
    """Every table and view of the database ``user`` can SELECT from, with its columns."""
    ch = http_client(secure.config)
    tables = [t for (t,) in ch.query("SELECT name FROM system.tables WHERE database = currentDatabase()").result_rows]
    out = {}
    for table in tables:
        if clickhouse(secure, user, password, f"SELECT * FROM {table} LIMIT 0")[0] == 200:
            out[table] = [c for (c,) in ch.query("SELECT name FROM system.columns WHERE database = currentDatabase() "
                                                 "AND table = {t:String}", parameters={"t": table}).result_rows]
    return out


def test_no_table_a_partner_or_an_analyst_reads_has_raw_locations_recipient_keys_or_another_partner_s_ids(secure):
    analyst = credentials.stack(secure.config.home)["analyst"]
    roles = {"partner": (A, secure.partners[A]["clickhouse"]["password"]),
             "analyst": (analyst["username"], analyst["password"])}
    seen = {role: readable(secure, *account) for role, account in roles.items()}
    assert {"delivery_tasks", "vehicle_positions", "eta_predictions", "dead_letters"} <= set(seen["partner"])
    assert {"colocations", "consolidation_proposals", "delivery_tasks"} <= set(seen["analyst"])
    assert "dead_letters" not in seen["analyst"] and "schema_migrations" not in seen["analyst"]
    for role, tables in seen.items():
        for table, columns in tables.items():
            raw = [c for c in columns if any(c == r or c.endswith("_" + r) for r in RAW)]
            assert not raw, f"{role} reads {table}.{raw}"
            if role == "partner":
                assert not set(columns) & set(OTHERS), f"a partner reads {table}: {set(columns) & set(OTHERS)}"
    status, _ = clickhouse(secure, analyst["username"], analyst["password"],
                           "INSERT INTO colocations (match_id) VALUES ('forged')")
    assert status != 200


def test_a_removed_partner_is_refused_at_once(secure):
    partner = "sec-charlie"
    made = add_partner(secure, partner)
    kafka, ch = made["kafka"]["password"], made["clickhouse"]["password"]
    assert produce(secure, f"partners.{partner}.delivery_tasks", partner, kafka) is None
    assert clickhouse(secure, partner, ch, "SELECT 1")[0] == 200
    lastmile(secure, "partners", "remove", partner)
    assert produce(secure, f"partners.{partner}.delivery_tasks", partner, kafka) is not None
    assert clickhouse(secure, partner, ch, "SELECT 1")[0] != 200
    listed = json.loads(lastmile(secure, "partners", "list", "--json").stdout.strip().splitlines()[-1])
    assert partner not in {p["partner_id"] for p in listed} and {A, B} <= {p["partner_id"] for p in listed}


def test_a_partner_s_produce_and_fetch_rates_are_bounded_by_its_quotas(secure):
    """One partner cannot flood the broker, or the job, for the others: a partner producing
    faster than its quota is throttled by the broker (confluent-kafka's throttle callback)."""
    from confluent_kafka import Producer

    from lastmile import partner_admin

    assert partner_admin.quotas(secure.config, "describe", A) == {
        "consumer_byte_rate": 16 << 20, "producer_byte_rate": 4 << 20}
    partner = "sec-flood"
    made = json.loads(lastmile(secure, "partners", "add", partner, "--produce-mb-s", "0.25",
                               "--json").stdout.strip().splitlines()[-1])
    assert partner_admin.quotas(secure.config, "describe", partner)["producer_byte_rate"] == 1 << 18
    throttled: list[int] = []
    producer = Producer({**kafka_settings(secure, partner, made["kafka"]["password"]), "linger.ms": 5,
                         "throttle_cb": lambda event: throttled.append(event.throttle_time)})
    for _ in range(64):  # 4 MiB, 16 times its quota per second
        producer.produce(f"partners.{partner}.vehicle_positions", b"x" * (64 << 10))
        producer.poll(0)
    assert producer.flush(120) == 0
    assert throttled and max(throttled) > 0, "the broker never throttled a partner over its quota"
    lastmile(secure, "partners", "remove", partner)
    assert partner_admin.quotas(secure.config, "describe", partner) == {}


def test_partner_commands_explain_what_they_need_in_one_line(secure, tmp_path):
    result = lastmile(secure, "partners", "add", "Not A Partner", check=False)
    assert result.returncode != 0 and "partner id must match" in result.stderr and "Traceback" not in result.stderr
    result = lastmile(secure, "partners", "add", "lastmile", check=False)
    assert result.returncode != 0 and "reserved" in result.stderr
    insecure = {**secure.env, "LASTMILE_HOME": str(tmp_path / "plain")}
    result = subprocess.run([sys.executable, "-m", "lastmile.cli", "partners", "list"], env=insecure,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "not secure" in result.stderr and "Traceback" not in result.stderr


def test_the_coordination_job_runs_on_the_secure_stack(secure, tmp_path):
    """The job's Kafka clients (Flink's source and sink, KafkaFrames) authenticate as the
    pipeline; a simulated city of the two partners reaches ClickHouse and their inboxes."""
    config = secure.config.with_overrides(clickhouse_database="secure_city")
    migrations.apply(config)
    env = {**secure.env, "LASTMILE_CLICKHOUSE_DATABASE": config.clickhouse_database}
    for args in (["simulate", "--partners", "2", "--partner-prefix", "sec-", "--tasks-per-day", "600", "--events", "15000",
                  "--start", "2025-10-06", "--seed", "5", "--json"], ["run", "--bounded"]):
        result = subprocess.run([sys.executable, "-m", "lastmile.cli", *args], env=env, capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    ch = http_client(config)
    assert ch.query("SELECT count() FROM vehicle_positions").result_rows[0][0] > 1000
    assert ch.query("SELECT count() FROM eta_predictions").result_rows[0][0] > 0
    # each partner's refused records (the simulator sends some) also reach its own dead-letter topic
    by_partner = dict(ch.query("SELECT partner_id, count() FROM dead_letters FINAL WHERE partner_id IS NOT NULL "
                               "GROUP BY partner_id").result_rows)
    # the city's two partners (and, after the tests above, their probes: bytes that are no Avro)
    assert {"sec-alpha-parcel", "sec-bravo-express"} <= set(by_partner), by_partner
    for partner, count in by_partner.items():
        own = read_topic_as(secure, f"partners.{partner}.dead_letters")
        assert len({key for key in own}) == count, partner
