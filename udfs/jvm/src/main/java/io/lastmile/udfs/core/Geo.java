package io.lastmile.udfs.core;

/**
 * Great-circle distance, as udfs.colocation.haversine_m computes it.
 *
 * <p>{@link Math}'s sin, cos and asin (HotSpot's intrinsics, the same in the interpreter, C1
 * and C2) agree bit for bit with CPython's libm on about 99.9 % of point pairs and within one
 * ulp (~3e-14 m at 150 m) on the rest; {@link StrictMath} (fdlibm) differed on ~8 %.
 */
public final class Geo {
    public static final double EARTH_RADIUS_M = 6_371_008.8;

    private Geo() {
    }

    /** Metres on the sphere of radius {@link #EARTH_RADIUS_M}, degrees in. */
    public static double haversineM(double lat1, double lng1, double lat2, double lng2) {
        double p1 = Math.toRadians(lat1), p2 = Math.toRadians(lat2);
        double sp = Math.sin((p2 - p1) / 2), sl = Math.sin(Math.toRadians(lng2 - lng1) / 2);
        // the same association as the reference: cos * cos * (sin ** 2)
        double a = sp * sp + Math.cos(p1) * Math.cos(p2) * (sl * sl);
        return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1.0, Math.sqrt(a)));
    }
}
