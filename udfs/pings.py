"""Vehicle positions as the ETA path consumes them: one batch per vehicle and interval.

Positions are most of the traffic. The job decodes and checks them on the JVM and
groups each vehicle's positions per event-time interval (``Config.eta_interval_s``,
a tumbling window in Flink SQL) before anything crosses into Python, so the
trackers and ETA routes run once per vehicle and interval, not once per ping. A
batch arrives as ``"ts,lat,lng,speed;..."`` text (Flink's ``LISTAGG``; doubles are
printed with Java's shortest round-tripping form, so they parse back exactly).

Pure functions, no pyflink import.
"""
from __future__ import annotations

from typing import NamedTuple

import h3.api.basic_int as h3i

from udfs import keys
from udfs.geo import haversine_m
from udfs.speed_profiles import MAX_GAP_MS, MAX_SPEED_MPS, PARENT_RESOLUTION, segment_speed


class Ping(NamedTuple):
    """One position of a vehicle, as the ETA path uses it."""

    ts: int  # event time, epoch ms
    lat: float
    lng: float
    speed_mps: float | None  # as reported; None when the partner sent none


class PingBatch(NamedTuple):
    """A vehicle's positions over one interval, in event-time order."""

    key: str  # partner_id:vehicle_id
    at: int  # event time of the last ping
    pings: tuple[Ping, ...]


def interval_end(ts: int, interval_ms: int) -> int:
    """The last millisecond of the event-time interval (a tumbling window of ``interval_ms``
    from the epoch, like the SQL window of the ping batches) that holds ``ts``."""
    return ts - ts % interval_ms + interval_ms - 1


def parse_pings(text: str) -> tuple[Ping, ...]:
    """``"ts,lat,lng,speed;..."`` (speed empty when unknown) -> pings sorted by time, then position."""
    pings = []
    for item in text.split(";"):
        ts, lat, lng, speed = item.split(",")
        pings.append(Ping(int(ts), float(lat), float(lng), float(speed) if speed else None))
    pings.sort(key=lambda p: (p.ts, p.lat, p.lng, -1.0 if p.speed_mps is None else p.speed_mps))
    return tuple(pings)


def batch_from_row(row) -> PingBatch:
    """The SQL batch row ``(partner_id, vehicle_id, pings text)``."""
    pings = parse_pings(row[2])
    return PingBatch(keys.key(row[0], row[1]), pings[-1].ts, pings)


def ping_text(ts: int, lat: float, lng: float, speed: float | None) -> str:
    """One ping as :func:`parse_pings` reads it (a position the Python reference accepted after
    the JVM had refused it: a batch of one). ``repr`` of a float round-trips, as Java's does."""
    return f"{ts},{lat!r},{lng!r},{'' if speed is None else repr(speed)}"


HOUR_MS = 3_600_000
IDLE_VEHICLE_MS = 24 * HOUR_MS  # a van's last ping is forgotten a day after it (no segment spans that gap)


def forget_at(ts: int) -> int:
    """When the last ping at ``ts`` is forgotten if no newer one came: a day later, on a whole hour
    (one event-time timer per van and hour, whatever the ping rate)."""
    return (ts // HOUR_MS + 1) * HOUR_MS + IDLE_VEHICLE_MS


def track(last: Ping | None, pings: tuple[Ping, ...]) -> tuple[Ping | None, dict[int, list[tuple[int, int, float]]]]:
    """Consecutive pings -> usable travel segments ``(cell, hour of week, m/s)`` by district
    (resolution-7 parent), and the newest ping. Pings not newer than the newest one seen say
    nothing about the street now and are skipped."""
    by_district: dict[int, list[tuple[int, int, float]]] = {}
    for ping in pings:
        if last is not None and ping[0] <= last[0]:  # any (ts, lat, lng, speed) tuple
            continue
        segment = segment_speed(last, ping) if last is not None else None
        last = ping
        if segment is not None:
            by_district.setdefault(h3i.cell_to_parent(segment[0], PARENT_RESOLUTION), []).append(segment)
    return last, by_district


def driven_m(last: Ping | None, pings: tuple[Ping, ...]) -> float:
    """Metres a van drove over ``pings`` (from ``last``, its newest ping before them): the
    great-circle legs between consecutive newer pings, each at most ``MAX_GAP_MS`` long and
    not faster than ``MAX_SPEED_MPS`` (a longer gap says nothing of the path; a faster leg is
    a GPS jump). The ``vehicle_km`` rows and the km-driven KPI (docs/kpis.md) add these up."""
    metres = 0.0
    for ping in pings:
        if last is not None and ping[0] <= last[0]:
            continue
        if last is not None:
            dt = ping[0] - last[0]
            leg = haversine_m(last[1], last[2], ping[1], ping[2])
            if dt <= MAX_GAP_MS and not leg / (dt / 1000.0) > MAX_SPEED_MPS:
                metres += leg
        last = ping
    return metres
