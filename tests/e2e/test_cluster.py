"""The standalone Flink cluster (`lastmile cluster up | status | down`) and the job submitted to it.

A cluster of two TaskManagers on ports of its own; a simulated day under its own partner
prefix and date goes through `lastmile run --bounded --jobmanager` and must give exactly the
simulator's co-locations; so must a live job that loses a TaskManager to SIGKILL mid-stream,
and one stopped with a savepoint and resumed from it (which also writes nothing twice);
`down` leaves no Flink process.
"""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.request

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


def _city(env, tmp_path, prefix: str, day: str, seed: int) -> set[tuple]:
    truth_path = tmp_path / f"{prefix}truth.json"
    sim = _lastmile(env, "simulate", "--partners", "3", "--partner-prefix", prefix, "--tasks-per-day", "800",
                    "--start", day, "--seed", str(seed), "--truth", str(truth_path), "--json", timeout=300)
    assert sim.returncode == 0, sim.stderr
    return {tuple(p) for p in json.loads(truth_path.read_text())["colocations"]}


def _live_job(env, *extra) -> str:
    """A live (unbounded) job submitted detached; its id."""
    run = _lastmile(env, "run", "--jobmanager", REST, "--detach", "--json", *extra, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])["job_id"]


def _pairs(ch, prefix: str) -> set[tuple]:
    return set(ch.query(f"SELECT partner_a, shipment_a, partner_b, shipment_b FROM colocations_current "
                        f"WHERE startsWith(partner_a, '{prefix}')").result_rows)


def _wait(what: str, check, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s")


def _rest(path: str, method: str = "GET") -> dict:
    with urllib.request.urlopen(urllib.request.Request(f"http://{REST}{path}", method=method), timeout=10) as resp:
        body = resp.read()
    return json.loads(body) if body else {}


def _job_state(job_id: str) -> str:
    return _rest(f"/jobs/{job_id}")["state"]


def _all_tasks_running(job_id: str) -> bool:
    job = _rest(f"/jobs/{job_id}")
    return job["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in job["vertices"])


def _cancel(job_id: str) -> None:
    _rest(f"/jobs/{job_id}?mode=cancel", method="PATCH")
    _wait(f"job {job_id} cancelled", lambda: _job_state(job_id) in ("CANCELED", "FAILED", "FINISHED"), 60)


def _taskmanager_pids() -> list[int]:
    pids = []
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if TEST_ENV["LASTMILE_HOME"] in cmd and "TaskManagerRunner" in cmd:
                pids.append(int(proc.name))
    return pids


@pytest.fixture
def job_env(cluster_env, tmp_path):
    """The job's client with a home of its own (its checkpoints: no other job's to resume from)
    and checkpoints every second."""
    return {**cluster_env, "LASTMILE_HOME": str(tmp_path / "job-home"), "LASTMILE_CHECKPOINT_INTERVAL_S": "1"}


def test_a_live_job_that_loses_a_task_manager_mid_stream_still_finds_exactly_the_truth(job_env, ch, tmp_path):
    expected = _city(job_env, tmp_path, "tk-", "2025-12-01", 21)
    job = _live_job(job_env)
    _wait("the job's first co-locations", lambda: _pairs(ch, "tk-"), 300)
    _wait("a completed checkpoint", lambda: _rest(f"/jobs/{job}/checkpoints")["counts"]["completed"] > 0, 60)
    victim = _taskmanager_pids()[0]
    os.kill(victim, signal.SIGKILL)  # mid-stream: the city is far from done by now or just done
    _wait("the JobManager noticing the lost TaskManager",
          lambda: _rest("/overview")["taskmanagers"] == 1, 120)
    up = _lastmile(job_env | {"LASTMILE_HOME": TEST_ENV["LASTMILE_HOME"]}, "cluster", "up")  # starts the missing one
    assert up.returncode == 0, up.stderr[-2000:]
    assert _rest("/overview")["taskmanagers"] == 2 and victim not in _taskmanager_pids()
    try:
        # the city may be all written before the kill: wait for the restart itself, not only for the truth
        _wait("the job running again, every task of it", lambda: _all_tasks_running(job), 300)
        _wait("the truth's co-locations after the restart", lambda: _pairs(ch, "tk-") == expected, 300)
        assert _all_tasks_running(job) and len(expected) > 10
        restarts = _rest(f"/jobs/{job}/exceptions").get("exceptionHistory", {}).get("entries", [])
        assert restarts, "the job should have restarted after losing a TaskManager"
    finally:
        _cancel(job)


def test_a_job_stopped_with_a_savepoint_resumes_from_it_losing_and_doubling_nothing(job_env, ch, tmp_path):
    ch.command("SYSTEM STOP MERGES colocations")  # duplicates would otherwise be merged away before we look
    try:
        expected = _city(job_env, tmp_path, "sp-", "2025-12-02", 22)
        job = _live_job(job_env)
        _wait("the job's first co-locations", lambda: _pairs(ch, "sp-"), 300)
        stop = _lastmile(job_env, "savepoint", job, "--stop", "--jobmanager", REST, "--json", timeout=300)
        assert stop.returncode == 0, stop.stderr[-3000:]
        savepoint = json.loads(stop.stdout.strip().splitlines()[-1])["savepoint"]
        assert _job_state(job) == "FINISHED"
        # the upgrade: state restored by operator uid, rescaled from parallelism 2 to 1 on the way
        resumed = _live_job(job_env, "--from-savepoint", savepoint, "--parallelism", "1")
        try:
            _wait("the truth's co-locations after the resume", lambda: _pairs(ch, "sp-") == expected, 300)
        finally:
            _cancel(resumed)
        doubled = ch.query("SELECT match_id, version, count() AS n FROM colocations WHERE startsWith(partner_a, 'sp-') "
                           "GROUP BY match_id, version HAVING n > 1").result_rows
        assert doubled == [] and len(expected) > 10
    finally:
        ch.command("SYSTEM START MERGES colocations")


def test_savepoint_and_detach_explain_what_they_need_in_one_line(cluster_env):
    wrong = _lastmile(cluster_env, "savepoint", "not-a-job-id", "--jobmanager", REST)
    assert wrong.returncode != 0 and "32 hex digits" in wrong.stderr and "Traceback" not in wrong.stderr
    unknown = _lastmile(cluster_env, "savepoint", "0" * 32, "--jobmanager", REST)
    assert unknown.returncode != 0 and "Could not find Flink job" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    detached = _lastmile(cluster_env, "run", "--detach")
    assert detached.returncode != 0 and "--jobmanager" in detached.stderr
    missing = _lastmile(cluster_env, "run", "--bounded", "--from-savepoint", "/nonexistent/savepoint")
    assert missing.returncode != 0 and "no savepoint" in missing.stderr and "Traceback" not in missing.stderr


def test_down_leaves_no_flink_process(cluster_env):  # last: it stops the module's cluster
    assert _flink_processes(TEST_ENV["LASTMILE_HOME"])
    assert _lastmile(cluster_env, "cluster", "down").returncode == 0
    assert _flink_processes(TEST_ENV["LASTMILE_HOME"]) == []
    status = _lastmile(cluster_env, "cluster", "status", "--json")
    assert status.returncode == 1 and not json.loads(status.stdout)["running"]
