"""The coordination job end to end: simulator -> Kafka -> `lastmile run --bounded` -> ClickHouse and Kafka.

The simulated day is kept apart from other tests' data on the shared test broker
by a partner prefix and its own date.
"""
import json
import subprocess
import sys
import time

import h3.api.basic_int as h3
import pytest
from kafkatools import read_topic
from samples import HOUR, valid

from lastmile import topics
from lastmile.partner import PartnerClient
from udfs.contracts import wire

PREFIX = "co-"


@pytest.fixture(scope="module")
def coordinated(stack, tmp_path_factory):
    from tests_env import env_for, lastmile, simulate_city

    env = env_for(stack)
    truth_path = tmp_path_factory.mktemp("coordination") / "truth.json"
    simulate_city(env, truth_path, PREFIX, partners=4, tasks_per_day=1500, start="2025-06-02", seed=5)
    started = time.monotonic()
    lastmile(env, "run", "--bounded")
    return json.loads(truth_path.read_text()), time.monotonic() - started


def _found(ch, table="colocations FINAL"):
    return ch.query(f"SELECT partner_a, shipment_a, partner_b, shipment_b FROM {table} "
                    f"WHERE startsWith(partner_a, '{PREFIX}') OR startsWith(partner_b, '{PREFIX}')").result_rows


def test_colocations_in_clickhouse_equal_the_truth_exactly(coordinated, ch):
    truth, _seconds = coordinated
    expected = {tuple(p) for p in truth["colocations"]}
    found = _found(ch)
    assert len(found) == len(set(found))  # no duplicates through FINAL
    assert set(found) == expected  # precision and recall 1.0
    assert len(expected) > 50
    assert sorted(_found(ch, "colocations_current")) == sorted(found)


def test_colocation_rows_are_well_formed(coordinated, ch):
    rows = ch.query(f"SELECT distance_m, overlap_start < overlap_end, (partner_a, shipment_a) < (partner_b, shipment_b),"
                    f" partner_a != partner_b, h3_cell FROM colocations FINAL "
                    f"WHERE startsWith(partner_a, '{PREFIX}')").result_rows
    assert rows and all(0 <= d <= 150 and ordered and increasing and different and cell > 0
                        for d, increasing, ordered, different, cell in rows)


def test_accepted_events_reach_their_tables_without_raw_coordinates(coordinated, ch):
    truth, _ = coordinated
    summary = truth["summary"]
    tasks = ch.query(f"SELECT count() FROM delivery_tasks FINAL WHERE startsWith(partner_id, '{PREFIX}')").result_rows
    assert tasks[0][0] == summary["announcements"]
    for table in ("shipment_status", "vehicle_positions", "capacity_offers"):
        n = ch.query(f"SELECT count() FROM {table} FINAL WHERE startsWith(partner_id, '{PREFIX}')").result_rows[0][0]
        assert n > 0
    columns = {r[0] for r in ch.query("SELECT name FROM system.columns WHERE database = currentDatabase() AND "
                                      "table IN ('delivery_tasks', 'shipment_status', 'vehicle_positions', "
                                      "'capacity_offers', 'colocations')").result_rows}
    assert not columns & {"lat", "lng", "dest_lat", "dest_lng", "depot_lat", "depot_lng", "recipient_key"}


def test_every_malformed_record_is_a_dead_letter_with_its_offset(coordinated, ch):
    truth, _ = coordinated
    malformed = sum(truth["summary"]["malformed"].values())
    rows = ch.query(f"SELECT source, stage, reason FROM dead_letters FINAL WHERE startsWith(source, 'partners.{PREFIX}')"
                    " AND reason != 'late'").result_rows
    assert len(rows) == malformed
    for source, stage, reason in rows:
        topic, partition, offset = source.rsplit("/", 2)
        assert topics.partner_of_topic(topic).startswith(PREFIX) and partition.isdigit() and offset.isdigit()
        assert stage in ("decode", "validate") and reason


def test_colocations_and_inboxes_on_kafka(coordinated, stack):
    truth, _ = coordinated
    expected = {tuple(p) for p in truth["colocations"]}
    latest, records = {}, []
    for _p, _o, key, value in read_topic(stack.kafka_bootstrap, topics.COLOCATIONS):
        record, _ = wire.decode(value, expected="CoLocation")
        assert key.decode() == record["match_id"]
        if record["partner_a"].startswith(PREFIX):
            records.append(record)
            if record["match_id"] not in latest or record["version"] > latest[record["match_id"]]["version"]:
                latest[record["match_id"]] = record
    current = {(r["partner_a"], r["shipment_a"], r["partner_b"], r["shipment_b"])
               for r in latest.values() if not r["retracted"]}
    assert current == expected
    partner = sorted({p[0] for p in expected})[0]
    inbox = [wire.decode(v) for *_, v in read_topic(stack.kafka_bootstrap, topics.inbox_topic(partner))]
    matches = [r for r, schema in inbox if schema.name == "InboxMatch"]
    # a match as the partner receives it: its own shipment, the other party as a token, the place at resolution 8
    others = {p[2] if p[0] == partner else p[0] for p in expected if partner in (p[0], p[2])}
    mine_ever = {r["shipment_a"] if r["partner_a"] == partner else r["shipment_b"]
                 for r in records if partner in (r["partner_a"], r["partner_b"])}
    theirs = {p[3] if p[0] == partner else p[1] for p in expected if partner in (p[0], p[2])}
    assert matches and all(r["partner_id"] == partner for r in matches)
    assert not {r["counterpart"] for r in matches} & others
    assert all(r["counterpart_partner_id"] is None and r["same_recipient"] is None for r in matches)  # nobody agreed
    assert all(h3.get_resolution(r["area_h3"]) == 8 for r in matches)
    assert not theirs & {str(v) for r, _ in inbox for v in r.values()}  # no other partner's shipment anywhere
    # each other partner's shipment that ever matched one of the partner's reached its inbox once, by one match
    ever: dict[tuple[str, str], set[str]] = {}
    for r in records:
        if partner in (r["partner_a"], r["partner_b"]) and not r["retracted"]:
            other = (r["partner_b"], r["shipment_b"]) if r["partner_a"] == partner else (r["partner_a"], r["shipment_a"])
            ever.setdefault(other, set()).add(r["match_id"])
    told = {r["match_id"] for r in matches}
    assert len(told) == len(matches) == len(ever) and not any(r["retracted"] for r in matches)
    assert all(len(ids & told) == 1 for ids in ever.values())
    assert {"InboxMatch", "EtaUpdate"} <= {schema.name for _, schema in inbox} <= {
        "InboxMatch", "EtaUpdate", "InboxProposal"}
    assert all(r["partner_id"] == partner for r, schema in inbox if schema.name == "EtaUpdate")
    assert all(r["partner_id"] == partner and r["shipments"] and set(r["shipments"]) <= mine_ever
               for r, schema in inbox if schema.name == "InboxProposal")


def test_reannouncement_retracts_a_match_on_the_real_stack(stack, ch, stack_env):
    """A re-announced task whose new window no longer overlaps undoes its match: the retraction
    outranks the match in ClickHouse (FINAL hides it) and on the colocations topic."""
    a, b = f"{PREFIX}re-a", f"{PREFIX}re-b"
    base = 1_752_000_000_000  # 2025-07-08, apart from every other test's data
    with PartnerClient(a, stack) as pa, PartnerClient(b, stack) as pb:
        pa.publish("delivery_tasks", valid("delivery_tasks", partner=a, now_ms=base, shipment_id="A1"))
        pb.publish("delivery_tasks", valid("delivery_tasks", partner=b, now_ms=base + 1000, shipment_id="B1"))
        pa.publish("delivery_tasks", valid("delivery_tasks", partner=a, now_ms=base, shipment_id="A2",
                                           dest_lat=48.0, dest_lng=11.0))
        pb.publish("delivery_tasks", valid("delivery_tasks", partner=b, now_ms=base, shipment_id="B9",
                                           dest_lat=48.0005, dest_lng=11.0))
        # B1 again, later, with a window that no longer overlaps A1's
        pb.publish("delivery_tasks", valid("delivery_tasks", partner=b, now_ms=base + 2000, shipment_id="B1",
                                           window_start=base + 10 * HOUR, window_end=base + 11 * HOUR))
    run = subprocess.run([sys.executable, "-m", "lastmile.cli", "run", "--bounded"], env=stack_env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert ch.query(f"SELECT shipment_a, shipment_b FROM colocations FINAL WHERE partner_a = '{a}'").result_rows == [
        ("A2", "B9")]
    history = sorted((r["version"], r["shipment_a"], r["shipment_b"], r["retracted"])
                     for r in (wire.decode(v)[0] for *_, v in read_topic(stack.kafka_bootstrap, topics.COLOCATIONS))
                     if r["partner_a"] == a)
    assert [(s_a, s_b, retracted) for _, s_a, s_b, retracted in history if s_a == "A1"] == [
        ("A1", "B1", False), ("A1", "B1", True)]  # in version order: the retraction wins
    assert [(s_a, s_b, retracted) for _, s_a, s_b, retracted in history if s_a == "A2"] == [("A2", "B9", False)]
    assert ch.query(f"SELECT count() FROM delivery_tasks FINAL WHERE partner_id = '{b}'").result_rows == [(3,)]


def test_eta_predictions_follow_the_vans_and_land_on_kafka(coordinated, ch, stack):
    from udfs.eta import MODEL_VERSION

    truth, _ = coordinated
    shipments = truth["shipments"]
    rows = ch.query(f"SELECT partner_id, shipment_id, vehicle_id, toUnixTimestamp64Milli(predicted_at), "
                    f"toUnixTimestamp64Milli(eta), model_version FROM eta_predictions FINAL "
                    f"WHERE startsWith(partner_id, '{PREFIX}')").result_rows
    assert len(rows) > 100
    errors = []
    for partner, shipment, vehicle, predicted_at, eta, version in rows:
        actual = shipments.get(f"{partner}:{shipment}")
        assert version == MODEL_VERSION and eta > predicted_at
        assert actual is not None and actual["vehicle_id"] == vehicle  # only shipments on that van get ETAs
        if "arrived" in actual and 0 < actual["arrived"] - predicted_at <= HOUR:
            errors.append(abs(eta - actual["arrived"]) / 60_000)
    errors.sort()
    assert len(errors) > 50 and errors[len(errors) // 2] < 10  # median error within the hour ahead: minutes
    # Coverage: every shipment that went out on a van got ETAs (a van's ETAs are computed once
    # per interval, so a stop delivered within minutes of leaving the depot may have none).
    went_out = {k for k, v in shipments.items() if v["vehicle_id"] is not None}
    with_eta = {f"{p}:{s}" for p, s, *_ in rows}
    coverage = len(went_out & with_eta) / len(went_out)
    print(f"ETA coverage {coverage:.4f} of {len(went_out)} shipments out for delivery")
    assert len(went_out) > 500 and coverage >= 0.9
    on_kafka = {(r["partner_id"], r["shipment_id"], r["predicted_at"])
                for r in (wire.decode(v, expected="EtaUpdate")[0] for *_, v in read_topic(stack.kafka_bootstrap,
                                                                                          topics.ETA))
                if r["partner_id"].startswith(PREFIX)}
    assert on_kafka == {(p, s, at) for p, s, _, at, _, _ in rows}


def test_consolidation_proposals_group_co_located_deliveries_within_capacity(coordinated, ch, stack):
    truth, _ = coordinated
    neighbours = {}
    for pa, sa, pb, sb in truth["colocations"]:
        neighbours.setdefault(f"{pa}:{sa}", set()).add(f"{pb}:{sb}")
        neighbours.setdefault(f"{pb}:{sb}", set()).add(f"{pa}:{sa}")
    rows = ch.query(f"SELECT proposal_id, partners, shipments, assigned_partner, km_separate, km_consolidated, "
                    f"km_saved, assigned_offer, tour FROM consolidation_proposals FINAL "
                    f"WHERE hasAny(partners, [{', '.join(repr(p) for p in truth['summary']['km_per_partner'])}])"
                    ).result_rows
    assert len(rows) > 5
    volumes = dict(ch.query(f"SELECT concat(partner_id, ':', shipment_id), argMax(volume_l, event_time) "
                            f"FROM delivery_tasks FINAL WHERE startsWith(partner_id, '{PREFIX}') "
                            f"GROUP BY partner_id, shipment_id").result_rows)
    offers = {f"{p}:{v}": (vol, stops) for p, v, vol, stops in ch.query(
        f"SELECT partner_id, vehicle_id, spare_volume_l, spare_stops FROM capacity_offers FINAL "
        f"WHERE startsWith(partner_id, '{PREFIX}')").result_rows}
    for _id, partners, group, assigned, km_separate, km_consolidated, km_saved, offer, tour in rows:
        assert len(group) >= 2 and sorted(tour) == sorted(group) and sorted(partners) == partners
        assert {s.split(":")[0] for s in group} == set(partners) and assigned in partners
        reached, frontier = {group[0]}, [group[0]]  # connected through true co-locations
        while frontier:
            for other in neighbours.get(frontier.pop(), ()):
                if other in group and other not in reached:
                    reached.add(other)
                    frontier.append(other)
        assert reached == set(group)
        assert km_saved > 0 and abs(km_separate - km_consolidated - km_saved) < 1e-6
        others = [s for s in group if not s.startswith(assigned + ":")]
        spare_volume, spare_stops = offers[offer]
        assert offer.startswith(assigned + ":")
        assert sum(volumes[s] for s in others) <= spare_volume + 1e-9 and len(others) <= spare_stops
    ids = {r[0] for r in rows}
    on_kafka = [wire.decode(v, expected="ConsolidationProposal")[0]
                for *_, v in read_topic(stack.kafka_bootstrap, topics.PROPOSALS)]
    assert ids <= {r["proposal_id"] for r in on_kafka}
    partner = rows[0][1][0]
    inbox = [wire.decode(v)[0] for *_, v in read_topic(stack.kafka_bootstrap, topics.inbox_topic(partner))]
    assert rows[0][0] in {r.get("proposal_id") for r in inbox}


def test_lastmile_audit_replays_why_each_proposal_was_made(coordinated, ch, stack):
    """Every proposal has its inputs in audit_log; `lastmile audit` checks them against the
    proposal's digest and id and replays the decision: the same offer, the same kilometres."""
    from tests_env import env_for, lastmile

    rows = ch.query(f"SELECT proposal_id, assigned_offer, inputs_digest FROM consolidation_proposals FINAL "
                    f"WHERE startsWith(assigned_partner, '{PREFIX}') ORDER BY proposal_id").result_rows
    logged = dict(ch.query("SELECT decision_id, inputs_digest FROM audit_log FINAL WHERE kind = 'proposal'").result_rows)
    assert rows and all(logged.get(pid) == digest for pid, _, digest in rows)
    env = env_for(stack)
    for proposal_id, offer, _ in rows[:3]:
        found = json.loads(lastmile(env, "audit", proposal_id, "--json").stdout.strip().splitlines()[-1])
        assert found["same_decision"] and found["chosen_offer"] == offer
        assert any(c["chosen"] and c["room"] and c["on_time"] for c in found["candidates"])
        human = lastmile(env, "audit", proposal_id).stdout
        assert "the same decision" in human and offer in human
    import subprocess
    import sys
    missing = subprocess.run([sys.executable, "-m", "lastmile.cli", "audit", "no-such-proposal"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "no proposal" in missing.stderr and "Traceback" not in missing.stderr


def _direct_kpis(ch, partner: str) -> dict:
    """KPIs of ``partner`` recomputed from the raw tables (every row, FINAL where the tables
    dedupe), not from the aggregates the report reads. The feed latency is of the rows left:
    a merge keeps an event's latest arrival (tests/e2e/test_kpis.py has exact values)."""
    q = lambda sql: ch.query(sql, parameters={"p": partner}).result_rows[0]  # noqa: E731
    attempts, failed, delivered = q(
        "SELECT uniqExactIf(event_id, status IN ('DELIVERED', 'FAILED_ATTEMPT')), uniqExactIf(event_id, "
        "status = 'FAILED_ATTEMPT'), uniqExactIf(shipment_id, status = 'DELIVERED') FROM shipment_status FINAL "
        "WHERE partner_id = {p:String}")
    received, p50, p99 = q(
        "SELECT count(), quantileExact(0.5)(l), quantileExact(0.99)(l) FROM (SELECT event_id, "
        "min(toUnixTimestamp64Milli(ingested_at) - toUnixTimestamp64Milli(event_time)) AS l FROM ("
        + " UNION ALL ".join(f"SELECT event_id, ingested_at, event_time FROM {t} WHERE partner_id = {{p:String}}"
                             for t in ("delivery_tasks", "shipment_status", "vehicle_positions", "capacity_offers"))
        + ") GROUP BY event_id)")
    (pairs,) = q("SELECT count() FROM colocations FINAL WHERE NOT retracted AND {p:String} IN (partner_a, partner_b)")
    (dead,) = q("SELECT uniqExact(dead_letter_id) FROM dead_letters WHERE partner_id = {p:String}")
    (proposals,) = q("SELECT count() FROM consolidation_proposals FINAL WHERE has(partners, {p:String})")
    return {"parcels_delivered": delivered, "attempts": attempts,
            "missed_delivery_rate": round(failed / attempts, 6) if attempts else None, "received": received,
            "feed_latency_p50_ms": p50, "feed_latency_p99_ms": p99, "colocations": pairs, "dead_letters": dead,
            "proposals": proposals}


def test_report_agrees_with_the_raw_tables_also_after_a_replay_and_draws_its_charts(coordinated, ch, stack, tmp_path):
    """`lastmile report --json` (aggregates kept by materialized views) against a full
    recomputation from the raw tables; every raw row written again an hour later (a replay)
    changes no KPI; the HTML file holds the KPI table and its six charts, with plotly inlined."""
    from html.parser import HTMLParser

    from tests_env import env_for, lastmile

    truth, _ = coordinated
    city = set(truth["summary"]["km_per_partner"])  # the city's four partners (other tests' share the prefix)
    env = env_for(stack)
    page = tmp_path / "report.html"

    def report() -> dict:
        out = json.loads(lastmile(env, "report", "--json", "--html", str(page)).stdout.strip().splitlines()[-1])
        return {p: v for p, v in out["partners"].items() if p in city}

    first = report()
    assert len(first) == len(city) == 4
    # the proposals, evaluated on the routes the vans drove, save far less than the depot-to-group upper bound
    savings = json.loads(lastmile(env, "report", "--json").stdout.strip().splitlines()[-1])["savings"]
    assert savings["evaluated"] > 0 and sum(v["proposals_evaluated"] for v in first.values()) > 0
    assert 0 < savings["km_saved"] < savings["km_saved_upper_bound_evaluated"]
    for partner, values in first.items():
        direct = _direct_kpis(ch, partner)
        # the raw tables keep an event's latest arrival once merged (ReplacingMergeTree(ingested_at)),
        # the KPI its first: never later than what the raw rows still show
        latency = ("feed_latency_p50_ms", "feed_latency_p99_ms")
        assert {k: values[k] for k in direct if k not in latency} == {k: v for k, v in direct.items()
                                                                      if k not in latency}, partner
        assert all(values[k] <= direct[k] for k in latency), (partner, values, direct)
        assert values["parcels_delivered"] > 0 and values["colocations"] > 0 and values["km_per_parcel"] > 0
        assert 0 <= values["on_time_rate"] <= 1 and values["eta_mae_s"] is not None
    ch.command(f"INSERT INTO vehicle_km SELECT * FROM vehicle_km WHERE startsWith(partner_id, '{PREFIX}')")
    for table in ("shipment_status", "vehicle_positions", "delivery_tasks"):
        ch.command(f"INSERT INTO {table} SELECT * REPLACE (ingested_at + INTERVAL 1 HOUR AS ingested_at) FROM {table} "
                   f"WHERE startsWith(partner_id, '{PREFIX}')")
    assert report() == first

    class Parts(HTMLParser):
        def __init__(self):
            super().__init__()
            self.charts, self.scripts, self.sources, self.rows = [], 0, [], 0

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "div" and (attrs.get("id") or "").startswith("chart-"):
                self.charts.append(attrs["id"])
            if tag == "script":
                self.scripts += 1
                self.sources += [attrs["src"]] if "src" in attrs else []
            self.rows += tag == "tr"

    parts = Parts()
    parts.feed(page.read_text())
    assert parts.charts == [f"chart-{i}" for i in range(6)] and not parts.sources  # no script from elsewhere
    assert "Plotly" in page.read_text() and parts.rows >= 1 + len(first)
    one = sorted(first)[0]
    human = lastmile(env, "report", "--partner", one).stdout
    assert "delivered" in human and f"{first[one]['parcels_delivered']:,}" in human


def test_the_sql_in_the_analysts_and_kpi_docs_runs_on_a_simulated_city(coordinated, ch):
    """Every ```sql block of docs/analysts.md and docs/kpis.md runs, and the analysts' questions
    have answers (the KPI blocks' :since/:until are the city's day)."""
    import pathlib
    import re

    docs = pathlib.Path(__file__).resolve().parents[2] / "docs"
    for name in ("analysts.md", "kpis.md"):
        blocks = re.findall(r"```sql\n(.*?)```", (docs / name).read_text(), re.S)
        assert len(blocks) >= (10 if name == "analysts.md" else 6), name
        for sql in blocks:
            sql = sql.replace(":since", "'2025-06-02'").replace(":until", "'2025-06-02'")
            sql = sql.replace("'alpha-parcel'", f"'{PREFIX}alpha-parcel'")
            rows = ch.query(sql).result_rows
            assert name == "kpis.md" or rows, sql
