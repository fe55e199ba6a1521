"""Event-time timers registered once per key and timestamp.

Registering a timer is a call into the JVM (~20-40 µs in thread mode) and Flink keeps
one timer per key and timestamp anyway, so registering one that is already pending
only costs. Many elements of a key ask for the same timestamp (the tasks of a cell end
their windows on the same slot boundaries, the pings of a van ask for the same hour),
so the functions remember what they registered. This is a cache of Flink's timer
state, not state: after a restore it starts empty and timers are registered again,
which Flink ignores for the ones it restored.
"""
from __future__ import annotations


class Timers:
    """Pending event-time timers by key, as registered through :meth:`register`."""

    def __init__(self):
        self._pending: dict[object, set[int]] = {}

    def register(self, ctx, key, timestamp: int) -> None:
        """Register ``timestamp`` for ``key`` (the current key of ``ctx``) unless it is pending."""
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = set()
        elif timestamp in pending:
            return
        pending.add(timestamp)
        ctx.timer_service().register_event_time_timer(timestamp)

    def fired(self, key, timestamp: int) -> None:
        """Call from ``on_timer``: ``key``'s timer at ``timestamp`` is no longer pending."""
        pending = self._pending.get(key)
        if pending is not None:
            pending.discard(timestamp)
            if not pending:
                del self._pending[key]

    def earliest(self, key) -> int | None:
        """The earliest pending timer of ``key``, if any."""
        pending = self._pending.get(key)
        return min(pending) if pending else None

    def __len__(self) -> int:
        return sum(len(p) for p in self._pending.values())
