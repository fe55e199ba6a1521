package io.lastmile.udfs.flink;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeHint;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import io.lastmile.udfs.AvroRecords;
import io.lastmile.udfs.core.CellIndex;
import io.lastmile.udfs.core.Colocation.Match;
import io.lastmile.udfs.core.Colocation.Routed;
import io.lastmile.udfs.core.Colocation.Task;
import io.lastmile.udfs.core.Consolidation;
import io.lastmile.udfs.core.Consolidation.Change;
import io.lastmile.udfs.core.Consolidation.Member;
import io.lastmile.udfs.core.H3;

/**
 * Keyed by index cell: the tasks stored in the cell ({@link CellIndex}); emits matches and
 * retractions (udfs.flink.coordination.Matcher, the reference).
 *
 * <p>Each match goes to ClickHouse {@code colocations}, to {@code coordination.colocations},
 * and, through the {@link Disclosure}, to each partner's inbox as an {@code InboxMatch} (its own
 * shipment, the other partner as an opaque token, the place at H3 resolution 8); its link (or unlink, for a retraction) to the consolidation
 * of its neighbourhood on {@link #GROUPS}, one element per neighbourhood and call. A task
 * leaves its cell when the watermark passes its window's end plus the allowed lateness: a
 * timer at that time (Flink keeps one per cell and timestamp, and windows end on few distinct
 * times) drops every task the watermark has passed.
 */
public final class Matcher extends KeyedProcessFunction<Long, Routed, Void> {
    private static final long serialVersionUID = 1L;
    /** The changes of one call for one neighbourhood, in order. */
    public record Links(long neighbourhood, List<Change> changes) implements java.io.Serializable {
    }

    public static final OutputTag<Links> GROUPS = new OutputTag<>("groups", new LinksType());
    /** Each partner's InboxMatch of a match, for the {@link Disclosure}. */
    public static final OutputTag<Disclosure.Candidate> DISCLOSE =
            new OutputTag<>("disclose", TypeInformation.of(Disclosure.Candidate.class));
    public static final KeySelector<Routed, Long> BY_CELL = Routed::cell;
    public static final KeySelector<Links, Long> BY_NEIGHBOURHOOD = Links::neighbourhood;

    private final double radiusM;
    private final long latenessMs;
    private final String inboxKey;
    private final Sharing sharing;
    private final Outputs outputs;
    private transient ValueState<CellIndex> state;
    private transient Outputs.Call out;
    private transient AvroRecords avro;

    public Matcher(double radiusM, long latenessMs, String inboxKey, String sharing, Outputs outputs) {
        this.radiusM = radiusM;
        this.latenessMs = latenessMs;
        this.inboxKey = inboxKey;
        this.sharing = Sharing.parse(sharing);
        this.outputs = outputs;
    }

    /** udfs.outputs.Sharing: who agreed to be named, and to share same_recipient. */
    public record Sharing(Set<String> named, Set<String> sameRecipient) implements java.io.Serializable {
        /** udfs.outputs.Sharing.as_text: {@code named=a,b;same_recipient=c}. */
        public static Sharing parse(String text) {
            Map<String, Set<String>> fields = new java.util.HashMap<>();
            for (String part : text.split(";")) {
                int eq = part.indexOf('=');
                if (eq > 0) {
                    Set<String> ids = new java.util.HashSet<>();
                    for (String id : part.substring(eq + 1).split(",")) {
                        if (!id.isEmpty()) {
                            ids.add(id);
                        }
                    }
                    fields.put(part.substring(0, eq), ids);
                }
            }
            return new Sharing(Set.copyOf(fields.getOrDefault("named", Set.of())),
                    Set.copyOf(fields.getOrDefault("same_recipient", Set.of())));
        }
    }

    /** The finest H3 resolution a partner learns of a match's place (udfs.outputs.INBOX_RESOLUTION). */
    public static final int INBOX_RESOLUTION = 8;

    /** {@link #counterpart}s made so far: one per key and ordered pair of partners, so a handful;
     * bounded all the same. */
    private static final Map<List<String>, String> COUNTERPARTS = new ConcurrentHashMap<>();
    private static final int COUNTERPARTS_KEPT = 4096;

    /** udfs.outputs.counterpart: the other partner of a match as {@code recipient} sees it. It
     * depends on the key and the two partners only: an HMAC per inbox match was ~2.5 % of the job's
     * CPU at 1M events (SHA-256 under the client compiler), now one per pair of partners. */
    public static String counterpart(String inboxKey, String recipient, String other) {
        List<String> pair = List.of(inboxKey, recipient, other);
        String known = COUNTERPARTS.get(pair);
        if (known != null) {
            return known;
        }
        String made = hmac(inboxKey, recipient, other);
        if (COUNTERPARTS.size() < COUNTERPARTS_KEPT) {
            COUNTERPARTS.put(pair, made);
        }
        return made;
    }

    private static String hmac(String inboxKey, String recipient, String other) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(inboxKey.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            byte[] digest = mac.doFinal((recipient + "|" + other).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest).substring(0, 16);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** udfs.outputs.inbox_match_record, encoded: what partner {@code a} (or b) of a match receives. */
    public static byte[] inboxMatch(AvroRecords avro, Match m, boolean a, String inboxKey, Sharing sharing) {
        String own = a ? m.partnerA() : m.partnerB();
        String other = a ? m.partnerB() : m.partnerA();
        boolean named = sharing.named().contains(own) && sharing.named().contains(other);
        boolean recipients = sharing.sameRecipient().contains(own) && sharing.sameRecipient().contains(other);
        return avro.encode("InboxMatch", m.matchId(), own, a ? m.shipmentA() : m.shipmentB(),
                counterpart(inboxKey, own, other), H3.cellToParent(m.h3Cell(), INBOX_RESOLUTION), m.overlapStart(),
                m.overlapEnd(), m.detectedAt(), m.version(), m.retracted(), named ? other : null,
                recipients ? m.sameRecipient() : null);
    }

    /** udfs.outputs.inbox_candidates: both partners' InboxMatch of a match, before the {@link Disclosure}. */
    public static List<Disclosure.Candidate> inboxCandidates(AvroRecords avro, Match m, String inboxKey,
                                                             Sharing sharing, long untilA, long untilB) {
        return List.of(
                new Disclosure.Candidate(Disclosure.key(m.partnerA(), m.partnerB(), m.shipmentB()), m.matchId(),
                        Topics.inbox(m.partnerA()), inboxMatch(avro, m, true, inboxKey, sharing), m.retracted(), untilB),
                new Disclosure.Candidate(Disclosure.key(m.partnerB(), m.partnerA(), m.shipmentA()), m.matchId(),
                        Topics.inbox(m.partnerB()), inboxMatch(avro, m, false, inboxKey, sharing), m.retracted(), untilA));
    }

    @Override
    public void open(OpenContext context) {
        state = getRuntimeContext().getState(new ValueStateDescriptor<>("cell-tasks", CellIndex.class));
        out = outputs.open();
        avro = new AvroRecords();
    }

    @Override
    public void processElement(Routed message, Context ctx, Collector<Void> ignored) throws Exception {
        CellIndex index = state.value();
        if (index == null) {
            index = new CellIndex(message.cell(), radiusM);
        }
        List<Match> matches;
        if (message.task() != null) {
            matches = index.add(message.task());
            ctx.timerService().registerEventTimeTimer(message.task().windowEnd() + latenessMs);
        } else {
            matches = index.remove(message.removeKey(), message.byRevision());
        }
        if (index.isEmpty()) {
            state.clear();
        } else {
            state.update(index);
        }
        if (matches.isEmpty()) {
            return;
        }
        Map<Long, List<Change>> groups = new LinkedHashMap<>();
        for (Match m : matches) {
            out.row("colocations", m.matchId(), m.partnerA(), m.shipmentA(), m.partnerB(), m.shipmentB(), m.h3Cell(),
                    m.distanceM(), m.overlapStart(), m.overlapEnd(), m.sameRecipient(), m.detectedAt(), m.version(),
                    m.retracted() ? 1 : 0);
            out.message(m.matchId(), avro.encode("CoLocation", m.matchId(), m.partnerA(), m.shipmentA(), m.partnerB(),
                            m.shipmentB(), m.h3Cell(), m.distanceM(), m.overlapStart(), m.overlapEnd(),
                            m.sameRecipient(), m.detectedAt(), m.version(), m.retracted()),
                    Topics.COLOCATIONS);
            // each partner's inbox: what it needs of the match, no more, once per other shipment (docs/security.md)
            for (Disclosure.Candidate c : inboxCandidates(avro, m, inboxKey, sharing, until(index.get(m.keyA())),
                    until(index.get(m.keyB())))) {
                ctx.output(DISCLOSE, c);
            }
            long neighbourhood = Consolidation.neighbourhoodOf(m.h3Cell());
            Change change = m.retracted()
                    ? new Consolidation.Unlink(neighbourhood, m.keyA(), m.keyB())
                    : new Consolidation.Link(neighbourhood, member(index.get(m.keyA())), member(index.get(m.keyB())));
            groups.computeIfAbsent(neighbourhood, n -> new ArrayList<>()).add(change);
        }
        for (Map.Entry<Long, List<Change>> e : groups.entrySet()) { // one element per neighbourhood and call
            ctx.output(GROUPS, new Links(e.getKey(), e.getValue()));
        }
        out.emit(ctx::output);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Void> ignored) throws Exception {
        CellIndex index = state.value();
        if (index == null) {
            return;
        }
        // Everything the watermark has passed, not only this timer's tasks.
        long upto = Math.max(timestamp, ctx.timerService().currentWatermark());
        if (index.expire(upto - latenessMs + 1) > 0) {
            if (index.isEmpty()) {
                state.clear();
            } else {
                state.update(index);
            }
        }
    }

    /** When {@code task} leaves the matcher (0: it already has). */
    private long until(Task task) {
        return task == null ? 0 : task.windowEnd() + latenessMs;
    }

    /** udfs.flink.coordination.member: what the consolidation needs of a task. */
    public static Member member(Task t) {
        return new Member(t.partnerId(), t.shipmentId(), t.lat(), t.lng(), t.windowStart(), t.windowEnd(), t.volumeL());
    }
}
