"""ClickHouse's RowBinary format, written from Python rows, for the JVM's ClickHouse sink.

The Python stages of the job hand their ClickHouse rows to a JVM sink (udfs/jvm
``ClickHouseSink``) that only moves bytes: it buffers them, posts them with
``INSERT INTO t (columns) FORMAT RowBinary`` and flushes on every checkpoint. So the
rows are encoded here, where they are made, with the column types of the server's own
tables (``system.columns``): the encoder of a type is built once, and a type it does
not know fails when the job is built, not while it runs.

Values are what the Python stages already produce for clickhouse-connect: epoch
milliseconds for ``DateTime64(3)``, text UUIDs, ``None`` for a null, lists for arrays.
The layout follows ClickHouse's documentation of RowBinary: little-endian numbers,
strings and arrays prefixed by an unsigned LEB128 length, a null flag byte before a
``Nullable`` value, a UUID as its two 64-bit halves each in little-endian order.
"""
from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

Encoder = Callable[[bytearray, Any], None]  # (buffer, value): appends the value's RowBinary

_FIXED = {"Int8": "<b", "Int16": "<h", "Int32": "<i", "Int64": "<q", "UInt8": "<B", "UInt16": "<H",
          "UInt32": "<I", "UInt64": "<Q", "Float32": "<f", "Float64": "<d"}


def _varint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _string(out: bytearray, value) -> None:
    data = value if isinstance(value, (bytes, bytearray)) else str(value).encode()
    _varint(out, len(data))
    out += data


def _uuid(out: bytearray, value) -> None:
    raw = (value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))).bytes
    out += raw[7::-1] + raw[:7:-1]  # each 64-bit half little-endian


def _bool(out: bytearray, value) -> None:
    out.append(1 if value else 0)


def _inner(ch_type: str, prefix: str) -> str | None:
    if ch_type.startswith(prefix + "(") and ch_type.endswith(")"):
        return ch_type[len(prefix) + 1:-1]
    return None


def encoder(ch_type: str) -> Encoder:
    """The encoder of one ClickHouse column type (as ``system.columns.type`` spells it)."""
    ch_type = ch_type.strip()
    if (inner := _inner(ch_type, "LowCardinality")) is not None:
        return encoder(inner)  # RowBinary writes the plain values
    if (inner := _inner(ch_type, "Nullable")) is not None:
        value_encoder = encoder(inner)

        def nullable(out: bytearray, value) -> None:
            if value is None:
                out.append(1)
            else:
                out.append(0)
                value_encoder(out, value)
        return nullable
    if (inner := _inner(ch_type, "Array")) is not None:
        element_encoder = encoder(inner)

        def array(out: bytearray, values) -> None:
            _varint(out, len(values))
            for v in values:
                element_encoder(out, v)
        return array
    if (m := re.fullmatch(r"DateTime64\((\d+)(?:,\s*'[^']*')?\)", ch_type)) is not None:
        if int(m[1]) != 3:
            raise ValueError(f"DateTime64 of precision {m[1]}: only milliseconds (3) are written")
        pack = struct.Struct("<q").pack

        def datetime64(out: bytearray, value) -> None:
            out += pack(int(value))
        return datetime64
    if ch_type in _FIXED:
        pack = struct.Struct(_FIXED[ch_type]).pack
        if ch_type.startswith("Float"):
            return lambda out, value: out.extend(pack(float(value)))
        return lambda out, value: out.extend(pack(int(value)))
    if ch_type == "String":
        return _string
    if ch_type == "UUID":
        return _uuid
    if ch_type == "Bool":
        return _bool
    raise ValueError(f"column type {ch_type} is not written by the job")


class RowEncoder:
    """The RowBinary bytes of rows of one table, columns in the order given."""

    def __init__(self, table: str, columns: Sequence[tuple[str, str]]):
        self.table = table
        self.columns = tuple(name for name, _ in columns)
        self._encoders = tuple(encoder(t) for _, t in columns)

    def encode(self, rows: Iterable[Sequence], out: bytearray | None = None) -> bytearray:
        out = bytearray() if out is None else out
        encoders = self._encoders
        width = len(encoders)
        for row in rows:
            if len(row) != width:
                raise ValueError(f"{self.table}: a row of {len(row)} values for {width} columns")
            for enc, value in zip(encoders, row):
                enc(out, value)
        return out

    def insert_query(self, database: str) -> str:
        cols = ", ".join(f"`{c}`" for c in self.columns)
        return f"INSERT INTO `{database}`.`{self.table}` ({cols}) FORMAT RowBinary"


# --- the way back: what the tests read the JVM's frames with ----------------------------------------

Decoder = Callable[[memoryview, int], tuple[object, int]]  # (data, position) -> (value, next position)


def _read_varint(data: memoryview, pos: int) -> tuple[int, int]:
    n, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        n |= (byte & 0x7F) << shift
        if byte < 0x80:
            return n, pos
        shift += 7


def decoder(ch_type: str) -> Decoder:
    """The decoder of one ClickHouse column type: the values :func:`encoder` takes (epoch
    milliseconds for ``DateTime64(3)``, text UUIDs, lists for arrays, ``None`` for a null)."""
    ch_type = ch_type.strip()
    if (inner := _inner(ch_type, "LowCardinality")) is not None:
        return decoder(inner)
    if (inner := _inner(ch_type, "Nullable")) is not None:
        value_decoder = decoder(inner)
        return lambda data, pos: (None, pos + 1) if data[pos] else value_decoder(data, pos + 1)
    if (inner := _inner(ch_type, "Array")) is not None:
        element_decoder = decoder(inner)

        def array(data, pos):
            n, pos = _read_varint(data, pos)
            values = []
            for _ in range(n):
                value, pos = element_decoder(data, pos)
                values.append(value)
            return values, pos
        return array
    if re.fullmatch(r"DateTime64\(3(?:,\s*'[^']*')?\)", ch_type):
        ch_type = "Int64"
    if ch_type in _FIXED:
        unpack = struct.Struct(_FIXED[ch_type])
        return lambda data, pos: (unpack.unpack_from(data, pos)[0], pos + unpack.size)
    if ch_type == "String":
        def string(data, pos):
            n, pos = _read_varint(data, pos)
            return bytes(data[pos:pos + n]), pos + n
        return string
    if ch_type == "UUID":
        return lambda data, pos: (str(uuid.UUID(bytes=bytes(data[pos:pos + 8])[::-1] + bytes(data[pos + 8:pos + 16])[::-1])),
                                  pos + 16)
    if ch_type == "Bool":
        return lambda data, pos: (bool(data[pos]), pos + 1)
    raise ValueError(f"column type {ch_type} is not written by the job")


def decode_rows(columns: Sequence[tuple[str, str]], body: bytes, binary: Iterable[str] = ("payload",)) -> list[tuple]:
    """The rows of RowBinary ``body`` for ``columns`` (name, ClickHouse type), as tuples of
    :func:`decoder` values; a String column's bytes are decoded as UTF-8, except the
    ``binary`` columns' (a dead letter's original bytes)."""
    decoders = [decoder(t) for _, t in columns]
    texts = [name not in binary and t.strip().removeprefix("LowCardinality(").removeprefix("Nullable(").startswith("String")
             for name, t in columns]
    data, pos, rows = memoryview(body), 0, []
    while pos < len(data):
        row = []
        for dec, text in zip(decoders, texts):
            value, pos = dec(data, pos)
            if text and isinstance(value, bytes):
                value = value.decode()
            elif isinstance(value, list):
                value = [v.decode() if isinstance(v, bytes) else v for v in value]
            row.append(value)
        rows.append(tuple(row))
    return rows
