"""ETA accuracy on a simulated city: the learned model against a naive baseline, same run.

The simulator's days are replayed through the job's own logic, step by step as the job's
operators take them (udfs/flink: Registry, Tracker, Profiles, Eta), one event-time
interval (``Config.eta_interval_s``) after another:

1. the interval's tasks and statuses, per shipment in event-time order (udfs.eta.Delivery,
   the Registry's step), tell vans which stops they carry;
2. each van's interval (those stops, its ping batch; udfs.eta.apply_interval, the ETA
   operator's step) with the speeds learned *before* the interval
   (udfs.speed_profiles.CausalSpeeds);
3. the interval's segments (udfs.pings.track, the Tracker's) are learned per district
   (udfs.speed_profiles.learn_interval, Profiles'), published as the interval's version.

Profiles are per hour of the *week*, so the first ``learn_days`` days (a week by default)
only teach; on the last day, every time a van's interval is applied both models predict
the arrival at each of its remaining stops that the van has not reached yet; the error is
taken against the arrival time in the simulator's truth.

* learned: haversine x DETOUR / per-cell, per-hour speeds learned so far from every
  partner's pings (fallbacks: any hour, district, default), times the van's pace;
* naive: haversine x the same DETOUR / city-average speed (mean of every segment speed
  learned so far, the same causal cut), no pace.
Both wait for windows and dwell alike, so the difference is where and when speeds are learned.
"""
from __future__ import annotations

import collections
import dataclasses

import numpy as np

from udfs.eta import (
    DETOUR,
    FINAL_STATUSES,
    OPEN_STATUSES,
    Delivery,
    Route,
    apply_interval,
    in_event_order,
    status_event,
    task_event,
)
from udfs.pings import PingBatch, interval_end, track
from udfs.speed_profiles import DEFAULT_SPEED_MPS, CausalSpeeds, learn_interval

INTERVAL_MS = 300_000  # Config.eta_interval_s
DEFAULT_CITIES = ("berlin", "munich")  # the most congested city and a smaller, less congested one
AREAS = ("centre", "inner", "ring road", "outskirts")  # the simulator's speed zones (simulator.city.speed_mps)


def area_of(spec, lat: float, lng: float) -> str:
    """Which of the simulator's speed zones a destination lies in."""
    from udfs.geo import haversine_m

    km = haversine_m(spec.lat, spec.lng, lat, lng) / 1000
    return AREAS[0] if km < 2.0 else AREAS[1] if km < spec.ring_km - 0.8 else AREAS[2] if km < spec.ring_km + 0.8 \
        else AREAS[3]
HORIZONS_MIN = (30, 60, 120, 240)


@dataclasses.dataclass
class Errors:
    learned: list = dataclasses.field(default_factory=list)  # minutes, signed
    naive: list = dataclasses.field(default_factory=list)
    horizon: list = dataclasses.field(default_factory=list)  # minutes ahead of the prediction
    area: list = dataclasses.field(default_factory=list)  # of the stop (AREAS)

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
        area = np.asarray(self.area)
        out["by_area"] = [
            {"area": name, "predictions": int(m.sum()),
             "learned_mae_min": round(float(learned[m].mean()), 2) if m.any() else None,
             "naive_mae_min": round(float(naive[m].mean()), 2) if m.any() else None}
            for name in AREAS for m in [area == name]]
        return out


def _by_interval(plan, interval_ms: int) -> dict[int, dict]:
    """The plan's tasks, statuses and pings by the end of their event-time interval."""
    intervals: dict[int, dict] = collections.defaultdict(lambda: {"deliveries": collections.defaultdict(list),
                                                                  "pings": collections.defaultdict(list)})
    for t in plan.tasks:
        intervals[interval_end(t["event_time"], interval_ms)]["deliveries"][f"{t['partner_id']}:{t['shipment_id']}"]\
            .append(task_event(t["event_time"], t["event_id"], t["dest_lat"], t["dest_lng"], t["window_start"]))
    for st in plan.statuses:
        if st["status"] not in OPEN_STATUSES + FINAL_STATUSES:
            continue  # the job's Registry sees only these (udfs.statuses.TRACKED_STATUSES)
        intervals[interval_end(st["event_time"], interval_ms)]["deliveries"][
            f"{st['partner_id']}:{st['shipment_id']}"].append(status_event(st))
    pos = plan.positions
    if pos["time"]:
        times = np.concatenate(pos["time"]).tolist()
        lat, lng, speed = (np.concatenate(pos[k]).tolist() for k in ("lat", "lng", "speed"))
        for i, ts in enumerate(times):
            intervals[interval_end(ts, interval_ms)]["pings"][f"{pos['partner'][i]}:{pos['vehicle'][i]}"].append(
                (ts, lat[i], lng[i], speed[i]))
    return dict(sorted(intervals.items()))


def run(city: str = "berlin", partners: int = 5, tasks_per_day: int = 5_000, seed: int = 7, learn_days: int = 7,
        interval_ms: int = INTERVAL_MS, progress=None) -> dict:
    from lastmile.simulator.city import CITIES, build_city
    from lastmile.simulator.plan import DAY, SimConfig, build_plan

    cfg = SimConfig(city=city, partners=partners, tasks_per_day=tasks_per_day, seed=seed, days=learn_days + 1)
    evaluate_from = cfg.start_ms + learn_days * DAY
    rng = np.random.default_rng(seed)
    plan = build_plan(cfg, build_city(CITIES[city], rng), rng)
    arrived = {k: v["arrived"] for k, v in plan.outcomes.items() if "arrived" in v}

    deliveries: dict[str, Delivery] = {}
    routes: dict[str, Route] = {}
    last_ping: dict[str, tuple] = {}
    estimates: dict[int, dict] = collections.defaultdict(dict)  # district -> its estimates (Profiles' state)
    speeds = CausalSpeeds()
    speed_sum, speed_n = 0.0, 0
    errors, updates, evaluated, van_intervals = Errors(), 0, set(), 0
    areas: dict[str, str] = {}  # partner:shipment -> the area of its stop
    intervals = _by_interval(plan, interval_ms)
    for n, (end, interval) in enumerate(intervals.items()):
        if progress is not None and n % 50 == 0:
            progress(n, len(intervals))
        # 1. Registry: each shipment's events of the interval, in event-time order
        per_van: dict[str, list] = collections.defaultdict(list)
        for key, events in interval["deliveries"].items():
            delivery = deliveries.get(key)
            if delivery is None:
                delivery = deliveries[key] = Delivery(*key.split(":", 1))
            for event in in_event_order(events):
                for change in delivery.apply(event):
                    per_van[change.vehicle_key].append((change.at, 0, len(per_van[change.vehicle_key]), change))
        batches = {}
        for key, pings in interval["pings"].items():
            pings.sort()
            batches[key] = PingBatch(key, pings[-1][0], tuple(pings))
            per_van[key].append((pings[-1][0], 1, len(per_van[key]), batches[key]))
        # 2. ETA operator: each van's interval with the speeds learned before it
        table = speeds.table(end - interval_ms)
        city_mps = speed_sum / speed_n if speed_n else DEFAULT_SPEED_MPS
        for key, values in per_van.items():
            route = routes.get(key)
            if route is None:
                route = routes[key] = Route(*key.split(":", 1))
            emitted = apply_interval(route, [v[-1] for v in sorted(values, key=lambda v: v[:3])], table.speed)
            if end < evaluate_from or key not in batches or not route.stops:
                continue
            updates += len(emitted)
            van_intervals += 1
            ts = route.last_ping[0]
            ordered, _ = route.plan()
            learned = route.predict(table.speed).tolist()
            naive = route.predict(lambda cell, hour, mps=city_mps: mps, detour=DETOUR, use_pace=False).tolist()
            for stop, a, b in zip(ordered, learned, naive):
                shipment = f"{route.partner_id}:{stop.shipment_id}"
                actual = arrived.get(shipment)
                if actual is None or actual <= ts:
                    continue  # cancelled, or already there (dwelling): nothing left to predict
                errors.learned.append((a - actual) / 60_000)
                errors.naive.append((b - actual) / 60_000)
                errors.horizon.append((actual - ts) / 60_000)
                if shipment not in areas:
                    areas[shipment] = area_of(CITIES[city], stop.lat, stop.lng)
                errors.area.append(areas[shipment])
                evaluated.add(stop.shipment_id)
        # 3. Tracker and Profiles: the interval's segments, learned per district, published as its version
        by_district: dict[int, list] = collections.defaultdict(list)
        for key, batch in batches.items():
            last_ping[key], segments = track(last_ping.get(key), batch.pings)
            for district, found in segments.items():
                by_district[district].extend(found)
        for district, segments in by_district.items():
            _, published = learn_interval(estimates[district], segments)
            if published:
                speeds.receive(end, district, published)
            speed_sum += sum(s[2] for s in segments)
            speed_n += len(segments)
        speeds.fold(end - interval_ms)
    if progress is not None:
        progress(len(intervals), len(intervals))
    result = {"city": city, "partners": partners, "tasks_per_day": tasks_per_day, "seed": seed,
              "learn_days": learn_days, "interval_s": interval_ms // 1000, "van_intervals_evaluated": van_intervals,
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
    table.add_row("learned (cells x hours, hour factors, van pace)", str(result["learned_mae_min"]),
                  str(result["learned_p90_min"]),
                  str(result["learned_bias_min"]))
    table.add_row(f"naive (straight line x {DETOUR}, {result['city_average_mps']} m/s)", str(result["naive_mae_min"]),
                  str(result["naive_p90_min"]), str(result["naive_bias_min"]))
    console.print(table)
    console.print(f"MAE {result['mae_improvement']:.0%} lower than the naive baseline "
                  "(target: at least 25 % on the congested city, 15 % on the others)")
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
    by_area = Table(title="mean absolute error by the area of the stop (minutes)")
    for column in ("area", "predictions", "learned", "naive"):
        by_area.add_column(column, justify="left" if column == "area" else "right")
    for row in result["by_area"]:
        if row["predictions"]:
            by_area.add_row(row["area"], f"{row['predictions']:,}", str(row["learned_mae_min"]),
                            str(row["naive_mae_min"]))
    console.print(by_area)
