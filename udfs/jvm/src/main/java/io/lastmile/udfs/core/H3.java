package io.lastmile.udfs.core;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

import com.uber.h3core.H3Core;
import com.uber.h3core.util.LatLng;

/**
 * The H3 calls of the JVM side, through h3-java, whose native library is the same H3 C release
 * as the Python side's h3 package (both pinned in lastmile/versions.py), compiled against the
 * same libm: cells, centres and boundaries come out bit for bit as h3-py's
 * (tests/unit/test_jvm_colocation.py checks them, near cell borders and pentagons too).
 * {@link H3Core} keeps no state between calls, so one instance serves every thread.
 */
public final class H3 {
    private static final H3Core CORE;

    static {
        try {
            CORE = H3Core.newInstance();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot load the H3 native library", e);
        }
    }

    private H3() {
    }

    public static long latLngToCell(double lat, double lng, int resolution) {
        return CORE.latLngToCell(lat, lng, resolution);
    }

    /** {@code {lat, lng}} of the cell's centre, in degrees. */
    public static double[] cellToLatLng(long cell) {
        LatLng c = CORE.cellToLatLng(cell);
        return new double[]{c.lat, c.lng};
    }

    /** The boundary's vertices as {@code {lat0, lng0, lat1, lng1, ...}}, in degrees. */
    public static double[] cellToBoundary(long cell) {
        List<LatLng> vertices = CORE.cellToBoundary(cell);
        double[] out = new double[2 * vertices.size()];
        for (int i = 0; i < vertices.size(); i++) {
            out[2 * i] = vertices.get(i).lat;
            out[2 * i + 1] = vertices.get(i).lng;
        }
        return out;
    }

    public static long cellToParent(long cell, int resolution) {
        return CORE.cellToParent(cell, resolution);
    }

    public static List<Long> gridDisk(long cell, int rings) {
        return CORE.gridDisk(cell, rings);
    }

    public static boolean isPentagon(long cell) {
        return CORE.isPentagon(cell);
    }
}
