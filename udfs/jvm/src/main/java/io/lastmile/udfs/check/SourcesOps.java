package io.lastmile.udfs.check;

import java.util.ArrayList;
import java.util.List;

import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkOutput;

import com.fasterxml.jackson.databind.JsonNode;

import io.lastmile.udfs.Contract;
import io.lastmile.udfs.flink.PartitionWatermarks;

/** The sources' event timestamps ({@link Contract#sourceTimestamp}) and watermarks
 * ({@link PartitionWatermarks}) for tests/unit/test_jvm_contract.py and test_watermarks.py. */
public final class SourcesOps implements Harness.Ops {
    @Override
    public Object call(String op, JsonNode args) {
        return switch (op) {
            case "timestamps" -> timestamps(args);
            case "watermarks" -> watermarks(args);
            default -> throw new IllegalArgumentException("unknown op " + op);
        };
    }

    /** [[kafka ts, now], ...] -> [event timestamp, ...] */
    private static List<Long> timestamps(JsonNode args) {
        List<Long> out = new ArrayList<>();
        for (JsonNode pair : args) {
            out.add(Contract.INSTANCE.sourceTimestamp(pair.get(0).asLong(), pair.get(1).asLong()));
        }
        return out;
    }

    /**
     * {"partitions": n, "out_of_orderness_ms", "window_ms", "max_lag_ms", "steps": [[now, [[partition, ts], ...]], ...]}
     * -> per step, after its records, what each partition's periodic emit gave: its watermark,
     * "idle", or null (nothing yet). The partitions share one {@link PartitionWatermarks.Newest}.
     */
    private static List<List<Object>> watermarks(JsonNode args) {
        long[] now = {0};
        PartitionWatermarks.Newest newest = new PartitionWatermarks.Newest();
        List<PartitionWatermarks> partitions = new ArrayList<>();
        for (int p = 0; p < args.get("partitions").asInt(); p++) {
            partitions.add(new PartitionWatermarks(args.get("out_of_orderness_ms").asLong(),
                    args.get("window_ms").asLong(), args.get("max_lag_ms").asLong(), newest, () -> now[0]));
        }
        List<List<Object>> out = new ArrayList<>();
        for (JsonNode step : args.get("steps")) {
            now[0] = step.get(0).asLong();
            for (JsonNode record : step.get(1)) {
                partitions.get(record.get(0).asInt()).onEvent(null, record.get(1).asLong(), null);
            }
            List<Object> emitted = new ArrayList<>();
            for (PartitionWatermarks partition : partitions) {
                Object[] got = {null};
                partition.onPeriodicEmit(new WatermarkOutput() {
                    @Override
                    public void emitWatermark(Watermark watermark) {
                        got[0] = watermark.getTimestamp();
                    }

                    @Override
                    public void markIdle() {
                        got[0] = "idle";
                    }

                    @Override
                    public void markActive() {
                    }
                });
                emitted.add(got[0]);
            }
            out.add(emitted);
        }
        return out;
    }
}
