"""Frames: how the job's Python stages hand their outputs to the JVM sinks.

A Python stage's outputs of one call (ClickHouse rows, Kafka messages) cross into the
JVM as one ``bytes`` element, and JVM sinks write them: ClickHouse through
``io.lastmile.udfs.sinks.ClickHouseSink``, Kafka through Flink's own ``KafkaSink``
after ``io.lastmile.udfs.sinks.KafkaFrames`` splits a frame into records. Both sinks
flush on every checkpoint, so nothing the job accepted waits in Python memory when a
checkpoint completes (a Python writer would hold its buffer outside Flink's state).

The layout is plain length-prefixed binary, big-endian (Java's ``ByteBuffer`` order):

    ClickHouse frame  u32 query length, query (UTF-8), RowBinary rows (the rest)
    Kafka frame       per message: u32 topic length, topic, i32 key length (-1: null),
                      key, u32 value length, value

The Java readers are in udfs/jvm; :func:`read_kafka` and :func:`read_clickhouse` here
are the reference the tests hold them to.
"""
from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")


def clickhouse_frame(query: str, body: bytes | bytearray) -> bytes:
    q = query.encode()
    return _U32.pack(len(q)) + q + bytes(body)


def read_clickhouse(frame: bytes) -> tuple[str, bytes]:
    (n,) = _U32.unpack_from(frame, 0)
    return frame[4:4 + n].decode(), frame[4 + n:]


def kafka_frame(messages: Iterable[tuple[str, bytes | str | None, bytes]]) -> bytes:
    """``messages``: ``(topic, key, value)``; a text key is written as UTF-8."""
    out = bytearray()
    for topic, key, value in messages:
        t = topic.encode()
        out += _U32.pack(len(t)) + t
        if key is None:
            out += _I32.pack(-1)
        else:
            k = key.encode() if isinstance(key, str) else bytes(key)
            out += _I32.pack(len(k)) + k
        out += _U32.pack(len(value)) + value
    return bytes(out)


def read_kafka(frame: bytes) -> Iterator[tuple[str, bytes | None, bytes]]:
    pos = 0
    while pos < len(frame):
        (n,) = _U32.unpack_from(frame, pos)
        topic = frame[pos + 4:pos + 4 + n].decode()
        pos += 4 + n
        (k,) = _I32.unpack_from(frame, pos)
        pos += 4
        key = None if k < 0 else frame[pos:pos + k]
        pos += max(k, 0)
        (v,) = _U32.unpack_from(frame, pos)
        value = frame[pos + 4:pos + 4 + v]
        pos += 4 + v
        yield topic, key, value
