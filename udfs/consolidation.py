"""Consolidation proposals: one carrier serves a group of co-located deliveries.

A *group* is a connected component of the current co-location matches inside one
*neighbourhood* (the resolution-7 H3 cell of the match's midpoint, a district of
~5 km²; a chain of matches across a district border is split there). A group is
*due* ``LEAD_MS`` before its earliest window opens: early enough for carriers to
load their vans accordingly. Then every due group not yet decided with exactly
these members goes to the Numba kernel (udfs/kernels/consolidation.py) in one
batch, with the capacity offers of the group's partners as candidate carriers:

* a candidate must take every delivery of the other partners within its spare
  volume and spare stops (less what this neighbourhood already proposed it
  carries), and its consolidated tour, started at the decision time or when its
  offer begins, must reach every stop inside its window and its availability;
* kilometres: every partner's own trip from its depot (or its first stop) through
  its deliveries, against one tour from the chosen carrier's vehicle or depot;
* the feasible candidate saving the most km is proposed; none saves: no proposal.

A group whose members change (a new match, a retraction) is a new group and is
decided again; a decided group is not. Capacity promised by proposals is tracked
per neighbourhood only: two districts may both count on the same spare room.
Proposals are advice: the carriers accept or not.

Pure Python and numpy (no pyflink import); the Flink operator is a thin wrapper.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import NamedTuple

import h3.api.basic_int as h3i
import numpy as np

from udfs import keys
from udfs.eta import DETOUR, DWELL_S
from udfs.kernels.consolidation import KERNEL_VERSION, GroupBatch
from udfs.kernels.native import components, plan_groups

NEIGHBOURHOOD_RESOLUTION = 7
LEAD_MS = 3 * 3_600_000
PLANNING_SPEED_MPS = 7.0  # ~25 km/h, a city van between stops
MAX_OFFERS_PER_PARTNER = 3  # the roomiest ones


class Member(NamedTuple):
    """A delivery in a group (from the DeliveryTask)."""

    partner_id: str
    shipment_id: str
    lat: float
    lng: float
    window_start: int
    window_end: int
    volume_l: float

    @property
    def key(self) -> str:
        return keys.key(self.partner_id, self.shipment_id)

    @classmethod
    def of(cls, task) -> Member:
        """The member a co-located task (udfs.colocation.Task) becomes."""
        return cls(task.partner_id, task.shipment_id, task.lat, task.lng, task.window_start, task.window_end,
                   task.volume_l)


OFFER_RETENTION_MS = 24 * 3_600_000  # a partner's offers that ended a day before its newest one began are dropped


def offers_ended_before(offers, newest: Offer) -> list[str]:
    """The keys of ``offers`` (``(key, Offer)`` pairs) of ``newest``'s partner that ended more
    than a day before ``newest`` begins: what the Consolidator forgets when ``newest`` arrives.
    Only the same partner's: an offer dated far ahead says nothing of another partner's vans
    (it once removed every other partner's offers)."""
    return [key for key, old in offers
            if old.partner_id == newest.partner_id and old.available_to + OFFER_RETENTION_MS < newest.available_from]


class Link(NamedTuple):
    """The Matcher's message to a neighbourhood: two deliveries are co-located (now, or again)."""

    neighbourhood: int
    a: Member
    b: Member


class Unlink(NamedTuple):
    """The Matcher's message to a neighbourhood: the pair of these member keys is no longer co-located."""

    neighbourhood: int
    key_a: str
    key_b: str


class Offer(NamedTuple):
    """Spare capacity from a CapacityOffer."""

    partner_id: str
    offer_key: str  # partner:vehicle, or partner:event_id for an offer without a vehicle
    lat: float
    lng: float
    available_from: int
    available_to: int
    spare_volume_l: float
    spare_stops: int


class Proposal(NamedTuple):
    proposal_id: str
    partners: tuple[str, ...]
    shipments: tuple[str, ...]  # partner:shipment
    assigned_partner: str
    km_separate: float
    km_consolidated: float
    km_saved: float
    kernel_version: str
    inputs_digest: str
    created_at: int
    offer_key: str
    tour: tuple[str, ...]  # partner:shipment in visiting order
    inputs: str = ""  # the kernel's inputs as digested (canonical JSON): the audit log's record (lastmile audit)


def neighbourhood_of(h3_cell: int) -> int:
    return h3i.cell_to_parent(h3_cell, NEIGHBOURHOOD_RESOLUTION)


def offer_from_record(r: dict) -> Offer:
    who = r["vehicle_id"] if r.get("vehicle_id") is not None else r["event_id"]
    return Offer(r["partner_id"], f"{r['partner_id']}:{who}", r["depot_lat"], r["depot_lng"], r["available_from"],
                 r["available_to"], r["spare_volume_l"], r["spare_stops"])


def group_digest(members: list[Member]) -> str:
    return hashlib.sha256("\x1f".join(sorted(m.key for m in members)).encode()).hexdigest()[:32]


def due_at(a: Member, b: Member) -> int:
    """When the group of a match becomes due for planning: ``LEAD_MS`` before its earlier window."""
    return min(a.window_start, b.window_start) - LEAD_MS


@dataclasses.dataclass
class Neighbourhood:
    """Keyed state of one neighbourhood: current matches, decided groups, promised capacity."""

    members: dict[str, Member] = dataclasses.field(default_factory=dict)
    edges: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    decided: dict[str, int] = dataclasses.field(default_factory=dict)  # group digest -> forget after (ms)
    # offer -> (litres, stops, until): capacity promised by proposals here, until their windows end
    promised: dict[str, tuple[float, int, int]] = dataclasses.field(default_factory=dict)
    # When the next group not yet due becomes due, as of the last due(); None: not known.
    # Until then, and while no match changes, no group can become due (a cache: not pickled).
    _next_due: float | None = dataclasses.field(default=None, compare=False, repr=False)
    # Nothing expires before this time (a lower bound on the earliest window end, decision and
    # promise kept here); None: not known. Most timers fire before anything is over: then
    # expire() does not rebuild the edges (a cache: not pickled).
    _next_expiry: float | None = dataclasses.field(default=None, compare=False, repr=False)
    # Member -> the members it is matched with, the edges by endpoint; None: not built yet
    # (after a restore). Expiry and retraction remove a member's edges without a pass over
    # all of the district's (a cache: not pickled).
    _adjacent: dict[str, set[str]] | None = dataclasses.field(default=None, compare=False, repr=False)

    def __getstate__(self) -> tuple:
        """Pickled as plain values (keyed state, written at every timer): a NamedTuple per
        member cost several times more to pickle and unpickle."""
        return tuple(tuple(m) for m in self.members.values()), tuple(self.edges), self.decided, self.promised

    def __setstate__(self, state) -> None:
        if isinstance(state, dict):  # pickled as the dataclass's fields, before the plain form
            self.__dict__.update(state)
            return
        members, edges, self.decided, self.promised = state
        self.members = {f"{m[0]}:{m[1]}": Member(*m) for m in members}
        self.edges = set(edges)
        self._next_due = self._next_expiry = self._adjacent = None

    def link(self, a: Member, b: Member) -> int:
        """A (new version of a) match; returns when the group becomes due (the caller's timer)."""
        self.members[a.key], self.members[b.key] = a, b
        self.edges.add((min(a.key, b.key), max(a.key, b.key)))
        if self._adjacent is not None:
            self._adjacent.setdefault(a.key, set()).add(b.key)
            self._adjacent.setdefault(b.key, set()).add(a.key)
        self._next_due = None
        self._expires_by(min(a.window_end, b.window_end))
        return due_at(a, b)

    def _expires_by(self, at: int) -> None:
        if self._next_expiry is not None:
            self._next_expiry = min(self._next_expiry, at)

    def _adjacency(self) -> dict[str, set[str]]:
        if self._adjacent is None:
            self._adjacent = {}
            for a, b in self.edges:
                self._adjacent.setdefault(a, set()).add(b)
                self._adjacent.setdefault(b, set()).add(a)
        return self._adjacent

    def _cut(self, key_a: str, key_b: str) -> None:
        """Drop the match of ``key_a`` and ``key_b``; a member it leaves without one is forgotten."""
        adjacent = self._adjacency()
        self.edges.discard((min(key_a, key_b), max(key_a, key_b)))
        for key, other in ((key_a, key_b), (key_b, key_a)):
            linked = adjacent.get(key)
            if linked is not None:
                linked.discard(other)
                if not linked:
                    del adjacent[key]
                    del self.members[key]

    def unlink(self, key_a: str, key_b: str) -> None:
        """A retracted match."""
        if (min(key_a, key_b), max(key_a, key_b)) in self.edges:
            self._cut(key_a, key_b)
        self._next_due = None

    def expire(self, now: int) -> bool:
        """Forget deliveries whose window has ended, and decisions about finished groups;
        whether anything was forgotten."""
        if self._next_expiry is not None and now < self._next_expiry:
            return False
        before = len(self.edges), len(self.members), len(self.decided), len(self.promised)
        for key in [key for key, m in self.members.items() if m.window_end <= now]:
            for other in list(self._adjacency().get(key, ())):  # its matches, and members they leave alone
                self._cut(key, other)
            self.members.pop(key, None)  # gone with its last match already, unless it had none
        self.decided = {d: until for d, until in self.decided.items() if until > now}
        self.promised = {o: v for o, v in self.promised.items() if v[2] > now}
        if (len(self.edges), len(self.members)) != before[:2]:
            self._next_due = None
        self._next_expiry = min((*(m.window_end for m in self.members.values()), *self.decided.values(),
                                 *(v[2] for v in self.promised.values())), default=math.inf)
        return (len(self.edges), len(self.members), len(self.decided), len(self.promised)) != before

    def groups(self) -> list[list[Member]]:
        keys = sorted(self.members)
        index = {k: i for i, k in enumerate(keys)}
        # in any order: a component is labelled with its smallest node, whatever the edges' order
        edges = self.edges
        labels = components(len(keys), np.fromiter((index[a] for a, _ in edges), np.int64, len(edges)),
                            np.fromiter((index[b] for _, b in edges), np.int64, len(edges)))
        by_label: dict[int, list[Member]] = {}
        for k, label in zip(keys, labels.tolist()):
            by_label.setdefault(label, []).append(self.members[k])
        return list(by_label.values())

    def due(self, now: int) -> list[list[Member]]:
        """Groups due at ``now`` that were not decided with exactly these members."""
        if self._next_due is not None and now < self._next_due:
            return []  # no match changed since the last call, and no group's time has come
        due, upcoming = [], []
        for g in self.groups():
            at = min(m.window_start for m in g) - LEAD_MS
            if at > now:
                upcoming.append(at)
            elif group_digest(g) not in self.decided:
                due.append(g)
        self._next_due = min(upcoming, default=math.inf)
        return due

    def on_timer(self, now: int, changes, offers: dict[str, Offer]) -> tuple[list[Proposal], bool]:
        """What the Flink operator does at a timer (udfs.flink.consolidation): apply the links
        and unlinks that arrived since the last one, in arrival order (:class:`Link` /
        :class:`Unlink`), forget what has ended and decide what is due. Returns the proposals
        and whether the state changed (to be saved)."""
        for change in changes:
            if isinstance(change, Link):
                self.link(change.a, change.b)
            else:
                self.unlink(change.key_a, change.key_b)
        changed = self.expire(now) or bool(changes)
        decided = len(self.decided)
        proposals = self.decide(now, offers)
        return proposals, changed or len(self.decided) != decided

    def decide(self, now: int, offers: dict[str, Offer]) -> list[Proposal]:
        """Plan every due group in one kernel batch; returns the proposals made."""
        groups = self.due(now)
        if not groups:
            return []
        for g in groups:
            self.decided[group_digest(g)] = until = max(m.window_end for m in g)
            self._expires_by(until)
        ranked = _ranked_offers(o for o in offers.values() if o.available_to > now)
        proposals = []
        while groups:
            # Each group was planned against what was promised before this round (the kernel
            # checked that capacity); a group whose carrier an earlier group of this round has
            # taken is planned again in the next round, against what is left. Every round
            # keeps at least its first proposal, so rounds end.
            again, taken = [], set()
            for g, batch in zip(groups, _batches(groups, ranked, self.promised, now)):
                proposal = _proposal(g, batch, now)
                if proposal is None:
                    continue
                if proposal.offer_key in taken:
                    again.append(g)
                    continue
                taken.add(proposal.offer_key)
                volume, stops, until = self.promised.get(proposal.offer_key, (0.0, 0, 0))
                extra = [m for m in g if m.partner_id != proposal.assigned_partner]
                self.promised[proposal.offer_key] = (volume + sum(m.volume_l for m in extra), stops + len(extra),
                                                     max(until, max(m.window_end for m in g)))
                self._expires_by(self.promised[proposal.offer_key][2])
                proposals.append(proposal)
            groups = again
        return proposals


class _Batch(NamedTuple):
    """One group's kernel inputs, also what the inputs digest is computed from."""

    candidates: list[Offer]  # with spare room already reduced by what was promised
    own_start: dict[str, tuple[float, float]]  # partner -> depot, when known
    result: tuple | None  # (chosen candidate index, km_separate, km_consolidated, tour order) after planning


def _ranked_offers(offers) -> dict[str, list[Offer]]:
    """Per partner, the offers a group of it may use as candidates: the ``MAX_OFFERS_PER_PARTNER``
    roomiest (as offered), roomiest first."""
    by_partner: dict[str, list[Offer]] = {}
    for o in sorted(offers, key=lambda o: (-o.spare_volume_l, o.offer_key)):
        ranked = by_partner.setdefault(o.partner_id, [])
        if len(ranked) < MAX_OFFERS_PER_PARTNER:
            ranked.append(o)
    return by_partner


def _batches(groups: list[list[Member]], ranked: dict[str, list[Offer]], promised: dict, now: int) -> list[_Batch]:
    """Run the kernel once for all groups; one :class:`_Batch` per group. ``ranked``: of
    :func:`_ranked_offers`; their spare room is reduced here by what was promised."""
    by_partner: dict[str, list[Offer]] = {}
    for partner in {m.partner_id for g in groups for m in g}:
        by_partner[partner] = left = []
        for o in ranked.get(partner, ()):
            used_l, used_stops, _ = promised.get(o.offer_key, (0.0, 0, 0))
            left.append(o._replace(spare_volume_l=o.spare_volume_l - used_l, spare_stops=o.spare_stops - used_stops)
                        if used_stops or used_l else o)
    batches = []
    rows, cands = [], []
    group_offsets, cand_offsets = [0], [0]
    for g in groups:
        partners = sorted({m.partner_id for m in g})
        candidates = [o for p in partners for o in by_partner[p]]
        own = {p: (by_partner[p][0].lat, by_partner[p][0].lng) for p in partners if by_partner.get(p)}
        batches.append(_Batch(candidates, own, None))
        rows += [(m, own.get(m.partner_id, (np.nan, np.nan))) for m in g]
        cands += candidates
        group_offsets.append(len(rows))
        cand_offsets.append(len(cands))
    partner_index = {p: i for i, p in enumerate(sorted({m.partner_id for m, _ in rows}))}
    f64 = lambda values: np.array(values, dtype=np.float64)  # noqa: E731
    i64 = lambda values: np.array(values, dtype=np.int64)  # noqa: E731
    chosen, km_separate, km_consolidated, order = plan_groups(GroupBatch(
        group_offsets=i64(group_offsets), lat=f64([m.lat for m, _ in rows]), lng=f64([m.lng for m, _ in rows]),
        window_start=i64([m.window_start for m, _ in rows]), window_end=i64([m.window_end for m, _ in rows]),
        volume_l=f64([m.volume_l for m, _ in rows]), partner=i64([partner_index[m.partner_id] for m, _ in rows]),
        own_lat=f64([o[0] for _, o in rows]), own_lng=f64([o[1] for _, o in rows]),
        decision_ms=i64([now] * len(groups)), cand_offsets=i64(cand_offsets),
        cand_partner=i64([partner_index.get(o.partner_id, -1) for o in cands]),
        cand_lat=f64([o.lat for o in cands]), cand_lng=f64([o.lng for o in cands]),
        cand_from=i64([o.available_from for o in cands]), cand_to=i64([o.available_to for o in cands]),
        cand_spare_volume=f64([o.spare_volume_l for o in cands]), cand_spare_stops=i64([o.spare_stops for o in cands])),
        DETOUR, PLANNING_SPEED_MPS, DWELL_S)
    for gi, batch in enumerate(batches):
        c = int(chosen[gi])
        tour = [int(r) - group_offsets[gi] for r in order[group_offsets[gi]:group_offsets[gi + 1]]] if c >= 0 else []
        batches[gi] = batch._replace(result=(c - cand_offsets[gi] if c >= 0 else -1, float(km_separate[gi]),
                                             float(km_consolidated[gi]), tour))
    return batches


def _proposal(group: list[Member], batch: _Batch, now: int) -> Proposal | None:
    assert batch.result is not None  # planned (_plan) before a proposal is made of it
    chosen, km_separate, km_consolidated, tour = batch.result
    if chosen < 0:
        return None
    offer = batch.candidates[chosen]
    inputs = {"kernel_version": KERNEL_VERSION, "decided_at": now,
              "params": {"detour": DETOUR, "speed_mps": PLANNING_SPEED_MPS, "dwell_s": DWELL_S},
              "deliveries": [list(m) for m in group], "candidates": [list(o) for o in batch.candidates],
              "own_start": {p: list(v) for p, v in sorted(batch.own_start.items())}}
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return Proposal(
        proposal_id=hashlib.sha256(f"{KERNEL_VERSION}\x1f{digest}".encode()).hexdigest()[:32],
        partners=tuple(sorted({m.partner_id for m in group})), shipments=tuple(sorted(m.key for m in group)),
        assigned_partner=offer.partner_id, km_separate=round(km_separate, 3),
        km_consolidated=round(km_consolidated, 3),
        km_saved=round(round(km_separate, 3) - round(km_consolidated, 3), 3),  # adds up as shown
        kernel_version=KERNEL_VERSION, inputs_digest=digest, created_at=now, offer_key=offer.offer_key,
        tour=tuple(group[i].key for i in tour), inputs=canonical)
