"""Ping batches as the ETA path reads them (udfs.pings), and the intervals that pace it."""
from hypothesis import given
from hypothesis import strategies as st

from udfs.pings import batch_from_row, interval_end, parse_pings, track

INTERVAL_MS = 300_000


@given(st.integers(min_value=0, max_value=4_102_444_800_000), st.sampled_from([1_000, 60_000, INTERVAL_MS]))
def test_interval_end_is_the_last_millisecond_of_the_tumbling_window_holding_the_time(ts, interval_ms):
    end = interval_end(ts, interval_ms)
    start = end - interval_ms + 1
    assert start <= ts <= end
    assert start % interval_ms == 0  # windows from the epoch, as Flink SQL's TUMBLE
    assert interval_end(start, interval_ms) == interval_end(end, interval_ms) == end
    assert interval_end(end + 1, interval_ms) == end + interval_ms


def test_a_batch_row_parses_back_exactly_in_time_order():
    row = ("pa", "van-1", "1700000060000,52.52,13.405,;1700000000000,52.51,13.4,7.25")
    batch = batch_from_row(row)
    assert batch.key == "pa:van-1"
    assert batch.pings == ((1_700_000_000_000, 52.51, 13.4, 7.25), (1_700_000_060_000, 52.52, 13.405, None))
    assert batch.at == 1_700_000_060_000  # the newest ping
    assert parse_pings("5,1.5,2.5,;5,1.0,2.5,") == ((5, 1.0, 2.5, None), (5, 1.5, 2.5, None))


def test_tracking_skips_pings_not_newer_than_the_last_one_seen():
    first = (1_700_000_000_000, 52.5200, 13.4050, 8.0)
    moving = (1_700_000_030_000, 52.5215, 13.4070, 8.0)
    newest, by_district = track(None, (first, moving))
    assert newest == moving and sum(len(s) for s in by_district.values()) == 1
    again, nothing = track(newest, (first, moving))  # a replayed batch teaches nothing twice
    assert again == moving and nothing == {}
