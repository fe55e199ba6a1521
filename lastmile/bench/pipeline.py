"""`lastmile bench`: the coordination job against a naive consumer, on one fixed workload, in one run.

Phases, each on a fresh stack of the benchmark's own (ports 17xxx, home
``$LASTMILE_HOME/bench``), so a developer's stack and the test stack are left alone:

1. **throughput**: the simulator loads the workload (5 partners, the usual stream
   mix) into Kafka; ``lastmile run --bounded`` (every feature on), as a user runs it: in the
   local MiniCluster (one JVM, every stage on the JVM, both cores), from start to the last
   row in ClickHouse; **cluster**: the same on a standalone Flink cluster of two
   TaskManagers (``lastmile cluster up``, ``--jobmanager``). Events/s over the whole run and
   over the steady part (first to last ``ingested_at``), CPU-seconds per 1,000 events and
   the peak RSS of every process (job client, its JVM, Kafka, ClickHouse, the cluster's);
   on the cluster, where the job's time went (:func:`timeline`: the client before the job
   exists, the job until its sources are read, the drain after them, until the client saw
   its end) and the CPU per Flink task.
2. **baseline**: :mod:`lastmile.bench.baseline` reads the same topics into another database;
   its co-locations must equal the job's (checked here: a difference fails the bench). The
   MiniCluster job and the baseline run ``--repeat`` times in turn (default 3), each on a
   freshly started ClickHouse, into a database of its own; the figures are the median run's,
   the speed-up the median of the pairs' ratios.
3. **latency**: a fresh stack, an unbounded ``lastmile run``, then the simulator
   paced live at ``rate`` events/s; for every accepted event, production time (taken
   when it is handed to the producer) to the row's ``ingested_at``, same clock; over
   all events and per table (each stream takes its own path through the job). The
   partners' topics exist before the job starts, as they do once a partner is onboarded.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import pathlib
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from lastmile import versions
from lastmile.bench.procstat import Sampler, TaskSampler, wait_cpu_idle
from lastmile.config import Config, environ_without_settings
from lastmile.errors import LastmileError

BENCH_PORTS = {
    # below the ephemeral range (32768-60999), where client connections take local ports
    "LASTMILE_FLINK_REST": "127.0.0.1:17081",
    "LASTMILE_KAFKA_BOOTSTRAP": "127.0.0.1:17092",
    "LASTMILE_KAFKA_CONTROLLER_PORT": "17093",
    "LASTMILE_CLICKHOUSE_URL": "http://127.0.0.1:17123",
    "LASTMILE_CLICKHOUSE_NATIVE_PORT": "17000",
}
BASELINE_DATABASE = "lastmile_baseline"
DAY_MS = 86_400_000
#: Seconds of the latency phase's warm-up: the simulated day before the measured one, whole,
#: paced at the same rate, before the measured day starts (`lastmile bench --latency-warmup`).
WARMUP_S = 15.0
RAW_TABLES = ("delivery_tasks", "shipment_status", "vehicle_positions", "capacity_offers")
REPO = pathlib.Path(__file__).resolve().parent.parent


class BenchError(LastmileError):
    pass


@dataclasses.dataclass(frozen=True)
class Workload:
    events: int = 300_000
    partners: int = 5
    seed: int = 7
    hotspot_share: float = 0.0  # of the deliveries to one block (lastmile bench --scaling --hotspot-share)

    @property
    def tasks_per_day(self) -> int:
        return max(500, self.events // 20)  # the demo's mix: 5,000 tasks a day for 100,000 events


def bench_env(home: pathlib.Path) -> dict[str, str]:
    env = environ_without_settings()
    env.update(BENCH_PORTS, LASTMILE_HOME=str(home))
    return env


def bench_stack() -> tuple[Config, dict[str, str]]:
    """The benchmarks' own stack (home ``$LASTMILE_HOME/bench``, ports 17xxx): its config and environment."""
    env = bench_env(Config.from_env().home / "bench")
    return Config.from_env(env), env


def load_fresh(config: Config, workload: Workload, say, progress: bool):
    """A fresh bench stack with ``workload`` in its topics: what the simulator loaded, and the
    co-locations it knows to be true (sorted)."""
    _fresh_stack(config)
    say(f"loading {workload.events:,} events into Kafka")
    loaded = _load(config, workload, progress=progress)
    return loaded, sorted(tuple(p) for p in loaded.truth["colocations"])


def header() -> dict:
    """What every benchmark result starts with: the day, the machine, the versions."""
    return {"date": dt.date.today().isoformat(), "machine": machine(), "versions": versions_used()}


def _fresh_stack(config: Config) -> None:
    from lastmile.stack import control

    control.down(config, say=lambda _m: None)
    shutil.rmtree(config.home, ignore_errors=True)
    control.up(config, say=lambda _m: None)


def _stack_pids(config: Config) -> dict[str, int]:
    from lastmile.stack import clickhouse, flink, kafka

    pids = {name: module.process(config).pid() for name, module in (("kafka", kafka), ("clickhouse", clickhouse))}
    for pid_file in (flink.cluster_dir(config) / "run").glob("*.pid"):
        role = "flink taskmanager" if "taskexecutor" in pid_file.name else "flink jobmanager"
        for i, pid in enumerate(int(p) for p in pid_file.read_text().split() if p.isdigit()):
            pids[f"{role} {i + 1}"] = pid
    return {k: v for k, v in pids.items() if v}


def _cancel_jobs(config: Config) -> None:
    """Cancel whatever runs on the bench cluster (an unbounded job outlives its client)."""
    import urllib.request

    from lastmile.stack import flink

    if flink.overview(config) is None:
        return
    for job in flink.rest_json(config, "/jobs")["jobs"]:
        if job["status"] in ("RUNNING", "CREATED", "RESTARTING"):
            urllib.request.urlopen(urllib.request.Request(f"{flink.rest_url(config)}/jobs/{job['id']}?mode=cancel",
                                                          method="PATCH"), timeout=5).close()


def _load(config: Config, workload: Workload, rate: float | None = None, events: int | None = None,
          sink=None, progress: bool = False, days_before: int = 0):
    """``workload``'s simulated day into Kafka (``days_before``: that many days earlier)."""
    from lastmile.simulator.feed import MessConfig
    from lastmile.simulator.plan import SimConfig
    from lastmile.simulator.run import simulate
    from lastmile.simulator.sinks import KafkaSink

    sim = SimConfig(partners=workload.partners, tasks_per_day=workload.tasks_per_day, seed=workload.seed,
                    hotspot_share=workload.hotspot_share, start_ms=SimConfig.start_ms - days_before * DAY_MS)
    return simulate(sim, MessConfig(), sink or KafkaSink(config, sim.ecosystem_key), events=events or workload.events,
                    rate=rate, radius_m=config.colocation_radius_m, progress=progress)


def _lastmile(*args: str) -> list[str]:
    return [sys.executable, "-m", "lastmile.cli", *args]


def _pairs(client) -> list[tuple]:
    return sorted(tuple(r) for r in client.query(
        "SELECT partner_a, shipment_a, partner_b, shipment_b FROM colocations_current").result_rows)


def throughput(config: Config, env: dict, workload: Workload, say, cluster: bool, database: str | None = None) -> dict:
    """``lastmile run --bounded`` on the bench's Flink cluster (``cluster``) or in the MiniCluster,
    into a database of its own."""
    from lastmile import migrations
    from lastmile.clickhouse import http_client

    database = database or ("lastmile" if cluster else "lastmile_minicluster")
    config = config.with_overrides(clickhouse_database=database)
    migrations.apply(config)
    env = {**env, "LASTMILE_CLICKHOUSE_DATABASE": database}
    args = ["run", "--bounded", "--json"] + (["--jobmanager", config.flink_rest] if cluster else [])
    pids = _stack_pids(config)
    wait_cpu_idle(list(pids.values()))
    taskmanagers = [pid for name, pid in pids.items() if name.startswith("flink taskmanager")]
    client_started_ms = time.time() * 1000
    with Sampler(pids) as sampler, TaskSampler(taskmanagers) as tasks:
        out, seconds = _measured(sampler, "job", _lastmile(*args), env, f"lastmile {' '.join(args)}")
    job = finished_job(config) if cluster else None
    records = records_by_task(job) if job else {}
    by_task = tasks.report()
    client = http_client(config)
    first, last = client.query(
        "SELECT min(t), max(t) FROM (" + " UNION ALL ".join(
            f"SELECT toUnixTimestamp64Milli(ingested_at) AS t FROM {t}" for t in RAW_TABLES) + ")").result_rows[0]
    pairs = _pairs(client)
    client.close()
    cpu = sampler.cpu_s()
    where = f"the Flink cluster ({config.flink_taskmanagers} TaskManagers)" if cluster else "the MiniCluster"
    summary = json.loads(out.strip().splitlines()[-1])
    # From the start of `lastmile run` to the last row in ClickHouse: the job's end (its sinks
    # flush at the end of input; on a cluster the JobManager's clock says when, an attached
    # client only notices at its next poll), not the end of the summary queries after that.
    to_last_row = ((job["end-time"] if job else summary["finished_at_ms"]) - client_started_ms) / 1000
    say(f"throughput on {where}: {workload.events:,} events in {to_last_row:.1f} s ({seconds:.1f} s with the summary)")
    return {"where": where, "seconds": round(to_last_row, 2), "process_seconds": round(seconds, 2),
            "events_per_s": round(workload.events / to_last_row),
            "steady_events_per_s": round(workload.events / max((last - first) / 1000, 1e-3)),
            "cpu_s": round(cpu, 1), "cpu_s_per_1000_events": round(cpu / workload.events * 1000, 3),
            "processes": sampler.report(), "taskmanager_cpu_s_by_task": by_task,
            "taskmanager_tasks": _per_record(by_task, records),
            "timeline": timeline(job, client_started_ms, summary["finished_at_ms"]) if job else None,
            "job_summary": summary,
            "colocations": len(pairs), "_pairs": pairs}


def _restart_clickhouse(config: Config) -> None:
    """A fresh ClickHouse server for each measured run. Measured: the server gets slower with
    each run of the naive consumer it has served, even with every database of the runs before
    dropped (its ClickHouse CPU for the same 300k events 13.1-13.4 s on a fresh server, 16.9-17.3 s
    on the second run), so without a restart each round of the naive consumer ran slower than the
    one before while the job's did not."""
    from lastmile.stack import clickhouse

    clickhouse.process(config).stop()
    clickhouse.start(config)
    clickhouse.wait_healthy(config)


def _drop_database(config: Config, database: str) -> None:
    """Drop a finished phase's database: ClickHouse would otherwise go on merging its parts
    (the naive consumer's inserts of 1,000 rows make many) while the next phase runs, and
    each run after the first would pay for the ones before it."""
    from lastmile.clickhouse import http_client

    client = http_client(config, database=None)
    try:
        client.command(f"DROP DATABASE IF EXISTS `{database}` SYNC")
    finally:
        client.close()


def _median_run(runs: list[dict]) -> dict:
    """The run of median events/s (the lower middle one of an even count), whole: its processes
    and figures belong together."""
    ranked = sorted(runs, key=lambda r: r["events_per_s"])
    return ranked[(len(ranked) - 1) // 2]


def finished_job(config: Config) -> dict | None:
    """The Flink REST details (``/jobs/<id>``) of the newest finished job on the cluster."""
    from lastmile.stack import flink

    finished = [j for j in flink.rest_json(config, "/jobs/overview")["jobs"] if j["state"] == "FINISHED"]
    if not finished:
        return None
    return flink.rest_json(config, f"/jobs/{max(finished, key=lambda j: j['end-time'])['jid']}")


def records_by_task(job: dict) -> dict[str, dict[str, int]]:
    """Records each task of ``job`` (:func:`finished_job`) read and wrote, by task name: what
    the CPU per task is divided by."""
    return {v["name"]: {"read": v["metrics"]["read-records"], "written": v["metrics"]["write-records"]}
            for v in job["vertices"]}


def timeline(job: dict, client_started_ms: float, client_ended_ms: float) -> dict[str, float]:
    """Where a bounded run's seconds went, from ``job`` (:func:`finished_job`), the client's
    start and when it saw the job end (epoch ms, this machine's clock, like Flink's):

    ``before_job_s``   `lastmile run` until the job exists (its start, planning in its PyFlink
                       JVM, the job graph's upload): a fixed cost per run;
    ``sources_s``      the job's start until its last source task has read its end offsets;
    ``drain_s``        from there until the job ends: what the operators still had to do
                       (backlog behind the sources, and the final watermark's timers);
    ``after_job_s``    the job's end until the client saw it (an attached client polls).
    """
    start, end = job["start-time"], job["end-time"]
    sources = [v["end-time"] for v in job["vertices"] if v["name"].startswith("Source:") and v["end-time"] > 0]
    sources_end = max(sources) if sources else end
    return {"before_job_s": round((start - client_started_ms) / 1000, 2),
            "sources_s": round((sources_end - start) / 1000, 2),
            "drain_s": round((end - sources_end) / 1000, 2),
            "after_job_s": round((client_ended_ms - end) / 1000, 2)}


def _per_record(cpu_by_task: dict[str, float], records: dict[str, dict[str, int]]) -> dict[str, dict]:
    """CPU per task with the records it read (a source: wrote) and µs of CPU per record."""
    out = {}
    for name, cpu in cpu_by_task.items():
        counts = records.get(name) or next((c for n, c in records.items() if n.startswith(name)), None)
        n = (counts["read"] or counts["written"]) if counts else 0
        out[name] = {"cpu_s": cpu, "records": n, "us_per_record": round(cpu / n * 1e6, 1) if n else None}
    return out


def _measured(sampler: Sampler, label: str, argv: list[str], env: dict, what: str) -> tuple[str, float]:
    """Run ``argv`` to its end with its processes sampled under ``label``: (stdout, seconds)."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler.add_root(label, proc.pid)
    out, err = proc.communicate()
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise BenchError(f"{what} failed (exit {proc.returncode}): {(err or out).strip()[-400:]}")
    return out, seconds


def baseline(config: Config, env: dict, workload: Workload, say, database: str = BASELINE_DATABASE) -> dict:
    from lastmile import migrations

    migrations.apply(config.with_overrides(clickhouse_database=database))
    pids = _stack_pids(config)
    wait_cpu_idle(list(pids.values()))
    with tempfile.TemporaryDirectory() as tmp, Sampler(pids) as sampler:
        out = pathlib.Path(tmp) / "baseline.json"
        _, seconds = _measured(sampler, "baseline", [sys.executable, "-m", "lastmile.bench.baseline", "--out", str(out)],
                               {**env, "LASTMILE_CLICKHOUSE_DATABASE": database}, "the naive baseline")
        result = json.loads(out.read_text())
    cpu = sampler.cpu_s()
    say(f"baseline: {result['events']:,} events in {seconds:.1f} s")
    return {"seconds": round(seconds, 2), "events_per_s": round(result["events"] / seconds),
            "cpu_s": round(cpu, 1), "cpu_s_per_1000_events": round(cpu / result["events"] * 1000, 3),
            "processes": sampler.report(), "accepted": result["accepted"], "rejected": result["rejected"],
            "colocations": len(result["pairs"]), "_pairs": [tuple(p) for p in result["pairs"]]}


class _TimedSink:
    """The simulator's Kafka sink, noting when each accepted event is handed to the producer."""

    def __init__(self, inner):
        self.inner, self.produced = inner, {}

    def write(self, event):
        if event.malformed is None:
            self.produced[event.record["event_id"]] = time.time() * 1000
        return self.inner.write(event)

    def close(self):
        self.inner.close()


def latency(config: Config, env: dict, workload: Workload, rate: float, seconds: float, say,
            warmup_s: float = WARMUP_S) -> dict:
    """Event-to-ClickHouse latency of a live job fed at ``rate`` for ``seconds``.

    A live job has been running for a while when a day starts: its JVMs have compiled their hot
    code, its speeds are learned and yesterday's windows are closing. So, with ``warmup_s``, the
    job first takes in the whole simulated day before the measured one (another seed, as many
    events as ``warmup_s`` at ``rate``), paced at ``rate``, and is caught up with it before the
    measured day (the workload's, as without a warm-up) starts; only that day's events are
    measured. ``warmup_s=0`` measures a job that has just started: on 2 cores the events of
    the day's first ~17 s, when a cold job takes in the whole day's tasks, then made most of
    the p99 (BENCHMARKS.md, "Eleventh round").
    """
    from lastmile import topics
    from lastmile.clickhouse import http_client
    from lastmile.partner import PartnerClient
    from lastmile.simulator.plan import SimConfig
    from lastmile.simulator.sinks import KafkaSink
    from lastmile.stack import flink

    _fresh_stack(config)
    # The partners are onboarded (their topics exist) before the job starts, as in a live
    # deployment: a topic created later is found by the job's next partition discovery
    # (up to its interval), a one-off wait per new partner that is not the stream's latency.
    for partner in SimConfig(partners=workload.partners).partner_ids():
        topics.ensure_partner_topics(config, partner)
    flink.up(config, say=lambda _m: None)
    client = http_client(config)
    job = subprocess.Popen(_lastmile("run", "--jobmanager", config.flink_rest), env=env, cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        # Wait until the job is running: a probe position (at the feed's start, so it moves
        # no watermark past the feed) must come through.
        probe = PartnerClient("bench-probe", config)
        first_day_ms = SimConfig.start_ms - (DAY_MS if warmup_s else 0)
        deadline = time.monotonic() + 180
        while not client.query("SELECT count() FROM vehicle_positions WHERE partner_id = 'bench-probe'").result_rows[0][0]:
            if job.poll() is not None:
                raise BenchError(f"lastmile run exited ({job.returncode}): {job.stderr.read().strip()[-400:]}")
            if time.monotonic() > deadline:
                raise BenchError("the job did not take in a probe event within 180 s")
            probe.publish("vehicle_positions", {
                "event_id": str(uuid.uuid4()), "partner_id": "bench-probe", "vehicle_id": "probe",
                "event_time": first_day_ms, "lat": 52.52, "lng": 13.40, "speed_mps": None,
                "load_volume_l": None, "capacity_volume_l": None})
            probe.flush()
            time.sleep(1.0)
        warmup_events = int(rate * warmup_s)
        if warmup_events:
            say(f"latency: warm-up, the day before ({warmup_events:,} events) paced at {rate:,.0f}/s")
            warmup = dataclasses.replace(workload, events=warmup_events, seed=workload.seed + 1)
            _load(config, warmup, rate=rate, events=warmup_events, days_before=1)
            _until_stable(client, 3.0)
        sink = _TimedSink(KafkaSink(config, SimConfig.ecosystem_key))
        events = int(rate * seconds)
        say(f"latency: {events:,} events paced at {rate:,.0f}/s")
        _load(config, workload, rate=rate, events=events, sink=sink)
        arrived = _until_stable(client, 10.0)
    finally:
        _cancel_jobs(config)
        os.killpg(job.pid, signal.SIGTERM)
        job.wait(60)
        client.close()
    by_table: dict[str, list[float]] = {}
    for event_id, produced in sink.produced.items():
        if event_id in arrived:
            ingested, table = arrived[event_id]
            by_table.setdefault(table, []).append(ingested - produced)
    waits = [w for table_waits in by_table.values() for w in table_waits]
    if not waits:
        raise BenchError("no paced event reached ClickHouse")
    return {"rate": rate, "events": events, "warmup_events": warmup_events, **latency_quantiles(waits),
            "by_table": {table: latency_quantiles(w) for table, w in sorted(by_table.items())}}


def _until_stable(client, quiet_s: float) -> dict[str, tuple[int, str]]:
    """Wait until no raw row has arrived for ``quiet_s``: event_id -> (ingested_at ms, table) of them all."""
    arrived: dict[str, tuple[int, str]] = {}
    stable_since, previous = time.monotonic(), -1
    while time.monotonic() - stable_since < quiet_s:
        time.sleep(1.0)
        rows = client.query(" UNION ALL ".join(
            f"SELECT event_id, toUnixTimestamp64Milli(ingested_at), '{t}' FROM {t} WHERE partner_id != 'bench-probe'"
            for t in RAW_TABLES)).result_rows
        arrived = {str(e): (t, table) for e, t, table in rows}
        if len(arrived) != previous:
            previous, stable_since = len(arrived), time.monotonic()
    return arrived


def latency_quantiles(waits: list[float]) -> dict:
    """p50/p95/p99 and the maximum of ``waits`` (ms), and how many there were."""
    waits = sorted(waits)
    q = statistics.quantiles(waits, n=100, method="inclusive") if len(waits) > 1 else [waits[0]] * 99
    return {"measured": len(waits), "p50_latency_ms": round(q[49]), "p95_latency_ms": round(q[94]),
            "p99_latency_ms": round(q[98]), "max_latency_ms": round(waits[-1])}


PHASES = ("throughput", "cluster", "baseline", "latency")


def _job_rss(phase: dict) -> float:
    """MiB: the peaks of every process of the job (its client, the JVM it started, the cluster's) added up."""
    return round(sum(p["peak_rss_mib"] for name, p in phase["processes"].items() if name.startswith(("job", "flink"))),
                 1)


def run(events: int, rate: float, latency_s: float = 60.0, phases=PHASES,
        say=print, progress: bool = True, repeat: int = 1, warmup_s: float = WARMUP_S) -> dict:
    """Every phase in ``phases`` on a fresh stack; the figures ``lastmile bench --json`` prints.

    ``repeat``: the MiniCluster job and the naive consumer run that many times in turn on the
    same loaded workload; each figure is the median run's and the speed-up the median of the
    pairs' ratios (one run of each moved the ratio by a third between runs on these machines).
    """
    config, env = bench_stack()
    workload = Workload(events=events)
    result: dict = {**header(), "workload": dataclasses.asdict(workload)}
    try:
        if {"throughput", "cluster", "baseline"} & set(phases):
            loaded, truth = load_fresh(config, workload, say, progress)
            result["workload"]["per_stream"] = dict(loaded.per_stream)
        pairs_of_runs = []
        for i in range(repeat):
            # The job and the naive consumer in turn, each into a database of its own per round:
            # the machine's speed drifts from minute to minute, so the ratio is taken pair by pair.
            suffix = f"_{i + 1}" if repeat > 1 else ""
            run_pair: dict = {}
            if "throughput" in phases:
                _restart_clickhouse(config)
                run_pair["throughput"] = throughput(config, env, workload, say, cluster=False,
                                                    database=f"lastmile_minicluster{suffix}")
                _drop_database(config, f"lastmile_minicluster{suffix}")
            if "baseline" in phases:
                _restart_clickhouse(config)
                run_pair["baseline"] = baseline(config, env, workload, say, database=BASELINE_DATABASE + suffix)
                _drop_database(config, BASELINE_DATABASE + suffix)
            pairs_of_runs.append(run_pair)
        for phase in ("throughput", "baseline"):
            runs = [r[phase] for r in pairs_of_runs if phase in r]
            if runs:
                result[phase] = _median_run(runs)
        if repeat > 1:
            result["repeats"] = [{phase: {k: r[phase][k] for k in ("seconds", "events_per_s", "cpu_s_per_1000_events")}
                                  for phase in r} for r in pairs_of_runs]
        if "throughput" in result:
            result["events_per_s"] = result["throughput"]["events_per_s"]
            result["cpu_s_per_1000_events"] = result["throughput"]["cpu_s_per_1000_events"]
            result["job_peak_rss_mib"] = max(_job_rss(r["throughput"]) for r in pairs_of_runs)
        if "cluster" in phases:
            from lastmile.stack import flink

            flink.up(config, say=lambda _m: None)
            result["cluster"] = throughput(config, env, workload, say, cluster=True)
            result["cluster_events_per_s"] = result["cluster"]["events_per_s"]
            result["cluster_job_peak_rss_mib"] = _job_rss(result["cluster"])
            flink.down(config, say=lambda _m: None)
        if "baseline" in result:
            result["baseline_events_per_s"] = result["baseline"]["events_per_s"]
        jobs = [("cluster", result["cluster"])] if "cluster" in result else []
        jobs += [("throughput", r["throughput"]) for r in pairs_of_runs if "throughput" in r]
        naive_runs = [r["baseline"].pop("_pairs") for r in pairs_of_runs if "baseline" in r]
        for phase, job in jobs:
            pairs = job.pop("_pairs")
            job["colocations_equal_truth"] = pairs == truth
            for naive_pairs in naive_runs:
                if pairs != naive_pairs:
                    only_job, only_naive = set(pairs) - set(naive_pairs), set(naive_pairs) - set(pairs)
                    raise BenchError(f"co-locations differ: {len(only_job)} only in the job ({phase}), "
                                     f"{len(only_naive)} only in the baseline "
                                     f"(e.g. {next(iter(only_job or only_naive))})")
        if "throughput" in result:
            result["throughput"]["colocations_equal_truth"] = all(
                r["throughput"]["colocations_equal_truth"] for r in pairs_of_runs)
        if "throughput" in result and "baseline" in result:
            result["colocations_equal"] = True  # checked above: a difference fails the bench
            result["colocations_equal_truth"] = result["throughput"]["colocations_equal_truth"]
            result["speedup_vs_baseline"] = round(statistics.median(
                r["throughput"]["events_per_s"] / r["baseline"]["events_per_s"] for r in pairs_of_runs), 2)
        if "latency" in phases:
            result["latency"] = latency(config, env, workload, rate, latency_s, say, warmup_s)
            for key in ("p50_latency_ms", "p95_latency_ms", "p99_latency_ms"):
                result[key] = result["latency"][key]
    finally:
        from lastmile.stack import control

        control.down(config, say=lambda _m: None)
    return result


def machine() -> str:
    model = "unknown CPU"
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


def versions_used() -> dict:
    return {"python": platform.python_version(), "flink": versions.FLINK_VERSION,
            "kafka_connector": versions.FLINK_KAFKA_CONNECTOR_VERSION, "kafka": versions.KAFKA_VERSION,
            "clickhouse (chdb-core)": versions.CHDB_CORE_VERSION}


def record(result: dict, path: pathlib.Path, note: str = "") -> None:
    """Append one row to the pipeline table of BENCHMARKS.md (created at the end if missing)."""
    heading = "## Pipeline benchmark (`lastmile bench`)"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if heading not in text:
        text = text.rstrip("\n") + (
            f"\n\n{heading}\n\nOne row per `lastmile bench` run, appended by the command; machine and versions "
            "in each row.\n\n| date | change | events | job events/s (steady) | CPU s / 1k events | job peak RSS MiB "
            "| baseline events/s | x baseline | p50 / p95 / p99 ms at rate | machine, versions |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---|---|\n")
    t, b, lat = result.get("throughput", {}), result.get("baseline", {}), result.get("latency", {})
    v = result["versions"]
    if "repeats" in result:
        ratios = ", ".join(f"{r['throughput']['events_per_s'] / r['baseline']['events_per_s']:.2f}"
                           for r in result["repeats"] if "throughput" in r and "baseline" in r)
        note = f"{note}; medians of {len(result['repeats'])} runs of each in turn (x baseline by pair: {ratios})"
    if "cluster_events_per_s" in result:
        note = f"{note}; on the 2-TaskManager cluster {result['cluster_events_per_s']:,}/s".lstrip("; ")
    row = (f"| {result['date']} | {note} | {result['workload']['events']:,} | "
           f"{t.get('events_per_s', '-'):,} ({t.get('steady_events_per_s', '-'):,}) | "
           f"{t.get('cpu_s_per_1000_events', '-')} | {result.get('job_peak_rss_mib', '-')} | "
           f"{b.get('events_per_s', '-'):,} | {result.get('speedup_vs_baseline', '-')} | "
           + (f"{lat['p50_latency_ms']:,} / {lat['p95_latency_ms']:,} / {lat['p99_latency_ms']:,} at "
              f"{lat['rate']:,.0f}/s" if lat else "-")
           + f" | {result['machine'].split(' (')[0]}, Flink {v['flink']}, Python {v['python']} |\n")
    lines = text.rstrip("\n").split("\n")
    # insert after the last row of the table under the heading
    start = lines.index(heading)
    end = start + 1
    while end < len(lines) and not lines[end].startswith("## "):
        end += 1
    last_row = max((i for i in range(start, end) if lines[i].startswith("|")), default=end - 1)
    lines.insert(last_row + 1, row.rstrip("\n"))
    path.write_text("\n".join(lines) + "\n")


def print_report(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t, c, b, lat = result.get("throughput"), result.get("cluster"), result.get("baseline"), result.get("latency")
    table = Table(title=f"lastmile bench: {result['workload']['events']:,} events, {result['machine']}")
    for col in ("", "events/s", "CPU s / 1k events", "co-locations"):
        table.add_column(col, justify="right")
    for phase in (t, c):
        if phase:
            table.add_row(f"job on {phase['where']}", f"{phase['events_per_s']:,} (steady {phase['steady_events_per_s']:,})",
                          str(phase["cpu_s_per_1000_events"]), f"{phase['colocations']:,}")
    if b:
        table.add_row("naive consumer", f"{b['events_per_s']:,}", str(b["cpu_s_per_1000_events"]),
                      f"{b['colocations']:,}")
    console.print(table)
    for i, r in enumerate(result.get("repeats", []), 1):
        console.print(f"  run {i}: " + ", ".join(f"{name} {r[name]['seconds']:.1f} s ({r[name]['events_per_s']:,}/s)"
                                                 for name in ("throughput", "baseline") if name in r))
    if c and c.get("timeline"):
        tl = c["timeline"]
        console.print(f"the run on the cluster, {c['seconds']:.1f} s: {tl['before_job_s']:.1f} s before the job "
                      f"existed, {tl['sources_s']:.1f} s until the sources were read, {tl['drain_s']:.1f} s of "
                      f"drain, {tl['after_job_s']:.1f} s until the client saw the job end")
    if "colocations_equal" in result:
        console.print(f"co-locations equal: job = baseline {result['colocations_equal']}, job = simulator truth "
                      f"{result['colocations_equal_truth']}; job / baseline = {result['speedup_vs_baseline']}x")
    for name, phase in (("job", t), ("job on the cluster", c), ("baseline", b)):
        if phase:
            procs = Table(title=f"processes during the {name} phase")
            for col in ("process", "CPU s", "peak RSS MiB"):
                procs.add_column(col, justify="right" if col != "process" else "left")
            for proc, figures in sorted(phase["processes"].items()):
                procs.add_row(proc, f"{figures['cpu_s']:.1f}", f"{figures['peak_rss_mib']:.0f}")
            console.print(procs)
    if c and c.get("taskmanager_tasks"):
        tasks = Table(title="the cluster's TaskManager CPU by Flink task")
        for col in ("task", "CPU s", "records in", "µs CPU per record"):
            tasks.add_column(col, justify="right" if col != "task" else "left")
        for name, task in c["taskmanager_tasks"].items():
            per = task["us_per_record"]
            tasks.add_row(name[:100], f"{task['cpu_s']:.1f}", f"{task['records']:,}" if task["records"] else "",
                          f"{per:,.1f}" if per is not None else "")
        console.print(tasks)
    if lat:
        warm = (f", after a warm-up day of {lat['warmup_events']:,} events" if lat.get("warmup_events")
                else ", on a job that has just started")
        console.print(f"latency at {lat['rate']:,.0f} events/s ({lat['measured']:,} events{warm}): p50 "
                      f"{lat['p50_latency_ms']:,} ms, p95 {lat['p95_latency_ms']:,} ms, p99 {lat['p99_latency_ms']:,} ms")
        for table, q in lat.get("by_table", {}).items():
            console.print(f"  {table} ({q['measured']:,}): p50 {q['p50_latency_ms']:,} ms, p95 {q['p95_latency_ms']:,} "
                          f"ms, p99 {q['p99_latency_ms']:,} ms, max {q['max_latency_ms']:,} ms")
