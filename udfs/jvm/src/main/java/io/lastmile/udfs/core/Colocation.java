package io.lastmile.udfs.core;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;


/**
 * Exact cross-partner co-location detection, as udfs.colocation computes it (read its module
 * docstring for why it is exact): the tasks, the cells a task is stored in, the pair rules and
 * the per-shipment versioning ({@link #register}). The cell side is {@link CellIndex}.
 *
 * <p>H3 cells are unsigned 64-bit ids in Python and {@code long}s here (same bits). Every valid
 * H3 index has its top bit clear (the reserved bit of the H3 index layout), so signed order is
 * the unsigned order Python uses in {@code sorted} and {@code min}.
 *
 * <p>Floating-point expressions keep the reference's order and association; {@link Geo} says how
 * close {@link Math}'s trigonometry comes to CPython's libm (equal on ~99.9 % of inputs, else one
 * ulp).
 */
public final class Colocation {
    /** udfs.colocation.RINGS: how many rings around the home cell may hold cells within the radius. */
    public static final int RINGS = 2;
    /** udfs.h3cells.SHARED_RESOLUTION: the resolution of a match's {@code h3_cell}. */
    public static final int SHARED_RESOLUTION = 10;
    /** udfs.colocation.DEFAULT_PARCEL_L: the volume of a parcel whose volume is not given. */
    public static final double DEFAULT_PARCEL_L = 20.0;
    /** What {@link #colocated} returns for a pair that is not co-located (Python's None). */
    public static final double NOT_COLOCATED = Double.NaN;

    /*
     * h3-py's average_hexagon_edge_length(res, "m"), the doubles it returns (its table in km
     * times 1000). Not h3-java's getHexagonEdgeLengthAvg, whose table in metres rounds
     * differently: the index resolution must be the reference's.
     */
    private static final double[] EDGE_M = {1281256.011, 483056.8391, 182512.9565, 68979.22179, 26071.75968,
        9854.090989999999, 3724.532667, 1406.475763, 531.41401, 200.786148, 75.863783, 28.663897000000002,
        10.830188, 4.09201, 1.5460999999999998, 0.584169};

    // Cell centres and circumradii, per thread (a Flink subtask runs in one thread): no locks.
    private static final ThreadLocal<CellShapes> SHAPES = ThreadLocal.withInitial(CellShapes::new);

    private Colocation() {
    }

    /** udfs.colocation.Task: the fields of a DeliveryTask the matcher needs (epoch ms). */
    public record Task(String partnerId, String shipmentId, long eventTime, String eventId, double lat, double lng,
                       long windowStart, long windowEnd, String recipientKey, long homeCell, long revision,
                       double volumeL) implements Serializable {
        /** {@code partner:shipment}, the key of the shipment in every state. */
        public String key() {
            return partnerId + ":" + shipmentId;
        }

        /** Python's {@code task._replace(revision=...)}. */
        public Task withRevision(long newRevision) {
            return new Task(partnerId, shipmentId, eventTime, eventId, lat, lng, windowStart, windowEnd,
                    recipientKey, homeCell, newRevision, volumeL);
        }
    }

    /** udfs.colocation.Match: a co-located pair, (partnerA, shipmentA) before (partnerB, shipmentB). */
    public record Match(String matchId, String partnerA, String shipmentA, String partnerB, String shipmentB,
                        long h3Cell, double distanceM, long overlapStart, long overlapEnd, boolean sameRecipient,
                        long detectedAt, long version, boolean retracted) implements Serializable {
        public String keyA() {
            return partnerA + ":" + shipmentA;
        }

        public String keyB() {
            return partnerB + ":" + shipmentB;
        }
    }

    /** udfs.colocation.Routed: a message for the cell index, add {@code task} or remove {@code removeKey}. */
    public record Routed(long cell, Task task, String removeKey, long byRevision) implements Serializable {
    }

    /**
     * What the Registry keeps per shipment (Python's {@code (task, cells)}): the accepted version
     * and the cells it is stored in, home cell first. The array is never changed once made.
     */
    public record Stored(Task task, long[] cells) implements Serializable {
        @Override
        public boolean equals(Object o) {
            return o instanceof Stored s && task.equals(s.task) && Arrays.equals(cells, s.cells);
        }

        @Override
        public int hashCode() {
            return 31 * task.hashCode() + Arrays.hashCode(cells);
        }

        @Override
        public String toString() {
            return "Stored[task=" + task + ", cells=" + Arrays.toString(cells) + "]";
        }
    }

    /** udfs.colocation's verdicts; {@link #text} is the Python constant (a dead letter's reason). */
    public enum Verdict {
        ACCEPTED("accepted"), DUPLICATE("duplicate"), SUPERSEDED("superseded");

        public final String text;

        Verdict(String text) {
            this.text = text;
        }
    }

    /** What {@link #register} returns: Python's {@code (verdict, new stored value, messages)}. */
    public record Registered(Verdict verdict, Stored stored, List<Routed> messages) {
    }

    /** udfs.colocation.haversine_m (see {@link Geo#haversineM}). */
    public static double haversine(double lat1, double lng1, double lat2, double lng2) {
        return Geo.haversineM(lat1, lng1, lat2, lng2);
    }

    /** The average hexagon edge of an H3 resolution in metres, as h3-py has it. */
    public static double averageEdgeM(int resolution) {
        return EDGE_M[resolution];
    }

    /** udfs.colocation.resolution_for_radius: the finest H3 resolution whose average edge is at
     * least the radius, 0 if none. */
    public static int resolutionForRadius(double radiusM) {
        for (int res = 15; res >= 0; res--) {
            if (EDGE_M[res] >= radiusM) {
                return res;
            }
        }
        return 0;
    }

    /** udfs.colocation._circumradius_m: metres from the cell's centre to its farthest boundary vertex. */
    public static double circumradius(long cell) {
        CellShapes shapes = SHAPES.get();
        int at = shapes.slot(cell); // first: it may grow the table
        return shapes.data[at + 2];
    }

    /**
     * udfs.colocation.cells_within: the home cell of the point at {@code resolution}, then the
     * other cells of its {@link #RINGS}-ring that the disk of {@code radiusM} around it may touch,
     * in ascending order. (Python returns {@code (home, others)}; this is its {@code (home, *others)}.)
     */
    public static long[] cellsWithin(double lat, double lng, double radiusM, int resolution) {
        long home = H3.latLngToCell(lat, lng, resolution);
        List<Long> disk = H3.gridDisk(home, RINGS);
        CellShapes shapes = SHAPES.get();
        long[] cells = new long[disk.size()];
        cells[0] = home;
        int n = 1;
        for (int i = 0, size = disk.size(); i < size; i++) {
            long cell = disk.get(i);
            if (cell == home) {
                continue;
            }
            int at = shapes.slot(cell);
            double[] data = shapes.data; // after slot(), which may grow the table
            // 1e-6 relative slack: float rounding must never drop a cell that touches the disk
            if (Geo.haversineM(lat, lng, data[at], data[at + 1]) <= (radiusM + data[at + 2]) * (1 + 1e-6)) {
                cells[n++] = cell;
            }
        }
        Arrays.sort(cells, 1, n);
        return n == cells.length ? cells : Arrays.copyOf(cells, n);
    }

    /** udfs.colocation.owns_pair: true in exactly one cell for a pair, the smaller home cell. */
    public static boolean ownsPair(long cell, Task a, Task b) {
        return cell == Math.min(a.homeCell, b.homeCell);
    }

    /**
     * udfs.colocation.ordered is {@code (a, b) if precedes(a, b) else (b, a)}: whether
     * (partner, shipment) of {@code a} is less than that of {@code b}, by code point.
     */
    public static boolean precedes(Task a, Task b) {
        int byPartner = Text.compare(a.partnerId, b.partnerId);
        return byPartner < 0 || byPartner == 0 && Text.compare(a.shipmentId, b.shipmentId) < 0;
    }

    /** udfs.colocation.match_id: the first 32 hex digits of the SHA-256 of the ordered pair's ids. */
    public static String matchId(Task a, Task b) {
        boolean aFirst = precedes(a, b);
        Task first = aFirst ? a : b, second = aFirst ? b : a;
        return matchId(first.partnerId, first.shipmentId, second.partnerId, second.shipmentId);
    }

    /** The id of the pair (partnerA, shipmentA) &lt; (partnerB, shipmentB), already in order. */
    public static String matchId(String partnerA, String shipmentA, String partnerB, String shipmentB) {
        String text = partnerA + '\u001f' + shipmentA + '\u001f' + partnerB + '\u001f' + shipmentB;
        byte[] digest = sha256().digest(text.getBytes(StandardCharsets.UTF_8));
        char[] hex = new char[32];
        for (int i = 0; i < 16; i++) {
            hex[2 * i] = Character.forDigit((digest[i] >> 4) & 0xf, 16);
            hex[2 * i + 1] = Character.forDigit(digest[i] & 0xf, 16);
        }
        return new String(hex);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
    }

    /** udfs.colocation.colocated: the distance in metres if co-located, else {@link #NOT_COLOCATED} (NaN). */
    public static double colocated(Task a, Task b, double radiusM) {
        if (a.partnerId.equals(b.partnerId)) {
            return NOT_COLOCATED;
        }
        if (Math.max(a.windowStart, b.windowStart) >= Math.min(a.windowEnd, b.windowEnd)) {
            return NOT_COLOCATED;
        }
        double distance = Geo.haversineM(a.lat, a.lng, b.lat, b.lng);
        return distance <= radiusM ? distance : NOT_COLOCATED;
    }

    /** udfs.colocation.make_match of a match (not retracted), its version from the two revisions. */
    public static Match makeMatch(Task a, Task b, double distance) {
        return makeMatch(a, b, distance, false, a.revision + b.revision);
    }

    /**
     * udfs.colocation.make_match: the match of {@code a} and {@code b}, or its retraction;
     * {@code version} = 2 x {@code revisions} + 1 for a match, + 0 for a retraction (the highest
     * version of a match id is its current state).
     */
    public static Match makeMatch(Task a, Task b, double distance, boolean retracted, long revisions) {
        boolean aFirst = precedes(a, b);
        Task first = aFirst ? a : b, second = aFirst ? b : a;
        double midLat = (a.lat + b.lat) / 2, midLng = (a.lng + b.lng) / 2;
        return new Match(matchId(first.partnerId, first.shipmentId, second.partnerId, second.shipmentId),
                first.partnerId, first.shipmentId, second.partnerId, second.shipmentId,
                H3.latLngToCell(midLat, midLng, SHARED_RESOLUTION), round3(distance),
                Math.max(a.windowStart, b.windowStart), Math.min(a.windowEnd, b.windowEnd),
                a.recipientKey != null && a.recipientKey.equals(b.recipientKey),
                Math.max(a.eventTime, b.eventTime), revisions * 2 + (retracted ? 0 : 1), retracted);
    }

    /** Python's {@code round(x, 3)}: the exact binary value rounded half-even, correctly converted back. */
    static double round3(double x) {
        if (Double.isNaN(x) || Double.isInfinite(x)) {
            return x;
        }
        double rounded = new BigDecimal(x).setScale(3, RoundingMode.HALF_EVEN).doubleValue();
        return rounded == 0 ? Math.copySign(0.0, x) : rounded; // Python keeps the sign of a zero
    }

    /** udfs.colocation.volume_of: the given volume, else a typical parcel's per parcel (at least one). */
    public static double volumeOf(Double volumeL, Integer parcelCount) {
        if (volumeL != null) {
            return volumeL;
        }
        return (parcelCount == null || parcelCount == 0 ? 1 : parcelCount) * DEFAULT_PARCEL_L;
    }

    /**
     * udfs.colocation.task_from_record, taking the DeliveryTask's fields: a {@link Task} homed at
     * {@code resolution}. {@code volumeL} and {@code parcelCount} may be null.
     */
    public static Task taskFromFields(String partnerId, String shipmentId, long eventTime, String eventId,
                                      double destLat, double destLng, long windowStart, long windowEnd,
                                      String recipientKey, Double volumeL, Integer parcelCount, int resolution,
                                      long revision) {
        return new Task(partnerId, shipmentId, eventTime, eventId, destLat, destLng, windowStart, windowEnd,
                recipientKey, H3.latLngToCell(destLat, destLng, resolution), revision,
                volumeOf(volumeL, parcelCount));
    }

    /** {@link #taskFromFields} at revision 0, as the Registry makes every arriving task. */
    public static Task taskFromFields(String partnerId, String shipmentId, long eventTime, String eventId,
                                      double destLat, double destLng, long windowStart, long windowEnd,
                                      String recipientKey, Double volumeL, Integer parcelCount, int resolution) {
        return taskFromFields(partnerId, shipmentId, eventTime, eventId, destLat, destLng, windowStart, windowEnd,
                recipientKey, volumeL, parcelCount, resolution, 0);
    }

    /**
     * udfs.colocation.is_late: the window ended more than the allowed lateness before the watermark
     * ({@code windowEnd + allowedLatenessMs < watermarkMs}, without overflow, as Python's ints).
     */
    public static boolean isLate(Task task, long watermarkMs, long allowedLatenessMs) {
        long end = task.windowEnd, sum = end + allowedLatenessMs;
        if (((end ^ sum) & (allowedLatenessMs ^ sum)) < 0) {
            return allowedLatenessMs < 0; // overflowed: beyond the long range on the operands' side
        }
        return sum < watermarkMs;
    }

    /** The Registry's dead-letter message for a late task (udfs.flink.coordination.Registry). */
    public static String lateMessage(Task task, long watermarkMs, long allowedLatenessMs) {
        return "delivery window ended " + seconds(watermarkMs - task.windowEnd) + " s before the watermark "
                + "(allowed lateness " + seconds(allowedLatenessMs) + " s)";
    }

    /** The Registry's dead-letter message for a superseded task. */
    public static String supersededMessage(Task task) {
        return "a newer announcement of " + task.key() + " was accepted before this one";
    }

    /** Python's {@code f"{ms / 1000:.0f}"}: the exact quotient's double, rounded half-even. */
    public static String seconds(long ms) {
        double s = (double) ms / 1000; // exact for |ms| < 2^53, then one correctly rounded division
        BigDecimal whole = new BigDecimal(s).setScale(0, RoundingMode.HALF_EVEN);
        String text = whole.toPlainString();
        return whole.signum() == 0 && s < 0 ? "-" + text : text; // Python writes "-0"
    }

    /**
     * udfs.colocation.register: accept a new version of a shipment, or recognise a duplicate
     * (same event id) or a superseded one (smaller (event time, event id)). {@code stored} is the
     * current version and its cells, null for none. An accepted version gets the next revision
     * and is routed to its cells after its predecessor is removed from the old ones.
     */
    public static Registered register(Stored stored, Task task, double radiusM, int resolution) {
        List<Routed> messages;
        if (stored != null) {
            Task current = stored.task;
            if (task.eventId.equals(current.eventId)) {
                return new Registered(Verdict.DUPLICATE, stored, List.of());
            }
            if (task.eventTime < current.eventTime
                    || task.eventTime == current.eventTime && Text.compare(task.eventId, current.eventId) < 0) {
                return new Registered(Verdict.SUPERSEDED, stored, List.of());
            }
            task = task.withRevision(current.revision + 1);
            String currentKey = current.key();
            messages = new ArrayList<>(stored.cells.length + 4);
            for (long c : stored.cells) {
                messages.add(new Routed(c, null, currentKey, task.revision));
            }
        } else {
            messages = new ArrayList<>(4);
        }
        long[] cells = cellsWithin(task.lat, task.lng, radiusM, resolution);
        for (long c : cells) {
            messages.add(new Routed(c, task, null, task.revision));
        }
        return new Registered(Verdict.ACCEPTED, new Stored(task, cells), messages);
    }

    /**
     * Centre and circumradius of cells, an open-addressing table from cell to three doubles, grown
     * to at most {@link #MAX_ENTRIES} and emptied when full (every value is recomputed the same).
     */
    private static final class CellShapes {
        static final int MAX_ENTRIES = 1 << 16;
        long[] keys = new long[1 << 10]; // 0 is no cell (never a valid H3 index)
        double[] data = new double[3 << 10]; // centre lat, centre lng, circumradius
        int size;

        /** The offset in {@link #data} of the cell's values, computed if they are not there. */
        int slot(long cell) {
            int mask = keys.length - 1;
            int i = (int) ((cell * 0x9E3779B97F4A7C15L) >>> 40) & mask;
            while (keys[i] != 0) {
                if (keys[i] == cell) {
                    return 3 * i;
                }
                i = (i + 1) & mask;
            }
            if (2 * (size + 1) > keys.length) {
                if (keys.length >= 2 * MAX_ENTRIES) {
                    Arrays.fill(keys, 0);
                    size = 0;
                } else {
                    grow();
                }
                return slot(cell);
            }
            keys[i] = cell;
            size++;
            double[] centre = H3.cellToLatLng(cell);
            double radius = 0; // Python's max() over the vertices: distances are never negative
            double[] boundary = H3.cellToBoundary(cell);
            for (int v = 0; v < boundary.length; v += 2) {
                double d = Geo.haversineM(centre[0], centre[1], boundary[v], boundary[v + 1]);
                if (d > radius) {
                    radius = d;
                }
            }
            data[3 * i] = centre[0];
            data[3 * i + 1] = centre[1];
            data[3 * i + 2] = radius;
            return 3 * i;
        }

        private void grow() {
            long[] oldKeys = keys;
            double[] oldData = data;
            keys = new long[oldKeys.length * 2];
            data = new double[oldData.length * 2];
            int mask = keys.length - 1;
            for (int j = 0; j < oldKeys.length; j++) {
                long cell = oldKeys[j];
                if (cell != 0) {
                    int i = (int) ((cell * 0x9E3779B97F4A7C15L) >>> 40) & mask;
                    while (keys[i] != 0) {
                        i = (i + 1) & mask;
                    }
                    keys[i] = cell;
                    System.arraycopy(oldData, 3 * j, data, 3 * i, 3);
                }
            }
        }
    }
}
