"""The JVM contract (udfs/jvm) against the Python reference (udfs.contracts.intake.from_wire).

Two paths on the JVM. ``Contract.Reader.accept``, the fast path, may only *accept*: whatever
it accepts, the reference accepts with the same values ("JVM accepts => Python accepts, same
fields, same H3 cell"), and it must accept the valid records (else it would be a slow path in
disguise). ``Contract.Reader.decide`` decides every record as the reference does: accepted
with the same values, or refused at the same stage for the same reason with the same message
(for ``undecodable`` the reference's text is fastavro's, so only its ``"<name> v<version>: "``
prefix is held, except for trailing bytes). Both over valid records of every type and version,
every rule broken in many ways, topics, and hostile bytes; the Python formatting the messages
need (repr, str.isprintable, str.isspace, ``:.1f``, int / int) and the Avro reading fastavro
does (``FastavroReader``) are held to Python on their own as well.
Runs the jar's ``Check`` entry point (a JVM, no Flink): needs Java, and Maven the first time.
"""

from __future__ import annotations

import io
import json
import math
import random
import re
import struct
import subprocess
from collections import Counter

import fastavro
import pytest
from samples import HOUR, NOW, valid
from test_rules import BROKEN

from lastmile.config import Config
from lastmile.stack import jars
from udfs.contracts import STREAM_RECORDS, rules, wire
from udfs.contracts.errors import ContractViolation
from udfs.contracts.intake import from_wire
from udfs.contracts.limits import MAX_RECORD_BYTES, MAX_STRING_CHARS
from udfs.contracts.schemas import default_registry
from udfs.contracts.topics import partner_of_topic
from udfs.h3cells import cell

PARTNER = "acme"


def _topic(stream: str, partner: str = PARTNER) -> str:
    return f"partners.{partner}.{stream}"


@pytest.fixture(scope="module")
def jar():
    return jars.udf_jar(Config.from_env())


def _run(jar, mode: str, lines: list[str]) -> list[str]:
    """Check's output lines for ``lines`` in ``mode``, one per line (UTF-8 both ways)."""
    command = ["java", "-cp", str(jar), "io.lastmile.udfs.Check", mode]
    done = subprocess.run(command, input="".join(line + "\n" for line in lines).encode(), capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    out = done.stdout.decode()
    assert out.endswith("\n") or not lines
    out_lines = out.split("\n")[:-1]  # not splitlines(): a message may hold U+2028 and the like
    assert len(out_lines) == len(lines)
    return out_lines


@pytest.fixture(scope="module")
def jvm_check(jar):

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


def test_the_accepted_row_has_every_field_of_the_current_schemas_in_order():
    import re

    from udfs.contracts.jvm_export import decoded_field_types, decoded_fields

    java = (jars.UDF_SOURCES / "src/main/java/io/lastmile/udfs/DecodeRecords.java").read_text()
    fields_block = java[java.index("FIELDS = {"):java.index("};", java.index("FIELDS = {"))]
    assert tuple(re.findall(r'"(\w+)"', fields_block)) == decoded_fields()
    types_block = java[java.index("FIELD_TYPES = {"):java.index("};", java.index("FIELD_TYPES = {"))]
    flink = {"STRING": "STRING", "LONG": "BIGINT", "DOUBLE": "DOUBLE", "INT": "INT", "BOOLEAN": "BOOLEAN"}
    assert tuple(flink[t] for t in re.findall(r"Types\.(\w+)", types_block)) == decoded_field_types()


# --- decide(): the reference's decision for every record -------------------------------------

_TRAILING = re.compile(r"^\d+ bytes after the end of the record$")
_UNDECODABLE_PREFIX = re.compile(r"^\w+ v\d+: ")


@pytest.fixture(scope="module")
def jvm_decide(jar):
    """Contract.Reader.decide on ``(payload, topic, stream[, now_ms])`` cases, through Check: per
    case ``("accepted", {field: repr}, fast)`` or ``("refused", stage, reason, message, fast)``,
    ``fast`` telling what accept() did with the same input."""

    def decide(cases) -> list[tuple]:
        lines = [f"{c[0].hex()} {c[1].encode().hex()} {STREAM_RECORDS[c[2]]} {c[3] if len(c) > 3 else NOW}"
                 for c in cases]
        decisions = []
        for line in _run(jar, "decide", lines):
            columns = line.split("\t")
            *columns, fast = columns
            if columns[0] == "accepted":
                decisions.append(("accepted", dict(c.split("=", 1) for c in columns[1:]), fast))
            else:
                assert columns[0] == "refused" and len(columns) == 4, line
                decisions.append((*columns, fast))
        return decisions

    return decide


def _reference(payload: bytes, topic: str, stream: str, now_ms: int = NOW) -> tuple:
    try:
        record, _ = from_wire(payload, stream, partner_of_topic(topic), now_ms)
    except ContractViolation as violation:
        return "refused", violation.stage, violation.reason, violation.message
    return "accepted", {name: repr(value) for name, value in record.items()}


def _disagreement(python: tuple, java: tuple) -> str | None:
    """What differs between the reference's decision and the JVM's, None when they agree."""
    if java[-1] not in ("fast:same", "fast:refused"):
        return "accept() accepted with other values than decide()"
    if java[-1] == "fast:same" and python[0] != "accepted":
        return "accept() accepted what the reference refuses"
    if python[0] != java[0]:
        return "verdict"
    if python[0] == "accepted":
        return None if python[1] == java[1] else "values"
    if python[1:3] != java[1:3]:
        return "stage or reason"
    if python[2] == "undecodable" and not _TRAILING.match(python[3]):
        prefix = _UNDECODABLE_PREFIX.match(python[3]).group(0)
        return None if java[3].startswith(prefix) and len(java[3]) > len(prefix) + 10 else "undecodable message"
    return None if python[3] == java[3] else "message"


def _assert_decides_like_the_reference(jvm_decide, cases) -> list[tuple]:
    """Every case decided alike; the reference's decisions."""
    java = jvm_decide(cases)
    python = [_reference(*case) for case in cases]
    wrong = [(what, case[0].hex(), case[1:], p, j) for case, p, j in zip(cases, python, java)
             if (what := _disagreement(p, j))]
    assert not wrong, f"{len(wrong)} of {len(cases)} decided otherwise, e.g.\n" + "\n".join(map(repr, wrong[:8]))
    return python


def _reasons(decisions) -> Counter:
    return Counter(d[2] if d[0] == "refused" else "accepted" for d in decisions)


# An Avro writer with knobs, for bytes wire.encode never writes (checked against it below).

def _varint(n: int, extra: int = 0) -> bytes:
    """The zig-zag varint of ``n`` (any 64-bit value), with ``extra`` more groups of zero bits:
    an over-long, non-canonical form that reads as the same number."""
    u = ((n << 1) ^ (n >> 63)) & (2**64 - 1)
    groups = []
    while True:
        groups.append(u & 0x7F)
        u >>= 7
        if not u:
            break
    groups += [0] * extra
    return bytes(g | 0x80 for g in groups[:-1]) + bytes([groups[-1]])


def _encode(avro_type, value, extra: int = 0) -> bytes:
    if isinstance(avro_type, list):  # ["null", X]: index 0 for None, else the other branch
        index = 0 if value is None else next(i for i, t in enumerate(avro_type) if t != "null")
        return _varint(index, extra) + (b"" if value is None else _encode(avro_type[index], value, extra))
    if isinstance(avro_type, dict):
        avro_type = avro_type["type"]
    if avro_type == "string":
        data = value.encode()
        return _varint(len(data), extra) + data
    if avro_type in ("int", "long"):
        return _varint(value, extra)
    if avro_type == "double":
        return struct.pack("<d", value)
    raise AssertionError(avro_type)


def _body(name: str, version: int, record: dict, extra: int = 0, **raw: bytes) -> bytes:
    """Single-object bytes of ``record`` written with ``name`` v``version``, each varint with
    ``extra`` zero groups, and the fields in ``raw`` replaced by the bytes given."""
    schema = default_registry().get(name, version)
    out = wire.MAGIC + schema.fingerprint
    for f in schema.fields:
        out += raw[f["name"]] if f["name"] in raw else _encode(f["type"], record[f["name"]], extra)
    return out


def _versions():
    """(stream, version, valid record of that version) for every partner record version."""
    registry = default_registry()
    for stream, name in STREAM_RECORDS.items():
        for v in registry.versions(name):
            record = valid(stream, PARTNER)
            yield stream, v.version, {f["name"]: record.get(f["name"]) for f in v.fields}


def test_the_test_writer_writes_what_wire_encode_writes():
    for stream, version, record in _versions():
        name = STREAM_RECORDS[stream]
        assert _body(name, version, record) == wire.encode(record, name, version)
        assert wire.decode(_body(name, version, record, extra=3), name)[0] == wire.decode(
            _body(name, version, record), name)[0]


def _branch(avro_type) -> str:
    if isinstance(avro_type, list):
        return next(t for t in avro_type if t != "null")
    return avro_type["type"] if isinstance(avro_type, dict) else avro_type


def _odd_fields(avro_type, value) -> list[bytes]:
    """Bytes for one field that Avro's reader may or may not take, each to be judged the same way
    by the fast path's decoder and by decode-then-encode-again: over-long and overflowing varints,
    union indexes out of range, lengths beyond the record, numbers that are not finite."""
    union = isinstance(avro_type, list)
    kind = _branch(avro_type)
    prefix = _varint(1) if union else b""
    odd = [_encode(avro_type, value, extra=1), _encode(avro_type, value, extra=5)]
    if union:
        odd += [_varint(2), _varint(-1), b"\x80\x00", b"\x80\x80\x80\x80\x80\x00", b"\x00\x00"]
    if kind == "long":
        odd += [prefix + b"\xff" * 9 + b"\x01", prefix + b"\xfe" + b"\xff" * 8 + b"\x01",
                prefix + b"\xff" * 9 + b"\x03", prefix + b"\xff" * 9 + b"\x7f", prefix + b"\xff" * 10 + b"\x01",
                prefix + b"\x80" * 9 + b"\x01"]
    if kind == "int":
        odd += [prefix + b"\xff\xff\xff\xff\x0f", prefix + b"\xfe\xff\xff\xff\x0f",
                prefix + b"\xff\xff\xff\xff\x1f", prefix + b"\xff\xff\xff\xff\x7f",
                prefix + b"\xff\xff\xff\xff\xff\x01", prefix + b"\x80\x80\x80\x80\x01"]
    if kind == "string":
        odd += [prefix + _varint(-1) + b"x", prefix + _varint(10_000) + b"abc", prefix + _varint(2) + b"\xc3\x28",
                prefix + _varint(3) + b"\xed\xa0\x80", prefix + _varint(2) + "\u00e9".encode(),
                prefix + _varint(0), prefix + _varint(4) + b"a\x00b\x7f"]
    if kind == "double":
        odd += [prefix + struct.pack("<d", x) for x in (math.nan, math.inf, -math.inf, -0.0, 5e-324)]
        odd += [prefix + bytes.fromhex("010000000000f87f"), prefix + b"\x00" * 7]
    return odd


def test_the_fast_path_decoder_takes_what_decoding_and_encoding_again_took(jar):
    """``CanonicalDecoder`` (the fast path's reader) against what it replaced: Avro's generic
    reader, the record encoded again and compared with the bytes, strict UTF-8 text (and finite
    floats, where it is stricter on purpose). Both must take and refuse the same bytes, with the
    same values, whatever the bytes: valid records of every version, each field made odd in the
    ways above, and random corruption."""
    rng = random.Random(5)
    payloads, valid_ones = [], 0
    for stream, version, record in _versions():
        name = STREAM_RECORDS[stream]
        schema = default_registry().get(name, version)
        base = _body(name, version, record)
        payloads += [base, _body(name, version, record, extra=1), base + b"\x00", base[:-1]]
        valid_ones += 1
        for f in schema.fields:
            if _branch(f["type"]) in ("int", "long", "string", "double") and isinstance(f["type"], list):
                payloads.append(_body(name, version, record, **{f["name"]: _varint(0)}))  # null
            for raw in _odd_fields(f["type"], record[f["name"]] if record[f["name"]] is not None else
                                   {"int": 3, "long": 7, "string": "x", "double": 1.5}[_branch(f["type"])]):
                payloads.append(_body(name, version, record, **{f["name"]: raw}))
        for _ in range(60):
            body = bytearray(base)
            for _ in range(rng.randint(1, 3)):
                body[rng.randrange(10, len(body))] = rng.randrange(256)
            payloads.append(bytes(body)[:rng.choice([len(body), len(body), rng.randrange(10, len(body) + 1)])])
    out = _run(jar, "canonical", [p.hex() for p in payloads])
    different = [(p.hex(), line) for p, line in zip(payloads, out) if not line.startswith("same\t")]
    assert not different, different[:5]
    verdicts = Counter(line.split("\t")[1] for line in out)
    assert verdicts["accepted"] >= valid_ones and verdicts["refused"] > len(payloads) // 3, verdicts


def test_decide_accepts_valid_records_of_every_type_and_version_like_the_reference(jvm_decide):
    cases = _valid_cases(random.Random(5), 400)
    decisions = _assert_decides_like_the_reference(jvm_decide, cases)
    assert _reasons(decisions) == {"accepted": len(cases)}
    assert all(j[-1] == "fast:same" for j in jvm_decide(cases))  # and accept() takes them all


_UUID = "0b6c1f1e-8d5e-4a57-9a39-3c5b2b0c9f0a"
_AWKWARD = ["", " ", "it's", 'say "hi"', "both ' and \"", "back\\slash", "tab\there", "new\nline", "cr\r",
            "nul\x00", "del\x7f", "nel\x85", "nbsp\xa0", "soft\xadhyphen", "ls\u2028ps\u2029", "bom\ufeff",
            "é", "Ünïcödé", "日本語", "emoji😀", "\U0001F600" * 70, "private\ue000", "unassigned\U000e0000",
            "\u0378", "\u0870 new in Unicode 14", "\U0001faf0", "\U0001faf8", "x" * 80, "ab" * 32 + "\n"]
_SPACES = [chr(c) for c in range(0x110000) if chr(c).isspace()]
_NEAR_SPACES = ["\u200b", "\u180e", "\ufeff", "\u2060", "\x00", "\x1b", "\u3164", "\u115f"]


def _rule_cases(rng: random.Random):
    """(stream, changes) that break a rule, or sit at its edge, in many ways."""
    day = 24 * HOUR
    yield from ((stream, change) for stream, change, _ in BROKEN)
    for text in _AWKWARD + [_UUID + "\n", _UUID + "\n\n", _UUID + " ", _UUID.upper(), " " + _UUID]:
        yield "vehicle_positions", {"event_id": text}
        yield "delivery_tasks", {"partner_id": text}
        yield "shipment_status", {"status": text}
        yield "delivery_tasks", {"recipient_key": text}
        yield "capacity_offers", {"vehicle_id": text}
    for partner in ["ACME", "a", "a" * 33, "a" * 32, "acme\n", "acme\n\n", "acme\r", "-acme", "ac me", "ácme",
                    "rival", "x" * 50, "acme-", "0acme"]:
        yield "shipment_status", {"partner_id": partner}
    for status in rules.STATUSES:
        yield "shipment_status", {"status": status}
        yield "shipment_status", {"status": status + "\n"}
        yield "shipment_status", {"status": status.lower()}
    for key in ["AB" * 32, "ab" * 31, "ab" * 33, "ab" * 32 + "\n", "ab" * 32 + "\n\n", "g" * 64, None]:
        yield "delivery_tasks", {"recipient_key": key}
    for blank in _SPACES + [s * 3 for s in _SPACES[::4]] + _NEAR_SPACES + [" x ", "\u3000S\u3000"]:
        yield "delivery_tasks", {"shipment_id": blank}
        yield "shipment_status", {"vehicle_id": blank}
        yield "vehicle_positions", {"vehicle_id": blank}
    yield "shipment_status", {"shipment_id": "", "vehicle_id": None}
    yield "shipment_status", {"shipment_id": "S-1", "vehicle_id": " "}
    nan, inf = math.nan, math.inf
    negative_nan = struct.unpack("<d", struct.pack("<Q", 0xFFF8000000000001))[0]
    for bad in [nan, inf, -inf, negative_nan]:
        yield "delivery_tasks", {"weight_kg": bad}
        yield "delivery_tasks", {"volume_l": bad, "dest_lng": bad}  # the first in the record's order
        yield "vehicle_positions", {"capacity_volume_l": bad, "lat": 0.0}
        yield "capacity_offers", {"depot_lat": bad, "spare_volume_l": -1.0}
        yield "shipment_status", {"lat": None, "lng": bad}
    for lat, lng in [(None, 1.0), (1.0, None), (None, None), (90.0, 180.0), (-90.0, -180.0), (90.000001, 0.0),
                     (0.0, 180.00000000000003), (-0.0, 200.0), (1e16, 1e300), (-1e-300, -181.0), (5e-324, 0.0),
                     (0.0, 0.0), (-0.0, 0.0), (-0.0, -0.0), (0.0, 5e-324), (123456789.125, 0.1 + 0.2),
                     (2.0**53, -(2.0**63)), (1 / 3, 190.0)]:
        yield "shipment_status", {"lat": lat, "lng": lng}
        if lat is not None and lng is not None:
            yield "delivery_tasks", {"dest_lat": lat, "dest_lng": lng}
            yield "vehicle_positions", {"lat": lat, "lng": lng}
            yield "capacity_offers", {"depot_lat": lat, "depot_lng": lng}
    for _ in range(40):  # awkward doubles for the messages: random bits, wide exponents
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        yield "delivery_tasks", {"dest_lat": x, "dest_lng": rng.uniform(-1e3, 1e3)}
        yield "vehicle_positions", {"speed_mps": -abs(x) if x == x else x}
    for q in [-1.0, -0.0, -5e-324, -1e16, -1e-7, -123.456, -(2.0**70), 0.0]:
        yield "delivery_tasks", {"volume_l": q}
        yield "vehicle_positions", {"load_volume_l": q}
        yield "capacity_offers", {"spare_volume_l": q}
    for n in [-1, 0, -(2**31), 2**31 - 1, 1]:
        yield "shipment_status", {"stop_sequence": n}
        yield "capacity_offers", {"spare_stops": n}
        yield "delivery_tasks", {"parcel_count": n}
    for t in [NOW // 1000, 0, -1, rules.MIN_TS_MS - 1, rules.MIN_TS_MS, rules.MAX_TS_MS - 1, rules.MAX_TS_MS,
              2**62, -(2**63), 2**63 - 1]:
        yield "vehicle_positions", {"event_time": t}
        yield "delivery_tasks", {"window_start": t}
        yield "delivery_tasks", {"window_end": t}
        yield "capacity_offers", {"available_from": t}
        yield "capacity_offers", {"available_to": t}
    for start, length in [(NOW, 0), (NOW, -1), (NOW, -day), (NOW, day), (NOW, day + 1), (NOW, int(25.25 * HOUR)),
                          (NOW, int(25.35 * HOUR)), (NOW, 1000 * day), (NOW, 90_180_000), (NOW, day + 180_000),
                          (rules.MIN_TS_MS, rules.MAX_TS_MS - rules.MIN_TS_MS - 1), (NOW, 36 * HOUR + 3 * 60_000)]:
        yield "delivery_tasks", {"window_start": start, "window_end": start + length}
        yield "capacity_offers", {"available_from": start, "available_to": start + length}
    for ahead in [30 * day, 30 * day + 1, 30 * day + 50_000, 31 * day, 1000 * day, 2**40, rules.MAX_TS_MS - 1 - NOW]:
        yield "delivery_tasks", {"event_time": NOW, "window_start": NOW + ahead, "window_end": NOW + ahead + HOUR}
    limit = MAX_STRING_CHARS
    for text in ["x" * limit, "x" * (limit + 1), "\u00e9" * limit, "\u00e9" * (limit + 1), "\U0001f69a" * limit,
                 "\U0001f69a" * (limit + 1), "\U0001f69a" * (limit // 2 + 1), "a\U0001f69a" * (limit // 2) + "b",
                 " " * (limit + 5), "y" * (4 * limit)]:  # code points, not bytes nor UTF-16 units
        yield "delivery_tasks", {"shipment_id": text}
        yield "delivery_tasks", {"retailer_id": text, "dest_lat": float("nan")}  # the first rule broken counts
        yield "shipment_status", {"reason": text, "status": "LOST"}
        yield "vehicle_positions", {"vehicle_id": text}
        yield "capacity_offers", {"vehicle_id": text}
    for ahead in [0, 5 * 60_000, 5 * 60_000 + 1, 315_000, 321_000, 327_000, HOUR, 7 * 60_000 + 3_000,
                  rules.MAX_TS_MS - 1 - NOW, 10 * 60_000 + 15_000]:
        for stream in ("delivery_tasks", "shipment_status", "vehicle_positions"):
            yield stream, {"event_time": NOW + ahead, "window_start": NOW + ahead + HOUR,
                           "window_end": NOW + ahead + 2 * HOUR}


def _encodable(stream: str, changes: dict, version: int | None = None):
    record = valid(stream, PARTNER, **changes)
    name = STREAM_RECORDS[stream]
    if stream != "delivery_tasks":
        record = {k: v for k, v in record.items() if k not in ("window_start", "window_end")}
    try:
        return wire.encode(record, name, version)
    except ContractViolation:
        return None


def test_decide_refuses_every_broken_rule_like_the_reference(jvm_decide):
    cases = [(payload, _topic(stream), stream) for stream, change in _rule_cases(random.Random(7))
             if (payload := _encodable(stream, change)) is not None]
    assert len(cases) > 600
    decisions = _assert_decides_like_the_reference(jvm_decide, cases)
    reasons = _reasons(decisions)
    # test_rules' 10 MB shipment_id is over the record's size limit on the wire
    assert set(reasons) == {rule.code for rule in rules.RULES} | {"accepted", "record_too_large"}, reasons
    assert min(n for reason, n in reasons.items() if reason != "record_too_large") >= 3, reasons


def test_decide_with_clocks_far_from_the_records(jvm_decide):
    """event_time_in_future with any receiver clock: Python's ints neither overflow nor round
    before the division."""
    cases = []
    for now in [NOW, 0, -1, -(2**63), 2**63 - 1, 2**53 + 1, -(2**53) - 7, rules.MIN_TS_MS - 5 * 60_000 - 1,
                NOW - 123_457, NOW + 2**40]:
        for stream in ("delivery_tasks", "shipment_status", "vehicle_positions", "capacity_offers"):
            payload = _encodable(stream, {})
            cases.append((payload, _topic(stream), stream, now))
    decisions = _assert_decides_like_the_reference(jvm_decide, cases)
    assert _reasons(decisions)["event_time_in_future"] >= 9


def test_decide_reads_the_partner_of_the_topic_as_the_reference(jvm_decide):
    cases = []
    for topic in ["partners.acme.vehicle_positions", "partners.rival.vehicle_positions",
                  "partners.acme\n.vehicle_positions", "partners.acme", "vehicle_positions", "",
                  "partners.ACME.vehicle_positions", "partners.acme.vehicle_positions.more", "partners..x",
                  "partners.a.x", "Partners.acme.x", "partners.acme\r.x", "partners.acmé.x", "partners.acme.",
                  ".partners.acme"]:
        for partner in ["acme", "acme\n", "rival"]:
            for stream in STREAM_RECORDS:
                cases.append((_encodable(stream, {"partner_id": partner}), topic, stream))
    decisions = _assert_decides_like_the_reference(jvm_decide, cases)
    reasons = _reasons(decisions)
    assert reasons["partner_mismatch"] >= 20 and reasons["accepted"] >= 20, reasons


def test_decide_on_random_records_like_the_reference(jvm_decide):
    """Valid records with one to three fields set to values from pools of awkward ones: which
    rule is broken first, and with what message."""
    rng = random.Random(13)
    pools = {
        "string": _AWKWARD + _SPACES[:6] + [_UUID, _UUID + "\n", "acme", "rival", "acme\n", "DELIVERED", "ab" * 32],
        "double": [0.0, -0.0, 1e-300, -1.5, 90.0, 180.0, -90.000001, 1e16, math.nan, math.inf, -math.inf, 52.52],
        "long": [NOW, NOW + HOUR, NOW + 26 * HOUR, NOW - HOUR, NOW + 6 * 60_000, 0, -1, 2**63 - 1, -(2**63),
                 rules.MIN_TS_MS, rules.MAX_TS_MS],
        "int": [0, 1, -1, 2**31 - 1, -(2**31), 7],
    }
    registry = default_registry()
    cases = []
    for _ in range(3000):
        stream = rng.choice(list(STREAM_RECORDS))
        name = STREAM_RECORDS[stream]
        version = rng.choice(registry.versions(name))
        record = {f["name"]: valid(stream, PARTNER).get(f["name"]) for f in version.fields}
        for f in rng.sample(version.fields, rng.randint(1, 3)):
            types = f["type"] if isinstance(f["type"], list) else [f["type"]]
            kind = rng.choice([t["type"] if isinstance(t, dict) else t for t in types])
            record[f["name"]] = None if kind == "null" else (
                rng.choice(pools[kind]) if rng.random() < 0.8 else
                {"string": lambda: "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(5))),
                 "double": lambda: struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0],
                 "long": lambda: rng.randrange(-(2**63), 2**63),
                 "int": lambda: rng.randrange(-(2**31), 2**31)}[kind]())
        cases.append((_body(name, version.version, record), _topic(stream), stream))
    decisions = _assert_decides_like_the_reference(jvm_decide, cases)
    assert len(_reasons(decisions)) >= 15, _reasons(decisions)


def _hostile_cases(rng: random.Random):
    """Bytes no partner SDK writes: (payload, topic, stream)."""
    registry = default_registry()
    for stream, version, record in _versions():
        name = STREAM_RECORDS[stream]
        topic = _topic(stream)
        schema = registry.get(name, version)
        canonical = _body(name, version, record)
        for end in range(len(canonical)):  # truncated at every position
            yield canonical[:end], topic, stream
        for tail in (b"\x00", b"\x00\x01\x02", canonical[10:]):
            yield canonical + tail, topic, stream
        for extra in (1, 2, 3, 9, 20):  # over-long varints: every length, index, int and long
            yield _body(name, version, record, extra=extra), topic, stream
        for _ in range(40):  # random corruption, header included
            flipped = bytearray(canonical)
            for _ in range(rng.randint(1, 3)):
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            yield bytes(flipped), topic, stream
        for _ in range(20):  # a known header and garbage after it
            yield canonical[:10] + rng.randbytes(rng.randrange(0, 80)), topic, stream
        yield b"\xc3\x02" + canonical[2:], topic, stream
        yield b"\xc2\x01" + canonical[2:], topic, stream
        yield canonical[:9], topic, stream
        yield canonical[:2] + bytes(8) + canonical[10:], topic, stream
        yield canonical[:2] + rng.randbytes(8) + canonical[10:], topic, stream
        for other in STREAM_RECORDS:
            if other != stream:
                yield canonical, _topic(other), other
        for f in schema.fields:
            avro_type, field = f["type"], f["name"]
            kind = avro_type["type"] if isinstance(avro_type, dict) else avro_type
            if isinstance(avro_type, list):  # union indexes: Python's list indexes (-1 is the last branch)
                value = next(t for t in avro_type if t != "null")
                sample = {"string": "van-9", "double": 2.5, "int": 3}[value]
                for index in (-1, -2, 2, 3, -3, 2**40, -(2**62), 2**63 - 1):
                    branch = avro_type[index] if -2 <= index <= 1 else value
                    rest = b"" if branch == "null" else _encode(value, sample)
                    yield _body(name, version, record, **{field: _varint(index) + rest}), topic, stream
            if kind == "string" or (isinstance(avro_type, list) and "string" in avro_type):
                prefix = _varint(1) if isinstance(avro_type, list) else b""
                for length in (-1, -5, -(2**62), -(2**63), 2**31, 2**62, 2**63 - 1, 6, 100):
                    yield _body(name, version, record, **{field: prefix + _varint(length) + b"van-9"}), topic, stream
                for bad in (b"\xc3\x28", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xc0\x80", b"\xc1\xbf", b"\xf4\x90\x80\x80",
                            b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\x80", b"\xff", b"van-\xc3",
                            b"\xe0\x80\x80", b"\xf0\x80\x80\x80", b"\xe2\x82", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf",
                            b"\xed\x9f\xbf\xee\x80\x80", b"\xc2\x85", b"\xc2\xa0", rng.randbytes(12)):
                    yield _body(name, version, record, **{field: prefix + _varint(len(bad)) + bad}), topic, stream
            if kind in ("int", "long") or (isinstance(avro_type, list) and "int" in avro_type):
                prefix = _varint(1) if isinstance(avro_type, list) else b""
                for n in (2**31, -(2**31) - 1, 2**40, -(2**40), 2**62, -(2**63), 2**63 - 1):
                    yield _body(name, version, record, **{field: prefix + _varint(n)}), topic, stream
                # more than ten bytes: the bits past 64 wrap around (shift mod 64), and Python reads that number
                canonical_varint = _encode(avro_type, record[field]) if record[field] is not None else b""
                if canonical_varint and not isinstance(avro_type, list):
                    groups = canonical_varint[:-1] + bytes([canonical_varint[-1] | 0x80])
                    padding = b"\x80" * (9 - len(canonical_varint))
                    for last in (b"\x01", b"\x02", b"\x7f", b"\x80\x01", b"\x80" * 30 + b"\x03"):
                        yield _body(name, version, record, **{field: groups + padding + last}), topic, stream
            if kind == "double" or (isinstance(avro_type, list) and "double" in avro_type):
                prefix = _varint(1) if isinstance(avro_type, list) else b""
                for bits in (0x7FF0000000000001, 0xFFF8000000000000, 0x7FF0000000000000, 0x8000000000000000, 1,
                             0x7FEFFFFFFFFFFFFF):
                    yield _body(name, version, record, **{field: prefix + struct.pack("<Q", bits)}), topic, stream
    for other in ("DeadLetter", "CoLocation", "EtaUpdate", "ConsolidationProposal"):  # not partner records
        schema = registry.latest(other)
        yield wire.MAGIC + schema.fingerprint + b"\x00" * 40, _topic("vehicle_positions"), "vehicle_positions"
    for _ in range(200):
        yield rng.randbytes(rng.randrange(0, 40)), _topic("delivery_tasks"), "delivery_tasks"
    yield b"", _topic("vehicle_positions"), "vehicle_positions"


def test_decide_on_hostile_bytes_like_the_reference(jvm_decide):
    cases = list(_hostile_cases(random.Random(17)))
    decisions = _assert_decides_like_the_reference(jvm_decide, cases)
    reasons = _reasons(decisions)
    for reason in ("not_single_object", "unknown_schema", "wrong_record_type", "undecodable", "accepted",
                   "timestamp_out_of_range", "not_finite", "empty_id"):
        assert reasons[reason] >= 5, reasons
    trailing = [d for d in decisions if d[0] == "refused" and _TRAILING.match(d[3])]
    assert len(trailing) >= 15  # whose message is held exactly
    java = jvm_decide(cases)
    # decide() accepts what accept() refuses for being non-canonical, as the reference does
    assert sum(j[0] == "accepted" and j[-1] == "fast:refused" for j in java) >= 50


def test_a_record_over_the_size_limit_is_refused_before_it_is_read(jvm_decide):
    """The contract's limit on a record's bytes (udfs/contracts/limits.py): refused as
    record_too_large, whatever the bytes, by both; at the limit a record is read as usual."""
    good = _encodable("vehicle_positions", {})
    cases = []
    for size in (MAX_RECORD_BYTES - 1, MAX_RECORD_BYTES, MAX_RECORD_BYTES + 1, 1_000_000):
        cases.append((good + bytes(size - len(good)), _topic("vehicle_positions"), "vehicle_positions"))
        cases.append((bytes(size), _topic("delivery_tasks"), "delivery_tasks"))
    decisions = _assert_decides_like_the_reference(jvm_decide, cases)
    assert [d[2] for d in decisions] == ["undecodable", "not_single_object"] * 2 + ["record_too_large"] * 4
    assert decisions[-1][3] == f"1000000 bytes, at most {MAX_RECORD_BYTES}"


def test_decide_reads_strings_as_strict_utf8_like_the_reference(jvm_decide):
    """Every two-byte string, and many three- and four-byte ones, in a vehicle id."""
    rng = random.Random(19)
    record = valid("vehicle_positions", PARTNER)
    contents = [bytes([a, b]) for a in range(256) for b in range(256)]
    lead = list(range(0xC0, 0x100)) + [0x80, 0xBF]
    follow = [0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0]
    for _ in range(20_000):
        contents.append(bytes([rng.choice(lead)] + [rng.choice(follow) if rng.random() < 0.7 else rng.randrange(256)
                                                     for _ in range(rng.randint(1, 4))]))
    cases = [(_body("VehiclePosition", 1, record, vehicle_id=_varint(len(c)) + c), _topic("vehicle_positions"),
              "vehicle_positions") for c in contents]
    decisions = _assert_decides_like_the_reference(jvm_decide, cases)
    reasons = _reasons(decisions)
    assert reasons["accepted"] > 10_000 and reasons["undecodable"] > 10_000 and reasons["empty_id"] >= 3, reasons


# --- the pieces: Python's formatting, fastavro's reading ----------------------------------------

def test_printable_and_whitespace_are_pythons_over_every_code_point(jar):
    changes, spaces = _run(jar, "python", ["unicode"])[0].split("\t")
    printable, python_changes = False, []
    for c in range(0x110000):
        if chr(c).isprintable() != printable:
            printable = not printable
            python_changes.append(c)
    assert [int(c, 16) for c in changes.split(",")] == python_changes
    assert [int(c, 16) for c in spaces.split(",")] == [c for c in range(0x110000) if chr(c).isspace()]


def test_repr_of_str_is_pythons(jar):
    rng = random.Random(23)
    texts = list(_AWKWARD) + ["'", '"', "'\"", "\\", "\\'", "", "\x00\x01\x1f\x7f\x80\x9f\xa0\xff\u0100\uffff"]
    for _ in range(3000):
        alphabet = rng.choice([(0, 0x80), (0, 0x300), (0, 0x10000), (0x10000, 0x110000), (0, 0x110000)])
        texts.append("".join(chr(c) for c in (rng.randrange(*alphabet) for _ in range(rng.randrange(12)))
                             if not 0xD800 <= c <= 0xDFFF) + rng.choice(["", "'", '"', "'\"", "\\"]))
    java = _run(jar, "python", [f"repr {t.encode().hex()}" for t in texts])
    wrong = [(t, j) for t, j in zip(texts, java) if j != repr(t)]
    assert not wrong, wrong[:5]


def test_fixed_point_format_is_pythons(jar):
    rng = random.Random(29)
    values = [0.0, -0.0, 0.05, 0.15, 0.25, 0.35, -0.25, -0.04, 2.675, 1e16, 1.5e300, 5e-324, math.nan, math.inf,
              -math.inf, 25.25, 25.05, 0.45, 1 / 3, 2.0**60 + 0.5]
    values += [k / 20 for k in range(-200, 200)] + [k / 8 for k in range(-100, 100)]
    values += [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(500)]
    values += [rng.uniform(-1e6, 1e6) for _ in range(500)]
    lines, expected = [], []
    for x in values:
        for digits in (0, 1, 2, 3):
            if digits != 1 and abs(x) > 1e20:
                continue
            lines.append(f"fixed {struct.unpack('<Q', struct.pack('<d', x))[0]:016x} {digits}")
            expected.append(format(x, f".{digits}f"))
    java = _run(jar, "python", lines)
    wrong = [(line, e, j) for line, e, j in zip(lines, expected, java) if e != j]
    assert not wrong, wrong[:5]


def test_int_true_division_is_pythons(jar):
    rng = random.Random(31)
    pairs = [(a, b) for b in (60_000, 3_600_000) for a in
             [0, 1, -1, 2**53, 2**53 + 1, -(2**53) - 1, 2**63 - 1, -(2**63), 2**64 - 1, -(2**64) + 1, 90_900_000]]
    pairs += [(rng.randrange(-(2**64), 2**64), rng.choice([60_000, 3_600_000, 3, 7, rng.randrange(1, 2**40)]))
              for _ in range(3000)]
    pairs += [(rng.randrange(-(2**54), 2**54), rng.randrange(-(2**62), 2**62) or 1) for _ in range(1000)]
    java = _run(jar, "python", [f"divide {a} {b}" for a, b in pairs])
    wrong = [(a, b, j) for (a, b), j in zip(pairs, java) if j != repr(a / b)]
    assert not wrong, wrong[:5]


_PRIMITIVE_TYPES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
_PROMOTIONS = {"int": ["long", "float", "double"], "long": ["float", "double"], "float": ["double"],
               "string": ["bytes"], "bytes": ["string"]}


def _random_type(rng):
    if rng.random() < 0.4:
        return rng.sample(_PRIMITIVE_TYPES, rng.randint(2, 3))
    return rng.choice(_PRIMITIVE_TYPES[1:])


def _random_value(avro_type, rng):
    if isinstance(avro_type, list):
        return _random_value(rng.choice(avro_type), rng)
    return {"null": lambda: None, "boolean": lambda: rng.random() < 0.5,
            "int": lambda: rng.randrange(-(2**31), 2**31), "long": lambda: rng.randrange(-(2**63), 2**63),
            "float": lambda: struct.unpack("<f", struct.pack("<f", rng.uniform(-1e6, 1e6)))[0],
            "double": lambda: rng.choice([rng.uniform(-1e300, 1e300), -0.0, math.inf]),
            "bytes": lambda: rng.randbytes(rng.randrange(6)),
            "string": lambda: "".join(chr(rng.randrange(0x20, 0x800)) for _ in range(rng.randrange(6)))}[avro_type]()


def _default_for(avro_type, rng):
    first = avro_type[0] if isinstance(avro_type, list) else avro_type
    return {"null": None, "boolean": True, "int": rng.randrange(-5, 5), "long": 2**40, "float": 1.5,
            "double": -0.25, "string": "dé"}[first]  # a bytes default is a str to Python: refused on load


def _reader_of(writer: dict, rng) -> dict | None:
    """A reader schema the writer's records resolve to (or not): fields dropped (skipped),
    added with or without defaults, promoted, made nullable, reordered."""
    if rng.random() < 0.2:
        return None
    fields = []
    for f in writer["fields"]:
        roll = rng.random()
        if roll < 0.15:
            continue
        avro_type = f["type"]
        if roll < 0.35 and not isinstance(avro_type, list) and avro_type in _PROMOTIONS:
            avro_type = rng.choice(_PROMOTIONS[avro_type])
        elif roll < 0.45 and not isinstance(avro_type, list) and avro_type != "null":
            avro_type = ["null", avro_type]
        elif roll < 0.5:
            avro_type = _random_type(rng)  # may not match: SchemaResolutionError
        fields.append({"name": f["name"], "type": avro_type})
    for i in range(rng.randint(0, 2)):
        avro_type = _random_type(rng)
        field = {"name": f"new{i}", "type": avro_type}
        if rng.random() < 0.85 and (avro_type[0] if isinstance(avro_type, list) else avro_type) != "bytes":
            field["default"] = _default_for(avro_type, rng)
        fields.append(field)
    rng.shuffle(fields)
    return {"type": "record", "name": "R", "fields": fields}


def _fastavro(writer: dict, reader: dict | None, body: bytes) -> str:
    bio = io.BytesIO(body)
    try:
        values = fastavro.schemaless_reader(bio, fastavro.parse_schema(writer),
                                            fastavro.parse_schema(reader) if reader else None)
    except Exception:  # noqa: BLE001 - any failure is an error, as wire.decode takes it
        return "error"
    shown = [f"{k}={'b:' + v.hex() if isinstance(v, bytes) else repr(v)}" for k, v in values.items()]
    return "\t".join(["ok", str(bio.tell())] + shown)


def test_fastavro_reader_reads_as_fastavro_does(jar):
    """Beyond the partner records: booleans (any byte but 0 is true), floats, bytes, fields the
    reader drops (fastavro's skip functions) or adds (defaults), promotions, unions."""
    rng = random.Random(37)
    cases = []
    for _ in range(2500):
        writer = {"type": "record", "name": "R",
                  "fields": [{"name": f"f{i}", "type": _random_type(rng)} for i in range(rng.randint(1, 6))]}
        reader = _reader_of(writer, rng)
        record = {f["name"]: _random_value(f["type"], rng) for f in writer["fields"]}
        out = io.BytesIO()
        fastavro.schemaless_writer(out, fastavro.parse_schema(writer), record)
        body = out.getvalue()
        variants = [body, body[:rng.randrange(len(body) + 1)], body + b"\x01"]
        mutated = bytearray(body or b"\x00")
        for _ in range(rng.randint(1, 3)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        variants.append(bytes(mutated))
        for variant in variants:
            cases.append((writer, reader, variant))
    booleans = {"type": "record", "name": "R", "fields": [{"name": "b", "type": "boolean"},
                                                           {"name": "u", "type": ["null", "boolean"]}]}
    for byte in range(256):
        cases.append((booleans, None, bytes([byte, 2, byte])))
        cases.append((booleans, {"type": "record", "name": "R", "fields": [{"name": "u", "type": "boolean"}]},
                      bytes([byte, 2, byte])))
    lines = [f"{json.dumps(w).encode().hex()} {json.dumps(r).encode().hex() if r else ''} {b.hex()}"
             for w, r, b in cases]
    java = _run(jar, "read", lines)
    wrong = []
    outcomes = Counter()
    for (w, r, b), j in zip(cases, java):
        python = _fastavro(w, r, b)
        outcomes[python.split("\t")[0]] += 1
        if (j.split("\t")[0] if python == "error" else j) != python:
            wrong.append((json.dumps(w), json.dumps(r), b.hex(), python, j))
    assert not wrong, f"{len(wrong)} of {len(cases)}:\n" + "\n".join(map(repr, wrong[:5]))
    assert outcomes["ok"] > 3000 and outcomes["error"] > 1000, outcomes


def test_a_producer_s_timestamp_cannot_run_ahead_of_the_receiver_s_clock(jvm):
    """The sources' event timestamp (Contract.sourceTimestamp, flink.KafkaRows): what the producer stamped, at most the
    contract's MAX_FUTURE_MS ahead of the clock. A far-future timestamp once advanced the
    watermark past every other partner's records (late dead letters once the others were idle)."""
    now = NOW
    cases = [[now - 86_400_000, now], [now, now], [now + rules.MAX_FUTURE_MS, now],
             [now + rules.MAX_FUTURE_MS + 1, now], [4_102_444_800_000 - 1, now], [2**63 - 1, now], [-(2**63), now]]
    expected = [min(ts, now + rules.MAX_FUTURE_MS) for ts, now in cases]
    assert jvm.call("Sources", "timestamps", cases) == expected
    assert expected[3] == expected[4] == now + rules.MAX_FUTURE_MS
