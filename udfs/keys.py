"""Keys of the job's state and messages, in one place.

A shipment or a vehicle is known by its partner and the partner's own id, written
``partner:id``: partner ids cannot hold a colon (udfs.contracts.topics.PARTNER_ID), so the
first colon splits a key whatever the partner's id holds. The JVM stages build the same keys
(udfs/jvm ``core``), the agreement tests compare them.
"""
from __future__ import annotations


def key(partner_id: str, local_id: str) -> str:
    """``partner_id:local_id``: the key of a partner's shipment or vehicle."""
    return f"{partner_id}:{local_id}"


def split(key: str) -> tuple[str, str]:
    """``(partner_id, local_id)`` of a :func:`key`."""
    partner_id, _, local_id = key.partition(":")
    return partner_id, local_id
