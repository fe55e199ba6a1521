"""What the JVM stages write (udfs/jvm ``RowBinaryValues``, ``AvroRecords``, ``Topics``) against
what the Python stages write (udfs.sinks.rowbinary, udfs.contracts.wire, udfs.contracts.topics):
the same bytes for the same values, on every table and output record of the job."""
import hashlib
import math
import random
import uuid

from clickhouse_types import column_types

from udfs.contracts import topics as topic_names
from udfs.contracts import wire
from udfs.contracts.limits import MAX_DEAD_LETTER_PAYLOAD
from udfs.contracts.schemas import default_registry
from udfs.records import DeadLetter
from udfs.sinks.rowbinary import RowEncoder


def _json(value):
    """A value as the harness takes it (bytes as hex)."""
    if isinstance(value, (bytes, bytearray)):
        return {"hex": bytes(value).hex()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


def _value(ch_type: str, rng: random.Random):
    if ch_type.startswith("LowCardinality("):
        return _value(ch_type[15:-1], rng)
    if ch_type.startswith("Nullable("):
        return None if rng.random() < 0.3 else _value(ch_type[9:-1], rng)
    if ch_type.startswith("Array("):
        return [_value(ch_type[6:-1], rng) for _ in range(rng.randint(0, 4))]
    if ch_type.startswith("DateTime64"):
        return rng.choice([0, 1_762_128_000_123, -1, 4_102_444_799_999])
    if ch_type == "UUID":
        return str(uuid.UUID(int=rng.getrandbits(128)))
    if ch_type == "String":
        return rng.choice(["", "a", "Straße 7", "😀 \x00\n'\"", "x" * 300, "cargo-city:CAR-01-000016"])
    if ch_type == "Bool":
        return rng.random() < 0.5
    if ch_type == "Float64":
        return rng.choice([0.0, -0.0, 1.5, 52.520008, 1e-300, 1.7976931348623157e308, math.pi])
    if ch_type.startswith(("UInt", "Int")):
        bits = int(ch_type.lstrip("UInt"))
        if ch_type.startswith("U"):
            return rng.randrange(0, 2 ** min(bits, 63))  # a Java long holds what the job writes
        return rng.randrange(-2 ** (bits - 1), 2 ** (bits - 1))
    raise AssertionError(ch_type)


def test_rows_of_every_table_encode_to_the_same_bytes(jvm):
    rng = random.Random(11)
    for table, columns in column_types().items():
        rows = [tuple(_value(t, rng) for _, t in columns) for _ in range(40)]
        if table == "dead_letters":  # the payload column holds the original bytes
            at = [c for c, _ in columns].index("payload")
            rows = [r[:at] + (bytes(rng.randrange(256) for _ in range(rng.randrange(30))),) + r[at + 1:] for r in rows]
        java = jvm.call("Outputs", "rowbinary", {"table": table, "columns": [list(c) for c in columns],
                                                 "rows": [_json(r) for r in rows]})
        assert bytes.fromhex(java) == bytes(RowEncoder(table, columns).encode(rows)), table


def test_output_records_encode_to_the_same_single_object_bytes(jvm):
    registry = default_registry()
    rng = random.Random(3)
    samples = {
        "CoLocation": lambda: {"match_id": uuid.uuid4().hex, "partner_a": "acme", "shipment_a": "S-1",
                               "partner_b": "bolt", "shipment_b": "Straße 😀", "h3_cell": 622044118692265983,
                               "distance_m": rng.random() * 150, "overlap_start": 1_762_128_000_000,
                               "overlap_end": 1_762_131_600_000, "same_recipient": rng.random() < 0.5,
                               "detected_at": 1_762_120_000_000, "version": rng.randrange(1, 9),
                               "retracted": rng.random() < 0.5},
        "InboxMatch": lambda: {"match_id": uuid.uuid4().hex, "partner_id": "acme", "shipment_id": "Straße 😀",
                               "counterpart": "0123456789abcdef", "area_h3": 613536709223211007,
                               "overlap_start": 1_762_128_000_000, "overlap_end": 1_762_131_600_000,
                               "detected_at": 1_762_120_000_000, "version": rng.randrange(1, 9),
                               "retracted": rng.random() < 0.5,
                               "counterpart_partner_id": rng.choice([None, "bolt-de"]),
                               "same_recipient": rng.choice([None, True, False])},
        "InboxProposal": lambda: {"proposal_id": uuid.uuid4().hex, "partner_id": "acme", "shipments": ["S-1", "Straße 😀"],
                                  "serves": rng.random() < 0.5, "carrier": "0123456789abcdef",
                                  "carrier_partner_id": rng.choice([None, "bolt-de"]), "group_deliveries": 5,
                                  "group_partners": 3, "km_saved": rng.random() * 9, "kernel_version": "k-3",
                                  "created_at": 1_762_120_000_000},
        "EtaUpdate": lambda: {"partner_id": "acme", "shipment_id": "S-9", "vehicle_id": "van-1",
                              "predicted_at": 1_762_128_000_000, "eta": 1_762_131_000_123,
                              "model_version": "eta-2/profiles-r9-hour-factors", "inputs_digest": "ab" * 32},
        "ConsolidationProposal": lambda: {
            "proposal_id": uuid.uuid4().hex, "partners": ["acme", "bolt"], "shipments": ["acme:S1", "bolt:T1"],
            "assigned_partner": "acme", "km_separate": 12.345, "km_consolidated": 7.0, "km_saved": 5.345,
            "kernel_version": "consolidation-1", "inputs_digest": "ab" * 32, "created_at": 1_762_128_000_000},
        "DeadLetter": lambda: {"dead_letter_id": uuid.uuid4().hex, "received_at": 1_762_128_000_000,
                               "source": "partners.acme.delivery_tasks/0/7", "partner_id": rng.choice([None, "acme"]),
                               "stage": "validate", "reason": "null_island", "message": "(0, 0) is …",
                               "payload": bytes(rng.randrange(256) for _ in range(20))},
    }
    for name, make in samples.items():
        fields = [f["name"] for f in registry.latest(name).fields]
        for _ in range(20):
            record = make()
            java = jvm.call("Outputs", "avro", {"name": name, "values": [_json(record[f]) for f in fields]})
            assert bytes.fromhex(java) == wire.encode(record, name), name


def test_each_partner_s_inbox_gets_its_own_minimal_record_of_a_match_on_both_sides(jvm):
    """flink.Matcher.inboxMatch against udfs.outputs.inbox_match_record: byte for byte, for both
    sides; the other partner only as its token (and by name only when both agreed), the place at
    resolution 8, same_recipient only when both agreed to share it."""
    import h3.api.basic_int as h3i

    from udfs.colocation import Match
    from udfs.outputs import KAFKA, Sharing, counterpart, disclosure_key, inbox_candidates, inbox_match_record, match

    rng = random.Random(5)
    sharings = [Sharing(), Sharing(frozenset({"acme"}), frozenset({"bolt-de"})),
                Sharing(frozenset({"acme", "bolt-de"}), frozenset()),
                Sharing(frozenset({"acme", "bolt-de", "x9"}), frozenset({"acme", "bolt-de"}))]
    for n in range(40):
        cell = h3i.latlng_to_cell(52.5 + rng.random() / 10, 13.4 + rng.random() / 10, 10)
        m = Match(match_id=uuid.uuid4().hex, partner_a="acme", shipment_a=f"S-{n}", partner_b="bolt-de",
                  shipment_b=f"T-{n}", h3_cell=cell, distance_m=rng.random() * 150, overlap_start=1_762_128_000_000,
                  overlap_end=1_762_131_600_000, same_recipient=rng.random() < 0.5, detected_at=1_762_120_000_000,
                  version=rng.randrange(1, 9), retracted=rng.random() < 0.3)
        key, sharing = f"key-{n}", sharings[n % len(sharings)]
        assert [msg.topics for kind, msg in match(m) if kind == KAFKA] == [(topic_names.COLOCATIONS,)]
        candidates = inbox_candidates(m, key, sharing, 111, 222)
        assert [(c.key, c.topic, c.until, c.retracted) for c in candidates] == [
            (disclosure_key("acme", "bolt-de", f"T-{n}"), topic_names.inbox("acme"), 222, m.retracted),
            (disclosure_key("bolt-de", "acme", f"S-{n}"), topic_names.inbox("bolt-de"), 111, m.retracted)]
        for side, c in zip(("a", "b"), candidates):
            record = inbox_match_record(m, side, key, sharing)
            assert c.value == wire.encode(record, "InboxMatch")
            java = jvm.call("Outputs", "inbox_match", {"match": _json(m._asdict()), "a": side == "a", "key": key,
                                                       "sharing": sharing.as_text()})
            assert bytes.fromhex(java) == c.value
            other = "bolt-de" if side == "a" else "acme"
            assert record["counterpart"] == counterpart(key, record["partner_id"], other) != other
            assert record["counterpart_partner_id"] == (other if {"acme", "bolt-de"} <= sharing.named else None)
            assert record["same_recipient"] == (m.same_recipient if {"acme", "bolt-de"} <= sharing.same_recipient
                                                else None)
            assert h3i.get_resolution(record["area_h3"]) == 8 and h3i.cell_to_parent(cell, 8) == record["area_h3"]
            others_shipment = m.shipment_b if side == "a" else m.shipment_a
            assert others_shipment not in record.values()
            if record["counterpart_partner_id"] is None:
                assert other not in record.values()
    assert counterpart("k", "acme", "bolt-de") != counterpart("k", "bolt-de", "acme") != counterpart("j", "bolt-de", "acme")


def test_each_partner_of_a_proposal_gets_its_own_part_only(jvm):
    """flink.Consolidator.inboxProposal against udfs.outputs.inbox_proposal_record, byte for byte:
    a partner's own shipments, whether it serves, the carrier as itself or a token (by name where
    both agreed); no other partner's shipment, no tour, no inputs digest."""
    from udfs.consolidation import Proposal
    from udfs.outputs import KAFKA, Sharing, counterpart, inbox_proposal_record, proposal

    rng = random.Random(3)
    partners = ["acme", "bolt-de", "cargo-9"]
    for n in range(30):
        involved = sorted(rng.sample(partners, rng.randrange(2, 4)))
        shipments = sorted(f"{p}:{rng.choice(['S', 'Ü', '😀'])}-{n}-{p[0]}{i}"
                           for p in involved for i in range(rng.randrange(1, 4)))
        p = Proposal(proposal_id=uuid.uuid4().hex, partners=tuple(involved), shipments=tuple(shipments),
                     assigned_partner=rng.choice(involved), km_separate=12.5, km_consolidated=7.25, km_saved=5.25,
                     kernel_version="consolidation-3", inputs_digest="ab" * 32, created_at=1_762_120_000_000,
                     offer_key="", tour=tuple(shipments))
        sharing = Sharing(frozenset(rng.sample(partners, rng.randrange(0, 4))), frozenset())
        messages = [m for kind, m in proposal(p, "key", sharing) if kind == KAFKA]
        assert [m.topics for m in messages] == [(topic_names.PROPOSALS,)] + [(topic_names.inbox(x),) for x in involved]
        for partner, message in zip(involved, messages[1:]):
            record = inbox_proposal_record(p, partner, "key", sharing)
            assert message.value == wire.encode(record, "InboxProposal")
            java = jvm.call("Outputs", "inbox_proposal", {"proposal": _json(p._asdict()), "partner": partner,
                                                          "key": "key", "sharing": sharing.as_text()})
            assert bytes.fromhex(java) == message.value
            assert record["shipments"] == sorted(s.split(":", 1)[1] for s in shipments if s.startswith(partner + ":"))
            serves = p.assigned_partner == partner
            assert record["serves"] == serves
            assert record["carrier"] == (partner if serves else counterpart("key", partner, p.assigned_partner))
            both = {partner, p.assigned_partner} <= sharing.named
            assert record["carrier_partner_id"] == (p.assigned_partner if serves or both else None)
            others = {s.split(":", 1)[1] for s in shipments if not s.startswith(partner + ":")}
            assert not others & set(record["shipments"]) and p.inputs_digest not in record.values()
            assert (record["group_deliveries"], record["group_partners"]) == (len(shipments), len(involved))


def test_a_partner_learns_of_another_partner_s_shipment_once_whatever_follows(jvm):
    """udfs.outputs.disclose against flink.Disclosure, over random sequences of one key's
    candidates: only the first match goes out; nothing after it (matches, updates or
    retractions), and a retraction before any match discloses nothing; the key is remembered
    until the latest ``until`` seen."""
    from udfs.outputs import InboxCandidate, disclose

    rng = random.Random(11)
    for _ in range(200):
        steps = [(rng.random() < 0.3, rng.randrange(0, 10_000)) for _ in range(rng.randrange(1, 8))]
        state, python = None, []
        for retracted, until in steps:
            send, state = disclose(state, InboxCandidate("k", "m", "t", b"", retracted, until))
            python.append([send, state])
        assert jvm.call("Outputs", "disclose", [list(s) for s in steps]) == python
        sent = [i for i, (send, _) in enumerate(python) if send]
        first_match = next((i for i, (retracted, _) in enumerate(steps) if not retracted), None)
        assert sent == ([] if first_match is None else [first_match])
        if first_match is not None:
            assert state == max(until for _, until in steps[first_match:])


def test_a_dead_letter_keeps_a_payload_up_to_the_limit_and_the_digest_of_a_larger_one(jvm):
    """A refused record of any size leaves a dead letter that can be written (a payload over
    the producer's 1 MB once failed the job at every restart): both sides cut it alike."""
    for size in (0, 10, MAX_DEAD_LETTER_PAYLOAD, MAX_DEAD_LETTER_PAYLOAD + 1, 1_048_000):
        payload = bytes(random.Random(size).randrange(256) for _ in range(size))
        dead = DeadLetter("partners.acme.delivery_tasks/0/7", "decode", "record_too_large", "too large", payload)
        message, kept = dead.kept()
        assert kept == payload[:MAX_DEAD_LETTER_PAYLOAD]
        if size > MAX_DEAD_LETTER_PAYLOAD:
            assert hashlib.sha256(payload).hexdigest() in message and f"of {size} bytes" in message
            assert len(wire.encode(dead.as_record(), "DeadLetter")) < MAX_DEAD_LETTER_PAYLOAD + 1024
            # and it can be read back: a dead letter was once refused by the decoder as too large
            assert wire.decode(wire.encode(dead.as_record(), "DeadLetter"), expected="DeadLetter")[0]["message"] == message
        else:
            assert message == "too large"
        assert jvm.call("Outputs", "dead_letter_kept", ["too large", payload.hex()]) == [message, kept.hex()]


def test_topic_names_are_the_contract_s(jvm):
    assert jvm.call("Outputs", "topics", "cargo-city") == [
        topic_names.COLOCATIONS, topic_names.PROPOSALS, topic_names.ETA, topic_names.DEAD_LETTERS,
        topic_names.inbox("cargo-city"), topic_names.dead_letters("cargo-city")]
