"""Python stages of the coordination job (thin: the logic is in udfs.colocation, udfs.eta), the
reference the JVM's (udfs/jvm ``io.lastmile.udfs.flink``) are held to; the job runs them with
``LASTMILE_OPERATORS=python`` (jobs.coordination.python_stages).

Their ClickHouse rows and Kafka messages (udfs/outputs.py: a match goes to the
colocations topic and two inboxes) leave each call as one ``OUTPUTS`` element
(udfs.flink.outputs.gather), framed for the JVM sinks.
Side outputs that feed the ETA and consolidation operators (udfs.flink.eta,
udfs.flink.consolidation): ``OFFERS`` from Decoded, ``STOPS`` (udfs.eta.Assign / Unassign)
from the Registry, ``GROUPS`` (links and unlinks of matched deliveries) from the Matcher.

What goes to a keyed function leaves as ``Row(key, value)`` (:data:`BY_TEXT`,
:data:`BY_NUMBER`), keyed without a key selector (jobs.runtime.keyed): the functions
know the key, and a selector would be one more Python operator per element.
"""
from __future__ import annotations

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, OutputTag, ProcessFunction
from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor

from udfs import keys, outputs
from udfs.colocation import ACCEPTED, DUPLICATE, CellIndex, Task, is_late, register, task_from_record
from udfs.consolidation import Link, Member, Unlink, neighbourhood_of, offer_from_record
from udfs.contracts import wire
from udfs.eta import Delivery, DeliveryEvent, in_event_order, status_event, task_event
from udfs.flink.outputs import gather
from udfs.flink.timers import Timers
from udfs.pings import interval_end
from udfs.records import DeadLetter, Source

BY_TEXT = Types.ROW([Types.STRING(), Types.PICKLED_BYTE_ARRAY()])  # Row(key, value) for a keyed function
BY_NUMBER = Types.ROW([Types.LONG(), Types.PICKLED_BYTE_ARRAY()])
OFFERS = OutputTag("offers")  # udfs.consolidation.Offer
STOPS = OutputTag("stops", BY_TEXT)  # (vehicle key, udfs.eta.Assign / Unassign), for the vehicle's ETA state
# (neighbourhood, the changes of one Matcher call there, in order: udfs.consolidation.Link / Unlink)
GROUPS = OutputTag("groups", BY_NUMBER)
# (receiver|other partner|other shipment, udfs.outputs.InboxCandidate): each partner's InboxMatch of a match, for Disclosure
DISCLOSE = OutputTag("disclose", BY_TEXT)
DELIVERY_RETENTION_MS = 2 * 24 * 3_600_000  # a shipment's status is kept this long after its last change
HOUR_MS = 3_600_000


class Decoded(ProcessFunction):
    """Partner records the JVM decoded and checked (``LASTMILE_DECODE_EVENT``, jobs/coordination.py)
    and found on time: ``Row(stream, topic, partition, offset, ingested_at, *fields)`` with the
    fields of udfs.contracts.jvm_export.decoded_fields.

    Delivery tasks and the statuses the Registry tracks continue on the main output as
    ``Row(partner:shipment, (record, source, ingested_at))``, like the Intake's; capacity
    offers go to ``OFFERS``.
    Their ClickHouse rows are written on the JVM (statuses, offers) or by the Registry (tasks).
    """

    def open(self, runtime_context):
        from udfs.contracts.jvm_export import record_reader

        self._readers = {stream: record_reader(stream) for stream in ("delivery_tasks", "shipment_status",
                                                                      "capacity_offers")}

    def process_element(self, row, ctx):
        stream = row[0]
        record = self._readers[stream](row[5:])
        if stream == "capacity_offers":
            yield OFFERS, offer_from_record(record)
        else:
            yield _by_shipment(record, Source(row[1], row[2], row[3]), row[4])


def _by_shipment(record: dict, source: Source, ingested_at: int) -> Row:
    return Row(f"{record['partner_id']}:{record['shipment_id']}", (record, source, ingested_at))


class Registry(KeyedProcessFunction):
    """Keyed by ``partner:shipment``: the current version of each shipment, and its delivery.

    Drops duplicates, refuses superseded and late versions (dead letters), writes
    accepted tasks to ClickHouse, and routes add/remove messages to the cells at once.
    Joins the shipment's task with its statuses (udfs.eta.Delivery) and tells its
    van (``STOPS``) in event-time order, whatever order they arrived in: accepted tasks
    and statuses wait in list state until the watermark passes the end of their interval
    (``interval_ms``, the ETA path's: the ETA operator applies a van's interval at the
    same time, so this adds no delay to any ETA), then are applied sorted
    (udfs.eta.in_event_order); one that arrives behind the watermark is applied at once.
    Task state is cleared when the window has ended plus the allowed lateness; delivery
    state ``DELIVERY_RETENTION_MS`` after its last change (at the next whole hour: a
    shipment's statuses share their clean-up timer).
    """

    def __init__(self, radius_m: float, resolution: int, allowed_lateness_ms: int, interval_ms: int):
        self._radius, self._res, self._lateness = radius_m, resolution, allowed_lateness_ms
        self._interval = interval_ms

    def open(self, runtime_context):
        self._state = runtime_context.get_state(ValueStateDescriptor("shipment", Types.PICKLED_BYTE_ARRAY()))
        self._delivery = runtime_context.get_state(ValueStateDescriptor("delivery", Types.PICKLED_BYTE_ARRAY()))
        # udfs.eta.DeliveryEvent of the shipment not applied yet: appended without a read
        self._waiting = runtime_context.get_list_state(
            ListStateDescriptor("delivery-waiting", Types.PICKLED_BYTE_ARRAY()))
        self._timers = Timers()

    def _deliver(self, ctx, key: str, event: DeliveryEvent):
        """Hold a task or status until the watermark passes its interval (or apply it, if it has)."""
        due = interval_end(event.at, self._interval)
        if due <= ctx.timer_service().current_watermark():
            yield from self._apply(ctx, key, [event])
            return
        self._waiting.add(event)
        self._timers.register(ctx, key, due)

    def _apply(self, ctx, key: str, events):
        """Apply tasks and statuses to the shipment's delivery, in event-time order; tell its vans."""
        delivery = self._delivery.value()
        if delivery is None:
            partner, shipment = keys.split(key)
            delivery = Delivery(partner, shipment)
        changes = [change for event in in_event_order(events) for change in delivery.apply(event)]
        self._delivery.update(delivery)
        # On the next whole hour: the statuses of a shipment's day then share one timer.
        retain_until = max(delivery.task_time, delivery.status_time) + DELIVERY_RETENTION_MS
        self._timers.register(ctx, key, -(-retain_until // HOUR_MS) * HOUR_MS)
        for change in changes:
            yield STOPS, Row(change.vehicle_key, change)
        return delivery

    def process_element(self, value, ctx):
        return gather(self._process(value, ctx))

    def _process(self, value, ctx):
        record, source, ingested_at = value
        key = f"{record['partner_id']}:{record['shipment_id']}"
        if "status" in record:
            yield from self._deliver(ctx, key, status_event(record))
            return
        task = task_from_record(record, self._res)
        watermark = ctx.timer_service().current_watermark()
        if is_late(task, watermark, self._lateness):
            yield from outputs.dead_letter(DeadLetter(
                str(source), "event-time", "late",
                f"delivery window ended {(watermark - task.window_end) / 1000:.0f} s before the watermark "
                f"(allowed lateness {self._lateness / 1000:.0f} s)",
                wire.encode(record, "DeliveryTask"), task.partner_id, ingested_at))
            return
        stored = self._state.value()
        verdict, new_stored, messages = register(stored, task, self._radius, self._res)
        if verdict == DUPLICATE:
            return  # same event_id again: already accepted once
        if verdict != ACCEPTED:
            yield from outputs.dead_letter(DeadLetter(
                str(source), "versioning", verdict,
                f"a newer announcement of {task.key} was accepted before this one",
                wire.encode(record, "DeliveryTask"), task.partner_id, ingested_at))
            return
        assert new_stored is not None  # what an accepted version leaves stored
        self._state.update(new_stored)
        self._timers.register(ctx, key, new_stored[0].window_end + self._lateness)
        yield from outputs.event("delivery_tasks", record, source, ingested_at)
        for message in messages:
            yield Row(message.cell, message)
        yield from self._deliver(ctx, key, task_event(task.event_time, task.event_id, task.lat, task.lng,
                                                      task.window_start))

    def on_timer(self, timestamp, ctx):
        return gather(self._on_timer(timestamp, ctx))

    def _on_timer(self, timestamp, ctx):
        key = ctx.get_current_key()
        self._timers.fired(key, timestamp)
        delivery = None
        due: list[DeliveryEvent] = []
        later: list[DeliveryEvent] = []
        for event in self._waiting.get() or ():
            (due if interval_end(event.at, self._interval) <= timestamp else later).append(event)
        if later:
            self._waiting.update(later)
        elif due:
            self._waiting.clear()
        if due:
            delivery = yield from self._apply(ctx, key, due)
        stored = self._state.value()
        if stored is not None and stored[0].window_end + self._lateness <= timestamp:
            self._state.clear()
        if delivery is None:
            delivery = self._delivery.value()
        if delivery is not None and max(delivery.task_time, delivery.status_time) + DELIVERY_RETENTION_MS <= timestamp:
            self._delivery.clear()


class Matcher(KeyedProcessFunction):
    """Keyed by index cell: the tasks stored in the cell; emits matches and retractions.

    The tasks live in map state, one entry per task, mirrored read-through in a dict per
    cell: a message compares its task with the mirror and writes the one entry it changes,
    so a busy cell is no longer unpickled and rewritten whole per message. Every change
    reaches state at once; after a restore the mirror is rebuilt from state.

    A task leaves its cell when the watermark passes its window's end plus the allowed
    lateness. One timer per cell does it, at the earliest such time among the cell's
    tasks: it drops every task the watermark has passed and asks for the next earliest.
    So no task is ever seen after its time (a timer fires before the elements that
    follow its watermark), with one timer registration per cell and expiry instead of one
    per task.
    """

    def __init__(self, radius_m: float, allowed_lateness_ms: int, inbox_key: str,
                 sharing: outputs.Sharing = outputs.NOT_SHARED):
        self._radius, self._lateness = radius_m, allowed_lateness_ms
        self._inbox_key = inbox_key  # of the inboxes' counterpart tokens (udfs.outputs.counterpart)
        self._sharing = sharing

    def open(self, runtime_context):
        self._state = runtime_context.get_map_state(
            MapStateDescriptor("cell-tasks", Types.STRING(), Types.PICKLED_BYTE_ARRAY()))
        self._mirror: dict[int, dict[str, Task]] = {}
        self._timers = Timers()

    def _cell(self, cell: int) -> dict[str, Task]:
        tasks = self._mirror.get(cell)
        if tasks is None:
            tasks = self._mirror[cell] = dict(self._state.items())
        return tasks

    def _write(self, cell: int, tasks: dict[str, Task], key: str) -> None:
        if key in tasks:
            self._state.put(key, tasks[key])
        else:
            self._state.remove(key)
        if not tasks:
            del self._mirror[cell]

    def process_element(self, message, ctx):
        return gather(self._process(message, ctx))

    def _process(self, message, ctx):
        tasks = self._cell(message.cell)
        index = CellIndex(message.cell, self._radius, tasks)
        if message.task is not None:
            matches = index.add(message.task)
            self._expire_at(ctx, message.cell, message.task.window_end + self._lateness)
            self._write(message.cell, tasks, message.task.key)
        else:
            matches = index.remove(message.remove_key, message.by_revision)
            self._write(message.cell, tasks, message.remove_key)
        groups: dict[int, list[Link | Unlink]] = {}
        for m in matches:
            yield from outputs.match(m)
            key_a, key_b = keys.key(m.partner_a, m.shipment_a), keys.key(m.partner_b, m.shipment_b)
            until_a, until_b = (self._until(index.tasks.get(key)) for key in (key_a, key_b))
            for candidate in outputs.inbox_candidates(m, self._inbox_key, self._sharing, until_a, until_b):
                yield DISCLOSE, Row(candidate.key, candidate)
            neighbourhood = neighbourhood_of(m.h3_cell)
            change: Link | Unlink
            if m.retracted:
                change = Unlink(neighbourhood, key_a, key_b)
            else:
                change = Link(neighbourhood, Member.of(index.tasks[key_a]), Member.of(index.tasks[key_b]))
            groups.setdefault(neighbourhood, []).append(change)
        for neighbourhood, changes in groups.items():  # one element per neighbourhood and call
            yield GROUPS, Row(neighbourhood, tuple(changes))

    def _until(self, task: Task | None) -> int:
        """When ``task`` leaves the matcher (0: it already has)."""
        return 0 if task is None else task.window_end + self._lateness

    def _expire_at(self, ctx, cell: int, timestamp: int) -> None:
        """Have the cell's timer fire by ``timestamp`` (one timer per cell: the earliest)."""
        pending = self._timers.earliest(cell)
        if pending is None or timestamp < pending:
            self._timers.register(ctx, cell, timestamp)

    def on_timer(self, timestamp, ctx):
        cell = ctx.get_current_key()
        self._timers.fired(cell, timestamp)
        # Everything the watermark has passed, not only this timer's tasks: the next
        # earliest may be behind it too (its timer was never registered).
        upto = max(timestamp, ctx.timer_service().current_watermark())
        tasks = self._cell(cell)
        before = list(tasks)
        CellIndex(cell, self._radius, tasks).expire(upto - self._lateness + 1)
        if not tasks:
            self._state.clear()
            del self._mirror[cell]
            return iter(())
        for key in before:
            if key not in tasks:
                self._state.remove(key)
        self._expire_at(ctx, cell, min(t.window_end for t in tasks.values()) + self._lateness)
        return iter(())


class Disclosure(KeyedProcessFunction):
    """Keyed by ``receiver|other partner|other shipment`` (udfs.outputs.disclosure_key): sends a
    partner the first ``InboxMatch`` about another partner's shipment and no later one
    (udfs.outputs.disclose), on ``OUTPUTS``. The key is remembered until the other shipment's
    task can match no more, then forgotten (an event-time timer)."""

    def open(self, runtime_context):
        self._until = runtime_context.get_state(ValueStateDescriptor("disclosed-until", Types.LONG()))

    def process_element(self, candidate, ctx):
        before = self._until.value()
        send, after = outputs.disclose(before, candidate)
        if after != before:
            self._until.update(after)
            ctx.timer_service().register_event_time_timer(after)
        if send:
            message = outputs.Message((candidate.topic,), candidate.match_id, candidate.value)
            yield from gather([(outputs.KAFKA, message)])

    def on_timer(self, timestamp, ctx):
        until = self._until.value()
        if until is not None and timestamp >= until:
            self._until.clear()
        return iter(())
