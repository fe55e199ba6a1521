"""The Consolidator's logic without Flink: `udfs.consolidation.Neighbourhood` driven as the
operator drives it, on the co-located pairs of the bench's workload.

    python -m lastmile.bench.consolidator_replay [--events 300000] [--proposals out.pkl]

The simulator's plan for the workload of ``lastmile bench --events N`` (same seed, same
tasks per day), its co-located pairs by the definition (lastmile.simulator.truth), each
as a link in the neighbourhood of its midpoint, arriving when the later of its two tasks
was announced; timers where the operator registers them (a group's due time, both
windows' ends), each timer's step as the operator runs it (``Neighbourhood.on_timer``), and
every changed neighbourhood pickled as the operator's state would be. Prints the seconds of the replay;
``--proposals`` writes the proposals (sorted), to check that a change of the logic proposes the same.
BENCHMARKS.md (Sixth round) has what it measured.
"""
from __future__ import annotations

import argparse
import collections
import pickle
import time

import h3.api.basic_int as h3i
import numpy as np

from lastmile.bench.pipeline import Workload
from lastmile.simulator.city import CITIES, build_city
from lastmile.simulator.plan import SimConfig, build_plan
from lastmile.simulator.truth import colocated_pairs, latest_tasks
from udfs.consolidation import Link, Member, Neighbourhood, due_at, neighbourhood_of, offer_from_record

RADIUS_M = 150.0


def _member(t: dict) -> Member:
    return Member(t["partner_id"], t["shipment_id"], t["dest_lat"], t["dest_lng"], t["window_start"],
                  t["window_end"], t["volume_l"])


def schedule(events: int) -> tuple[list[tuple], dict]:
    """The replay's steps in time order, ``(at, 0 link / 1 timer, neighbourhood, the link or None)``,
    and the capacity offers."""
    workload = Workload(events=events)
    cfg = SimConfig(partners=workload.partners, tasks_per_day=workload.tasks_per_day, seed=workload.seed)
    rng = np.random.default_rng(cfg.seed)
    plan = build_plan(cfg, build_city(CITIES[cfg.city], rng), rng)
    tasks = {(t["partner_id"], t["shipment_id"]): t for t in latest_tasks(plan.tasks)}
    steps, timers = [], collections.defaultdict(set)
    for pa, sa, pb, sb in colocated_pairs(list(tasks.values()), RADIUS_M):
        a, b = tasks[(pa, sa)], tasks[(pb, sb)]
        where = neighbourhood_of(h3i.latlng_to_cell((a["dest_lat"] + b["dest_lat"]) / 2,
                                                    (a["dest_lng"] + b["dest_lng"]) / 2, 10))
        ma, mb = _member(a), _member(b)
        steps.append((max(a["event_time"], b["event_time"]), 0, where, Link(where, ma, mb)))
        timers[where].update((due_at(ma, mb), ma.window_end, mb.window_end))
    steps += [(at, 1, where, None) for where, times in timers.items() for at in times]
    steps.sort(key=lambda s: (s[0], s[1]))
    offers = {o.offer_key: o for o in map(offer_from_record, plan.offers)}
    return steps, offers


def replay(steps: list[tuple], offers: dict) -> tuple[list, int]:
    """Run the steps; the proposals made and the bytes pickled."""
    state, pending, proposals, pickled = {}, collections.defaultdict(list), [], 0
    for at, kind, where, link in steps:
        if kind == 0:
            pending[where].append(link)
            continue
        made, changed = state.setdefault(where, Neighbourhood()).on_timer(at, pending.pop(where, []), offers)
        proposals += made
        if changed:
            pickled += len(pickle.dumps(state[where], protocol=pickle.HIGHEST_PROTOCOL))
    return proposals, pickled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000, help="workload size, as `lastmile bench --events`")
    parser.add_argument("--proposals", help="write the proposals (pickled tuples) to this file")
    args = parser.parse_args()
    steps, offers = schedule(args.events)
    started = time.perf_counter()
    proposals, pickled = replay(steps, offers)
    seconds = time.perf_counter() - started
    print(f"{sum(1 for s in steps if s[1] == 0):,} links, {sum(1 for s in steps if s[1] == 1):,} timers in "
          f"{len({s[2] for s in steps}):,} neighbourhoods: {len(proposals):,} proposals, {pickled / 2**20:,.0f} MiB "
          f"of state pickled, {seconds:.2f} s")
    if args.proposals:
        with open(args.proposals, "wb") as f:
            pickle.dump(sorted(tuple(p) for p in proposals), f)  # neighbourhoods' timers of one time: any order


if __name__ == "__main__":
    main()
