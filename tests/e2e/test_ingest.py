"""`lastmile ingest` and the partner SDK against the real broker."""
import json
import subprocess
import sys
import time
import uuid
from collections import Counter

from kafkatools import read_topic
from samples import HOUR, valid

from lastmile import topics
from lastmile.partner import PartnerClient
from udfs.contracts import wire

MIN = 60_000


def _mixed_file(path, partner: str, now: int) -> tuple[list[dict], dict[int, str]]:
    """Good lines and one bad line of every kind; returns the good records and {line number: reason}."""
    good = [valid("delivery_tasks", partner=partner, now_ms=now, shipment_id=f"S-{i}") for i in range(25)]
    bad = [
        (b"this is not json", "malformed_json"),
        (b"\xff\xfe\x00 binary", "malformed_json"),
        (b"[]", "not_an_object"),
        (b"", "empty_line"),
        (json.dumps({**valid("delivery_tasks", partner=partner, now_ms=now), "colour": "red"}), "unknown_field"),
        (json.dumps({k: v for k, v in valid("delivery_tasks", partner=partner, now_ms=now).items()
                     if k != "shipment_id"}), "missing_field"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, dest_lat="north")), "wrong_type"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, window_start="10:00")), "bad_timestamp"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, event_id="x")), "invalid_uuid"),
        (json.dumps(valid("delivery_tasks", partner="intruder", now_ms=now)), "partner_mismatch"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, shipment_id=" ")), "empty_id"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, dest_lng=float("nan"))), "not_finite"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, dest_lat=95.0)), "coordinates_out_of_range"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, dest_lat=0.0, dest_lng=0.0)), "null_island"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, weight_kg=-2.0)), "negative_quantity"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, parcel_count=0)), "parcel_count_below_one"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, recipient_key="Main St 1")),
         "invalid_recipient_key"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, event_time=now // 1000)),
         "timestamp_out_of_range"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, window_end=now)), "window_not_ordered"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, window_end=now + 30 * HOUR)),
         "window_too_long"),
        (json.dumps(valid("delivery_tasks", partner=partner, now_ms=now, event_time=now + 20 * MIN)),
         "event_time_in_future"),
    ]
    lines, expected_bad = [], {}
    for i in range(max(len(good), len(bad))):
        if i < len(good):
            lines.append(json.dumps(good[i]).encode())
        if i < len(bad):
            data, reason = bad[i]
            lines.append(data if isinstance(data, bytes) else data.encode())
            expected_bad[len(lines)] = reason
    path.write_bytes(b"\n".join(lines) + b"\n")
    return good, expected_bad


def test_ingest_accepts_every_good_line_and_dead_letters_every_bad_one(stack, stack_env, tmp_path):
    partner = f"ingest-{uuid.uuid4().hex[:6]}"  # a new partner: no topic exists yet
    now = int(time.time() * 1000)
    path = tmp_path / "tasks.jsonl"
    good, expected_bad = _mixed_file(path, partner, now)

    result = subprocess.run([sys.executable, "-m", "lastmile.cli", "ingest", "--partner", partner,
                             "--stream", "delivery_tasks", str(path), "--json"],
                            env=stack_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"accepted": len(good), "rejected": len(expected_bad),
                       "reasons": dict(sorted(Counter(expected_bad.values()).items()))}

    produced = read_topic(stack.kafka_bootstrap, topics.partner_topic(partner, "delivery_tasks"))
    decoded = {}
    for _p, _o, key, value in produced:
        record, writer = wire.decode(value, expected="DeliveryTask")
        assert key.decode() == record["shipment_id"] and writer.name == "DeliveryTask"
        decoded[record["event_id"]] = record
    assert decoded == {r["event_id"]: r for r in good}

    dead = {}
    for _p, _o, _key, value in read_topic(stack.kafka_bootstrap, topics.DEAD_LETTERS):
        record, _ = wire.decode(value, expected="DeadLetter")
        if record["source"].startswith(f"{path}:"):
            dead[int(record["source"].rsplit(":", 1)[1])] = record
    assert {n: d["reason"] for n, d in dead.items()} == expected_bad
    raw_lines = path.read_bytes().split(b"\n")
    for lineno, record in dead.items():
        assert record["payload"] == raw_lines[lineno - 1]
        assert record["partner_id"] == partner and record["stage"].startswith("ingest-")


def test_ingest_from_stdin_and_human_summary(stack, stack_env):
    partner = f"stdin-{uuid.uuid4().hex[:6]}"
    now = int(time.time() * 1000)
    data = "\n".join([json.dumps(valid("vehicle_positions", partner=partner, now_ms=now)), "nope"]) + "\n"
    result = subprocess.run([sys.executable, "-m", "lastmile.cli", "ingest", "--partner", partner,
                             "--stream", "vehicle_positions", "-"], input=data, env=stack_env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "accepted 1, rejected 1" in result.stdout and "malformed_json: 1" in result.stdout
    sources = [wire.decode(v)[0]["source"] for *_, v in read_topic(stack.kafka_bootstrap, topics.DEAD_LETTERS)]
    assert "<stdin>:2" in sources


def test_fatal_errors_are_one_line_with_a_non_zero_exit(stack_env, tmp_path):
    missing = subprocess.run([sys.executable, "-m", "lastmile.cli", "ingest", "--partner", "acme", "--stream",
                              "delivery_tasks", str(tmp_path / "absent.jsonl")], env=stack_env,
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "cannot read" in missing.stderr

    (tmp_path / "one.jsonl").write_text("{}\n")
    env = dict(stack_env, LASTMILE_KAFKA_BOOTSTRAP="127.0.0.1:1")
    unreachable = subprocess.run([sys.executable, "-m", "lastmile.cli", "ingest", "--partner", "acme", "--stream",
                                  "delivery_tasks", str(tmp_path / "one.jsonl")], env=env,
                                 capture_output=True, text=True, timeout=60)
    assert unreachable.returncode == 1 and unreachable.stderr.count("\n") == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in unreachable.stderr and "Traceback" not in unreachable.stderr


def test_partner_sdk_publishes_v1_and_v2_records_that_decode_alike(stack):
    now = int(time.time() * 1000)
    old = PartnerClient("sdk-v1-carrier", stack, ecosystem_key="k")
    new = PartnerClient("sdk-v2-carrier", stack, ecosystem_key="k")
    v1 = valid("delivery_tasks", partner="sdk-v1-carrier", now_ms=now,
               recipient_key=old.recipient_key("Hauptstr. 5, 10115 Berlin"))
    del v1["retailer_id"], v1["service_level"]
    v2 = valid("delivery_tasks", partner="sdk-v2-carrier", now_ms=now,
               recipient_key=new.recipient_key("Hauptstraße 5, 10115 Berlin"))
    with old, new:
        old.publish("delivery_tasks", v1, version=1)
        new.publish("delivery_tasks", v2)
    assert old.delivered == new.delivered == 1
    (_, _, _, raw1), = read_topic(stack.kafka_bootstrap, topics.partner_topic("sdk-v1-carrier", "delivery_tasks"))
    (_, _, _, raw2), = read_topic(stack.kafka_bootstrap, topics.partner_topic("sdk-v2-carrier", "delivery_tasks"))
    r1, w1 = wire.decode(raw1)
    r2, w2 = wire.decode(raw2)
    assert (w1.version, w2.version) == (1, 2)
    assert r1 == {**v1, "retailer_id": None, "service_level": None} and r2 == v2
    assert r1["recipient_key"] == r2["recipient_key"]  # same recipient, two carriers
