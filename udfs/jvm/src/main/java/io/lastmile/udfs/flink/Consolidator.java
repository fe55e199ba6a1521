package io.lastmile.udfs.flink;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.BroadcastState;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

import io.lastmile.udfs.AvroRecords;
import io.lastmile.udfs.core.Consolidation;
import io.lastmile.udfs.core.Consolidation.Change;
import io.lastmile.udfs.core.Consolidation.Link;
import io.lastmile.udfs.core.Consolidation.Neighbourhood;
import io.lastmile.udfs.core.Consolidation.Offer;
import io.lastmile.udfs.core.Consolidation.Proposal;
import io.lastmile.udfs.core.Consolidation.TimerResult;

/**
 * Keyed by neighbourhood (resolution-7 cell): the matches of its deliveries, and the proposals
 * made for their groups; broadcast input: capacity offers (udfs.flink.consolidation.Consolidator,
 * the reference).
 *
 * <p>Links and unlinks wait in list state until the next timer applies them in arrival order
 * ({@link Neighbourhood#onTimer}); timers fire when a group becomes due and when a member's
 * window ends. Each proposal goes to ClickHouse {@code consolidation_proposals}, to
 * {@code coordination.proposals}, and to every partner involved as its {@code InboxProposal}
 * ({@link #inboxProposal}).
 */
public final class Consolidator extends KeyedBroadcastProcessFunction<Long, Matcher.Links, Offer, Void> {
    private static final long serialVersionUID = 1L;
    /** Broadcast state: offer key -> offer; an offer replaces the earlier one with the same key. */
    public static final MapStateDescriptor<String, Offer> OFFERS =
            new MapStateDescriptor<>("offers", Types.STRING, TypeInformation.of(Offer.class));

    private final String inboxKey;
    private final Matcher.Sharing sharing;
    private final Outputs outputs;
    private transient ValueState<Neighbourhood> state;
    private transient ListState<Change> pending;
    private transient Map<String, Offer> offers; // lookup mirror of the broadcast state; null: rebuild
    private transient Outputs.Call out;
    private transient AvroRecords avro;

    public Consolidator(String inboxKey, String sharing, Outputs outputs) {
        this.inboxKey = inboxKey;
        this.sharing = Matcher.Sharing.parse(sharing);
        this.outputs = outputs;
    }

    /** udfs.outputs.inbox_proposal_record, encoded: what {@code partner} of a proposal receives. */
    public static byte[] inboxProposal(AvroRecords avro, Proposal p, String partner, String inboxKey,
                                       Matcher.Sharing sharing) {
        boolean serves = p.assignedPartner().equals(partner);
        boolean named = serves || (sharing.named().contains(partner) && sharing.named().contains(p.assignedPartner()));
        List<String> own = new ArrayList<>();
        for (String s : p.shipments()) {
            int colon = s.indexOf(':');
            if (s.substring(0, colon).equals(partner)) {
                own.add(s.substring(colon + 1));
            }
        }
        own.sort(io.lastmile.udfs.core.Text.CODE_POINT_ORDER);
        return avro.encode("InboxProposal", p.proposalId(), partner, own, serves,
                serves ? partner : Matcher.counterpart(inboxKey, partner, p.assignedPartner()),
                named ? p.assignedPartner() : null, p.shipments().size(), p.partners().size(), p.kmSaved(),
                p.kernelVersion(), p.createdAt());
    }

    /** A CapacityOffer of the accepted rows ({@link Accepted}) as an {@link Offer}. */
    public static Offer offer(Row row) {
        return Consolidation.offerFromFields(Accepted.text(row, Accepted.PARTNER_ID),
                Accepted.text(row, Accepted.VEHICLE_ID), Accepted.text(row, Accepted.EVENT_ID),
                Accepted.number(row, Accepted.DEPOT_LAT), Accepted.number(row, Accepted.DEPOT_LNG),
                Accepted.time(row, Accepted.AVAILABLE_FROM), Accepted.time(row, Accepted.AVAILABLE_TO),
                Accepted.number(row, Accepted.SPARE_VOLUME_L), (Integer) row.getField(Accepted.SPARE_STOPS));
    }

    @Override
    public void open(OpenContext context) {
        state = getRuntimeContext().getState(new ValueStateDescriptor<>("neighbourhood", Neighbourhood.class));
        pending = getRuntimeContext().getListState(new ListStateDescriptor<>("pending-links",
                TypeInformation.of(Change.class)));
        out = outputs.open();
        avro = new AvroRecords();
    }

    @Override
    public void processBroadcastElement(Offer offer, Context ctx, Collector<Void> ignored) throws Exception {
        BroadcastState<String, Offer> state = ctx.getBroadcastState(OFFERS);
        state.put(offer.offerKey(), offer);
        for (String key : Consolidation.offersEndedBefore(state.entries(), offer)) {
            state.remove(key);
        }
        offers = null; // rebuilt on the next lookup
    }

    @Override
    public void processElement(Matcher.Links value, ReadOnlyContext ctx, Collector<Void> ignored) throws Exception {
        pending.addAll(value.changes());
        for (Change change : value.changes()) {
            if (change instanceof Link link) {
                ctx.timerService().registerEventTimeTimer(Consolidation.dueAt(link.a(), link.b()));
                ctx.timerService().registerEventTimeTimer(link.a().windowEnd());
                ctx.timerService().registerEventTimeTimer(link.b().windowEnd());
            }
        }
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Void> ignored) throws Exception {
        Neighbourhood n = state.value();
        if (n == null) {
            n = new Neighbourhood();
        }
        List<Change> changes = new ArrayList<>();
        Iterable<Change> held = pending.get();
        if (held != null) {
            held.forEach(changes::add);
        }
        if (!changes.isEmpty()) {
            pending.clear();
        }
        if (offers == null) {
            offers = new HashMap<>();
            for (Map.Entry<String, Offer> e : ctx.getBroadcastState(OFFERS).immutableEntries()) {
                offers.put(e.getKey(), e.getValue());
            }
        }
        TimerResult result = n.onTimer(timestamp, changes, offers);
        for (Proposal p : result.proposals()) {
            out.row("consolidation_proposals", Consolidation.proposalRow(p));
            out.row("audit_log", p.proposalId(), "proposal", p.createdAt(), p.kernelVersion(), p.inputsDigest(),
                    p.inputs());
            out.message(p.proposalId(), avro.encode("ConsolidationProposal", p.proposalId(), p.partners(),
                    p.shipments(), p.assignedPartner(), p.kmSeparate(), p.kmConsolidated(), p.kmSaved(),
                    p.kernelVersion(), p.inputsDigest(), p.createdAt()), Topics.PROPOSALS);
            for (String partner : p.partners()) {
                out.message(p.proposalId(), inboxProposal(avro, p, partner, inboxKey, sharing), Topics.inbox(partner));
            }
        }
        out.emit(ctx::output);
        if (result.changed()) { // unchanged: the state already holds it
            if (n.isEmpty()) {
                state.clear();
            } else {
                state.update(n);
            }
        }
    }
}
