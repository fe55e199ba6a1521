"""FULL_TRANSITIVE compatibility: every version reads every other version's data.

Samples are drawn from each writer schema and decoded with each reader schema
(older and newer alike), through real Avro schema resolution.
"""
import io
import itertools

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import for_schema

from udfs.contracts.schemas import default_registry

REGISTRY = default_registry()
PAIRS = [(name, w.version, r.version) for name in REGISTRY.names()
         for w, r in itertools.product(REGISTRY.versions(name), repeat=2)]


@pytest.mark.parametrize("name, writer_version, reader_version", PAIRS)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_every_version_reads_every_other_versions_data(name, writer_version, reader_version, data):
    writer, reader = REGISTRY.get(name, writer_version), REGISTRY.get(name, reader_version)
    record = data.draw(for_schema(writer.schema))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, writer.parsed, record)
    buffer.seek(0)
    decoded = fastavro.schemaless_reader(buffer, writer.parsed, reader.parsed)
    writer_fields = {f["name"] for f in writer.fields}
    for field in reader.fields:
        expected = record[field["name"]] if field["name"] in writer_fields else field["default"]
        assert decoded[field["name"]] == expected
    assert set(decoded) == {f["name"] for f in reader.fields}


def test_at_least_one_schema_has_evolved():
    assert any(len(REGISTRY.versions(n)) > 1 for n in REGISTRY.names())


@pytest.mark.parametrize("name", REGISTRY.names())
def test_fields_added_or_removed_across_versions_have_defaults(name):
    versions = REGISTRY.versions(name)
    every = {f["name"] for v in versions for f in v.fields}
    in_all = set.intersection(*({f["name"] for f in v.fields} for v in versions))
    for version in versions:
        for field in version.fields:
            if field["name"] in every - in_all:
                assert "default" in field, f"{name} v{version.version}.{field['name']} needs a default"


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_field_is_documented_and_typed_logically(name):
    for version in REGISTRY.versions(name):
        assert version.schema.get("doc")
        for field in version.fields:
            assert field.get("doc"), f"{name} v{version.version}.{field['name']} has no doc"
            if field["name"] == "event_id":
                assert field["type"] == {"type": "string", "logicalType": "uuid"}
            if field["name"].endswith(("_time", "_at", "window_start", "window_end", "available_from",
                                       "available_to", "overlap_start", "overlap_end")) or field["name"] == "eta":
                assert field["type"] == {"type": "long", "logicalType": "timestamp-millis"}, field["name"]
