package io.lastmile.udfs.core;

import java.util.Arrays;

/**
 * udfs.kernels.consolidation: {@code components} and {@code plan_groups}, the batch layout,
 * algorithm and rules of that module's docstring, step for step as its Numba kernels.
 *
 * <p>Every floating-point operation is done in the kernels' order and association (Java neither
 * contracts to FMA nor reassociates), with {@link Math} for the trigonometry: the results are
 * the Python kernels' bit for bit wherever {@link Math#cos} (and, far more rarely,
 * {@link Math#asin}) returns what glibc does, which is all but ~0.25 % of latitudes; elsewhere a
 * distance is one ulp or so apart (see tests/unit/test_jvm_consolidation.py). {@code min} and
 * {@code max} are written out: Python's keep their first argument on NaN and signed-zero ties,
 * {@link Math#min}/{@link Math#max} do not.
 */
public final class ConsolidationKernel {
    public static final String KERNEL_VERSION = "consolidation-1";
    public static final int MAX_TWO_OPT_PASSES = 1000;
    /** A reversal must shorten the path by more than this: no cycling on float noise. */
    public static final double TWO_OPT_MIN_GAIN_M = 1e-7;
    /** udfs.kernels.eta.EARTH_RADIUS_M. */
    public static final double EARTH_RADIUS_M = 6_371_008.8;
    private static final double TO_RAD = Math.PI / 180.0;
    private static final double TWO_R = 2.0 * EARTH_RADIUS_M;

    private ConsolidationKernel() {
    }

    /** plan_groups' results: {@code chosen} (global candidate row, -1 for none),
     * {@code kmSeparate} (NaN when no candidate has the room), {@code kmConsolidated} (NaN for
     * none) per group, and per delivery row {@code order} (global rows in visiting order, -1). */
    public record Plan(int[] chosen, double[] kmSeparate, double[] kmConsolidated, int[] order) {
    }

    // ------------------------------------------------------------ components

    /**
     * {@code components}: each node of {@code 0..nNodes-1} labelled with the smallest node of its
     * connected component over the edges {@code (edgeA[e], edgeB[e])}.
     *
     * @throws IllegalArgumentException on an endpoint outside {@code 0..nNodes-1} (Python: ValueError)
     */
    public static int[] components(int nNodes, int[] edgeA, int[] edgeB) {
        int[] parent = new int[nNodes];
        for (int i = 0; i < nNodes; i++) {
            parent[i] = i;
        }
        for (int e = 0; e < edgeA.length; e++) {
            int a = edgeA[e], b = edgeB[e];
            if (a < 0 || a >= nNodes || b < 0 || b >= nNodes) {
                throw new IllegalArgumentException("edge endpoint outside 0..n_nodes-1");
            }
            int ra = find(parent, a), rb = find(parent, b);
            // the smaller root becomes the parent, so a root is always its component's smallest node
            if (ra < rb) {
                parent[rb] = ra;
            } else if (rb < ra) {
                parent[ra] = rb;
            }
        }
        for (int i = 0; i < nNodes; i++) {
            parent[i] = find(parent, i);
        }
        return parent;
    }

    private static int find(int[] parent, int x) {
        int root = x;
        while (parent[root] != root) {
            root = parent[root];
        }
        while (parent[x] != root) {
            int next = parent[x];
            parent[x] = root;
            x = next;
        }
        return root;
    }

    // ------------------------------------------------------------ haversine

    private static double haversineM(double phi1, double lam1, double cos1, double phi2, double lam2, double cos2) {
        double sP = Math.sin((phi2 - phi1) * 0.5);
        double sL = Math.sin((lam2 - lam1) * 0.5);
        double a = sP * sP + cos1 * cos2 * sL * sL;
        double root = Math.sqrt(a);
        return TWO_R * Math.asin(root < 1.0 ? root : 1.0);  // Python's min(1.0, root): 1.0 on NaN
    }

    // ------------------------------------------------------------ tours
    // A tour works on a distance matrix d (row-major, row length `stride`) whose point 0 is the
    // start and points 1..m the stops, and fills path[0..m]; the buffers are sized for the
    // batch's largest group and reused, as in the kernel.

    /**
     * {@code _open_tour}, the tour step of {@link #planGroups} (public for the agreement tests):
     * nearest neighbour from point 0 (ties: lowest point), then first-improvement 2-opt on the
     * open path; {@code d} is row-major with rows of {@code stride}, {@code path[0..m]} is filled.
     */
    public static void openTour(double[] d, int stride, int m, int[] path) {
        for (int k = 0; k <= m; k++) {
            path[k] = k;
        }
        // nearest neighbour as a selection sort: path[k..m] holds the stops not yet visited
        for (int k = 1; k <= m; k++) {
            int row = path[k - 1] * stride;
            int best = k;
            for (int q = k + 1; q <= m; q++) {
                double dq = d[row + path[q]], db = d[row + path[best]];
                if (dq < db || (dq == db && path[q] < path[best])) {
                    best = q;
                }
            }
            int swap = path[k];
            path[k] = path[best];
            path[best] = swap;
        }
        // After a reversal of positions i..j the kernel scans again from the start. Every move
        // (i', j') with i' < i was found not to shorten the path before it, and still does not
        // unless it reads a position in i..j, that is unless j' is in i - 1..j: only those are
        // evaluated again. The first shortening move in scanning order is the kernel's, found
        // with the same arithmetic on the same distances.
        int movedI = 1, movedJ = m;
        for (int pass = 0; pass < MAX_TWO_OPT_PASSES; pass++) {
            long move = twoOptMove(d, stride, m, path, movedI, movedJ);
            if (move < 0) {
                break;
            }
            movedI = (int) (move >>> 32);
            movedJ = (int) move;
        }
    }

    /** The first 2-opt move (scan i, then j ascending) that shortens the path by more than
     * {@link #TWO_OPT_MIN_GAIN_M}, made: {@code i << 32 | j}; -1 for none. Moves with
     * {@code i < movedI} are only evaluated for {@code j} in {@code movedI - 1..movedJ}. */
    private static long twoOptMove(double[] d, int stride, int m, int[] path, int movedI, int movedJ) {
        for (int i = 1; i < m; i++) {
            int a = path[i - 1] * stride, b = path[i];
            double ab = d[a + b];
            int bRow = b * stride;
            int jFrom = i + 1, jTo = m;
            if (i < movedI) {
                jFrom = Math.max(jFrom, movedI - 1);
                jTo = movedJ;
            }
            for (int j = jFrom; j <= jTo; j++) {
                int c = path[j];
                double change;
                if (j < m) {
                    int e = path[j + 1];
                    change = d[a + c] + d[bRow + e] - ab - d[c * stride + e];
                } else {  // reversing the tail: the path ends at b instead of c
                    change = d[a + c] - ab;
                }
                if (change < -TWO_OPT_MIN_GAIN_M) {
                    for (int lo = i, hi = j; lo < hi; lo++, hi--) {
                        int swap = path[lo];
                        path[lo] = path[hi];
                        path[hi] = swap;
                    }
                    return (long) i << 32 | j;
                }
            }
        }
        return -1;
    }

    private static double pathMetres(double[] d, int stride, int[] path, int m) {
        double total = 0.0;
        for (int k = 1; k <= m; k++) {
            total += d[path[k - 1] * stride + path[k]];
        }
        return total;
    }

    private static boolean meetsWindows(double[] d, int stride, int[] path, int m, int firstRow, double t, long candTo,
                                        long[] windowStart, long[] windowEnd, double detour, double speedMps,
                                        double dwellS) {
        for (int k = 1; k <= m; k++) {
            int row = firstRow + path[k] - 1;
            double arrival = t + d[path[k - 1] * stride + path[k]] * detour / speedMps * 1000.0;
            if (!(arrival < (double) windowEnd[row] && arrival <= (double) candTo)) {
                return false;
            }
            double opens = (double) windowStart[row];
            t = (opens > arrival ? opens : arrival) + dwellS * 1000.0;  // Python's max(arrival, opens)
        }
        return true;
    }

    /** path[1..n] = the group's stops by (window end, window start, row): a stable insertion sort. */
    private static void earliestDeadlineOrder(long[] windowStart, long[] windowEnd, int firstRow, int n, int[] path) {
        path[0] = 0;
        for (int k = 1; k <= n; k++) {
            long end = windowEnd[firstRow + k - 1], start = windowStart[firstRow + k - 1];
            int q = k;
            while (q > 1) {
                int prev = firstRow + path[q - 1] - 1;
                if (windowEnd[prev] > end || (windowEnd[prev] == end && windowStart[prev] > start)) {
                    path[q] = path[q - 1];
                    q--;
                } else {
                    break;
                }
            }
            path[q] = k;
        }
    }

    /** Road km when every partner of the group serves its own deliveries; {@code d} holds the
     * group's stop-to-stop metres (points 1..n), {@code own} and {@code members} are scratch. */
    private static double kmSeparate(double[] d, double[] own, int stride, int[] members, int[] path, int firstRow,
                                     int n, double[] phi, double[] lam, double[] cosPhi, int[] partner,
                                     double[] ownLat, double[] ownLng, double detour) {
        double total = 0.0;
        for (int k = 0; k < n; k++) {
            int row = firstRow + k;
            boolean seen = false;
            for (int q = 0; q < k; q++) {
                if (partner[firstRow + q] == partner[row]) {
                    seen = true;
                    break;
                }
            }
            if (seen) {
                continue;
            }
            // row is this partner's first delivery in the group
            boolean fromFirst = Double.isNaN(ownLat[row]) || Double.isNaN(ownLng[row]);
            int m = 0;
            for (int q = fromFirst ? k + 1 : k; q < n; q++) {
                if (partner[firstRow + q] == partner[row]) {
                    members[m++] = q + 1;
                }
            }
            double sPhi, sLam, sCos;
            if (fromFirst) {
                sPhi = phi[row];
                sLam = lam[row];
                sCos = cosPhi[row];
            } else {
                sPhi = ownLat[row] * TO_RAD;
                sLam = ownLng[row] * TO_RAD;
                sCos = Math.cos(sPhi);
            }
            for (int x = 0; x < m; x++) {
                int stop = firstRow + members[x] - 1;
                double metres = haversineM(sPhi, sLam, sCos, phi[stop], lam[stop], cosPhi[stop]);
                own[x + 1] = metres;
                own[(x + 1) * stride] = metres;
                int from = members[x] * stride, to = (x + 1) * stride;
                for (int y = 0; y < m; y++) {
                    own[to + y + 1] = d[from + members[y]];
                }
            }
            openTour(own, stride, m, path);
            total += pathMetres(own, stride, path, m) * detour / 1000.0;
        }
        return total;
    }

    // ------------------------------------------------------------ plan_groups

    /**
     * {@code plan_groups}: plan every group of a batch (CSR layout of the Python module's
     * docstring, Python int64 arrays as {@code int[]} for rows and {@code long[]} for times and
     * stops). Array lengths are not checked: they must match the offsets.
     */
    public static Plan planGroups(int[] groupOffsets, double[] lat, double[] lng, long[] windowStart,
                                  long[] windowEnd, double[] volumeL, int[] partner, double[] ownLat,
                                  double[] ownLng, long[] decisionMs, int[] candOffsets, int[] candPartner,
                                  double[] candLat, double[] candLng, long[] candFrom, long[] candTo,
                                  double[] candSpareVolume, long[] candSpareStops, double detour, double speedMps,
                                  double dwellS) {
        int nGroups = groupOffsets.length - 1;
        int rows = lat.length;
        int[] chosen = new int[nGroups];
        double[] kmSeparate = new double[nGroups];
        double[] kmConsolidated = new double[nGroups];
        int[] order = new int[rows];
        Arrays.fill(chosen, -1);
        Arrays.fill(kmConsolidated, Double.NaN);
        Arrays.fill(order, -1);
        double[] phi = new double[rows], lam = new double[rows], cosPhi = new double[rows];
        for (int row = 0; row < rows; row++) {
            phi[row] = lat[row] * TO_RAD;
            lam[row] = lng[row] * TO_RAD;
            cosPhi[row] = Math.cos(phi[row]);
        }
        int maxN = 0;
        for (int g = 0; g < nGroups; g++) {
            maxN = Math.max(maxN, groupOffsets[g + 1] - groupOffsets[g]);
        }
        int stride = maxN + 1;
        double[] d = new double[stride * stride];  // point 0: a candidate's start, 1..n: the group's stops
        double[] own = new double[stride * stride];  // point 0: a partner's own start, 1..m: its stops
        int[] members = new int[maxN];
        int[] path = new int[stride], deadlinePath = new int[stride], bestPath = new int[stride];
        for (int g = 0; g < nGroups; g++) {
            int firstRow = groupOffsets[g];
            int n = groupOffsets[g + 1] - firstRow;
            kmSeparate[g] = Double.NaN;  // stays NaN without a candidate that has the room: nothing is planned
            boolean measured = false;
            double bestSaved = 0.0;  // only a saving above 0 km is proposed; strict > keeps the lowest candidate
            for (int c = candOffsets[g]; c < candOffsets[g + 1]; c++) {
                double volume = 0.0;
                long stops = 0;
                for (int row = firstRow; row < firstRow + n; row++) {
                    if (partner[row] != candPartner[c]) {
                        volume += volumeL[row];
                        stops++;
                    }
                }
                if (volume > candSpareVolume[c] || stops > candSpareStops[c]) {
                    continue;
                }
                if (!measured) {  // the first candidate with room: what the partners drive alone
                    measured = true;
                    for (int k = 1; k <= n; k++) {  // the stops' distances; the diagonal stays 0
                        int a = firstRow + k - 1;
                        for (int q = k + 1; q <= n; q++) {
                            int b = firstRow + q - 1;
                            double metres = haversineM(phi[a], lam[a], cosPhi[a], phi[b], lam[b], cosPhi[b]);
                            d[k * stride + q] = metres;
                            d[q * stride + k] = metres;
                        }
                    }
                    kmSeparate[g] = kmSeparate(d, own, stride, members, path, firstRow, n, phi, lam, cosPhi, partner,
                            ownLat, ownLng, detour);
                    earliestDeadlineOrder(windowStart, windowEnd, firstRow, n, deadlinePath);
                }
                double cPhi = candLat[c] * TO_RAD, cLam = candLng[c] * TO_RAD, cCos = Math.cos(cPhi);
                for (int k = 1; k <= n; k++) {
                    int row = firstRow + k - 1;
                    double metres = haversineM(cPhi, cLam, cCos, phi[row], lam[row], cosPhi[row]);
                    d[k] = metres;
                    d[k * stride] = metres;
                }
                openTour(d, stride, n, path);
                double leave = (double) Math.max(decisionMs[g], candFrom[c]);
                int[] tour;
                if (meetsWindows(d, stride, path, n, firstRow, leave, candTo[c], windowStart, windowEnd, detour,
                        speedMps, dwellS)) {
                    tour = path;
                } else if (meetsWindows(d, stride, deadlinePath, n, firstRow, leave, candTo[c], windowStart,
                        windowEnd, detour, speedMps, dwellS)) {
                    tour = deadlinePath;
                } else {
                    continue;
                }
                double km = pathMetres(d, stride, tour, n) * detour / 1000.0;
                double saved = kmSeparate[g] - km;
                if (saved > bestSaved) {
                    bestSaved = saved;
                    chosen[g] = c;
                    kmConsolidated[g] = km;
                    System.arraycopy(tour, 0, bestPath, 0, n + 1);
                }
            }
            if (chosen[g] >= 0) {
                for (int k = 1; k <= n; k++) {
                    order[firstRow + k - 1] = firstRow + bestPath[k] - 1;
                }
            }
        }
        return new Plan(chosen, kmSeparate, kmConsolidated, order);
    }
}
