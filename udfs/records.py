"""Shared record shapes: where a record came from, and dead letters.

Every step that can fail returns either a good value or a :class:`DeadLetter`
that keeps the original bytes, the source, the stage and a stable reason code.
"""
from __future__ import annotations

import dataclasses
import hashlib
import time
from typing import NamedTuple

from udfs.contracts.limits import MAX_DEAD_LETTER_PAYLOAD


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a raw record came from: a Kafka position or a file line."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    source: str
    stage: str
    reason: str
    message: str
    payload: bytes
    partner_id: str | None = None
    received_at_ms: int = dataclasses.field(default_factory=lambda: int(time.time() * 1000))

    @property
    def dead_letter_id(self) -> str:
        """Deterministic: the same source, stage and reason give the same id (replays collapse)."""
        return hashlib.sha256(f"{self.source}|{self.stage}|{self.reason}".encode()).hexdigest()[:32]

    def kept(self) -> tuple[str, bytes]:
        """``(message, payload)`` as written: a payload over ``MAX_DEAD_LETTER_PAYLOAD`` bytes is
        cut to that size, and the message says so with the SHA-256 of the whole (a dead letter
        must stay writable whatever a partner sent)."""
        if len(self.payload) <= MAX_DEAD_LETTER_PAYLOAD:
            return self.message, self.payload
        digest = hashlib.sha256(self.payload).hexdigest()
        return (f"{self.message} [payload cut to its first {MAX_DEAD_LETTER_PAYLOAD} of {len(self.payload)} bytes; "
                f"sha256 of the whole {digest}]", self.payload[:MAX_DEAD_LETTER_PAYLOAD])

    def as_record(self) -> dict:
        """The fields of the ``DeadLetter`` Avro schema."""
        message, payload = self.kept()
        return {"dead_letter_id": self.dead_letter_id, "received_at": self.received_at_ms, "source": self.source,
                "partner_id": self.partner_id, "stage": self.stage, "reason": self.reason,
                "message": message, "payload": payload}

    def clickhouse_row(self) -> tuple:
        message, payload = self.kept()
        return (self.dead_letter_id, self.received_at_ms, self.source, self.partner_id, self.stage,
                self.reason, message, payload, hashlib.sha256(payload).hexdigest())


# payload_sha256: of the payload kept, what the analysts' dead_letters_summary shows instead of it
DEAD_LETTER_COLUMNS = ("dead_letter_id", "received_at", "source", "partner_id", "stage", "reason", "message",
                       "payload", "payload_sha256")


class Outputs(NamedTuple):
    """What one call of a job's function writes, in one element: ClickHouse rows
    (``udfs.outputs.Row``: table, values) and Kafka messages (``udfs.outputs.Message``:
    topics, key, value). One crossing to the writers instead of one per row and per message."""

    rows: tuple = ()
    messages: tuple = ()
