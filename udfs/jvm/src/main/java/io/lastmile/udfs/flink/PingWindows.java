package io.lastmile.udfs.flink;

import java.util.ArrayList;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import io.lastmile.udfs.core.Pings;
import io.lastmile.udfs.core.Pings.Ping;
import io.lastmile.udfs.core.Pings.PingBatch;
import io.lastmile.udfs.core.Pings.VehiclePing;

/**
 * Keyed by {@code partner:vehicle}: a van's positions over each event-time interval
 * ({@code intervalMs}, tumbling from the epoch, by the Kafka timestamp like the SQL window it
 * replaces), one {@link PingBatch} when the watermark passes the interval's end, its pings in
 * the order udfs.pings.parse_pings gives them. So the Tracker and the ETA routes run once per
 * van and interval, not once per position. The pings wait in keyed state until then.
 */
public final class PingWindows extends KeyedProcessFunction<String, VehiclePing, PingBatch> {
    private static final long serialVersionUID = 1L;

    private final long intervalMs;
    private transient MapState<Long, ArrayList<Ping>> waiting; // by the end of their interval

    public PingWindows(long intervalMs) {
        this.intervalMs = intervalMs;
    }

    @Override
    public void open(OpenContext context) {
        waiting = getRuntimeContext().getMapState(new MapStateDescriptor<>("pings-by-interval", Types.LONG,
                TypeInformation.of(new TypeHint<ArrayList<Ping>>() { })));
    }

    @Override
    public void processElement(VehiclePing value, Context ctx, Collector<PingBatch> out) throws Exception {
        long end = Pings.intervalEnd(ctx.timestamp(), intervalMs);
        ArrayList<Ping> pings = waiting.get(end);
        if (pings == null) {
            pings = new ArrayList<>(16);
            ctx.timerService().registerEventTimeTimer(end);
        }
        pings.add(value.ping());
        waiting.put(end, pings);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<PingBatch> out) throws Exception {
        ArrayList<Ping> pings = waiting.get(timestamp);
        if (pings == null) {
            return;
        }
        waiting.remove(timestamp);
        pings.sort(Pings.ORDER);
        out.collect(new PingBatch(ctx.getCurrentKey(), pings.get(pings.size() - 1).ts(), pings));
    }
}
