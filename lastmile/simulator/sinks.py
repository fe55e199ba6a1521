"""Where the feed goes: JSON Lines files (for `lastmile ingest`) or Kafka through the partner SDK."""
from __future__ import annotations

import json
import pathlib

from lastmile.config import Config
from lastmile.partner import event_time_of
from lastmile.simulator.feed import Event
from udfs.contracts import STREAM_RECORDS, wire


class FileSink:
    """``DIR/<partner>/<stream>.jsonl``, one record per line in emission order."""

    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        self._files: dict[tuple[str, str], object] = {}
        self.lines: dict[tuple[str, str], int] = {}

    def write(self, event: Event) -> str:
        key = (event.partner_id, event.stream)
        handle = self._files.get(key)
        if handle is None:
            (self.folder / event.partner_id).mkdir(parents=True, exist_ok=True)
            handle = self._files[key] = open(self.folder / event.partner_id / f"{event.stream}.jsonl", "wb")
            self.lines[key] = 0
        data = event.raw if event.raw is not None else json.dumps(event.record, separators=(",", ":")).encode()
        handle.write(data + b"\n")
        self.lines[key] += 1
        return f"{event.partner_id}/{event.stream}.jsonl:{self.lines[key]}"

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()


class KafkaSink:
    """One :class:`PartnerClient` per partner: good records are validated by the SDK like
    any partner's; malformed ones are sent as bytes, as a faulty producer would."""

    def __init__(self, config: Config, ecosystem_key: str):
        self.config = config
        self.ecosystem_key = ecosystem_key
        self._clients: dict = {}

    def _client(self, partner: str):
        from lastmile.partner import PartnerClient

        client = self._clients[partner] = PartnerClient(
            partner, self.config, self.ecosystem_key, producer_options={"linger.ms": 50, "batch.size": 1_000_000})
        return client

    def write(self, event: Event) -> str:
        client = self._clients.get(event.partner_id) or self._client(event.partner_id)
        if event.malformed is None:
            client.publish(event.stream, event.record, typed=True)
        elif event.raw is not None:
            client.send(event.stream, event.raw, None, event.emit_time)
        else:
            client.send(event.stream, wire.encode(event.record, STREAM_RECORDS[event.stream]), None,
                        event_time_of(event.record))
        return event.partner_id

    def close(self) -> None:
        for client in self._clients.values():
            client.flush()
