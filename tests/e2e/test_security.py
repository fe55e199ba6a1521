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
from udfs.contracts import wire

PORTS = {"kafka": 14092, "controller": 14093, "http": 14123, "native": 14900}  # not the bench's 17xxx
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


def read_topic_as(stack: FaultStack, topic: str, user: str | None = None,
                  password: str | None = None) -> list[tuple[bytes, bytes]]:
    """(key, value) of every record of ``topic``, read with the pipeline's account or ``user``'s."""
    from confluent_kafka import Consumer, TopicPartition

    client = stack.config.kafka_client() if user is None else kafka_settings(stack, user, password)
    consumer = Consumer({**client, "group.id": f"{user or 'lastmile'}.test-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "log_level": 0})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        records: list[tuple[bytes, bytes]] = []
        for p in partitions:
            end = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            if end == 0:
                continue
            consumer.assign([TopicPartition(topic, p, 0)])
            while True:
                msg = consumer.poll(5)
                assert msg is not None, f"{topic}/{p}: nothing more before offset {end}"
                if msg.error() is None:
                    records.append((msg.key(), msg.value()))
                    if msg.offset() >= end - 1:
                        break
        return records
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
    # the KPI aggregates the insert fed (a materialized view): its own rows only there too
    status, body = clickhouse(secure, A, a, f"SELECT partner_id, event_id FROM kpi_feed_events "
                                            f"WHERE event_id IN ('{own}', '{other}')")
    assert status == 200 and body.split() == [A, str(own)], body
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
    assert {"delivery_tasks", "vehicle_positions", "eta_predictions", "dead_letters", "kpi_status_daily"} <= set(
        seen["partner"])
    assert {"colocations", "consolidation_proposals", "delivery_tasks", "kpi_status_daily"} <= set(seen["analyst"])
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
    # of the dead letters, the analyst reads why and whose, and a digest; never what was refused
    assert set(seen["analyst"]["dead_letters_summary"]) == {"dead_letter_id", "received_at", "source", "partner_id",
                                                             "stage", "reason", "payload_sha256"}
    for query in ("SELECT payload FROM dead_letters", "SELECT message FROM dead_letters",
                  "SELECT * FROM dead_letters"):
        assert clickhouse(secure, analyst["username"], analyst["password"], query)[0] != 200, query
    status, body = clickhouse(secure, analyst["username"], analyst["password"],
                              "SELECT reason, payload_sha256 FROM dead_letters WHERE partner_id IS NOT NULL")
    assert status == 200, body


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
    digests = ch.query("SELECT countIf(payload_sha256 = lower(hex(SHA256(payload)))), count() FROM dead_letters")
    assert digests.result_rows[0][0] == digests.result_rows[0][1] > 0  # the shared summary's digest of each
    for partner, count in by_partner.items():
        own = read_topic_as(secure, f"partners.{partner}.dead_letters")
        assert len({key for key, _ in own}) == count, partner
    # the topic scan: what each partner's inbox holds names no raw location, no recipient key, and
    # no other partner or its shipments (nobody agreed to be named here)
    city = ("sec-alpha-parcel", "sec-bravo-express")
    shipments = {p: {s for (s,) in ch.query("SELECT DISTINCT shipment_id FROM delivery_tasks WHERE partner_id = "
                                              "{p:String}", parameters={"p": p}).result_rows} for p in city}
    for partner in city:
        other = next(p for p in city if p != partner)
        kinds = set()
        for _, value in read_topic_as(secure, f"partners.{partner}.inbox"):
            record, schema = wire.decode(value)
            kinds.add(schema.name)
            fields = [f["name"] for f in schema.parsed["fields"]]
            assert not [f for f in fields if any(f == r or f.endswith("_" + r) for r in RAW)], (schema.name, fields)
            assert record["partner_id"] == partner
            values = {str(v) for v in record.values()} | {str(v) for v in record.get("shipments", [])}
            assert not values & (shipments[other] | {other}), (schema.name, values & (shipments[other] | {other}))
        assert {"InboxMatch", "EtaUpdate", "InboxProposal"} >= kinds >= {"InboxMatch", "EtaUpdate"}, kinds


def test_fake_tasks_around_a_match_do_not_locate_the_competitor_s_destination(secure):
    """The triangulation attack of docs/security.md. Partner B delivers to P; attacker A has a
    real task S 110 m from it, places 48 fake tasks on a grid around S and moves one more task
    about. Had A's inbox told which of its tasks match (as the pipeline's full co-locations do),
    their 150 m disks would put P within a few metres. A learns of B's shipment once: its inbox
    holds one match, and B's destination is known to A only as within 150 m of that one task,
    as from a single real match. Both agreed to be named, so A sees B's id; only A agreed to
    share same_recipient, so A does not see it."""
    import math

    import h3.api.basic_int as h3i
    from confluent_kafka import Producer
    from samples import HOUR, valid

    from udfs.geo import haversine_m

    attacker, victim = "tri-attacker", "tri-victim"
    creds = {p: add_partner(secure, p) for p in (attacker, victim)}
    lastmile(secure, "partners", "share", attacker, "--named", "--same-recipient")
    lastmile(secure, "partners", "share", victim, "--named")
    config = secure.config.with_overrides(clickhouse_database="secure_probe")
    migrations.apply(config)
    base = 1_762_160_400_000  # 2025-11-03T09:00Z, apart from every other test's data
    p_lat, p_lng = 52.5200, 13.4050
    metres_lat, metres_lng = 1 / 111_195, 1 / (111_195 * math.cos(math.radians(p_lat)))

    def at(dx_m: float, dy_m: float) -> tuple[float, float]:
        return p_lat + dy_m * metres_lat, p_lng + dx_m * metres_lng

    s_lat, s_lng = at(80, 75)  # the attacker's real delivery, 110 m from P
    tasks = {attacker: [("S", s_lat, s_lng, base)], victim: [("P", p_lat, p_lng, base)]}
    grid = [(dx, dy) for dx in range(-140, 141, 40) for dy in range(-140, 141, 40) if (dx, dy) != (0, 0)]
    tasks[attacker] += [(f"fake-{i}", *at(80 + dx, 75 + dy), base + 1000 + i) for i, (dx, dy) in enumerate(grid)]
    # one more task moved about: each re-announcement of a shipment replaces where it goes
    tasks[attacker] += [("moving", *at(dx, dy), base + 100_000 + i * 1000)
                        for i, (dx, dy) in enumerate([(300, 0), (100, 0), (0, 100), (-100, 0), (0, -100), (20, 0)])]
    where = {}
    for partner, own in tasks.items():
        producer = Producer({**kafka_settings(secure, partner, creds[partner]["kafka"]["password"]),
                             "enable.idempotence": False})
        for shipment, lat, lng, t in own:
            record = valid("delivery_tasks", partner=partner, now_ms=t, shipment_id=shipment, dest_lat=lat,
                           dest_lng=lng, window_start=base + HOUR, window_end=base + 3 * HOUR,
                           recipient_key="cd" * 32)
            producer.produce(f"partners.{partner}.delivery_tasks", wire.encode(record, "DeliveryTask"),
                             key=shipment.encode())
            where[shipment] = (lat, lng)
        assert producer.flush(30) == 0
    env = {**secure.env, "LASTMILE_CLICKHOUSE_DATABASE": config.clickhouse_database}
    result = subprocess.run([sys.executable, "-m", "lastmile.cli", "run", "--bounded"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    # what the pipeline knows: every fake task within 150 m of P matches it
    pairs = [wire.decode(v, expected="CoLocation")[0] for _, v in read_topic_as(secure, "coordination.colocations")]
    latest: dict[str, dict] = {}
    for r in pairs:
        if victim in (r["partner_a"], r["partner_b"]) and r["version"] >= latest.get(r["match_id"], r)["version"]:
            latest[r["match_id"]] = r
    matched = {r["shipment_a"] if r["partner_a"] == attacker else r["shipment_b"]
               for r in latest.values() if not r["retracted"]}
    within = {shipment for shipment, (lat, lng) in where.items()
              if shipment != "P" and haversine_m(lat, lng, p_lat, p_lng) <= 150}
    assert matched == within and len(within) > 10
    # told all of them (and so which did not match), the attacker would have P to a few metres
    full = _region(where, matched, set(where) - matched - {"P"}, None)
    assert full["error_m"] < 15, full

    # what the attacker gets: one match (of whichever of its tasks matched first), the other partner
    # named (both agreed), no same_recipient (only the attacker agreed)
    inbox = [wire.decode(v)[0] for _, v in read_topic_as(secure, f"partners.{attacker}.inbox", attacker,
                                                         creds[attacker]["kafka"]["password"])]
    seen = [r for r in inbox if "counterpart" in r]
    assert [(r["retracted"], r["counterpart_partner_id"], r["same_recipient"]) for r in seen] == [
        (False, victim, None)]
    assert seen[0]["shipment_id"] in within and h3i.get_resolution(seen[0]["area_h3"]) == 8
    # all A can infer is what one real match says: P within 150 m of that task, the pair's midpoint in
    # that cell (the other tasks' silence says nothing: it would be the same were they far away)
    learned = _region(where, {seen[0]["shipment_id"]}, set(), seen[0]["area_h3"])
    assert learned["spread_m"] > 250 and learned["points"] > 50 * full["points"], (learned, full)
    # and the victim learns of the attacker's shipments once each: S's match first, no more about S
    victim_inbox = [wire.decode(v)[0] for _, v in read_topic_as(secure, f"partners.{victim}.inbox", victim,
                                                                creds[victim]["kafka"]["password"])]
    told = [r["shipment_id"] for r in victim_inbox if "counterpart" in r]
    assert len(told) == len(within) and set(told) == {"P"}


def _region(where: dict, matched: set, unmatched: set, area_h3: int | None) -> dict:
    """What an attacker can infer of P from the positions of its own tasks: the points of a 2 m
    grid within 150 m of every ``matched`` task, further from every ``unmatched`` one (and, with
    ``area_h3``, whose midpoint with each matched task is in that cell); how many, the error of
    their centroid from P (which the test puts at 52.52, 13.405) and their spread."""
    import math

    import h3.api.basic_int as h3i

    from udfs.geo import haversine_m

    lat0, lng0 = 52.5200, 13.4050
    per_lat, per_lng = 1 / 111_195, 1 / (111_195 * math.cos(math.radians(lat0)))
    points = []
    for ix in range(-300, 301, 2):
        for iy in range(-300, 301, 2):
            lat, lng = lat0 + iy * per_lat, lng0 + ix * per_lng
            if all(haversine_m(lat, lng, *where[s]) <= 150 for s in matched) and all(
                    haversine_m(lat, lng, *where[s]) > 150 for s in unmatched) and (area_h3 is None or all(
                    h3i.latlng_to_cell((lat + where[s][0]) / 2, (lng + where[s][1]) / 2, 8) == area_h3
                    for s in matched)):
                points.append((lat, lng))
    assert points, "the region cannot be empty: P is in it"
    c_lat = sum(p[0] for p in points) / len(points)
    c_lng = sum(p[1] for p in points) / len(points)
    spread = max(haversine_m(*a, *b) for a in (min(points), max(points)) for b in points)
    return {"points": len(points), "error_m": round(haversine_m(c_lat, c_lng, lat0, lng0)),
            "spread_m": round(spread)}


def test_the_live_map_s_partner_view_takes_the_partner_s_clickhouse_password_and_shows_its_own_rows(secure):
    """`lastmile map` on a secure stack: a partner's view is opened with its ClickHouse account
    (ClickHouse checks the password, its row filters apply) and lists its own shipments only."""
    import datetime as dt

    from maptools import get, map_server

    ch = http_client(secure.config)
    (clock,) = ch.query("SELECT greatest((SELECT max(event_time) FROM delivery_tasks), "
                        "(SELECT max(event_time) FROM shipment_status), "
                        "(SELECT max(event_time) FROM vehicle_positions))").result_rows[0]
    clock = max(clock.replace(tzinfo=dt.UTC), dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    for partner, shipment in ((A, "map-own"), (B, "map-other")):
        ch.insert("delivery_tasks", [(uuid.uuid4(), partner, shipment, clock, clock, 622236750562230271,
                                      clock - dt.timedelta(hours=1), clock + dt.timedelta(hours=1), 1, "t", 0, 0)],
                  column_names=["event_id", "partner_id", "shipment_id", "event_time", "ingested_at", "dest_h3",
                                "window_start", "window_end", "parcel_count", "source_topic", "source_partition",
                                "source_offset"])
    with map_server(secure.env) as url:
        a, b = (secure.partners[p]["clickhouse"]["password"] for p in (A, B))
        status, body = get(f"{url}/api/shipments?partner={A}", A, a)  # (other tests' tasks of A may be active too)
        ids = {s["shipment_id"] for s in body["shipments"]}
        assert status == 200 and "map-own" in ids and "map-other" not in ids, body
        status, body = get(f"{url}/api/shipments?partner={B}", B, b)
        ids = {s["shipment_id"] for s in body["shipments"]}
        assert status == 200 and "map-other" in ids and "map-own" not in ids, body
        assert get(f"{url}/api/shipments?partner={A}", A, "not-the-password")[0] == 401
        assert get(f"{url}/api/shipments?partner={A}", B, b)[0] == 403
        assert get(f"{url}/api/shipments?partner={A}")[0] == 401
        assert get(f"{url}/api/hexes?layer=deliveries")[0] == 200  # the operator's aggregates, the server's account
