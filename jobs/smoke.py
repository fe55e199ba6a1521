"""Smoke job: a partner topic -> PyFlink (thread mode) -> ClickHouse.

It proves the wiring every later job relies on: the Flink Kafka connector jar,
the Python worker set-up, a Python function with a dead-letter side output, and
the batched ClickHouse writer. Every partner's ``vehicle_positions`` records
(Avro, validated with the contract) become ``vehicle_positions`` rows with their
H3 cell instead of raw coordinates.

    lastmile smoke     # runs it (lastmile/smoke.py)
"""
from __future__ import annotations

from jobs.settings import JobSettings
from udfs.contracts import topics
from udfs.records import DEAD_LETTER_COLUMNS
from udfs.smoke import POSITION_COLUMNS

COLUMNS = {"vehicle_positions": POSITION_COLUMNS, "dead_letters": DEAD_LETTER_COLUMNS}


def build(env, sources: dict, sinks: dict, settings: JobSettings):
    """Wire the graph. ``sources["vehicle_positions"]`` yields ``Row(payload, topic, partition, offset)``;
    ``sinks["outputs"]`` takes a stream of :class:`udfs.records.Outputs`."""
    from pyflink.common import Types

    from udfs.flink.smoke_functions import DecodePositions

    decoded = (sources["vehicle_positions"]
               .process(DecodePositions(), output_type=Types.PICKLED_BYTE_ARRAY())
               .name("decode-positions").uid("decode-positions"))
    return sinks["outputs"](decoded)


SOURCES = {"vehicle_positions": topics.stream_pattern("vehicle_positions")}


def kafka_sources(env, settings: JobSettings, bounded: bool, empty: frozenset[str] = frozenset()) -> dict:
    """``empty``: the :data:`SOURCES` without a topic yet (see jobs.coordination.kafka_sources)."""
    from jobs.runtime import kafka_raw_source, table_env

    t_env = table_env(env)
    return {"vehicle_positions": kafka_raw_source(
        t_env, settings, "smoke_positions", SOURCES["vehicle_positions"], "lastmile-smoke", bounded,
        "vehicle_positions" in empty)}


def production_sinks(settings: JobSettings, columns: dict) -> dict:
    """``columns``: :data:`COLUMNS` with their ClickHouse types (lastmile.run.clickhouse_columns)."""
    from jobs.runtime import outputs_sink

    return {"outputs": outputs_sink(settings, columns)}
