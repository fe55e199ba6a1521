"""The logic the Python reference operators (udfs/flink) apply besides their stages' models,
tested without a JVM: the Intake's routing and lateness, the ETA operator's waiting order and
clean-up, the Consolidator's offer retention, the keys of shipments and vehicles."""
import pytest

from udfs import keys
from udfs.consolidation import OFFER_RETENTION_MS, Offer, offers_ended_before
from udfs.contracts.intake import TO_PINGS, TO_STAGES, downstream, event_time, lateness
from udfs.eta import HOUR_MS, IDLE_ROUTE_MS, Assign, Route, Stop, Unassign, clean_up, clean_up_at, in_waiting_order, waiting_entry
from udfs.pings import Ping, PingBatch
from udfs.statuses import FINAL_STATUSES, OPEN_STATUSES

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z, a whole hour


@pytest.mark.parametrize("status,expected", [*((s, TO_STAGES) for s in OPEN_STATUSES + FINAL_STATUSES),
                                             ("CREATED", None), ("PICKED_UP", None)])
def test_only_statuses_that_open_or_close_a_stop_reach_the_registry(status, expected):
    assert downstream("shipment_status", {"status": status}) == expected


def test_tasks_and_offers_go_to_the_stages_and_positions_to_the_pings():
    assert downstream("delivery_tasks", {}) == TO_STAGES
    assert downstream("capacity_offers", {}) == TO_STAGES
    assert downstream("vehicle_positions", {}) == TO_PINGS


def test_lateness_is_judged_on_the_event_time_and_an_offer_s_start():
    assert event_time("capacity_offers", {"available_from": 5, "event_time": 9}) == 5
    assert lateness("vehicle_positions", {"event_time": T0}, T0) is None  # at the watermark: on time
    assert lateness("vehicle_positions", {"event_time": T0 - 1}, T0) == "event_time is 0 s behind the watermark"
    assert lateness("shipment_status", {"event_time": T0 - 90_000}, T0) == "event_time is 90 s behind the watermark"
    assert lateness("capacity_offers", {"available_from": T0 - 1_000, "event_time": T0}, T0) is not None
    # a task's lateness depends on its window: the Registry's to decide, never the Intake's
    assert lateness("delivery_tasks", {"event_time": 0}, T0) is None


def test_waiting_values_apply_by_event_time_stops_first_then_arrival():
    stop = Stop("S1", 1, 52.5, 13.4, T0)
    batch_late = PingBatch("p:v", T0 + 5, (Ping(T0 + 5, 52.5, 13.4, None),))
    batch_same = PingBatch("p:v", T0, (Ping(T0, 52.5, 13.4, None),))
    assign = Assign("p:v", stop, T0)
    unassign = Unassign("p:v", "S0", T0)
    entries = []
    for value in (batch_late, batch_same, assign, unassign):
        entries.append(waiting_entry(value, len(entries)))
    assert in_waiting_order(entries) == [assign, unassign, batch_same, batch_late]
    # entries of a checkpoint from before the event time was stored: (kind, position, value)
    old = [(1, 0, batch_same), (0, 1, assign)]
    assert in_waiting_order(old) == [assign, batch_same]


def test_clean_up_runs_on_whole_hours_a_day_later():
    assert clean_up_at(T0) == T0 + HOUR_MS + IDLE_ROUTE_MS
    assert clean_up_at(T0 + HOUR_MS - 1) == T0 + HOUR_MS + IDLE_ROUTE_MS
    assert clean_up_at(T0 + 1) % HOUR_MS == 0


def test_a_route_completes_stale_stops_and_is_over_when_idle_for_a_day():
    route = Route("p", "v")
    route.stops["old"] = Stop("old", 1, 52.5, 13.4, T0)
    route.stops["new"] = Stop("new", 2, 52.5, 13.4, T0 + 2 * HOUR_MS)
    route.observe(T0, 52.5, 13.4)
    assert not clean_up(route, T0 + IDLE_ROUTE_MS - 1)
    assert set(route.stops) == {"old", "new"}
    assert not clean_up(route, T0 + IDLE_ROUTE_MS)  # the first stop is over; the second one is not
    assert set(route.stops) == {"new"}
    assert clean_up(route, T0 + 2 * HOUR_MS + IDLE_ROUTE_MS)  # no stop left, no ping for a day
    assert not route.stops


def test_a_route_with_a_recent_ping_is_kept_without_stops():
    route = Route("p", "v")
    route.observe(T0, 52.5, 13.4)
    assert not clean_up(route, T0 + IDLE_ROUTE_MS - 1)
    assert clean_up(Route("p", "never-pinged"), T0)


def test_offers_that_ended_a_day_before_the_newest_began_are_forgotten():
    def offer(key, start, end):
        return key, Offer("p", key, 52.5, 13.4, start, end, 100.0, 5)

    newest = offer("n", T0, T0 + HOUR_MS)[1]
    offers = [offer("gone", T0 - OFFER_RETENTION_MS - 2, T0 - OFFER_RETENTION_MS - 1),
              offer("edge", T0 - OFFER_RETENTION_MS - 1, T0 - OFFER_RETENTION_MS),
              offer("future", T0 + 10 * OFFER_RETENTION_MS, T0 + 11 * OFFER_RETENTION_MS)]
    assert offers_ended_before(offers, newest) == ["gone"]
    # another partner's offer that ended long ago is that partner's to replace, not this one's
    other = ("other", Offer("q", "other", 52.5, 13.4, T0 - 9 * OFFER_RETENTION_MS, T0 - 8 * OFFER_RETENTION_MS, 1.0, 1))
    assert offers_ended_before([other], newest) == []
    far = Offer("q", "far", 52.5, 13.4, T0 + 50 * 365 * 24 * HOUR_MS, T0 + 50 * 365 * 24 * HOUR_MS + 1, 1.0, 1)
    assert offers_ended_before(offers, far) == []


@pytest.mark.parametrize("partner,local", [("acme", "S-1"), ("p0", "a:b:c"), ("cargo-city", "")])
def test_keys_split_at_the_first_colon(partner, local):
    key = keys.key(partner, local)
    assert key == f"{partner}:{local}"
    assert keys.split(key) == (partner, local)


def test_a_van_s_last_ping_is_forgotten_a_day_later_on_a_whole_hour():
    from udfs.pings import IDLE_VEHICLE_MS, forget_at

    assert forget_at(T0) == T0 + HOUR_MS + IDLE_VEHICLE_MS
    assert forget_at(T0 + HOUR_MS - 1) == forget_at(T0)
    assert forget_at(-1) == IDLE_VEHICLE_MS  # floor division, as the JVM's Math.floorDiv
