package io.lastmile.udfs.core;

/**
 * udfs.kernels.eta: arrival times along a vehicle's remaining stops. Computes as
 * {@code eta_batch_reference} does (the specification), in its order and association; the
 * Numba {@code eta_batch} the Python job calls is compiled with fastmath and associates
 * differently, so the two can differ by a millisecond now and then (see tests/unit/test_jvm_eta.py).
 *
 * <p>CSR layout: vehicle {@code v}'s stops are {@code [offsets[v], offsets[v + 1])} in visiting
 * order. A leg takes {@code haversine x detour / speed}; a van early for a stop's
 * {@code notBeforeMs} waits for it; each stop adds {@code dwellS}. Metres on the sphere of
 * radius {@link Geo#EARTH_RADIUS_M}, m/s, epoch ms. Speeds not above 0 (or NaN) are replaced by
 * {@code fallbackSpeedMps}.
 */
public final class EtaKernel {
    /** udfs.kernels.eta.KERNEL_VERSION. */
    public static final String KERNEL_VERSION = "eta-2";
    public static final double EARTH_RADIUS_M = Geo.EARTH_RADIUS_M;

    private EtaKernel() {
    }

    /** eta_batch: the arrival (epoch ms) at every stop of every vehicle, into {@code out}. */
    public static void etaBatch(double[] startLat, double[] startLng, long[] startMs, long[] offsets, double[] stopLat,
                                double[] stopLng, long[] notBeforeMs, double[] legSpeedMps, double detour,
                                double dwellS, double fallbackSpeedMps, long[] out) {
        for (int v = 0; v < startLat.length; v++) {
            etaVan(startLat[v], startLng[v], startMs[v], (int) offsets[v], (int) offsets[v + 1], stopLat, stopLng,
                    notBeforeMs, legSpeedMps, detour, dwellS, fallbackSpeedMps, out);
        }
    }

    /** eta_batch, into a new array. */
    public static long[] etaBatch(double[] startLat, double[] startLng, long[] startMs, long[] offsets,
                                  double[] stopLat, double[] stopLng, long[] notBeforeMs, double[] legSpeedMps,
                                  double detour, double dwellS, double fallbackSpeedMps) {
        long[] out = new long[stopLat.length];
        etaBatch(startLat, startLng, startMs, offsets, stopLat, stopLng, notBeforeMs, legSpeedMps, detour, dwellS,
                fallbackSpeedMps, out);
        return out;
    }

    /** One vehicle of {@link #etaBatch}: from {@code (lat, lng)} at {@code startMs} along stops {@code [from, to)}. */
    public static void etaVan(double lat, double lng, long startMs, int from, int to, double[] stopLat,
                              double[] stopLng, long[] notBeforeMs, double[] legSpeedMps, double detour,
                              double dwellS, double fallbackSpeedMps, long[] out) {
        double t = (double) startMs;
        double p1 = Math.toRadians(lat);
        // cos(p1) is the previous leg's cos(p2): the same argument, so the same value as recomputed
        double c1 = Math.cos(p1);
        double dwellMs = dwellS * 1000.0;
        for (int i = from; i < to; i++) {
            double speed = legSpeedMps[i] > 0 ? legSpeedMps[i] : fallbackSpeedMps;
            double p2 = Math.toRadians(stopLat[i]);
            double c2 = Math.cos(p2);
            double sp = Math.sin((p2 - p1) / 2);
            double sl = Math.sin(Math.toRadians(stopLng[i] - lng) / 2);
            // Python's sin(..) ** 2 + cos(p1) * cos(p2) * sin(..) ** 2
            double a = sp * sp + c1 * c2 * (sl * sl);
            t += 2 * EARTH_RADIUS_M * Math.asin(SpeedProfiles.pyMin(1.0, Math.sqrt(a))) * detour / speed * 1000.0;
            out[i] = (long) t;
            t = SpeedProfiles.pyMax(t, (double) notBeforeMs[i]) + dwellMs;
            lng = stopLng[i];
            p1 = p2;
            c1 = c2;
        }
    }
}
