package io.lastmile.udfs.flink;

import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import io.lastmile.udfs.core.Pings;
import io.lastmile.udfs.core.Pings.Ping;
import io.lastmile.udfs.core.Pings.PingBatch;
import io.lastmile.udfs.core.SpeedProfiles.Segment;

/**
 * Keyed by {@code partner:vehicle}: the last position; for each ping batch emits the usable
 * travel segments per district they lie in (udfs.flink.eta.Tracker, the reference; udfs.pings.track),
 * and writes the metres the van drove in it to ClickHouse {@code vehicle_km} (udfs.pings.driven_m).
 */
public final class Tracker extends KeyedProcessFunction<String, PingBatch, Tracker.Segments> {
    private static final long serialVersionUID = 1L;

    /** A van's segments of one batch in one district (resolution-7 cell); {@code at}: the batch's last ping. */
    public record Segments(long district, long at, List<Segment> segments) implements java.io.Serializable {
    }

    private static final long HOUR_MS = 3_600_000L;
    private static final long IDLE_VEHICLE_MS = 24 * HOUR_MS;

    private final Outputs outputs;
    private transient ValueState<Ping> last;
    private transient Outputs.Call out;

    public Tracker(Outputs outputs) {
        this.outputs = outputs;
    }

    @Override
    public void open(OpenContext context) {
        last = getRuntimeContext().getState(new ValueStateDescriptor<>("last-ping", Ping.class));
        out = outputs.open();
    }

    @Override
    public void processElement(PingBatch batch, Context ctx, Collector<Segments> segments) throws Exception {
        Ping previous = last.value();
        int colon = batch.key().indexOf(':');
        out.row("vehicle_km", batch.key().substring(0, colon), batch.key().substring(colon + 1), batch.at(),
                io.lastmile.udfs.core.Consolidation.round3(Pings.drivenM(previous, batch.pings())),  // to the mm
                batch.pings().size());
        out.emit(ctx::output);
        Pings.Tracked tracked = Pings.track(previous, batch.pings());
        if (tracked.last() != previous) {
            last.update(tracked.last());
            ctx.timerService().registerEventTimeTimer(forgetAt(tracked.last().ts()));
        }
        for (Map.Entry<Long, List<Segment>> e : tracked.byDistrict().entrySet()) {
            segments.collect(new Segments(e.getKey(), batch.at(), e.getValue()));
        }
    }

    /** A day without a newer ping: the van's last one is forgotten (udfs.pings.forget_at). */
    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Segments> segments) throws Exception {
        Ping p = last.value();
        if (p != null && forgetAt(p.ts()) <= timestamp) {
            last.clear();
        }
    }

    /** udfs.pings.forget_at: a day after {@code ts}, on a whole hour. */
    static long forgetAt(long ts) {
        return (Math.floorDiv(ts, HOUR_MS) + 1) * HOUR_MS + IDLE_VEHICLE_MS;
    }
}
