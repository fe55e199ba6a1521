"""From a plan to the ordered feed partners actually send, with real-world mess.

* delays: every event reaches the platform a little after it happened; a share
  arrives minutes late, so event times are out of order in the feed;
* duplicates: a share of events is sent twice (same event_id, same bytes);
* malformed: extra records that break the contract (bad coordinates, (0, 0),
  empty windows, garbage bytes), so dead-letter handling is always exercised.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

from lastmile.simulator.plan import Plan, event_ids

STREAMS = ("delivery_tasks", "shipment_status", "vehicle_positions", "capacity_offers")
MALFORMED_KINDS = ("bad_coordinates", "null_island", "empty_window", "garbage")


@dataclasses.dataclass(frozen=True)
class MessConfig:
    late_share: float = 0.02
    max_delay_s: float = 600.0
    duplicate_share: float = 0.01
    malformed_share: float = 0.005


class Event(NamedTuple):
    stream: str
    partner_id: str
    record: dict | None  # None for garbage bytes
    raw: bytes | None  # garbage bytes (records are encoded by the sink)
    malformed: str | None  # kind of fault, None for a good record
    duplicate: bool
    emit_time: int


class Feed:
    """Events of a plan in emission order (``emit_time``, then a fixed tie-break)."""

    def __init__(self, plan: Plan, mess: MessConfig, rng: np.random.Generator):
        self.plan = plan
        pos = plan.positions
        self._pos = {k: (np.concatenate(pos[k]) if pos[k] and isinstance(pos[k][0], np.ndarray) else np.asarray(pos[k]))
                     for k in ("time", "lat", "lng", "speed", "load", "capacity")}
        self._pos_partner, self._pos_vehicle = pos["partner"], pos["vehicle"]
        self._pos_lists: dict | None = None
        n_pos = len(self._pos_partner)
        self._pos_ids = event_ids(rng, n_pos)
        self._records = (plan.tasks, plan.statuses, None, plan.offers)
        event_times = [np.array([t["event_time"] for t in plan.tasks], dtype=np.int64),
                       np.array([s["event_time"] for s in plan.statuses], dtype=np.int64),
                       self._pos["time"].astype(np.int64),
                       np.array([o["available_from"] for o in plan.offers], dtype=np.int64)]
        stream = np.concatenate([np.full(len(t), i, np.int8) for i, t in enumerate(event_times)])
        index = np.concatenate([np.arange(len(t)) for t in event_times])
        event_time = np.concatenate(event_times)
        n = len(event_time)
        # Transport latency ~0.7 s median, at most 5 s; late events lag 30 s .. max_delay_s more.
        delay = np.minimum(rng.lognormal(6.5, 0.8, n), 5_000).astype(np.int64)
        late = rng.random(n) < mess.late_share
        delay[late] += rng.integers(30_000, max(int(mess.max_delay_s * 1000), 30_000) + 1, int(late.sum()))
        emit = event_time + delay
        kind = np.zeros(n, np.int8)
        dup = np.flatnonzero(rng.random(n) < mess.duplicate_share)
        self._malformed = self._make_malformed(rng, int(round(n * mess.malformed_share)))
        m_emit = np.array([m[3] for m in self._malformed], dtype=np.int64)
        self.emit_time = np.concatenate([emit, emit[dup] + rng.integers(1_000, 60_000, len(dup)), m_emit])
        self.stream = np.concatenate([stream, stream[dup], np.array([STREAMS.index(m[0]) for m in self._malformed],
                                                                    dtype=np.int8)])
        self.index = np.concatenate([index, index[dup], np.arange(len(self._malformed))])
        self.kind = np.concatenate([kind, np.ones(len(dup), np.int8), np.full(len(self._malformed), 2, np.int8)])
        self.order = np.lexsort((self.index, self.stream, self.kind, self.emit_time))

    def __len__(self) -> int:
        return len(self.order)

    def _make_malformed(self, rng, count: int) -> list[tuple[str, str, dict | bytes, int, str]]:
        """(stream, partner, record or bytes, emit time, kind) of records that break the contract."""
        out = []
        tasks, pos_time = self.plan.tasks, self._pos["time"]
        if not tasks or count == 0:
            return out
        ids = event_ids(rng, count)
        for i in range(count):
            kind = MALFORMED_KINDS[int(rng.integers(0, len(MALFORMED_KINDS)))]
            base = tasks[int(rng.integers(0, len(tasks)))]
            emit = int(base["event_time"]) + int(rng.integers(1_000, 3_600_000))
            if kind == "garbage":
                stream = STREAMS[int(rng.integers(0, len(STREAMS)))]
                raw = rng.integers(0, 256, int(rng.integers(5, 80)), dtype=np.uint8).tobytes()
                raw = raw.replace(b"\n", b"\x00").replace(b"\r", b"\x00")
                out.append((stream, base["partner_id"], raw, emit, kind))
            elif kind == "bad_coordinates" and len(pos_time) and rng.random() < 0.5:
                j = int(rng.integers(0, len(pos_time)))
                rec = self._position(j, ids[i])
                rec["lng"] = float(rng.choice([-200.5, 181.25]))
                out.append(("vehicle_positions", rec["partner_id"], rec, int(rec["event_time"]) + 500, kind))
            else:
                # A corrupt later update of a real shipment: it must be refused, not replace the task.
                rec = dict(base, event_id=ids[i], event_time=base["event_time"] + 60_000)
                if kind == "bad_coordinates":
                    rec["dest_lat"] = float(rng.choice([95.5, -123.0]))
                elif kind == "null_island":
                    rec["dest_lat"], rec["dest_lng"] = 0.0, 0.0
                else:
                    rec["window_end"] = rec["window_start"]
                out.append(("delivery_tasks", base["partner_id"], rec, emit, kind))
        return out

    def _position(self, j: int, event_id: str | None = None) -> dict:
        if self._pos_lists is None:  # Python lists: indexing numpy arrays per field is ~10x slower
            self._pos_lists = {k: v.tolist() for k, v in self._pos.items()}
        p = self._pos_lists
        return {"event_id": event_id or self._pos_ids[j], "partner_id": self._pos_partner[j],
                "vehicle_id": self._pos_vehicle[j], "event_time": p["time"][j], "lat": p["lat"][j],
                "lng": p["lng"][j], "speed_mps": p["speed"][j], "load_volume_l": p["load"][j],
                "capacity_volume_l": p["capacity"][j]}

    def events(self, limit: int | None = None) -> Iterator[Event]:
        order = self.order if limit is None else self.order[:limit]
        columns = zip(self.stream[order].tolist(), self.index[order].tolist(), self.kind[order].tolist(),
                      self.emit_time[order].tolist())
        for stream, index, kind, emit in columns:
            if kind == 2:
                s, partner, payload, _, fault = self._malformed[index]
                if isinstance(payload, bytes):
                    yield Event(s, partner, None, payload, fault, False, emit)
                else:
                    yield Event(s, partner, payload, None, fault, False, emit)
                continue
            record = self._position(index) if stream == 2 else self._records[stream][index]
            yield Event(STREAMS[stream], record["partner_id"], record, None, None, kind == 1, emit)
