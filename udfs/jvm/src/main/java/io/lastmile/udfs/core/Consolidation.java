package io.lastmile.udfs.core;

import java.io.DataInput;
import java.io.DataOutput;
import java.io.IOException;
import java.io.Serializable;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;


/**
 * udfs.consolidation: consolidation proposals, one carrier serving a group of co-located
 * deliveries (the rules are in that module's docstring). {@link Neighbourhood} is the keyed
 * state of the Flink operator, {@link Neighbourhood#onTimer} what it does at a timer
 * (udfs.flink.consolidation.Consolidator); {@link #proposalRecord} and {@link #proposalRow}
 * give its outputs as plain values.
 *
 * <p>Where Python iterates a set or a dict, the order never reaches a proposal: groups come in
 * the order of their smallest member key and list their members by key (both sorted by code
 * point), a batch's candidates by sorted partner then rank. So Java keeps hash maps and sets
 * where Python has them and sorts where Python sorts.
 */
public final class Consolidation {
    public static final int NEIGHBOURHOOD_RESOLUTION = 7;
    public static final long LEAD_MS = 3 * 3_600_000L;
    /** ~25 km/h, a city van between stops. */
    public static final double PLANNING_SPEED_MPS = 7.0;
    /** The roomiest ones. */
    public static final int MAX_OFFERS_PER_PARTNER = 3;
    /** udfs.eta.DETOUR: road distance / straight line. */
    public static final double DETOUR = 1.3;
    /** udfs.eta.DWELL_S: time at a stop. */
    public static final double DWELL_S = 180.0;
    public static final String KERNEL_VERSION = ConsolidationKernel.KERNEL_VERSION;

    private Consolidation() {
    }

    // ------------------------------------------------------------ values

    /** udfs.consolidation.Member: a delivery in a group (from the DeliveryTask). */
    public record Member(String partnerId, String shipmentId, double lat, double lng, long windowStart,
                         long windowEnd, double volumeL) implements Serializable {
        /** {@code partner:shipment}. */
        public String key() {
            return partnerId + ":" + shipmentId;
        }

        /** {@code list(member)}: the JSON array the inputs digest is made of. */
        List<Object> fields() {
            return Arrays.asList(partnerId, shipmentId, lat, lng, windowStart, windowEnd, volumeL);
        }
    }

    /** udfs.consolidation.Offer: spare capacity from a CapacityOffer. {@code offerKey}:
     * {@code partner:vehicle}, or {@code partner:event_id} for an offer without a vehicle. */
    public record Offer(String partnerId, String offerKey, double lat, double lng, long availableFrom,
                        long availableTo, double spareVolumeL, long spareStops) implements Serializable {
        List<Object> fields() {
            return Arrays.asList(partnerId, offerKey, lat, lng, availableFrom, availableTo, spareVolumeL, spareStops);
        }
    }

    /** udfs.consolidation.Proposal; {@code shipments} and {@code tour} hold {@code partner:shipment};
     * {@code inputs} the kernel's inputs as digested (the audit log's record). */
    public record Proposal(String proposalId, List<String> partners, List<String> shipments, String assignedPartner,
                           double kmSeparate, double kmConsolidated, double kmSaved, String kernelVersion,
                           String inputsDigest, long createdAt, String offerKey, List<String> tour, String inputs)
            implements Serializable {
    }

    /** A message of the Matcher for a neighbourhood: Python's {@code ("link", neighbourhood, a, b)}
     * or {@code ("unlink", neighbourhood, key_a, key_b)}. */
    public sealed interface Change extends Serializable permits Link, Unlink {
        long neighbourhood();
    }

    /** A (new version of a) match of two deliveries. */
    public record Link(long neighbourhood, Member a, Member b) implements Change {
    }

    /** A retracted match, by member keys. */
    public record Unlink(long neighbourhood, String keyA, String keyB) implements Change {
    }

    /** What {@link Neighbourhood#onTimer} returns: the proposals made, and whether the state
     * changed (to be saved). */
    public record TimerResult(List<Proposal> proposals, boolean changed) {
    }

    // ------------------------------------------------------------ functions

    /** {@code neighbourhood_of}: the resolution-7 parent of an H3 cell. */
    public static long neighbourhoodOf(long h3Cell) {
        return H3.cellToParent(h3Cell, NEIGHBOURHOOD_RESOLUTION);
    }

    /** A partner's offers that ended a day before its newest one began are dropped. */
    public static final long OFFER_RETENTION_MS = 24 * 3_600_000L;

    /** {@code offers_ended_before}: the keys of {@code offers} of {@code newest}'s partner that
     * ended more than a day before {@code newest} begins (never another partner's). */
    public static List<String> offersEndedBefore(Iterable<Map.Entry<String, Offer>> offers, Offer newest) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, Offer> e : offers) {
            Offer old = e.getValue();
            if (old.partnerId().equals(newest.partnerId())
                    && old.availableTo() + OFFER_RETENTION_MS < newest.availableFrom()) {
                out.add(e.getKey());
            }
        }
        return out;
    }

    /** {@code offer_from_record} on a CapacityOffer's fields; {@code vehicleId} may be null. */
    public static Offer offerFromFields(String partnerId, String vehicleId, String eventId, double depotLat,
                                        double depotLng, long availableFrom, long availableTo, double spareVolumeL,
                                        long spareStops) {
        String who = vehicleId != null ? vehicleId : eventId;
        return new Offer(partnerId, partnerId + ":" + who, depotLat, depotLng, availableFrom, availableTo,
                spareVolumeL, spareStops);
    }

    /** {@code group_digest}: the first 32 hex digits of the SHA-256 of the sorted member keys
     * joined by U+001F. */
    public static String groupDigest(Collection<Member> members) {
        String[] keys = new String[members.size()];
        int i = 0;
        for (Member m : members) {
            keys[i++] = m.key();
        }
        Arrays.sort(keys, Text.CODE_POINT_ORDER);
        return Sha256.hex(String.join("\u001f", keys)).substring(0, 32);
    }

    /** What {@link #groupDigest} hashes for a group from {@link Neighbourhood#groups}, its members
     * already in key order: the keys joined by U+001F. */
    static String sortedKeysText(List<Member> group) {
        StringBuilder text = new StringBuilder(group.size() * 24);
        for (Member m : group) {
            if (text.length() > 0) {
                text.append('\u001f');
            }
            text.append(m.partnerId()).append(':').append(m.shipmentId());
        }
        return text.toString();
    }

    private static String digestOfKeys(String sortedKeysText) {
        return Sha256.hex(sortedKeysText).substring(0, 32);
    }

    /** {@code due_at}: when the group of a match becomes due, {@link #LEAD_MS} before its earlier window. */
    public static long dueAt(Member a, Member b) {
        return Math.min(a.windowStart(), b.windowStart()) - LEAD_MS;
    }

    /** {@code _ranked_offers}: per partner, the {@link #MAX_OFFERS_PER_PARTNER} roomiest offers (as
     * offered), roomiest first, ties by offer key. */
    public static Map<String, List<Offer>> rankedOffers(Iterable<Offer> offers) {
        List<Offer> sorted = new ArrayList<>();
        offers.forEach(sorted::add);
        // Python's key (-spare_volume_l, offer_key): primitive comparisons, so -0.0 ties 0.0
        sorted.sort((x, y) -> {
            double vx = -x.spareVolumeL(), vy = -y.spareVolumeL();
            if (vx == vy) {
                return Text.compare(x.offerKey(), y.offerKey());
            }
            return vx < vy ? -1 : 1;
        });
        Map<String, List<Offer>> byPartner = new HashMap<>();
        for (Offer o : sorted) {
            List<Offer> ranked = byPartner.computeIfAbsent(o.partnerId(), p -> new ArrayList<>(MAX_OFFERS_PER_PARTNER));
            if (ranked.size() < MAX_OFFERS_PER_PARTNER) {
                ranked.add(o);
            }
        }
        return byPartner;
    }

    /** Capacity promised by proposals of a neighbourhood to an offer, until the latest window of
     * its groups ends: Python's {@code (litres, stops, until)}. */
    public record Promise(double litres, long stops, long until) implements Serializable {
        static final Promise NONE = new Promise(0.0, 0, 0);
    }

    /** {@code _Batch}: one group's kernel inputs, also what the inputs digest is computed from;
     * {@code chosen} (-1 for none) indexes {@code candidates}, {@code tour} the group's members. */
    record Batch(List<Offer> candidates, Map<String, double[]> ownStart, int chosen, double kmSeparate,
                 double kmConsolidated, int[] tour) {
    }

    /** {@code _batches}: the kernel run once for all groups; one {@link Batch} per group. The
     * ranked offers' spare room is reduced here by what was promised. */
    static List<Batch> batches(List<List<Member>> groups, Map<String, List<Offer>> ranked,
                               Map<String, Promise> promised, long now) {
        Map<String, List<Offer>> byPartner = new HashMap<>();
        for (List<Member> g : groups) {
            for (Member m : g) {
                if (byPartner.containsKey(m.partnerId())) {
                    continue;
                }
                List<Offer> left = new ArrayList<>();
                for (Offer o : ranked.getOrDefault(m.partnerId(), List.of())) {
                    Promise used = promised.getOrDefault(o.offerKey(), Promise.NONE);
                    // Python tests used_stops or used_l for truth: NaN litres count as used
                    left.add(used.stops() != 0 || used.litres() != 0.0
                            ? new Offer(o.partnerId(), o.offerKey(), o.lat(), o.lng(), o.availableFrom(),
                            o.availableTo(), o.spareVolumeL() - used.litres(), o.spareStops() - used.stops())
                            : o);
                }
                byPartner.put(m.partnerId(), left);
            }
        }
        int nGroups = groups.size(), nRows = 0;
        for (List<Member> g : groups) {
            nRows += g.size();
        }
        List<List<Offer>> groupCandidates = new ArrayList<>(nGroups);
        List<Map<String, double[]>> owns = new ArrayList<>(nGroups);
        List<Offer> cands = new ArrayList<>();
        int[] groupOffsets = new int[nGroups + 1], candOffsets = new int[nGroups + 1];
        double[] lat = new double[nRows], lng = new double[nRows], volume = new double[nRows];
        double[] ownLat = new double[nRows], ownLng = new double[nRows];
        long[] windowStart = new long[nRows], windowEnd = new long[nRows];
        String[] rowPartner = new String[nRows];
        int row = 0;
        for (int gi = 0; gi < nGroups; gi++) {
            List<Member> g = groups.get(gi);
            TreeSet<String> partners = new TreeSet<>(Text.CODE_POINT_ORDER);
            for (Member m : g) {
                partners.add(m.partnerId());
            }
            List<Offer> candidates = new ArrayList<>();
            Map<String, double[]> own = new TreeMap<>(Text.CODE_POINT_ORDER);
            for (String p : partners) {
                List<Offer> offers = byPartner.get(p);
                candidates.addAll(offers);
                if (!offers.isEmpty()) {
                    own.put(p, new double[] {offers.get(0).lat(), offers.get(0).lng()});
                }
            }
            groupCandidates.add(candidates);
            owns.add(own);
            for (Member m : g) {
                double[] start = own.get(m.partnerId());
                lat[row] = m.lat();
                lng[row] = m.lng();
                windowStart[row] = m.windowStart();
                windowEnd[row] = m.windowEnd();
                volume[row] = m.volumeL();
                rowPartner[row] = m.partnerId();
                ownLat[row] = start != null ? start[0] : Double.NaN;
                ownLng[row] = start != null ? start[1] : Double.NaN;
                row++;
            }
            cands.addAll(candidates);
            groupOffsets[gi + 1] = row;
            candOffsets[gi + 1] = cands.size();
        }
        TreeSet<String> allPartners = new TreeSet<>(Text.CODE_POINT_ORDER);
        allPartners.addAll(Arrays.asList(rowPartner));
        Map<String, Integer> partnerIndex = new HashMap<>();
        for (String p : allPartners) {
            partnerIndex.put(p, partnerIndex.size());
        }
        int[] partner = new int[nRows];
        for (int r = 0; r < nRows; r++) {
            partner[r] = partnerIndex.get(rowPartner[r]);
        }
        int nCands = cands.size();
        int[] candPartner = new int[nCands];
        double[] candLat = new double[nCands], candLng = new double[nCands], candSpare = new double[nCands];
        long[] candFrom = new long[nCands], candTo = new long[nCands], candStops = new long[nCands];
        for (int c = 0; c < nCands; c++) {
            Offer o = cands.get(c);
            candPartner[c] = partnerIndex.getOrDefault(o.partnerId(), -1);
            candLat[c] = o.lat();
            candLng[c] = o.lng();
            candFrom[c] = o.availableFrom();
            candTo[c] = o.availableTo();
            candSpare[c] = o.spareVolumeL();
            candStops[c] = o.spareStops();
        }
        long[] decision = new long[nGroups];
        Arrays.fill(decision, now);
        ConsolidationKernel.Plan plan = ConsolidationKernel.planGroups(groupOffsets, lat, lng, windowStart, windowEnd,
                volume, partner, ownLat, ownLng, decision, candOffsets, candPartner, candLat, candLng, candFrom,
                candTo, candSpare, candStops, DETOUR, PLANNING_SPEED_MPS, DWELL_S);
        List<Batch> batches = new ArrayList<>(nGroups);
        for (int gi = 0; gi < nGroups; gi++) {
            int c = plan.chosen()[gi];
            int[] tour = new int[c >= 0 ? groupOffsets[gi + 1] - groupOffsets[gi] : 0];
            for (int k = 0; k < tour.length; k++) {
                tour[k] = plan.order()[groupOffsets[gi] + k] - groupOffsets[gi];
            }
            batches.add(new Batch(groupCandidates.get(gi), owns.get(gi), c >= 0 ? c - candOffsets[gi] : -1,
                    plan.kmSeparate()[gi], plan.kmConsolidated()[gi], tour));
        }
        return batches;
    }

    /** {@code _proposal}: the proposal of a planned group, null when none. */
    static Proposal proposal(List<Member> group, Batch batch, long now) {
        if (batch.chosen() < 0) {
            return null;
        }
        Offer offer = batch.candidates().get(batch.chosen());
        Map<String, Object> inputs = new HashMap<>();
        inputs.put("kernel_version", KERNEL_VERSION);
        inputs.put("decided_at", now);
        inputs.put("params", Map.of("detour", DETOUR, "speed_mps", PLANNING_SPEED_MPS, "dwell_s", DWELL_S));
        List<Object> deliveries = new ArrayList<>(group.size());
        for (Member m : group) {
            deliveries.add(m.fields());
        }
        inputs.put("deliveries", deliveries);
        List<Object> candidates = new ArrayList<>(batch.candidates().size());
        for (Offer o : batch.candidates()) {
            candidates.add(o.fields());
        }
        inputs.put("candidates", candidates);
        Map<String, Object> ownStart = new HashMap<>();
        batch.ownStart().forEach((p, v) -> ownStart.put(p, List.of(v[0], v[1])));
        inputs.put("own_start", ownStart);
        String canonical = PythonJson.dumps(inputs);
        String digest = Sha256.hex(canonical);
        TreeSet<String> partners = new TreeSet<>(Text.CODE_POINT_ORDER);
        String[] shipments = new String[group.size()];
        for (int i = 0; i < shipments.length; i++) {
            partners.add(group.get(i).partnerId());
            shipments[i] = group.get(i).key();
        }
        Arrays.sort(shipments, Text.CODE_POINT_ORDER);
        String[] tour = new String[batch.tour().length];
        for (int k = 0; k < tour.length; k++) {
            tour[k] = group.get(batch.tour()[k]).key();
        }
        double kmSeparate = round3(batch.kmSeparate()), kmConsolidated = round3(batch.kmConsolidated());
        return new Proposal(Sha256.hex(KERNEL_VERSION + "\u001f" + digest).substring(0, 32),
                List.copyOf(partners), List.of(shipments), offer.partnerId(), kmSeparate, kmConsolidated,
                round3(kmSeparate - kmConsolidated),  // adds up as shown
                KERNEL_VERSION, digest, now, offer.offerKey(), List.of(tour), canonical);
    }

    /** Python's {@code round(x, 3)}: the exact binary value rounded half-even to 3 decimals, the
     * sign of a zero kept. */
    public static double round3(double x) {
        if (!Double.isFinite(x)) {
            return x;
        }
        return Math.copySign(new BigDecimal(x).setScale(3, RoundingMode.HALF_EVEN).doubleValue(), x);
    }

    /** {@code proposal_record}: the ConsolidationProposal Avro record's fields, in schema order. */
    public static Map<String, Object> proposalRecord(Proposal p) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("proposal_id", p.proposalId());
        r.put("partners", p.partners());
        r.put("shipments", p.shipments());
        r.put("assigned_partner", p.assignedPartner());
        r.put("km_separate", p.kmSeparate());
        r.put("km_consolidated", p.kmConsolidated());
        r.put("km_saved", p.kmSaved());
        r.put("kernel_version", p.kernelVersion());
        r.put("inputs_digest", p.inputsDigest());
        r.put("created_at", p.createdAt());
        return r;
    }

    /** udfs.rows.proposal_row: the ClickHouse consolidation_proposals row, in column order
     * (arrays as {@code List<String>}). */
    public static Object[] proposalRow(Proposal p) {
        return new Object[] {p.proposalId(), p.partners(), p.shipments(), p.assignedPartner(), p.kmSeparate(),
                p.kmConsolidated(), p.kmSaved(), p.kernelVersion(), p.inputsDigest(), p.createdAt(), p.offerKey(),
                p.tour()};
    }


    // ------------------------------------------------------------ Neighbourhood

    /** A match of a {@link Neighbourhood}: its member keys, the smaller by code point first. */
    public record Edge(String a, String b) implements Serializable {
        public static Edge of(String x, String y) {
            return Text.compare(x, y) <= 0 ? new Edge(x, y) : new Edge(y, x);
        }
    }

    /** A connected component of a {@link Neighbourhood}'s matches: its member keys in code point
     * order, and what groups() and due() read of it, kept until it changes. */
    private static final class Component {
        /** A sorted list rather than a tree: a split keeps the order without comparing keys, a
         * merge of two components is linear, one new key a binary search. */
        List<String> keys = new ArrayList<>(2);
        /** The members at the ends of the matches cut since it was last known whole (those left). */
        Set<String> cutEnds = new HashSet<>();
        /** Its members' latest versions in key order, and their earliest window start; null: to build. */
        List<Member> group;
        long firstStart;
        /** {@link Consolidation#sortedKeysText} of its keys and its digest; null: to build. */
        String text;
        String digest;

        void keysChanged() {
            group = null;
            text = null;
            digest = null;
        }
    }

    /** A member in a {@link Neighbourhood}'s graph of the matches. */
    private static final class Node {
        final String key;
        /** The members it is matched with (by identity: a node has no equals of its own). */
        final Set<Node> linked = new HashSet<>();
        /** The number of the last walk that met it, and of the last one that looked for it. */
        long walk;
        long end;

        Node(String key) {
            this.key = key;
        }
    }

    /**
     * udfs.consolidation.Neighbourhood: the keyed state of one neighbourhood, its current
     * matches, decided groups and promised capacity.
     *
     * <p>A Flink POJO (public no-arg constructor, public fields of maps and sets of records) and
     * {@link Serializable}; {@link #write}/{@link #read} give the compact plain-value form of
     * Python's {@code __getstate__} for a hand-written TypeSerializer. Only the fields are state:
     * the caches (when the next group becomes due, when the next thing can expire, the edges by
     * endpoint) are transient, and their default values mean "not known", so they are rebuilt
     * after any restore. Change the fields through the methods only: the caches follow them.
     */
    public static final class Neighbourhood implements Serializable {
        private static final long serialVersionUID = 1L;
        private static final int FORMAT = 1;
        /** Python's math.inf as a cache value: nothing to wait for. */
        private static final long NEVER = Long.MAX_VALUE;

        /** Member key -> the member's latest version. */
        public Map<String, Member> members = new HashMap<>();
        public Set<Edge> edges = new HashSet<>();
        /** Group digest -> forget after (ms). */
        public Map<String, Long> decided = new HashMap<>();
        /** Offer key -> capacity promised by proposals here, until their windows end. */
        public Map<String, Promise> promised = new HashMap<>();
        // When the next group not yet due becomes due, as of the last due(): until then, and while
        // no match changes, no group can become due.
        private transient boolean dueKnown;
        private transient long nextDue;
        // Nothing expires before this (a lower bound on the earliest window end, decision and
        // promise): most timers fire before anything is over, and expire() then skips its pass.
        private transient boolean expiryKnown;
        private transient long nextExpiry;
        // Member -> its node in the graph of the matches; null: not built (after a restore). Expiry
        // and retraction remove a member's edges without a pass over all of the district's, and a
        // walk marks the nodes it meets (with the number of the walk) instead of hashing keys.
        private transient Map<String, Node> nodes;
        private transient long walks;
        // The connected components of the matches: each member's, all of them, those in code point
        // order of their smallest keys (null: to sort), and those a cut match may have split; null:
        // not built (after a restore). A link merges two components and a cut marks one, so a timer
        // costs what changed since the last, not a walk of the district's matches.
        private transient Map<String, Component> componentOf;
        private transient Set<Component> allComponents;
        private transient List<Component> sortedComponents;
        private transient Set<Component> splitting;
        // Group digests of the last due(), by the text they hash: a group that did not change since
        // is not hashed again (SHA-256 runs compiled by the client compiler here, ~145 MB/s).
        private transient Map<String, String> digests;

        public Neighbourhood() {
        }

        /** Nothing held: no members, decisions or promises (the operator drops the state). */
        public boolean isEmpty() {
            return members.isEmpty() && decided.isEmpty() && promised.isEmpty();
        }

        /** {@code link}: a (new version of a) match; returns when the group becomes due (the caller's timer). */
        public long link(Member a, Member b) {
            String ka = a.key(), kb = b.key();
            members.put(ka, a);
            members.put(kb, b);
            edges.add(Edge.of(ka, kb));
            if (nodes != null) {
                linkNodes(ka, kb);
            }
            if (componentOf != null) {
                join(ka, kb);
            }
            dueKnown = false;
            expiresBy(Math.min(a.windowEnd(), b.windowEnd()));
            return dueAt(a, b);
        }

        private void expiresBy(long at) {
            if (expiryKnown) {
                nextExpiry = Math.min(nextExpiry, at);
            }
        }

        private void forget(String key) {
            members.remove(key);
            Component c = componentOf == null ? null : componentOf.remove(key);
            if (c != null) {
                c.keys.remove(Collections.binarySearch(c.keys, key, Text.CODE_POINT_ORDER));
                c.cutEnds.remove(key);
                c.keysChanged();
                sortedComponents = null;
                if (c.keys.isEmpty()) {
                    allComponents.remove(c);
                    splitting.remove(c);
                }
            }
        }

        /** The components, built from the matches if they are not known. */
        private Map<String, Component> componentOf() {
            if (componentOf == null) {
                componentOf = new HashMap<>();
                allComponents = new HashSet<>();
                splitting = new HashSet<>();
                for (String key : members.keySet()) {
                    if (!componentOf.containsKey(key)) {
                        reach(key);
                    }
                }
            }
            return componentOf;
        }

        /** A new component of {@code start} and everything matched with it, directly or not. */
        private void reach(String start) {
            Component c = new Component();
            c.keys = reachable(start);
            c.keys.sort(Text.CODE_POINT_ORDER);
            for (String key : c.keys) {
                componentOf.put(key, c);
            }
            allComponents.add(c);
            sortedComponents = null;
        }

        /** {@code start} and every key matched with it, directly or not (a new list). */
        private List<String> reachable(String start) {
            Node first = graph().get(start);
            List<String> keys = new ArrayList<>();
            if (first == null) {
                keys.add(start);
                return keys;
            }
            long walk = ++walks;
            List<Node> met = new ArrayList<>();
            first.walk = walk;
            met.add(first);
            for (int i = 0; i < met.size(); i++) {
                for (Node other : met.get(i).linked) {
                    if (other.walk != walk) {
                        other.walk = walk;
                        met.add(other);
                    }
                }
            }
            for (Node n : met) {
                keys.add(n.key);
            }
            return keys;
        }

        /** A component some of whose matches were cut: itself if it still holds together, else
         * one component per part, each listing its keys in the order they had. */
        private void split(Component c) {
            boolean whole = connected(c.cutEnds);
            c.cutEnds.clear();
            if (whole) {
                return;
            }
            allComponents.remove(c);
            for (String key : c.keys) {
                if (componentOf.get(key) == c) {  // not reached from one of its smaller keys
                    Component part = new Component();
                    part.keys = new ArrayList<>();
                    for (String other : reachable(key)) {
                        componentOf.put(other, part);
                    }
                    allComponents.add(part);
                }
            }
            for (String key : c.keys) {
                componentOf.get(key).keys.add(key);
            }
            sortedComponents = null;
        }

        /**
         * Whether the members left at the ends of the cut matches are still connected, a walk from
         * one of them that stops when it has met them all. If so the component holds together: a
         * path between two of its members that went through a cut match, or through a member
         * forgotten with its matches, enters and leaves what was cut at such members.
         */
        private boolean connected(Set<String> cutEnds) {
            if (cutEnds.size() < 2) {
                return true;
            }
            Map<String, Node> graph = graph();
            long walk = ++walks;
            Node start = null;
            for (String key : cutEnds) {
                Node end = graph.get(key);
                end.end = walk;
                start = start == null ? end : start;
            }
            ArrayDeque<Node> todo = new ArrayDeque<>();
            start.walk = walk;
            todo.add(start);
            int met = 1;
            while (!todo.isEmpty()) {
                for (Node other : todo.poll().linked) {
                    if (other.walk != walk) {
                        other.walk = walk;
                        if (other.end == walk && ++met == cutEnds.size()) {
                            return true;
                        }
                        todo.add(other);
                    }
                }
            }
            return false;
        }

        private Component componentFor(String key) {
            Component c = componentOf.get(key);
            if (c == null) {
                c = new Component();
                c.keys.add(key);
                componentOf.put(key, c);
                allComponents.add(c);
                sortedComponents = null;
            }
            return c;
        }

        /** A match of {@code ka} and {@code kb} (new or a new version): their components become one. */
        private void join(String ka, String kb) {
            Component a = componentFor(ka), b = componentFor(kb);
            if (a == b) {
                a.group = null;  // a member's version may have changed, not its keys
                return;
            }
            Component big = a.keys.size() >= b.keys.size() ? a : b, small = big == a ? b : a;
            for (String key : small.keys) {
                componentOf.put(key, big);
            }
            if (small.keys.size() == 1) {
                String key = small.keys.get(0);
                big.keys.add(-Collections.binarySearch(big.keys, key, Text.CODE_POINT_ORDER) - 1, key);
            } else {
                big.keys = merged(big.keys, small.keys);
            }
            allComponents.remove(small);
            if (splitting.remove(small)) {
                splitting.add(big);
                big.cutEnds.addAll(small.cutEnds);
            }
            big.keysChanged();
            sortedComponents = null;
        }

        /** Two lists of distinct keys in code point order as one. */
        private static List<String> merged(List<String> x, List<String> y) {
            List<String> out = new ArrayList<>(x.size() + y.size());
            int i = 0, j = 0;
            while (i < x.size() && j < y.size()) {
                out.add(Text.compare(x.get(i), y.get(j)) < 0 ? x.get(i++) : y.get(j++));
            }
            out.addAll(x.subList(i, x.size()));
            out.addAll(y.subList(j, y.size()));
            return out;
        }

        /**
         * The components in the order of their smallest keys, their groups built; a cut one is
         * split if it is due at {@code now}. One that is not may still be in parts: none of them
         * is due either (a part's first window start is not before the whole's), and the whole's
         * is the earliest of theirs, so it tells when the first becomes due all the same.
         */
        private List<Component> components(long now) {
            componentOf();
            if (!splitting.isEmpty()) {
                for (Iterator<Component> it = splitting.iterator(); it.hasNext(); ) {
                    Component c = it.next();
                    if (built(c).firstStart - LEAD_MS <= now) {
                        it.remove();
                        split(c);
                    }
                }
            }
            if (sortedComponents == null) {
                sortedComponents = new ArrayList<>(allComponents);
                sortedComponents.sort((x, y) -> Text.compare(x.keys.get(0), y.keys.get(0)));
            }
            for (Component c : sortedComponents) {
                built(c);
            }
            return sortedComponents;
        }

        private Component built(Component c) {
            if (c.group == null) {
                List<Member> group = new ArrayList<>(c.keys.size());
                long first = Long.MAX_VALUE;
                for (String key : c.keys) {
                    Member m = members.get(key);
                    group.add(m);
                    first = Math.min(first, m.windowStart());
                }
                c.group = Collections.unmodifiableList(group);
                c.firstStart = first;
            }
            return c;
        }

        /** The graph of the matches, built from them if it is not known. */
        private Map<String, Node> graph() {
            if (nodes == null) {
                nodes = new HashMap<>();
                for (Edge e : edges) {
                    linkNodes(e.a(), e.b());
                }
            }
            return nodes;
        }

        private void linkNodes(String ka, String kb) {
            Node a = nodes.computeIfAbsent(ka, Node::new), b = nodes.computeIfAbsent(kb, Node::new);
            a.linked.add(b);
            b.linked.add(a);
        }

        /** Drops the match of {@code keyA} and {@code keyB}; a member it leaves without one is forgotten. */
        private void cut(String keyA, String keyB) {
            Map<String, Node> graph = graph();
            edges.remove(Edge.of(keyA, keyB));
            Component c = componentOf == null ? null : componentOf.get(keyA);
            if (c != null) {  // it may fall apart: looked at when it is next due
                splitting.add(c);
                c.cutEnds.add(keyA);
                c.cutEnds.add(keyB);
            }
            Node a = graph.get(keyA), b = graph.get(keyB);
            for (int side = 0; side < 2; side++) {
                String key = side == 0 ? keyA : keyB;
                Node node = side == 0 ? a : b, other = side == 0 ? b : a;
                if (node != null) {
                    node.linked.remove(other);
                    if (node.linked.isEmpty()) {
                        graph.remove(key);
                        forget(key);
                    }
                }
            }
        }

        /** {@code unlink}: a retracted match. */
        public void unlink(String keyA, String keyB) {
            if (edges.contains(Edge.of(keyA, keyB))) {
                cut(keyA, keyB);
            }
            dueKnown = false;
        }

        /** {@code expire}: forgets deliveries whose window has ended, and decisions about finished
         * groups; whether anything was forgotten. */
        public boolean expire(long now) {
            if (expiryKnown && now < nextExpiry) {
                return false;
            }
            int edgesBefore = edges.size(), membersBefore = members.size();
            int decidedBefore = decided.size(), promisedBefore = promised.size();
            List<String> ended = new ArrayList<>();
            for (Member m : members.values()) {
                if (m.windowEnd() <= now) {
                    ended.add(m.key());
                }
            }
            for (String key : ended) {
                Node node = graph().get(key);
                if (node != null) {  // its matches, and members they leave alone
                    for (Node other : new ArrayList<>(node.linked)) {
                        cut(key, other.key);
                    }
                }
                forget(key);  // gone with its last match already, unless it had none
            }
            decided.values().removeIf(until -> until <= now);
            promised.values().removeIf(v -> v.until() <= now);
            if (edges.size() != edgesBefore || members.size() != membersBefore) {
                dueKnown = false;
            }
            long next = NEVER;
            for (Member m : members.values()) {
                next = Math.min(next, m.windowEnd());
            }
            for (long until : decided.values()) {
                next = Math.min(next, until);
            }
            for (Promise v : promised.values()) {
                next = Math.min(next, v.until());
            }
            nextExpiry = next;
            expiryKnown = true;
            return edges.size() != edgesBefore || members.size() != membersBefore
                    || decided.size() != decidedBefore || promised.size() != promisedBefore;
        }

        /** {@code groups}: the connected components of the matches, each listing its members by key
         * (code point order), in the order of their smallest keys. */
        public List<List<Member>> groups() {
            // udfs.consolidation labels the components with ConsolidationKernel.components over the
            // sorted keys; the same groups in the same order, tests/unit/test_jvm_consolidation.py.
            List<Component> components = components(Long.MAX_VALUE);
            List<List<Member>> groups = new ArrayList<>(components.size());
            for (Component c : components) {
                groups.add(c.group);
            }
            return groups;
        }

        /** The digest of a group from {@link #groups}, from the last {@link #due} when it was there. */
        private String digestOf(List<Member> group) {
            return digestOfText(sortedKeysText(group));
        }

        private String digestOfText(String sortedKeysText) {
            String digest = digests == null ? null : digests.get(sortedKeysText);
            return digest != null ? digest : digestOfKeys(sortedKeysText);
        }

        /** {@code due}: groups due at {@code now} that were not decided with exactly these members. */
        public List<List<Member>> due(long now) {
            if (dueKnown && now < nextDue) {
                return List.of();  // no match changed since the last call, and no group's time has come
            }
            List<List<Member>> due = new ArrayList<>();
            long upcoming = NEVER;
            Map<String, String> seen = new HashMap<>();
            for (Component c : components(now)) {
                long at = c.firstStart - LEAD_MS;
                if (at > now) {
                    upcoming = Math.min(upcoming, at);
                } else {
                    if (c.text == null) {
                        c.text = sortedKeysText(c.group);
                        c.digest = digestOfText(c.text);
                    }
                    seen.put(c.text, c.digest);
                    if (!decided.containsKey(c.digest)) {
                        due.add(c.group);
                    }
                }
            }
            digests = seen;
            nextDue = upcoming;
            dueKnown = true;
            return due;
        }

        /**
         * {@code on_timer}: what the Flink operator does at a timer. Applies the links and unlinks
         * that arrived since the last one, in arrival order, forgets what has ended and decides
         * what is due.
         */
        public TimerResult onTimer(long now, List<? extends Change> changes, Map<String, Offer> offers) {
            for (Change change : changes) {
                if (change instanceof Link link) {
                    link(link.a(), link.b());
                } else {
                    Unlink unlink = (Unlink) change;
                    unlink(unlink.keyA(), unlink.keyB());
                }
            }
            boolean changed = expire(now) || !changes.isEmpty();
            int decidedBefore = decided.size();
            List<Proposal> proposals = decide(now, offers);
            return new TimerResult(proposals, changed || decided.size() != decidedBefore);
        }

        /** {@code decide}: plans every due group in one kernel batch; returns the proposals made. */
        public List<Proposal> decide(long now, Map<String, Offer> offers) {
            List<List<Member>> groups = due(now);
            if (groups.isEmpty()) {
                return List.of();
            }
            for (List<Member> g : groups) {
                long until = Long.MIN_VALUE;
                for (Member m : g) {
                    until = Math.max(until, m.windowEnd());
                }
                decided.put(digestOf(g), until);
                expiresBy(until);
            }
            List<Offer> open = new ArrayList<>();
            for (Offer o : offers.values()) {
                if (o.availableTo() > now) {
                    open.add(o);
                }
            }
            Map<String, List<Offer>> ranked = rankedOffers(open);
            List<Proposal> proposals = new ArrayList<>();
            while (!groups.isEmpty()) {
                // Each group was planned against what was promised before this round (the kernel
                // checked that capacity); a group whose carrier an earlier group of this round has
                // taken is planned again in the next round, against what is left. Every round
                // keeps at least its first proposal, so rounds end.
                List<List<Member>> again = new ArrayList<>();
                Set<String> taken = new HashSet<>();
                List<Batch> batches = batches(groups, ranked, promised, now);
                for (int gi = 0; gi < groups.size(); gi++) {
                    List<Member> g = groups.get(gi);
                    Proposal proposal = proposal(g, batches.get(gi), now);
                    if (proposal == null) {
                        continue;
                    }
                    if (!taken.add(proposal.offerKey())) {
                        again.add(g);
                        continue;
                    }
                    Promise before = promised.getOrDefault(proposal.offerKey(), Promise.NONE);
                    double litres = 0.0;  // Python's sum(): 0 + v1 + v2 + ..., left to right
                    long stops = 0;
                    long until = Long.MIN_VALUE;
                    for (Member m : g) {
                        if (!m.partnerId().equals(proposal.assignedPartner())) {
                            litres += m.volumeL();
                            stops++;
                        }
                        until = Math.max(until, m.windowEnd());
                    }
                    Promise after = new Promise(before.litres() + litres, before.stops() + stops,
                            Math.max(before.until(), until));
                    promised.put(proposal.offerKey(), after);
                    expiresBy(after.until());
                    proposals.add(proposal);
                }
                groups = again;
            }
            return proposals;
        }

        // -------------------------------------------------------- plain-value form

        /** Writes the state as plain values (the caches are not written). */
        public void write(DataOutput out) throws IOException {
            out.writeInt(FORMAT);
            out.writeInt(members.size());
            for (Member m : members.values()) {
                writeString(out, m.partnerId());
                writeString(out, m.shipmentId());
                out.writeDouble(m.lat());
                out.writeDouble(m.lng());
                out.writeLong(m.windowStart());
                out.writeLong(m.windowEnd());
                out.writeDouble(m.volumeL());
            }
            out.writeInt(edges.size());
            for (Edge e : edges) {
                writeString(out, e.a());
                writeString(out, e.b());
            }
            out.writeInt(decided.size());
            for (Map.Entry<String, Long> d : decided.entrySet()) {
                writeString(out, d.getKey());
                out.writeLong(d.getValue());
            }
            out.writeInt(promised.size());
            for (Map.Entry<String, Promise> p : promised.entrySet()) {
                writeString(out, p.getKey());
                out.writeDouble(p.getValue().litres());
                out.writeLong(p.getValue().stops());
                out.writeLong(p.getValue().until());
            }
        }

        /** The state {@link #write} wrote, its caches unknown. */
        public static Neighbourhood read(DataInput in) throws IOException {
            Neighbourhood n = new Neighbourhood();
            n.readFields(in);
            return n;
        }

        private void readFields(DataInput in) throws IOException {
            int format = in.readInt();
            if (format != FORMAT) {
                throw new IOException("unknown Neighbourhood format " + format);
            }
            members = new HashMap<>();
            for (int i = in.readInt(); i > 0; i--) {
                Member m = new Member(readString(in), readString(in), in.readDouble(), in.readDouble(),
                        in.readLong(), in.readLong(), in.readDouble());
                members.put(m.key(), m);
            }
            edges = new HashSet<>();
            for (int i = in.readInt(); i > 0; i--) {
                edges.add(new Edge(readString(in), readString(in)));
            }
            decided = new HashMap<>();
            for (int i = in.readInt(); i > 0; i--) {
                decided.put(readString(in), in.readLong());
            }
            promised = new HashMap<>();
            for (int i = in.readInt(); i > 0; i--) {
                promised.put(readString(in), new Promise(in.readDouble(), in.readLong(), in.readLong()));
            }
            dueKnown = expiryKnown = false;
            nodes = null;
            componentOf = null;
            allComponents = null;
            sortedComponents = null;
            splitting = null;
            digests = null;
        }

        /** A copy of the state, its caches unknown (as after a restore). */
        public Neighbourhood copy() {
            Neighbourhood n = new Neighbourhood();
            n.members = new HashMap<>(members);
            n.edges = new HashSet<>(edges);
            n.decided = new HashMap<>(decided);
            n.promised = new HashMap<>(promised);
            return n;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Neighbourhood n && members.equals(n.members) && edges.equals(n.edges)
                    && decided.equals(n.decided) && promised.equals(n.promised);
        }

        @Override
        public int hashCode() {
            return members.hashCode() * 31 + edges.hashCode();
        }
    }

    // UTF-16 units as they are: a lone surrogate survives (modified UTF-8 would too, but caps a string at 64 KiB)
    private static void writeString(DataOutput out, String s) throws IOException {
        out.writeInt(s.length());
        out.writeChars(s);
    }

    private static String readString(DataInput in) throws IOException {
        char[] chars = new char[in.readInt()];
        for (int i = 0; i < chars.length; i++) {
            chars[i] = in.readChar();
        }
        return new String(chars);
    }
}
