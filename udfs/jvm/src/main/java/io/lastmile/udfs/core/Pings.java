package io.lastmile.udfs.core;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;

import io.lastmile.udfs.core.SpeedProfiles.Segment;

/**
 * udfs.pings: vehicle positions as the ETA path consumes them, one batch per vehicle and
 * event-time interval (the {@code "ts,lat,lng,speed;..."} text of Flink SQL's {@code LISTAGG}).
 */
public final class Pings {
    /**
     * The {@code speedMps} of a ping whose device sent no speed (Python's None). A NaN speed
     * behaves as None does in udfs.speed_profiles.segment_speed ({@code NaN < 1.0} is false), and
     * the Intake refuses NaN speeds, so no reported value is lost by the encoding.
     */
    public static final double NO_SPEED = Double.NaN;

    private Pings() {
    }

    /** A position: event time (epoch ms), degrees, the reported speed in m/s or {@link #NO_SPEED}. */
    public record Ping(long ts, double lat, double lng, double speedMps) implements Serializable {
        public boolean hasSpeed() {
            return !Double.isNaN(speedMps);
        }
    }

    /** One position of the van {@code key} ({@code partner:vehicle}), before it is batched. */
    public record VehiclePing(String key, Ping ping) implements Serializable {
    }

    /** udfs.pings.PingBatch: a vehicle's positions over one interval, in event-time order. */
    public record PingBatch(String key, long at, List<Ping> pings) implements Serializable {
    }

    /** udfs.pings.track's result: the newest ping and the usable segments by district. */
    public record Tracked(Ping last, LinkedHashMap<Long, List<Segment>> byDistrict) {
    }

    /**
     * udfs.pings.parse_pings's order: time, then position, then speed with "unknown" as -1.
     * Plain {@code <} on the doubles (not {@link Double#compare}): Python compares -0.0 and 0.0
     * as equal, and the sort is stable.
     */
    public static final Comparator<Ping> ORDER = (a, b) -> {
        int c = Long.compare(a.ts, b.ts);
        if (c == 0) {
            c = compare(a.lat, b.lat);
        }
        if (c == 0) {
            c = compare(a.lng, b.lng);
        }
        if (c == 0) {
            c = compare(a.hasSpeed() ? a.speedMps : -1.0, b.hasSpeed() ? b.speedMps : -1.0);
        }
        return c;
    };

    private static int compare(double a, double b) {
        return a < b ? -1 : (a > b ? 1 : 0);
    }

    /** udfs.pings.interval_end: the last millisecond of the tumbling window (from the epoch) holding {@code ts}. */
    public static long intervalEnd(long ts, long intervalMs) {
        return ts - Math.floorMod(ts, intervalMs) + intervalMs - 1;
    }

    /** udfs.pings.vehicle_key: {@code partner:vehicle}. */
    public static String vehicleKey(String partnerId, String vehicleId) {
        return partnerId + ":" + vehicleId;
    }

    /**
     * udfs.pings.parse_pings: {@code "ts,lat,lng,speed;..."} (speed empty when unknown) to pings
     * sorted by time, then position. For the text Flink writes (Java's number forms); a malformed
     * item raises {@link IllegalArgumentException} (Python raises ValueError). Python's float()
     * also takes forms Java's does not ("inf", "1_0") and the other way round ("1.5d", hex).
     */
    public static List<Ping> parsePings(String text) {
        Ping[] pings = new Ping[count(text, ';') + 1];
        int start = 0;
        for (int n = 0; n < pings.length; n++) {
            int end = text.indexOf(';', start);
            if (end < 0) {
                end = text.length();
            }
            pings[n] = parsePing(text, start, end);
            start = end + 1;
        }
        Arrays.sort(pings, ORDER);
        return Arrays.asList(pings);
    }

    private static Ping parsePing(String text, int start, int end) {
        int c1 = text.indexOf(',', start);
        int c2 = c1 < 0 ? -1 : text.indexOf(',', c1 + 1);
        int c3 = c2 < 0 ? -1 : text.indexOf(',', c2 + 1);
        if (c3 < 0 || c3 >= end || text.lastIndexOf(',', end - 1) != c3) {
            throw new IllegalArgumentException("a ping is ts,lat,lng,speed: " + text.substring(start, end));
        }
        double speed = c3 + 1 == end ? NO_SPEED : Double.parseDouble(text.substring(c3 + 1, end));
        return new Ping(Long.parseLong(text.substring(start, c1)), Double.parseDouble(text.substring(c1 + 1, c2)),
                Double.parseDouble(text.substring(c2 + 1, c3)), speed);
    }

    private static int count(String text, char c) {
        int n = 0;
        for (int i = text.indexOf(c); i >= 0; i = text.indexOf(c, i + 1)) {
            n++;
        }
        return n;
    }

    /** udfs.pings.batch_from_row: the SQL batch row {@code (partner_id, vehicle_id, pings text)}. */
    public static PingBatch batchFromRow(String partnerId, String vehicleId, String pingsText) {
        List<Ping> pings = parsePings(pingsText);
        return new PingBatch(vehicleKey(partnerId, vehicleId), pings.get(pings.size() - 1).ts, pings);
    }

    /**
     * udfs.pings.track: consecutive pings to usable travel segments by district (the
     * resolution-7 parent, in the order districts first appear), and the newest ping ({@code last}
     * itself when no ping was newer). Pings not newer than the newest one seen are skipped.
     */
    public static Tracked track(Ping last, List<Ping> pings) {
        LinkedHashMap<Long, List<Segment>> byDistrict = new LinkedHashMap<>();
        for (int i = 0, n = pings.size(); i < n; i++) {
            Ping ping = pings.get(i);
            if (last != null && ping.ts <= last.ts) {
                continue;
            }
            Segment segment = last != null ? SpeedProfiles.segmentSpeed(last, ping) : null;
            last = ping;
            if (segment != null) {
                byDistrict.computeIfAbsent(SpeedProfiles.district(segment.cell()), d -> new ArrayList<>())
                        .add(segment);
            }
        }
        return new Tracked(last, byDistrict);
    }

    /** udfs.pings.driven_m: metres a van drove over {@code pings} from {@code last}. */
    public static double drivenM(Ping last, List<Ping> pings) {
        double metres = 0.0;
        for (int i = 0, n = pings.size(); i < n; i++) {
            Ping ping = pings.get(i);
            if (last != null && ping.ts <= last.ts) {
                continue;
            }
            if (last != null) {
                long dt = ping.ts - last.ts;
                double leg = Geo.haversineM(last.lat, last.lng, ping.lat, ping.lng);
                if (dt <= SpeedProfiles.MAX_GAP_MS && !(leg / (dt / 1000.0) > SpeedProfiles.MAX_SPEED_MPS)) {
                    metres += leg;
                }
            }
            last = ping;
        }
        return metres;
    }
}
