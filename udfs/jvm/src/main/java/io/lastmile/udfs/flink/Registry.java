package io.lastmile.udfs.flink;

import java.util.ArrayList;
import java.util.List;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import io.lastmile.udfs.AvroRecords;
import io.lastmile.udfs.core.Colocation;
import io.lastmile.udfs.core.Colocation.Registered;
import io.lastmile.udfs.core.Colocation.Routed;
import io.lastmile.udfs.core.Colocation.Stored;
import io.lastmile.udfs.core.Colocation.Task;
import io.lastmile.udfs.core.Colocation.Verdict;
import io.lastmile.udfs.core.Deliveries;
import io.lastmile.udfs.core.H3;
import io.lastmile.udfs.core.Pings;
import io.lastmile.udfs.core.Deliveries.Delivery;
import io.lastmile.udfs.core.Deliveries.DeliveryEvent;
import io.lastmile.udfs.core.Stops;

/**
 * Keyed by {@code partner:shipment}: the current version of each shipment, and its delivery
 * (udfs.flink.coordination.Registry, the reference, step for step).
 *
 * <p>Drops duplicates, refuses superseded and late versions (dead letters), writes accepted
 * tasks to ClickHouse and routes add/remove messages to the cells at once (main output, for
 * the {@link Matcher}). Joins the shipment's task with its statuses ({@link Delivery}) and tells
 * its van ({@link #STOPS}) in event-time order, whatever order they arrived in: tasks and
 * statuses wait in list state until the watermark passes the end of their interval (the ETA
 * path's), then are applied sorted; one that arrives behind the watermark is applied at once.
 * Task state is cleared when the window has ended plus the allowed lateness; delivery state
 * {@link Deliveries#DELIVERY_RETENTION_MS} after its last change, on the next whole hour.
 */
public final class Registry extends KeyedProcessFunction<String, Row, Routed> {
    private static final long serialVersionUID = 1L;
    public static final OutputTag<Stops.Change> STOPS = new OutputTag<>("stops", TypeInformation.of(Stops.Change.class));
    public static final KeySelector<Row, String> BY_SHIPMENT =
            row -> row.getField(Accepted.PARTNER_ID) + ":" + row.getField(Accepted.SHIPMENT_ID);

    private final double radiusM;
    private final int resolution;
    private final long latenessMs;
    private final long intervalMs;
    private final Outputs outputs;
    private transient ValueState<Stored> shipment;
    private transient ValueState<Delivery> delivery;
    private transient ListState<DeliveryEvent> waiting;
    private transient Outputs.Call out;
    private transient AvroRecords avro;

    public Registry(double radiusM, long latenessMs, long intervalMs, Outputs outputs) {
        this.radiusM = radiusM;
        this.resolution = Colocation.resolutionForRadius(radiusM);
        this.latenessMs = latenessMs;
        this.intervalMs = intervalMs;
        this.outputs = outputs;
    }

    @Override
    public void open(OpenContext context) {
        shipment = getRuntimeContext().getState(new ValueStateDescriptor<>("shipment", Stored.class));
        delivery = getRuntimeContext().getState(new ValueStateDescriptor<>("delivery", Delivery.class));
        waiting = getRuntimeContext().getListState(new ListStateDescriptor<>("delivery-waiting", DeliveryEvent.class));
        out = outputs.open();
        avro = new AvroRecords();
    }

    @Override
    public void processElement(Row row, Context ctx, Collector<Routed> routed) throws Exception {
        String key = ctx.getCurrentKey();
        if ("shipment_status".equals(row.getField(Accepted.KIND))) {
            deliver(ctx, Deliveries.statusEvent(Accepted.time(row, Accepted.EVENT_TIME), Accepted.text(row, Accepted.EVENT_ID),
                    Accepted.text(row, Accepted.STATUS), Accepted.text(row, Accepted.VEHICLE_ID),
                    (Integer) row.getField(Accepted.STOP_SEQUENCE)));
            out.emit(ctx::output);
            return;
        }
        Task task = Colocation.taskFromFields(Accepted.text(row, Accepted.PARTNER_ID),
                Accepted.text(row, Accepted.SHIPMENT_ID), Accepted.time(row, Accepted.EVENT_TIME),
                Accepted.text(row, Accepted.EVENT_ID), Accepted.number(row, Accepted.DEST_LAT),
                Accepted.number(row, Accepted.DEST_LNG), Accepted.time(row, Accepted.WINDOW_START),
                Accepted.time(row, Accepted.WINDOW_END), Accepted.text(row, Accepted.RECIPIENT_KEY),
                (Double) row.getField(Accepted.VOLUME_L), (Integer) row.getField(Accepted.PARCEL_COUNT), resolution);
        long watermark = ctx.timerService().currentWatermark();
        long ingestedAt = Accepted.time(row, Accepted.INGESTED_AT);
        if (Colocation.isLate(task, watermark, latenessMs)) {
            DeadLetters.write(out, avro, Accepted.source(row), "event-time", "late",
                    Colocation.lateMessage(task, watermark, latenessMs), Accepted.encode(avro, "DeliveryTask", row),
                    task.partnerId(), ingestedAt);
            out.emit(ctx::output);
            return;
        }
        Registered r = Colocation.register(shipment.value(), task, radiusM, resolution);
        if (r.verdict() == Verdict.DUPLICATE) {
            return; // same event_id again: already accepted once
        }
        if (r.verdict() != Verdict.ACCEPTED) {
            DeadLetters.write(out, avro, Accepted.source(row), "versioning", r.verdict().text,
                    Colocation.supersededMessage(task), Accepted.encode(avro, "DeliveryTask", row), task.partnerId(),
                    ingestedAt);
            out.emit(ctx::output);
            return;
        }
        shipment.update(r.stored());
        ctx.timerService().registerEventTimeTimer(r.stored().task().windowEnd() + latenessMs);
        out.row("delivery_tasks", row.getField(Accepted.EVENT_ID), task.partnerId(), task.shipmentId(),
                task.eventTime(), ingestedAt, H3.latLngToCell(task.lat(), task.lng(), Colocation.SHARED_RESOLUTION), task.windowStart(),
                task.windowEnd(), row.getField(Accepted.PARCEL_COUNT), row.getField(Accepted.VOLUME_L),
                row.getField(Accepted.WEIGHT_KG), row.getField(Accepted.RETAILER_ID),
                row.getField(Accepted.SERVICE_LEVEL), row.getField(Accepted.TOPIC), row.getField(Accepted.PARTITION),
                row.getField(Accepted.OFFSET), row.getField(Accepted.SCHEMA_VERSION));
        for (Routed message : r.messages()) {
            routed.collect(message);
        }
        deliver(ctx, Deliveries.taskEvent(task.eventTime(), task.eventId(), task.lat(), task.lng(),
                task.windowStart()));
        out.emit(ctx::output);
    }

    /** Hold a task or status until the watermark passes its interval (or apply it, if it has). */
    private void deliver(Context ctx, DeliveryEvent event) throws Exception {
        long due = Pings.intervalEnd(event.at(), intervalMs);
        if (due <= ctx.timerService().currentWatermark()) {
            apply(ctx, ctx.getCurrentKey(), List.of(event));
            return;
        }
        waiting.add(event);
        ctx.timerService().registerEventTimeTimer(due);
    }

    /** Apply tasks and statuses to the shipment's delivery in event-time order; tell its vans. */
    private Delivery apply(Context ctx, String key, List<DeliveryEvent> events) throws Exception {
        Delivery d = delivery.value();
        if (d == null) {
            d = Delivery.forKey(key);
        }
        List<Stops.Change> changes = d.applyInOrder(events);
        delivery.update(d);
        // On the next whole hour: the statuses of a shipment's day then share one timer.
        long retainUntil = Math.max(d.taskTime, d.statusTime) + Deliveries.DELIVERY_RETENTION_MS;
        ctx.timerService().registerEventTimeTimer(Math.floorDiv(retainUntil + Deliveries.HOUR_MS - 1,
                Deliveries.HOUR_MS) * Deliveries.HOUR_MS);
        for (Stops.Change change : changes) {
            ctx.output(STOPS, change);
        }
        return d;
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Routed> routed) throws Exception {
        String key = ctx.getCurrentKey();
        Delivery d = null;
        List<DeliveryEvent> due = new ArrayList<>(), later = new ArrayList<>();
        Iterable<DeliveryEvent> held = waiting.get();
        if (held != null) {
            for (DeliveryEvent event : held) {
                (Pings.intervalEnd(event.at(), intervalMs) <= timestamp ? due : later).add(event);
            }
        }
        if (!later.isEmpty()) {
            waiting.update(later);
        } else if (!due.isEmpty()) {
            waiting.clear();
        }
        if (!due.isEmpty()) {
            d = apply(ctx, key, due);
        }
        Stored stored = shipment.value();
        if (stored != null && stored.task().windowEnd() + latenessMs <= timestamp) {
            shipment.clear();
        }
        if (d == null) {
            d = delivery.value();
        }
        if (d != null && Math.max(d.taskTime, d.statusTime) + Deliveries.DELIVERY_RETENTION_MS <= timestamp) {
            delivery.clear();
        }
    }
}
