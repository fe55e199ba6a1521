"""When the JVM's ClickHouse sink (udfs/jvm ``ClickHouseSink``) posts what it buffered: a batch
goes when its oldest row is the flush interval old, when it passes its byte limit, or when
Flink flushes the writer (before a checkpoint barrier, at the end of input); never later.
The writer runs on a clock the test moves, against a local server answering like ClickHouse."""
import random

INTERVAL = 1_000


def _posts(jvm, steps, max_bytes=1 << 20):
    got = jvm.call("Sinks", "posts", {"interval_ms": INTERVAL, "max_bytes": max_bytes, "steps": steps})
    return [(p["at"], p["bytes"]) for p in got]


def test_a_row_that_arrives_just_after_a_look_waits_one_interval_not_two(jvm):
    # the writer looks at its buffers every interval from its start (0, 1000, 2000, ...): the
    # row at 1001 turns an interval old at 2001, and goes then, not at the look at 3000
    steps = [["write", 0, 10], ["write", 1001, 7], ["time", 5_000]]
    assert _posts(jvm, steps) == [(1_000, 10), (2_001, 7)]


def test_rows_of_one_interval_go_together_when_the_first_turns_an_interval_old(jvm):
    steps = [["write", 1_500, 3], ["write", 1_900, 4], ["write", 2_499, 5], ["write", 2_500, 6], ["time", 9_000]]
    assert _posts(jvm, steps) == [(2_500, 12), (3_500, 6)]


def test_flushes_and_the_byte_limit_post_at_once_and_restart_the_wait(jvm):
    steps = [["write", 100, 5], ["flush", 400], ["write", 450, 8], ["write", 460, 8], ["write", 700, 2],
             ["time", 5_000]]
    # the flush at 400 posts the first row; the second write passes 16 bytes and posts both at
    # 460; the row at 700 waits its own interval
    assert _posts(jvm, steps, max_bytes=16) == [(400, 5), (460, 16), (1_700, 2)]


def test_no_row_waits_longer_than_the_interval_whatever_the_arrivals(jvm):
    rng = random.Random(11)
    for _ in range(20):
        times = sorted(rng.sample(range(20_000), rng.randint(1, 40)))
        steps = [["write", t, 1] for t in times] + [["time", 30_000]]
        expected, start, size = [], None, 0
        for t in times:  # the reference: a batch goes when its first row turns an interval old
            if start is not None and t >= start + INTERVAL:
                expected.append((start + INTERVAL, size))
                start, size = None, 0
            if start is None:
                start = t
            size += 1
        expected.append((start + INTERVAL, size))
        assert _posts(jvm, steps) == expected, times
