"""The sources' watermarks (udfs/jvm flink.PartitionWatermarks), driven step by step with a
clock of the test's own: one partition cannot hold the other partners' clock back for long,
stuck in the past or replaying it slowly, while a partition catching up on a backlog (the job
reading its own after an outage) keeps counting and so turns no record late."""
import pytest

MINUTE = 60_000
HOUR = 60 * MINUTE
START = 1_750_000_000_000  # the test's wall clock at step 0
OOO = 2 * MINUTE
WINDOW = 30_000  # LASTMILE_IDLE_TIMEOUT_S
MAX_LAG = 15 * MINUTE  # LASTMILE_MAX_PARTITION_LAG_S
EMIT = 200  # Flink's periodic emit


def run(jvm, partitions, steps_of, seconds=90, window=WINDOW, max_lag=MAX_LAG):
    """``steps_of(t)``: the records ``[[partition, ts], ...]`` that arrive in the emit period
    ending ``t`` ms after the start. What each partition emitted, by time."""
    times = range(EMIT, seconds * 1000 + 1, EMIT)
    steps = [[START + t, steps_of(t)] for t in times]
    out = jvm.call("Sources", "watermarks", {"partitions": partitions, "out_of_orderness_ms": OOO, "window_ms": window,
                                             "max_lag_ms": max_lag, "steps": steps})
    return dict(zip(times, out))


def live(partition, t):
    """A partition whose records are stamped with the wall clock."""
    return [partition, START + t]


def test_a_live_partition_s_watermark_trails_its_newest_timestamp_by_the_out_of_orderness(jvm):
    emitted = run(jvm, 1, lambda t: [live(0, t)], seconds=5)
    assert all(e == [START + t - OOO - 1] for t, e in emitted.items())


def test_nothing_is_emitted_before_a_partition_read_anything(jvm):
    emitted = run(jvm, 2, lambda t: [live(0, t)], seconds=5)
    assert all(e[1] is None for e in emitted.values())


def test_a_partition_stuck_in_the_past_stops_counting_after_the_window_and_counts_again_once_it_moves(jvm):
    stuck_at = START - HOUR

    def records(t):
        return [live(0, t), [1, stuck_at if t < 60_000 else START + t]]

    emitted = run(jvm, 2, records)
    assert emitted[10_000][1] == stuck_at - OOO - 1  # not yet: within its window
    assert all(emitted[t][1] == "idle" for t in range(31_000, 60_000, EMIT))
    assert all(emitted[t][0] == START + t - OOO - 1 for t in emitted)  # the live one goes on
    assert emitted[60_000][1] == START + 60_000 - OOO - 1


def test_a_partition_replaying_the_past_at_real_time_speed_stops_counting_after_one_window(jvm):
    """A partner an hour behind, advancing as fast as the clock: it held every partner's
    watermark an hour back for as long as it kept sending."""
    emitted = run(jvm, 2, lambda t: [live(0, t), [1, START - HOUR + t]])
    assert emitted[10_000][1] == START - HOUR + 10_000 - OOO - 1  # its first window: not judged yet
    assert all(emitted[t][1] == "idle" for t in emitted if t > WINDOW)
    assert all(emitted[t][0] == START + t - OOO - 1 for t in emitted)


def test_a_partition_catching_up_on_a_backlog_keeps_counting(jvm):
    """An hour behind, read at 10x real time (the job's own backlog after an outage): its
    records must not become late, so it keeps holding the others back until it caught up."""
    emitted = run(jvm, 2, lambda t: [live(0, t), [1, min(START - HOUR + 10 * t, START + t)]])
    assert all(isinstance(e[1], int) for e in emitted.values())
    assert emitted[30_000][1] == START - HOUR + 300_000 - OOO - 1


def test_partitions_all_read_slowly_together_keep_counting(jvm):
    """A job that cannot keep up reads every partition at under real time: none is behind
    the others by more than the bound, so none stops counting."""
    emitted = run(jvm, 3, lambda t: [[p, START - 2 * HOUR + t // 2 - p * MINUTE] for p in range(3)])
    assert all(all(isinstance(w, int) for w in e) for e in emitted.values())


def test_a_slow_partition_within_the_bound_keeps_counting(jvm):
    emitted = run(jvm, 2, lambda t: [live(0, t), [1, START - 10 * MINUTE + t]])
    assert all(isinstance(e[1], int) for e in emitted.values())


@pytest.mark.parametrize("behind", ["stuck", "slow"])
def test_a_bounded_run_waits_for_every_partition(jvm, behind):
    def records(t):
        return [live(0, t), [1, START - HOUR + (0 if behind == "stuck" else t)]]

    emitted = run(jvm, 2, records, window=2**63 - 1, max_lag=2**63 - 1)
    assert all(isinstance(e[1], int) for e in emitted.values())
