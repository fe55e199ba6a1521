package io.lastmile.udfs.check;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.uber.h3core.H3Core;

import io.lastmile.udfs.core.CellIndex;
import io.lastmile.udfs.core.Colocation;
import io.lastmile.udfs.core.H3;
import io.lastmile.udfs.core.Colocation.Match;
import io.lastmile.udfs.core.Colocation.Registered;
import io.lastmile.udfs.core.Colocation.Routed;
import io.lastmile.udfs.core.Colocation.Stored;
import io.lastmile.udfs.core.Colocation.Task;

/**
 * core.Colocation and core.CellIndex for tests/unit/test_jvm_colocation.py. Floats cross as
 * Python's {@code float.hex} / {@link Double#toHexString} text, so no decimal conversion can
 * hide or make a difference; a task is the list of its fields in udfs.colocation.Task's order.
 * Stateful ops keep named cell indexes and named engines (register per shipment, then the cell
 * indexes), as tests/unit/test_colocation.py's Engine.
 */
public final class ColocationOps implements Harness.Ops {
    private final H3Core h3;
    private final Map<String, CellIndex> indexes = new HashMap<>();
    private final Map<String, Engine> engines = new HashMap<>();

    public ColocationOps() throws Exception {
        h3 = H3Core.newInstance();
    }

    /** The streaming algorithm without Flink, as the Registry and the Matchers run it. */
    private static final class Engine {
        final double radius;
        final int res;
        final Map<String, Stored> shipments = new HashMap<>();
        final LinkedHashMap<Long, CellIndex> cells = new LinkedHashMap<>();

        Engine(double radius) {
            this.radius = radius;
            this.res = Colocation.resolutionForRadius(radius);
        }
    }

    @Override
    public Object call(String op, JsonNode a) {
        switch (op) {
            case "edge":
                return hex(Colocation.averageEdgeM(a.get(0).asInt()));
            case "cell":
                return H3.latLngToCell(num(a.get(0)), num(a.get(1)), a.get(2).asInt());
            case "disk":
                return h3.gridDisk(a.get(0).asLong(), a.get(1).asInt());
            case "centre": {
                double[] c = H3.cellToLatLng(a.get(0).asLong());
                return List.of(hex(c[0]), hex(c[1]));
            }
            case "boundary": {
                double[] b = H3.cellToBoundary(a.get(0).asLong());
                List<List<String>> out = new ArrayList<>();
                for (int v = 0; v < b.length; v += 2) {
                    out.add(List.of(hex(b[v]), hex(b[v + 1])));
                }
                return out;
            }
            case "parent":
                return h3.cellToParent(a.get(0).asLong(), a.get(1).asInt());
            case "pentagons":
                return h3.getPentagons(a.get(0).asInt());
            case "resolution":
                return Colocation.resolutionForRadius(num(a.get(0)));
            case "circumradius":
                return hex(Colocation.circumradius(a.get(0).asLong()));
            case "cells_within":
                return Colocation.cellsWithin(num(a.get(0)), num(a.get(1)), num(a.get(2)), a.get(3).asInt());
            case "haversine":
                return hex(Colocation.haversine(num(a.get(0)), num(a.get(1)), num(a.get(2)), num(a.get(3))));
            case "precedes":
                return Colocation.precedes(task(a.get(0)), task(a.get(1)));
            case "owns_pair":
                return Colocation.ownsPair(a.get(0).asLong(), task(a.get(1)), task(a.get(2)));
            case "match_id":
                return Colocation.matchId(task(a.get(0)), task(a.get(1)));
            case "colocated": {
                double d = Colocation.colocated(task(a.get(0)), task(a.get(1)), num(a.get(2)));
                return Double.isNaN(d) ? null : hex(d);
            }
            case "make_match": {
                Task x = task(a.get(0)), y = task(a.get(1));
                double d = num(a.get(2));
                return match(a.get(4).isNull() ? Colocation.makeMatch(x, y, d)
                        : Colocation.makeMatch(x, y, d, a.get(3).asBoolean(), a.get(4).asLong()));
            }
            case "volume_of":
                return hex(Colocation.volumeOf(a.get(0).isNull() ? null : num(a.get(0)),
                        a.get(1).isNull() ? null : a.get(1).asInt()));
            case "task":
                return task(Colocation.taskFromFields(a.get(0).asText(), a.get(1).asText(), a.get(2).asLong(),
                        a.get(3).asText(), num(a.get(4)), num(a.get(5)), a.get(6).asLong(), a.get(7).asLong(),
                        text(a.get(8)), a.get(9).isNull() ? null : num(a.get(9)),
                        a.get(10).isNull() ? null : a.get(10).asInt(), a.get(11).asInt(), a.get(12).asLong()));
            case "is_late":
                return Colocation.isLate(task(a.get(0)), a.get(1).asLong(), a.get(2).asLong());
            case "late_message":
                return Colocation.lateMessage(task(a.get(0)), a.get(1).asLong(), a.get(2).asLong());
            case "superseded_message":
                return Colocation.supersededMessage(task(a.get(0)));
            case "register": {
                Stored stored = a.get(0).isNull() ? null : new Stored(task(a.get(0).get(0)), longs(a.get(0).get(1)));
                return registered(Colocation.register(stored, task(a.get(1)), num(a.get(2)), a.get(3).asInt()));
            }
            case "index_new":
                indexes.put(a.get(0).asText(), new CellIndex(a.get(1).asLong(), num(a.get(2))));
                return null;
            case "index_add":
                return matches(indexes.get(a.get(0).asText()).add(task(a.get(1))));
            case "index_restore": { // as after a restore: the same tasks, nothing else kept
                CellIndex index = indexes.get(a.get(0).asText());
                indexes.put(a.get(0).asText(), new CellIndex(index.cell, index.radiusM, new LinkedHashMap<>(index.tasks)));
                return null;
            }
            case "index_remove":
                return matches(indexes.get(a.get(0).asText()).remove(a.get(1).asText(), a.get(2).asLong()));
            case "index_expire":
                return indexes.get(a.get(0).asText()).expire(a.get(1).asLong());
            case "index_state": {
                CellIndex index = indexes.get(a.get(0).asText());
                List<Object> tasks = new ArrayList<>();
                for (Task t : index.tasks.values()) {
                    tasks.add(task(t));
                }
                return Arrays.asList(tasks, index.isEmpty() ? null : index.earliestWindowEnd());
            }
            case "engine_new": {
                Engine engine = new Engine(num(a.get(1)));
                engines.put(a.get(0).asText(), engine);
                return engine.res;
            }
            case "engine_feed":
                return feed(engines.get(a.get(0).asText()), a.get(1));
            case "engine_expire": {
                List<Object> out = new ArrayList<>();
                for (CellIndex index : engines.get(a.get(0).asText()).cells.values()) {
                    int dropped = index.expire(a.get(1).asLong());
                    out.add(List.of(index.cell, dropped, new ArrayList<>(index.tasks.keySet())));
                }
                return out;
            }
            case "engine_drop":
                engines.remove(a.get(0).asText());
                return null;
            default:
                throw new IllegalArgumentException("unknown op " + op);
        }
    }

    /** One DeliveryTask record (the fields of {@code task}, at revision 0): [verdict, messages, matches]. */
    private static Object feed(Engine engine, JsonNode f) {
        Task task = Colocation.taskFromFields(f.get(0).asText(), f.get(1).asText(), f.get(2).asLong(),
                f.get(3).asText(), num(f.get(4)), num(f.get(5)), f.get(6).asLong(), f.get(7).asLong(),
                text(f.get(8)), f.get(9).isNull() ? null : num(f.get(9)),
                f.get(10).isNull() ? null : f.get(10).asInt(), engine.res);
        Registered r = Colocation.register(engine.shipments.get(task.key()), task, engine.radius, engine.res);
        engine.shipments.put(task.key(), r.stored());
        List<Object> matches = new ArrayList<>();
        for (Routed m : r.messages()) {
            CellIndex index = engine.cells.computeIfAbsent(m.cell(), c -> new CellIndex(c, engine.radius));
            List<Match> out = m.task() != null ? index.add(m.task()) : index.remove(m.removeKey(), m.byRevision());
            for (Match match : out) {
                matches.add(match(match));
            }
        }
        return List.of(r.verdict().text, routed(r.messages()), matches);
    }

    private static Object registered(Registered r) {
        Stored s = r.stored();
        List<Object> stored = s == null ? null : List.of(task(s.task()), s.cells());
        List<Object> out = new ArrayList<>();
        out.add(r.verdict().text);
        out.add(stored);
        out.add(routed(r.messages()));
        return out;
    }

    private static List<Object> routed(List<Routed> messages) {
        List<Object> out = new ArrayList<>();
        for (Routed m : messages) {
            List<Object> row = new ArrayList<>();
            row.add(m.cell());
            row.add(m.task() == null ? null : task(m.task()));
            row.add(m.removeKey());
            row.add(m.byRevision());
            out.add(row);
        }
        return out;
    }

    private static List<Object> matches(List<Match> ms) {
        List<Object> out = new ArrayList<>();
        for (Match m : ms) {
            out.add(match(m));
        }
        return out;
    }

    private static List<Object> match(Match m) {
        return List.of(m.matchId(), m.partnerA(), m.shipmentA(), m.partnerB(), m.shipmentB(), m.h3Cell(),
                hex(m.distanceM()), m.overlapStart(), m.overlapEnd(), m.sameRecipient(), m.detectedAt(), m.version(),
                m.retracted());
    }

    static Task task(JsonNode t) {
        return new Task(t.get(0).asText(), t.get(1).asText(), t.get(2).asLong(), t.get(3).asText(), num(t.get(4)),
                num(t.get(5)), t.get(6).asLong(), t.get(7).asLong(), text(t.get(8)), t.get(9).asLong(),
                t.get(10).asLong(), num(t.get(11)));
    }

    static List<Object> task(Task t) {
        List<Object> out = new ArrayList<>(12);
        out.add(t.partnerId());
        out.add(t.shipmentId());
        out.add(t.eventTime());
        out.add(t.eventId());
        out.add(hex(t.lat()));
        out.add(hex(t.lng()));
        out.add(t.windowStart());
        out.add(t.windowEnd());
        out.add(t.recipientKey());
        out.add(t.homeCell());
        out.add(t.revision());
        out.add(hex(t.volumeL()));
        return out;
    }

    private static long[] longs(JsonNode list) {
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = list.get(i).asLong();
        }
        return out;
    }

    static String text(JsonNode n) {
        return n == null || n.isNull() ? null : n.asText();
    }

    /** A float from Python: {@code float.hex} text, or a plain JSON number. */
    static double num(JsonNode n) {
        return n.isTextual() ? Double.parseDouble(n.asText()) : n.asDouble();
    }

    static String hex(double d) {
        return Double.toHexString(d);
    }
}
