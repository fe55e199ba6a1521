import struct

import fastavro
import pytest

from udfs.contracts.fingerprint import crc64_avro, header_bytes
from udfs.contracts.schemas import default_registry

# CRC-64-AVRO test vectors of the Avro specification's schema fingerprints
# (share/test/data/schema-tests.txt), as Java signed longs.
SPEC_VECTORS = {
    '"null"': 7195948357588979594,
    '"boolean"': -6970731678124411036,
    '"int"': 8247732601305521295,
    '"long"': -3434872931120570953,
    '"float"': 5583340709985441680,
    '"double"': -8181574048448539266,
    '"bytes"': 5746618253357095269,
    '"string"': -8142146995180207161,
}


@pytest.mark.parametrize("canonical, expected", SPEC_VECTORS.items())
def test_crc64_avro_matches_the_specification_vectors(canonical, expected):
    assert struct.unpack("<q", header_bytes(crc64_avro(canonical.encode())))[0] == expected


def test_header_fingerprint_agrees_with_fastavro_for_every_schema():
    for name in default_registry().names():
        for version in default_registry().versions(name):
            canonical = fastavro.schema.to_parsing_canonical_form(fastavro.parse_schema(version.schema))
            assert version.fingerprint.hex() == fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")
