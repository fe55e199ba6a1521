"""The standalone Flink cluster (`lastmile cluster up | status | down`) and the job submitted to it.

A cluster of two TaskManagers on ports of its own; a simulated day under its own partner
prefix and date goes through `lastmile run --bounded --jobmanager` and must give exactly the
simulator's co-locations; `down` leaves no Flink process.
"""
import json
import pathlib
import subprocess
import sys

import pytest
from conftest import TEST_ENV

PREFIX = "cl-"
REST = "127.0.0.1:28081"


def _lastmile(env, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "lastmile.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def cluster_env(stack):
    from tests_env import env_for

    env = {**env_for(stack), "LASTMILE_FLINK_REST": REST}
    up = _lastmile(env, "cluster", "up")
    assert up.returncode == 0, up.stderr[-2000:]
    yield env
    down = _lastmile(env, "cluster", "down")
    assert down.returncode == 0, down.stderr[-2000:]


def _flink_processes(home: str) -> list[str]:
    out = []
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if home in cmd and ("taskexecutor" in cmd.lower() or "StandaloneSession" in cmd):
                out.append(cmd[:120])
    return out


def test_status_shows_two_task_managers(cluster_env):
    status = _lastmile(cluster_env, "cluster", "status", "--json")
    assert status.returncode == 0, status.stderr
    current = json.loads(status.stdout)
    assert current["running"] and current["taskmanagers"] == 2 and current["slots"] == 2


def test_job_on_the_cluster_finds_exactly_the_truth(cluster_env, ch, tmp_path):
    truth_path = tmp_path / "truth.json"
    sim = _lastmile(cluster_env, "simulate", "--partners", "3", "--partner-prefix", PREFIX, "--tasks-per-day", "800",
                    "--start", "2025-07-07", "--seed", "9", "--truth", str(truth_path), "--json", timeout=300)
    assert sim.returncode == 0, sim.stderr
    run = _lastmile(cluster_env, "run", "--bounded", "--jobmanager", REST, "--json", timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    expected = {tuple(p) for p in json.loads(truth_path.read_text())["colocations"]}
    found = ch.query(f"SELECT partner_a, shipment_a, partner_b, shipment_b FROM colocations_current "
                     f"WHERE startsWith(partner_a, '{PREFIX}')").result_rows
    assert set(found) == expected and len(expected) > 10
    positions = ch.query(f"SELECT count() FROM vehicle_positions FINAL WHERE startsWith(partner_id, '{PREFIX}')")
    assert positions.result_rows[0][0] > 1000


def test_down_leaves_no_flink_process(cluster_env):  # last: it stops the module's cluster
    assert _flink_processes(TEST_ENV["LASTMILE_HOME"])
    assert _lastmile(cluster_env, "cluster", "down").returncode == 0
    assert _flink_processes(TEST_ENV["LASTMILE_HOME"]) == []
    status = _lastmile(cluster_env, "cluster", "status", "--json")
    assert status.returncode == 1 and not json.loads(status.stdout)["running"]
