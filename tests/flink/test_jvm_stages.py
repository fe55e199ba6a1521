"""The JVM stages of the coordination job (udfs/jvm ``io.lastmile.udfs.flink``) against the
Python reference stages (udfs/flink): the same simulated city through both graphs on the
MiniCluster gives the same ClickHouse rows and Kafka messages (no services)."""
import collections
import pathlib
import tempfile

from test_coordination_graph import run_graph

from lastmile.simulator.feed import MessConfig
from lastmile.simulator.plan import SimConfig
from lastmile.simulator.run import simulate
from udfs.contracts import wire

# Columns the graphs fill with the wall clock when they take a record in: they differ run to run.
WALL_CLOCK = {"delivery_tasks": 4, "shipment_status": 4, "vehicle_positions": 4, "capacity_offers": 4,
              "dead_letters": 1}


class _Records:
    """The simulator's feed as run_graph's records, in one partition per source: records of two
    partitions interleave differently run to run.

    Capacity offers are published first (Kafka timestamp: the feed's earliest event time),
    ahead of every decision: the Consolidator uses the offers that have arrived when a group is
    due, and an offer that becomes available minutes after a decision may arrive before it or
    not, depending on how fast the paths before the Consolidator move (in both graphs).
    """

    def __init__(self):
        self.offers, self.records = [], []

    def write(self, event):
        record = event.raw if event.raw is not None else event.record
        if event.malformed is not None and event.raw is None:
            record = wire.encode(event.record, {"delivery_tasks": "DeliveryTask", "shipment_status": "ShipmentStatus",
                                                "vehicle_positions": "VehiclePosition",
                                                "capacity_offers": "CapacityOffer"}[event.stream])
        if event.stream == "capacity_offers" and event.malformed is None:
            self.offers.append((event.stream, event.partner_id, record, 0))
        else:
            self.records.append((event.stream, event.partner_id, record, 0))
        return event.partner_id

    def close(self):
        pass


def _city(events: int):
    """A simulated city's feed with duplicates and malformed records, delayed less than the
    watermarks' out-of-orderness: which record is late would depend on how fast each source
    is read, which differs run to run (the graph tests cover late records)."""
    sink = _Records()
    simulate(SimConfig(partners=3, tasks_per_day=600, seed=11), MessConfig(late_share=0.0, max_delay_s=30.0), sink,
             events=events, progress=False)
    first = min(r[2]["event_time"] for r in sink.records if isinstance(r[2], dict))
    return [(*offer, first) for offer in sink.offers] + sink.records


def _comparable(rows, kafka):
    tables = collections.defaultdict(list)
    for table, row in rows:
        row = list(row)
        if table in WALL_CLOCK:
            row[WALL_CLOCK[table]] = None
        tables[table].append(tuple(row))
    messages = []
    for targets, key, value in kafka:
        record, _ = wire.decode(value)
        if "received_at" in record:
            record["received_at"] = None
        messages.append((tuple(sorted(targets)), key, tuple(sorted(record.items()))))
    return {t: sorted(r, key=repr) for t, r in tables.items()}, sorted(messages, key=repr)


def test_the_jvm_stages_give_what_the_python_reference_gives():
    records = _city(12_000)
    with tempfile.TemporaryDirectory() as home:
        # parallelism 1: every operator sees a partition's records in order, as from Kafka
        python = _comparable(*run_graph(pathlib.Path(home) / "py", records, operators="python", parallelism=1))
        jvm = _comparable(*run_graph(pathlib.Path(home) / "jvm", records, operators="jvm", parallelism=1))
    tables_py, messages_py = python
    tables_jvm, messages_jvm = jvm
    assert set(tables_jvm) == set(tables_py)
    for table in tables_py:
        assert tables_jvm[table] == tables_py[table], table
    assert messages_jvm == messages_py
    # the city exercises every stage
    assert {"colocations", "eta_predictions", "consolidation_proposals", "dead_letters"} <= set(tables_py)
