"""Live schema evolution: a partner switches from DeliveryTask v1 to v2 mid-stream. Both are read
by one run; the v2 fields reach ClickHouse, the v1 records get the v2 defaults, and a v1 task
co-locates with a v2 task of another partner."""
import subprocess
import sys

import pytest
from samples import HOUR, NOW, valid

from lastmile import topics
from lastmile.kafka_io import ReliableProducer
from udfs.contracts import wire
from udfs.contracts.schemas import default_registry

SWITCHER, OTHER = "evo-switcher", "evo-other"


@pytest.fixture(scope="module")
def evolved(stack):
    from tests_env import env_for

    v1_fields = [f["name"] for f in default_registry().get("DeliveryTask", 1).fields]
    start = NOW + 2 * HOUR
    old = [{k: v for k, v in valid("delivery_tasks", SWITCHER, shipment_id=f"old-{i}", window_start=start,
                                   window_end=start + HOUR, dest_lat=-33.90 + i / 100, dest_lng=18.42).items() if k in v1_fields}
           for i in range(3)]
    new = [valid("delivery_tasks", SWITCHER, shipment_id=f"new-{i}", window_start=start, window_end=start + HOUR,
                 dest_lat=-33.80 + i / 100, dest_lng=18.42, retailer_id=f"shop-{i}", service_level="same_day") for i in range(3)]
    match = valid("delivery_tasks", OTHER, shipment_id="near-old-0", window_start=start, window_end=start + HOUR,
                  dest_lat=-33.90, dest_lng=18.42, retailer_id="shop-x", service_level="standard")
    producer = ReliableProducer(stack)
    for partner, records in ((SWITCHER, [(r, 1) for r in old] + [(r, 2) for r in new]), (OTHER, [(match, 2)])):
        topic = topics.partner_topic(partner, "delivery_tasks")
        topics.ensure_topics(stack, [topic])
        for record, version in records:  # in this order on one partition: v1, then v2
            producer.produce(topic, wire.encode(record, "DeliveryTask", version), record["shipment_id"],
                             record["event_time"])
    producer.produce(topics.partner_topic(SWITCHER, "delivery_tasks"), b"{\"not\": \"avro\"}", "junk", start)
    producer.flush()
    run = subprocess.run([sys.executable, "-m", "lastmile.cli", "run", "--bounded"], env=env_for(stack),
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]


def test_both_versions_are_read_and_the_new_fields_reach_clickhouse(evolved, ch):
    rows = {shipment: (retailer, level) for shipment, retailer, level in ch.query(
        "SELECT shipment_id, retailer_id, service_level FROM delivery_tasks FINAL WHERE partner_id = {p:String}",
        parameters={"p": SWITCHER}).result_rows}
    assert set(rows) == {"old-0", "old-1", "old-2", "new-0", "new-1", "new-2"}
    defaults = {f["name"]: f.get("default") for f in default_registry().get("DeliveryTask", 2).fields}
    for i in range(3):
        assert rows[f"new-{i}"] == (f"shop-{i}", "same_day")
        assert rows[f"old-{i}"] == (defaults["retailer_id"], defaults["service_level"])


def test_a_v1_task_co_locates_with_a_v2_task(evolved, ch):
    pairs = ch.query("SELECT partner_a, shipment_a, partner_b, shipment_b FROM colocations FINAL "
                     "WHERE partner_a = {p:String} OR partner_b = {p:String}", parameters={"p": OTHER}).result_rows
    assert pairs == [(OTHER, "near-old-0", SWITCHER, "old-0")]


def test_each_row_keeps_its_writer_s_schema_version_and_the_adherence_kpis_count_them(evolved, ch, stack):
    """Schema adherence (docs/kpis.md): 3 of the switcher's 6 tasks on the current version, 1 of
    its 7 records refused at decoding (not Avro single-object)."""
    from lastmile import kpis

    versions = dict(ch.query("SELECT shipment_id, schema_version FROM delivery_tasks FINAL WHERE partner_id = {p:String}",
                             parameters={"p": SWITCHER}).result_rows)
    assert versions == {**{f"old-{i}": 1 for i in range(3)}, **{f"new-{i}": 2 for i in range(3)}}
    assert kpis.schema_versions(stack, partner=SWITCHER) == {SWITCHER: {"delivery_tasks v1": 3, "delivery_tasks v2": 3}}
    found = kpis.compute(stack, partner=SWITCHER)[SWITCHER]
    assert (found["current_schema_share"], found["schema_rejected_share"]) == (0.5, round(1 / 7, 6))
    assert kpis.compute(stack, partner=OTHER)[OTHER]["current_schema_share"] == 1.0
