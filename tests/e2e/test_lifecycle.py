"""`lastmile up` / `down` as a user runs them, on a stack of their own (other ports and home)."""
import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest

from lastmile.config import environ_without_settings
from lastmile.stack.process import port_is_free

# Below the kernel's ephemeral range (32768-60999): a port there can be taken at any moment
# as the local end of some other test's client connection, and the squatter below fails.
PORTS = {"kafka": 19092, "controller": 19093, "http": 18123, "native": 19000}


@pytest.fixture
def own_env(tmp_path, stack):  # `stack` first: its fixture fetched the jars once
    env = environ_without_settings()  # not the caller's stack
    env.update({
        "LASTMILE_HOME": str(tmp_path / "home"),
        "LASTMILE_KAFKA_BOOTSTRAP": f"127.0.0.1:{PORTS['kafka']}",
        "LASTMILE_KAFKA_CONTROLLER_PORT": str(PORTS["controller"]),
        "LASTMILE_CLICKHOUSE_URL": f"http://127.0.0.1:{PORTS['http']}",
        "LASTMILE_CLICKHOUSE_NATIVE_PORT": str(PORTS["native"]),
        "LASTMILE_CACHE": str(stack.cache),
    })
    yield env
    subprocess.run([sys.executable, "-m", "lastmile.cli", "down", "--quiet"], env=env, timeout=60)


def lastmile(env, *args, timeout=180):
    return subprocess.run([sys.executable, "-m", "lastmile.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if text in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(proc.name))
            except OSError:
                continue
    return [pid for pid in found if pid != os.getpid()]


@pytest.mark.parametrize("busy, label", [("kafka", "Kafka broker"), ("http", "ClickHouse HTTP"),
                                         ("native", "ClickHouse native TCP")])
def test_up_with_a_taken_port_fails_fast_with_one_clear_line(own_env, busy, label):
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # earlier tests leave TIME_WAIT behind
        squatter.bind(("127.0.0.1", PORTS[busy]))
        squatter.listen()
        started = time.monotonic()
        result = lastmile(own_env, "up")
        elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert elapsed < 10
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(PORTS[busy]) in lines[0] and label in lines[0]
    assert "Traceback" not in result.stderr
    assert processes_mentioning(own_env["LASTMILE_HOME"]) == []


def test_down_leaves_no_process_and_frees_every_port(own_env):
    up = lastmile(own_env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert len(processes_mentioning(own_env["LASTMILE_HOME"])) >= 2
    assert lastmile(own_env, "status").returncode == 0

    down = lastmile(own_env, "down")
    assert down.returncode == 0, down.stderr
    assert processes_mentioning(own_env["LASTMILE_HOME"]) == []
    assert all(port_is_free("127.0.0.1", port) for port in PORTS.values())
    status = lastmile(own_env, "status")
    assert status.returncode == 1 and "stopped" in status.stdout


def test_data_survives_a_restart(own_env):
    assert lastmile(own_env, "up").returncode == 0
    from lastmile.clickhouse import http_client
    from lastmile.config import Config

    config = Config.from_env(own_env)
    http_client(config).insert("dead_letters", [["restart-check", 0, "file:1", None, "test", "r", "m", b"x"]],
                               column_names=["dead_letter_id", "received_at", "source", "partner_id", "stage",
                                             "reason", "message", "payload"])
    assert lastmile(own_env, "down").returncode == 0
    again = lastmile(own_env, "up")
    assert again.returncode == 0 and "up to date" in again.stdout
    rows = http_client(config).query("SELECT source FROM dead_letters WHERE dead_letter_id = 'restart-check'")
    assert rows.result_rows == [("file:1",)]


def test_unreachable_external_kafka_is_one_line(own_env):
    env = dict(own_env, LASTMILE_KAFKA_BOOTSTRAP="kafka.invalid:9092")  # unresolvable: no traffic leaves
    result = lastmile(env, "up", timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "kafka.invalid:9092" in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_flag_is_a_usage_error_not_a_traceback(own_env):
    result = lastmile(own_env, "simulate", "--events", "zero")
    assert result.returncode == 2
    assert "expected a whole number" in result.stderr and "Traceback" not in result.stderr


def test_a_bounded_run_ends_when_some_streams_or_all_have_no_topic_yet(own_env):
    """A pattern that matches no topic kept the Kafka source waiting for one: a bounded run of a
    stack with no partner yet, or a partner that publishes positions only, never ended. (And a
    run against a database nobody migrated says so in one line.)"""
    import json
    import uuid

    from lastmile.config import Config
    from lastmile.partner import PartnerClient

    assert lastmile(own_env, "up").returncode == 0
    unmigrated = lastmile({**own_env, "LASTMILE_CLICKHOUSE_DATABASE": "never_migrated"}, "run", "--bounded")
    assert unmigrated.returncode != 0 and unmigrated.stderr.strip().count("\n") == 0, unmigrated.stderr[-2000:]
    assert "no database 'never_migrated'" in unmigrated.stderr and "lastmile migrate" in unmigrated.stderr
    first = lastmile(own_env, "run", "--bounded", "--json")
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads(first.stdout.strip().splitlines()[-1])["accepted"]["vehicle_positions"] == 0
    with PartnerClient("solo-van", Config.from_env(own_env)) as client:
        client.publish("vehicle_positions", {
            "event_id": str(uuid.uuid4()), "partner_id": "solo-van", "vehicle_id": "v1",
            "event_time": int(time.time() * 1000), "lat": 52.5, "lng": 13.4, "speed_mps": None,
            "load_volume_l": None, "capacity_volume_l": None})
    second = lastmile(own_env, "run", "--bounded", "--json")
    assert second.returncode == 0, second.stderr[-2000:]
    summary = json.loads(second.stdout.strip().splitlines()[-1])
    assert summary["accepted"]["vehicle_positions"] == 1 and summary["mean_distance_m"] is None
