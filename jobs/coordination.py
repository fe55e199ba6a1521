"""The coordination job: all partner streams in; co-locations, ETAs and consolidation proposals out.

Every stage runs on the JVM (udfs/jvm, ``io.lastmile.udfs``), wired here:

    positions topics ─► KafkaRows ─► DecodeRecords.Positions ─┬─ rows ─────────────► ClickHouse (chained sink)
                                     (decode, rules, H3, late) ├─ pings ─► PingWindows ─► Tracker ─► Profiles
                                                               │   (per van, eta_interval_s)│      speeds ▼
                                                               │                            └─► Routes (ETAs)
    other partner topics ─► KafkaRows ─► DecodeRecords.Events ─┼─ rows ─────────────► ClickHouse (chained sink)
                                                               ├─ tasks, tracked statuses ─► Registry ─► Matcher
                                                               │                    stops ─► Routes    ├─► Consolidator
                                                               │                                       └─► Disclosure (inboxes)
                                                               ├─ capacity offers (broadcast) ───────────► Consolidator
                                                               └─ refused or late (both) ─► Intake: dead letter with
                                                                  its reason, or accepted after all (joins the above)
    Registry, Matcher, Disclosure, Consolidator, Routes, Intake ─► frames ─► ClickHouse sink, KafkaFrames ─► KafkaSink

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

from jobs.settings import JobSettings
from udfs.colocation import resolution_for_radius
from udfs.contracts import topics

POSITIONS_PATTERN = topics.stream_pattern("vehicle_positions")
PARTNER_EVENTS_PATTERN = topics.stream_pattern(*(s for s in topics.STREAMS if s != "vehicle_positions"))
#: The job's sources, by the topics they read (a pattern: new partners are found while it runs).
SOURCES = {"positions": POSITIONS_PATTERN, "partner_events": PARTNER_EVENTS_PATTERN}


def build(env, sources: dict, sinks: dict, settings: JobSettings):
    """Wire the job.

    ``sources["positions"]``, ``sources["partner_events"]``: streams of rows ``(payload, topic,
    partition, offset, ts)`` of the vehicle positions' and the other partner topics, with
    event-time timestamps (``ts``) and watermarks (udfs/jvm ``KafkaRows``).
    ``sinks["rows"]`` takes the decoded partner rows for ClickHouse (udfs/jvm ``TableRow``s of
    ``vehicle_positions``, ``shipment_status``, ``capacity_offers``); ``sinks["outputs"]`` a
    stream of :class:`udfs.records.Outputs` (ClickHouse rows and Kafka messages of the Python
    functions) and the JVM stages' ClickHouse and Kafka frames (udfs/sinks/frames.py);
    ``sinks["columns"]``: table -> ``[(column, ClickHouse type)]``. The stateful stages are
    the JVM's (:func:`jvm_stages`) or, with ``settings.operators == "python"``, the Python
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
    outputs = f.Outputs.fromJson(json.dumps({"database": settings.clickhouse.database, "tables": sinks["columns"]}))
    positions = (f.Stages.decodePositions(sources["positions"]._j_data_stream)
                 .name("decode positions").uid("decode-positions"))
    events = (f.Stages.decodeEvents(sources["partner_events"]._j_data_stream)
              .name("decode tasks, statuses, offers").uid("decode-events"))
    written = [sinks["rows"](op.getSideOutput(decode.ROWS), outputs, name)
               for op, name in ((positions, "positions"), (events, "events"))]
    # What the fast path refused or found late, the Intake decides: a dead letter with its
    # reason, or accepted after all, then it joins what the fast path accepted.
    refused = DataStream(positions.getSideOutput(decode.REFUSED)).union(DataStream(events.getSideOutput(decode.REFUSED)))
    if settings.operators == "jvm":
        intake = (f.Stages.intake(refused._j_data_stream, outputs)
                  .name("intake: what the fast path refused").uid("jvm-intake"))
        accepted = DataStream(events).union(DataStream(intake))._j_data_stream
        intake_pings = intake.getSideOutput(get_gateway().jvm.io.lastmile.udfs.Intake.PINGS)
        intake_outputs: tuple[list, list, list] = (
            [], [intake.getSideOutput(f.Outputs.CLICKHOUSE)], [intake.getSideOutput(f.Outputs.KAFKA)])
    else:  # the Python reference
        intake = (refused.process(Intake(), output_type=ACCEPTED_ROW)
                  .name("intake: what the fast path refused (Python reference)").uid("intake"))
        accepted = DataStream(events).union(intake)._j_data_stream
        intake_pings = f.Stages.intakePings(side_output(intake, POSITIONS)._j_data_stream).name("intake pings")
        intake_outputs = [side_output(intake, OUTPUTS)], [], []
    pings = DataStream(positions).union(DataStream(intake_pings))._j_data_stream
    batches = (f.Stages.pingWindows(pings, int(settings.eta_interval_s) * 1000)
               .name("ping windows: a batch per van and interval").uid("ping-windows"))
    stages = jvm_stages if settings.operators == "jvm" else python_stages
    python, clickhouse_frames, kafka_frames = (a + b for a, b in zip(intake_outputs, stages(accepted, batches, settings,
                                                                                              outputs)))
    return sinks["outputs"](python, clickhouse_frames, kafka_frames), written


def python_stages(accepted, batches, settings: JobSettings, _outputs=None):
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
    from udfs.flink import coordination as c
    from udfs.flink.outputs import OUTPUTS

    radius = settings.colocation_radius_m
    lateness_ms = int(settings.allowed_lateness_s * 1000)
    interval_ms = int(settings.eta_interval_s) * 1000  # the ping windows' interval
    ttl_ms = int(settings.speed_ttl_days * 86_400_000)  # the learned speeds' time to live
    pickled = Types.PICKLED_BYTE_ARRAY()
    string, long = Types.STRING(), Types.LONG()

    # Keyed streams are of Row(key, value) that the function before them emits (BY_TEXT,
    # BY_NUMBER; jobs.runtime.keyed): a key selector would be one more Python operator.
    decoded = (DataStream(accepted).process(c.Decoded(), output_type=c.BY_TEXT)
               .name("decoded tasks, statuses, offers").uid("decoded"))
    registry = (keyed(decoded, string)  # by partner:shipment
                .process(c.Registry(radius, resolution_for_radius(radius), lateness_ms, interval_ms),
                         output_type=c.BY_NUMBER)
                .name("registry: versions and deliveries per shipment").uid("registry"))
    matcher = (keyed(registry, long)  # by index cell
               .process(c.Matcher(radius, lateness_ms, settings.inbox_key, settings.sharing), output_type=pickled)
               .name("matcher: co-locations per H3 cell").uid("matcher"))
    disclosures = (keyed(side_output(matcher, c.DISCLOSE), string)  # by receiver|other partner|other shipment
                   .process(c.Disclosure(), output_type=pickled)
                   .name("disclosure: each other shipment once per partner's inbox").uid("disclosure"))
    rows = DataStream(get_gateway().jvm.io.lastmile.udfs.flink.Stages.pingRows(batches))
    batches = rows.map(eta.ping_batch, output_type=c.BY_TEXT).name("ping batches").uid("ping-batches")
    segments = (keyed(batches, string)  # by partner:vehicle
                .process(eta.Tracker(), output_type=c.BY_NUMBER).name("tracker: segments and km per vehicle")
                .uid("tracker"))
    speeds = (keyed(segments, long)  # by district
              .process(eta.Profiles(interval_ms, ttl_ms), output_type=pickled)
              .name("profiles: speeds per district").uid("profiles"))
    etas = (keyed(batches.union(side_output(registry, c.STOPS)), string)  # by partner:vehicle
            .connect(speeds.broadcast(*eta.BROADCAST_STATES))
            .process(eta.Eta(interval_ms), output_type=pickled).name("eta: routes per vehicle").uid("eta"))
    proposals = (keyed(side_output(matcher, c.GROUPS), long)  # by neighbourhood
                 .connect(side_output(decoded, c.OFFERS).broadcast(consolidation.OFFERS))
                 .process(consolidation.Consolidator(settings.inbox_key, settings.sharing), output_type=pickled)
                 .name("consolidator: proposals per neighbourhood").uid("consolidator"))
    # The keyed broadcast functions emit their outputs on the main output (udfs.flink.outputs).
    return ([side_output(registry, OUTPUTS), side_output(matcher, OUTPUTS), side_output(disclosures, OUTPUTS),
             side_output(segments, OUTPUTS), etas, proposals], [], [])


def jvm_stages(accepted, batches, settings: JobSettings, outputs):
    """The stateful stages on the JVM (udfs/jvm ``io.lastmile.udfs.flink``), the same graph and
    results as :func:`python_stages` (held to it by tests/flink/test_jvm_stages.py): ``accepted``
    and ``batches`` as there, ``outputs`` what they write their rows and messages with (Java
    ``Outputs``). Returns no ``Outputs``, and the stages' ClickHouse and Kafka frames."""
    from pyflink.java_gateway import get_gateway

    f = get_gateway().jvm.io.lastmile.udfs.flink
    radius = float(settings.colocation_radius_m)
    lateness_ms = int(settings.allowed_lateness_s * 1000)
    interval_ms = int(settings.eta_interval_s) * 1000  # the ping windows' interval
    ttl_ms = int(settings.speed_ttl_days * 86_400_000)  # the learned speeds' time to live

    def named(operator, name: str, uid: str):
        return operator.name(name).uid(uid)

    registry = named(f.Stages.registry(accepted, radius, lateness_ms, interval_ms, outputs),
                     "registry: versions and deliveries per shipment", "jvm-registry")
    matcher = named(f.Stages.matcher(registry, radius, lateness_ms, settings.inbox_key, settings.sharing.as_text(),
                                     outputs), "matcher: co-locations per H3 cell", "jvm-matcher")
    disclosures = named(f.Stages.disclosure(matcher.getSideOutput(f.Matcher.DISCLOSE), outputs),
                        "disclosure: each other shipment once per partner's inbox", "jvm-disclosure")
    proposals = named(f.Stages.consolidator(matcher.getSideOutput(f.Matcher.GROUPS), accepted, settings.inbox_key,
                                            settings.sharing.as_text(), outputs),
                      "consolidator: proposals per neighbourhood", "jvm-consolidator")
    tracker = named(f.Stages.tracker(batches, outputs), "tracker: segments and km per vehicle", "jvm-tracker")
    speeds = named(f.Stages.profiles(tracker, interval_ms, ttl_ms), "profiles: speeds per district", "jvm-profiles")
    etas = named(f.Stages.eta(batches, registry.getSideOutput(f.Registry.STOPS), speeds, interval_ms, outputs),
                 "eta: routes per vehicle", "jvm-eta")
    writers = (registry, matcher, disclosures, proposals, tracker, etas)
    return ([], [w.getSideOutput(f.Outputs.CLICKHOUSE) for w in writers],
            [w.getSideOutput(f.Outputs.KAFKA) for w in writers])


def kafka_sources(env, settings: JobSettings, bounded: bool, empty: frozenset[str] = frozenset()) -> dict:
    """Every partner topic, by pattern (udfs/jvm ``KafkaRows``): new partners are found while
    the job runs; bounded, what the topics hold now. ``empty``: the :data:`SOURCES` whose
    pattern matches no topic yet, an empty stream in a bounded run (the Kafka source would
    wait for one and never end); the caller, who can reach Kafka's admin API, knows them."""
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    jvm = get_gateway().jvm
    consumer = jvm.java.util.Properties()
    for key, value in settings.kafka.client_properties().items():  # servers, authentication
        consumer.setProperty(key, value)
    streams = {}
    for name, pattern in SOURCES.items():
        j_env = env._j_stream_execution_environment
        if bounded and name in empty:
            streams[name] = DataStream(jvm.io.lastmile.udfs.flink.KafkaRows.empty(j_env, name))
            continue
        streams[name] = DataStream(jvm.io.lastmile.udfs.flink.KafkaRows.source(
            j_env, name, consumer, pattern, "lastmile-coordination", bounded, int(settings.out_of_orderness_s * 1000),
            int(settings.idle_timeout_s * 1000), int(settings.max_partition_lag_s * 1000), 10_000)).uid(f"source-{name}")
    return streams


def production_sinks(settings: JobSettings, columns: dict) -> dict:
    """ClickHouse and Kafka sinks of the job. ``columns``: table -> ``[(column, ClickHouse type)]``
    of :data:`udfs.rows.COLUMNS` as the server has them (what the rows are encoded with)."""
    from pyflink.java_gateway import get_gateway

    from jobs.runtime import outputs_sink

    clickhouse = settings.clickhouse

    def rows(stream, outputs, name: str):
        """The decoded partner rows, written from the JVM (udfs/jvm ClickHouseSink), chained to the decoding."""
        j_sink = get_gateway().jvm.io.lastmile.udfs.sinks.ClickHouseSink(
            clickhouse.http_url, clickhouse.user, clickhouse.password, 8 << 20, 1000, int(clickhouse.retry_for_s * 1000),
            outputs.rows())
        return stream.sinkTo(j_sink).name(f"clickhouse: {name}").uid(f"clickhouse-{name}")

    return {"outputs": outputs_sink(settings, columns), "rows": rows, "columns": columns}
