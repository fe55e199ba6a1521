"""ETA accuracy on a simulated city: the learned model against a naive baseline, same run.

The simulator's days are replayed in event-time order through the job's own pure
logic (udfs.eta, udfs.speed_profiles): tasks give destinations and windows,
OUT_FOR_DELIVERY statuses put shipments on vans, final statuses take them off, every
position teaches the speed profile. Profiles are per hour of the *week*, so the
first ``learn_days`` days (a week by default) only teach; on the last day every
position also yields the ETA updates the job would emit, and every ``every``-th
position of a van both models predict the arrival at each of its remaining stops
that the van has not reached yet; the error is taken against the arrival time in
the simulator's truth.

* learned: haversine x DETOUR / per-cell, per-hour speeds learned so far from every
  partner's pings (fallbacks: any hour, district, default);
* naive: straight line / city-average speed (mean of every segment speed so far).
Both wait for windows and dwell alike, so the difference is the travel-time model.
"""
from __future__ import annotations

import collections
import dataclasses

import numpy as np

from udfs.eta import Delivery, Route, apply_changes
from udfs.speed_profiles import DEFAULT_SPEED_MPS, SpeedProfile

HORIZONS_MIN = (30, 60, 120, 240)


@dataclasses.dataclass
class Errors:
    learned: list = dataclasses.field(default_factory=list)  # minutes, signed
    naive: list = dataclasses.field(default_factory=list)
    horizon: list = dataclasses.field(default_factory=list)  # minutes ahead of the prediction

    def summary(self) -> dict:
        learned, naive = np.abs(self.learned), np.abs(self.naive)
        out = {"predictions": len(learned),
               "learned_mae_min": round(float(learned.mean()), 2),
               "learned_p90_min": round(float(np.percentile(learned, 90)), 2),
               "naive_mae_min": round(float(naive.mean()), 2),
               "naive_p90_min": round(float(np.percentile(naive, 90)), 2),
               "learned_bias_min": round(float(np.mean(self.learned)), 2),
               "naive_bias_min": round(float(np.mean(self.naive)), 2)}
        out["mae_improvement"] = round(1 - out["learned_mae_min"] / out["naive_mae_min"], 3)
        horizon = np.asarray(self.horizon)
        edges = (0, *HORIZONS_MIN, np.inf)
        out["by_horizon"] = [
            {"horizon_min": f"{lo}-{hi}" if np.isfinite(hi) else f">{lo}",
             "predictions": int(m.sum()),
             "learned_mae_min": round(float(learned[m].mean()), 2) if m.any() else None,
             "naive_mae_min": round(float(naive[m].mean()), 2) if m.any() else None}
            for lo, hi in zip(edges, edges[1:]) for m in [(horizon >= lo) & (horizon < hi)]]
        return out


def _events(plan):
    """(time, order, kind, payload) of tasks, statuses and positions, in event-time order."""
    pos = plan.positions
    times = np.concatenate(pos["time"]) if pos["time"] else np.empty(0, np.int64)
    lat, lng, speed = (np.concatenate(pos[k]).tolist() if pos[k] else [] for k in ("lat", "lng", "speed"))
    events = [(t["event_time"], 0, "task", t) for t in plan.tasks]
    events += [(s["event_time"], 1, "status", s) for s in plan.statuses]
    events += [(t, 2, "position", (pos["partner"][i], pos["vehicle"][i], t, lat[i], lng[i], speed[i]))
               for i, t in enumerate(times.tolist())]
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def run(city: str = "berlin", partners: int = 5, tasks_per_day: int = 5_000, seed: int = 7, learn_days: int = 7,
        every: int = 4, progress=None) -> dict:
    from lastmile.simulator.city import CITIES, build_city
    from lastmile.simulator.plan import DAY, SimConfig, build_plan

    cfg = SimConfig(city=city, partners=partners, tasks_per_day=tasks_per_day, seed=seed, days=learn_days + 1)
    evaluate_from = cfg.start_ms + learn_days * DAY
    rng = np.random.default_rng(seed)
    plan = build_plan(cfg, build_city(CITIES[city], rng), rng)
    arrived = {k: v["arrived"] for k, v in plan.outcomes.items() if "arrived" in v}

    deliveries: dict[str, Delivery] = {}
    routes: dict[str, Route] = {}
    profile = SpeedProfile()
    speed_sum, speed_n = 0.0, 0
    pings: collections.Counter = collections.Counter()
    errors, updates, evaluated = Errors(), 0, set()
    events = _events(plan)
    for n, (t, _, kind, e) in enumerate(events):
        if progress is not None and n % 20_000 == 0:
            progress(n, len(events))
        if kind in ("task", "status"):
            key = f"{e['partner_id']}:{e['shipment_id']}"
            delivery = deliveries.setdefault(key, Delivery(e["partner_id"], e["shipment_id"]))
            if kind == "task":
                changes = delivery.on_task(e["event_time"], e["dest_lat"], e["dest_lng"], e["window_start"])
            else:
                changes = delivery.on_status(e["event_time"], e["status"], e["vehicle_id"], e["stop_sequence"])
            apply_changes(routes, changes)
        else:
            partner, vehicle_id, ts, lat, lng, reported = e
            vehicle = f"{partner}:{vehicle_id}"
            route = routes.setdefault(vehicle, Route(partner, vehicle_id))
            segment = route.observe(ts, lat, lng, reported)
            if segment is not None:
                route.learn_pace(segment, profile.speed)
                profile.observe(*segment)
                speed_sum, speed_n = speed_sum + segment[2], speed_n + 1
            if t < evaluate_from:
                continue
            updates += len(route.updates(profile.speed))
            pings[vehicle] += 1
            if pings[vehicle] % every or not route.stops:
                continue
            ordered, _ = route.plan()
            city_mps = speed_sum / speed_n if speed_n else DEFAULT_SPEED_MPS
            learned = route.predict(profile.speed).tolist()
            naive = route.predict(lambda cell, hour: city_mps, detour=1.0, use_pace=False).tolist()
            for stop, a, b in zip(ordered, learned, naive):
                actual = arrived.get(f"{partner}:{stop.shipment_id}")
                if actual is None or actual <= ts:
                    continue  # cancelled, or already there (dwelling): nothing left to predict
                errors.learned.append((a - actual) / 60_000)
                errors.naive.append((b - actual) / 60_000)
                errors.horizon.append((actual - ts) / 60_000)
                evaluated.add(stop.shipment_id)
    if progress is not None:
        progress(len(events), len(events))
    result = {"city": city, "partners": partners, "tasks_per_day": tasks_per_day, "seed": seed,
              "learn_days": learn_days, "positions_evaluated": int(sum(pings.values())),
              "eta_updates_emitted": updates, "shipments_evaluated": len(evaluated),
              "city_average_mps": round(speed_sum / max(speed_n, 1), 2)}
    result.update(errors.summary())
    return result


def print_report(result: dict) -> None:
    """Both models side by side, and mean absolute error by how far ahead, as bars."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]ETA accuracy[/bold], {result['city']}, {result['partners']} partners, "
                  f"{result['tasks_per_day']:,} tasks/day: learned {result['learn_days']} days, judged the next "
                  f"({result['predictions']:,} predictions of {result['shipments_evaluated']:,} shipments)")
    table = Table()
    for column in ("model", "MAE min", "p90 min", "bias min"):
        table.add_column(column, justify="right" if column != "model" else "left")
    table.add_row("learned (cells x hours, van pace)", str(result["learned_mae_min"]), str(result["learned_p90_min"]),
                  str(result["learned_bias_min"]))
    table.add_row(f"naive (straight line, {result['city_average_mps']} m/s)", str(result["naive_mae_min"]),
                  str(result["naive_p90_min"]), str(result["naive_bias_min"]))
    console.print(table)
    console.print(f"MAE {result['mae_improvement']:.0%} lower than the naive baseline (target: at least 30 %)")
    chart = Table(title="mean absolute error by time to arrival (each block = 2 min)", show_header=True)
    chart.add_column("ahead")
    chart.add_column("learned")
    chart.add_column("naive")
    for row in result["by_horizon"]:
        if row["predictions"]:
            chart.add_row(f"{row['horizon_min']} min",
                          f"[green]{'█' * round(row['learned_mae_min'] / 2)}[/green] {row['learned_mae_min']}",
                          f"[red]{'█' * round(row['naive_mae_min'] / 2)}[/red] {row['naive_mae_min']}")
    console.print(chart)
