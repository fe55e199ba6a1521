"""Partner SDK: validate, pseudonymize, encode and publish records to the ecosystem.

    from lastmile.partner import PartnerClient

    with PartnerClient("acme-parcels", ecosystem_key=KEY) as client:
        client.publish("delivery_tasks", {
            "event_id": str(uuid.uuid4()), "partner_id": "acme-parcels", "shipment_id": "S-1",
            "event_time": now_ms, "dest_lat": 52.52, "dest_lng": 13.405,
            "window_start": now_ms, "window_end": now_ms + 2 * 3600_000,
            "recipient_key": client.recipient_key("Hauptstr. 5, 10115 Berlin"),
        })

Records are checked with the same contract module the pipeline uses, so a
partner learns about a broken record before it leaves the building
(:class:`ContractViolation` with a reason code). The raw address never leaves
the partner: only its HMAC-SHA256 under the ecosystem key does.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import time
import unicodedata

from lastmile import topics
from lastmile.config import Config
from lastmile.errors import ConfigError
from lastmile.kafka_io import ReliableProducer
from udfs.contracts import wire
from udfs.contracts.errors import ContractViolation
from udfs.contracts.intake import record_name, validated
from udfs.contracts.jsonl import conform
from udfs.contracts.schemas import default_registry

# Message key per stream: everything about one shipment (or vehicle) lands in one
# partition, in order, so a re-announced task is read after the one it replaces.
KEY_FIELDS = {"delivery_tasks": "shipment_id", "shipment_status": "shipment_id",
              "vehicle_positions": "vehicle_id", "capacity_offers": "event_id"}

# German street abbreviations, expanded before punctuation is dropped ("Hauptstr." = "Hauptstraße").
_ABBREVIATIONS = ((re.compile(r"str\.|\bstr\b"), "strasse"), (re.compile(r"(?<=\w)pl\.|\bpl\b\.?"), "platz"))


def event_time_of(record: dict, now_ms: int | None = None) -> int | None:
    """The record's Kafka timestamp: its event time (CapacityOffer: ``available_from``), but
    never ahead of the sender's clock.

    The coordination job derives event-time watermarks per Kafka partition from the
    record timestamps, so producers set them to the event time, not the send time. An
    offer announced for next week is stamped now: the broker refuses a timestamp more than
    an hour ahead (``log.message.timestamp.after.max.ms``), which once lost the offer and
    a current one sent in the same batch.
    """
    value = record.get("event_time", record.get("available_from"))
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return min(value, int(time.time() * 1000) if now_ms is None else now_ms)


def normalize_address(address: str) -> str:
    """The canonical text of an address: Unicode NFKC, case-folded (ß -> ss), punctuation
    to spaces, ``str.``/``pl.`` spelled out, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", address).casefold()
    for pattern, full in _ABBREVIATIONS:
        text = pattern.sub(full, text)
    text = re.sub(r"[^\w]+", " ", text)
    return " ".join(text.split())


def recipient_key(address: str, ecosystem_key: bytes) -> str:
    """Hex HMAC-SHA256 of the normalized address under the ecosystem key (64 lowercase hex chars)."""
    if not ecosystem_key:
        raise ConfigError("an ecosystem key is needed to compute recipient keys (LASTMILE_ECOSYSTEM_KEY)")
    return hmac.new(ecosystem_key, normalize_address(address).encode(), hashlib.sha256).hexdigest()


class PartnerClient:
    """Publishes one partner's records with an idempotent confluent-kafka producer."""

    def __init__(self, partner_id: str, config: Config | None = None, ecosystem_key: bytes | str | None = None,
                 producer_options: dict | None = None, create_topics: bool = True):
        self.partner_id = topics.check_partner_id(partner_id)
        self.config = config or Config.from_env()
        key = self.config.ecosystem_key if ecosystem_key is None else ecosystem_key
        self._ecosystem_key = key.encode() if isinstance(key, str) else key
        self._registry = default_registry()
        self._topics = {stream: topics.partner_topic(partner_id, stream) for stream in topics.STREAMS}
        if create_topics:
            topics.ensure_partner_topics(self.config, partner_id)
        self._producer = ReliableProducer(self.config, **(producer_options or {}))

    def recipient_key(self, address: str) -> str:
        return recipient_key(address, self._ecosystem_key)

    def prepare(self, stream: str, record: dict, version: int | None = None, typed: bool = False) -> bytes:
        """Check ``record`` against the contract and return its single-object Avro bytes.

        ``typed=True`` says the record is already in internal form (every field of
        the schema version, floats as float, timestamps as epoch-ms ints), which
        skips the type conformance step; the validation rules always run.
        Raises :class:`ContractViolation` (reason code and message) when it breaks the contract.
        """
        name = record_name(stream)
        schema = self._registry.latest(name) if version is None else self._registry.get(name, version)
        if not typed:
            record = conform(record, schema)
        validated(name, record, self.partner_id, None)
        return wire.encode(record, name, schema.version, self._registry)

    def publish(self, stream: str, record: dict, version: int | None = None, typed: bool = False) -> None:
        """Validate, encode and send one record (asynchronously; call :meth:`flush`)."""
        payload = self.prepare(stream, record, version, typed)
        self.send(stream, payload, str(record.get(KEY_FIELDS[stream]) or record.get("event_id")),
                  event_time_of(record))

    def send(self, stream: str, payload: bytes, key: str | None, timestamp_ms: int | None = None) -> None:
        """Send already-encoded bytes to the partner's topic of ``stream`` (timestamp: the event time)."""
        topic = self._topics.get(stream) or topics.partner_topic(self.partner_id, stream)  # raises for a bad stream
        self._producer.produce(topic, payload, key, timestamp_ms)

    def flush(self, timeout_s: float = 90.0) -> None:
        """Wait until every record is acknowledged; raise StackError if any was not."""
        self._producer.flush(timeout_s)

    @property
    def delivered(self) -> int:
        return self._producer.delivered

    def __enter__(self) -> PartnerClient:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.flush()


__all__ = ["PartnerClient", "ContractViolation", "recipient_key", "normalize_address"]
