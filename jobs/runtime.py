"""Execution environments and connectors shared by the jobs.

Nothing here knows a host or port: endpoints come from :class:`lastmile.config.Config`.
"""
from __future__ import annotations

import os
import sys

from lastmile.config import Config
from lastmile.stack import jars


def stream_env(config: Config, parallelism: int | None = None, extra: dict | None = None, ship_jars: bool = False):
    """A StreamExecutionEnvironment in thread mode with the connector jars on its classpath.

    Without an ``execution.target`` in ``extra`` this is the local MiniCluster inside
    PyFlink's JVM. ``python.executable`` is this interpreter, so the UDF workers import
    the same venv (otherwise: "No module named 'pyflink'"). ``ship_jars``: the job
    carries the jars (``pipeline.jars``) even when they are on the classpath here, for a
    cluster whose lib folder does not have them.
    """
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment

    # pemja (thread mode) finds its interpreter on PATH, not only through
    # python.executable: a venv that is not activated must come first on PATH
    # before the JVM starts, or the task fails with "No module named 'pemja'".
    venv_bin = os.path.dirname(sys.executable)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != venv_bin:
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    jars_on_classpath = _start_gateway_with_jars(config)
    conf = Configuration()
    # Thread mode: Python runs in the task's JVM through pemja, ~2x process mode here.
    conf.set_string("python.execution-mode", "thread")
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.client.executable", sys.executable)
    # Chained operators hand records on without a defensive copy: copying rows between the
    # SQL operators was a quarter of the TaskManagers' Java time (JFR, 300k events). Every
    # operator of ours emits new objects or copies what it keeps (the ClickHouse sinks encode at once).
    conf.set_string("pipeline.object-reuse", "true")
    if ship_jars or not jars_on_classpath:
        conf.set_string("pipeline.jars", ";".join(p.as_uri() for p in jars.flink_connector_jars(config)))
    for key, value in (extra or {}).items():
        conf.set_string(key, str(value))
    if (extra or {}).get("execution.target") == "remote":
        # get_execution_environment() makes a local environment of anything without a
        # context (a `flink run`): the constructor keeps the target and its REST address.
        from pyflink.java_gateway import get_gateway

        env = StreamExecutionEnvironment(get_gateway().jvm.org.apache.flink.streaming.api.environment
                                         .StreamExecutionEnvironment(conf._j_configuration))
    else:
        env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(parallelism or config.parallelism)
    return env


_gateway_lib = None  # the lib folder this process's PyFlink JVM was started with, if any


def _start_gateway_with_jars(config: Config) -> bool:
    """Start PyFlink's JVM with the job's jars on its classpath, if this process has none yet.

    Whether the JVM has them: True too when an earlier call started it with the same jars;
    False when something else started it (the ``flink run`` client that started this
    process, or a plain PyFlink call before this one): then only ``pipeline.jars`` can
    bring the jars, see :func:`lastmile.stack.flink.local_lib` for why that is the weaker way.
    """
    global _gateway_lib
    from pyflink import java_gateway

    from lastmile.stack import cds, flink

    if java_gateway._gateway is not None or "PYFLINK_GATEWAY_PORT" in os.environ:
        return _gateway_lib is not None and _gateway_lib == flink.local_lib(config)
    lib = flink.local_lib(config)
    # This JVM plans the job and, for the MiniCluster, runs it: the client compiler only
    # (as in the cluster's JVMs, infra/flink/config.yaml) and a class-data sharing archive
    # (lastmile.stack.cds) cut its part of the start from ~10.5 to ~6.3 s.
    # The parallel collector: in the MiniCluster this JVM runs the job too, and G1's concurrent
    # work competes with it on 2 cores (as on the cluster's TaskManagers, infra/flink/config.yaml).
    options = ["-XX:TieredStopAtLevel=1", "-XX:+UseParallelGC"]
    archive = cds.archive_for(config, "gateway-parallel-c1", [*sorted(lib.glob("*.jar")), *flink.wheel_python_jars()])
    jvm_args = " ".join([os.environ.get("JVM_ARGS", ""), *options, *cds.jvm_options(archive)])
    # Read by PyFlink's launcher; without FLINK_HOME it would set FLINK_LIB_DIR to the wheel's lib/.
    launcher_env = {"FLINK_HOME": os.environ.get("FLINK_HOME", str(flink.wheel_home())), "FLINK_LIB_DIR": str(lib),
                    "JVM_ARGS": jvm_args.strip()}
    before = {name: os.environ.get(name) for name in launcher_env}
    os.environ.update(launcher_env)
    try:
        java_gateway.get_gateway()
        _gateway_lib = lib
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
    return True


def table_env(env):
    from pyflink.table import StreamTableEnvironment

    return StreamTableEnvironment.create(env)


def kafka_table(t_env, config: Config, name: str, topic_pattern: str, group_id: str, bounded: bool):
    """Every record of the topics matching ``topic_pattern`` as a table
    ``(payload BYTES, topic, partition, offset, ts)`` with event-time watermarks on ``ts``.

    Uses the Flink Kafka connector with the ``raw`` format, so the bytes arrive untouched
    (decoding failures become dead letters with their offset). ``ts`` is the Kafka record
    timestamp, which partner producers set to the event's time (the SDK and `lastmile
    ingest` do): the connector then tracks watermarks per partition (bounded
    out-of-orderness, idle partitions skipped), so reading a backlog of many partitions at
    different speeds makes nothing late by accident. ``bounded`` stops at the end offsets
    seen when the job starts.
    """
    options = {
        "connector": "kafka",
        "topic-pattern": topic_pattern,
        "properties.bootstrap.servers": config.kafka_bootstrap,
        "properties.group.id": group_id,
        "scan.startup.mode": "earliest-offset",
        "format": "raw",
    }
    if bounded:
        from lastmile import topics

        if not topics.matching(config, topic_pattern):
            # The Kafka source never ends when its pattern matches no topic: an empty table
            # instead (a partner that publishes only some streams, or no partner yet).
            return _empty_source(t_env, name, config)
        options["scan.bounded.mode"] = "latest-offset"
        options["scan.topic-partition-discovery.interval"] = "0 s"  # what is there now, no more
    else:
        # New partner topics are picked up while running.
        options["scan.topic-partition-discovery.interval"] = "10 s"
        # Only live: a backlog read under backpressure can leave a partition silent
        # for a while; marking it idle would let the watermark overtake its records.
        t_env.get_config().set("table.exec.source.idle-timeout", f"{int(config.idle_timeout_s * 1000)} ms")
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE `{name}` (
          `payload` BYTES,
          `topic` STRING METADATA VIRTUAL,
          `partition` INT METADATA VIRTUAL,
          `offset` BIGINT METADATA VIRTUAL,
          `ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
          WATERMARK FOR `ts` AS `ts` - {_interval(config.out_of_orderness_s)}
        ) WITH (
        {_with_clause(options)}
        )""")
    return t_env.from_path(f"`{name}`")


def _empty_source(t_env, name: str, config: Config):
    """A bounded table like :func:`kafka_table`'s with no rows (it ends at once)."""
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE `{name}` (
          `payload` BYTES, `topic` STRING, `partition` INT, `offset` BIGINT, `ts` TIMESTAMP_LTZ(3),
          WATERMARK FOR `ts` AS `ts` - {_interval(config.out_of_orderness_s)}
        ) WITH ('connector' = 'datagen', 'number-of-rows' = '0')""")
    return t_env.from_path(f"`{name}`")


def to_python_rows(t_env, table):
    """``Row(payload, topic, partition, offset, ts, ...)`` for Python functions (further columns
    of ``table`` follow).

    Bytes cross into Python as a latin-1 string (one char per byte, a bijection):
    cheaper than pemja's element-wise conversion of a Java byte[].
    """
    extra = "".join(f", `{name}`" for name in table.get_schema().get_field_names()[5:])
    t_env.create_temporary_view("to_python_rows_input", table)
    rows = t_env.sql_query("SELECT DECODE(`payload`, 'ISO-8859-1') AS `payload`, `topic`, `partition`, `offset`, `ts`"
                           f"{extra} FROM to_python_rows_input")
    t_env.drop_temporary_view("to_python_rows_input")
    return t_env.to_data_stream(rows)


def side_output(stream, tag):
    """``stream.get_side_output(tag)`` without the identity map PyFlink puts after it.

    PyFlink's ``get_side_output`` returns ``map(lambda i: i)`` of the side output: one more
    Python operator per side output, so every element emitted there crossed back into
    Python and out again before going anywhere (in a cluster run, ~25 % of the Python
    time of the job). The elements are already of the tag's type, which is all a
    downstream Python or JVM operator needs.
    """
    from pyflink.datastream import DataStream

    return DataStream(stream._j_data_stream.getSideOutput(tag.get_java_output_tag()))


def keyed(stream, key_type):
    """A KeyedStream of ``stream``, whose elements are already ``Row(key, value)``.

    What PyFlink's ``key_by(selector)`` builds, without its Python operator that calls the
    selector: a function that knows the key of what it emits writes it itself. After a
    union (two inputs of one keyed function) that operator could not be chained and was
    one more crossing into Python per element. The value type is pickled.
    """
    from pyflink.common import Types
    from pyflink.datastream.data_stream import KeyedStream
    from pyflink.java_gateway import get_gateway

    j_keyed = stream._j_data_stream.keyBy(get_gateway().jvm.KeyByKeySelector(),
                                         Types.ROW([key_type]).get_java_type_info())
    return KeyedStream(j_keyed, Types.PICKLED_BYTE_ARRAY(), stream)


def kafka_raw_source(t_env, config: Config, name: str, topic_pattern: str, group_id: str, bounded: bool):
    """:func:`kafka_table` as a DataStream of :func:`to_python_rows`."""
    return to_python_rows(t_env, kafka_table(t_env, config, name, topic_pattern, group_id, bounded))


def clickhouse_url(config: Config) -> str:
    """ClickHouse's HTTP interface, where the JVM sinks post their rows."""
    return f"{'https' if config.clickhouse_secure else 'http'}://{config.clickhouse_host}:{config.clickhouse_http_port}/"


def clickhouse_columns(config: Config, tables: dict) -> dict[str, list[tuple[str, str]]]:
    """``(column, ClickHouse type)`` of each table's columns in the given order, from the
    server's ``system.columns``: what the rows are encoded with (udfs.sinks.rowbinary)."""
    from lastmile.clickhouse import http_client
    from lastmile.errors import StackError

    client = http_client(config)
    try:
        found = {(t, c): ty for t, c, ty in client.query(
            "SELECT table, name, type FROM system.columns WHERE database = {db:String} AND table IN {tables:Array(String)}",
            parameters={"db": config.clickhouse_database, "tables": list(tables)}).result_rows}
    finally:
        client.close()
    missing = [f"{t}.{c}" for t, cols in tables.items() for c in cols if (t, c) not in found]
    if missing:
        raise StackError(f"ClickHouse database {config.clickhouse_database} lacks {', '.join(missing[:5])}: "
                         "run `lastmile migrate`")
    return {t: [(c, found[(t, c)]) for c in cols] for t, cols in tables.items()}


def outputs_sink(config: Config, columns: dict, guarantee: str = "AT_LEAST_ONCE"):
    """A sink for the job's outputs: a stream of :class:`udfs.records.Outputs` of the Python
    functions, framed here (udfs.flink.outputs.EncodeOutputs), and the JVM stages' frames
    (udfs/sinks/frames.py), all written by the JVM.

    ClickHouse rows through udfs/jvm ``ClickHouseSink``: posted in batches of up to 8 MiB or
    1 s, flushed on every checkpoint and at the end of input; retried, then the job fails
    and restarts from its last checkpoint. Kafka messages through Flink's ``KafkaSink``,
    which flushes on every checkpoint (``guarantee`` AT_LEAST_ONCE) or commits a
    transaction with it (EXACTLY_ONCE); topics are created on first use (udfs/jvm
    ``KafkaFrames``). ``columns``: table -> ``[(column, ClickHouse type)]`` of the rows
    (:func:`clickhouse_columns`).
    """

    def write(outputs, clickhouse_frames=(), kafka_frames=()):
        """``outputs``: a stream (or streams) of ``Outputs``; the frames: Java streams of bytes."""
        from pyflink.common import Types
        from pyflink.datastream import DataStream
        from pyflink.datastream.connectors import Sink
        from pyflink.java_gateway import get_gateway

        from udfs.flink.outputs import KAFKA_FRAMES, EncodeOutputs

        jvm = get_gateway().jvm
        python = [outputs] if isinstance(outputs, DataStream) else list(outputs)
        clickhouse_frames, kafka_frames = list(clickhouse_frames), list(kafka_frames)
        if python:  # no Python operator at all when every stage is on the JVM
            frames = (_union(*python).process(EncodeOutputs(config.clickhouse_database, columns),
                                              output_type=Types.PRIMITIVE_ARRAY(Types.BYTE()))
                      .name("outputs").uid("outputs"))
            clickhouse_frames.insert(0, frames)
            kafka_frames.insert(0, side_output(frames, KAFKA_FRAMES))
        j_clickhouse = jvm.io.lastmile.udfs.sinks.ClickHouseSink.frames(
            clickhouse_url(config), config.clickhouse_user, config.clickhouse_password, 8 << 20, 1000, 5)
        clickhouse = _union(*clickhouse_frames).sink_to(Sink(j_clickhouse)).name("clickhouse").uid("clickhouse")
        producer = jvm.java.util.Properties()
        for key, value in {"linger.ms": "100", "batch.size": "1048576",
                           "compression.type": config.kafka_output_compression,  # see Config
                           "enable.idempotence": "true"}.items():
            producer.setProperty(key, value)
        admin = jvm.java.util.Properties()
        admin.setProperty("bootstrap.servers", config.kafka_bootstrap)
        records = (_union(*kafka_frames)._j_data_stream
                   .flatMap(jvm.io.lastmile.udfs.sinks.KafkaFrames(admin, config.topic_partitions))
                   .name("kafka records").uid("kafka-records"))
        j_kafka = jvm.io.lastmile.udfs.sinks.KafkaFrames.sink(config.kafka_bootstrap, producer, guarantee,
                                                              "lastmile-coordination")
        kafka = records.sinkTo(j_kafka).name("kafka").uid("kafka")
        return clickhouse, kafka

    return write


def _union(*streams):
    """One stream of ``streams`` (Python DataStreams or Java ones, of one type)."""
    from pyflink.datastream import DataStream

    first, *others = (s if isinstance(s, DataStream) else DataStream(s) for s in streams)
    return first.union(*others) if others else first


def _interval(seconds: float) -> str:
    """A Flink SQL day-time interval literal (single-unit literals overflow at 99 units)."""
    ms = int(round(seconds * 1000))
    days, ms = divmod(ms, 86_400_000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{ms // 1000:02d}.{ms % 1000:03d}' DAY TO SECOND(3)"


def _with_clause(options: dict) -> str:
    return ",\n".join(f"  '{k}' = '{_sql_escape(v)}'" for k, v in options.items())


def _sql_escape(value: str) -> str:
    return str(value).replace("'", "''")
