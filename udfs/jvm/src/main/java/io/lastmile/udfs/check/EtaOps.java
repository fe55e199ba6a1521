package io.lastmile.udfs.check;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import com.fasterxml.jackson.databind.JsonNode;

import io.lastmile.udfs.core.Eta;
import io.lastmile.udfs.core.Eta.EtaUpdate;
import io.lastmile.udfs.core.Eta.Route;
import io.lastmile.udfs.core.Eta.SpeedOf;
import io.lastmile.udfs.core.EtaKernel;
import io.lastmile.udfs.core.Pings;
import io.lastmile.udfs.core.Pings.Ping;
import io.lastmile.udfs.core.Pings.PingBatch;
import io.lastmile.udfs.core.SpeedProfiles;
import io.lastmile.udfs.core.SpeedProfiles.CausalSpeeds;
import io.lastmile.udfs.core.SpeedProfiles.Folded;
import io.lastmile.udfs.core.SpeedProfiles.Key;
import io.lastmile.udfs.core.SpeedProfiles.Learned;
import io.lastmile.udfs.core.SpeedProfiles.RobustSpeed;
import io.lastmile.udfs.core.SpeedProfiles.Segment;
import io.lastmile.udfs.core.SpeedProfiles.SpeedTable;
import io.lastmile.udfs.core.SpeedProfiles.Speeds;
import io.lastmile.udfs.core.SpeedProfiles.VersionPart;
import io.lastmile.udfs.core.Stops.Assign;
import io.lastmile.udfs.core.Stops.Stop;
import io.lastmile.udfs.core.Stops.Unassign;

/**
 * The ETA path (core.Pings, core.SpeedProfiles, core.Eta, core.EtaKernel) for
 * tests/unit/test_jvm_eta.py. Values in JSON as the Python tuples: a ping
 * {@code [ts, lat, lng, speed|null]}, a segment {@code [cell, hour, mps]}, speeds
 * {@code [[cell, hour, mps], ...]} in dict order, a stop {@code [shipment, seq|null, lat, lng, window]}.
 * Stateful objects (districts' estimates, speed tables, causal speeds, routes) are kept by name.
 */
public final class EtaOps implements Harness.Ops {
    private final Map<String, HashMap<Key, RobustSpeed>> districts = new HashMap<>();
    private final Map<String, SpeedTable> tables = new HashMap<>();
    private final Map<String, CausalSpeeds> causal = new HashMap<>();
    private final Map<String, Route> routes = new HashMap<>();

    @Override
    public Object call(String op, JsonNode a) {
        switch (op) {
            case "constants":
                return Map.of("model_version", Eta.MODEL_VERSION, "kernel_version", EtaKernel.KERNEL_VERSION);
            case "format":
                return strings(a);
            case "parse_pings":
                return pings(Pings.parsePings(a.asText()));
            case "batch_from_row": {
                PingBatch batch = Pings.batchFromRow(a.get(0).asText(), a.get(1).asText(), a.get(2).asText());
                return List.of(batch.key(), batch.at(), pings(batch.pings()));
            }
            case "interval_end":
                return Pings.intervalEnd(a.get(0).asLong(), a.get(1).asLong());
            case "hour_of_week":
                return SpeedProfiles.hourOfWeek(a.asLong());
            case "segment_speed":
                return segment(SpeedProfiles.segmentSpeed(ping(a.get(0)), ping(a.get(1))));
            case "track": {
                Pings.Tracked tracked = Pings.track(a.get(0).isNull() ? null : ping(a.get(0)), pingList(a.get(1)));
                List<Object> districts = new ArrayList<>();
                tracked.byDistrict().forEach((d, segments) -> districts.add(List.of(d, segments(segments))));
                return Arrays.asList(tracked.last() == null ? null : ping(tracked.last()), districts);
            }
            case "driven_m": {
                return Pings.drivenM(a.get(0).isNull() ? null : ping(a.get(0)), pingList(a.get(1)));
            }
            case "robust": {
                RobustSpeed estimate = new RobustSpeed();
                List<Object> steps = new ArrayList<>();
                for (JsonNode s : a) {
                    double value = estimate.learn(s.asDouble());
                    steps.add(Arrays.asList(estimate(estimate), Double.isNaN(value) ? null : value));
                }
                return steps;
            }
            case "profile_keys": {
                List<Object> keys = new ArrayList<>();
                for (Key k : SpeedProfiles.profileKeys(a.get(0).asLong(), a.get(1).asInt())) {
                    keys.add(List.of(k.cell(), k.hour()));
                }
                return keys;
            }
            case "district":
                return SpeedProfiles.district(a.asLong());
            case "midpoint_cell":
                return Eta.midpointCell(a.get(0).asDouble(), a.get(1).asDouble(), a.get(2).asDouble(),
                        a.get(3).asDouble());
            case "learning_hash": {
                List<Object> out = new ArrayList<>();
                for (JsonNode s : a) {
                    out.add(Long.toUnsignedString(SpeedProfiles.learningHash(s.get(0).asLong(), s.get(1).asInt(),
                            s.get(2).asDouble())));
                }
                return out;
            }
            case "learning_order":
                return segments(Arrays.asList(SpeedProfiles.inLearningOrder(segmentList(a))));
            case "learn_interval": {
                HashMap<Key, RobustSpeed> estimates = districts.computeIfAbsent(a.get(0).asText(),
                        n -> new HashMap<>());
                Learned learned = SpeedProfiles.learnInterval(estimates, segmentList(a.get(1)));
                if (a.size() > 2) { // the interval's end: dates what it taught, as flink.Profiles does
                    learned.changed().values().forEach(e -> e.learnedAt = a.get(2).asLong());
                }
                List<Object> changed = new ArrayList<>();
                learned.changed().forEach((k, e) -> changed.add(List.of(k.cell(), k.hour(), estimate(e))));
                return List.of(changed, speeds(learned.published()));
            }
            case "forget_stale":
                return speeds(SpeedProfiles.forgetStale(districts.get(a.get(0).asText()), a.get(1).asLong()));
            case "day_after":
                return SpeedProfiles.dayAfter(a.asLong());
            case "estimates": {
                List<Object> out = new ArrayList<>();
                TreeMap<Key, RobustSpeed> sorted = new TreeMap<>(
                        Comparator.comparingLong(Key::cell).thenComparingInt(Key::hour));
                sorted.putAll(districts.getOrDefault(a.asText(), new HashMap<>()));
                sorted.forEach((k, e) -> out.add(List.of(k.cell(), k.hour(), estimate(e))));
                return out;
            }
            case "table_new": {
                SpeedTable table = new SpeedTable(a.get(1).asDouble());
                table.speeds.putAll(speedsOf(a.get(2)));
                tables.put(a.get(0).asText(), table);
                return null;
            }
            case "table_speed": {
                SpeedTable table = tables.get(a.get(0).asText());
                List<Object> out = new ArrayList<>();
                for (JsonNode k : a.get(1)) {
                    out.add(table.speed(k.get(0).asLong(), k.get(1).asInt()));
                }
                return out;
            }
            case "causal_new":
                causal.put(a.get(0).asText(), new CausalSpeeds(a.get(1).asDouble()));
                return null;
            case "causal_restore": {
                TreeMap<VersionPart, Speeds> pending = new TreeMap<>();
                for (JsonNode p : a.get(4)) {
                    pending.put(new VersionPart(p.get(0).asLong(), p.get(1).asLong()), speedsOf(p.get(2)));
                }
                causal.put(a.get(0).asText(), CausalSpeeds.restored(speedsOf(a.get(2)), a.get(3).asLong(), pending,
                        a.get(1).asDouble()));
                return null;
            }
            case "causal_receive":
                return speeds(causal.get(a.get(0).asText()).receive(a.get(1).asLong(), a.get(2).asLong(),
                        speedsOf(a.get(3))));
            case "causal_table":
                return speeds(causal.get(a.get(0).asText()).table(a.get(1).asLong()).speeds);
            case "causal_fold": {
                Folded folded = causal.get(a.get(0).asText()).fold(a.get(1).asLong());
                List<Object> gone = new ArrayList<>();
                for (VersionPart k : folded.gone()) {
                    gone.add(List.of(k.version(), k.part()));
                }
                return List.of(speeds(folded.changed()), gone);
            }
            case "causal_state": {
                CausalSpeeds c = causal.get(a.asText());
                List<Object> pending = new ArrayList<>();
                c.pending.forEach((k, s) -> pending.add(List.of(k.version(), k.part(), speeds(s))));
                return List.of(speeds(c.base), c.baseUpto, pending);
            }
            case "route_new":
                routes.put(a.get(0).asText(), new Route(a.get(1).asText(), a.get(2).asText()));
                return null;
            case "route_apply": {
                Route route = routes.get(a.get(0).asText());
                List<Object> values = new ArrayList<>();
                for (JsonNode v : a.get(1)) {
                    values.add(value(v));
                }
                List<Object> out = new ArrayList<>();
                for (EtaUpdate u : Eta.applyInterval(route, values, speedOf(a.get(2)))) {
                    out.add(List.of(u.partnerId(), u.shipmentId(), u.vehicleId(), u.predictedAt(), u.eta(),
                            u.modelVersion(), u.inputsDigest()));
                }
                return out;
            }
            case "route_predict": {
                Route route = routes.get(a.get(0).asText());
                return longs(route.predict(speedOf(a.get(1)), a.get(2).asDouble(), a.get(3).asDouble(),
                        a.get(4).asBoolean()));
            }
            case "route_state": {
                Route route = routes.get(a.asText());
                List<Object> stops = new ArrayList<>();
                route.stops.values().forEach(s -> stops.add(stop(s)));
                List<Object> plan = new ArrayList<>();
                for (Stop s : route.plan()) {
                    plan.add(s.shipmentId());
                }
                List<Object> emitted = new ArrayList<>();
                route.emitted.forEach((k, e) -> emitted.add(List.of(k, e.at(), e.eta())));
                return Arrays.asList(stops, route.lastPing == null ? null : ping(route.lastPing), emitted,
                        List.of(route.paceOwn, route.paceExpected, route.paceCount), route.paceFactor(), plan);
            }
            case "eta_batch":
                return longs(EtaKernel.etaBatch(doubles(a.get(0)), doubles(a.get(1)), longArray(a.get(2)),
                        longArray(a.get(3)), doubles(a.get(4)), doubles(a.get(5)), longArray(a.get(6)),
                        doubles(a.get(7)), a.get(8).asDouble(), a.get(9).asDouble(), a.get(10).asDouble()));
            default:
                throw new IllegalArgumentException("unknown op " + op);
        }
    }

    /** null: no lookups; ["const", mps]; ["table", name]; ["causal", name, upto]. */
    private SpeedOf speedOf(JsonNode ref) {
        if (ref == null || ref.isNull()) {
            return null;
        }
        switch (ref.get(0).asText()) {
            case "const": {
                double mps = ref.get(1).asDouble();
                return (cell, hour) -> mps;
            }
            case "table":
                return tables.get(ref.get(1).asText());
            case "causal":
                return causal.get(ref.get(1).asText()).table(ref.get(2).asLong());
            default:
                throw new IllegalArgumentException("unknown speeds " + ref);
        }
    }

    private static Object value(JsonNode v) {
        switch (v.get(0).asText()) {
            case "assign": {
                JsonNode s = v.get(1);
                Stop stop = new Stop(s.get(0).asText(), s.get(1).isNull() ? null : s.get(1).asInt(),
                        s.get(2).asDouble(), s.get(3).asDouble(), s.get(4).asLong());
                return new Assign("", stop, v.get(2).asLong());
            }
            case "unassign":
                return new Unassign("", v.get(1).asText(), v.get(2).asLong());
            case "batch":
                return new PingBatch(v.get(1).asText(), v.get(2).asLong(), pingList(v.get(3)));
            default:
                throw new IllegalArgumentException("unknown value " + v);
        }
    }

    private static double speed(JsonNode s) {
        return s == null || s.isNull() ? Pings.NO_SPEED : s.asDouble();
    }

    private static Ping ping(JsonNode p) {
        return new Ping(p.get(0).asLong(), p.get(1).asDouble(), p.get(2).asDouble(), speed(p.get(3)));
    }

    private static List<Ping> pingList(JsonNode a) {
        List<Ping> out = new ArrayList<>();
        for (JsonNode p : a) {
            out.add(ping(p));
        }
        return out;
    }

    private static List<Object> ping(Ping p) {
        return Arrays.asList(p.ts(), p.lat(), p.lng(), p.hasSpeed() ? p.speedMps() : null);
    }

    private static List<Object> pings(List<Ping> pings) {
        List<Object> out = new ArrayList<>();
        pings.forEach(p -> out.add(ping(p)));
        return out;
    }

    private static Object segment(Segment s) {
        return s == null ? null : List.of(s.cell(), s.hour(), s.mps());
    }

    private static List<Object> segments(List<Segment> segments) {
        List<Object> out = new ArrayList<>();
        segments.forEach(s -> out.add(segment(s)));
        return out;
    }

    private static List<Segment> segmentList(JsonNode a) {
        List<Segment> out = new ArrayList<>();
        for (JsonNode s : a) {
            out.add(new Segment(s.get(0).asLong(), s.get(1).asInt(), s.get(2).asDouble()));
        }
        return out;
    }

    private static List<Object> estimate(RobustSpeed e) {
        List<Object> warmup = new ArrayList<>();
        for (double w : e.warmup) {
            warmup.add(w);
        }
        return List.of(e.estimate, e.count, warmup, e.published, e.learnedAt);
    }

    private static List<Object> speeds(Speeds s) {
        List<Object> out = new ArrayList<>();
        for (int i = 0; i < s.size(); i++) {
            out.add(Arrays.asList(s.cell(i), s.hour(i), Double.isNaN(s.value(i)) ? null : s.value(i))); // null: forgotten
        }
        return out;
    }

    private static Speeds speedsOf(JsonNode a) {
        Speeds s = new Speeds();
        for (JsonNode e : a) {
            s.put(e.get(0).asLong(), e.get(1).asInt(), e.get(2).isNull() ? Double.NaN : e.get(2).asDouble());
        }
        return s;
    }

    private static List<Object> stop(Stop s) {
        return Arrays.asList(s.shipmentId(), s.stopSequence(), s.lat(), s.lng(), s.windowStart());
    }

    private static List<Object> strings(JsonNode a) {
        List<Object> out = new ArrayList<>();
        for (JsonNode d : a) {
            out.add(Double.toString(d.asDouble()));
        }
        return out;
    }

    private static double[] doubles(JsonNode a) {
        double[] out = new double[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asDouble();
        }
        return out;
    }

    private static long[] longArray(JsonNode a) {
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asLong();
        }
        return out;
    }

    private static List<Object> longs(long[] values) {
        List<Object> out = new ArrayList<>(values.length);
        for (long v : values) {
            out.add(v);
        }
        return out;
    }
}
