package io.lastmile.udfs.check;

import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;

import io.lastmile.udfs.Contract;

/** The sources' event timestamps ({@link Contract#sourceTimestamp}) for tests/unit/test_jvm_contract.py. */
public final class SourcesOps implements Harness.Ops {
    @Override
    public Object call(String op, JsonNode args) {
        if (!op.equals("timestamps")) { // [[kafka ts, now], ...] -> [event timestamp, ...]
            throw new IllegalArgumentException("unknown op " + op);
        }
        List<Long> out = new ArrayList<>();
        for (JsonNode pair : args) {
            out.add(Contract.INSTANCE.sourceTimestamp(pair.get(0).asLong(), pair.get(1).asLong()));
        }
        return out;
    }
}
