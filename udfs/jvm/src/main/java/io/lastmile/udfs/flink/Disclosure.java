package io.lastmile.udfs.flink;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Keyed by {@code receiver|other partner|other shipment}: sends a partner the first
 * {@code InboxMatch} about another partner's shipment and no later one (udfs.flink.coordination.Disclosure,
 * the reference; the rule is udfs.outputs.disclose). The key is remembered until the other
 * shipment's task can match no more, then forgotten (an event-time timer).
 */
public final class Disclosure extends KeyedProcessFunction<String, Disclosure.Candidate, Void> {
    private static final long serialVersionUID = 1L;

    /** udfs.outputs.InboxCandidate. */
    public record Candidate(String key, String matchId, String topic, byte[] value, boolean retracted, long until)
            implements java.io.Serializable {
    }

    public static final KeySelector<Candidate, String> BY_KEY = Candidate::key;

    private final Outputs outputs;
    private transient ValueState<Long> disclosedUntil;
    private transient Outputs.Call out;

    public Disclosure(Outputs outputs) {
        this.outputs = outputs;
    }

    /** udfs.outputs.disclosure_key. */
    public static String key(String receiver, String otherPartner, String otherShipment) {
        return receiver + "|" + otherPartner + "|" + otherShipment;
    }

    /** udfs.outputs.disclose: the key's state after {@code c} (null: nothing disclosed). */
    public static Long after(Long disclosedUntil, Candidate c) {
        if (disclosedUntil == null) {
            return c.retracted() ? null : c.until();
        }
        return Math.max(disclosedUntil, c.until());
    }

    /** udfs.outputs.disclose: whether {@code c} goes out. */
    public static boolean send(Long disclosedUntil, Candidate c) {
        return disclosedUntil == null && !c.retracted();
    }

    @Override
    public void open(OpenContext context) {
        disclosedUntil = getRuntimeContext().getState(new ValueStateDescriptor<>("disclosed-until", Long.class));
        out = outputs.open();
    }

    @Override
    public void processElement(Candidate c, Context ctx, Collector<Void> ignored) throws Exception {
        Long before = disclosedUntil.value();
        Long after = after(before, c);
        if (after != null && !after.equals(before)) {
            disclosedUntil.update(after);
            ctx.timerService().registerEventTimeTimer(after);
        }
        if (send(before, c)) {
            out.message(c.matchId(), c.value(), c.topic());
            out.emit(ctx::output);
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Void> ignored) throws Exception {
        Long until = disclosedUntil.value();
        if (until != null && timestamp >= until) {
            disclosedUntil.clear();
        }
    }
}
