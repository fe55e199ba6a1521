"""ETAs for shipments out for delivery, from each position update of their vehicle.

Two pieces of keyed state. One :class:`Delivery` per shipment (``partner:shipment``)
joins its latest DeliveryTask (destination, window) with its latest status and
tells vehicles what changed (:class:`Assign`, :class:`Unassign`); the Registry
applies them in event-time order (:class:`DeliveryEvent`), whatever order they arrive
in. One :class:`Route` per vehicle (``partner:vehicle``) holds the stops it still has to
make. On every position the remaining stops, in ``stop_sequence`` order (then window
start, for stops without one), go to the Numba kernel as one batch:

    travel of a leg = haversine x DETOUR / learned speed of the leg's midpoint cell
                      in the hour of the week the leg starts (udfs.speed_profiles)
    a van that arrives before a window opens waits; each stop then takes DWELL_S.

Every van also keeps its *pace*: its own recent segment speeds over the profile's
speeds for the same cells and hours (a heavy van, a careful driver), as a ratio of
exponentially weighted sums (``PACE_WEIGHT`` per segment: about the last hundred
segments count, an hour of driving). Leg speeds are multiplied by it once
``MIN_PACE_SEGMENTS`` were seen.

Leg start hours come from a first pass at the ping's hour, then the kernel runs
again with each leg's speed looked up at the hour the first pass says it starts.
An update is emitted for a shipment when its ETA moved since the last one emitted by
more than ``EMIT_CHANGE_MS`` or ``EMIT_CHANGE_SHARE`` of the time still to go, whichever
is more, or when ``EMIT_INTERVAL_MS`` has passed.

Pure Python and numpy (no pyflink import); the Flink operator is a thin wrapper.
"""
from __future__ import annotations

import dataclasses
import hashlib
import struct
from collections.abc import Callable
from typing import NamedTuple

import h3.api.basic_int as h3i
import numpy as np

from udfs import keys
from udfs.kernels.eta import KERNEL_VERSION
from udfs.kernels.native import eta_batch
from udfs.speed_profiles import PROFILE_RESOLUTION, hour_of_week, segment_speed
from udfs.statuses import FINAL_STATUSES, OPEN_STATUSES

DETOUR = 1.3  # road distance / straight line, typical of European cities
DWELL_S = 180.0  # time at a stop: park, walk, hand over
EMIT_CHANGE_MS = 3 * 60_000
EMIT_CHANGE_SHARE = 0.2
EMIT_INTERVAL_MS = 60 * 60_000
MIN_PACE_SEGMENTS = 5
PACE_WEIGHT = 0.01
PACE_LIMITS = (0.5, 2.0)  # a van's pace is believed within these factors of the profile
MODEL_VERSION = f"{KERNEL_VERSION}/profiles-r{PROFILE_RESOLUTION}-hour-factors"

SpeedOf = Callable[[int, int], float]  # (resolution-9 cell, hour of week) -> m/s


class Stop(NamedTuple):
    shipment_id: str
    stop_sequence: int | None
    lat: float
    lng: float
    window_start: int

    def order_key(self):
        return (self.stop_sequence is None, self.stop_sequence or 0, self.window_start, self.shipment_id)


class EtaUpdate(NamedTuple):
    """Fields of the ``EtaUpdate`` record."""

    partner_id: str
    shipment_id: str
    vehicle_id: str
    predicted_at: int
    eta: int
    model_version: str
    inputs_digest: str = ""  # SHA-256 of what the van's prediction was made from (eta_inputs)


def eta_inputs(partner_id: str, vehicle_id: str, ping, ordered, speeds) -> bytes:
    """What a van's prediction is made from, in a fixed binary layout (its SHA-256 is every ETA
    update's ``inputs_digest``): the model, the van, its last position, its remaining stops in
    visiting order (shipment, destination, window start) and each leg's learned speed at the
    position's hour (m/s, pace included, in µm/s rounded half to even: the JVM's and this
    module's pace may differ in the last bit; the model looks later hours up in the same
    learned speeds). Big-endian: a text as its UTF-8 length (int32) and bytes, a time as int64
    ms, a coordinate as float64, a speed as int64 µm/s. Binary, not JSON: a digest per van and
    interval is on the job's hot path, and a float's shortest decimal text is costly to make."""
    ts, lat, lng = ping[:3]
    out = bytearray()
    for text in (MODEL_VERSION, partner_id, vehicle_id):
        _text(out, text)
    out += struct.pack(">qddi", ts, lat, lng, len(ordered))
    for s in ordered:
        _text(out, s.shipment_id)
        out += struct.pack(">ddq", s.lat, s.lng, s.window_start)
    for v in speeds:
        out += struct.pack(">q", round(float(v) * 1e6))
    return bytes(out)


def _text(out: bytearray, text: str) -> None:
    data = text.encode()
    out += struct.pack(">i", len(data)) + data


class Assign(NamedTuple):
    vehicle_key: str  # partner:vehicle
    stop: Stop
    at: int  # event time of the task or status that caused it


class Unassign(NamedTuple):
    vehicle_key: str
    shipment_id: str
    at: int


class DeliveryEvent(NamedTuple):
    """A task or a status of one shipment, as its :class:`Delivery` applies them.

    The streams of a shipment arrive in any order (tasks and statuses are different topics,
    read at different paces; a replay reads partitions unevenly), so the Registry holds them
    until the watermark passes the end of their event-time interval and applies them in
    :func:`in_event_order`: the outcome is that of event-time order, whatever the arrival.
    """

    at: int  # event time
    rank: int  # at equal times: the task, then OUT_FOR_DELIVERY, then a final status
    event_id: str
    dest: tuple[float, float, int] | None  # a task's destination and window start; None for a status
    status: str | None = None
    vehicle_id: str | None = None
    stop_sequence: int | None = None


def task_event(event_time: int, event_id: str, lat: float, lng: float, window_start: int) -> DeliveryEvent:
    return DeliveryEvent(event_time, 0, event_id, (lat, lng, window_start))


def status_event(record: dict) -> DeliveryEvent:
    """A ShipmentStatus record (internal form) as a :class:`DeliveryEvent`."""
    rank = 1 if record["status"] in OPEN_STATUSES else 2
    return DeliveryEvent(record["event_time"], rank, record["event_id"], None, record["status"],
                         record["vehicle_id"], record["stop_sequence"])


def in_event_order(events) -> list[DeliveryEvent]:
    """Event time, then the task before its statuses and a van's pick-up before its end, then event id."""
    return sorted(events, key=lambda e: (e.at, e.rank, e.event_id))


@dataclasses.dataclass
class Delivery:
    """Keyed by ``partner:shipment``: the latest task and status of one shipment."""

    partner_id: str
    shipment_id: str
    dest: tuple[float, float, int] | None = None  # lat, lng, window start of the latest task
    task_time: int = -1
    status: str | None = None
    status_time: int = -1
    vehicle_id: str | None = None
    stop_sequence: int | None = None

    def __getstate__(self) -> tuple:
        """Pickled as plain values (keyed state, read and written per task and status: ~7x cheaper)."""
        return (self.partner_id, self.shipment_id, self.dest, self.task_time, self.status, self.status_time,
                self.vehicle_id, self.stop_sequence)

    def __setstate__(self, state) -> None:
        if isinstance(state, dict):  # pickled as the dataclass's fields, before the plain form
            self.__dict__.update(state)
            return
        (self.partner_id, self.shipment_id, self.dest, self.task_time, self.status, self.status_time,
         self.vehicle_id, self.stop_sequence) = state

    def _vehicle_key(self) -> str | None:
        return keys.key(self.partner_id, self.vehicle_id) if self.vehicle_id is not None else None

    def _stop(self) -> Stop:
        assert self.dest is not None  # only a shipment whose task arrived has a stop
        lat, lng, window_start = self.dest
        return Stop(self.shipment_id, self.stop_sequence, lat, lng, window_start)

    def apply(self, event: DeliveryEvent) -> list:
        """Apply one task or status (:meth:`on_task`, :meth:`on_status`); what its van must know."""
        if event.dest is not None:
            return self.on_task(event.at, *event.dest)
        assert event.status is not None  # an event is a task (dest) or a status
        return self.on_status(event.at, event.status, event.vehicle_id, event.stop_sequence)

    def on_task(self, event_time: int, lat: float, lng: float, window_start: int) -> list:
        """A (newer) announcement: a van that already carries the shipment gets the new stop."""
        if event_time <= self.task_time:
            return []
        self.task_time, self.dest = event_time, (lat, lng, window_start)
        if self.status in OPEN_STATUSES and self.vehicle_id is not None:
            return [Assign(keys.key(self.partner_id, self.vehicle_id), self._stop(), event_time)]
        return []

    def on_status(self, event_time: int, status: str, vehicle_id: str | None, stop_sequence: int | None) -> list:
        """A status newer than the last one applied; older ones (late arrivals) change nothing."""
        if event_time < self.status_time:
            return []
        out: list[Assign | Unassign] = []
        if self.status in OPEN_STATUSES:
            previous = self._vehicle_key()
        elif self.status is None and status in FINAL_STATUSES and vehicle_id is not None:
            previous = keys.key(self.partner_id, vehicle_id)  # its state was gone (a very late delivery)
        else:
            previous = None
        self.status, self.status_time = status, event_time
        if status in OPEN_STATUSES and vehicle_id is not None:
            self.vehicle_id, self.stop_sequence = vehicle_id, stop_sequence
            vehicle_key = keys.key(self.partner_id, vehicle_id)
            if previous is not None and previous != vehicle_key:
                out.append(Unassign(previous, self.shipment_id, event_time))  # moved to another van
            if self.dest is not None:
                out.append(Assign(vehicle_key, self._stop(), event_time))
        elif status in FINAL_STATUSES and previous is not None:
            out.append(Unassign(previous, self.shipment_id, event_time))
        return out


def apply_changes(routes: dict[str, Route], changes) -> None:
    """Apply :class:`Assign` / :class:`Unassign` messages to routes keyed by ``partner:vehicle``,
    as the ETA operator does (:func:`apply_interval`), each to its own van."""
    for change in changes:
        route = routes.setdefault(change.vehicle_key, Route(*keys.split(change.vehicle_key)))
        apply_interval(route, [change], speed_of=_no_speeds)  # stops only: no speed is looked up


def _no_speeds(cell: int, hour: int) -> float:
    raise AssertionError("stops only: no speed is looked up")


def apply_interval(route: Route, values, speed_of: SpeedOf) -> list[EtaUpdate]:
    """What the ETA operator does with one van's interval, ``values`` in event-time order:
    stops assigned (:class:`Assign`) and completed (:class:`Unassign`), ping batches
    (udfs.pings.PingBatch) followed, the van's pace learned from them; after each batch, the
    ETA updates worth emitting. ``speed_of`` looks up what was learned before the interval
    (udfs.speed_profiles.CausalSpeeds). The job (udfs.flink.eta.Eta) and the offline
    accuracy replay (lastmile.bench.eta_accuracy) both run it.
    """
    out = []
    for value in values:
        if isinstance(value, Assign):
            route.assign(value.stop)
        elif isinstance(value, Unassign):
            route.complete(value.shipment_id)
        else:
            for ts, lat, lng, speed in value.pings:
                segment = route.observe(ts, lat, lng, speed)
                if segment is not None:
                    route.learn_pace(segment, speed_of)
            out.extend(route.updates(speed_of))
    return out


def midpoint_cell(lat1: float, lng1: float, lat2: float, lng2: float) -> int:
    return h3i.latlng_to_cell((lat1 + lat2) / 2, (lng1 + lng2) / 2, PROFILE_RESOLUTION)


@dataclasses.dataclass
class Route:
    """What the platform knows of one vehicle's day (keyed state of the ETA operator)."""

    partner_id: str
    vehicle_id: str
    stops: dict[str, Stop] = dataclasses.field(default_factory=dict)
    last_ping: tuple | None = None  # (event time, lat, lng, reported speed or None)
    emitted: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)  # shipment -> (at, eta)
    # exponentially weighted sums of own and profile speeds over the van's segments, and their count
    pace_sums: tuple[float, float, int] = (0.0, 0.0, 0)
    # Visiting order and the midpoint cell of each leg between consecutive stops
    # (only the first leg, from the van, changes with every ping); None: recompute.
    _plan: tuple[tuple[Stop, ...], tuple[int, ...]] | None = dataclasses.field(default=None, compare=False,
                                                                               repr=False)

    def __getstate__(self) -> tuple:
        """Pickled as plain values: keyed state is written on every change, and the dataclass
        with a NamedTuple per stop cost ~5x more to pickle; the plan is a cache, rebuilt."""
        return (self.partner_id, self.vehicle_id, tuple(tuple(s) for s in self.stops.values()), self.last_ping,
                self.emitted, self.pace_sums)

    def __setstate__(self, state) -> None:
        if isinstance(state, dict):  # pickled as the dataclass's fields, before the plain form
            self.__dict__.update(state)
            return
        self.partner_id, self.vehicle_id, stops, self.last_ping, self.emitted, self.pace_sums = state
        self.stops = {s[0]: Stop(*s) for s in stops}
        self._plan = None

    def assign(self, stop: Stop) -> None:
        """The shipment is out for delivery on this vehicle (again: the newer assignment holds)."""
        self.stops[stop.shipment_id] = stop
        self._plan = None

    def complete(self, shipment_id: str) -> None:
        """Delivered, failed, returned or cancelled: no further ETA."""
        if self.stops.pop(shipment_id, None) is not None:
            self._plan = None
        self.emitted.pop(shipment_id, None)

    def observe(self, ts: int, lat: float, lng: float, speed_mps: float | None = None
                ) -> tuple[int, int, float] | None:
        """Record a position; returns the travel segment it closes ``(cell, hour, m/s)``, if usable.
        Positions older than the newest one seen (late arrivals) teach nothing and move nothing."""
        if self.last_ping is not None and ts <= self.last_ping[0]:
            return None
        ping = (ts, lat, lng, speed_mps)
        segment = segment_speed(self.last_ping, ping) if self.last_ping is not None else None
        self.last_ping = ping
        return segment

    def learn_pace(self, segment: tuple[int, int, float], speed_of: SpeedOf) -> None:
        """Compare one of the van's own segments with what the profile expected there and then."""
        cell, hour, mps = segment
        own, expected, n = self.pace_sums
        keep = 1.0 - PACE_WEIGHT
        self.pace_sums = (own * keep + mps, expected * keep + speed_of(cell, hour), n + 1)

    def pace_factor(self) -> float:
        own, expected, n = self.pace_sums
        if n < MIN_PACE_SEGMENTS or expected <= 0:
            return 1.0
        return min(max(own / expected, PACE_LIMITS[0]), PACE_LIMITS[1])

    def plan(self) -> tuple[tuple[Stop, ...], tuple[int, ...]]:
        if self._plan is None:
            ordered = tuple(sorted(self.stops.values(), key=Stop.order_key))
            cells = tuple(midpoint_cell(a.lat, a.lng, b.lat, b.lng) for a, b in zip(ordered, ordered[1:]))
            self._plan = (ordered, cells)
        return self._plan

    def predict(self, speed_of: SpeedOf, detour: float = DETOUR, dwell_s: float = DWELL_S,
                use_pace: bool = True) -> np.ndarray:
        """Arrival (epoch ms) at every remaining stop, in :meth:`plan` order, from the last position."""
        return self._predict(speed_of, detour, dwell_s, use_pace)[0]

    def _predict(self, speed_of: SpeedOf, detour: float, dwell_s: float, use_pace: bool
                 ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict`, and the legs' speeds at the position's hour (m/s, pace included: the
        first pass's, looked up in the learned speeds alone, whatever the kernel)."""
        ordered, between = self.plan()
        if not ordered or self.last_ping is None:
            return np.empty(0, dtype=np.int64), np.empty(0)
        ts, lat, lng = self.last_ping[:3]
        cells = (midpoint_cell(lat, lng, ordered[0].lat, ordered[0].lng), *between)
        stop_lat = np.array([s.lat for s in ordered])
        stop_lng = np.array([s.lng for s in ordered])
        not_before = np.array([s.window_start for s in ordered], dtype=np.int64)
        batch = (np.array([lat]), np.array([lng]), np.array([ts], dtype=np.int64),
                 np.array([0, len(ordered)], dtype=np.int64), stop_lat, stop_lng, not_before)
        hour, pace = hour_of_week(ts), (self.pace_factor() if use_pace else 1.0)
        at_hour = np.array([speed_of(c, hour) for c in cells]) * pace
        first = eta_batch(*batch, at_hour, detour, dwell_s, 1.0)
        # Second pass: each leg at the speed of the hour it starts (after the previous stop).
        departs = np.concatenate(([ts], np.maximum(first[:-1], not_before[:-1]) + int(dwell_s * 1000)))
        speeds = np.array([speed_of(c, hour_of_week(int(t))) for c, t in zip(cells, departs)]) * pace
        return eta_batch(*batch, speeds, detour, dwell_s, 1.0), at_hour

    def inputs_digest(self, speeds) -> str:
        """SHA-256 of what a prediction was made from (:func:`eta_inputs`), for the audit trail."""
        ordered, _ = self.plan()
        return hashlib.sha256(eta_inputs(self.partner_id, self.vehicle_id, self.last_ping, ordered, speeds)).hexdigest()

    def updates(self, speed_of: SpeedOf) -> list[EtaUpdate]:
        """The ETA updates worth emitting after the last position (see the module docstring)."""
        if self.last_ping is None or not self.stops:
            return []
        ordered, _ = self.plan()
        at = self.last_ping[0]
        out = []
        etas, speeds = self._predict(speed_of, DETOUR, DWELL_S, True)
        digest = None
        for stop, eta in zip(ordered, etas.tolist()):
            last = self.emitted.get(stop.shipment_id)
            moved = abs(eta - last[1]) if last is not None else 0
            if (last is None or moved > max(EMIT_CHANGE_MS, EMIT_CHANGE_SHARE * (eta - at))
                    or at - last[0] >= EMIT_INTERVAL_MS):
                self.emitted[stop.shipment_id] = (at, eta)
                digest = digest or self.inputs_digest(speeds)
                out.append(EtaUpdate(self.partner_id, stop.shipment_id, self.vehicle_id, at, eta, MODEL_VERSION,
                                     digest))
        return out


# --- what the ETA operator (udfs.flink.eta.Eta) does besides applying intervals ----------------------

HOUR_MS = 3_600_000
IDLE_ROUTE_MS = 24 * HOUR_MS  # a stop whose window opened a day ago is over, final status or not;
                              # a van without stops that sent nothing for a day is forgotten


def clean_up_at(ts: int) -> int:
    """When a route is cleaned up after something at ``ts``: on whole hours (at most one timer
    per van and hour, whatever the event rate), a day after ``ts``."""
    return (ts // HOUR_MS + 1) * HOUR_MS + IDLE_ROUTE_MS


def clean_up(route: Route, now: int) -> bool:
    """Complete the stops whose window opened a day before ``now``; True when the route is
    over (no stop left and no ping for a day): its state can be cleared."""
    for stop in [s for s in route.stops.values() if s.window_start + IDLE_ROUTE_MS <= now]:
        route.complete(stop.shipment_id)
    return not route.stops and (route.last_ping is None or route.last_ping[0] + IDLE_ROUTE_MS <= now)


def waiting_entry(value, position: int) -> tuple:
    """How a stop change or a ping batch waits for the end of its interval: ``(event time,
    0 for a stop and 1 for a batch, arrival position, value)`` (stops first at equal times)."""
    return value.at, 0 if isinstance(value, (Assign, Unassign)) else 1, position, value


def in_waiting_order(entries) -> list:
    """The values of :func:`waiting_entry` entries in the order they are applied: event time,
    stops first, arrival. Entries of checkpoints taken before the event time was part of them,
    ``(kind, position, value)``, sort the same way."""
    def order(entry: tuple) -> tuple:
        return entry[:3] if len(entry) == 4 else (entry[2].at, entry[0], entry[1])
    return [entry[-1] for entry in sorted(entries, key=order)]
