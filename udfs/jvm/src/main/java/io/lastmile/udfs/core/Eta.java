package io.lastmile.udfs.core;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;

import io.lastmile.udfs.core.Pings.Ping;
import io.lastmile.udfs.core.Pings.PingBatch;
import io.lastmile.udfs.core.SpeedProfiles.Segment;
import io.lastmile.udfs.core.Stops.Assign;
import io.lastmile.udfs.core.Stops.Stop;
import io.lastmile.udfs.core.Stops.Unassign;

/**
 * udfs.eta without the Delivery part: a vehicle's {@link Route}, its predictions along the
 * remaining stops ({@link EtaKernel}) at the learned speeds (udfs.speed_profiles) times the
 * van's own pace, and the emission policy of ETA updates. See the Python module docstring.
 */
public final class Eta {
    public static final double DETOUR = 1.3;
    public static final double DWELL_S = 180.0;
    public static final long EMIT_CHANGE_MS = 3 * 60_000L;
    public static final double EMIT_CHANGE_SHARE = 0.2;
    public static final long EMIT_INTERVAL_MS = 60 * 60_000L;
    public static final int MIN_PACE_SEGMENTS = 5;
    public static final double PACE_WEIGHT = 0.01;
    public static final double PACE_MIN = 0.5;
    public static final double PACE_MAX = 2.0;
    /** udfs.eta.MODEL_VERSION. */
    public static final String MODEL_VERSION =
            EtaKernel.KERNEL_VERSION + "/profiles-r" + SpeedProfiles.PROFILE_RESOLUTION + "-hour-factors";

    private static final double KEEP = 1.0 - PACE_WEIGHT;

    private Eta() {
    }

    /** udfs.eta.SpeedOf: m/s at a resolution-9 cell in an hour of the week. */
    @FunctionalInterface
    public interface SpeedOf {
        double speed(long cell, int hour);
    }

    /** udfs.eta.EtaUpdate: the fields of the {@code EtaUpdate} record. */
    public record EtaUpdate(String partnerId, String shipmentId, String vehicleId, long predictedAt, long eta,
                            String modelVersion, String inputsDigest) implements Serializable {
    }

    /** udfs.eta.eta_inputs: what a van's prediction is made from, in its fixed binary layout. */
    public static byte[] etaInputs(String partnerId, String vehicleId, Ping ping, Stop[] ordered, double[] speeds,
                                   int n) {
        Bytes bytes = new Bytes(64 + 48 * n);
        java.io.DataOutputStream out = new java.io.DataOutputStream(bytes); // big-endian
        try {
            for (String text : new String[]{MODEL_VERSION, partnerId, vehicleId}) {
                text(out, text);
            }
            out.writeLong(ping.ts());
            out.writeDouble(ping.lat());
            out.writeDouble(ping.lng());
            out.writeInt(n);
            for (int i = 0; i < n; i++) {
                text(out, ordered[i].shipmentId());
                out.writeDouble(ordered[i].lat());
                out.writeDouble(ordered[i].lng());
                out.writeLong(ordered[i].windowStart());
            }
            for (int i = 0; i < n; i++) {
                out.writeLong((long) Math.rint(speeds[i] * 1e6)); // Python's round(x * 1e6): half to even
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    private static void text(java.io.DataOutputStream out, String text) throws java.io.IOException {
        byte[] data = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        out.writeInt(data.length);
        out.write(data);
    }

    /** What a route last emitted for a shipment: when (the ping's event time) and the ETA. */
    public record Emitted(long at, long eta) implements Serializable {
    }

    /** udfs.eta.midpoint_cell: the resolution-9 cell of a leg's midpoint. */
    public static long midpointCell(double lat1, double lng1, double lat2, double lng2) {
        return H3.latLngToCell((lat1 + lat2) / 2, (lng1 + lng2) / 2, SpeedProfiles.PROFILE_RESOLUTION);
    }

    /**
     * udfs.eta.apply_interval: one van's interval, {@code values} in event-time order:
     * {@link Assign} and {@link Unassign} change its stops, each {@link PingBatch} is followed
     * (the van's pace learned from its segments) and gives the ETA updates worth emitting.
     * {@code speedOf} looks up what was learned before the interval
     * ({@link SpeedProfiles.CausalSpeeds#table}); it may be null when {@code values} hold stops only.
     */
    public static List<EtaUpdate> applyInterval(Route route, List<?> values, SpeedOf speedOf) {
        List<EtaUpdate> out = new ArrayList<>();
        for (Object value : values) {
            if (value instanceof Assign a) {
                route.assign(a.stop());
            } else if (value instanceof Unassign u) {
                route.complete(u.shipmentId());
            } else if (value instanceof PingBatch batch) {
                List<Ping> pings = batch.pings();
                for (int i = 0, n = pings.size(); i < n; i++) {
                    Segment segment = route.observe(pings.get(i));
                    if (segment != null) {
                        route.learnPace(segment, speedOf);
                    }
                }
                route.updates(speedOf, out);
            } else {
                throw new IllegalArgumentException("not an Assign, Unassign or PingBatch: " + value);
            }
        }
        return out;
    }

    /**
     * udfs.eta.Route: what the platform knows of one vehicle's day (keyed state of the ETA
     * operator). {@code stops} and {@code emitted} keep Python's dict order (a re-assigned stop
     * keeps its place). A Flink POJO and {@link Serializable}; the plan and the kernel's arrays are
     * a transient cache, rebuilt when the stops change or after a restore.
     */
    public static final class Route implements Serializable {
        private static final long serialVersionUID = 1L;

        public String partnerId;
        public String vehicleId;
        public LinkedHashMap<String, Stop> stops = new LinkedHashMap<>();
        /** The newest position seen, or null. */
        public Ping lastPing;
        public LinkedHashMap<String, Emitted> emitted = new LinkedHashMap<>();
        /** Exponentially weighted sums of own and profile speeds over the van's segments, and their count. */
        public double paceOwn;
        public double paceExpected;
        public long paceCount;

        // The plan (stops in visiting order, the cells of the legs between them) and the kernel's
        // inputs and outputs, reused for every prediction until the stops change.
        private transient Stop[] ordered;
        private transient long[] legCells;
        private transient double[] stopLat;
        private transient double[] stopLng;
        private transient long[] notBefore;
        private transient double[] speeds;
        private transient double[] atHour; // the legs' speeds at the position's hour (the inputs digest's)
        private transient long[] first;
        private transient long[] etas;

        public Route() {
        }

        public Route(String partnerId, String vehicleId) {
            this.partnerId = partnerId;
            this.vehicleId = vehicleId;
        }

        /** The shipment is out for delivery on this vehicle (again: the newer assignment holds). */
        public void assign(Stop stop) {
            stops.put(stop.shipmentId(), stop);
            ordered = null;
        }

        /** Delivered, failed, returned or cancelled: no further ETA. */
        public void complete(String shipmentId) {
            if (stops.remove(shipmentId) != null) {
                ordered = null;
            }
            emitted.remove(shipmentId);
        }

        /** Route.observe with the ping's fields; {@code speedMps} may be {@link Pings#NO_SPEED}. */
        public Segment observe(long ts, double lat, double lng, double speedMps) {
            if (lastPing != null && ts <= lastPing.ts()) {
                return null;
            }
            return observe(new Ping(ts, lat, lng, speedMps));
        }

        /**
         * Records a position; returns the travel segment it closes, if usable. Positions not newer
         * than the newest one seen (late arrivals) teach nothing and move nothing.
         */
        public Segment observe(Ping ping) {
            if (lastPing != null && ping.ts() <= lastPing.ts()) {
                return null;
            }
            Segment segment = lastPing != null ? SpeedProfiles.segmentSpeed(lastPing, ping) : null;
            lastPing = ping;
            return segment;
        }

        /** Compares one of the van's own segments with what the profile expected there and then. */
        public void learnPace(Segment segment, SpeedOf speedOf) {
            double expected = speedOf.speed(segment.cell(), segment.hour());
            paceOwn = paceOwn * KEEP + segment.mps();
            paceExpected = paceExpected * KEEP + expected;
            paceCount += 1;
        }

        public double paceFactor() {
            if (paceCount < MIN_PACE_SEGMENTS || paceExpected <= 0) {
                return 1.0;
            }
            return SpeedProfiles.pyMin(SpeedProfiles.pyMax(paceOwn / paceExpected, PACE_MIN), PACE_MAX);
        }

        /** The remaining stops in visiting order (udfs.eta.Stop.order_key); the array is the route's own. */
        public Stop[] plan() {
            if (ordered == null) {
                Stop[] o = stops.values().toArray(new Stop[0]);
                Arrays.sort(o, Stop.ORDER);
                int n = o.length;
                legCells = new long[n];
                stopLat = new double[n];
                stopLng = new double[n];
                notBefore = new long[n];
                speeds = new double[n];
                atHour = new double[n];
                first = new long[n];
                etas = new long[n];
                for (int i = 0; i < n; i++) {
                    stopLat[i] = o[i].lat();
                    stopLng[i] = o[i].lng();
                    notBefore[i] = o[i].windowStart();
                    if (i > 0) {
                        legCells[i] = midpointCell(o[i - 1].lat(), o[i - 1].lng(), o[i].lat(), o[i].lng());
                    }
                }
                ordered = o;
            }
            return ordered;
        }

        /** Arrival (epoch ms) at every remaining stop, in {@link #plan} order, from the last position. */
        public long[] predict(SpeedOf speedOf) {
            return predict(speedOf, DETOUR, DWELL_S, true);
        }

        /** Route.predict with its parameters; a new array. */
        public long[] predict(SpeedOf speedOf, double detour, double dwellS, boolean usePace) {
            int n = predictInto(speedOf, detour, dwellS, usePace);
            return Arrays.copyOf(etas == null ? new long[0] : etas, n);
        }

        /** Predicts into {@code etas}; the number of stops. */
        private int predictInto(SpeedOf speedOf, double detour, double dwellS, boolean usePace) {
            Stop[] o = plan();
            int n = o.length;
            if (n == 0 || lastPing == null) {
                return 0;
            }
            long ts = lastPing.ts();
            double lat = lastPing.lat(), lng = lastPing.lng();
            legCells[0] = midpointCell(lat, lng, o[0].lat(), o[0].lng());
            int hour = SpeedProfiles.hourOfWeek(ts);
            double pace = usePace ? paceFactor() : 1.0;
            for (int i = 0; i < n; i++) {
                speeds[i] = speedOf.speed(legCells[i], hour) * pace;
            }
            System.arraycopy(speeds, 0, atHour, 0, n);
            EtaKernel.etaVan(lat, lng, ts, 0, n, stopLat, stopLng, notBefore, speeds, detour, dwellS, 1.0, first);
            // Second pass: each leg at the speed of the hour it starts (after the previous stop).
            long dwellMs = (long) (dwellS * 1000);
            for (int i = 0; i < n; i++) {
                long departs = i == 0 ? ts : Math.max(first[i - 1], notBefore[i - 1]) + dwellMs;
                speeds[i] = speedOf.speed(legCells[i], SpeedProfiles.hourOfWeek(departs)) * pace;
            }
            EtaKernel.etaVan(lat, lng, ts, 0, n, stopLat, stopLng, notBefore, speeds, detour, dwellS, 1.0, etas);
            return n;
        }

        /** The ETA updates worth emitting after the last position (see udfs.eta's docstring). */
        public List<EtaUpdate> updates(SpeedOf speedOf) {
            List<EtaUpdate> out = new ArrayList<>();
            updates(speedOf, out);
            return out;
        }

        /** {@link #updates(SpeedOf)}, appended to {@code out}. */
        public void updates(SpeedOf speedOf, List<EtaUpdate> out) {
            if (lastPing == null || stops.isEmpty()) {
                return;
            }
            int n = predictInto(speedOf, DETOUR, DWELL_S, true);
            long at = lastPing.ts();
            String digest = null;
            for (int i = 0; i < n; i++) {
                String shipment = ordered[i].shipmentId();
                long eta = etas[i];
                Emitted last = emitted.get(shipment);
                long moved = last != null ? Math.abs(eta - last.eta()) : 0;
                if (last == null || moved > Math.max((double) EMIT_CHANGE_MS, EMIT_CHANGE_SHARE * (eta - at))
                        || at - last.at() >= EMIT_INTERVAL_MS) {
                    emitted.put(shipment, new Emitted(at, eta));
                    if (digest == null) {
                        digest = Sha256.hex(etaInputs(partnerId, vehicleId, lastPing, ordered, atHour, n));
                    }
                    out.add(new EtaUpdate(partnerId, shipment, vehicleId, at, eta, MODEL_VERSION, digest));
                }
            }
        }
    }
}
