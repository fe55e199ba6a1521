package io.lastmile.udfs.flink;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.types.Row;

/**
 * Watermarks of one Kafka partition: bounded out-of-orderness, as Flink's own, except that a
 * partition cannot hold every other partner's clock back by being stuck in the past. A
 * partition whose records keep arriving while their newest timestamp has not advanced for
 * {@code stuckMs} of this machine's time (a producer whose clock stopped, one replaying the same
 * old records) counts as idle: the others' watermark goes on, and its records are judged by it
 * (late ones become that partner's own dead letters). It counts again as soon as its newest
 * timestamp advances. A partition with nothing to read is left to Flink's idleness
 * ({@code withIdleness}); live runs only, as idleness is (on a backlog under back-pressure a
 * partition can be unread for a while, which this never takes for stuck: no record arrived).
 */
public final class PartitionWatermarks implements WatermarkGenerator<Row> {
    private final long outOfOrdernessMs;
    private final long stuckMs;
    private long newest = Long.MIN_VALUE;
    private boolean advanced;       // the newest timestamp advanced since the last periodic emit
    private long advancedAtMs = -1; // this machine's time (at a periodic emit) when it last advanced
    private boolean arrivedSince;   // a record arrived since then that did not advance it

    public PartitionWatermarks(long outOfOrdernessMs, long stuckMs) {
        this.outOfOrdernessMs = outOfOrdernessMs;
        this.stuckMs = stuckMs;
    }

    @Override
    public void onEvent(Row event, long timestamp, WatermarkOutput output) {
        if (timestamp > newest) { // no clock read per record: the periodic emit dates the advance
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
        long now = System.currentTimeMillis();
        if (advanced) {
            advancedAtMs = now;
            advanced = false;
        }
        if (arrivedSince && now - advancedAtMs > stuckMs) {
            output.markIdle();
            return;
        }
        output.emitWatermark(new Watermark(newest - outOfOrdernessMs - 1));
    }
}
