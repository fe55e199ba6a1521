"""What every partner does in a simulated day: orders, routes, positions and statuses.

All times are UTC epoch milliseconds; the city clock is UTC. Everything random
comes from one seeded numpy Generator, so a seed gives the same plan every run.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from lastmile.partner import recipient_key
from lastmile.simulator.city import City, depot_location, speed_mps
from lastmile.simulator.geo import haversine_m

HOUR = 3_600_000
MINUTE = 60_000
DAY = 24 * HOUR
DETOUR = 1.3  # road distance / straight line
VAN_CAPACITY_L = 3_000.0
MAX_STOPS = 150

PARTNER_NAMES = ("alpha-parcel", "bravo-express", "cargo-city", "delta-kurier", "express-one", "fleet-fox",
                 "green-van", "hanse-logistik", "isar-bote", "jet-parcel")
# Share of delivery windows starting at 08:00 ... 19:00.
WINDOW_START_PROFILE = np.array([0.06, 0.09, 0.10, 0.10, 0.09, 0.08, 0.08, 0.09, 0.10, 0.09, 0.07, 0.05])


@dataclasses.dataclass(frozen=True)
class SimConfig:
    city: str = "berlin"
    partners: int = 5
    retailers: int = 3
    tasks_per_day: int = 5_000
    days: int = 1
    start_ms: int = 1_762_128_000_000  # 2025-11-03T00:00:00Z, a Monday
    seed: int = 7
    ping_interval_s: float = 30.0
    failure_share: float = 0.07
    cancel_share: float = 0.01
    reannounce_share: float = 0.02
    gps_jump_share: float = 0.001
    ecosystem_key: str = "lastmile-simulator"
    partner_prefix: str = ""  # e.g. "t1-": keeps test runs apart on a shared broker
    # share of every partner's deliveries that go to one hot spot (the households of the
    # busiest block: a tower block, a mall), for measuring skew; 0: none
    hotspot_share: float = 0.0

    def partner_ids(self) -> list[str]:
        return [self.partner_prefix + (PARTNER_NAMES[i] if i < len(PARTNER_NAMES) else f"carrier-{i + 1}")
                for i in range(self.partners)]


@dataclasses.dataclass
class Plan:
    """Records in internal form (see udfs.contracts), not yet ordered for emission."""

    tasks: list[dict] = dataclasses.field(default_factory=list)
    statuses: list[dict] = dataclasses.field(default_factory=list)
    offers: list[dict] = dataclasses.field(default_factory=list)
    positions: dict[str, list] = dataclasses.field(default_factory=lambda: {
        k: [] for k in ("partner", "vehicle", "time", "lat", "lng", "speed", "load", "capacity")})
    legs: list[tuple[str, int, float]] = dataclasses.field(default_factory=list)  # (partner, end time, road km)
    outcomes: dict[str, dict] = dataclasses.field(default_factory=dict)  # "partner:shipment" -> what happened


def event_ids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` random (version 4) UUID strings drawn from ``rng``."""
    words = rng.integers(0, 2**63, size=(n, 2), dtype=np.int64).astype(np.uint64)
    hi = (words[:, 0] & np.uint64(0xFFFFFFFFFFFF0FFF)) | np.uint64(0x4000)
    lo = (words[:, 1] & np.uint64(0x3FFFFFFFFFFFFFFF)) | np.uint64(0x8000000000000000)
    out = []
    for h, low in zip(hi.tolist(), lo.tolist()):
        s = f"{h:016x}{low:016x}"
        out.append(f"{s[:8]}-{s[8:12]}-{s[12:16]}-{s[16:20]}-{s[20:]}")
    return out


def build_plan(cfg: SimConfig, city: City, rng: np.random.Generator) -> Plan:
    plan = Plan()
    partners = cfg.partner_ids()
    depots = {p: depot_location(city.spec, rng) for p in partners}
    shares = 1.0 / np.arange(1, len(partners) + 1) ** 0.6
    shares /= shares.sum()
    key = cfg.ecosystem_key.encode()
    for day in range(cfg.days):
        day_start = cfg.start_ms + day * DAY
        counts = rng.multinomial(cfg.tasks_per_day, shares)
        for partner, n in zip(partners, counts):
            _partner_day(cfg, city, rng, plan, partner, int(n), day, day_start, depots[partner], key)
    return plan


def _hotspot(city) -> np.ndarray:
    """The households of the block with the most of them: the hot spot of ``hotspot_share``."""
    blocks = city.address_block[city.address_block >= 0]
    busiest = np.bincount(blocks).argmax()
    return np.flatnonzero(city.address_block == busiest)


def _partner_day(cfg, city, rng, plan, partner, n, day, day_start, depot, key):
    if n == 0:
        return
    addr = rng.choice(city.size, n, p=city.address_weight)
    if cfg.hotspot_share > 0:  # (only then: the same seed gives the same city as before without it)
        hot = _hotspot(city)
        to_hot = rng.random(n) < cfg.hotspot_share
        addr[to_hot] = rng.choice(hot, int(to_hot.sum()))
    start_hour = 8 + rng.choice(len(WINDOW_START_PROFILE), n, p=WINDOW_START_PROFILE / WINDOW_START_PROFILE.sum())
    w_start = day_start + start_hour * HOUR + rng.integers(0, 4, n) * 15 * MINUTE
    w_end = w_start + rng.integers(1, 5, n) * HOUR
    # Announced 2-14 h ahead of the window, and before the vans are loaded (from 06:20).
    announced = np.minimum(w_start - rng.integers(2 * HOUR, 14 * HOUR, n),
                           day_start + 6 * HOUR - rng.integers(0, HOUR, n))
    parcels = 1 + rng.poisson(0.4, n)
    volume = np.round(rng.lognormal(2.5, 0.6, n) * parcels, 1)
    weight = np.round(volume * rng.uniform(0.08, 0.25, n), 2)
    retailer = rng.integers(0, cfg.retailers + 1, n)  # 0: no retailer
    level = rng.choice(3, n, p=[0.85, 0.10, 0.05])
    ids = event_ids(rng, n)
    prefix = partner.removeprefix(cfg.partner_prefix).split("-")[0][:3].upper()
    reannounce = rng.random(n) < cfg.reannounce_share
    cancel = rng.random(n) < cfg.cancel_share
    shift = rng.choice([-HOUR, HOUR], n)
    delay = rng.integers(10 * MINUTE, 90 * MINUTE, n)
    re_ids = event_ids(rng, int(reannounce.sum()))
    active = []
    for i in range(n):
        shipment = f"{prefix}-{day + 1:02d}-{i + 1:06d}"
        task = {
            "event_id": ids[i], "partner_id": partner, "shipment_id": shipment, "event_time": int(announced[i]),
            "dest_lat": float(city.address_lat[addr[i]]), "dest_lng": float(city.address_lng[addr[i]]),
            "window_start": int(w_start[i]), "window_end": int(w_end[i]),
            "recipient_key": recipient_key(city.address_text[addr[i]], key), "parcel_count": int(parcels[i]),
            "volume_l": float(volume[i]), "weight_kg": float(weight[i]),
            "retailer_id": f"shop-{retailer[i]}" if retailer[i] else None,
            "service_level": ("standard", "express", "same_day")[level[i]],
        }
        plan.tasks.append(task)
        plan.statuses.append(_status(rng, partner, shipment, int(announced[i]) + 1000, "CREATED"))
        if reannounce[i]:
            # A later announcement of the same shipment with a moved window replaces the first.
            moved = dict(task, event_id=re_ids.pop(), event_time=int(announced[i] + delay[i]),
                         window_start=int(w_start[i] + shift[i]), window_end=int(w_end[i] + shift[i]))
            if moved["window_start"] < moved["event_time"] + HOUR:
                moved["window_start"] += 2 * HOUR
                moved["window_end"] += 2 * HOUR
            plan.tasks.append(moved)
            task = moved
        if cancel[i]:
            t = int(task["event_time"]) + int(rng.integers(5 * MINUTE, HOUR))
            plan.statuses.append(_status(rng, partner, shipment, t, "CANCELLED", reason="cancelled by recipient"))
            plan.outcomes[f"{partner}:{shipment}"] = {"outcome": "CANCELLED", "time": t, "vehicle_id": None}
            continue
        active.append(task)
    _route(cfg, city, rng, plan, partner, active, day, day_start, depot)


def _status(rng, partner, shipment, t, status, vehicle=None, seq=None, lat=None, lng=None, reason=None) -> dict:
    return {"event_id": event_ids(rng, 1)[0], "partner_id": partner, "shipment_id": shipment, "event_time": int(t),
            "status": status, "vehicle_id": vehicle, "stop_sequence": seq, "lat": lat, "lng": lng, "reason": reason}


def _route(cfg, city, rng, plan, partner, tasks, day, day_start, depot):
    """Split the partner's tasks into vans by sector around the depot, then drive each van."""
    if not tasks:
        return
    lat = np.array([t["dest_lat"] for t in tasks])
    lng = np.array([t["dest_lng"] for t in tasks])
    angle = np.arctan2(lat - depot[0], (lng - depot[1]) * math.cos(math.radians(depot[0])))
    vans = max(1, math.ceil(len(tasks) / 110))
    for v, chunk in enumerate(np.array_split(np.argsort(angle, kind="stable"), vans)):
        vehicle = f"{partner.removeprefix(cfg.partner_prefix).split('-')[0][:3].upper()}-VAN-{v + 1:03d}"
        _drive(cfg, city, rng, plan, partner, vehicle, [tasks[i] for i in chunk], day_start, depot)


def _order_stops(stops: list[dict], depot) -> list[dict]:
    """By window (two-hour buckets), nearest neighbour inside each bucket."""
    ordered, here = [], depot
    buckets: dict[int, list[dict]] = {}
    for s in stops:
        buckets.setdefault(s["window_start"] // (2 * HOUR), []).append(s)
    for b in sorted(buckets):
        left = buckets[b]
        while left:
            d = haversine_m(here[0], here[1], np.array([s["dest_lat"] for s in left]),
                            np.array([s["dest_lng"] for s in left]))
            nxt = left.pop(int(np.argmin(d)))
            ordered.append(nxt)
            here = (nxt["dest_lat"], nxt["dest_lng"])
    return ordered


def detour_corner(lat0, lng0, lat1, lng1, side: float) -> tuple[float, float]:
    """The corner of a two-stretch path from point 0 to point 1 that is DETOUR times as long as
    the straight line: beside the midpoint, on the ``side`` (+1 left, -1 right) of the line."""
    kx = math.cos(math.radians((lat0 + lat1) / 2))  # degrees of longitude -> local flat units
    dy, dx = (lat1 - lat0) / 2, (lng1 - lng0) * kx / 2
    lift = side * math.sqrt(DETOUR ** 2 - 1)  # |corner - mid| = lift x half the straight line
    return (lat0 + lat1) / 2 + lift * dx, (lng0 + lng1) / 2 - lift * dy / kx


def _drive(cfg, city, rng, plan, partner, vehicle, stops, day_start, depot):
    stops = _order_stops(stops, depot)
    pos = plan.positions
    ping = int(cfg.ping_interval_s * 1000)
    vehicle_factor = rng.uniform(0.85, 1.15)
    depart = day_start + 7 * HOUR + int(rng.integers(0, 45 * MINUTE))
    load = float(sum(s["volume_l"] for s in stops))
    loaded_at = depart - int(rng.integers(20 * MINUTE, 40 * MINUTE))
    for seq, s in enumerate(stops):
        plan.statuses.append(_status(rng, partner, s["shipment_id"], loaded_at + seq, "PICKED_UP", vehicle))
        plan.statuses.append(_status(rng, partner, s["shipment_id"], depart + seq, "OUT_FOR_DELIVERY", vehicle, seq))
    if load < 0.75 * VAN_CAPACITY_L:
        plan.offers.append({
            "event_id": event_ids(rng, 1)[0], "partner_id": partner, "vehicle_id": vehicle,
            "depot_lat": depot[0], "depot_lng": depot[1], "available_from": depart,
            "available_to": day_start + 19 * HOUR, "spare_volume_l": round(VAN_CAPACITY_L - load, 1),
            "spare_stops": max(0, MAX_STOPS - len(stops))})

    t, here = depart, depot

    def pings(t0, t1, lat0, lng0, lat1, lng1, speed):
        times = np.arange(t0 + ping, t1, ping, dtype=np.int64)
        if len(times) == 0:
            return
        frac = (times - t0) / max(t1 - t0, 1)
        # Streets are not straight lines: the van follows two straight stretches via a
        # corner beside the midpoint, DETOUR times the straight distance in all, at its speed.
        corner_lat, corner_lng = detour_corner(lat0, lng0, lat1, lng1, 1.0 if rng.random() < 0.5 else -1.0)
        first = frac < 0.5
        f = np.where(first, 2 * frac, 2 * frac - 1)
        noise = rng.normal(0, 4e-5, (2, len(times)))  # ~4 m GPS noise
        plat = np.where(first, lat0 + (corner_lat - lat0) * f, corner_lat + (lat1 - corner_lat) * f) + noise[0]
        plng = np.where(first, lng0 + (corner_lng - lng0) * f, corner_lng + (lng1 - corner_lng) * f) + noise[1]
        jumps = rng.random(len(times)) < cfg.gps_jump_share  # occasional multi-km GPS glitch
        plat = np.where(jumps, plat + 0.02, plat)
        spd = np.clip(speed * (1 + rng.normal(0, 0.1, len(times))), 0, None) if speed > 0 else np.zeros(len(times))
        n = len(times)
        pos["partner"].extend([partner] * n)
        pos["vehicle"].extend([vehicle] * n)
        pos["time"].append(times)
        pos["lat"].append(plat)
        pos["lng"].append(plng)
        pos["speed"].append(np.round(spd, 2))
        pos["load"].append(np.full(n, round(load, 1)))
        pos["capacity"].append(np.full(n, VAN_CAPACITY_L))

    def drive_to(lat1, lng1):
        nonlocal t, here
        straight = float(haversine_m(here[0], here[1], lat1, lng1))
        mid_lat, mid_lng = (here[0] + lat1) / 2, (here[1] + lng1) / 2
        hour = ((t - day_start) / HOUR) % 24
        v = float(speed_mps(city.spec, mid_lat, mid_lng, hour)) * vehicle_factor
        arrive = t + int(straight * DETOUR / v * 1000)
        pings(t, arrive, here[0], here[1], lat1, lng1, v)
        plan.legs.append((partner, arrive, straight * DETOUR / 1000))
        t, here = arrive, (lat1, lng1)

    for seq, s in enumerate(stops):
        drive_to(s["dest_lat"], s["dest_lng"])
        arrived = t
        wait_until = max(t, s["window_start"])
        dwell = int(rng.integers(90_000, 300_000))
        pings(t, wait_until + dwell, here[0], here[1], here[0], here[1], 0.0)
        t = wait_until + dwell
        failed = rng.random() < cfg.failure_share
        status = "FAILED_ATTEMPT" if failed else "DELIVERED"
        plan.statuses.append(_status(rng, partner, s["shipment_id"], t, status, vehicle, seq, here[0], here[1],
                                     "recipient not at home" if failed else None))
        plan.outcomes[f"{partner}:{s['shipment_id']}"] = {
            "outcome": status, "time": t, "arrived": arrived, "vehicle_id": vehicle, "stop_sequence": seq,
            "window_start": s["window_start"], "window_end": s["window_end"]}
        if not failed:
            load -= s["volume_l"]
    drive_to(*depot)
