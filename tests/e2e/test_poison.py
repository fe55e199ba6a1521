"""Poison input from one partner, mixed into a normal multi-partner feed: `lastmile run --bounded`
ends normally, every poison record is a dead letter with its reason and source, and the other
partners' co-locations are exactly the simulator's truth.

Before the contract's size limits (udfs/contracts/limits.py) a record of ~1 MB became a dead
letter over the Kafka producer's 1 MB limit: the job failed, restarted from its checkpoint,
met the record again, and stopped every partner's results.
"""
import datetime
import hashlib
import json
import subprocess
import sys

import pytest
from confluent_kafka import Producer
from samples import valid

from lastmile import topics
from udfs.contracts import wire
from udfs.contracts.limits import MAX_DEAD_LETTER_PAYLOAD, MAX_RECORD_BYTES

PREFIX = "px-"
EVIL = "px-evil"
PLANNER = "px-planner"


def _poison() -> list[tuple[str, bytes | None, str]]:
    """(stream, value, the reason it must be refused for)."""
    task = valid("delivery_tasks", EVIL)
    header_and_garbage = wire.encode(task, "DeliveryTask")[:10] + bytes(1_048_390)  # just under the broker's limit
    return [
        ("delivery_tasks", header_and_garbage, "record_too_large"),
        ("delivery_tasks", bytes(MAX_RECORD_BYTES + 1), "record_too_large"),
        ("delivery_tasks", wire.encode({**task, "shipment_id": "s" * 5_000}, "DeliveryTask"), "string_too_long"),
        ("vehicle_positions", None, "not_single_object"),  # a tombstone
        ("vehicle_positions", b"\xc3\x01" + bytes(3), "not_single_object"),
        ("shipment_status", wire.encode(valid("delivery_tasks", EVIL), "DeliveryTask"), "wrong_record_type"),
    ]


@pytest.fixture(scope="module")
def poisoned(stack, tmp_path_factory):
    from tests_env import env_for, simulate_city

    env = env_for(stack)
    truth_path = tmp_path_factory.mktemp("poison") / "truth.json"
    simulate_city(env, truth_path, PREFIX, partners=3, tasks_per_day=600, start="2025-04-14", seed=9)
    poison = _poison()
    topics.ensure_topics(stack, sorted({topics.partner_topic(EVIL, s) for s, _, _ in poison}))
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap, "message.max.bytes": 2_000_000})
    failed = []
    for stream, value, _reason in poison:
        producer.produce(topics.partner_topic(EVIL, stream), value,
                         on_delivery=lambda err, _msg: err is not None and failed.append(err))
    # valid but unusual: a partner's standing plan of capacity offers, one a month for ten years
    # (the offers' table is partitioned by month; one insert touched over 100 partitions and failed)
    plan = topics.partner_topic(PLANNER, "capacity_offers")
    topics.ensure_topics(stack, [plan])
    for month in range(120):
        start = int(datetime.datetime(2016 + month // 12, 1 + month % 12, 1, tzinfo=datetime.UTC).timestamp() * 1000)
        offer = valid("capacity_offers", PLANNER, available_from=start, available_to=start + 3_600_000,
                      vehicle_id=f"van-{month}")
        producer.produce(plan, wire.encode(offer, "CapacityOffer"), timestamp=start)
    assert producer.flush(30) == 0 and not failed, failed
    run = subprocess.run([sys.executable, "-m", "lastmile.cli", "run", "--bounded"], env=env,
                         capture_output=True, text=True, timeout=900)
    return json.loads(truth_path.read_text()), poison, run


def test_the_job_ends_normally_despite_the_poison(poisoned):
    _truth, _poison, run = poisoned
    assert run.returncode == 0, run.stderr[-3000:]


def test_every_poison_record_is_a_dead_letter_with_its_reason_and_source(poisoned, ch):
    _truth, poison, _run = poisoned
    rows = ch.query("SELECT source, reason, length(payload), message FROM dead_letters FINAL "
                    "WHERE partner_id = {p:String} OR startsWith(source, {topic:String}) ORDER BY source",
                    parameters={"p": EVIL, "topic": f"partners.{EVIL}."}).result_rows
    by_topic: dict[str, list[str]] = {}
    for source, reason, _size, _message in rows:
        by_topic.setdefault(source.rsplit("/", 2)[0], []).append(reason)
    expected: dict[str, list[str]] = {}
    for stream, _value, reason in poison:
        expected.setdefault(topics.partner_topic(EVIL, stream), []).append(reason)
    assert {t: sorted(r) for t, r in by_topic.items()} == {t: sorted(r) for t, r in expected.items()}
    whole = _poison()[0][1]
    cut = [r for r in rows if f"of {len(whole)} bytes" in r[3]]
    assert len(cut) == 1 and cut[0][2] == MAX_DEAD_LETTER_PAYLOAD  # the payload cut to the limit ...
    assert hashlib.sha256(whole).hexdigest() in cut[0][3]  # ... and the digest of the whole in the message


def test_other_partners_results_are_unaffected(poisoned, ch):
    truth, _poison, _run = poisoned
    found = ch.query("SELECT partner_a, shipment_a, partner_b, shipment_b FROM colocations FINAL "
                     f"WHERE startsWith(partner_a, '{PREFIX}') OR startsWith(partner_b, '{PREFIX}')").result_rows
    assert len(found) == len(set(found))
    assert set(found) == {tuple(p) for p in truth["colocations"]}
    assert len(found) > 10


def test_a_standing_plan_of_offers_over_ten_years_is_written(poisoned, ch):
    rows = ch.query("SELECT count(), uniqExact(toYYYYMM(available_from)) FROM capacity_offers FINAL "
                    "WHERE partner_id = {p:String}", parameters={"p": PLANNER}).result_rows
    assert rows == [(120, 120)]
