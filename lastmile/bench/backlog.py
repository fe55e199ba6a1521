"""Cost per event of a multi-day backlog: the same city and density over 1 day and over N days.

``python -m lastmile.bench.backlog [--days 1 8] [--tasks-per-day 1000]``: for each length, a fresh
bench stack (lastmile.bench.pipeline's ports and home), the simulator's days loaded into Kafka,
then ``lastmile run --bounded`` on the bench's Flink cluster. A job whose state grew
with the backlog (a buffer rewritten per record, as the ETA operator's pending list once
was) would take more CPU per event the longer the backlog; here it should stay flat.
Prints events/s and CPU-s per 1,000 events per length, and their ratio to the shortest.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import tempfile

from lastmile.bench.pipeline import Workload, _fresh_stack, bench_env, throughput
from lastmile.config import Config


def _load_days(config: Config, days: int, tasks_per_day: int, partners: int, seed: int) -> int:
    from lastmile.simulator.feed import MessConfig
    from lastmile.simulator.plan import SimConfig
    from lastmile.simulator.run import simulate
    from lastmile.simulator.sinks import KafkaSink

    sim = SimConfig(partners=partners, tasks_per_day=tasks_per_day, seed=seed, days=days)
    return simulate(sim, MessConfig(), KafkaSink(config, sim.ecosystem_key), radius_m=config.colocation_radius_m,
                    progress=True).emitted


def run(days: list[int], tasks_per_day: int = 1_000, partners: int = 5, seed: int = 7, say=print) -> list[dict]:
    from lastmile.stack import control, flink

    results = []
    with tempfile.TemporaryDirectory(prefix="lastmile-backlog-") as tmp:
        for n in days:
            home = pathlib.Path(tmp) / f"days-{n}"
            env = bench_env(home)
            config = Config.from_env(env)
            _fresh_stack(config)
            try:
                events = _load_days(config, n, tasks_per_day, partners, seed)
                say(f"{n} day(s): {events:,} events loaded")
                flink.up(config, say=lambda _m: None)
                figures = throughput(config, env, Workload(events=events, partners=partners, seed=seed), say,
                                     cluster=True)
            finally:  # nothing of the stack outlives its home
                control.down(config, say=lambda _m: None)
            results.append({"days": n, "events": events, "seconds": figures["seconds"],
                            "events_per_s": figures["events_per_s"],
                            "steady_events_per_s": figures["steady_events_per_s"],
                            "cpu_s_per_1000_events": figures["cpu_s_per_1000_events"],
                            "eta_updates": figures["job_summary"]["eta"]["updates"]})
    first = results[0]
    for r in results:
        r["cpu_per_event_vs_first"] = round(r["cpu_s_per_1000_events"] / first["cpu_s_per_1000_events"], 2)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--tasks-per-day", type=int, default=1_000)
    args = parser.parse_args(argv)
    results = run(sorted(args.days), args.tasks_per_day)
    for r in results:
        print(f"{r['days']} day(s): {r['events']:,} events in {r['seconds']} s, {r['events_per_s']:,}/s "
              f"(steady {r['steady_events_per_s']:,}/s), {r['cpu_s_per_1000_events']} CPU-s per 1,000 events "
              f"(x{r['cpu_per_event_vs_first']} the shortest), {r['eta_updates']:,} ETA updates")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
