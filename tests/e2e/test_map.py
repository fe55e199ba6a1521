"""The live map (`lastmile map`, lastmile/map/) on the real stack: its API against direct
ClickHouse queries and hand-computed counts, who may see a partner's view, and the page in a
real headless Chromium (Debian's package, driven by Playwright): no console errors, as many
hexes drawn as the API returns and ClickHouse counts, an update after more rows arrive, and a
partner view with its own shipments and no other partner's. A screenshot goes to
test-artifacts/live-map.png."""
import datetime as dt
import pathlib
import time
import uuid

import h3.api.basic_int as h3i
import pytest
from maptools import get, map_server

from lastmile import migrations

D = dt.datetime(2025, 3, 17, tzinfo=dt.UTC)  # a day no other test writes
A, B = "map-alpha", "map-bravo"
TOKENS = {A: "alpha-secret", B: "bravo-secret"}
CHROMIUM = "/usr/bin/chromium"  # Debian's chromium (make browser); never a downloaded browser
ARTIFACTS = pathlib.Path(__file__).resolve().parents[2] / "test-artifacts"
BERLIN = (52.52, 13.40)


def at(hour: float) -> dt.datetime:
    return D + dt.timedelta(hours=hour)


def cell(dlat: float, dlng: float) -> int:
    return h3i.latlng_to_cell(BERLIN[0] + dlat, BERLIN[1] + dlng, 10)


# shipment -> (partner, destination cell, window start, window end); the feed's clock is 12:00
TASKS = {
    "A1": (A, cell(0, 0), 13, 15),  # active: opens later today
    "A2": (A, cell(0.03, 0.05), 11, 13),  # active: open now
    "A3": (A, cell(-0.04, 0.02), 9, 11),  # ended before now
    "A4": (A, cell(0.01, -0.06), 13, 15),  # delivered already (final)
    "B1": (B, cell(0.0004, 0.0003), 12, 14),  # active, next to A1: co-located with it
    "B2": (B, cell(-0.05, -0.05), 16, 18),  # active: opens later today
    "B3": (B, cell(0.02, 0.02), 34, 36),  # tomorrow: not today's
}
ACTIVE = ("A1", "A2", "B1", "B2")


def _write(client) -> None:
    src = ("t", 0, 0)
    client.insert("delivery_tasks", [
        (uuid.uuid4(), p, s, at(7), at(7), c, at(ws), at(we), 1, None, None, None, None, *src, 2)
        for s, (p, c, ws, we) in TASKS.items()],
        column_names=["event_id", "partner_id", "shipment_id", "event_time", "ingested_at", "dest_h3", "window_start",
                      "window_end", "parcel_count", "volume_l", "weight_kg", "retailer_id", "service_level",
                      "source_topic", "source_partition", "source_offset", "schema_version"])
    client.insert("shipment_status", [
        (uuid.uuid4(), A, "A4", at(11.5), at(11.5), "DELIVERED", "van-1", 3, None, None, *src, 1),
        (uuid.uuid4(), A, "A2", at(10), at(10), "OUT_FOR_DELIVERY", "van-1", 2, None, None, *src, 1)],
        column_names=["event_id", "partner_id", "shipment_id", "event_time", "ingested_at", "status", "vehicle_id",
                      "stop_sequence", "h3_cell", "reason", "source_topic", "source_partition", "source_offset",
                      "schema_version"])
    client.insert("vehicle_positions", [
        (uuid.uuid4(), A, "van-1", at(11.95), at(11.95), cell(0.03, 0.05), None, None, None, *src, 1),
        (uuid.uuid4(), B, "van-9", at(11), at(11), cell(0, 0), None, None, None, *src, 1),  # not seen for an hour
        (uuid.uuid4(), B, "van-9", at(12), at(12), cell(-0.05, -0.05), None, None, None, *src, 1)],  # the clock
        column_names=["event_id", "partner_id", "vehicle_id", "event_time", "ingested_at", "h3_cell", "speed_mps",
                      "load_volume_l", "capacity_volume_l", "source_topic", "source_partition", "source_offset",
                      "schema_version"])
    client.insert("colocations", [("m1", A, "A1", B, "B1", TASKS["A1"][1], 40.0, at(13), at(14), False, at(7), 1, 0)],
                  column_names=["match_id", "partner_a", "shipment_a", "partner_b", "shipment_b", "h3_cell",
                                "distance_m", "overlap_start", "overlap_end", "same_recipient", "detected_at",
                                "version", "retracted"])
    client.insert("consolidation_proposals", [
        ("p1", [A, B], [f"{A}:A1", f"{B}:B1"], A, 5.0, 2.0, 3.0, "k", "d", at(9), f"{A}:van-1", [])],
        column_names=["proposal_id", "partners", "shipments", "assigned_partner", "km_separate", "km_consolidated",
                      "km_saved", "kernel_version", "inputs_digest", "created_at", "assigned_offer", "tour"])


@pytest.fixture(scope="module")
def live_map(stack):
    """A database with the hand-made day, and `python -m lastmile.map.server` on it."""
    from tests_env import env_for

    from lastmile.clickhouse import http_client

    config = stack.with_overrides(clickhouse_database=f"map_{uuid.uuid4().hex[:8]}")
    migrations.apply(config)
    client = http_client(config)
    _write(client)
    env = {**env_for(config), "LASTMILE_MAP_PARTNER_TOKENS": ",".join(f"{p}:{t}" for p, t in TOKENS.items())}
    with map_server(env) as url:
        yield url, client


def _by_hand(res: int) -> dict[str, tuple[int, int]]:
    """Active deliveries per hex: count and partners, from TASKS."""
    out: dict[str, tuple[int, set]] = {}
    for s in ACTIVE:
        partner, c = TASKS[s][0], TASKS[s][1]
        hexagon = format(h3i.cell_to_parent(c, res), "x")
        n, partners = out.get(hexagon, (0, set()))
        out[hexagon] = (n + 1, partners | {partner})
    return {h: (n, len(p)) for h, (n, p) in out.items()}


@pytest.mark.parametrize("res", [8, 9])
def test_active_deliveries_per_hex_equal_the_hand_count_and_a_direct_query(live_map, res):
    url, client = live_map
    status, body = get(f"{url}/api/hexes?layer=deliveries&res={res}")
    assert status == 200 and body["now"].startswith("2025-03-17T12:00")
    api = {h["h3"]: (h["value"], h["partners"]) for h in body["hexes"]}
    assert api == _by_hand(res)
    # the definition read straight off the tables: latest task per shipment, window open or opening
    # later today, no final status
    direct = client.query(
        f"SELECT h3ToParent(c, {res}) AS h, count(), uniqExact(partner_id) FROM (SELECT partner_id, shipment_id, "
        "argMax(dest_h3, event_time) AS c, argMax(window_start, event_time) AS ws, argMax(window_end, event_time) AS we "
        "FROM delivery_tasks FINAL GROUP BY partner_id, shipment_id) WHERE we > {now:DateTime64(3)} "
        "AND ws < {end:DateTime64(3)} AND (partner_id, shipment_id) NOT IN (SELECT partner_id, shipment_id "
        "FROM shipment_status WHERE status IN ('DELIVERED', 'FAILED_ATTEMPT', 'RETURNED', 'CANCELLED')) GROUP BY h",
        parameters={"now": at(12), "end": at(24)}).result_rows
    assert {format(h, "x"): (n, k) for h, n, k in direct} == api


def test_the_other_layers_and_the_summary(live_map):
    url, _ = live_map
    hexes = {layer: get(f"{url}/api/hexes?layer={layer}&res=8")[1]["hexes"]
             for layer in ("colocations", "proposals", "vans")}
    a1 = format(h3i.cell_to_parent(TASKS["A1"][1], 8), "x")
    assert [(h["h3"], h["value"], h["partners"]) for h in hexes["colocations"]] == [(a1, 1, 2)]
    assert [(h["h3"], h["value"], h["partners"]) for h in hexes["proposals"]] == [(a1, 1, 2)]
    # van-1 was seen at 11:57; van-9's latest position (12:00) is where B2 is
    vans = {h["h3"]: h["value"] for h in hexes["vans"]}
    assert vans == {format(h3i.cell_to_parent(TASKS["A2"][1], 8), "x"): 1,
                    format(h3i.cell_to_parent(TASKS["B2"][1], 8), "x"): 1}
    status, summary = get(f"{url}/api/summary")
    assert status == 200
    assert (summary["active_deliveries"], summary["proposals_today"]) == (4, 1)
    assert summary["colocation_rate"] == round(2 / 6, 4)  # A1, B1 of today's six tasks (B3 is tomorrow's)
    assert set(summary["feeds"]) == {A, B} and summary["dead_letters_last_hour"] == {}
    assert all(f["seconds_since_last_event"] >= 0 for f in summary["feeds"].values())


def test_a_partner_view_needs_that_partner_s_credentials_and_shows_its_own_shipments_only(live_map):
    url, _ = live_map
    assert get(f"{url}/api/shipments?partner={A}")[0] == 401  # none
    assert get(f"{url}/api/shipments?partner={A}", A, "wrong")[0] == 401
    assert get(f"{url}/api/shipments?partner={A}", B, TOKENS[B])[0] == 403  # another partner's own token
    assert get(f"{url}/api/hexes?partner={A}&layer=deliveries", B, TOKENS[B])[0] == 403
    assert get(f"{url}/api/shipments?partner=Not_A_Partner", A, TOKENS[A])[0] == 400
    status, body = get(f"{url}/api/shipments?partner={A}", A, TOKENS[A])
    assert status == 200
    assert [s["shipment_id"] for s in body["shipments"]] == ["A2", "A1"]  # by window start
    status, summary = get(f"{url}/api/summary?partner={A}", A, TOKENS[A])
    assert set(summary["feeds"]) == {A} and summary["dead_letters_last_hour"] is None
    status, mine = get(f"{url}/api/hexes?partner={A}&layer=deliveries&res=9", A, TOKENS[A])
    assert sum(h["value"] for h in mine["hexes"]) == 2 and {h["partners"] for h in mine["hexes"]} == {1}
    assert get(f"{url}/api/hexes?layer=nothing")[0] == 400 and get(f"{url}/api/hexes?res=12")[0] == 400


# --- the page in a real browser

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert pathlib.Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make browser` installs Debian's chromium"
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser, url: str, **context):
    page = browser.new_context(viewport={"width": 1280, "height": 800}, **context).new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)
    page.wait_for_function("window.lastmileMap && window.lastmileMap.loaded && window.lastmileMap.drawn > 0",
                           timeout=30_000)
    return page, problems


def test_the_page_draws_the_api_s_hexes_without_errors_and_follows_new_rows(live_map, browser):
    url, client = live_map
    page, problems = _open(browser, url + "/")
    api = get(f"{url}/api/hexes?layer=deliveries&res=8")[1]["hexes"]
    assert page.evaluate("window.lastmileMap.drawn") == len(api) == len(_by_hand(8))
    assert page.locator("#active").inner_text() == "4"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live-map.png"))
    # a new active delivery far from the others: a new hex within about a second of its row
    far = h3i.latlng_to_cell(BERLIN[0] + 0.2, BERLIN[1] + 0.2, 10)
    client.insert("delivery_tasks", [(uuid.uuid4(), B, "B9", at(7.5), at(7.5), far, at(12), at(15), 1, "t", 0, 1, 2)],
                  column_names=["event_id", "partner_id", "shipment_id", "event_time", "ingested_at", "dest_h3",
                                "window_start", "window_end", "parcel_count", "source_topic", "source_partition",
                                "source_offset", "schema_version"])
    started = time.monotonic()
    page.wait_for_function(f"window.lastmileMap.drawn === {len(api) + 1}", timeout=5_000)
    assert time.monotonic() - started < 2.0  # the page asks every 0.7 s
    assert page.locator("#active").inner_text() == "5"
    for layer in ("colocations", "proposals", "vans"):
        page.check(f"input[value={layer}]")
        expected = len(get(f"{url}/api/hexes?layer={layer}&res=8")[1]["hexes"])
        page.wait_for_function(f"window.lastmileMap.layer === '{layer}' && window.lastmileMap.drawn === {expected}",
                               timeout=5_000)
    assert problems == []


def test_a_partner_page_lists_its_own_shipments_and_no_other_partner_s(live_map, browser):
    url, _ = live_map
    page, problems = _open(browser, f"{url}/?partner={A}", http_credentials={"username": A, "password": TOKENS[A]})
    page.wait_for_function("window.lastmileMap.shipments.length > 0", timeout=10_000)
    listed = page.locator("#shipments tr.shipment td:first-child").all_inner_texts()
    assert listed == ["A2", "A1"]
    content = page.content()
    assert not any(s in content for s in ("B1", "B2", "B3", "B9", "van-9")), "another partner's ids on the page"
    assert B not in page.locator("#feeds").inner_text()
    page.screenshot(path=str(ARTIFACTS / "live-map-partner.png"))
    assert problems == []
    stranger = browser.new_context()  # no credentials: the page itself is refused
    assert stranger.request.get(f"{url}/?partner={A}").status == 401
    stranger.close()
