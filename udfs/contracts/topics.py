"""Kafka topic names, part of the contract (fixed in shared/design/domain.md).

Pure names, no Kafka client: a name that breaks the contract is a ``ValueError`` here;
:mod:`lastmile.topics` turns it into the command line's one-line error and creates topics.
"""
from __future__ import annotations

import re

PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
STREAMS = ("delivery_tasks", "shipment_status", "vehicle_positions", "capacity_offers")

COLOCATIONS = "coordination.colocations"
PROPOSALS = "coordination.proposals"
ETA = "coordination.eta"
DEAD_LETTERS = "coordination.dead_letters"
COORDINATION_TOPICS = (COLOCATIONS, PROPOSALS, ETA, DEAD_LETTERS)


def check_partner_id(partner_id: str) -> str:
    """``partner_id`` itself; a ValueError if it does not match :data:`PARTNER_ID`."""
    if not PARTNER_ID.match(partner_id or ""):
        raise ValueError(f"partner id must match {PARTNER_ID.pattern}, got {partner_id!r}")
    return partner_id


def partner_topic(partner_id: str, stream: str) -> str:
    """``partners.<partner_id>.<stream>``; a ValueError for an unknown stream or a bad id."""
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {', '.join(STREAMS)}, got {stream!r}")
    return f"partners.{check_partner_id(partner_id)}.{stream}"


def inbox(partner_id: str) -> str:
    """``partners.<partner_id>.inbox``; a ValueError for a bad id."""
    return f"partners.{check_partner_id(partner_id)}.inbox"


def dead_letters(partner_id: str) -> str:
    """``partners.<partner_id>.dead_letters``: that partner's own refused records, payloads
    included (the one place a partner can read them; docs/security.md); a ValueError for a bad id."""
    return f"partners.{check_partner_id(partner_id)}.dead_letters"


def stream_pattern(*streams: str) -> str:
    """Regex matching every partner's topic of the given streams (for pattern subscriptions)."""
    alternatives = "|".join(re.escape(s) for s in streams)
    return r"partners\.[a-z0-9][a-z0-9-]{1,31}\." + (f"({alternatives})" if len(streams) > 1 else alternatives)


def partner_of_topic(topic: str) -> str | None:
    """The partner id a ``partners.<id>.<stream>`` topic belongs to, else None."""
    parts = topic.split(".")
    if len(parts) == 3 and parts[0] == "partners" and PARTNER_ID.match(parts[1]):
        return parts[1]
    return None
