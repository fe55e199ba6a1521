package io.lastmile.udfs;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.functions.ScalarFunction;

import java.time.Instant;

/** {@code LASTMILE_EPOCH_MS(TIMESTAMP_LTZ(3))}: epoch milliseconds (Flink SQL has it only in seconds). */
public class EpochMillis extends ScalarFunction {
    public Long eval(@DataTypeHint("TIMESTAMP_LTZ(3)") Instant t) {
        return t == null ? null : t.toEpochMilli();
    }
}
