package io.lastmile.udfs;

import com.uber.h3core.H3Core;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

import java.io.IOException;

/**
 * What the decoding table functions share: a {@link Contract.Reader} and the H3 library per
 * function instance, and one output row per input row. Not deterministic: the future-time
 * rule reads the clock.
 */
abstract class ContractFunction extends TableFunction<Row> {
    static final int SHARED_RESOLUTION = 10;

    protected transient Contract.Reader reader;
    protected transient H3Core h3;

    @Override
    public void open(FunctionContext context) throws IOException {
        reader = Contract.INSTANCE.new Reader();
        h3 = H3Core.newInstance();
    }

    @Override
    public boolean isDeterministic() {
        return false;
    }
}
