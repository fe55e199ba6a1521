package io.lastmile.udfs.flink;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.types.Row;

/**
 * Watermarks of one Kafka partition: bounded out-of-orderness, as Flink's own, except that one
 * partition cannot hold every other partner's clock back for long. In a live run a partition
 * counts as idle (the others' watermark goes on, and its records are judged by it: late ones
 * become that partner's own dead letters) while it is
 * <ul>
 *   <li><b>stuck</b>: its records keep arriving while their newest timestamp has not advanced for
 *   {@code windowMs} of this machine's time (a producer whose clock stopped, one replaying the
 *   same old records); or</li>
 *   <li><b>behind and slow</b>: its newest timestamp is more than {@code maxLagMs} behind the
 *   newest any partition of the job has read on this machine ({@link Newest}), and over the last
 *   {@code windowMs} of this machine's time it advanced by less than twice that time (a partner
 *   replaying last week at real-time speed). A partition catching up on a backlog advances many
 *   times faster than that and keeps counting, so a job reading its own backlog after an outage
 *   does not turn its records late.</li>
 * </ul>
 * It counts again as soon as neither holds. A partition with nothing to read is left to Flink's
 * idleness ({@code withIdleness}). Bounded runs pass {@code Long.MAX_VALUE} for both bounds
 * (on a backlog under back-pressure a partition can be read slowly for a while).
 *
 * <p>No clock is read per record: the periodic emit (every 200 ms) dates what the records did.
 */
public final class PartitionWatermarks implements WatermarkGenerator<Row> {
    /** How many times real time a partition behind the others must advance to keep counting. */
    public static final long CATCH_UP_RATE = 2;

    /** The newest timestamp any partition of one job read on this machine (one per job id). */
    public static final class Newest {
        private static final ConcurrentHashMap<String, Newest> OF_JOB = new ConcurrentHashMap<>();
        private final AtomicLong value = new AtomicLong(Long.MIN_VALUE);

        public static Newest ofJob(String jobId) {
            return OF_JOB.computeIfAbsent(jobId, id -> new Newest());
        }

        public Newest() {
        }

        void offer(long ts) {
            if (ts > value.get()) {
                value.accumulateAndGet(ts, Math::max);
            }
        }

        long get() {
            return value.get();
        }
    }

    private final long outOfOrdernessMs;
    private final long windowMs;
    private final long maxLagMs;
    private final Newest ofAll;
    private final LongSupplier clock;
    private long newest = Long.MIN_VALUE;
    private boolean advanced;       // the newest timestamp advanced since the last periodic emit
    private long advancedAtMs = -1; // this machine's time (at a periodic emit) when it last advanced
    private boolean arrivedSince;   // a record arrived since then that did not advance it
    private long sampledAtMs = -1;  // this machine's time and the newest timestamp, once per window:
    private long sampledNewest;     // how fast the partition's clock advances
    private boolean slow;           // it advanced by less than CATCH_UP_RATE x the last window

    public PartitionWatermarks(long outOfOrdernessMs, long windowMs, long maxLagMs, Newest ofAll, LongSupplier clock) {
        this.outOfOrdernessMs = outOfOrdernessMs;
        this.windowMs = windowMs;
        this.maxLagMs = maxLagMs;
        this.ofAll = ofAll;
        this.clock = clock;
    }

    public PartitionWatermarks(long outOfOrdernessMs, long windowMs, long maxLagMs, Newest ofAll) {
        this(outOfOrdernessMs, windowMs, maxLagMs, ofAll, System::currentTimeMillis);
    }

    @Override
    public void onEvent(Row event, long timestamp, WatermarkOutput output) {
        if (timestamp > newest) {
            newest = timestamp;
            advanced = true;
            arrivedSince = false;
        } else {
            arrivedSince = true;
        }
    }

    @Override
    public void onPeriodicEmit(WatermarkOutput output) {
        if (newest == Long.MIN_VALUE) {
            return; // nothing read yet
        }
        long now = clock.getAsLong();
        ofAll.offer(newest);
        if (advanced) {
            advancedAtMs = now;
            advanced = false;
        }
        if (sampledAtMs < 0) {
            sampledAtMs = now;
            sampledNewest = newest;
        } else if (now - sampledAtMs >= windowMs) {
            slow = (newest - sampledNewest) / CATCH_UP_RATE < now - sampledAtMs;
            sampledAtMs = now;
            sampledNewest = newest;
        }
        boolean stuck = arrivedSince && now - advancedAtMs > windowMs;
        boolean behind = slow && ofAll.get() - newest > maxLagMs;
        if (stuck || behind) {
            output.markIdle();
            return;
        }
        output.emitWatermark(new Watermark(newest - outOfOrdernessMs - 1));
    }
}
