package io.lastmile.udfs.flink;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

import io.lastmile.udfs.core.Pings;
import io.lastmile.udfs.core.SpeedProfiles;
import io.lastmile.udfs.core.SpeedProfiles.Key;
import io.lastmile.udfs.core.SpeedProfiles.Learned;
import io.lastmile.udfs.core.SpeedProfiles.RobustSpeed;
import io.lastmile.udfs.core.SpeedProfiles.Segment;

/**
 * Keyed by district (resolution-7 cell): running estimates per (cell, hour); publishes what an
 * interval taught, versioned by the interval's end (udfs.flink.eta.Profiles, the reference).
 *
 * <p>A district's segments wait in state until the watermark passes the end of their event-time
 * interval; then they are learned together, in a fixed order ({@link SpeedProfiles#learnInterval}),
 * and the estimates worth publishing leave as one broadcast element. Segments that arrive after
 * their interval's end passed count for the next interval to end.
 *
 * <p>Each estimate is dated by the interval that last taught it. On whole days (UTC) a district
 * forgets those no segment taught for {@code ttlMs} ({@link SpeedProfiles#forgetStale}) and
 * publishes them as NaN, which {@link Routes} drops from its table. A district that learns
 * registers the day that forgetting is due.
 */
public final class Profiles extends KeyedProcessFunction<Long, Tracker.Segments, Profiles.Published> {
    private static final long serialVersionUID = 1L;

    /** What a district learned in the interval ending at {@code version}. */
    public record Published(long version, long district, SpeedProfiles.Speeds speeds) implements java.io.Serializable {
    }

    private final long intervalMs;
    private final long ttlMs;
    private transient ValueState<HashMap<Key, RobustSpeed>> estimates;
    private transient MapState<Long, ArrayList<Segment>> waiting; // by the end of their interval

    public Profiles(long intervalMs, long ttlMs) {
        this.intervalMs = intervalMs;
        this.ttlMs = ttlMs;
    }

    @Override
    public void open(OpenContext context) {
        estimates = getRuntimeContext().getState(new ValueStateDescriptor<>("estimates",
                TypeInformation.of(new TypeHint<HashMap<Key, RobustSpeed>>() { })));
        waiting = getRuntimeContext().getMapState(new MapStateDescriptor<>("segments-by-interval", Types.LONG,
                TypeInformation.of(new TypeHint<ArrayList<Segment>>() { })));
    }

    @Override
    public void processElement(Tracker.Segments value, Context ctx, Collector<Published> out) throws Exception {
        long watermark = ctx.timerService().currentWatermark();
        long due = Math.max(Pings.intervalEnd(value.at(), intervalMs),
                watermark == Long.MAX_VALUE ? Long.MAX_VALUE : Pings.intervalEnd(watermark + 1, intervalMs));
        ArrayList<Segment> held = waiting.get(due);
        if (held == null) {
            held = new ArrayList<>();
        }
        held.addAll(value.segments());
        waiting.put(due, held);
        ctx.timerService().registerEventTimeTimer(due);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Published> out) throws Exception {
        List<Segment> segments = waiting.get(timestamp);
        if (segments != null) {
            waiting.remove(timestamp);
        }
        boolean learns = segments != null && !segments.isEmpty();
        boolean cleans = Math.floorMod(timestamp, SpeedProfiles.DAY_MS) == 0; // forgetting runs on whole days
        if (!learns && !cleans) {
            return;
        }
        HashMap<Key, RobustSpeed> known = estimates.value();
        if (known == null) {
            known = new HashMap<>();
        }
        SpeedProfiles.Speeds published = new SpeedProfiles.Speeds();
        if (learns) {
            Learned learned = SpeedProfiles.learnInterval(known, segments);
            for (RobustSpeed estimate : learned.changed().values()) {
                estimate.learnedAt = timestamp;
            }
            published = learned.published();
            // forgotten on the first whole day at least the time to live after this
            ctx.timerService().registerEventTimeTimer(SpeedProfiles.dayAfter(timestamp + ttlMs));
        }
        if (cleans) {
            published.putAll(SpeedProfiles.forgetStale(known, timestamp - ttlMs));
        }
        if (known.isEmpty()) {
            estimates.clear();
        } else {
            estimates.update(known);
        }
        if (!published.isEmpty()) {
            out.collect(new Published(timestamp, ctx.getCurrentKey(), published));
        }
    }
}
