"""Flink function of the consolidation path (thin: the logic is in udfs.consolidation).

    GROUPS (links / unlinks of matched deliveries, from the Matcher)
        ─► Consolidator  keyed by neighbourhood (resolution-7 cell), broadcast input: capacity offers
            └─► ConsolidationProposal: ClickHouse consolidation_proposals, coordination.proposals,
                the inbox of every partner involved

Event-time timers decide: one when a group becomes due (``LEAD_MS`` before its
earliest window), one when a member's window ends (state cleanup). Output: one
:class:`udfs.records.Outputs` per timer on the main output (udfs.flink.outputs.gather;
PyFlink 2.2 drops the side outputs of a keyed broadcast function's timers).
"""
from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import KeyedBroadcastProcessFunction
from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor

from udfs import outputs
from udfs.consolidation import Link, Neighbourhood, Offer, due_at, offers_ended_before
from udfs.flink.outputs import gather
from udfs.flink.timers import Timers

#: Broadcast state: offer key -> Offer. An offer replaces the earlier one with the same key.
OFFERS = MapStateDescriptor("offers", Types.STRING(), Types.PICKLED_BYTE_ARRAY())


class Consolidator(KeyedBroadcastProcessFunction):
    """Keyed by neighbourhood: the matches of its deliveries and the proposals made for their
    groups; broadcast input: capacity offers. Each proposal goes whole to its table and to
    coordination.proposals, and to each partner involved as its ``InboxProposal``."""

    def __init__(self, inbox_key: str = "", sharing: outputs.Sharing = outputs.NOT_SHARED):
        self._inbox_key, self._sharing = inbox_key, sharing

    def open(self, runtime_context):
        from udfs.kernels import warm_up_all

        warm_up_all()  # compile or load the kernels now, not on the first record
        self._state = runtime_context.get_state(ValueStateDescriptor("neighbourhood", Types.PICKLED_BYTE_ARRAY()))
        # Links and unlinks wait here, appended in O(1), until the next timer applies them in
        # arrival order: a busy neighbourhood's whole state was read and rewritten per message.
        self._pending = runtime_context.get_list_state(ListStateDescriptor("pending-links", Types.PICKLED_BYTE_ARRAY()))
        self._offers: dict[str, Offer] | None = None
        self._timers = Timers()
        # Read-through mirror of the neighbourhood state (unpickled at every timer before);
        # every change is written to state at once, so after a restore it is rebuilt from there.
        self._neighbourhoods: dict[int, Neighbourhood] = {}

    def _offers_now(self, ctx) -> dict[str, Offer]:
        """The lookup mirror of the broadcast state (rebuilt after a restore)."""
        if self._offers is None:
            self._offers = dict(ctx.get_broadcast_state(OFFERS).items())
        return self._offers

    def process_broadcast_element(self, offer: Offer, ctx):
        state = ctx.get_broadcast_state(OFFERS)
        state.put(offer.offer_key, offer)
        for key in offers_ended_before(list(state.items()), offer):
            state.remove(key)
        self._offers = None  # rebuilt on the next lookup

    def process_element(self, value, ctx):
        """``value``: the links and unlinks of one Matcher call in this neighbourhood, in order."""
        self._pending.add_all(list(value))
        for change in value:
            if isinstance(change, Link):
                for at in (due_at(change.a, change.b), change.a.window_end, change.b.window_end):
                    self._timers.register(ctx, change.neighbourhood, at)
        return iter(())

    def on_timer(self, timestamp, ctx):
        return gather(self._on_timer(timestamp, ctx), tag=None)

    def _on_timer(self, timestamp, ctx):
        key = ctx.get_current_key()
        self._timers.fired(key, timestamp)
        n = self._neighbourhoods.get(key)
        if n is None:
            n = self._neighbourhoods[key] = self._state.value() or Neighbourhood()
        pending = list(self._pending.get() or ())  # what arrived before this timer, in arrival order
        if pending:
            self._pending.clear()
        proposals, changed = n.on_timer(timestamp, pending, self._offers_now(ctx))
        for p in proposals:
            yield from outputs.proposal(p, self._inbox_key, self._sharing)
        if changed:  # unchanged: the state already holds it
            self._save(key, n)
        elif not (n.members or n.decided or n.promised):
            del self._neighbourhoods[key]  # nothing here, in state either

    def _save(self, key: int, n: Neighbourhood) -> None:
        if n.members or n.decided or n.promised:
            self._state.update(n)
        else:
            self._state.clear()
            del self._neighbourhoods[key]
