"""`lastmile simulate`: build the city and the plan, emit the feed, write the ground truth."""
from __future__ import annotations

import collections
import dataclasses
import json
import pathlib
import time

import numpy as np

from lastmile.simulator import truth as truth_mod
from lastmile.simulator.city import CITIES, build_city
from lastmile.simulator.feed import Feed, MessConfig
from lastmile.simulator.plan import SimConfig, build_plan

FINAL_STATUSES = ("DELIVERED", "FAILED_ATTEMPT", "CANCELLED")


@dataclasses.dataclass
class Result:
    emitted: int = 0
    seconds: float = 0.0
    per_stream: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    truth: dict = dataclasses.field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.emitted / self.seconds if self.seconds else 0.0


def simulate(cfg: SimConfig, mess: MessConfig, sink, *, events: int | None = None, rate: float | None = None,
             duration_s: float | None = None, radius_m: float = 150.0, progress: bool = True) -> Result:
    """Emit the feed into ``sink``, return counts and the truth of what was emitted.

    ``rate``: events per second of wall-clock time (None: as fast as possible).
    ``events`` / ``duration_s``: stop after that many events / seconds (None: the whole plan).
    """
    rng = np.random.default_rng(cfg.seed)
    city = build_city(CITIES[cfg.city], rng)
    plan = build_plan(cfg, city, rng)
    feed = Feed(plan, mess, rng)
    total = len(feed) if events is None else min(events, len(feed))

    result = Result()
    tasks, finals, malformed = [], {}, []
    duplicates, malformed_kinds = 0, collections.Counter()
    cutoff = None
    started = time.monotonic()
    with _progress(total, progress) as advance:
        for n, event in enumerate(feed.events(total), 1):
            where = sink.write(event)
            result.per_stream[event.stream] += 1
            if event.malformed is not None:
                malformed.append({"where": where, "stream": event.stream, "kind": event.malformed})
                malformed_kinds[event.malformed] += 1
            else:
                duplicates += event.duplicate
                record = event.record
                cutoff = max(cutoff or 0, record.get("event_time", record.get("available_from", 0)))
                if event.stream == "delivery_tasks":
                    tasks.append(record)
                elif event.stream == "shipment_status" and record["status"] in FINAL_STATUSES:
                    finals[f"{record['partner_id']}:{record['shipment_id']}"] = record
            if rate:
                ahead = n / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            if n % 2000 == 0 or n == total:
                advance(n)
                if duration_s is not None and time.monotonic() - started >= duration_s:
                    total, events = n, n
                    break
    sink.close()
    result.emitted = total
    result.seconds = time.monotonic() - started

    unique_tasks = list({t["event_id"]: t for t in tasks}.values())
    latest = truth_mod.latest_tasks(unique_tasks)
    pairs = truth_mod.colocated_pairs(latest, radius_m)
    in_pair = {(p[0], p[1]) for p in pairs} | {(p[2], p[3]) for p in pairs}
    outcomes = {k: v for k, v in plan.outcomes.items() if k in finals}
    attempts = sum(1 for v in outcomes.values() if v["outcome"] in ("DELIVERED", "FAILED_ATTEMPT"))
    failed = sum(1 for v in outcomes.values() if v["outcome"] == "FAILED_ATTEMPT")
    km = collections.defaultdict(float)
    for partner, end, road_km in plan.legs:
        if events is None or (cutoff is not None and end <= cutoff):
            km[partner] += road_km
    result.truth = {
        "config": {**dataclasses.asdict(cfg), **{f"mess_{k}": v for k, v in dataclasses.asdict(mess).items()},
                   "events": events, "colocation_radius_m": radius_m},
        "summary": {
            "events": total, "per_stream": dict(sorted(result.per_stream.items())),
            "delivery_tasks": len(latest), "announcements": len(unique_tasks),
            "duplicates": duplicates, "malformed": dict(sorted(malformed_kinds.items())),
            "colocated_pairs": len(pairs),
            "colocation_rate": round(len(in_pair) / len(latest), 4) if latest else 0.0,
            "attempts": attempts, "failure_share": round(failed / attempts, 4) if attempts else 0.0,
            "km_per_partner": {p: round(v, 3) for p, v in sorted(km.items())},
        },
        "colocations": [list(p) for p in pairs],
        "shipments": dict(sorted(outcomes.items())),
        "malformed": malformed,
    }
    return result


def write_truth(result: Result, path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.truth, sort_keys=True, separators=(",", ":")) + "\n", encoding="utf-8")


class _progress:
    """A rich progress bar with the achieved rate, on stderr; silent when disabled."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("simulate"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[rate]:>9,.0f} events/s"), TimeElapsedColumn(),
                                  console=Console(stderr=True), transient=False)
        self._progress.__enter__()
        task = self._progress.add_task("simulate", total=self.total, rate=0.0)
        started = time.monotonic()

        def advance(n):
            self._progress.update(task, completed=n, rate=n / max(time.monotonic() - started, 1e-9))

        return advance

    def __exit__(self, *exc):
        if self.enabled:
            self._progress.__exit__(*exc)
