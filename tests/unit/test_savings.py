"""The marginal saving of a proposal (udfs/savings.py) against brute force on small routes."""
import itertools
import math
import random

import pytest

from udfs.savings import Route, cheapest_insertion, leg_m, marginal, removal_m, tour_m

BASE = (52.37, 4.89)


def around(rng: random.Random, n: int, spread: float = 0.02) -> list[tuple[float, float]]:
    return [(BASE[0] + rng.uniform(-spread, spread), BASE[1] + rng.uniform(-spread, spread)) for _ in range(n)]


def best_order_preserving_insertion(start, points, new) -> float:
    """Brute force: every order of ``new`` merged at every place into ``points`` (kept in order)."""
    base = tour_m(start, points)
    best = math.inf
    total = len(points) + len(new)
    for order in itertools.permutations(range(len(new))):
        for places in itertools.combinations(range(total), len(new)):
            tour, it_new, it_old = [], iter(order), iter(points)
            for i in range(total):
                tour.append(new[next(it_new)] if i in places else next(it_old))
            best = min(best, tour_m(start, tour) - base)
    return best


@pytest.mark.parametrize("seed", range(40))
def test_one_stop_is_inserted_where_brute_force_puts_it(seed):
    rng = random.Random(seed)
    start, *points = around(rng, rng.randint(1, 7))
    new = around(rng, 1)
    tour, added = cheapest_insertion(start, points, new)
    assert added == pytest.approx(best_order_preserving_insertion(start, points, new), abs=1e-6)
    assert sorted(tour) == list(range(len(points) + 1))
    assert [i for i in tour if i < len(points)] == list(range(len(points)))  # the route's order is kept
    assert added == pytest.approx(tour_m(start, [[*points, *new][i] for i in tour]) - tour_m(start, points), abs=1e-6)


@pytest.mark.parametrize("seed", range(40))
def test_several_stops_never_cost_less_than_the_best_insertion(seed):
    rng = random.Random(1000 + seed)
    start, *points = around(rng, rng.randint(1, 6))
    new = around(rng, rng.randint(2, 3), spread=0.01)
    tour, added = cheapest_insertion(start, points, new)
    full = [*points, *new]
    assert added == pytest.approx(tour_m(start, [full[i] for i in tour]) - tour_m(start, points), abs=1e-6)
    assert added >= best_order_preserving_insertion(start, points, new) - 1e-6


def test_an_insertion_into_an_empty_tour_is_there_and_back():
    start, p = BASE, (BASE[0] + 0.01, BASE[1])
    assert cheapest_insertion(start, [], [p])[1] == pytest.approx(2 * leg_m(start, p))


@pytest.mark.parametrize("seed", range(20))
def test_removal_is_the_tour_before_less_the_tour_after(seed):
    rng = random.Random(2000 + seed)
    start, *points = around(rng, rng.randint(2, 8))
    stops = tuple((f"s{i}", p) for i, p in enumerate(points))
    gone = set(rng.sample([k for k, _ in stops], rng.randint(1, len(stops))))
    after = [p for k, p in stops if k not in gone]
    assert removal_m(Route("a", start, stops), gone) == pytest.approx(tour_m(start, points) - tour_m(start, after))


def test_a_stop_next_door_moves_to_the_carrier_and_saves_the_other_van_its_detour():
    """Partner b's van drives 2 km out to a stop 100 m from one of carrier a's stops:
    b saves its detour, a's van adds ~2 x 100 m x detour."""
    depot = BASE
    a_stop, b_stop = (BASE[0] + 0.02, BASE[1]), (BASE[0] + 0.02 + 0.0009, BASE[1])
    b_other = (BASE[0], BASE[1] + 0.01)
    routes = {"a:v1": Route("a", depot, (("a:1", a_stop),)),
              "b:v9": Route("b", depot, (("b:5", b_other), ("b:7", b_stop)))}
    s = marginal(routes, {"a:1": "a:v1", "b:7": "b:v9"}, "a", "a:v1", {"a:1": a_stop, "b:7": b_stop})
    assert s.removed_m == pytest.approx(tour_m(depot, [b_other, b_stop]) - tour_m(depot, [b_other]))
    # b_stop lies straight beyond a_stop from the depot: inserting it costs the 100 m there and back
    assert s.inserted_m == pytest.approx(2 * leg_m(a_stop, b_stop), rel=1e-3)
    assert s.by_partner_m == {"a": pytest.approx(-s.inserted_m), "b": pytest.approx(s.removed_m)}
    assert s.saved_m == pytest.approx(s.removed_m - s.inserted_m)
    assert 1000 < s.saved_m < s.removed_m


def test_a_group_whose_stops_sit_on_the_carrier_s_way_costs_it_nothing_and_an_out_of_the_way_one_saves_less():
    depot = BASE
    a_far = (BASE[0] + 0.03, BASE[1])
    on_the_way = (BASE[0] + 0.015, BASE[1])
    routes = {"a:v": Route("a", depot, (("a:1", a_far),)), "b:v": Route("b", depot, (("b:1", on_the_way),))}
    s = marginal(routes, {"a:1": "a:v", "b:1": "b:v"}, "a", "a:v", {"a:1": a_far, "b:1": on_the_way})
    assert s.inserted_m == pytest.approx(0.0, abs=1e-6)
    assert s.saved_m == pytest.approx(tour_m(depot, [on_the_way]))
