"""udfs.flink.outputs: one call's rows and messages leave as one element, framed per table."""
from udfs.flink.outputs import KAFKA, KAFKA_FRAMES, OUTPUTS, ROWS, EncodeOutputs, gather
from udfs.records import Outputs
from udfs.sinks import frames


def test_gather_keeps_other_outputs_in_order_and_emits_the_rows_and_messages_once_at_the_end():
    side = object()
    results = [(ROWS, ("t", (1,))), ("main",), (KAFKA, (("a", "b"), "k", b"v")), (side, 5), (ROWS, ("u", (2,)))]
    assert list(gather(iter(results))) == [
        ("main",), (side, 5), (OUTPUTS, Outputs((("t", (1,)), ("u", (2,))), ((("a", "b"), "k", b"v"),)))]
    assert list(gather(iter(results), tag=None))[-1] == Outputs((("t", (1,)), ("u", (2,))),
                                                               ((("a", "b"), "k", b"v"),))
    assert list(gather(iter([("main",)]))) == [("main",)]  # nothing written: no element


def test_encode_outputs_frames_each_table_once_and_all_messages_in_one_kafka_frame():
    encode = EncodeOutputs("db", {"t": [("x", "Int32")], "u": [("y", "String")]})
    encode.open(None)
    out = Outputs((("t", (1,)), ("u", ("a",)), ("t", (2,))),
                  ((("topic.a", "topic.b"), "k", b"v"), (("topic.a",), None, b"w")))
    emitted = list(encode.process_element(out, None))
    ch = [frames.read_clickhouse(f) for f in emitted if not isinstance(f, tuple)]
    assert [query for query, _ in ch] == ["INSERT INTO `db`.`t` (`x`) FORMAT RowBinary",
                                          "INSERT INTO `db`.`u` (`y`) FORMAT RowBinary"]
    assert ch[0][1] == (1).to_bytes(4, "little") + (2).to_bytes(4, "little")
    kafka = [f for tag, f in (e for e in emitted if isinstance(e, tuple)) if tag is KAFKA_FRAMES]
    assert len(kafka) == 1
    assert list(frames.read_kafka(kafka[0])) == [("topic.a", b"k", b"v"), ("topic.b", b"k", b"v"),
                                                 ("topic.a", None, b"w")]
