"""The simulator: determinism, configured shares, ground truth, malformed records."""
import json
import pathlib
import time

import numpy as np
import pytest

from lastmile.ingest import Accepted, route_line
from lastmile.simulator import truth as truth_mod
from lastmile.simulator.city import CITIES, build_city
from lastmile.simulator.feed import Feed, MessConfig
from lastmile.simulator.plan import HOUR, SimConfig, build_plan
from lastmile.simulator.run import simulate
from lastmile.simulator.sinks import FileSink

SMALL = SimConfig(tasks_per_day=600, partners=4, seed=3)


def run_to(folder: pathlib.Path, cfg=SMALL, mess: MessConfig | None = None, **kwargs):
    result = simulate(cfg, mess or MessConfig(), FileSink(folder), progress=False, **kwargs)
    return result


def files(folder: pathlib.Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.jsonl"))}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim")
    return folder, run_to(folder)


def test_same_seed_gives_byte_identical_output_and_truth(small_run, tmp_path):
    folder, first = small_run
    second = run_to(tmp_path)
    assert files(folder) == files(tmp_path)
    assert json.dumps(first.truth, sort_keys=True) == json.dumps(second.truth, sort_keys=True)


def test_another_seed_gives_another_city_day(small_run, tmp_path):
    folder, _ = small_run
    run_to(tmp_path, SimConfig(tasks_per_day=600, partners=4, seed=4))
    assert files(folder) != files(tmp_path)


def test_every_partner_publishes_every_stream(small_run):
    folder, result = small_run
    names = set(files(folder))
    for partner in SMALL.partner_ids():
        for stream in ("delivery_tasks", "shipment_status", "vehicle_positions"):
            assert f"{partner}/{stream}.jsonl" in names
    assert result.per_stream["capacity_offers"] > 0


def _route_all(folder: pathlib.Path):
    """Every line of every output file through the ingest contract check (independent of the simulator)."""
    accepted, rejected = [], {}
    for path in sorted(folder.rglob("*.jsonl")):
        partner, stream = path.parent.name, path.stem
        for lineno, line in enumerate(path.read_bytes().split(b"\n")[:-1], 1):
            where = f"{partner}/{stream}.jsonl:{lineno}"
            outcome = route_line(line, stream, partner, where)
            if isinstance(outcome, Accepted):
                accepted.append((stream, outcome.record))
            else:
                rejected[where] = outcome.reason
    return accepted, rejected


def test_malformed_records_are_exactly_the_ones_the_validator_rejects(small_run):
    folder, result = small_run
    _, rejected = _route_all(folder)
    marked = {m["where"]: m["kind"] for m in result.truth["malformed"]}
    assert set(rejected) == set(marked)
    assert set(marked.values()) == {"bad_coordinates", "null_island", "empty_window", "garbage"}
    expected = {"null_island": {"null_island"}, "empty_window": {"window_not_ordered"},
                "bad_coordinates": {"coordinates_out_of_range"}, "garbage": {"malformed_json", "not_an_object"}}
    for where, kind in marked.items():
        assert rejected[where] in expected[kind], (where, kind, rejected[where])


def test_truth_equals_brute_force_over_what_was_written(small_run):
    folder, result = small_run
    accepted, _ = _route_all(folder)
    tasks = list({r["event_id"]: r for s, r in accepted if s == "delivery_tasks"}.values())
    latest = truth_mod.latest_tasks(tasks)
    expected = truth_mod.brute_force_pairs(latest, 150.0)
    assert [tuple(p) for p in result.truth["colocations"]] == expected
    assert len(expected) > 20  # the city does produce co-locations


def test_grid_pairs_equal_brute_force_on_random_points_of_any_latitude():
    rng = np.random.default_rng(5)
    for centre_lat in (0.0, 52.5, -33.9, 71.0, 84.0):
        tasks = []
        for i in range(400):
            lat = centre_lat + rng.normal(0, 0.004)
            start = int(rng.integers(0, 10)) * HOUR
            tasks.append({"partner_id": f"p{i % 3}", "shipment_id": f"s{i}", "dest_lat": lat,
                          "dest_lng": 13.4 + rng.normal(0, 0.006), "window_start": start,
                          "window_end": start + int(rng.integers(1, 4)) * HOUR})
        assert truth_mod.colocated_pairs(tasks, 150.0) == truth_mod.brute_force_pairs(tasks, 150.0)


def test_latest_announcement_wins():
    first = {"partner_id": "a", "shipment_id": "s", "event_time": 1, "dest_lat": 0.0}
    later = dict(first, event_time=2, dest_lat=1.0)
    assert truth_mod.latest_tasks([later, first]) == [later]


def test_configured_shares_hold_within_tolerance(tmp_path):
    cfg = SimConfig(tasks_per_day=3000, partners=5, seed=9, failure_share=0.07)
    mess = MessConfig(duplicate_share=0.02, malformed_share=0.01, late_share=0.05)
    rng = np.random.default_rng(cfg.seed)
    feed = Feed(build_plan(cfg, build_city(CITIES["berlin"], rng), rng), mess, rng)
    kinds = np.bincount(feed.kind, minlength=3)
    good = kinds[0]
    assert abs(kinds[1] / good - 0.02) < 0.003
    assert abs(kinds[2] / len(feed.kind) - 0.01) < 0.002
    lag = feed.emit_time[: good] - np.concatenate([
        np.array([t["event_time"] for t in feed.plan.tasks]), np.array([s["event_time"] for s in feed.plan.statuses]),
        feed._pos["time"], np.array([o["available_from"] for o in feed.plan.offers])])
    assert abs(np.mean(lag >= 30_000) - 0.05) < 0.006
    assert lag.min() >= 0 and lag.max() <= 5_000 + 600_000
    result = simulate(cfg, mess, FileSink(tmp_path), progress=False)
    assert abs(result.truth["summary"]["failure_share"] - 0.07) < 0.015


def test_windows_are_one_to_four_hours_and_arrivals_follow_the_day(small_run):
    folder, _ = small_run
    accepted, _ = _route_all(folder)
    tasks = [r for s, r in accepted if s == "delivery_tasks"]
    lengths = {(t["window_end"] - t["window_start"]) // HOUR for t in tasks}
    assert lengths <= {1, 2, 3, 4} and len(lengths) == 4
    hours = np.array([(t["window_start"] // HOUR) % 24 for t in tasks])
    assert hours.min() >= 7 and hours.max() <= 21
    assert np.mean((hours >= 9) & (hours < 12)) > np.mean(hours >= 19)


def test_same_recipient_is_sometimes_served_by_two_partners():
    cfg = SimConfig(tasks_per_day=8000, partners=5, seed=2)
    rng = np.random.default_rng(cfg.seed)
    plan = build_plan(cfg, build_city(CITIES["berlin"], rng), rng)
    partners_of: dict[str, set] = {}
    for task in plan.tasks:
        partners_of.setdefault(task["recipient_key"], set()).add(task["partner_id"])
    assert sum(len(p) > 1 for p in partners_of.values()) > 0


def test_pacing_never_runs_ahead_of_the_rate(tmp_path):
    started = time.monotonic()
    result = run_to(tmp_path, SimConfig(tasks_per_day=100, partners=2, seed=1), events=600, rate=1500.0)
    elapsed = time.monotonic() - started
    assert result.emitted == 600
    assert result.rate <= 1500 * 1.02
    assert elapsed >= 600 / 1500 * 0.98


def test_event_limit_cuts_the_feed_and_the_truth_follows(tmp_path):
    result = run_to(tmp_path, events=5000)
    assert result.emitted == 5000 == sum(result.per_stream.values())
    lines = sum(len(b.split(b"\n")) - 1 for b in files(tmp_path).values())
    assert lines == 5000


def test_a_hot_spot_sends_its_share_of_every_partner_s_deliveries_to_one_block():
    spec = CITIES["berlin"]

    def plan(share: float):
        rng = np.random.default_rng(11)
        city = build_city(spec, rng)
        return city, build_plan(SimConfig(tasks_per_day=2000, seed=11, hotspot_share=share), city, rng)

    city, hot = plan(0.4)
    block = np.bincount(city.address_block[city.address_block >= 0]).argmax()
    at = {(round(lat, 9), round(lng, 9)) for lat, lng, b in zip(city.address_lat, city.address_lng,
                                                                city.address_block) if b == block}
    for partner in {t["partner_id"] for t in hot.tasks}:
        mine = [t for t in hot.tasks if t["partner_id"] == partner]
        share = sum((round(t["dest_lat"], 9), round(t["dest_lng"], 9)) in at for t in mine) / len(mine)
        assert 0.3 < share < 0.55, (partner, share)  # 40 % sent there, plus the few that fell there anyway
    _, plain = plan(0.0)
    _, again = plan(0.0)
    assert [t["dest_lat"] for t in plain.tasks] == [t["dest_lat"] for t in again.tasks]
    assert sum((round(t["dest_lat"], 9), round(t["dest_lng"], 9)) in at for t in plain.tasks) / len(plain.tasks) < 0.05
