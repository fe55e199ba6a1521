"""The simulator producing through the partner SDK to the real broker."""
import json
import subprocess
import sys

from kafkatools import read_topic

from lastmile import topics
from lastmile.simulator.plan import SimConfig
from udfs.contracts import wire
from udfs.contracts.errors import ContractViolation


def test_simulate_to_kafka_puts_every_event_on_its_partner_topic(stack, stack_env, tmp_path):
    truth = tmp_path / "truth.json"
    result = subprocess.run([sys.executable, "-m", "lastmile.cli", "simulate", "--partners", "3", "--tasks-per-day",
                             "300", "--seed", "21", "--events", "6000", "--truth", str(truth), "--json"],
                            env=stack_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["events"] == 6000
    partners = SimConfig(partners=3).partner_ids()
    counts = {}
    decodable = undecodable = 0
    for stream in topics.STREAMS:
        for partner in partners:
            records = read_topic(stack.kafka_bootstrap, topics.partner_topic(partner, stream))
            counts[stream] = counts.get(stream, 0) + len(records)
            for *_, value in records:
                try:
                    wire.decode(value)
                    decodable += 1
                except ContractViolation:
                    undecodable += 1
    assert counts == {s: summary["per_stream"].get(s, 0) for s in topics.STREAMS}
    garbage = summary["malformed"].get("garbage", 0)
    assert (decodable, undecodable) == (6000 - garbage, garbage)
    assert json.loads(truth.read_text())["summary"] == {k: v for k, v in summary.items()
                                                         if k not in ("seconds", "events_per_s", "target")}
