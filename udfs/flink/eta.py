"""Flink functions of the ETA path (thin: the logic is in udfs.eta, udfs.pings and udfs.speed_profiles).

    ping batches ─► Tracker  keyed by partner:vehicle ─► segments by district ─► Profiles  keyed by district
                                                                                 │ published speeds (broadcast)
    ping batches + STOPS ─► Eta  keyed by partner:vehicle ◄──────────────────────┘
                          └─► EtaUpdate: ClickHouse eta_predictions, coordination.eta, the partner's inbox

A ping batch (:class:`udfs.pings.PingBatch`) is one vehicle's positions over one
event-time interval, grouped on the JVM (see jobs/coordination.py): every function
here runs once per vehicle and interval, not once per position. The same intervals
pace the rest, and make the result independent of arrival order: a district learns
an interval's segments when the watermark passes the interval's end, in a fixed order,
and publishes what it learned as one broadcast element, versioned by that end; the
ETA operator applies what a van received in an interval (its ping batch, the stops
assigned and completed, which the Registry sends in event-time order) at one timer, the
interval's end, with the speeds of the versions before the interval only (causal: a
replay of history issues the ETAs the live run issued). Speeds are learned in keyed
state (one district's cell-hour estimates per key) and reach every ETA instance as
broadcast state, mirrored for lookups (udfs.speed_profiles.CausalSpeeds).
"""
from __future__ import annotations

from pyflink.common import Row, Types
from pyflink.datastream import KeyedBroadcastProcessFunction, KeyedProcessFunction
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from udfs import keys, outputs
from udfs.eta import HOUR_MS, Assign, Route, Unassign, apply_interval, clean_up, clean_up_at, in_waiting_order, waiting_entry
from udfs.flink.outputs import gather
from udfs.flink.timers import Timers
from udfs.outputs import ROWS
from udfs.outputs import Row as OutputRow
from udfs.pings import PingBatch, batch_from_row, driven_m, forget_at, interval_end, track
from udfs.speed_profiles import DAY_MS, NEVER, SPEED_TTL_MS, CausalSpeeds, day_after, forget_stale, learn_interval

#: Broadcast state of the ETA operator (udfs.speed_profiles.CausalSpeeds; string keys:
#: lookups by pickled keys do not find their entries in PyFlink's broadcast state):
#: the folded speeds, "cell:hour" -> m/s; how far they reach, "base" -> version; and the
#: versions not folded yet, "version:district" -> {(cell, hour): m/s}.
SPEEDS = MapStateDescriptor("speeds", Types.STRING(), Types.DOUBLE())
SPEEDS_UPTO = MapStateDescriptor("speeds-upto", Types.STRING(), Types.LONG())
PENDING_SPEEDS = MapStateDescriptor("speeds-pending", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
BROADCAST_STATES = (SPEEDS, SPEEDS_UPTO, PENDING_SPEEDS)
def pair_name(pair: tuple[int, int]) -> str:
    """A state key for a pair of numbers: ``(cell, hour)`` of an estimate, ``(version, district)``
    of pending speeds (string keys, see :data:`SPEEDS`)."""
    return f"{pair[0]}:{pair[1]}"


def parse_pair_name(text: str) -> tuple[int, int]:
    first, second = text.split(":")
    return int(first), int(second)


def ping_batch(row) -> Row:
    """The SQL batch row ``(partner_id, vehicle_id, pings text)`` as ``Row(vehicle key, PingBatch)``
    (udfs.flink.coordination.BY_TEXT)."""
    batch = batch_from_row(row)
    return Row(batch.key, batch)


class Tracker(KeyedProcessFunction):
    """Keyed by ``partner:vehicle``: the last position; for each ping batch emits
    ``Row(district, (district, batch time, ((cell, hour, m/s), ...)))`` per district its
    usable segments lie in (udfs.pings.track), and the metres the van drove in it as a
    ``vehicle_km`` row on ``OUTPUTS`` (udfs.pings.driven_m)."""

    def open(self, runtime_context):
        self._last = runtime_context.get_state(ValueStateDescriptor("last-ping", Types.PICKLED_BYTE_ARRAY()))
        self._timers = Timers()

    def process_element(self, batch: PingBatch, ctx):
        return gather(self._process(batch, ctx))

    def _process(self, batch: PingBatch, ctx):
        last = self._last.value()
        partner, vehicle = batch.key.split(":", 1)
        # to the millimetre: the JVM's sum may differ in its last bits
        yield ROWS, OutputRow("vehicle_km", (partner, vehicle, batch.at, round(driven_m(last, batch.pings), 3),
                                             len(batch.pings)))
        newest, by_district = track(last, batch.pings)
        if newest is not last and newest is not None:
            self._last.update(newest)
            self._timers.register(ctx, ctx.get_current_key(), forget_at(newest[0]))
        for district, segments in by_district.items():
            yield Row(district, (district, batch.at, tuple(segments)))

    def on_timer(self, timestamp, ctx):
        """A day without a newer ping: the van's last one is forgotten (state of bounded lifetime)."""
        self._timers.fired(ctx.get_current_key(), timestamp)
        last = self._last.value()
        if last is not None and forget_at(last[0]) <= timestamp:
            self._last.clear()
        return iter(())


class Profiles(KeyedProcessFunction):
    """Keyed by district (resolution-7 cell): running estimates per (cell, hour) in map state.

    A district's segments wait in map state until the watermark passes the end of their
    event-time interval; then they are learned together, in a fixed order
    (udfs.speed_profiles.learn_interval), and the estimates worth publishing leave as one
    broadcast element ``(version, district, {(cell, hour): m/s})``, the version being the
    interval's end: the ETA operator uses a version only for the intervals after it
    (udfs.speed_profiles.CausalSpeeds). Segments that arrive after their interval's end
    passed count for the next interval to end.

    Each estimate is dated by the interval that last taught it. On whole days (UTC) a
    district forgets the estimates no segment taught for ``ttl_ms``
    (udfs.speed_profiles.forget_stale) and publishes them as NaN: the ETA operator drops
    them from its table. A district that learns registers the day that forgetting is due.

    The estimates are mirrored per district, all of a district's read in one call when it
    is first touched; every change is written at once, in one call per interval, so after
    a restore the mirror is rebuilt from state.
    """

    def __init__(self, interval_ms: int, ttl_ms: int = SPEED_TTL_MS):
        self._interval = interval_ms
        self._ttl = ttl_ms

    def open(self, runtime_context):
        self._estimates = runtime_context.get_map_state(
            MapStateDescriptor("estimates", Types.STRING(), Types.PICKLED_BYTE_ARRAY()))
        # "interval end:n" -> the segments of the n-th batch for that interval: one write per
        # batch and one read per batch at the interval's end, however long a backlog grows
        self._segments = runtime_context.get_map_state(
            MapStateDescriptor("segments-by-interval", Types.STRING(), Types.PICKLED_BYTE_ARRAY()))
        self._waiting: dict[int, dict[int, int]] = {}  # district -> interval end -> batches (from the keys)
        self._mirror: dict[int, dict[tuple[int, int], object]] = {}  # district -> all its estimates
        self._timers = Timers()

    def _waiting_of(self, district: int) -> dict[int, int]:
        waiting = self._waiting.get(district)
        if waiting is None:  # first use, or after a restore: counted from the state's keys
            waiting = self._waiting[district] = {}
            for name in self._segments.keys():
                due = int(name.split(":")[0])
                waiting[due] = waiting.get(due, 0) + 1
        return waiting

    def process_element(self, value, ctx):
        district, at, segments = value
        watermark = ctx.timer_service().current_watermark()
        due = max(interval_end(at, self._interval), interval_end(watermark + 1, self._interval))
        waiting = self._waiting_of(district)
        n = waiting.get(due, 0)
        self._segments.put(f"{due}:{n}", segments)
        waiting[due] = n + 1
        self._timers.register(ctx, district, due)
        return ()

    def on_timer(self, timestamp, ctx):
        district = ctx.get_current_key()
        self._timers.fired(district, timestamp)
        waiting = self._waiting_of(district)
        names = [f"{timestamp}:{n}" for n in range(waiting.pop(timestamp, 0))]
        segments = [s for name in names for s in self._segments.get(name)]
        for name in names:
            self._segments.remove(name)
        cleans = timestamp % DAY_MS == 0  # estimates are forgotten on whole days (see forget_stale)
        if not segments and not cleans:
            return
        known = self._mirror.get(district)
        if known is None:  # first use, or after a restore: the district's estimates in one call
            known = self._mirror[district] = {parse_pair_name(n): e for n, e in self._estimates.items()}
        published: dict = {}
        if segments:
            changed, published = learn_interval(known, segments)
            for estimate in changed.values():
                estimate.learned_at = timestamp
            self._estimates.put_all({pair_name(k): e for k, e in changed.items()})
            # forgotten on the first whole day at least the time to live after this
            self._timers.register(ctx, district, day_after(timestamp + self._ttl))
        if cleans:
            before = set(known)
            forgotten = forget_stale(known, timestamp - self._ttl)
            for key in before.difference(known):
                self._estimates.remove(pair_name(key))
            published = {**published, **forgotten}
        if published:
            yield timestamp, district, published  # one broadcast element per district and interval


class Eta(KeyedBroadcastProcessFunction):
    """Keyed by ``partner:vehicle``: the van's :class:`udfs.eta.Route`; broadcast input: speeds.

    Positions come straight from the Intake, stops through the Registry: on a backlog
    the positions would overtake the stops they belong with. So elements wait in
    state until the watermark passes the end of their event-time interval
    (``interval_ms``, the ping batches' window: a batch arrives when it has passed) and
    are then applied in event-time order (stops before positions of the same
    millisecond), all of a van's interval at one timer; late ones are applied at once.
    The speeds an interval's ETAs use are those learned before it began
    (udfs.speed_profiles.CausalSpeeds): a replay gives the ETAs the live run gave.
    Output: one :class:`udfs.records.Outputs` per call on the main
    output (udfs.flink.outputs.gather; PyFlink 2.2 drops the side outputs of a keyed
    broadcast function's timers).
    """

    def __init__(self, interval_ms: int):
        self._interval = interval_ms

    def open(self, runtime_context):
        from udfs.kernels import warm_up_all

        warm_up_all()  # compile or load the kernels now, not on the first record
        self._route = runtime_context.get_state(ValueStateDescriptor("route", Types.PICKLED_BYTE_ARRAY()))
        # Elements waiting for the watermark, by the end of their interval: O(1) state access
        # per element and per timer (a list rewritten per element was quadratic in a van's
        # backlog); an interval holds what one van received in it, a batch and a few stops.
        self._pending = runtime_context.get_map_state(
            MapStateDescriptor("pending-by-time", Types.LONG(), Types.PICKLED_BYTE_ARRAY()))
        self._waiting: dict[str, dict[int, list]] = {}  # read-through mirror of the pending state, per van
        self._causal: CausalSpeeds | None = None
        self._watermark = NEVER  # the latest the keyed side saw
        self._timers = Timers()
        # Read-through mirror of the route state (a van's route was unpickled per element);
        # every change is written to state at once, so after a restore it is rebuilt from there.
        self._routes: dict[str, Route] = {}

    def _pending_of(self, key: str) -> dict[int, list]:
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = dict(self._pending.items())  # first use, or after a restore
        return waiting

    def _route_of(self, key: str) -> Route | None:
        route = self._routes.get(key)
        if route is None:
            route = self._route.value()
            if route is not None:
                self._routes[key] = route
        return route

    def _speeds(self, ctx) -> CausalSpeeds:
        """The lookup mirror of the broadcast state (rebuilt after a restore)."""
        if self._causal is None:
            base = {parse_pair_name(name): mps for name, mps in ctx.get_broadcast_state(SPEEDS).items()}
            upto = dict(ctx.get_broadcast_state(SPEEDS_UPTO).items()).get("base", NEVER)
            pending = {parse_pair_name(name): speeds
                       for name, speeds in ctx.get_broadcast_state(PENDING_SPEEDS).items()}
            self._causal = CausalSpeeds.restored(base, upto, pending)
        return self._causal

    def process_broadcast_element(self, value, ctx):
        version, district, published = value
        causal = self._speeds(ctx)
        pending = ctx.get_broadcast_state(PENDING_SPEEDS)
        pending.put(pair_name((version, district)), causal.receive(version, district, published))
        # No timer of this operator still to fire asks for a view older than this. (The
        # watermark the keyed side saw last: PyFlink's embedded broadcast context has none.)
        changed, gone = causal.fold(self._watermark - self._interval)
        if gone:
            base = ctx.get_broadcast_state(SPEEDS)
            base.put_all({pair_name(k): mps for k, mps in changed.items() if mps == mps})
            for k in (k for k, mps in changed.items() if mps != mps):  # forgotten (forget_stale)
                base.remove(pair_name(k))
            for version_part in gone:
                pending.remove(pair_name(version_part))
            ctx.get_broadcast_state(SPEEDS_UPTO).put("base", causal.base_upto)

    def process_element(self, value, ctx):
        return gather(self._process(value, ctx), tag=None)

    def on_timer(self, timestamp, ctx):
        return gather(self._on_timer(timestamp, ctx), tag=None)

    def _process(self, value, ctx):
        at = value.at
        key = value[0]  # PingBatch.key, Assign/Unassign.vehicle_key: the current key
        due = interval_end(at, self._interval)
        watermark = self._watermark = ctx.timer_service().current_watermark()
        if due <= watermark:
            yield from self._apply(key, [value], ctx, watermark - self._interval)
            return
        waiting = self._pending_of(key).setdefault(due, [])
        waiting.append(waiting_entry(value, len(waiting)))
        self._pending.put(due, waiting)
        self._timers.register(ctx, key, due)

    def _on_timer(self, timestamp, ctx):
        key = ctx.get_current_key()
        self._timers.fired(key, timestamp)
        self._watermark = max(self._watermark, timestamp)
        due = self._pending_of(key).pop(timestamp, None)
        if due:
            self._pending.remove(timestamp)
            # speeds learned before this interval began, none of its own or later ones
            yield from self._apply(key, in_waiting_order(due), ctx, timestamp - self._interval)
        if timestamp % HOUR_MS:
            return  # an interval's timer; cleanups run on whole hours (see udfs.eta.clean_up_at)
        route = self._route_of(key)
        if route is None:
            return
        if clean_up(route, timestamp):
            self._route.clear()
            del self._routes[key]
        else:
            self._route.update(route)

    def _apply(self, key: str, values, ctx, speeds_upto: int):
        route = self._route_of(key)
        if route is None:
            partner, vehicle = keys.split(key)
            route = self._routes[key] = Route(partner, vehicle)
        for u in apply_interval(route, values, self._speeds(ctx).table(speeds_upto).speed):
            yield from outputs.eta(u)
        for value in values:  # clean-up timers: a day after a stop's window opened or the van's last ping
            if isinstance(value, Assign):
                self._timers.register(ctx, key, clean_up_at(value.stop.window_start))
            elif not isinstance(value, Unassign):
                self._timers.register(ctx, key, clean_up_at(value.at))
        self._route.update(route)
