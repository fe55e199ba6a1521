"""The coordination job: all partner streams in; co-locations, ETAs and consolidation proposals out.

    JVM (Flink SQL + udfs/jvm)                        │ Python (udfs/flink)
    ──────────────────────────────────────────────────┼──────────────────────────────────────────────────
    positions topics ─► DecodePosition ─┬─ rows ──────┼──────────────────────► ClickHouse sink (RowBinary)
      (decode, rules, H3 cell)          ├─ window per vehicle, eta_interval_s ─► ping batches ─► Tracker ─► Profiles
                                        │                                    │          └──────► Eta ◄─ speeds
    other partner topics ─► DecodeEvent ┼─ status, offer rows ───────────────────► ClickHouse sink (RowBinary)
                                        ├─ tasks, tracked statuses, offers ──► Decoded ─► Registry ─► Matcher
                                        │                                    │        stops ─► Eta      └► Consolidator
                                        └─ refused or late (both sources) ───► Intake (the Python reference:
                                                                              dead letter with reason, or accept)
    ClickHouse sink ◄── RowBinary frames ◄── EncodeOutputs ◄── one Outputs per call of each Python stage
                                               └──► Kafka frames ──► KafkaSink (coordination.*, inboxes)

Budget (Throughput issue): 20,000 events/s on 2 cores shared with Kafka and ClickHouse
leaves ~50-70 µs of Python per event, and every entry into a Python function costs
~5-30 µs (more with a keyed exchange); decode + validate in Python ran at ~107 µs per
event inside Flink. So the graph is drawn from where each stream's events cross:

    stream (share of the simulator's mix)  crossings into Python per event      work on the JVM per event
    vehicle_positions (~75 %)              0; one ping batch per vehicle and    decode, rules, H3, lateness,
                                           interval (~10 pings at 30 s, 5 min)  ClickHouse row, window
                                           runs Tracker, Profiles, Eta: ~0.4
    shipment_status (~20 %)                ~0.5 (only the statuses that move    decode, rules, H3, lateness,
                                           a shipment: Decoded, Registry)       ClickHouse row
    delivery_tasks (~5 %)                  Decoded, Registry, ~3 Matcher cells, decode, rules, H3
                                           their matches (the core logic)
    capacity_offers (<1 %)                 Decoded, broadcast to Consolidator   decode, rules, H3, ClickHouse row
    refused / late records (~1 %)          Intake: the Python reference decides nothing else
                                           and writes the dead letter

Measured per change in BENCHMARKS.md (`lastmile bench`). The JVM only ever accepts:
what it refuses, the Python reference re-reads, so both agree by construction where it
matters (tests/unit/test_jvm_contract.py holds the JVM against the reference).
Every element that leaves a Python function is a call into the JVM, and PyFlink adds
Python operators of its own unless told otherwise, so: one ``Outputs`` element per call
for all its ClickHouse rows and Kafka messages (udfs.flink.outputs); keyed inputs as
``Row(key, value)`` that the function before them emits (no key-selector operator,
jobs.runtime.keyed); side outputs read without PyFlink's identity map
(jobs.runtime.side_output); a timer registered once per key and time (udfs.flink.timers).
The ETA path's event-time interval paces more than the ping batches, and makes its
results independent of arrival order: the Registry applies a shipment's tasks and
statuses in event-time order once the watermark passes their interval, a district learns
an interval's segments at its end and publishes them once, versioned by it (each
broadcast element is handled by every ETA instance), and the ETA operator applies what a
van received in an interval at one timer, with the speeds of earlier intervals only. A cell of the Matcher keeps one timer, at its earliest
expiry; a Matcher call's links and unlinks for one neighbourhood travel as one element.
Border replication sends a task to its home cell plus only the neighbours its radius
reaches (about 1.5 on average at 150 m), not to a 7-cell ring, and a probe reads one
key's state. What moved to the JVM holds nothing in Python memory:
ping batches wait in the window's Flink state, and every output, the Python stages'
included (framed per call: udfs/sinks/frames.py), is written by a JVM sink that flushes
before each checkpoint barrier passes.
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


#: The ClickHouse columns of vehicle_positions as the JVM writes them (udfs.rows.COLUMNS order);
#: timestamps as epoch milliseconds, DateTime64(3, 'UTC') in ClickHouse.
POSITION_COLUMNS = [("event_id", "STRING"), ("partner_id", "STRING"), ("vehicle_id", "STRING"),
                    ("event_time", "BIGINT"), ("ingested_at", "BIGINT"), ("h3_cell", "BIGINT"),
                    ("speed_mps", "DOUBLE"), ("load_volume_l", "DOUBLE"), ("capacity_volume_l", "DOUBLE"),
                    ("source_topic", "STRING"), ("source_partition", "INT"), ("source_offset", "BIGINT")]


STATUS_COLUMNS = [("event_id", "STRING"), ("partner_id", "STRING"), ("shipment_id", "STRING"),
                  ("event_time", "BIGINT"), ("ingested_at", "BIGINT"), ("status", "STRING"), ("vehicle_id", "STRING"),
                  ("stop_sequence", "INT"), ("h3_cell", "BIGINT"), ("reason", "STRING"), ("source_topic", "STRING"),
                  ("source_partition", "INT"), ("source_offset", "BIGINT")]
OFFER_COLUMNS = [("event_id", "STRING"), ("partner_id", "STRING"), ("vehicle_id", "STRING"), ("event_time", "BIGINT"),
                 ("ingested_at", "BIGINT"), ("depot_h3", "BIGINT"), ("available_from", "BIGINT"),
                 ("available_to", "BIGINT"), ("spare_volume_l", "DOUBLE"), ("spare_stops", "INT"),
                 ("source_topic", "STRING"), ("source_partition", "INT"), ("source_offset", "BIGINT")]
JVM_TABLE_COLUMNS = {"vehicle_positions": POSITION_COLUMNS, "shipment_status": STATUS_COLUMNS,
                     "capacity_offers": OFFER_COLUMNS}


def _decoded_view(t_env, name: str, source, function: str, late: str) -> None:
    """View ``name``: ``source`` through the JVM table function ``function``, with ``late``
    (a condition on the decoded fields and ``r.ts``) and the watermark it was judged by.

    Through a DataStream and back (all on the JVM), so the queries over the view share
    one Kafka read and one decode; planned apart, each would read and decode again. The
    judged watermark goes along because downstream, a subtask's own watermark can still
    lag behind it (it is the minimum over its input channels).
    """
    from pyflink.table import DataTypes, Schema

    t_env.create_temporary_view(f"{name}_raw", source)
    decoded = t_env.sql_query(f"""
        SELECT d.*, r.topic, r.`partition`, r.`offset`, r.payload, r.ts AS kafka_ts,
               CURRENT_WATERMARK(r.ts) IS NOT NULL AND ({late}) AS late,
               LASTMILE_EPOCH_MS(CURRENT_WATERMARK(r.ts)) AS judged_watermark
        FROM {name}_raw AS r, LATERAL TABLE({function}(r.payload, r.topic)) AS d""")
    t_env.create_temporary_view(name, t_env.from_data_stream(
        t_env.to_data_stream(decoded),
        Schema.new_builder().column_by_metadata("ts", DataTypes.TIMESTAMP_LTZ(3), "rowtime")
        .watermark("ts", "SOURCE_WATERMARK()").build()))


def _register_functions(t_env) -> None:
    for name, cls in (("lastmile_decode_position", "DecodePosition"), ("lastmile_decode_event", "DecodeEvent"),
                      ("lastmile_epoch_ms", "EpochMillis")):
        t_env.create_java_temporary_system_function(name, f"io.lastmile.udfs.{cls}")


def position_path(t_env, positions, config: Config):
    """Vehicle positions on the JVM: decode and check (udfs/jvm DecodePosition), route.

    Returns ``(rows, batches, refused)``: ``rows`` a table of accepted positions in
    :data:`POSITION_COLUMNS`; ``batches`` a table ``(partner_id, vehicle_id, pings)``, one
    row per vehicle and ``eta_interval_s`` of event time (udfs.pings); ``refused`` a table
    like the source, plus the judged watermark, of what the JVM did not accept or found
    late, for the Python reference. Late: ``ts`` or ``event_time`` behind the watermark (such
    a position would miss its window).
    """
    _decoded_view(t_env, "decoded_positions", positions, "lastmile_decode_position",
                  "r.ts < CURRENT_WATERMARK(r.ts) OR TO_TIMESTAMP_LTZ(d.event_time, 3) < CURRENT_WATERMARK(r.ts)")
    rows = t_env.sql_query(f"""
        SELECT event_id, partner_id, vehicle_id, event_time, ingested_at, h3_cell, speed_mps,
               load_volume_l, capacity_volume_l, topic, `partition`, `offset`
        FROM decoded_positions WHERE ok AND NOT late""")
    batches = t_env.sql_query(f"""
        SELECT partner_id, vehicle_id,
               LISTAGG(CONCAT_WS(',', CAST(event_time AS STRING), CAST(lat AS STRING), CAST(lng AS STRING),
                                 COALESCE(CAST(speed_mps AS STRING), '')), ';') AS pings
        FROM TABLE(TUMBLE(TABLE decoded_positions, DESCRIPTOR(ts), INTERVAL '{int(config.eta_interval_s)}' SECOND(6)))
        WHERE ok AND NOT late
        GROUP BY partner_id, vehicle_id, window_start, window_end""")
    refused = t_env.sql_query("SELECT payload, topic, `partition`, `offset`, ts, judged_watermark "
                              "FROM decoded_positions WHERE NOT ok OR late")
    return rows, batches, refused


def event_path(t_env, events):
    """Delivery tasks, statuses and capacity offers on the JVM: decode and check (udfs/jvm
    DecodeEvent), route.

    Returns ``(status_rows, offer_rows, accepted, refused)``: ClickHouse rows of accepted
    statuses and offers (:data:`STATUS_COLUMNS`, :data:`OFFER_COLUMNS`); ``accepted`` the
    rows the Python side needs (every task, the statuses the Registry tracks, offers) for
    :class:`udfs.flink.coordination.Decoded`; ``refused`` as in :func:`position_path`. Late: a
    status's event time or an offer's start behind the watermark (a task's lateness depends
    on its window: the Registry judges it).
    """
    from udfs.contracts.jvm_export import decoded_fields
    from udfs.statuses import TRACKED_STATUSES

    _decoded_view(t_env, "decoded_events", events, "lastmile_decode_event",
                  "d.kind <> 'delivery_tasks' AND "
                  "TO_TIMESTAMP_LTZ(COALESCE(d.event_time, d.available_from), 3) < CURRENT_WATERMARK(r.ts)")
    on_time = "ok AND NOT late"
    status_rows = t_env.sql_query(f"""
        SELECT event_id, partner_id, shipment_id, event_time, ingested_at, status, vehicle_id,
               stop_sequence, h3_cell, reason, topic, `partition`, `offset`
        FROM decoded_events WHERE {on_time} AND kind = 'shipment_status'""")
    offer_rows = t_env.sql_query(f"""
        SELECT event_id, partner_id, vehicle_id, available_from, ingested_at, h3_cell,
               available_from, available_to, spare_volume_l, spare_stops, topic, `partition`,
               `offset`
        FROM decoded_events WHERE {on_time} AND kind = 'capacity_offers'""")
    tracked = ", ".join(f"'{s}'" for s in TRACKED_STATUSES)
    accepted = t_env.sql_query(f"""
        SELECT kind, topic, `partition`, `offset`, ingested_at, {", ".join(f"`{f}`" for f in decoded_fields())}
        FROM decoded_events
        WHERE {on_time} AND (kind <> 'shipment_status' OR status IN ({tracked}))""")
    refused = t_env.sql_query("SELECT payload, topic, `partition`, `offset`, ts, judged_watermark "
                              "FROM decoded_events WHERE NOT ok OR late")
    return status_rows, offer_rows, accepted, refused


def build(env, sources: dict, sinks: dict, config: Config):
    """Wire the job.

    ``sources["tables"]``: the StreamTableEnvironment of the sources;
    ``sources["partner_events"]``: a table ``(payload BYTES, topic, partition, offset, ts)`` of
    delivery tasks, statuses and capacity offers, ``sources["positions"]`` the same of vehicle
    positions, both with event-time watermarks on ``ts`` (see jobs.runtime.kafka_table).
    ``sinks["outputs"]`` takes a stream of :class:`udfs.records.Outputs` (ClickHouse rows and
    Kafka messages of the Python functions) and the JVM stages' ClickHouse and Kafka frames
    (udfs/sinks/frames.py); ``sinks["jvm_rows"]`` the StreamTableEnvironment and a dict of
    tables of ClickHouse rows built on the JVM (:data:`JVM_TABLE_COLUMNS`).
    The stateful stages are the JVM's (:func:`jvm_stages`) or, with ``config.operators ==
    "python"``, the Python reference (:func:`python_stages`).
    """
    from jobs.runtime import side_output, to_python_rows
    from udfs.flink.intake import ACCEPTED_ROW, POSITIONS, Intake
    from udfs.flink.outputs import OUTPUTS

    t_env = sources["tables"]
    _register_functions(t_env)
    position_rows, position_batches, refused_positions = position_path(t_env, sources["positions"], config)
    status_rows, offer_rows, accepted_events, refused_events = event_path(t_env, sources["partner_events"])
    written = sinks["jvm_rows"](t_env, {"vehicle_positions": position_rows, "shipment_status": status_rows,
                                        "capacity_offers": offer_rows})
    # What the JVM refused, the Python reference decides (dead letter with its reason, or
    # accepted: then it joins what the JVM accepted, in the same rows).
    intake = (to_python_rows(t_env, refused_events.union_all(refused_positions))
              .process(Intake(), output_type=ACCEPTED_ROW)
              .name("intake: what the JVM refused (Python reference)").uid("intake"))
    accepted = t_env.to_data_stream(accepted_events.union_all(_table_of(t_env, intake)))
    batches = t_env.to_data_stream(position_batches.union_all(_table_of(t_env, side_output(intake, POSITIONS))))
    stages = jvm_stages if config.operators == "jvm" else python_stages
    outputs, clickhouse_frames, kafka_frames = stages(accepted, batches, config, sinks.get("columns"))
    return sinks["outputs"](side_output(intake, OUTPUTS).union(*outputs), clickhouse_frames, kafka_frames), written


def _table_of(t_env, stream):
    """``stream`` (of named rows) as a table, its watermarks kept: a conversion without a
    watermark declaration drops them, and a union with it would hold every timer back."""
    from pyflink.table import DataTypes, Schema
    from pyflink.table.expressions import col

    names = list(stream.get_type().get_field_names())
    schema = (Schema.new_builder().column_by_metadata("rowtime", DataTypes.TIMESTAMP_LTZ(3))
              .watermark("rowtime", "SOURCE_WATERMARK()").build())
    return t_env.from_data_stream(stream, schema).select(*(col(n) for n in names))


def python_stages(accepted, batches, config: Config, _columns=None):
    """The stateful stages in Python (udfs/flink): the reference the JVM's are held to.

    ``accepted``: rows of accepted tasks, statuses and offers (udfs.flink.intake.ACCEPTED_ROW);
    ``batches``: ping batch rows (PING_ROWS). Returns the streams of their ``Outputs``, and no frames.
    """
    from pyflink.common import Types

    from jobs.runtime import keyed, side_output
    from udfs.flink import consolidation, eta
    from udfs.flink.coordination import BY_NUMBER, BY_TEXT, GROUPS, OFFERS, STOPS, Decoded, Matcher, Registry
    from udfs.flink.outputs import OUTPUTS

    radius = config.colocation_radius_m
    lateness_ms = int(config.allowed_lateness_s * 1000)
    interval_ms = int(config.eta_interval_s) * 1000  # the ping batches' window (position_path)
    pickled = Types.PICKLED_BYTE_ARRAY()
    string, long = Types.STRING(), Types.LONG()

    # Keyed streams are of Row(key, value) that the function before them emits (BY_TEXT,
    # BY_NUMBER; jobs.runtime.keyed): a key selector would be one more Python operator.
    decoded = (accepted.process(Decoded(), output_type=BY_TEXT)
               .name("decoded tasks, statuses, offers").uid("decoded"))
    registry = (keyed(decoded, string)  # by partner:shipment
                .process(Registry(radius, resolution_for_radius(radius), lateness_ms, interval_ms),
                         output_type=BY_NUMBER)
                .name("registry: versions and deliveries per shipment").uid("registry"))
    matcher = (keyed(registry, long)  # by index cell
               .process(Matcher(radius, lateness_ms), output_type=pickled)
               .name("matcher: co-locations per H3 cell").uid("matcher"))
    batches = batches.map(eta.ping_batch, output_type=BY_TEXT).name("ping batches").uid("ping-batches")
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


def jvm_stages(accepted, batches, config: Config, columns: dict):
    """The stateful stages on the JVM (udfs/jvm ``io.lastmile.udfs.flink``), the same graph and
    results as :func:`python_stages` (held to it by tests/flink/test_jvm_stages.py). ``columns``:
    table -> ``[(column, ClickHouse type)]``, what the JVM encodes its rows with. Returns no
    ``Outputs``, and the stages' ClickHouse and Kafka frames."""
    import json

    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    f = jvm.io.lastmile.udfs.flink
    outputs = f.Outputs.fromJson(json.dumps({"database": config.clickhouse_database, "tables": columns}))
    radius = float(config.colocation_radius_m)
    lateness_ms = int(config.allowed_lateness_s * 1000)
    interval_ms = int(config.eta_interval_s) * 1000  # the ping batches' window (position_path)

    def named(operator, name: str, uid: str):
        return operator.name(name).uid(uid)

    j_accepted = accepted._j_data_stream
    registry = named(f.Stages.registry(j_accepted, radius, lateness_ms, interval_ms, outputs),
                     "registry: versions and deliveries per shipment", "jvm-registry")
    matcher = named(f.Stages.matcher(registry, radius, lateness_ms, outputs),
                    "matcher: co-locations per H3 cell", "jvm-matcher")
    proposals = named(f.Stages.consolidator(matcher.getSideOutput(f.Matcher.GROUPS), j_accepted, outputs),
                      "consolidator: proposals per neighbourhood", "jvm-consolidator")
    pings = named(f.Stages.pingBatches(batches._j_data_stream), "ping batches", "jvm-ping-batches")
    tracker = named(f.Stages.tracker(pings), "tracker: segments per vehicle", "jvm-tracker")
    speeds = named(f.Stages.profiles(tracker, interval_ms), "profiles: speeds per district", "jvm-profiles")
    etas = named(f.Stages.eta(pings, registry.getSideOutput(f.Registry.STOPS), speeds, interval_ms, outputs),
                 "eta: routes per vehicle", "jvm-eta")
    writers = (registry, matcher, proposals, etas)
    return ([], [w.getSideOutput(f.Outputs.CLICKHOUSE) for w in writers],
            [w.getSideOutput(f.Outputs.KAFKA) for w in writers])


def kafka_sources(env, config: Config, bounded: bool) -> dict:
    from jobs.runtime import kafka_table, table_env

    t_env = table_env(env)
    group = "lastmile-coordination"
    return {"tables": t_env,
            "partner_events": kafka_table(t_env, config, "partner_events", PARTNER_EVENTS_PATTERN, group, bounded),
            "positions": kafka_table(t_env, config, "positions", POSITIONS_PATTERN, group, bounded)}


def production_sinks(config: Config) -> dict:
    from jobs.runtime import clickhouse_columns, clickhouse_table, outputs_sink

    def jvm_rows(t_env, tables: dict):
        """ClickHouse rows built on the JVM, written from the JVM (udfs/jvm sinks), in the same job."""
        statements = t_env.create_statement_set()
        for table, rows in tables.items():
            clickhouse_table(t_env, config, f"clickhouse_{table}", table, JVM_TABLE_COLUMNS[table])
            statements.add_insert(f"clickhouse_{table}", rows)
        statements.attach_as_datastream()  # runs with env.execute()
        return statements

    columns = clickhouse_columns(config, COLUMNS)
    return {"outputs": outputs_sink(config, columns), "jvm_rows": jvm_rows, "columns": columns}


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


if __name__ == "__main__":
    main()
