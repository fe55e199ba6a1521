"""Where every result of the coordination job goes: one function per domain result, giving
its ClickHouse rows and its Kafka messages (topics, the inboxes it fans out to, key, encoded
value). "Where does X go?" is answered here; the JVM stages write the same (udfs/jvm
``flink.Outputs``, held byte-equal by tests/unit/test_jvm_outputs.py).

Each function yields ``(ROWS, Row)`` and ``(KAFKA, Message)`` pairs,
which a Flink function gathers into one element per call (udfs.flink.outputs.gather).

    result                   ClickHouse table           Kafka topics                                   key
    accepted partner event   its stream's table         -                                              -
    co-location (a match,    colocations                coordination.colocations; both partners'       match_id
      or its retraction)                                inboxes once per other shipment (disclose)
    ETA update               eta_predictions            coordination.eta, the partner's inbox          partner:shipment
    consolidation proposal   consolidation_proposals,   coordination.proposals; every partner's inbox  proposal_id
                               audit_log
                                                        its own part (inbox_proposal_record)
    dead letter              dead_letters               coordination.dead_letters                      dead_letter_id

Privacy: rows and records carry H3 cells, never a partner's raw coordinates or recipient keys
(udfs.rows). No kernels are imported here: the Intake writes through this module and stays
quick to import on a TaskManager.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

import h3.api.basic_int as h3i

from udfs import keys
from udfs.contracts import topics, wire
from udfs.records import DeadLetter, Source
from udfs.rows import audit_row, event_row, match_row, proposal_row

if TYPE_CHECKING:
    from udfs.colocation import Match
    from udfs.consolidation import Proposal
    from udfs.eta import EtaUpdate


class _Kind:
    """What a function yields before it is gathered (not a Flink output tag)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


class Row(NamedTuple):
    """A ClickHouse row, its values in the order of ``udfs.rows.COLUMNS[table]``."""

    table: str
    values: tuple


class Message(NamedTuple):
    """One Kafka value for one or more topics (a result and the inboxes it fans out to)."""

    topics: tuple[str, ...]
    key: str
    value: bytes


ROWS = _Kind("rows")  # (ROWS, Row)
KAFKA = _Kind("kafka")  # (KAFKA, Message)

Output = tuple[_Kind, Row | Message]


def event(stream: str, record: dict, source: Source, ingested_at: int) -> Iterator[Output]:
    """An accepted partner record: its row in the table named like its stream, nothing on Kafka."""
    yield ROWS, Row(stream, event_row(stream, record, source, ingested_at))


def match(m: Match) -> Iterator[Output]:
    """A co-located pair, or its retraction (``m.retracted``): the table and the topic whole.
    What each partner's inbox gets of it is :func:`inbox_candidates`, then :func:`disclose`."""
    yield ROWS, Row("colocations", match_row(m))
    yield KAFKA, Message((topics.COLOCATIONS,), m.match_id, wire.encode(match_record(m), "CoLocation"))


INBOX_RESOLUTION = 8  # the finest H3 resolution a partner learns of a match's place


class Sharing(NamedTuple):
    """What partners agreed to share in their inboxes (``lastmile partners share``,
    docs/security.md): a partner is named to another only when both are in ``named``, and
    ``same_recipient`` reaches them only when both are in ``same_recipient``."""

    named: frozenset[str] = frozenset()
    same_recipient: frozenset[str] = frozenset()

    def as_text(self) -> str:
        """``named=a,b;same_recipient=c``: how the JVM's Matcher is given it."""
        return ";".join(f"{field}={','.join(sorted(getattr(self, field)))}" for field in self._fields)


NOT_SHARED = Sharing()


def counterpart(inbox_key: str, recipient: str, other: str) -> str:
    """The other partner of a match as ``recipient`` sees it: an opaque token, the same for all
    their matches, that only the holder of ``inbox_key`` (the pipeline) can compute."""
    return hmac.new(inbox_key.encode(), f"{recipient}|{other}".encode(), hashlib.sha256).hexdigest()[:16]


def inbox_match_record(m: Match, side: str, inbox_key: str, sharing: Sharing = NOT_SHARED) -> dict:
    """The ``InboxMatch`` record of partner ``side`` ("a" or "b") of a match: its own shipment,
    the other as :func:`counterpart` (and by name where both agreed), the place coarsened to
    :data:`INBOX_RESOLUTION`; no distance, no other shipment id, ``same_recipient`` only where
    both agreed (docs/security.md)."""
    own, other = (m.partner_a, m.partner_b) if side == "a" else (m.partner_b, m.partner_a)
    both = {own, other}
    return {"match_id": m.match_id, "partner_id": own, "shipment_id": m.shipment_a if side == "a" else m.shipment_b,
            "counterpart": counterpart(inbox_key, own, other),
            "area_h3": h3i.cell_to_parent(m.h3_cell, INBOX_RESOLUTION),
            "overlap_start": m.overlap_start, "overlap_end": m.overlap_end, "detected_at": m.detected_at,
            "version": m.version, "retracted": m.retracted,
            "counterpart_partner_id": other if both <= sharing.named else None,
            "same_recipient": m.same_recipient if both <= sharing.same_recipient else None}


class InboxCandidate(NamedTuple):
    """One partner's ``InboxMatch`` of a match, before :func:`disclose` decides whether it goes out."""

    key: str  # :func:`disclosure_key`: the receiving partner and the other partner's shipment
    match_id: str
    topic: str  # the receiver's inbox
    value: bytes  # the encoded InboxMatch
    retracted: bool
    until: int  # event time after which the other shipment's task can match no more (its window's end + lateness)


def disclosure_key(receiver: str, other_partner: str, other_shipment: str) -> str:
    """What a partner learns at most once: ``receiver|other partner|other shipment``."""
    return f"{receiver}|{other_partner}|{other_shipment}"


def inbox_candidates(m: Match, inbox_key: str, sharing: Sharing, until_a: int, until_b: int) -> list[InboxCandidate]:
    """Both partners' :func:`inbox_match_record` of a match; ``until_a``/``until_b``: when task a
    (b) leaves the matcher (its window's end plus the allowed lateness; 0 if already gone)."""
    out = []
    for side, other_partner, other_shipment, until in (("a", m.partner_b, m.shipment_b, until_b),
                                                       ("b", m.partner_a, m.shipment_a, until_a)):
        record = inbox_match_record(m, side, inbox_key, sharing)
        out.append(InboxCandidate(disclosure_key(record["partner_id"], other_partner, other_shipment), m.match_id,
                                  topics.inbox(record["partner_id"]), wire.encode(record, "InboxMatch"), m.retracted,
                                  until))
    return out


def disclose(disclosed_until: int | None, c: InboxCandidate) -> tuple[bool, int | None]:
    """Whether candidate ``c`` reaches its inbox, and the key's state after it.

    A partner learns of another partner's shipment once: its first match with one of the
    partner's own shipments goes out; no later match of that shipment with any of them, and
    no update or retraction, does (they stay on coordination.colocations). So fake tasks
    placed around a match, or one task moved about, learn nothing more of where the other
    shipment goes (docs/security.md, triangulation). ``disclosed_until``: None while nothing
    was disclosed for the key, else until when the key is remembered (the latest ``until``).
    """
    if disclosed_until is None:
        return (False, None) if c.retracted else (True, c.until)
    return False, max(disclosed_until, c.until)


def eta(u: EtaUpdate) -> Iterator[Output]:
    yield ROWS, Row("eta_predictions", tuple(u))
    yield KAFKA, Message((topics.ETA, topics.inbox(u.partner_id)), keys.key(u.partner_id, u.shipment_id),
                         wire.encode(u._asdict(), "EtaUpdate"))


def proposal(p: Proposal, inbox_key: str, sharing: Sharing = NOT_SHARED) -> Iterator[Output]:
    """A consolidation proposal: the table and the topic whole, and each partner involved its
    :func:`inbox_proposal_record`."""
    yield ROWS, Row("consolidation_proposals", proposal_row(p))
    yield ROWS, Row("audit_log", audit_row(p))
    yield KAFKA, Message((topics.PROPOSALS,), p.proposal_id, wire.encode(proposal_record(p), "ConsolidationProposal"))
    for partner in p.partners:
        yield KAFKA, Message((topics.inbox(partner),), p.proposal_id,
                             wire.encode(inbox_proposal_record(p, partner, inbox_key, sharing), "InboxProposal"))


def inbox_proposal_record(p: Proposal, partner: str, inbox_key: str, sharing: Sharing = NOT_SHARED) -> dict:
    """The ``InboxProposal`` of ``partner``: its own shipments, whether it serves, the carrier as
    itself or a :func:`counterpart` token (by name where both agreed), the group's size and
    saving; no other partner's shipment, no tour, no inputs digest (docs/security.md)."""
    serves = p.assigned_partner == partner
    named = serves or {partner, p.assigned_partner} <= sharing.named
    return {"proposal_id": p.proposal_id, "partner_id": partner,
            "shipments": sorted(s.split(":", 1)[1] for s in p.shipments if s.split(":", 1)[0] == partner),
            "serves": serves, "carrier": partner if serves else counterpart(inbox_key, partner, p.assigned_partner),
            "carrier_partner_id": p.assigned_partner if named else None, "group_deliveries": len(p.shipments),
            "group_partners": len(p.partners), "km_saved": p.km_saved, "kernel_version": p.kernel_version,
            "created_at": p.created_at}


def dead_letter(dead: DeadLetter) -> Iterator[Output]:
    yield ROWS, Row("dead_letters", dead.clickhouse_row())
    # also to the partner's own topic: the partner of the topic the record came from
    own = (topics.dead_letters(dead.partner_id),) if dead.partner_id else ()
    yield KAFKA, Message((topics.DEAD_LETTERS, *own), dead.dead_letter_id, wire.encode(dead.as_record(), "DeadLetter"))


def match_record(m: Match) -> dict:
    """The ``CoLocation`` Avro record (current version) of a match."""
    return {"match_id": m.match_id, "partner_a": m.partner_a, "shipment_a": m.shipment_a,
            "partner_b": m.partner_b, "shipment_b": m.shipment_b, "h3_cell": m.h3_cell,
            "distance_m": m.distance_m, "overlap_start": m.overlap_start, "overlap_end": m.overlap_end,
            "same_recipient": m.same_recipient, "detected_at": m.detected_at, "version": m.version,
            "retracted": m.retracted}


def proposal_record(p: Proposal) -> dict:
    """The ``ConsolidationProposal`` Avro record."""
    return {"proposal_id": p.proposal_id, "partners": list(p.partners), "shipments": list(p.shipments),
            "assigned_partner": p.assigned_partner, "km_separate": p.km_separate,
            "km_consolidated": p.km_consolidated, "km_saved": p.km_saved, "kernel_version": p.kernel_version,
            "inputs_digest": p.inputs_digest, "created_at": p.created_at}
