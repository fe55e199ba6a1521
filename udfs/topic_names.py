"""Kafka topic names (fixed in shared/design/domain.md), for the operators that write them.

Pure names, no Kafka client: lastmile.topics builds on them (validation with its own
errors, topic creation).
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


def inbox(partner_id: str) -> str:
    """``partners.<partner_id>.inbox``; a partner id outside :data:`PARTNER_ID` is a ValueError."""
    if not PARTNER_ID.match(partner_id or ""):
        raise ValueError(f"partner id must match {PARTNER_ID.pattern}, got {partner_id!r}")
    return f"partners.{partner_id}.inbox"


def partner_of_topic(topic: str) -> str | None:
    """The partner id a ``partners.<id>.<stream>`` topic belongs to, else None."""
    parts = topic.split(".")
    if len(parts) == 3 and parts[0] == "partners" and PARTNER_ID.match(parts[1]):
        return parts[1]
    return None
