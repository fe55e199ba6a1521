"""Frames and RowBinary encoding (the JVM side is held to them in tests/e2e/test_outputs.py)."""
import struct
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from udfs.sinks import frames, rowbinary

messages = st.lists(st.tuples(st.text(min_size=1, max_size=20), st.one_of(st.none(), st.binary(max_size=30)),
                              st.binary(max_size=200)), max_size=20)


@given(messages)
def test_kafka_frames_round_trip(msgs):
    assert list(frames.read_kafka(frames.kafka_frame(msgs))) == msgs


@given(st.text(max_size=100), st.binary(max_size=300))
def test_clickhouse_frames_round_trip(query, body):
    assert frames.read_clickhouse(frames.clickhouse_frame(query, body)) == (query, body)


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_lengths_are_unsigned_leb128(n):
    out = bytearray()
    rowbinary._varint(out, n)
    decoded, shift = 0, 0
    for i, byte in enumerate(out):
        decoded |= (byte & 0x7F) << shift
        shift += 7
        assert (byte & 0x80 == 0) == (i == len(out) - 1)  # continuation bit on all but the last byte
    assert decoded == n


def test_uuid_is_written_as_two_little_endian_halves():
    u = uuid.uuid4()
    out = bytearray()
    rowbinary.encoder("UUID")(out, str(u))
    high, low = struct.unpack("<QQ", out)
    assert (high << 64) | low == u.int


def test_nullable_and_arrays_nest():
    enc = rowbinary.encoder("Array(Nullable(Int32))")
    out = bytearray()
    enc(out, [1, None, -2])
    assert bytes(out) == b"\x03" + b"\x00" + struct.pack("<i", 1) + b"\x01" + b"\x00" + struct.pack("<i", -2)


@pytest.mark.parametrize("ch_type", ["Decimal(10, 2)", "DateTime64(6, 'UTC')", "Map(String, String)", "IPv4"])
def test_a_type_the_job_does_not_write_fails_when_the_encoder_is_built(ch_type):
    with pytest.raises(ValueError, match="written"):
        rowbinary.encoder(ch_type)


def test_a_row_of_the_wrong_width_is_refused():
    enc = rowbinary.RowEncoder("t", [("a", "Int32"), ("b", "String")])
    with pytest.raises(ValueError, match="1 values for 2 columns"):
        enc.encode([(1,)])
