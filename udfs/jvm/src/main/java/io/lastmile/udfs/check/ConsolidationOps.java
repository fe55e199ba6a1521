package io.lastmile.udfs.check;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

import io.lastmile.udfs.core.Consolidation;
import io.lastmile.udfs.core.Consolidation.Change;
import io.lastmile.udfs.core.Consolidation.Edge;
import io.lastmile.udfs.core.Consolidation.Link;
import io.lastmile.udfs.core.Consolidation.Member;
import io.lastmile.udfs.core.Consolidation.Neighbourhood;
import io.lastmile.udfs.core.Consolidation.Offer;
import io.lastmile.udfs.core.Consolidation.Proposal;
import io.lastmile.udfs.core.Consolidation.TimerResult;
import io.lastmile.udfs.core.Consolidation.Unlink;
import io.lastmile.udfs.core.ConsolidationKernel;
import io.lastmile.udfs.core.PythonJson;
import io.lastmile.udfs.flink.LinksType;
import io.lastmile.udfs.flink.Matcher;

/**
 * core.ConsolidationKernel, core.Consolidation and core.PythonJson for
 * tests/unit/test_jvm_consolidation.py. Floats that must arrive or return bit for bit (NaN
 * included, which the harness's JSON cannot carry) travel as their IEEE bits in a long.
 * Neighbourhoods are held by a test-chosen id between calls.
 */
public final class ConsolidationOps implements Harness.Ops {
    private final Map<String, Neighbourhood> neighbourhoods = new HashMap<>();

    @Override
    public Object call(String op, JsonNode args) throws Exception {
        switch (op) {
            case "cos": {
                List<Long> out = new ArrayList<>();
                for (JsonNode bits : args) {
                    out.add(Double.doubleToRawLongBits(Math.cos(Double.longBitsToDouble(bits.asLong()))));
                }
                return out;
            }
            case "repr": {
                List<String> out = new ArrayList<>();
                for (JsonNode bits : args) {
                    out.add(PythonJson.floatRepr(Double.longBitsToDouble(bits.asLong())));
                }
                return out;
            }
            case "round3": {
                List<Long> out = new ArrayList<>();
                for (JsonNode bits : args) {
                    out.add(Double.doubleToRawLongBits(Consolidation.round3(Double.longBitsToDouble(bits.asLong()))));
                }
                return out;
            }
            case "open_tour": {
                int m = args.get("m").asInt();
                int[] path = new int[m + 1];
                ConsolidationKernel.openTour(floats(args.get("d")), m + 1, m, path);
                return path;
            }
            case "dumps":
                return PythonJson.dumps(plain(args));
            case "components":
                return ConsolidationKernel.components(args.get("n").asInt(), ints(args.get("a")), ints(args.get("b")));
            case "plan_groups":
                return planGroups(args);
            case "neighbourhood_of": {
                List<Long> out = new ArrayList<>();
                for (JsonNode cell : args) {
                    out.add(Consolidation.neighbourhoodOf(cell.asLong()));
                }
                return out;
            }
            case "group_digest": {
                List<Member> members = new ArrayList<>();
                for (JsonNode m : args) {
                    members.add(member(m));
                }
                return Consolidation.groupDigest(members);
            }
            case "offer_from_fields": {
                JsonNode vehicle = args.get(1);
                return offerFields(Consolidation.offerFromFields(args.get(0).asText(),
                        vehicle.isNull() ? null : vehicle.asText(), args.get(2).asText(), args.get(3).asDouble(),
                        args.get(4).asDouble(), args.get(5).asLong(), args.get(6).asLong(), args.get(7).asDouble(),
                        args.get(8).asLong()));
            }
            case "offers_ended_before": {  // [[key, offer fields], ...], newest offer fields
                List<Map.Entry<String, Offer>> offers = new ArrayList<>();
                for (JsonNode o : args.get(0)) {
                    offers.add(Map.entry(o.get(0).asText(), offer(o.get(1))));
                }
                return Consolidation.offersEndedBefore(offers, offer(args.get(1)));
            }
            case "ranked_offers": {
                List<Offer> offers = new ArrayList<>();
                for (JsonNode o : args) {
                    offers.add(offer(o));
                }
                Map<String, List<String>> out = new HashMap<>();
                Consolidation.rankedOffers(offers).forEach((p, ranked) -> {
                    List<String> keys = new ArrayList<>();
                    ranked.forEach(o -> keys.add(o.offerKey()));
                    out.put(p, keys);
                });
                return out;
            }
            case "nb_reset":
                neighbourhoods.put(args.get("id").asText(), new Neighbourhood());
                return true;
            case "nb_restore": {  // as a checkpoint and restore would: Java serialization or the plain form
                String id = args.get("id").asText();
                Neighbourhood n = neighbourhoods.get(id), copy;
                ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                if (args.get("plain").asBoolean()) {
                    n.write(new DataOutputStream(bytes));
                    copy = Neighbourhood.read(new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
                } else {
                    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
                        out.writeObject(n);
                    }
                    try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
                        copy = (Neighbourhood) in.readObject();
                    }
                }
                if (!copy.equals(n)) {
                    throw new IllegalStateException("the restored neighbourhood differs");
                }
                neighbourhoods.put(id, copy);
                return bytes.size();
            }
            case "links_roundtrip": { // Matcher.Links through the serializer between the two tasks
                List<Change> changes = new ArrayList<>();
                for (JsonNode c : args.get("changes")) {
                    changes.add(c.get(0).asText().equals("link")
                            ? new Link(c.get(1).asLong(), member(c.get(2)), member(c.get(3)))
                            : new Unlink(c.get(1).asLong(), c.get(2).asText(), c.get(3).asText()));
                }
                Matcher.Links links = new Matcher.Links(args.get("neighbourhood").asLong(), changes);
                DataOutputSerializer out = new DataOutputSerializer(64);
                LinksType.Serializer.INSTANCE.serialize(links, out);
                Matcher.Links back = LinksType.Serializer.INSTANCE.deserialize(
                        new DataInputDeserializer(out.getCopyOfBuffer()));
                return Map.of("equal", back.equals(links), "changes", back.changes().size());
            }
            case "nb_timer":
                return timer(args);
            case "nb_state":
                return state(neighbourhoods.get(args.get("id").asText()));
            default:
                throw new IllegalArgumentException("unknown op " + op);
        }
    }

    private Object planGroups(JsonNode a) {
        long start = System.nanoTime();
        ConsolidationKernel.Plan plan = ConsolidationKernel.planGroups(ints(a.get("group_offsets")),
                floats(a.get("lat")), floats(a.get("lng")), longs(a.get("window_start")), longs(a.get("window_end")),
                floats(a.get("volume_l")), ints(a.get("partner")), floats(a.get("own_lat")), floats(a.get("own_lng")),
                longs(a.get("decision_ms")), ints(a.get("cand_offsets")), ints(a.get("cand_partner")),
                floats(a.get("cand_lat")), floats(a.get("cand_lng")), longs(a.get("cand_from")),
                longs(a.get("cand_to")), floats(a.get("cand_spare_volume")), longs(a.get("cand_spare_stops")),
                Double.longBitsToDouble(a.get("detour").asLong()), Double.longBitsToDouble(a.get("speed_mps").asLong()),
                Double.longBitsToDouble(a.get("dwell_s").asLong()));
        long nanos = System.nanoTime() - start;
        Map<String, Object> out = new HashMap<>();
        out.put("chosen", plan.chosen());
        out.put("km_separate", bits(plan.kmSeparate()));
        out.put("km_consolidated", bits(plan.kmConsolidated()));
        out.put("order", plan.order());
        out.put("nanos", nanos);
        return out;
    }

    private Object timer(JsonNode a) {
        Neighbourhood n = neighbourhoods.get(a.get("id").asText());
        long now = a.get("now").asLong();
        List<Change> changes = new ArrayList<>();
        for (JsonNode c : a.get("changes")) {
            if (c.get(0).asText().equals("link")) {
                changes.add(new Link(c.get(1).asLong(), member(c.get(2)), member(c.get(3))));
            } else {
                changes.add(new Unlink(c.get(1).asLong(), c.get(2).asText(), c.get(3).asText()));
            }
        }
        Map<String, Offer> offers = new LinkedHashMap<>();
        for (JsonNode o : a.get("offers")) {
            Offer offer = offer(o);
            offers.put(offer.offerKey(), offer);
        }
        long start = System.nanoTime();
        TimerResult result = n.onTimer(now, changes, offers);
        long nanos = System.nanoTime() - start;
        List<Object> proposals = new ArrayList<>();
        for (Proposal p : result.proposals()) {
            Map<String, Object> out = new HashMap<>();
            out.put("record", Consolidation.proposalRecord(p));
            out.put("row", Consolidation.proposalRow(p));
            out.put("offer_key", p.offerKey());
            out.put("tour", p.tour());
            out.put("inputs", p.inputs());
            proposals.add(out);
        }
        Map<String, Object> out = new HashMap<>();
        out.put("proposals", proposals);
        out.put("changed", result.changed());
        out.put("state", state(n));
        out.put("nanos", nanos);
        if (a.path("groups").asBoolean(false)) {  // the components kept up to date, as rebuilt from the matches
            out.put("groups", groupKeys(n.groups()));
            out.put("groups_rebuilt", groupKeys(n.copy().groups()));
        }
        return out;
    }

    private static List<List<String>> groupKeys(List<List<Member>> groups) {
        List<List<String>> out = new ArrayList<>();
        for (List<Member> g : groups) {
            List<String> keys = new ArrayList<>();
            for (Member m : g) {
                keys.add(m.key());
            }
            out.add(keys);
        }
        return out;
    }

    private static Map<String, Object> state(Neighbourhood n) {
        List<Object> members = new ArrayList<>();
        n.members.forEach((key, m) -> members.add(List.of(key, memberFields(m))));
        List<Object> edges = new ArrayList<>();
        for (Edge e : n.edges) {
            edges.add(List.of(e.a(), e.b()));
        }
        Map<String, Object> promised = new HashMap<>();
        n.promised.forEach((k, v) -> promised.put(k, List.of(v.litres(), v.stops(), v.until())));
        Map<String, Object> out = new HashMap<>();
        out.put("members", members);
        out.put("edges", edges);
        out.put("decided", n.decided);
        out.put("promised", promised);
        out.put("empty", n.isEmpty());
        return out;
    }

    private static Member member(JsonNode m) {
        return new Member(m.get(0).asText(), m.get(1).asText(), m.get(2).asDouble(), m.get(3).asDouble(),
                m.get(4).asLong(), m.get(5).asLong(), m.get(6).asDouble());
    }

    private static List<Object> memberFields(Member m) {
        return List.of(m.partnerId(), m.shipmentId(), m.lat(), m.lng(), m.windowStart(), m.windowEnd(), m.volumeL());
    }

    private static Offer offer(JsonNode o) {
        return new Offer(o.get(0).asText(), o.get(1).asText(), o.get(2).asDouble(), o.get(3).asDouble(),
                o.get(4).asLong(), o.get(5).asLong(), o.get(6).asDouble(), o.get(7).asLong());
    }

    private static List<Object> offerFields(Offer o) {
        return List.of(o.partnerId(), o.offerKey(), o.lat(), o.lng(), o.availableFrom(), o.availableTo(),
                o.spareVolumeL(), o.spareStops());
    }

    /** A JSON value as PythonJson takes it: objects as maps, arrays as lists, integers as Long (or
     * BigInteger), floats as Double from {@code {"$f": bits}}. */
    private static Object plain(JsonNode v) {
        if (v.isObject() && v.size() == 1 && v.has("$f")) {
            return Double.longBitsToDouble(v.get("$f").asLong());
        }
        if (v.isObject()) {
            Map<String, Object> out = new HashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                out.put(e.getKey(), plain(e.getValue()));
            }
            return out;
        }
        if (v.isArray()) {
            List<Object> out = new ArrayList<>();
            v.forEach(x -> out.add(plain(x)));
            return out;
        }
        if (v.isTextual()) {
            return v.asText();
        }
        if (v.isBoolean()) {
            return v.asBoolean();
        }
        if (v.isNull()) {
            return null;
        }
        if (v.isIntegralNumber()) {
            return v.canConvertToLong() ? (Object) v.asLong() : v.bigIntegerValue();
        }
        return v.asDouble();
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    private static long[] longs(JsonNode a) {
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asLong();
        }
        return out;
    }

    private static double[] floats(JsonNode bits) {
        double[] out = new double[bits.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = Double.longBitsToDouble(bits.get(i).asLong());
        }
        return out;
    }

    private static long[] bits(double[] values) {
        long[] out = new long[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = Double.doubleToRawLongBits(values[i]);
        }
        return out;
    }
}
