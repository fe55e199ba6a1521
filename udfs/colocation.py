"""Exact cross-partner co-location detection (definition: shared/design/domain.md).

Two delivery tasks A and B are co-located iff their partners differ, the
haversine distance of their destinations (sphere of radius 6,371,008.8 m) is at
most the radius, and their windows overlap: ``max(start) < min(end)``.

How it is found exactly, whatever cells the tasks fall in:

* The *index resolution* is chosen from the radius so that the average H3 edge is
  at least the radius (:func:`resolution_for_radius`): the disk of radius R around
  any point then lies inside its cell's 2-ring (cells are at least ~0.87 edges wide).
* Every task is stored in each cell its R-disk may touch: its home cell plus the
  cells of its 2-ring whose centre is within R + that cell's circumradius
  (:func:`cells_within`; conservative, never misses a cell). On average a task at
  150 m is stored in about three cells.
* Two co-located tasks therefore meet in both home cells. A pair is reported in
  exactly one place, the smaller of the two home cells (:func:`owns_pair`), by
  whichever of the two arrives there second. So every pair is reported once and
  as soon as the second task is processed, with no global coordination.

Tasks are plain tuples (:class:`Task`); no pyflink import here.
"""
from __future__ import annotations

import functools
import hashlib
from typing import NamedTuple

import h3.api.basic_int as h3i

from udfs import keys
from udfs.geo import EARTH_RADIUS_M, haversine_m  # noqa: F401  (re-exported: part of the definition)
from udfs.h3cells import SHARED_RESOLUTION


class Task(NamedTuple):
    """The fields of a DeliveryTask the matcher needs (timestamps in epoch ms)."""

    partner_id: str
    shipment_id: str
    event_time: int  # the announcement's version: a later one replaces an earlier one
    event_id: str
    lat: float
    lng: float
    window_start: int
    window_end: int
    recipient_key: str | None
    home_cell: int  # index-resolution cell of the destination
    revision: int = 0  # 0, 1, 2, ... for successive accepted versions of the shipment
    volume_l: float = 0.0  # what the consolidation needs of the rest of the task

    @property
    def key(self) -> str:
        return keys.key(self.partner_id, self.shipment_id)


class Match(NamedTuple):
    """A co-located pair, ordered so (partner_a, shipment_a) < (partner_b, shipment_b)."""

    match_id: str
    partner_a: str
    shipment_a: str
    partner_b: str
    shipment_b: str
    h3_cell: int  # resolution-10 cell of the midpoint
    distance_m: float
    overlap_start: int
    overlap_end: int
    same_recipient: bool
    detected_at: int  # event time of the later of the two announcements
    version: int  # grows with every change of the pair (see make_match); the highest one holds
    retracted: bool


#: How many rings around the home cell may hold cells within the radius.
RINGS = 2


@functools.lru_cache(maxsize=64)
def resolution_for_radius(radius_m: float) -> int:
    """The finest H3 resolution whose average edge is at least the radius (0 if none).

    Hexagon widths are sqrt(3) edges and even the most distorted cells keep over half
    the average edge, so two rings of cells around the home cell span more than R
    in every direction: the R-disk of a point cannot reach past its cell's 2-ring.
    Finer cells than that would need more rings; coarser ones hold more tasks per
    cell, and every arriving task is compared with its cell's tasks.
    Property-tested in tests/unit/test_colocation.py, pentagons included.
    """
    for res in range(15, -1, -1):
        if h3i.average_hexagon_edge_length(res, "m") >= radius_m:
            return res
    return 0


@functools.lru_cache(maxsize=200_000)
def _circumradius_m(cell: int) -> float:
    lat, lng = h3i.cell_to_latlng(cell)
    return max(haversine_m(lat, lng, vlat, vlng) for vlat, vlng in h3i.cell_to_boundary(cell))


def cells_within(lat: float, lng: float, radius_m: float, resolution: int) -> tuple[int, tuple[int, ...]]:
    """(home cell, other cells the R-disk around the point may touch), at ``resolution``."""
    home = h3i.latlng_to_cell(lat, lng, resolution)
    others = []
    for cell in h3i.grid_disk(home, RINGS):
        if cell == home:
            continue
        clat, clng = h3i.cell_to_latlng(cell)
        # 1e-6 relative slack: float rounding must never drop a cell that touches the disk
        if haversine_m(lat, lng, clat, clng) <= (radius_m + _circumradius_m(cell)) * (1 + 1e-6):
            others.append(cell)
    return home, tuple(sorted(others))


def owns_pair(cell: int, a: Task, b: Task) -> bool:
    """True in exactly one cell for a pair: the smaller home cell (both tasks are stored there)."""
    return cell == min(a.home_cell, b.home_cell)


def ordered(a: Task, b: Task) -> tuple[Task, Task]:
    return (a, b) if (a.partner_id, a.shipment_id) < (b.partner_id, b.shipment_id) else (b, a)


def match_id(a: Task, b: Task) -> str:
    """Deterministic id of the pair of shipments (not of their versions)."""
    first, second = ordered(a, b)
    text = f"{first.partner_id}\x1f{first.shipment_id}\x1f{second.partner_id}\x1f{second.shipment_id}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def colocated(a: Task, b: Task, radius_m: float) -> float | None:
    """The distance in metres if ``a`` and ``b`` are co-located, else None."""
    if a.partner_id == b.partner_id:
        return None
    if max(a.window_start, b.window_start) >= min(a.window_end, b.window_end):
        return None
    distance = haversine_m(a.lat, a.lng, b.lat, b.lng)
    return distance if distance <= radius_m else None


def make_match(a: Task, b: Task, distance: float, retracted: bool = False, revisions: int | None = None) -> Match:
    """The match of ``a`` and ``b``, or its retraction.

    ``version`` = 2 x (sum of the two tasks' revisions) + 1 for a match, + 0 for a
    retraction. A replacement raises one revision, so its retraction of the old pair
    outranks the old match, and the new pair (same match_id) outranks the retraction:
    the highest version of a match_id is its current state, whatever order the
    updates arrive in (ClickHouse ReplacingMergeTree(version, retracted)).
    """
    first, second = ordered(a, b)
    mid_lat, mid_lng = (a.lat + b.lat) / 2, (a.lng + b.lng) / 2
    revision_sum = a.revision + b.revision if revisions is None else revisions
    return Match(
        match_id(a, b), first.partner_id, first.shipment_id, second.partner_id, second.shipment_id,
        h3i.latlng_to_cell(mid_lat, mid_lng, SHARED_RESOLUTION), round(distance, 3),
        max(a.window_start, b.window_start), min(a.window_end, b.window_end),
        a.recipient_key is not None and a.recipient_key == b.recipient_key, max(a.event_time, b.event_time),
        revision_sum * 2 + (0 if retracted else 1), retracted)


class CellIndex:
    """The tasks stored in one index cell, and what changes when one arrives or leaves.

    ``tasks`` maps ``partner:shipment`` to the version stored here (at most one).
    Pure and small: a Flink keyed function keeps one per cell in keyed state.
    """

    def __init__(self, cell: int, radius_m: float, tasks: dict[str, Task] | None = None):
        self.cell = cell
        self.radius_m = radius_m
        self.tasks: dict[str, Task] = tasks if tasks is not None else {}

    def add(self, task: Task) -> list[Match]:
        """Store ``task`` (replacing an older version of it) and return the matches it creates here."""
        out: list[Match] = []
        old = self.tasks.get(task.key)
        if old is not None:
            if old.revision >= task.revision:
                return out  # an older or the same version: nothing changes
            out.extend(self.remove(old.key, by_revision=task.revision))
        for other in self.tasks.values():
            if owns_pair(self.cell, task, other):
                distance = colocated(task, other, self.radius_m)
                if distance is not None:
                    out.append(make_match(task, other, distance))
        self.tasks[task.key] = task
        return out

    def remove(self, key: str, by_revision: int) -> list[Match]:
        """Drop the stored version of ``key``; retract the matches it had here.

        ``by_revision`` is the revision of the version that replaces it (retractions
        must outrank the matches they undo).
        """
        gone = self.tasks.pop(key, None)
        if gone is None:
            return []
        out = []
        for other in self.tasks.values():
            if owns_pair(self.cell, gone, other):
                distance = colocated(gone, other, self.radius_m)
                if distance is not None:
                    out.append(make_match(gone, other, distance, retracted=True,
                                          revisions=by_revision + other.revision))
        return out

    def expire(self, before_ms: int) -> int:
        """Drop tasks whose window ended before ``before_ms``; returns how many."""
        stale = [k for k, t in self.tasks.items() if t.window_end < before_ms]
        for key in stale:
            del self.tasks[key]
        return len(stale)


# --- the per-shipment step before the cells: versions, duplicates, lateness -----------------------

ACCEPTED, DUPLICATE, SUPERSEDED = "accepted", "duplicate", "superseded"


class Routed(NamedTuple):
    """A message for the cell index: add a task version, or remove one."""

    cell: int
    task: Task | None  # set for "add"
    remove_key: str | None  # set for "remove"
    by_revision: int


DEFAULT_PARCEL_L = 20.0  # volume of a parcel whose volume is not given


def volume_of(volume_l: float | None, parcel_count: int | None) -> float:
    return volume_l if volume_l is not None else (parcel_count or 1) * DEFAULT_PARCEL_L


def task_from_record(record: dict, resolution: int, revision: int = 0) -> Task:
    """A DeliveryTask record (internal form) as a :class:`Task` homed at ``resolution``;
    ``volume_l`` falls back to a typical parcel volume per parcel when not given."""
    lat, lng = record["dest_lat"], record["dest_lng"]
    return Task(record["partner_id"], record["shipment_id"], record["event_time"], record["event_id"], lat, lng,
                record["window_start"], record["window_end"], record["recipient_key"],
                h3i.latlng_to_cell(lat, lng, resolution), revision,
                volume_of(record.get("volume_l"), record.get("parcel_count")))


def is_late(task: Task, watermark_ms: int, allowed_lateness_ms: int) -> bool:
    """Late only when the delivery window ended more than the allowed lateness before the watermark."""
    return task.window_end + allowed_lateness_ms < watermark_ms


def register(stored: tuple[Task, tuple[int, ...]] | None, task: Task, radius_m: float,
             resolution: int) -> tuple[str, tuple[Task, tuple[int, ...]] | None, list[Routed]]:
    """Accept a new version of a shipment, or recognise a duplicate / superseded one.

    ``stored`` is the current version and the cells it is stored in. A version is
    newer when its (event_time, event_id) is greater; an equal event_id is a
    duplicate. Returns (verdict, new stored value, messages for the cells).
    """
    if stored is not None:
        current, cells = stored
        if task.event_id == current.event_id:
            return DUPLICATE, stored, []
        if (task.event_time, task.event_id) < (current.event_time, current.event_id):
            return SUPERSEDED, stored, []
        task = task._replace(revision=current.revision + 1)
        messages = [Routed(c, None, current.key, task.revision) for c in cells]
    else:
        messages = []
    home, others = cells_within(task.lat, task.lng, radius_m, resolution)
    cells = (home, *others)
    messages += [Routed(c, task, None, task.revision) for c in cells]
    return ACCEPTED, (task, cells), messages
