package io.lastmile.udfs.flink;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.BroadcastState;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.util.Collector;

import io.lastmile.udfs.AvroRecords;
import io.lastmile.udfs.core.Eta;
import io.lastmile.udfs.core.Eta.EtaUpdate;
import io.lastmile.udfs.core.Eta.Route;
import io.lastmile.udfs.core.Pings;
import io.lastmile.udfs.core.Pings.PingBatch;
import io.lastmile.udfs.core.SpeedProfiles;
import io.lastmile.udfs.core.SpeedProfiles.CausalSpeeds;
import io.lastmile.udfs.core.Stops;

/**
 * Keyed by {@code partner:vehicle}: the van's {@link Route}; broadcast input: the speeds each
 * district learned (udfs.flink.eta.Eta, the reference, step for step).
 *
 * <p>Ping batches and the stops the {@link Registry} assigns and completes wait in state until
 * the watermark passes the end of their event-time interval, then all of a van's interval is
 * applied at one timer in event-time order (stops before pings of the same millisecond,
 * otherwise arrival order), with the speeds learned before the interval began
 * ({@link CausalSpeeds}): a replay gives the ETAs the live run gave. Late elements are applied
 * at once. Each ETA update goes to ClickHouse {@code eta_predictions}, to {@code coordination.eta}
 * and to the partner's inbox. Routes are cleaned up on whole hours, a day after a stop's window
 * opened or the van's last ping.
 */
public final class Routes extends KeyedBroadcastProcessFunction<String, Routes.Input, Profiles.Published, Void> {
    private static final long serialVersionUID = 1L;
    public static final long HOUR_MS = 3_600_000L;
    public static final long IDLE_ROUTE_MS = 24 * HOUR_MS;

    /** What a van receives: a ping batch or a change of its stops (exactly one is set). */
    public static final class Input implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        public PingBatch batch;
        public Stops.Change change;

        public Input() {
        }

        public static Input of(PingBatch batch) {
            Input in = new Input();
            in.batch = batch;
            return in;
        }

        public static Input of(Stops.Change change) {
            Input in = new Input();
            in.change = change;
            return in;
        }

        long at() {
            return batch != null ? batch.at() : change.at();
        }

        Object value() {
            return batch != null ? batch : change;
        }
    }

    public static final KeySelector<Input, String> BY_VEHICLE =
            in -> in.batch != null ? in.batch.key() : in.change.vehicleKey();
    /** Broadcast state: the CausalSpeeds of this instance, under {@code "speeds"}. */
    public static final MapStateDescriptor<String, CausalSpeeds> SPEEDS =
            new MapStateDescriptor<>("causal-speeds", Types.STRING, TypeInformation.of(CausalSpeeds.class));
    private static final Comparator<Input> EVENT_ORDER = Comparator.comparingLong(Input::at)
            .thenComparingInt(in -> in.batch != null ? 1 : 0); // stops first; then arrival (a stable sort)

    private final long intervalMs;
    private final Outputs outputs;
    private transient ValueState<Route> route;
    private transient MapState<Long, ArrayList<Input>> pending; // by the end of their interval
    private transient CausalSpeeds causal; // the broadcast state's, read once
    private transient long watermark; // the latest the keyed side saw, as the reference does
    private transient Outputs.Call out;
    private transient AvroRecords avro;

    public Routes(long intervalMs, Outputs outputs) {
        this.intervalMs = intervalMs;
        this.outputs = outputs;
    }

    @Override
    public void open(OpenContext context) {
        route = getRuntimeContext().getState(new ValueStateDescriptor<>("route", Route.class));
        pending = getRuntimeContext().getMapState(new MapStateDescriptor<>("pending-by-time", Types.LONG,
                TypeInformation.of(new TypeHint<ArrayList<Input>>() { })));
        watermark = SpeedProfiles.NEVER;
        out = outputs.open();
        avro = new AvroRecords();
    }

    private CausalSpeeds speeds(ReadOnlyContext ctx) throws Exception {
        if (causal == null) {
            CausalSpeeds held = ctx.getBroadcastState(SPEEDS).get("speeds");
            causal = held != null ? held : new CausalSpeeds();
        }
        return causal;
    }

    @Override
    public void processBroadcastElement(Profiles.Published value, Context ctx, Collector<Void> ignored) throws Exception {
        BroadcastState<String, CausalSpeeds> state = ctx.getBroadcastState(SPEEDS);
        if (causal == null) {
            CausalSpeeds held = state.get("speeds");
            causal = held != null ? held : new CausalSpeeds();
        }
        causal.receive(value.version(), value.district(), value.speeds());
        // No timer of this operator still to fire asks for a view older than this.
        causal.fold(watermark == SpeedProfiles.NEVER ? SpeedProfiles.NEVER : watermark - intervalMs);
        state.put("speeds", causal);
    }

    @Override
    public void processElement(Input value, ReadOnlyContext ctx, Collector<Void> ignored) throws Exception {
        long due = Pings.intervalEnd(value.at(), intervalMs);
        watermark = ctx.timerService().currentWatermark();
        if (due <= watermark) {
            apply(ctx, ctx.getCurrentKey(), List.of(value), watermark - intervalMs);
            out.emit(ctx::output);
            return;
        }
        ArrayList<Input> waiting = pending.get(due);
        if (waiting == null) {
            waiting = new ArrayList<>(4);
        }
        waiting.add(value);
        pending.put(due, waiting);
        ctx.timerService().registerEventTimeTimer(due);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Void> ignored) throws Exception {
        String key = ctx.getCurrentKey();
        watermark = Math.max(watermark, timestamp);
        ArrayList<Input> due = pending.get(timestamp);
        if (due != null) {
            pending.remove(timestamp);
            due.sort(EVENT_ORDER);
            // speeds learned before this interval began, none of its own or later ones
            apply(ctx, key, due, timestamp - intervalMs);
            out.emit(ctx::output);
        }
        if (Math.floorMod(timestamp, HOUR_MS) != 0) {
            return; // an interval's timer; cleanups run on whole hours (see hourAfter)
        }
        Route r = route.value();
        if (r == null) {
            return;
        }
        List<String> over = new ArrayList<>();
        for (Stops.Stop stop : r.stops.values()) {
            if (stop.windowStart() + IDLE_ROUTE_MS <= timestamp) {
                over.add(stop.shipmentId());
            }
        }
        for (String shipment : over) {
            r.complete(shipment);
        }
        if (r.stops.isEmpty() && (r.lastPing == null || r.lastPing.ts() + IDLE_ROUTE_MS <= timestamp)) {
            route.clear();
        } else {
            route.update(r);
        }
    }

    private void apply(ReadOnlyContext ctx, String key, List<Input> values, long speedsUpto) throws Exception {
        Route r = route.value();
        if (r == null) {
            int colon = key.indexOf(':');
            r = new Route(key.substring(0, colon), key.substring(colon + 1));
        }
        List<Object> inOrder = new ArrayList<>(values.size());
        for (Input in : values) {
            inOrder.add(in.value());
        }
        for (EtaUpdate u : Eta.applyInterval(r, inOrder, speeds(ctx).table(speedsUpto))) {
            out.row("eta_predictions", u.partnerId(), u.shipmentId(), u.vehicleId(), u.predictedAt(), u.eta(),
                    u.modelVersion(), u.inputsDigest());
            out.message(u.partnerId() + ":" + u.shipmentId(), avro.encode("EtaUpdate", u.partnerId(), u.shipmentId(),
                    u.vehicleId(), u.predictedAt(), u.eta(), u.modelVersion(), u.inputsDigest()), Topics.ETA,
                    Topics.inbox(u.partnerId()));
        }
        for (Input in : values) { // clean-up timers: a day after a stop's window opened or the van's last ping
            if (in.change instanceof Stops.Assign a) {
                ctx.timerService().registerEventTimeTimer(hourAfter(a.stop().windowStart()));
            } else if (in.batch != null) {
                ctx.timerService().registerEventTimeTimer(hourAfter(in.batch.at()));
            }
        }
        route.update(r);
    }

    /** Timers on whole hours: at most one per key and hour, whatever the event rate. */
    static long hourAfter(long ts) {
        return (Math.floorDiv(ts, HOUR_MS) + 1) * HOUR_MS + IDLE_ROUTE_MS;
    }
}
