"""`lastmile ingest`: JSON Lines from a file or stdin, validated, encoded, produced.

Every line ends either on the partner's topic (single-object Avro) or on
``coordination.dead_letters`` as a DeadLetter that keeps the line's bytes, its
file and line number, the stage and the reason code. Nothing is dropped.
"""
from __future__ import annotations

import collections
import dataclasses
import os
import sys
import time
from collections.abc import Iterator
from typing import BinaryIO

from lastmile import topics
from lastmile.config import Config
from lastmile.errors import LastmileError
from lastmile.kafka_io import ReliableProducer
from lastmile.partner import KEY_FIELDS, event_time_of
from udfs.contracts import wire
from udfs.contracts.errors import ContractViolation
from udfs.contracts.intake import from_json_line, record_name
from udfs.records import DeadLetter

PROGRESS_MIN_BYTES = 1 << 20


@dataclasses.dataclass
class Summary:
    accepted: int = 0
    rejected: int = 0
    reasons: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {"accepted": self.accepted, "rejected": self.rejected, "reasons": dict(sorted(self.reasons.items()))}


def ingest(config: Config, partner_id: str, stream: str, path: str, show_progress: bool = True) -> Summary:
    """Ingest one JSON Lines file (``-`` for stdin) for ``partner_id``'s ``stream``.

    Raises LastmileError (one line) for fatal problems only: bad partner or stream,
    unreadable file, unreachable broker, undelivered records.
    """
    topic = topics.partner_topic(partner_id, stream)
    started = time.monotonic()
    with _open(path) as handle:
        topics.ensure_partner_topics(config, partner_id)  # fails fast, in one line, without a broker
        topics.ensure_topics(config, [topics.DEAD_LETTERS])
        producer = ReliableProducer(config)
        summary = Summary()
        display = "<stdin>" if path == "-" else path
        for lineno, line in _lines(handle, path, show_progress):
            outcome = route_line(line, stream, partner_id, f"{display}:{lineno}")
            if isinstance(outcome, DeadLetter):
                letter = encode_dead_letter(outcome)
                producer.produce(topics.DEAD_LETTERS, letter, outcome.dead_letter_id)
                producer.produce(topics.dead_letters_topic(partner_id), letter, outcome.dead_letter_id)  # its own
                summary.rejected += 1
                summary.reasons[outcome.reason] += 1
            else:
                producer.produce(topic, outcome.payload, outcome.key, event_time_of(outcome.record))
                summary.accepted += 1
        producer.flush()
    summary.seconds = time.monotonic() - started
    return summary


@dataclasses.dataclass(frozen=True)
class Accepted:
    key: str
    payload: bytes  # single-object Avro
    record: dict


def route_line(line: bytes, stream: str, partner_id: str, source: str, now_ms: int | None = None) -> Accepted | DeadLetter:
    """One JSON line to either an encoded record or a DeadLetter that keeps the line and the reason."""
    try:
        record = from_json_line(line, stream, partner_id, now_ms)
        payload = wire.encode(record, record_name(stream))
    except ContractViolation as violation:
        return DeadLetter(source, f"ingest-{violation.stage}", violation.reason, violation.message, bytes(line),
                          partner_id)
    return Accepted(str(record.get(KEY_FIELDS[stream]) or record["event_id"]), payload, record)


def encode_dead_letter(dead: DeadLetter) -> bytes:
    return wire.encode(dead.as_record(), "DeadLetter")


class _open:
    def __init__(self, path: str):
        self.path = path
        self.handle: BinaryIO | None = None

    def __enter__(self) -> BinaryIO:
        if self.path == "-":
            return sys.stdin.buffer
        try:
            self.handle = open(self.path, "rb")
        except OSError as exc:
            raise LastmileError(f"cannot read {self.path}: {exc.strerror}") from None
        return self.handle

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            self.handle.close()


def _lines(handle: BinaryIO, path: str, show_progress: bool) -> Iterator[tuple[int, bytes]]:
    """(line number, line without its newline); a progress bar on stderr for large files."""
    size = os.fstat(handle.fileno()).st_size if path != "-" else 0
    if not (show_progress and size >= PROGRESS_MIN_BYTES):
        for lineno, line in enumerate(handle, 1):
            yield lineno, line.rstrip(b"\r\n")
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    with Progress(TextColumn("ingest {task.description}"), BarColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(os.path.basename(path), total=size)
        for lineno, line in enumerate(handle, 1):
            progress.advance(task, len(line))
            yield lineno, line.rstrip(b"\r\n")
