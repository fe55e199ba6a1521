"""Sources, sinks and stream helpers shared by the job graphs.

Nothing here knows a host or port: endpoints come as narrow targets in
:class:`jobs.settings.JobSettings`. The execution environment (the connector jars, the
JVM's options) is the caller's: ``lastmile.run.stream_env``.
"""
from __future__ import annotations

from jobs.settings import JobSettings


def table_env(env):
    from pyflink.table import StreamTableEnvironment

    return StreamTableEnvironment.create(env)


def kafka_table(t_env, settings: JobSettings, name: str, topic_pattern: str, group_id: str, bounded: bool,
                empty: bool = False):
    """Every record of the topics matching ``topic_pattern`` as a table
    ``(payload BYTES, topic, partition, offset, ts)`` with event-time watermarks on ``ts``.

    Uses the Flink Kafka connector with the ``raw`` format, so the bytes arrive untouched
    (decoding failures become dead letters with their offset). ``ts`` is the Kafka record
    timestamp, which partner producers set to the event's time (the SDK and `lastmile
    ingest` do): the connector then tracks watermarks per partition (bounded
    out-of-orderness, idle partitions skipped), so reading a backlog of many partitions at
    different speeds makes nothing late by accident. ``bounded`` stops at the end offsets
    seen when the job starts; ``empty`` (bounded only): no topic matches the pattern yet, the
    table is empty (the Kafka source would wait for one and never end).
    """
    options = {
        "connector": "kafka",
        "topic-pattern": topic_pattern,
        **{f"properties.{key}": value for key, value in settings.kafka.client_properties().items()},
        "properties.group.id": group_id,
        "scan.startup.mode": "earliest-offset",
        "format": "raw",
    }
    if bounded:
        if empty:  # a partner that publishes only some streams, or no partner yet
            return _empty_source(t_env, name, settings)
        options["scan.bounded.mode"] = "latest-offset"
        options["scan.topic-partition-discovery.interval"] = "0 s"  # what is there now, no more
    else:
        # New partner topics are picked up while running.
        options["scan.topic-partition-discovery.interval"] = "10 s"
        # Only live: a backlog read under backpressure can leave a partition silent
        # for a while; marking it idle would let the watermark overtake its records.
        t_env.get_config().set("table.exec.source.idle-timeout", f"{int(settings.idle_timeout_s * 1000)} ms")
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE `{name}` (
          `payload` BYTES,
          `topic` STRING METADATA VIRTUAL,
          `partition` INT METADATA VIRTUAL,
          `offset` BIGINT METADATA VIRTUAL,
          `ts` TIMESTAMP_LTZ(3) METADATA FROM 'timestamp',
          WATERMARK FOR `ts` AS `ts` - {_interval(settings.out_of_orderness_s)}
        ) WITH (
        {_with_clause(options)}
        )""")
    return t_env.from_path(f"`{name}`")


def _empty_source(t_env, name: str, settings: JobSettings):
    """A bounded table like :func:`kafka_table`'s with no rows (it ends at once)."""
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE `{name}` (
          `payload` BYTES, `topic` STRING, `partition` INT, `offset` BIGINT, `ts` TIMESTAMP_LTZ(3),
          WATERMARK FOR `ts` AS `ts` - {_interval(settings.out_of_orderness_s)}
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


def kafka_raw_source(t_env, settings: JobSettings, name: str, topic_pattern: str, group_id: str, bounded: bool,
                     empty: bool = False):
    """:func:`kafka_table` as a DataStream of :func:`to_python_rows`."""
    return to_python_rows(t_env, kafka_table(t_env, settings, name, topic_pattern, group_id, bounded, empty))


def outputs_sink(settings: JobSettings, columns: dict, guarantee: str = "AT_LEAST_ONCE"):
    """A sink for the job's outputs: a stream of :class:`udfs.records.Outputs` of the Python
    functions, framed here (udfs.flink.outputs.EncodeOutputs), and the JVM stages' frames
    (udfs/sinks/frames.py), all written by the JVM.

    ClickHouse rows through udfs/jvm ``ClickHouseSink``: posted in batches of up to 8 MiB or
    1 s, flushed on every checkpoint and at the end of input; retried, then the job fails
    and restarts from its last checkpoint. Kafka messages through Flink's ``KafkaSink``,
    which flushes on every checkpoint (``guarantee`` AT_LEAST_ONCE) or commits a
    transaction with it (EXACTLY_ONCE); topics are created on first use (udfs/jvm
    ``KafkaFrames``). ``columns``: table -> ``[(column, ClickHouse type)]`` of the rows
    (``lastmile.run.clickhouse_columns``).
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
            frames = (_union(*python).process(EncodeOutputs(settings.clickhouse.database, columns),
                                              output_type=Types.PRIMITIVE_ARRAY(Types.BYTE()))
                      .name("outputs").uid("outputs"))
            clickhouse_frames.insert(0, frames)
            kafka_frames.insert(0, side_output(frames, KAFKA_FRAMES))
        target = settings.clickhouse
        j_clickhouse = jvm.io.lastmile.udfs.sinks.ClickHouseSink.frames(
            target.http_url, target.user, target.password, 8 << 20, 1000, int(target.retry_for_s * 1000))
        clickhouse = _union(*clickhouse_frames).sink_to(Sink(j_clickhouse)).name("clickhouse").uid("clickhouse")
        producer = jvm.java.util.Properties()
        for key, value in {"linger.ms": "100", "batch.size": "1048576",
                           "compression.type": settings.kafka.compression,  # see lastmile.config.Config
                           "enable.idempotence": "true", **settings.kafka.client_properties()}.items():
            producer.setProperty(key, value)
        admin = jvm.java.util.Properties()
        for key, value in settings.kafka.client_properties().items():  # servers, authentication
            admin.setProperty(key, value)
        records = (_union(*kafka_frames)._j_data_stream
                   .flatMap(jvm.io.lastmile.udfs.sinks.KafkaFrames(admin, settings.kafka.partitions))
                   .name("kafka records").uid("kafka-records"))
        j_kafka = jvm.io.lastmile.udfs.sinks.KafkaFrames.sink(settings.kafka.bootstrap, producer, guarantee,
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
