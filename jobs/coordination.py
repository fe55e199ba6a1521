"""The coordination job: all partner streams in; co-locations, ETAs and consolidation proposals out.

    raw Kafka records ──► Intake (decode, validate; ─► ClickHouse rows, dead letters)
                            │ tasks, statuses        │ positions                    │ capacity offers
                            ▼                        ▼                              │
                          Registry  partner:shipment   Tracker  partner:vehicle      │
                            │ (versions, lateness,     │ segments                    │
                            │  task x status join)     ▼                             │
                            │          stops ──┐     Profiles  district ─ speeds ─┐  │
                            │ add/remove       ▼                     (broadcast)  ▼  │
                            ▼                 Eta  partner:vehicle ◄─ positions ─────┤ ─► EtaUpdate
                          Matcher  index cell ─► matches / retractions              │
                            │ links of matched deliveries                           ▼ (broadcast)
                            ▼                                                       │
                          Consolidator  neighbourhood ◄─────────────────────────────┘ ─► ConsolidationProposal
    ClickHouse writer ◄── rows of every stage    Kafka writer ◄── records for coordination.*, inboxes, dead letters

Why this shape (costs measured on these machines are in shared/notes/platform.md):
every record crosses into Python once, in one fat Intake operator that decodes,
validates and writes the three high-volume streams straight to the ClickHouse
writer (chained, no shuffle). Delivery tasks and the statuses that
move shipments on and off vans go through the per-shipment Registry. Border replication sends a task to its home cell plus
only the neighbours its radius reaches (about 1.5 on average at 150 m), not to
a 7-cell ring, and a probe reads one key's state.
"""
from __future__ import annotations

import pathlib
import time

from lastmile import topics
from lastmile.config import Config
from udfs.colocation import resolution_for_radius
from udfs.rows import COLUMNS

SOURCE_PATTERN = topics.stream_pattern(*topics.STREAMS)


def build(env, sources: dict, sinks: dict, config: Config):
    """Wire the job. ``sources["partner_events"]``: ``Row(payload latin-1, topic, partition, offset, ...)``
    with event-time timestamps and watermarks (see jobs.runtime.kafka_raw_source);
    ``sinks["clickhouse"]`` takes ``(table, row)``, ``sinks["kafka"]`` takes ``(topic, key, value)``."""
    from pyflink.common import Types

    from udfs.flink import consolidation, eta
    from udfs.flink.coordination import (GROUPS, KAFKA, OFFERS, POSITIONS, ROWS, STOPS, Intake, Matcher, Registry,
                                         ToSideOutputs)

    radius = config.colocation_radius_m
    lateness_ms = int(config.allowed_lateness_s * 1000)
    pickled = Types.PICKLED_BYTE_ARRAY()
    string, long = Types.STRING(), Types.LONG()

    intake = (sources["partner_events"]
              .process(Intake(), output_type=pickled)
              .name("intake: decode + validate").uid("intake"))
    registry = (intake.key_by(lambda v: f"{v[0]['partner_id']}:{v[0]['shipment_id']}", key_type=string)
                .process(Registry(radius, resolution_for_radius(radius), lateness_ms), output_type=pickled)
                .name("registry: versions and deliveries per shipment").uid("registry"))
    matcher = (registry.key_by(lambda m: m.cell, key_type=long)
               .process(Matcher(radius, lateness_ms), output_type=pickled)
               .name("matcher: co-locations per H3 cell").uid("matcher"))

    positions = intake.get_side_output(POSITIONS)
    speeds = (positions.key_by(lambda p: p[0], key_type=string)
              .process(eta.Tracker(), output_type=pickled).name("tracker: segments per vehicle").uid("tracker")
              .key_by(lambda s: s[0], key_type=long)
              .process(eta.Profiles(), output_type=pickled).name("profiles: speeds per district").uid("profiles"))
    etas = (positions.union(registry.get_side_output(STOPS))
            .key_by(lambda v: v[0], key_type=string)
            .connect(speeds.broadcast(eta.SPEEDS))
            .process(eta.Eta(), output_type=pickled).name("eta: routes per vehicle").uid("eta")
            .process(ToSideOutputs(), output_type=pickled).name("eta outputs").uid("eta-outputs"))
    proposals = (matcher.get_side_output(GROUPS).key_by(lambda g: g[1], key_type=long)
                 .connect(intake.get_side_output(OFFERS).broadcast(consolidation.OFFERS))
                 .process(consolidation.Consolidator(), output_type=pickled)
                 .name("consolidator: proposals per neighbourhood").uid("consolidator")
                 .process(ToSideOutputs(), output_type=pickled).name("proposal outputs").uid("proposal-outputs"))

    stages = (intake, registry, matcher, etas, proposals)
    rows = stages[0].get_side_output(ROWS).union(*(s.get_side_output(ROWS) for s in stages[1:]))
    messages = stages[0].get_side_output(KAFKA).union(*(s.get_side_output(KAFKA) for s in stages[1:]))
    return sinks["clickhouse"](rows), sinks["kafka"](messages)


def kafka_sources(env, config: Config, bounded: bool) -> dict:
    from jobs.runtime import kafka_raw_source, table_env

    return {"partner_events": kafka_raw_source(table_env(env), config, "partner_events", SOURCE_PATTERN,
                                               "lastmile-coordination", bounded)}


def production_sinks(config: Config) -> dict:
    from pyflink.common import Types

    from jobs.runtime import clickhouse_writer, discard
    from udfs.flink.coordination import KafkaSinkFunction

    def kafka(stream):
        written = (stream.process(KafkaSinkFunction(config), output_type=Types.INT())
                   .name("kafka writer").uid("kafka-writer"))
        return discard(written, "kafka-writes")

    return {"clickhouse": clickhouse_writer(config, COLUMNS), "kafka": kafka}


def latest_checkpoint(home: pathlib.Path) -> pathlib.Path | None:
    """The newest completed checkpoint under ``<home>/checkpoints`` (one with ``_metadata``)."""
    done = sorted((home / "checkpoints").glob("*/chk-*/_metadata"), key=lambda p: p.stat().st_mtime)
    return done[-1].parent if done else None


def run(config: Config, bounded: bool, jobmanager: str | None = None, say=print) -> float:
    """Run on the configured Kafka and ClickHouse; returns seconds taken.

    Unbounded runs checkpoint every ``checkpoint_interval_s`` to ``<home>/checkpoints``
    and resume from the latest completed checkpoint there.
    """
    from jobs.runtime import stream_env
    from lastmile.clickhouse import http_client

    # Fail before starting Flink, in one line, when an endpoint is unreachable.
    topics.ensure_topics(config, list(topics.COORDINATION_TOPICS))
    http_client(config).close()
    extra = {}
    if not bounded:
        checkpoints = config.home / "checkpoints"
        checkpoints.mkdir(parents=True, exist_ok=True)
        extra = {"execution.checkpointing.interval": f"{int(config.checkpoint_interval_s * 1000)} ms",
                 "execution.checkpointing.dir": checkpoints.as_uri(),
                 "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"}
        resume = latest_checkpoint(config.home)
        if resume is not None:
            extra["execution.state-recovery.path"] = resume.as_uri()
            say(f"resuming from checkpoint {resume}")
    if jobmanager:
        host, _, port = jobmanager.rpartition(":")
        extra.update({"execution.target": "remote", "rest.address": host, "rest.port": port})
    env = stream_env(config, extra=extra)
    build(env, kafka_sources(env, config, bounded), production_sinks(config), config)
    started = time.monotonic()
    env.execute("lastmile-coordination")
    return time.monotonic() - started


def summary(config: Config) -> dict:
    """What the tables hold now: co-locations (current), by partner pair, and dead letters by reason."""
    from lastmile.clickhouse import http_client

    client = http_client(config)
    q = lambda sql: client.query(sql).result_rows  # noqa: E731
    total, same, mean_m = q("SELECT count(), countIf(same_recipient), round(avg(distance_m), 1) "
                            "FROM colocations_current")[0]
    return {
        "colocations": total, "same_recipient": same, "mean_distance_m": mean_m,
        "by_partner_pair": {f"{a} + {b}": n for a, b, n in q(
            "SELECT partner_a, partner_b, count() AS n FROM colocations_current GROUP BY partner_a, partner_b "
            "ORDER BY n DESC LIMIT 10")},
        "accepted": {t: q(f"SELECT count() FROM {t} FINAL")[0][0]
                     for t in ("delivery_tasks", "shipment_status", "vehicle_positions", "capacity_offers")},
        "dead_letters": {f"{stage}/{reason}": n for stage, reason, n in q(
            "SELECT stage, reason, count() AS n FROM dead_letters FINAL GROUP BY stage, reason ORDER BY n DESC")},
        "eta": dict(zip(("updates", "shipments", "vehicles"), q(
            "SELECT count(), uniqExact(partner_id, shipment_id), uniqExact(partner_id, vehicle_id) "
            "FROM eta_predictions FINAL")[0])),
        "proposals": dict(zip(("proposals", "deliveries", "km_separate", "km_saved"), q(
            "SELECT count(), sum(length(shipments)), round(sum(km_separate), 1), round(sum(km_saved), 1) "
            "FROM consolidation_proposals FINAL")[0])),
    }


def print_summary(result: dict, seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]coordination job[/bold] finished in {seconds:.1f} s: {result['colocations']:,} "
                  f"co-located pairs ({result['same_recipient']:,} same recipient, mean "
                  f"{result['mean_distance_m'] or 0} m apart)")
    table = Table(title="co-locations by partner pair (top 10)")
    table.add_column("partners")
    table.add_column("pairs", justify="right")
    for pair, n in result["by_partner_pair"].items():
        table.add_row(pair, f"{n:,}")
    console.print(table)
    eta, proposals = result["eta"], result["proposals"]
    console.print(f"ETA updates: {eta['updates']:,} for {eta['shipments']:,} shipments on {eta['vehicles']:,} vans")
    console.print(f"consolidation proposals: {proposals['proposals']:,} covering {proposals['deliveries'] or 0:,} "
                  f"deliveries, {proposals['km_saved'] or 0:,} km saved of {proposals['km_separate'] or 0:,} km "
                  f"driven separately to them")
    console.print("accepted events: " + ", ".join(f"{t} {n:,}" for t, n in result["accepted"].items()))
    console.print("dead letters: " + (", ".join(f"{r} {n:,}" for r, n in result["dead_letters"].items()) or "none"))
