"""What a consolidation proposal saves on the routes the partners actually drove: the
*marginal* kilometres, not the depot-to-group trips the kernel compares when it decides.

A van's route is a closed tour: from its start (its first position of the day) through its
stops in ``stop_sequence`` order and back to the start. Every leg is the great-circle
distance times ``DETOUR``, as in the kernel. For a proposal:

* each other partner's van loses the group's stops it carried: the tour's length with them
  less the tour's length without them (all of that van's group stops removed at once);
* the chosen carrier's receiving van gains them by *cheapest insertion*: stop after stop,
  the stop and the place in the tour that add the fewest metres are taken, the tour's
  order otherwise kept. With one stop that is the best insertion there is; with more it is
  at least the best order-preserving insertion (tests/unit/test_savings.py checks both by
  brute force), so the saving counted is never more than a re-planned insertion could give;
* saved = removed - inserted, and each partner's share: what its own vans lose (the
  carrier's is negative: what its van gains).

The carrier's own group stops stay where they are. Pure Python (one proposal is a few
stops and a few routes); lastmile/savings.py feeds it from ClickHouse.
"""
from __future__ import annotations

from typing import NamedTuple

from udfs.eta import DETOUR
from udfs.geo import haversine_m

Point = tuple[float, float]  # (lat, lng) in degrees


class Route(NamedTuple):
    """A van's day: where it started and its stops (``(key, point)``) in the order it made them."""

    partner_id: str
    start: Point
    stops: tuple[tuple[str, Point], ...]


class Savings(NamedTuple):
    removed_m: float  # what the other partners' vans no longer drive
    inserted_m: float  # what the carrier's receiving van drives more
    by_partner_m: dict[str, float]  # partner -> metres its vans drive less (the carrier's is negative)

    @property
    def saved_m(self) -> float:
        return self.removed_m - self.inserted_m


def leg_m(a: Point, b: Point, detour: float = DETOUR) -> float:
    return haversine_m(a[0], a[1], b[0], b[1]) * detour


def tour_m(start: Point, points: list[Point] | tuple[Point, ...], detour: float = DETOUR) -> float:
    """The closed tour start -> points... -> start."""
    path = [start, *points, start]
    return sum(leg_m(path[i], path[i + 1], detour) for i in range(len(path) - 1))


def removal_m(route: Route, keys: set[str], detour: float = DETOUR) -> float:
    """How much shorter ``route`` is without the stops of ``keys``."""
    points = [p for _, p in route.stops]
    kept = [p for k, p in route.stops if k not in keys]
    return tour_m(route.start, points, detour) - tour_m(route.start, kept, detour)


def cheapest_insertion(start: Point, points: list[Point], new: list[Point],
                       detour: float = DETOUR) -> tuple[list[int], float]:
    """Insert ``new`` into the tour ``start -> points -> start`` by cheapest insertion.
    Returns the tour as indices (``i < len(points)``: ``points[i]``; else ``new[i - len(points)]``)
    and the metres added. Ties go to the earlier stop of ``new``, then the earlier place."""
    everything = [*points, *new]
    tour = list(range(len(points)))
    added = 0.0
    left = list(range(len(points), len(everything)))
    while left:
        best = None
        for n in left:
            p = everything[n]
            for place in range(len(tour) + 1):
                before = start if place == 0 else everything[tour[place - 1]]
                after = start if place == len(tour) else everything[tour[place]]
                cost = leg_m(before, p, detour) + leg_m(p, after, detour) - leg_m(before, after, detour)
                if best is None or cost < best[0]:
                    best = (cost, n, place)
        assert best is not None
        cost, n, place = best
        tour.insert(place, n)
        left.remove(n)
        added += cost
    return tour, added


def marginal(routes: dict[str, Route], members: dict[str, str], carrier: str, receiving: str,
             points: dict[str, Point], detour: float = DETOUR) -> Savings:
    """The proposal's marginal saving. ``routes``: by van key; ``members``: the group's
    ``partner:shipment`` keys -> the van that carried it; ``carrier``: the assigned partner;
    ``receiving``: its van that takes the others' stops; ``points``: every member's destination."""
    moved = {k: van for k, van in members.items() if routes[van].partner_id != carrier}
    by_partner: dict[str, float] = {}
    removed = 0.0
    for van in sorted(set(moved.values())):
        metres = removal_m(routes[van], {k for k, v in moved.items() if v == van}, detour)
        removed += metres
        by_partner[routes[van].partner_id] = by_partner.get(routes[van].partner_id, 0.0) + metres
    target = routes[receiving]
    _, inserted = cheapest_insertion(target.start, [p for _, p in target.stops], [points[k] for k in sorted(moved)],
                                     detour)
    by_partner[carrier] = by_partner.get(carrier, 0.0) - inserted
    return Savings(removed, inserted, dict(sorted(by_partner.items())))
