"""The coordination job: all partner streams in; co-locations, ETAs and consolidation proposals out.

Every stage runs on the JVM (udfs/jvm, ``io.lastmile.udfs``), wired here:

    positions topics ─► KafkaRows ─► DecodeRecords.Positions ─┬─ rows ─────────────► ClickHouse (chained sink)
                                     (decode, rules, H3, late) ├─ pings ─► PingWindows ─► Tracker ─► Profiles
                                                               │   (per van, eta_interval_s)│      speeds ▼
                                                               │                            └─► Routes (ETAs)
    other partner topics ─► KafkaRows ─► DecodeRecords.Events ─┼─ rows ─────────────► ClickHouse (chained sink)
                                                               ├─ tasks, tracked statuses ─► Registry ─► Matcher
                                                               │                    stops ─► Routes    └─► Consolidator
                                                               ├─ capacity offers (broadcast) ───────────► Consolidator
                                                               └─ refused or late (both) ─► Intake: dead letter with
                                                                  its reason, or accepted after all (joins the above)
    Registry, Matcher, Consolidator, Routes, Intake ─► frames ─► ClickHouse sink, KafkaFrames ─► KafkaSink

Budget (Throughput issue): 20,000 events/s on 2 cores shared with Kafka and ClickHouse
leaves ~100 µs of CPU per event for everything, and one crossing into Python costs 5-30
µs, its work ~3x its plain-Python price (decode + validate alone ran at ~107 µs per event
inside Flink). So no event crosses into Python: the stages are Java ports of the Python
ones (udfs.colocation, udfs.eta, udfs.speed_profiles, udfs.consolidation, udfs.contracts),
held to them by agreement tests (tests/unit/test_jvm_*.py, and tests/flink/test_jvm_stages.py
over a simulated city through both graphs). Measured per stream (µs of TaskManager CPU per
record, BENCHMARKS.md, 300k events):

    stream (share of the simulator's mix)  path                                             µs per record
    vehicle_positions (~75 %)              decode, rules, H3, ClickHouse row; ping window;   ~14 + ~3
                                           per van and interval (~10 pings): Tracker,
                                           Profiles, Routes (~30 per batch)
    shipment_status (~20 %)                decode, rules, ClickHouse row; tracked ones:      ~20 + ~26
                                           Registry, then Routes (stops)
    delivery_tasks (~5 %)                  decode, rules; Registry, ~1.5 Matcher cells,      ~20 + ~26 + ~22
                                           their matches; Consolidator per link message
    capacity_offers (<1 %)                 decode, rules, ClickHouse row; broadcast
    refused / late records (~1 %)          Intake: the reference's decision (Contract.decide)

``LASTMILE_OPERATORS=python`` runs the Python reference instead (udfs/flink: the Intake and
the stateful stages, several times slower), from the same decoded streams.

The ETA path's event-time interval paces more than the ping windows, and makes its results
independent of arrival order: the Registry applies a shipment's tasks and statuses in
event-time order once the watermark passes their interval, a district learns an interval's
segments at its end and publishes them once, versioned by it (each broadcast element is
handled by every ETA instance), and Routes applies what a van received in an interval at one
timer, with the speeds of earlier intervals only. Border replication sends a task to its home
cell plus only the neighbours its radius reaches (about 1.5 on average at 150 m), not to a
7-cell ring. Nothing lives outside Flink's state when a checkpoint completes: pings wait in
the windows' state, every stage's state is keyed state, and every output is written by a
JVM sink that flushes before each checkpoint barrier passes.
"""
from __future__ import annotations

import contextlib
import pathlib
import time

from lastmile import topics
from lastmile.config import Config
from udfs.colocation import resolution_for_radius
from udfs.rows import COLUMNS

POSITIONS_PATTERN = topics.stream_pattern("vehicle_positions")
PARTNER_EVENTS_PATTERN = topics.stream_pattern(*(s for s in topics.STREAMS if s != "vehicle_positions"))


def build(env, sources: dict, sinks: dict, config: Config):
    """Wire the job.

    ``sources["positions"]``, ``sources["partner_events"]``: streams of rows ``(payload, topic,
    partition, offset, ts)`` of the vehicle positions' and the other partner topics, with
    event-time timestamps (``ts``) and watermarks (udfs/jvm ``KafkaRows``).
    ``sinks["rows"]`` takes the decoded partner rows for ClickHouse (udfs/jvm ``TableRow``s of
    ``vehicle_positions``, ``shipment_status``, ``capacity_offers``); ``sinks["outputs"]`` a
    stream of :class:`udfs.records.Outputs` (ClickHouse rows and Kafka messages of the Python
    functions) and the JVM stages' ClickHouse and Kafka frames (udfs/sinks/frames.py);
    ``sinks["columns"]``: table -> ``[(column, ClickHouse type)]``. The stateful stages are
    the JVM's (:func:`jvm_stages`) or, with ``config.operators == "python"``, the Python
    reference (:func:`python_stages`).
    """
    import json

    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    from jobs.runtime import side_output
    from udfs.flink.intake import ACCEPTED_ROW, POSITIONS, Intake
    from udfs.flink.outputs import OUTPUTS

    f = get_gateway().jvm.io.lastmile.udfs.flink
    decode = get_gateway().jvm.io.lastmile.udfs.DecodeRecords
    outputs = f.Outputs.fromJson(json.dumps({"database": config.clickhouse_database, "tables": sinks["columns"]}))
    positions = (f.Stages.decodePositions(sources["positions"]._j_data_stream)
                 .name("decode positions").uid("decode-positions"))
    events = (f.Stages.decodeEvents(sources["partner_events"]._j_data_stream)
              .name("decode tasks, statuses, offers").uid("decode-events"))
    written = [sinks["rows"](op.getSideOutput(decode.ROWS), outputs, name)
               for op, name in ((positions, "positions"), (events, "events"))]
    # What the fast path refused or found late, the Intake decides: a dead letter with its
    # reason, or accepted after all, then it joins what the fast path accepted.
    refused = DataStream(positions.getSideOutput(decode.REFUSED)).union(DataStream(events.getSideOutput(decode.REFUSED)))
    if config.operators == "jvm":
        intake = (f.Stages.intake(refused._j_data_stream, outputs)
                  .name("intake: what the fast path refused").uid("jvm-intake"))
        accepted = DataStream(events).union(DataStream(intake))._j_data_stream
        intake_pings = intake.getSideOutput(get_gateway().jvm.io.lastmile.udfs.Intake.PINGS)
        intake_outputs = [], [intake.getSideOutput(f.Outputs.CLICKHOUSE)], [intake.getSideOutput(f.Outputs.KAFKA)]
    else:  # the Python reference
        intake = (refused.process(Intake(), output_type=ACCEPTED_ROW)
                  .name("intake: what the fast path refused (Python reference)").uid("intake"))
        accepted = DataStream(events).union(intake)._j_data_stream
        intake_pings = f.Stages.intakePings(side_output(intake, POSITIONS)._j_data_stream).name("intake pings")
        intake_outputs = [side_output(intake, OUTPUTS)], [], []
    pings = DataStream(positions).union(DataStream(intake_pings))._j_data_stream
    batches = (f.Stages.pingWindows(pings, int(config.eta_interval_s) * 1000)
               .name("ping windows: a batch per van and interval").uid("ping-windows"))
    stages = jvm_stages if config.operators == "jvm" else python_stages
    python, clickhouse_frames, kafka_frames = (a + b for a, b in zip(intake_outputs, stages(accepted, batches, config,
                                                                                              outputs)))
    return sinks["outputs"](python, clickhouse_frames, kafka_frames), written


def python_stages(accepted, batches, config: Config, _outputs=None):
    """The stateful stages in Python (udfs/flink): the reference the JVM's are held to.

    ``accepted``: (Java) stream of accepted tasks, statuses and offers (udfs.flink.intake.ACCEPTED_ROW);
    ``batches``: (Java) stream of udfs/jvm ``PingBatch``. Returns the streams of their ``Outputs``,
    and no frames.
    """
    from pyflink.common import Types
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    from jobs.runtime import keyed, side_output
    from udfs.flink import consolidation, eta
    from udfs.flink.coordination import BY_NUMBER, BY_TEXT, GROUPS, OFFERS, STOPS, Decoded, Matcher, Registry
    from udfs.flink.outputs import OUTPUTS

    radius = config.colocation_radius_m
    lateness_ms = int(config.allowed_lateness_s * 1000)
    interval_ms = int(config.eta_interval_s) * 1000  # the ping windows' interval
    pickled = Types.PICKLED_BYTE_ARRAY()
    string, long = Types.STRING(), Types.LONG()

    # Keyed streams are of Row(key, value) that the function before them emits (BY_TEXT,
    # BY_NUMBER; jobs.runtime.keyed): a key selector would be one more Python operator.
    decoded = (DataStream(accepted).process(Decoded(), output_type=BY_TEXT)
               .name("decoded tasks, statuses, offers").uid("decoded"))
    registry = (keyed(decoded, string)  # by partner:shipment
                .process(Registry(radius, resolution_for_radius(radius), lateness_ms, interval_ms),
                         output_type=BY_NUMBER)
                .name("registry: versions and deliveries per shipment").uid("registry"))
    matcher = (keyed(registry, long)  # by index cell
               .process(Matcher(radius, lateness_ms), output_type=pickled)
               .name("matcher: co-locations per H3 cell").uid("matcher"))
    rows = DataStream(get_gateway().jvm.io.lastmile.udfs.flink.Stages.pingRows(batches))
    batches = rows.map(eta.ping_batch, output_type=BY_TEXT).name("ping batches").uid("ping-batches")
    segments = (keyed(batches, string)  # by partner:vehicle
                .process(eta.Tracker(), output_type=BY_NUMBER).name("tracker: segments per vehicle").uid("tracker"))
    speeds = (keyed(segments, long)  # by district
              .process(eta.Profiles(interval_ms), output_type=pickled).name("profiles: speeds per district").uid("profiles"))
    etas = (keyed(batches.union(side_output(registry, STOPS)), string)  # by partner:vehicle
            .connect(speeds.broadcast(*eta.BROADCAST_STATES))
            .process(eta.Eta(interval_ms), output_type=pickled).name("eta: routes per vehicle").uid("eta"))
    proposals = (keyed(side_output(matcher, GROUPS), long)  # by neighbourhood
                 .connect(side_output(decoded, OFFERS).broadcast(consolidation.OFFERS))
                 .process(consolidation.Consolidator(), output_type=pickled)
                 .name("consolidator: proposals per neighbourhood").uid("consolidator"))
    # The keyed broadcast functions emit their outputs on the main output (udfs.flink.outputs).
    return [side_output(registry, OUTPUTS), side_output(matcher, OUTPUTS), etas, proposals], [], []


def jvm_stages(accepted, batches, config: Config, outputs):
    """The stateful stages on the JVM (udfs/jvm ``io.lastmile.udfs.flink``), the same graph and
    results as :func:`python_stages` (held to it by tests/flink/test_jvm_stages.py): ``accepted``
    and ``batches`` as there, ``outputs`` what they write their rows and messages with (Java
    ``Outputs``). Returns no ``Outputs``, and the stages' ClickHouse and Kafka frames."""
    from pyflink.java_gateway import get_gateway

    f = get_gateway().jvm.io.lastmile.udfs.flink
    radius = float(config.colocation_radius_m)
    lateness_ms = int(config.allowed_lateness_s * 1000)
    interval_ms = int(config.eta_interval_s) * 1000  # the ping windows' interval

    def named(operator, name: str, uid: str):
        return operator.name(name).uid(uid)

    registry = named(f.Stages.registry(accepted, radius, lateness_ms, interval_ms, outputs),
                     "registry: versions and deliveries per shipment", "jvm-registry")
    matcher = named(f.Stages.matcher(registry, radius, lateness_ms, outputs),
                    "matcher: co-locations per H3 cell", "jvm-matcher")
    proposals = named(f.Stages.consolidator(matcher.getSideOutput(f.Matcher.GROUPS), accepted, outputs),
                      "consolidator: proposals per neighbourhood", "jvm-consolidator")
    tracker = named(f.Stages.tracker(batches), "tracker: segments per vehicle", "jvm-tracker")
    speeds = named(f.Stages.profiles(tracker, interval_ms), "profiles: speeds per district", "jvm-profiles")
    etas = named(f.Stages.eta(batches, registry.getSideOutput(f.Registry.STOPS), speeds, interval_ms, outputs),
                 "eta: routes per vehicle", "jvm-eta")
    writers = (registry, matcher, proposals, etas)
    return ([], [w.getSideOutput(f.Outputs.CLICKHOUSE) for w in writers],
            [w.getSideOutput(f.Outputs.KAFKA) for w in writers])


def kafka_sources(env, config: Config, bounded: bool) -> dict:
    """Every partner topic, by pattern (udfs/jvm ``KafkaRows``): new partners are found while
    the job runs; bounded, what the topics hold now. A pattern that matches no topic yet is an
    empty stream in a bounded run (the Kafka source would wait for one and never end)."""
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    from lastmile import topics as partner_topics

    jvm = get_gateway().jvm
    consumer = jvm.java.util.Properties()
    consumer.setProperty("bootstrap.servers", config.kafka_bootstrap)
    streams = {}
    for name, pattern in (("positions", POSITIONS_PATTERN), ("partner_events", PARTNER_EVENTS_PATTERN)):
        j_env = env._j_stream_execution_environment
        if bounded and not partner_topics.matching(config, pattern):
            streams[name] = DataStream(jvm.io.lastmile.udfs.flink.KafkaRows.empty(j_env, name))
            continue
        streams[name] = DataStream(jvm.io.lastmile.udfs.flink.KafkaRows.source(
            j_env, name, consumer, pattern, "lastmile-coordination", bounded, int(config.out_of_orderness_s * 1000),
            int(config.idle_timeout_s * 1000), 10_000)).uid(f"source-{name}")
    return streams


def production_sinks(config: Config) -> dict:
    from pyflink.java_gateway import get_gateway

    from jobs.runtime import clickhouse_columns, clickhouse_url, outputs_sink

    def rows(stream, outputs, name: str):
        """The decoded partner rows, written from the JVM (udfs/jvm ClickHouseSink), chained to the decoding."""
        j_sink = get_gateway().jvm.io.lastmile.udfs.sinks.ClickHouseSink(
            clickhouse_url(config), config.clickhouse_user, config.clickhouse_password, 8 << 20, 1000, 5,
            outputs.rows())
        return stream.sinkTo(j_sink).name(f"clickhouse: {name}").uid(f"clickhouse-{name}")

    columns = clickhouse_columns(config, COLUMNS)
    return {"outputs": outputs_sink(config, columns), "rows": rows, "columns": columns}


def latest_checkpoint(home: pathlib.Path) -> pathlib.Path | None:
    """The newest completed checkpoint under ``<home>/checkpoints`` (one with ``_metadata``)."""
    done = sorted((home / "checkpoints").glob("*/chk-*/_metadata"), key=lambda p: p.stat().st_mtime)
    return done[-1].parent if done else None


def run(config: Config, bounded: bool, jobmanager: str | None = None, say=print, progress: bool = False) -> float:
    """Run on the configured Kafka and ClickHouse; returns seconds taken.

    Without ``jobmanager`` in the local MiniCluster (one JVM, one Python interpreter); with
    it, planned here and submitted to that Flink cluster's REST endpoint (:func:`_submit`),
    waiting for the job to end. Unbounded runs checkpoint every
    ``checkpoint_interval_s`` to ``<home>/checkpoints`` and resume from the latest
    completed checkpoint there.
    """
    from lastmile.clickhouse import http_client

    # Fail before starting Flink, in one line, when an endpoint is unreachable.
    topics.ensure_topics(config, list(topics.COORDINATION_TOPICS))
    http_client(config).close()
    target = _check_jobmanager(config, jobmanager) if jobmanager else None
    started = time.monotonic()
    reporter = contextlib.nullcontext()
    if progress:
        from jobs.progress import ProgressReporter, backlog

        reporter = ProgressReporter(config, backlog(config) if bounded else None)
    with reporter:
        if target:
            _submit(config, bounded, jobmanager, target, say)
        else:
            execute(config, bounded, say)
    return time.monotonic() - started


def execute(config: Config, bounded: bool, say=print, target: dict | None = None, ship_jars: bool = False) -> None:
    """Build and execute the job in this process's Flink environment: the MiniCluster, the
    cluster of the ``flink run`` that started this process, or the cluster ``target`` names
    (Flink settings, see :func:`_submit`)."""
    from jobs.runtime import stream_env

    extra = dict(target or {})
    if not bounded:
        checkpoints = config.home / "checkpoints"
        checkpoints.mkdir(parents=True, exist_ok=True)
        extra.update({"execution.checkpointing.interval": f"{int(config.checkpoint_interval_s * 1000)} ms",
                      "execution.checkpointing.dir": checkpoints.as_uri(),
                      "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION"})
        resume = latest_checkpoint(config.home)
        if resume is not None:
            extra["execution.state-recovery.path"] = resume.as_uri()
            say(f"resuming from checkpoint {resume}")
    env = stream_env(config, extra=extra, ship_jars=ship_jars)
    build(env, kafka_sources(env, config, bounded), production_sinks(config), config)
    env.execute("lastmile-coordination")


def _submit(config: Config, bounded: bool, jobmanager: str, target: dict, say) -> None:
    """Plan the job here and submit it to the cluster at ``jobmanager`` (its REST endpoint),
    attached: returns when the job has ended.

    Planned in this process's PyFlink JVM, like a MiniCluster run (its class-data sharing
    archive and client compiler, jobs.runtime): ``flink run -py`` would start a bash
    script, a JVM for its options, the client JVM and a second Python process first, about
    2 s more before the job exists. The cluster's TaskManagers import the same installed
    package. ``main`` below stays the entry point for ``flink run -py jobs/coordination.py``.
    """
    from py4j.protocol import Py4JJavaError

    from lastmile.errors import StackError
    from lastmile.stack import flink

    local = jobmanager == config.flink_rest
    if local and flink.running_pids(config) and not flink.has_current_code(config):
        # Its TaskManagers would run the functions they imported for an earlier job.
        if flink.status(config)["jobs_running"]:
            raise StackError("the local Flink cluster runs a job and was started with other Python code than this "
                             "checkout's udfs/; stop the job, then `lastmile cluster down` and `up`")
        say("the local Flink cluster was started with other Python code than this checkout's udfs/; restarting it")
        flink.down(config, say=lambda _m: None)
        flink.up(config, say=lambda _m: None)
    ship_jars = not (local and flink.has_job_jars(config))  # a cluster of this home has them in its lib
    if ship_jars and local and flink.running_pids(config):
        say("the local Flink cluster has older job jars than this checkout; shipping the current ones "
            "(restart it, `lastmile cluster down` and `up`, to submit faster)")
    try:
        execute(config, bounded, say, target=target, ship_jars=ship_jars)
    except Py4JJavaError as e:
        raise StackError(f"the job on {jobmanager} failed: {_root_cause(e)}") from None


def _check_jobmanager(config: Config, jobmanager: str) -> dict:
    """The Flink settings that submit to ``jobmanager`` (HOST:PORT of a REST endpoint), once
    a cluster answers there; otherwise one readable line."""
    from lastmile.errors import StackError
    from lastmile.stack import flink

    host, _, port = jobmanager.rpartition(":")
    if not host or not port.isdigit():
        raise StackError(f"--jobmanager {jobmanager!r}: expected HOST:PORT of the cluster's REST endpoint")
    if flink.overview(config.with_overrides(flink_rest=jobmanager)) is None:
        raise StackError(f"no Flink cluster answers at {jobmanager} (`lastmile cluster up` starts one here)")
    return {"execution.target": "remote", "rest.address": host, "rest.port": port, "execution.attached": "true"}


def _root_cause(error) -> str:
    """The innermost cause of a Java exception from py4j, in one line."""
    throwable = error.java_exception
    while throwable.getCause() is not None and throwable.getCause() != throwable:
        throwable = throwable.getCause()
    return f"{throwable.getClass().getName()}: {throwable.getMessage()}"[:300]


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``flink run -py jobs/coordination.py [--bounded]``: the job in the cluster's context."""
    import argparse

    parser = argparse.ArgumentParser(description="the lastmile coordination job (for flink run)")
    parser.add_argument("--bounded", action="store_true")
    args = parser.parse_args(argv)
    execute(Config.from_env(), args.bounded)


def summary(config: Config) -> dict:
    """What the tables hold now: co-locations (current), by partner pair, and dead letters by reason."""
    from lastmile.clickhouse import http_client

    client = http_client(config)
    q = lambda sql: client.query(sql).result_rows  # noqa: E731
    total, same, mean_m = q("SELECT count(), countIf(same_recipient), round(avg(distance_m), 1) "
                            "FROM colocations_current")[0]
    return {
        "colocations": total, "same_recipient": same, "mean_distance_m": mean_m if total else None,
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


if __name__ == "__main__":
    main()
