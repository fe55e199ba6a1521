"""Faults while the coordination job runs, on a stack of its own (tests/faults): ClickHouse killed
and restarted, the Kafka broker killed and restarted, the job's whole process group killed with
SIGKILL and started again. After each: every record of the partner topics is accounted for (its
event in its table, or a dead letter with its source), nothing is doubled (through FINAL), the
co-located pairs equal the simulator's truth exactly, and every pair reached
``coordination.colocations`` (at least once: its key is the match id).

Each test simulates its own city (a partner prefix and a day of its own) into its own ClickHouse
database, so one test's results cannot pass for another's.
"""
import json
import os
import subprocess
import sys
import time

import pytest
from faults import FaultStack, Job, wait_for
from kafkatools import read_topic

from lastmile import migrations, topics
from lastmile.clickhouse import http_client
from udfs.contracts import wire
from udfs.contracts.errors import ContractViolation

TABLES = {"delivery_tasks": "delivery_tasks", "shipment_status": "shipment_status",
          "vehicle_positions": "vehicle_positions", "capacity_offers": "capacity_offers"}
DOWN_S = 30  # how long a component stays down
# The workload of each city; CI runs 40k events, `FAULTS_EVENTS=1000000 FAULTS_RATE=20000` the full scale.
EVENTS = int(os.environ.get("FAULTS_EVENTS", "40000"))
RATE = int(os.environ.get("FAULTS_RATE", "4000"))  # events/s of the live city of the SIGKILL test


@pytest.fixture(scope="module")
def fault_stack(stack, tmp_path_factory):  # `stack` first: its fixture fetched the jars once
    own = FaultStack(tmp_path_factory.mktemp("faults") / "home", stack.cache)
    own.down()
    own.up()
    yield own
    own.down()


class City:
    """A simulated city of its own partner prefix, read into its own database."""

    def __init__(self, stack: FaultStack, tmp_path, name: str, day: str, rate: int | None = None):
        self.prefix = f"{name}-"
        self.config = stack.config.with_overrides(clickhouse_database=f"faults_{name.replace('-', '_')}")
        migrations.apply(self.config)
        self.env = {**stack.env, "LASTMILE_CLICKHOUSE_DATABASE": self.config.clickhouse_database}
        self.truth_path = tmp_path / f"{name}-truth.json"
        self.tmp_path = tmp_path
        args = [sys.executable, "-m", "lastmile.cli", "simulate", "--partners", "3", "--partner-prefix", self.prefix,
                "--tasks-per-day", str(max(1500, EVENTS // 25)), "--events", str(EVENTS), "--start", day, "--seed", "3",
                "--truth", str(self.truth_path)]
        self.simulator = subprocess.Popen(args + (["--rate", str(rate)] if rate else []), env=self.env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if rate is None:
            self.simulated()

    def simulated(self) -> None:
        _, err = self.simulator.communicate(timeout=300)
        assert self.simulator.returncode == 0, err

    def job(self, *args: str, name: str = "job", **kwargs) -> Job:
        return Job.start(self.env, self.tmp_path / f"{name}.log", "run", *args, **kwargs)

    def client(self):
        return http_client(self.config)

    def rows_landed(self) -> bool:
        return self.client().query("SELECT count() FROM vehicle_positions").result_rows[0][0] > 0

    def unaccounted(self) -> list[str]:
        """Records of the city's partner topics that are neither in their table nor a dead letter."""
        ch = self.client()
        names = [t for t in topics_now(self.config)
                 if t.startswith(f"partners.{self.prefix}") and t.rsplit(".", 1)[1] in TABLES]
        dead = {s for (s,) in ch.query("SELECT source FROM dead_letters WHERE startsWith(source, {p:String})",
                                       parameters={"p": f"partners.{self.prefix}"}).result_rows}
        ids = {stream: {str(e) for (e,) in ch.query(f"SELECT DISTINCT event_id FROM {table} WHERE startsWith(partner_id, "
                                                "{p:String})", parameters={"p": self.prefix}).result_rows}
               for stream, table in TABLES.items()}
        missing = []
        for topic in names:
            stream = topic.rsplit(".", 1)[1]
            for partition, offset, _key, value in read_topic(self.config.kafka_bootstrap, topic):
                source = f"{topic}/{partition}/{offset}"
                if source in dead:
                    continue
                try:
                    record, _writer = wire.decode(value or b"")
                except ContractViolation:
                    missing.append(source)
                    continue
                if record.get("event_id") not in ids[stream]:
                    missing.append(source)
        return missing

    def check(self) -> None:
        """Nothing lost, nothing doubled, the truth exactly, every pair on Kafka."""
        ch = self.client()
        missing = self.unaccounted()
        counts = {t: ch.query(f"SELECT count() FROM {t}").result_rows[0][0] for t in [*TABLES.values(), "dead_letters"]}
        assert missing == [], f"{len(missing)} records lost, e.g. {missing[:5]}; rows now: {counts}"
        for table in TABLES.values():
            total, distinct = ch.query(f"SELECT count(), uniqExact(event_id) FROM {table} FINAL "
                                       "WHERE startsWith(partner_id, {p:String})",
                                       parameters={"p": self.prefix}).result_rows[0]
            assert total == distinct, table
        truth = {tuple(p) for p in json.loads(self.truth_path.read_text())["colocations"]}
        found = ch.query("SELECT partner_a, shipment_a, partner_b, shipment_b, match_id FROM colocations FINAL "
                         "WHERE startsWith(partner_a, {p:String})", parameters={"p": self.prefix}).result_rows
        assert len(found) == len({r[:4] for r in found})
        assert {r[:4] for r in found} == truth and len(truth) > 20
        on_kafka = {key.decode() for _p, _o, key, _v in read_topic(self.config.kafka_bootstrap, topics.COLOCATIONS)
                    if key is not None}
        assert {r[4] for r in found} <= on_kafka


def topics_now(config) -> list[str]:
    from confluent_kafka.admin import AdminClient

    return list(AdminClient({"bootstrap.servers": config.kafka_bootstrap}).list_topics(timeout=10).topics)


def test_clickhouse_down_mid_run_holds_the_job_back_and_loses_nothing(fault_stack, tmp_path):
    city = City(fault_stack, tmp_path, "fch", "2025-08-04")
    job = city.job("--bounded")
    wait_for(city.rows_landed, 180, "the first rows in ClickHouse")
    fault_stack.kill("clickhouse")
    time.sleep(DOWN_S)
    assert job.proc.poll() is None, "the job gave up while ClickHouse was down:\n" + job.output()
    fault_stack.restart("clickhouse")
    assert job.wait(600) == 0, job.output()
    city.check()


def test_kafka_restart_mid_run_loses_nothing(fault_stack, tmp_path):
    city = City(fault_stack, tmp_path, "fka", "2025-08-05")
    job = city.job("--bounded")
    wait_for(city.rows_landed, 180, "the first rows in ClickHouse")
    fault_stack.kill("kafka")
    time.sleep(10)
    fault_stack.restart("kafka")
    assert job.wait(600) == 0, job.output()
    city.check()


def test_a_job_killed_with_sigkill_resumes_from_its_checkpoint_and_loses_nothing(fault_stack, tmp_path):
    """The simulator publishes live while the job runs; the job's whole process group is killed
    once a checkpoint has completed, and a new `lastmile run` resumes from it."""
    city = City(fault_stack, tmp_path, "fkill", "2025-08-06", rate=RATE)
    fast = {"LASTMILE_CHECKPOINT_INTERVAL_S": "1"}
    first = city.job(name="first", extra_env=fast)
    checkpoints = fault_stack.config.home / "checkpoints"
    wait_for(lambda: city.rows_landed() and any(checkpoints.glob("*/chk-*/_metadata")), 180,
             "a completed checkpoint and rows in ClickHouse")
    assert first.proc.poll() is None, first.output()
    first.kill()
    second = city.job(name="second", extra_env=fast)
    try:
        city.simulated()
        wait_for(lambda: "resuming from checkpoint" in second.output(), 60, "the restart from the checkpoint")
        wait_for(lambda: not city.unaccounted(), 300, "every record accounted for", every_s=3)
        time.sleep(3)  # a match found from the last records reaches its sinks within a flush interval
    finally:
        second.stop()
    city.check()



@pytest.mark.parametrize("behind", ["stuck", "slow"])
def test_a_partition_stuck_in_the_past_or_replaying_it_does_not_hold_the_other_partners_back(fault_stack, tmp_path,
                                                                                            behind):
    """A partner whose producer keeps sending records stamped at the same old time (stuck),
    or an hour back and advancing at real-time speed (slow), held the watermark, and with it
    every partner's event-time results, back. Here a live partner's van must get ETAs, which
    the job issues only once the watermark passes the van's intervals."""
    from samples import HOUR, valid

    from lastmile.partner import PartnerClient

    config = fault_stack.config.with_overrides(clickhouse_database=f"faults_{behind}")
    migrations.apply(config)
    env = {**fault_stack.env, "LASTMILE_CLICKHOUSE_DATABASE": config.clickhouse_database,
           "LASTMILE_HOME": str(tmp_path / "home"), "LASTMILE_OUT_OF_ORDERNESS_S": "1",
           "LASTMILE_ETA_INTERVAL_S": "5", "LASTMILE_IDLE_TIMEOUT_S": "10"}
    live, stuck = f"f{behind[:2]}-live", f"f{behind[:2]}-{behind}"
    for partner in (live, stuck):
        topics.ensure_partner_topics(config, partner)
    clients = {p: PartnerClient(p, config) for p in (live, stuck)}
    job = Job.start(env, tmp_path / f"{behind}.log", "run")
    client = http_client(config)

    def etas() -> int:
        return client.query("SELECT count() FROM eta_predictions WHERE partner_id = {p:String}",
                            parameters={"p": live}).result_rows[0][0]

    try:
        stuck_at = int(time.time() * 1000) - HOUR
        start = int(time.time() * 1000)
        clients[live].publish("delivery_tasks", valid("delivery_tasks", live, now_ms=start, shipment_id="A-1",
                                                      dest_lat=-34.60, dest_lng=-58.38, window_start=start + HOUR,
                                                      window_end=start + 2 * HOUR))
        clients[live].publish("shipment_status", valid("shipment_status", live, now_ms=start + 1, shipment_id="A-1",
                                                       status="OUT_FOR_DELIVERY", vehicle_id="van-1", stop_sequence=1))
        began, found, step = time.monotonic(), False, 0
        while not found and time.monotonic() - began < 150:
            now, step = int(time.time() * 1000), step + 1
            past = stuck_at if behind == "stuck" else now - HOUR
            clients[stuck].publish("shipment_status", valid("shipment_status", stuck, now_ms=past, status="CREATED"))
            clients[live].publish("shipment_status", valid("shipment_status", live, now_ms=now, shipment_id="B-9",
                                                           status="CREATED"))  # its clock moves on
            clients[live].publish("vehicle_positions", valid("vehicle_positions", live, now_ms=now, vehicle_id="van-1",
                                                             lat=-34.70 + step * 0.0002, lng=-58.38, speed_mps=8.0))
            for c in clients.values():
                c.flush()
            found = etas() > 0
            time.sleep(0.5)
        assert job.proc.poll() is None, job.output()
        assert found, "the live partner's van never got an ETA:\n" + job.output()
    finally:
        job.stop()
