"""Consolidation per neighbourhood: groups from matches, when they are decided, promised capacity."""
from udfs.colocation import haversine_m
from udfs.consolidation import LEAD_MS, Member, Neighbourhood, Offer, group_digest

HOUR = 3_600_000
DAY = 1_762_128_000_000  # 2025-11-03T00:00:00Z
STEP = 1 / 111_194.93  # one metre north, in degrees


def member(partner, shipment, north_m=0.0, start_h=10, end_h=12, volume=30.0):
    return Member(partner, shipment, 52.52 + north_m * STEP, 13.405, DAY + start_h * HOUR, DAY + end_h * HOUR, volume)


def offer(partner, spare_volume=500.0, spare_stops=20, lat=52.45):
    return Offer(partner, f"{partner}:van-9", lat, 13.30, DAY + 6 * HOUR, DAY + 18 * HOUR, spare_volume, spare_stops)


def test_a_group_is_decided_once_lead_time_before_its_first_window():
    n = Neighbourhood()
    a, b = member("pa", "A1"), member("pb", "B1", north_m=40)
    due_at = n.link(a, b)
    assert due_at == a.window_start - LEAD_MS
    offers = {o.offer_key: o for o in (offer("pa"), offer("pb", lat=52.60))}
    assert n.decide(due_at - 1, offers) == []  # not due yet
    [proposal] = n.decide(due_at, offers)
    assert proposal.shipments == ("pa:A1", "pb:B1") and proposal.partners == ("pa", "pb")
    assert proposal.km_saved > 0 and proposal.created_at == due_at
    assert n.decide(due_at + HOUR, offers) == []  # decided: not again
    # a third delivery joins: a new group, decided again
    c = member("pc", "C1", north_m=-30)
    n.link(a, c)
    [again] = n.decide(due_at + HOUR, offers)
    assert again.shipments == ("pa:A1", "pb:B1", "pc:C1") and again.proposal_id != proposal.proposal_id


def test_separate_groups_and_retractions():
    n = Neighbourhood()
    n.link(member("pa", "A1"), member("pb", "B1", north_m=40))
    n.link(member("pa", "A2", north_m=2000), member("pc", "C2", north_m=2050))
    assert sorted(len(g) for g in n.groups()) == [2, 2]
    n.unlink("pa:A2", "pc:C2")
    assert [sorted(m.key for m in g) for g in n.groups()] == [["pa:A1", "pb:B1"]]
    assert set(n.members) == {"pa:A1", "pb:B1"}  # deliveries without a match leave


def test_capacity_promised_to_one_group_is_not_offered_to_the_next():
    n = Neighbourhood()
    # two groups; pb's deliveries need 60 l each time; pa's van has room for 100 l in all
    n.link(member("pa", "A1"), member("pb", "B1", north_m=40, volume=60.0))
    n.link(member("pa", "A2", north_m=3000), member("pb", "B2", north_m=3040, volume=60.0))
    offers = {o.offer_key: o for o in (offer("pa", spare_volume=100.0), offer("pb", spare_volume=0.0, lat=52.60))}
    proposals = n.decide(DAY + 10 * HOUR - LEAD_MS, offers)
    assert len(proposals) == 1 and proposals[0].assigned_partner == "pa"
    assert n.promised["pa:van-9"][:2] == (60.0, 1)
    # the next group in this neighbourhood sees only the 40 l left
    n.link(member("pa", "A3", north_m=6000), member("pb", "B3", north_m=6040, volume=50.0))
    assert n.decide(DAY + 10 * HOUR - LEAD_MS, offers) == []
    n.link(member("pa", "A4", north_m=9000), member("pb", "B4", north_m=9040, volume=40.0))
    [fits] = n.decide(DAY + 10 * HOUR - LEAD_MS, offers)
    assert fits.shipments == ("pa:A4", "pb:B4") and n.promised["pa:van-9"][:2] == (100.0, 2)


def test_kilometres_are_the_trips_from_the_depots():
    n = Neighbourhood()
    a, b = member("pa", "A1"), member("pb", "B1", north_m=40)
    n.link(a, b)
    pa, pb = offer("pa"), offer("pb", lat=52.60)
    [p] = n.decide(a.window_start - LEAD_MS, {o.offer_key: o for o in (pa, pb)})
    own = {"pa": haversine_m(pa.lat, pa.lng, a.lat, a.lng), "pb": haversine_m(pb.lat, pb.lng, b.lat, b.lng)}
    assert abs(p.km_separate - sum(own.values()) * 1.3 / 1000) < 0.002
    carrier = min(own, key=own.get)  # the nearer depot drives the shorter consolidated tour
    assert p.assigned_partner == carrier
    assert abs(p.km_consolidated - (own[carrier] + 40) * 1.3 / 1000) < 0.01


def test_expired_deliveries_and_decisions_are_forgotten():
    n = Neighbourhood()
    a, b = member("pa", "A1"), member("pb", "B1", north_m=40)
    n.link(a, b)
    n.decide(a.window_start - LEAD_MS, {"pa:van-9": offer("pa")})
    assert group_digest([a, b]) in n.decided
    n.expire(a.window_end)
    assert not n.members and not n.edges and not n.decided and not n.promised


def test_a_neighbourhood_survives_pickling_as_plain_values_and_decides_the_same():
    import pickle

    n = Neighbourhood()
    a, b, c = member("pa", "A1"), member("pb", "B1", north_m=40), member("pc", "C1", north_m=-30, start_h=14)
    n.link(a, b)
    due_at = n.link(a, c)
    offers = {o.offer_key: o for o in (offer("pa"), offer("pb", lat=52.60))}
    n.decide(due_at, offers)  # something decided and promised
    copy = pickle.loads(pickle.dumps(n))
    assert copy == n and all(type(m) is Member for m in copy.members.values())
    later = due_at + 2 * HOUR
    d = member("pd", "D1", north_m=10, start_h=14)
    for x in (copy, n):
        x.link(c, d)
    assert copy.decide(later, offers) == n.decide(later, offers)
    old_form = Neighbourhood.__new__(Neighbourhood)  # state pickled as the dataclass's fields
    old_form.__setstate__(dict(vars(n)))
    assert old_form == n


def test_skipping_decisions_until_the_next_group_is_due_changes_no_proposal():
    """``due`` remembers when the next group becomes due, ``expire`` when the first thing
    can expire; the same calls without that memory (forgotten before every call) must
    forget and propose exactly the same."""
    import random

    rng = random.Random(11)
    for _ in range(20):
        cached, fresh = Neighbourhood(), Neighbourhood()
        offers = {o.offer_key: o for o in (offer("pa"), offer("pb", lat=52.60), offer("pc", spare_volume=90.0))}
        members = [member(p, f"{p}{i}", north_m=rng.uniform(-60, 60), start_h=rng.randint(6, 16),
                          end_h=rng.randint(17, 20), volume=rng.choice([20.0, 40.0])) for p in ("pa", "pb", "pc")
                   for i in range(4)]
        now = DAY + 2 * HOUR
        edges, windows = set(), {}  # the matches as the definition has them: what expire must leave
        for _step in range(40):
            action = rng.random()
            a, b = rng.sample(members, 2)
            fresh._adjacent = None
            for n in (cached, fresh):
                if action < 0.45 and a.partner_id != b.partner_id:
                    n.link(a, b)
                elif action < 0.55:
                    n.unlink(a.key, b.key)
            if action < 0.45 and a.partner_id != b.partner_id:
                edges.add(tuple(sorted((a.key, b.key))))
                windows[a.key], windows[b.key] = a.window_end, b.window_end
            elif action < 0.55:
                edges.discard(tuple(sorted((a.key, b.key))))
            now += rng.choice([0, 10 * 60_000, HOUR])
            edges = {(x, y) for x, y in edges if windows[x] > now and windows[y] > now}
            fresh._next_due = fresh._next_expiry = fresh._adjacent = None
            assert cached.expire(now) == fresh.expire(now)
            assert cached.edges == edges and set(cached.members) == {k for e in edges for k in e}
            fresh._next_due = fresh._next_expiry = fresh._adjacent = None
            assert cached.decide(now, offers) == fresh.decide(now, offers)
            assert cached == fresh
