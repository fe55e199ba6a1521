"""The smoke job's graph on the MiniCluster at parallelism 2, with a small bounded source (no services)."""
import time

import h3
from pyflink.common import Row, Types
from samples import valid

from jobs import smoke
from lastmile.config import Config
from lastmile.run import stream_env
from udfs.contracts import wire


def test_build_decodes_positions_and_routes_bad_records_to_dead_letters(tmp_path):
    config = Config.from_env({}, home=tmp_path, parallelism=2)
    env = stream_env(config)
    topic = "partners.graph-test.vehicle_positions"
    now = int(time.time() * 1000)
    good = [valid("vehicle_positions", partner="graph-test", now_ms=now, vehicle_id=f"v{i}", lat=53.55 + i / 1000,
                  lng=9.99) for i in range(40)]
    # The Kafka source hands payloads over as latin-1 strings (see jobs.runtime.kafka_raw_source).
    raw = [Row(wire.encode(r, "VehiclePosition").decode("latin-1"), topic, i % 2, i) for i, r in enumerate(good)]
    raw.append(Row("{broken", topic, 0, 999))
    raw.append(Row(wire.encode({**good[0], "partner_id": "intruder"}, "VehiclePosition").decode("latin-1"),
                   topic, 1, 1000))
    source = env.from_collection(raw, type_info=Types.ROW([Types.STRING(), Types.STRING(), Types.INT(),
                                                           Types.LONG()]))

    captured = {}
    smoke.build(env, {"vehicle_positions": source}, {"outputs": lambda s: captured.setdefault("out", s)}, config.job_settings())
    out = [row for outputs in captured["out"].execute_and_collect() for row in outputs.rows]

    positions = {row[0]: row for table, row in out if table == "vehicle_positions"}
    dead = sorted((row[5], row[2]) for table, row in out if table == "dead_letters")
    assert set(positions) == {r["event_id"] for r in good}
    for record in good:
        assert positions[record["event_id"]][5] == h3.str_to_int(h3.latlng_to_cell(record["lat"], record["lng"], 10))
    assert dead == [("not_single_object", f"{topic}/0/999"), ("partner_mismatch", f"{topic}/1/1000")]
