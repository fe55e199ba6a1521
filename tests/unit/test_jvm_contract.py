"""The JVM contract (udfs/jvm) against the Python reference (udfs.contracts.intake.from_wire).

The JVM side may only *accept*: whatever it accepts, the reference accepts with the same
values; whatever it refuses goes to the reference, which decides. So the property held
here is "JVM accepts => Python accepts, same fields, same H3 cell", over valid records of
every type and version, every rule broken, and hostile bytes; and the JVM must accept
the valid ones (else it would be a slow path in disguise).
Runs the jar's ``Check`` entry point (a JVM, no Flink): needs Java, and Maven the first time.
"""
from __future__ import annotations

import random
import subprocess

import pytest

from lastmile.config import Config
from lastmile.stack import jars
from samples import HOUR, NOW, valid
from test_rules import BROKEN
from udfs.contracts import STREAM_RECORDS, wire
from udfs.contracts.errors import ContractViolation
from udfs.contracts.intake import from_wire
from udfs.contracts.schemas import default_registry
from udfs.h3cells import cell

PARTNER = "acme"


def _topic(stream: str, partner: str = PARTNER) -> str:
    return f"partners.{partner}.{stream}"


@pytest.fixture(scope="module")
def jvm_check():
    jar = jars.udf_jar(Config.from_env())

    def check(cases: list[tuple[bytes, str, str]]) -> list[dict | None]:
        lines = "".join(f"{payload.hex() or '00'} {topic} {STREAM_RECORDS[stream]} {NOW}\n"
                        for payload, topic, stream in cases)
        out = subprocess.run(["java", "-cp", str(jar), "io.lastmile.udfs.Check"], input=lines, text=True,
                             capture_output=True, check=True).stdout.splitlines()
        assert len(out) == len(cases)
        results = []
        for line in out:
            if line == "refused":
                results.append(None)
            else:
                results.append(dict(field.split("=", 1) for field in line.split("\t")[1:]))
        return results

    return check


def _python(payload: bytes, topic: str, stream: str) -> dict | None:
    try:
        record, _ = from_wire(payload, stream, topic.split(".")[1], NOW)
    except ContractViolation:
        return None
    return record


def _same(java: dict, record: dict) -> bool:
    for name, value in record.items():
        text = java.get(name, "None")
        if value is None:
            if text != "None":
                return False
        elif isinstance(value, float):
            if float(text) != value:
                return False
        elif str(value) != text:
            return False
    return True


def _assert_agree(jvm_check, cases):
    verdicts = jvm_check(cases)
    accepted = 0
    for (payload, topic, stream), java in zip(cases, verdicts):
        reference = _python(payload, topic, stream)
        if java is None:
            continue
        accepted += 1
        assert reference is not None, f"the JVM accepted what the reference refuses: {stream} {payload[:40]!r}"
        assert _same(java, reference), (java, reference)
        if stream == "vehicle_positions":
            assert int(java["h3_cell"]) == cell(reference["lat"], reference["lng"])
    return verdicts, accepted


def _valid_cases(rng: random.Random, n: int):
    cases = []
    registry = default_registry()
    for i in range(n):
        stream = list(STREAM_RECORDS)[i % 4]
        record = valid(stream, PARTNER)
        for key in ("lat", "dest_lat", "depot_lat"):
            if key in record:
                record[key] = rng.uniform(-89.9, 89.9)
        for key in ("lng", "dest_lng", "depot_lng"):
            if key in record:
                record[key] = rng.uniform(-179.9, 179.9)
        if stream == "vehicle_positions" and i % 3 == 0:
            record.update(speed_mps=None, load_volume_l=None)
        name = STREAM_RECORDS[stream]
        version = rng.choice([v.version for v in registry.versions(name)])
        if version < registry.latest(name).version:
            written = {f["name"]: record.get(f["name"]) for f in registry.get(name, version).fields}
        else:
            written = record
        cases.append((wire.encode(written, name, version), _topic(stream), stream))
    return cases


def test_jvm_accepts_valid_records_of_every_type_and_version_like_the_reference(jvm_check):
    cases = _valid_cases(random.Random(3), 400)
    verdicts, accepted = _assert_agree(jvm_check, cases)
    assert accepted == len(cases), [c[2] for c, v in zip(cases, verdicts) if v is None][:5]


def test_jvm_refuses_every_broken_rule(jvm_check):
    cases = []
    for stream, change, _reason in BROKEN:
        record = valid(stream, PARTNER, **change)
        try:
            cases.append((wire.encode(record, STREAM_RECORDS[stream]), _topic(stream), stream))
        except ContractViolation:
            continue  # not even encodable
    future = valid("vehicle_positions", PARTNER, event_time=NOW + 6 * 60_000)
    cases.append((wire.encode(future, "VehiclePosition"), _topic("vehicle_positions"), "vehicle_positions"))
    spoofed = valid("vehicle_positions", PARTNER)
    cases.append((wire.encode(spoofed, "VehiclePosition"), _topic("vehicle_positions", "rival"), "vehicle_positions"))
    verdicts, accepted = _assert_agree(jvm_check, cases)
    assert accepted == 0
    assert all(_python(*c) is None for c in cases)


def test_jvm_never_accepts_hostile_bytes_the_reference_refuses(jvm_check):
    rng = random.Random(11)
    good = _valid_cases(rng, 40)
    cases = []
    for payload, topic, stream in good:
        cases.append((payload[:-1], topic, stream))  # truncated
        cases.append((payload + b"\x00", topic, stream))  # trailing byte
        cases.append((payload[:2] + bytes(8) + payload[10:], topic, stream))  # unknown fingerprint
        cases.append((b"\xc3\x02" + payload[2:], topic, stream))  # wrong magic
        flipped = bytearray(payload)
        for _ in range(3):
            flipped[rng.randrange(10, len(flipped))] = rng.randrange(256)
        cases.append((bytes(flipped), topic, stream))  # random corruption
        other = next(s for s in STREAM_RECORDS if s != stream)
        cases.append((payload, _topic(other), other))  # a record of another type
    # a string with invalid UTF-8; an over-long (non-canonical) varint for the last union index
    position = valid("vehicle_positions", PARTNER, vehicle_id="van-\u00e9", capacity_volume_l=None)
    raw = wire.encode(position, "VehiclePosition")
    assert raw.endswith(b"\x00")
    cases.append((raw.replace("van-\u00e9".encode(), b"van-\xc3\x28"), _topic("vehicle_positions"),
                  "vehicle_positions"))
    cases.append((raw[:-1] + b"\x80\x00", _topic("vehicle_positions"), "vehicle_positions"))
    cases.append((b"", _topic("vehicle_positions"), "vehicle_positions"))
    verdicts, accepted = _assert_agree(jvm_check, cases)
    refused_by_reference = sum(_python(*c) is None for c in cases)
    assert refused_by_reference > len(cases) // 2  # the cases are hostile indeed
    assert verdicts[-2] is None  # decodable, but not canonical: the reference decides


def test_a_rule_without_a_jvm_check_fails_the_export_check():
    from udfs.contracts import jvm_export, rules

    codes = {code for codes in jvm_export.contract_spec()["rules"]["by_record"].values() for code in codes}
    assert codes == {rule.code for rule in rules.RULES}
    java = (jars.UDF_SOURCES / "src/main/java/io/lastmile/udfs/Contract.java").read_text()
    missing = [code for code in codes if f'"{code}"' not in java]
    assert not missing, f"rules without a JVM check: {missing}"


def test_decode_event_row_has_every_field_of_the_current_schemas_in_order():
    import re

    from udfs.contracts.jvm_export import decoded_fields

    java = (jars.UDF_SOURCES / "src/main/java/io/lastmile/udfs/DecodeEvent.java").read_text()
    fields_block = java[java.index("FIELDS = {"):java.index("};", java.index("FIELDS = {"))]
    assert tuple(re.findall(r'"(\w+)"', fields_block)) == decoded_fields()
    row = java[java.index('ROW = "'):java.index(">\";", java.index('ROW = "'))]
    columns = re.findall(r"(\w+) (?:STRING|BIGINT|DOUBLE|INT|BOOLEAN)", row.replace('"', "").replace("+", ""))
    assert tuple(columns[4:]) == decoded_fields()
