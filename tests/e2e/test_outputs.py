"""The JVM output sinks against real ClickHouse and Kafka.

RowBinary rows encoded in Python (udfs.sinks.rowbinary) must read back exactly like the
same rows inserted by clickhouse-connect, for every table the job writes; and the JVM
sinks (udfs/jvm ``ClickHouseSink``, ``KafkaFrames`` + Flink's KafkaSink) must deliver what
the Python stages framed.
"""
import hashlib
import random
import sys
import uuid

import cloudpickle
from confluent_kafka import Consumer

from jobs.runtime import outputs_sink
from lastmile import topics
from lastmile.run import clickhouse_columns, stream_env
from udfs.records import Outputs
from udfs.rows import COLUMNS
from udfs.sinks.rowbinary import RowEncoder

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _value(ch_type: str, rng: random.Random):
    """A value of a ClickHouse type, edge cases included (nulls, empty, non-ASCII, raw bytes)."""
    if ch_type.startswith("LowCardinality("):
        return _value(ch_type[15:-1], rng)
    if ch_type.startswith("Nullable("):
        return None if rng.random() < 0.4 else _value(ch_type[9:-1], rng)
    if ch_type.startswith("Array("):
        return [_value(ch_type[6:-1], rng) for _ in range(rng.choice([0, 1, 3]))]
    if ch_type.startswith("DateTime64"):
        return rng.choice([0, 1_751_328_000_123, 4_102_444_799_999])
    if ch_type == "String":
        return rng.choice(["", "plain", "Straße 7, 3. OG", "\u00e9\u4e2d", "a'b\"c\\d\n"])
    if ch_type == "UUID":
        return str(uuid.UUID(int=rng.getrandbits(128)))
    if ch_type == "Bool":
        return rng.random() < 0.5
    if ch_type.startswith("Float"):
        return rng.choice([0.0, -1.5, 1e-300, 123456.789])
    if ch_type == "UInt8":  # flags, e.g. a ReplacingMergeTree's is_deleted (0 or 1 only)
        return rng.choice([0, 1])
    if ch_type.startswith("UInt"):
        bits = int(ch_type[4:])
        return rng.choice([0, 1, 2**bits - 1])
    if ch_type.startswith("Int"):
        bits = int(ch_type[3:])
        return rng.choice([0, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1])
    raise AssertionError(f"no sample for {ch_type}")


def test_rowbinary_rows_read_back_like_clickhouse_connect_inserts(stack, ch):
    rng = random.Random(11)
    for table, columns in clickhouse_columns(stack, COLUMNS).items():
        rows = [tuple(_value(t, rng) for _, t in columns) for _ in range(40)]
        if table == "dead_letters":  # the original bytes, whatever they are
            rows = [r[:-1] + (bytes(rng.getrandbits(8) for _ in range(20)),) for r in rows]
        names = [c for c, _ in columns]
        for copy in ("rb", "ref"):
            ch.command(f"CREATE TABLE {table}_{copy} AS {table}")
        encoder = RowEncoder(table, columns)
        ch.raw_insert(f"{table}_rb", names, insert_block=bytes(encoder.encode(rows)), fmt="RowBinary")
        ch.insert(f"{table}_ref", rows, column_names=names)
        order = ", ".join(f"toString(`{c}`)" for c in names)
        select = f"SELECT {', '.join(f'`{c}`' for c in names)} FROM {{t}} ORDER BY tuple({order})"
        read = lambda t, select=select: ch.query(select.format(t=t), query_formats={"String": "bytes"}).result_rows  # noqa: E731
        assert read(f"{table}_rb") == read(f"{table}_ref"), table
        for copy in ("rb", "ref"):
            ch.command(f"DROP TABLE {table}_{copy}")


def test_jvm_sinks_deliver_what_python_framed(stack, ch):
    from pyflink.common import Types

    config = stack.with_overrides(parallelism=1)
    inbox = f"partners.sinktest{uuid.uuid4().hex[:6]}.inbox"  # a topic created on first use
    run = uuid.uuid4().hex[:8]
    dead = [(f"dl-{run}-{i}", 1_751_328_000_000 + i, f"t/0/{i}", None if i % 2 else "p", "decode", "bad", "m",
             bytes([i, 0, 255]), hashlib.sha256(bytes([i, 0, 255])).hexdigest()) for i in range(25)]
    messages = [((topics.DEAD_LETTERS, inbox), f"k{i}", f"v{i}".encode()) for i in range(30)]
    # One element with many rows and messages, elements with one of either, one with both.
    outputs = [Outputs(tuple(("dead_letters", r) for r in dead[:20]), tuple(messages[:10])),
               *(Outputs(rows=(("dead_letters", r),)) for r in dead[20:24]),
               *(Outputs(messages=(m,)) for m in messages[10:]),
               Outputs((("dead_letters", dead[24]),), (((inbox,), None, b"no key"),))]
    env = stream_env(config)

    def stream(elements):  # built in Python: Java cannot unpickle these objects
        return (env.from_collection(list(range(len(elements))), type_info=Types.INT())
                .map(lambda i: elements[i], output_type=Types.PICKLED_BYTE_ARRAY()))
    outputs_sink(config.job_settings(), clickhouse_columns(config, {"dead_letters": COLUMNS["dead_letters"]}))(stream(outputs))
    env.execute("sink test")

    written = ch.query(f"SELECT dead_letter_id, toUnixTimestamp64Milli(received_at), source, partner_id, stage, "
                       f"reason, message, payload, payload_sha256 FROM dead_letters WHERE dead_letter_id LIKE 'dl-{run}-%' "
                       f"ORDER BY dead_letter_id", column_formats={"payload": "bytes"}).result_rows
    assert [tuple(r) for r in written] == sorted(dead)

    consumer = Consumer({"bootstrap.servers": stack.kafka_bootstrap, "group.id": f"sinktest-{run}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([inbox])
    got = []
    while len(got) < 31:
        msg = consumer.poll(10)
        assert msg is not None, f"only {len(got)} of 31 messages reached {inbox}"
        assert msg.error() is None
        got.append((msg.key(), msg.value()))
    consumer.close()
    assert sorted(got, key=repr) == sorted([(f"k{i}".encode(), f"v{i}".encode()) for i in range(30)]
                                           + [(None, b"no key")], key=repr)
