"""Flink functions of the ETA path (thin: the logic is in udfs.eta, udfs.pings and udfs.speed_profiles).

    ping batches ─► Tracker  keyed by partner:vehicle ─► segments by district ─► Profiles  keyed by district
                                                                                 │ published speeds (broadcast)
    ping batches + STOPS ─► Eta  keyed by partner:vehicle ◄──────────────────────┘
                          └─► EtaUpdate: ClickHouse eta_predictions, coordination.eta, the partner's inbox

A ping batch (:class:`udfs.pings.PingBatch`) is one vehicle's positions over one
event-time interval, grouped on the JVM (see jobs/coordination.py): every function
here runs once per vehicle and interval, not once per position. The same intervals
pace the rest: a district publishes the speeds it learned in an interval once, when
the watermark passes the interval's end (one broadcast element per district and
interval instead of one per batch of segments: each is handled by every ETA instance);
the ETA operator applies what a van received in an interval (its ping batch, the stops
assigned and completed) at one timer, the interval's end. Speeds are learned in keyed
state (one district's cell-hour estimates per key) and reach every ETA instance as
broadcast state, mirrored in a dict for lookups.
"""
from __future__ import annotations

from pyflink.common import Row, Types
from pyflink.datastream import KeyedBroadcastProcessFunction, KeyedProcessFunction
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from udfs import topic_names as topics
from udfs.contracts import wire
from udfs.eta import Assign, Route, Unassign
from udfs.flink.outputs import KAFKA, ROWS, gather
from udfs.flink.timers import Timers
from udfs.pings import PingBatch, batch_from_row, interval_end, track
from udfs.speed_profiles import SpeedTable, learn, profile_keys

#: Broadcast state of the ETA operator: "cell:hour" -> m/s (string keys: lookups by
#: pickled keys do not find their entries in PyFlink's broadcast state).
SPEEDS = MapStateDescriptor("speeds", Types.STRING(), Types.DOUBLE())
HOUR_MS = 3_600_000
IDLE_ROUTE_MS = 24 * HOUR_MS  # a stop whose window opened a day ago is over, final status or not;
                              # a van without stops that sent nothing for a day is forgotten


def _hour_after(ts: int) -> int:
    """Timers on whole hours: at most one per key and hour, whatever the event rate."""
    return (ts // HOUR_MS + 1) * HOUR_MS + IDLE_ROUTE_MS


def _pending_order(entry: tuple) -> tuple:
    """Event time, stops first, arrival: of ``(at, kind, seq, value)``, or of the
    ``(kind, seq, value)`` that checkpoints before the intervals hold (keyed by ``at``)."""
    return entry[:3] if len(entry) == 4 else (entry[2].at, entry[0], entry[1])


def speed_key(key: tuple[int, int]) -> str:
    return f"{key[0]}:{key[1]}"


def parse_speed_key(text: str) -> tuple[int, int]:
    cell, hour = text.split(":")
    return int(cell), int(hour)


def ping_batch(row) -> Row:
    """The SQL batch row ``(partner_id, vehicle_id, pings text)`` as ``Row(vehicle key, PingBatch)``
    (udfs.flink.coordination.BY_TEXT)."""
    batch = batch_from_row(row)
    return Row(batch.key, batch)


class Tracker(KeyedProcessFunction):
    """Keyed by ``partner:vehicle``: the last position; for each ping batch emits
    ``Row(district, (district, batch time, ((cell, hour, m/s), ...)))`` per district its
    usable segments lie in (udfs.pings.track)."""

    def open(self, runtime_context):
        self._last = runtime_context.get_state(ValueStateDescriptor("last-ping", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, batch: PingBatch, ctx):
        last = self._last.value()
        newest, by_district = track(last, batch.pings)
        if newest is not last:
            self._last.update(newest)
        for district, segments in by_district.items():
            yield Row(district, (district, batch.at, tuple(segments)))


class Profiles(KeyedProcessFunction):
    """Keyed by district (resolution-7 cell): running estimates per (cell, hour) in map state;
    emits ``(("cell:hour", m/s), ...)``, the estimates worth publishing (udfs.speed_profiles.learn)
    from the batches of an event-time interval, as one broadcast element when the watermark
    passes the interval's end. Until then they wait in map state (the latest value per
    estimate), not only in Python memory.

    The estimates are mirrored per district, all of a district's read in one call when it
    is first touched (a segment teaches four of them, and each read, of an estimate not
    learned yet too, was a call into the JVM); every change is written at once, in one call
    per batch, so after a restore the mirror is rebuilt from state.
    """

    def __init__(self, interval_ms: int):
        self._interval = interval_ms

    def open(self, runtime_context):
        self._estimates = runtime_context.get_map_state(
            MapStateDescriptor("estimates", Types.STRING(), Types.PICKLED_BYTE_ARRAY()))
        self._unpublished = runtime_context.get_map_state(
            MapStateDescriptor("unpublished", Types.STRING(), Types.DOUBLE()))
        self._mirror: dict[int, dict[str, object]] = {}  # district -> all its estimates
        self._timers = Timers()

    def process_element(self, value, ctx):
        district, at, segments = value
        known = self._mirror.get(district)
        if known is None:  # first use, or after a restore: the district's estimates in one call
            known = self._mirror[district] = dict(self._estimates.items())
        changed, published = {}, {}
        for cell, hour, speed in segments:  # of one district, in the order the van drove them
            for key in profile_keys(cell, hour):
                name = speed_key(key)
                estimate, mps = learn(known.get(name), speed)
                known[name] = changed[name] = estimate
                if mps is not None:
                    published[name] = mps
        self._estimates.put_all(changed)
        if published:
            self._unpublished.put_all(published)
            self._timers.register(ctx, district, interval_end(at, self._interval))
        return ()

    def on_timer(self, timestamp, ctx):
        self._timers.fired(ctx.get_current_key(), timestamp)
        published = tuple(self._unpublished.items())
        if published:
            self._unpublished.clear()
            yield published  # one broadcast element per district and interval


class Eta(KeyedBroadcastProcessFunction):
    """Keyed by ``partner:vehicle``: the van's :class:`udfs.eta.Route`; broadcast input: speeds.

    Positions come straight from the Intake, stops through the Registry: on a backlog
    the positions would overtake the stops they belong with. So elements wait in
    state until the watermark passes the end of their event-time interval
    (``interval_ms``, the ping batches' window: a batch arrives when it has passed) and
    are then applied in event-time order (stops before positions of the same
    millisecond), all of a van's interval at one timer; late ones are applied at once.
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
        self._table: SpeedTable | None = None
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

    def _speeds(self, ctx) -> SpeedTable:
        """The lookup mirror of the broadcast state (rebuilt after a restore)."""
        if self._table is None:
            self._table = SpeedTable()
            for name, mps in ctx.get_broadcast_state(SPEEDS).items():
                self._table.put(parse_speed_key(name), mps)
        return self._table

    def process_broadcast_element(self, value, ctx):
        ctx.get_broadcast_state(SPEEDS).put_all(dict(value))
        if self._table is not None:
            for name, mps in value:
                self._table.put(parse_speed_key(name), mps)

    def process_element(self, value, ctx):
        return gather(self._process(value, ctx), tag=None)

    def on_timer(self, timestamp, ctx):
        return gather(self._on_timer(timestamp, ctx), tag=None)

    def _process(self, value, ctx):
        is_stop = isinstance(value, (Assign, Unassign))
        at = value.at
        key = value[0]  # PingBatch.key, Assign/Unassign.vehicle_key: the current key
        due = interval_end(at, self._interval)
        if due <= ctx.timer_service().current_watermark():
            yield from self._apply(key, [value], ctx)
            return
        waiting = self._pending_of(key).setdefault(due, [])
        waiting.append((at, 0 if is_stop else 1, len(waiting), value))  # stops first at equal times
        self._pending.put(due, waiting)
        self._timers.register(ctx, key, due)

    def _on_timer(self, timestamp, ctx):
        key = ctx.get_current_key()
        self._timers.fired(key, timestamp)
        due = self._pending_of(key).pop(timestamp, None)
        if due:
            self._pending.remove(timestamp)
            yield from self._apply(key, [p[-1] for p in sorted(due, key=_pending_order)], ctx)
        if timestamp % HOUR_MS:
            return  # an interval's timer; cleanups run on whole hours (see _hour_after)
        route = self._route_of(key)
        if route is None:
            return
        for stop in [s for s in route.stops.values() if s.window_start + IDLE_ROUTE_MS <= timestamp]:
            route.complete(stop.shipment_id)
        if not route.stops and (route.last_ping is None or route.last_ping[0] + IDLE_ROUTE_MS <= timestamp):
            self._route.clear()
            del self._routes[key]
        else:
            self._route.update(route)

    def _apply(self, key: str, values, ctx):
        route = self._route_of(key)
        if route is None:
            partner, vehicle = key.split(":", 1)
            route = self._routes[key] = Route(partner, vehicle)
        for value in values:
            if isinstance(value, Assign):
                route.assign(value.stop)
                self._timers.register(ctx, key, _hour_after(value.stop.window_start))
            elif isinstance(value, Unassign):
                route.complete(value.shipment_id)
            else:  # a PingBatch: follow the van through it, then update its ETAs once
                table = self._speeds(ctx)
                for ts, lat, lng, speed in value.pings:
                    segment = route.observe(ts, lat, lng, speed)
                    if segment is not None:
                        route.learn_pace(segment, table.speed)
                updates = route.updates(table.speed)
                for u in updates:
                    yield ROWS, ("eta_predictions", tuple(u))
                    yield KAFKA, ((topics.ETA, topics.inbox(u.partner_id)), f"{u.partner_id}:{u.shipment_id}",
                                  wire.encode(u._asdict(), "EtaUpdate"))
                self._timers.register(ctx, key, _hour_after(value.at))
        self._route.update(route)
