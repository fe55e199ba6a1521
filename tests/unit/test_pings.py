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


def test_driven_metres_add_up_the_legs_a_van_can_have_driven():
    from udfs.geo import haversine_m
    from udfs.pings import Ping, driven_m

    north = 1 / 111_194.93  # a metre north, in degrees
    t0 = 1_762_153_200_000
    pings = tuple(Ping(t0 + 10_000 * i, 52.5 + 100 * i * north, 13.4, None) for i in range(6))  # 100 m each 10 s
    leg = haversine_m(*pings[0][1:3], *pings[1][1:3])
    assert abs(driven_m(None, pings) - 5 * leg) < 1e-6 and abs(leg - 100) < 0.01
    # from the newest ping of the previous batch; older or equal pings are skipped
    assert abs(driven_m(pings[2], pings[3:]) - 3 * leg) < 1e-6
    assert driven_m(pings[-1], pings) == 0.0
    # a leg after a gap of more than ten minutes, or faster than 40 m/s (a GPS jump), is not counted
    later = Ping(pings[-1].ts + 11 * 60_000, pings[-1].lat + 500 * north, 13.4, None)
    jump = Ping(pings[-1].ts + 1_000, pings[-1].lat + 100 * north, 13.4, None)
    assert abs(driven_m(None, (*pings, later)) - 5 * leg) < 1e-6
    assert abs(driven_m(None, (*pings, jump)) - 5 * leg) < 1e-6
