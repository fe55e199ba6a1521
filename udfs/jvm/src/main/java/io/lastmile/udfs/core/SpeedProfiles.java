package io.lastmile.udfs.core;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;


import io.lastmile.udfs.core.Pings.Ping;

/**
 * udfs.speed_profiles: learned travel speeds per H3 cell (resolution 9) and hour of week, from
 * consecutive vehicle pings, with the district (resolution-7 parent) and all-hours fallbacks and
 * the districts' hour factors. See the Python module for the model; this is its port, computing
 * the same numbers in the same order.
 */
public final class SpeedProfiles {
    public static final int PROFILE_RESOLUTION = 9;
    public static final int PARENT_RESOLUTION = 7;
    /** The hour key of all-hours estimates. */
    public static final int ANY_HOUR = 168;
    /** (district, HOUR_FACTOR + hour): the district's speed factor in that hour of the week. */
    public static final int HOUR_FACTOR = 200;
    public static final double FACTOR_MIN = 0.4;
    public static final double FACTOR_MAX = 1.6;
    public static final double DEFAULT_SPEED_MPS = 7.0;
    public static final double PUBLISH_CHANGE = 0.05;
    public static final int MIN_OBSERVATIONS = 5;
    public static final long MAX_GAP_MS = 10 * 60_000L;
    public static final double MAX_SPEED_MPS = 40.0;
    public static final double MIN_MOVE_M = 30.0;
    public static final double MIN_SPEED_MPS = 1.0;
    public static final long HOUR = 3_600_000L;
    public static final long WEEK_START_OFFSET_H = 72;
    /** udfs.speed_profiles.NEVER: the version before every other. */
    public static final long NEVER = Long.MIN_VALUE;
    public static final long DAY_MS = 24 * HOUR;
    /** udfs.speed_profiles.SPEED_TTL_MS: an estimate no segment taught for this long is forgotten. */
    public static final long SPEED_TTL_MS = 28 * DAY_MS;

    private SpeedProfiles() {
    }

    /** Python's {@code max(a, b)}: {@code a} unless {@code b > a} (NaN and -0.0 as Python treats them). */
    static double pyMax(double a, double b) {
        return b > a ? b : a;
    }

    /** Python's {@code min(a, b)}: {@code a} unless {@code b < a}. */
    static double pyMin(double a, double b) {
        return b < a ? b : a;
    }

    /** udfs.speed_profiles.hour_of_week: 0 = Monday 00:00-01:00 UTC ... 167 = Sunday 23:00-24:00 UTC. */
    public static int hourOfWeek(long tsMs) {
        return (int) Math.floorMod(Math.floorDiv(tsMs, HOUR) + WEEK_START_OFFSET_H, 168L);
    }

    /** The resolution-7 parent of a cell (h3 cell_to_parent). */
    public static long district(long cell) {
        return H3.cellToParent(cell, PARENT_RESOLUTION);
    }

    /** A travel segment: the resolution-9 cell of its midpoint, the hour of week, m/s. */
    public record Segment(long cell, int hour, double mps) implements Serializable {
    }

    /** An estimate's key: a cell (resolution 9 or 7) and an hour key (hour, ANY_HOUR or HOUR_FACTOR + hour). */
    public record Key(long cell, int hour) implements Serializable {
    }

    /**
     * udfs.speed_profiles.segment_speed: the travel between two pings of one vehicle, attributed
     * to the midpoint; null for gaps, GPS jumps, parked vans and segments with a standing end.
     */
    public static Segment segmentSpeed(Ping prev, Ping cur) {
        long dt = cur.ts() - prev.ts();
        if (dt <= 0 || dt > MAX_GAP_MS) {
            return null;
        }
        // NaN (no speed reported) is not below anything, as None is skipped in Python
        if (prev.speedMps() < MIN_SPEED_MPS || cur.speedMps() < MIN_SPEED_MPS) {
            return null;
        }
        double metres = Geo.haversineM(prev.lat(), prev.lng(), cur.lat(), cur.lng());
        if (metres < MIN_MOVE_M) {
            return null;
        }
        double speed = metres / (dt / 1000.0);
        if (speed > MAX_SPEED_MPS || speed < MIN_SPEED_MPS) {
            return null;
        }
        long cell = H3.latLngToCell((prev.lat() + cur.lat()) / 2, (prev.lng() + cur.lng()) / 2, PROFILE_RESOLUTION);
        return new Segment(cell, hourOfWeek(Math.floorDiv(prev.ts() + cur.ts(), 2L)), speed);
    }

    /**
     * udfs.speed_profiles.RobustSpeed: a running median estimate of speed. The first
     * {@link #WARMUP} observations are kept (sorted) and their median used; after that each one
     * moves the estimate a fixed fraction up or down. A Flink POJO (keyed state per cell-hour).
     */
    public static final class RobustSpeed implements Serializable {
        private static final long serialVersionUID = 1L;
        public static final int WARMUP = 5;
        public static final double RATE = 0.03;
        private static final double[] NONE = new double[0];

        public double estimate;
        public long count;
        /** Sorted; empty once more than WARMUP observations were seen. */
        public double[] warmup = NONE;
        /** The last value published to lookups (0: never). */
        public double published;
        /** The end of the last interval that taught it ({@link #forgetStale}). */
        public long learnedAt = NEVER;

        public RobustSpeed() {
        }

        public RobustSpeed(double estimate, long count, double[] warmup, double published) {
            this.estimate = estimate;
            this.count = count;
            this.warmup = warmup;
            this.published = published;
        }

        public void update(double speed) {
            count += 1;
            if (count <= WARMUP) {
                // sorted((*warmup, speed)), stable: after the values it equals
                double[] w = Arrays.copyOf(warmup, warmup.length + 1);
                int i = warmup.length;
                while (i > 0 && speed < w[i - 1]) {
                    w[i] = w[i - 1];
                    i--;
                }
                w[i] = speed;
                warmup = w;
                estimate = w[w.length / 2];
                return;
            }
            warmup = NONE;
            double step = pyMax(estimate, 0.5) * RATE;
            if (speed > estimate) {
                estimate += step;
            } else if (speed < estimate) {
                estimate = pyMax(0.0, estimate - step);
            }
        }

        /**
         * udfs.speed_profiles.learn on this estimate: adds one observed speed; returns the value
         * to publish now, or NaN (Python's None): the estimate once it rests on
         * {@link #MIN_OBSERVATIONS} segments, then whenever it moved by {@link #PUBLISH_CHANGE}.
         */
        public double learn(double speed) {
            update(speed);
            if (count < MIN_OBSERVATIONS) {
                return Double.NaN;
            }
            if (published != 0.0 && Math.abs(estimate - published) < PUBLISH_CHANGE * published) {
                return Double.NaN;
            }
            published = pyMax(estimate, 0.1);
            return published;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof RobustSpeed r && Double.compare(r.estimate, estimate) == 0 && r.count == count
                    && Arrays.equals(r.warmup, warmup) && Double.compare(r.published, published) == 0;
        }

        @Override
        public int hashCode() {
            return Double.hashCode(estimate) * 31 + Long.hashCode(count);
        }

        @Override
        public String toString() {
            return "RobustSpeed(" + estimate + ", " + count + ", " + Arrays.toString(warmup) + ", " + published + ")";
        }
    }

    /** udfs.speed_profiles.profile_keys: the estimates a segment in a resolution-9 cell teaches, in lookup order. */
    public static Key[] profileKeys(long cell, int hour) {
        long parent = district(cell);
        return new Key[] {new Key(cell, hour), new Key(cell, ANY_HOUR), new Key(parent, hour),
            new Key(parent, ANY_HOUR)};
    }

    /**
     * udfs.speed_profiles.forget_stale: removes from {@code estimates} those last taught at or
     * before {@code learnedUpto}; returns what to publish, NaN for each removed one that lookups
     * had, by key order. A lookup then falls back as if it had never been learned.
     */
    public static Speeds forgetStale(Map<Key, RobustSpeed> estimates, long learnedUpto) {
        List<Key> stale = new ArrayList<>();
        for (Map.Entry<Key, RobustSpeed> e : estimates.entrySet()) {
            if (e.getValue().learnedAt <= learnedUpto) {
                stale.add(e.getKey());
            }
        }
        stale.sort(Comparator.comparingLong(Key::cell).thenComparingInt(Key::hour));
        Speeds forgotten = new Speeds(stale.size());
        for (Key key : stale) {
            if (estimates.remove(key).published != 0.0) {
                forgotten.put(key, Double.NaN);
            }
        }
        return forgotten;
    }

    /** udfs.speed_profiles.day_after: the first whole day (UTC) at or after {@code ts}. */
    public static long dayAfter(long ts) {
        return -Math.floorDiv(-ts, DAY_MS) * DAY_MS;
    }

    /**
     * A {@code dict[(cell, hour), float]} of speeds as Python keeps it: insertion order, a put to
     * a key already there keeps its place (no removal: speeds are only ever replaced). Primitive
     * arrays with an open-addressing index, so that lookups allocate nothing. A Flink POJO (the
     * index is transient and rebuilt) and {@link Serializable}.
     */
    public static final class Speeds implements Serializable {
        private static final long serialVersionUID = 1L;

        public long[] cells;
        public int[] hours;
        public double[] values;
        public int size;
        /** entry index + 1 per slot, 0 for an empty one; length a power of two, at least twice the entries */
        private transient int[] slots;
        private transient long[] indexedCells;
        private transient int indexedSize;

        public Speeds() {
            this(8);
        }

        public Speeds(int capacity) {
            capacity = Math.max(capacity, 4);
            cells = new long[capacity];
            hours = new int[capacity];
            values = new double[capacity];
        }

        /** A copy (Python's {@code dict(speeds)}). */
        public Speeds copy() {
            Speeds copy = new Speeds(Math.max(size, 4));
            copy.putAll(this);
            return copy;
        }

        public int size() {
            return size;
        }

        public boolean isEmpty() {
            return size == 0;
        }

        public long cell(int i) {
            return cells[i];
        }

        public int hour(int i) {
            return hours[i];
        }

        public double value(int i) {
            return values[i];
        }

        private static int hash(long cell, int hour) {
            long h = (cell ^ (hour * 0xC2B2AE3D27D4EB4FL)) * 0x9E3779B97F4A7C15L;
            return (int) (h >>> 32) ^ (int) h;
        }

        private int[] index() {
            // also rebuilt when the arrays were replaced from outside (a Flink deserializer reusing the object)
            if (slots == null || indexedCells != cells || indexedSize != size) {
                int n = Integer.highestOneBit(Math.max(cells.length, 4) * 2 - 1) << 1;
                int[] s = new int[n];
                for (int i = 0; i < size; i++) {
                    int j = hash(cells[i], hours[i]) & (n - 1);
                    while (s[j] != 0) {
                        j = (j + 1) & (n - 1);
                    }
                    s[j] = i + 1;
                }
                slots = s;
                indexedCells = cells;
                indexedSize = size;
            }
            return slots;
        }

        /** The entry index of {@code (cell, hour)}, or -1. */
        public int find(long cell, int hour) {
            int[] s = index();
            int mask = s.length - 1;
            for (int j = hash(cell, hour) & mask; ; j = (j + 1) & mask) {
                int e = s[j] - 1;
                if (e < 0) {
                    return -1;
                }
                if (cells[e] == cell && hours[e] == hour) {
                    return e;
                }
            }
        }

        public boolean contains(long cell, int hour) {
            return find(cell, hour) >= 0;
        }

        /** The speed of {@code (cell, hour)}, or {@code absent}. */
        public double get(long cell, int hour, double absent) {
            int e = find(cell, hour);
            return e < 0 ? absent : values[e];
        }

        /** Sets the speed of {@code (cell, hour)}: a new key goes last, a known one keeps its place. */
        public void put(long cell, int hour, double mps) {
            int[] s = index();
            int mask = s.length - 1;
            int j = hash(cell, hour) & mask;
            for (int e; (e = s[j] - 1) >= 0; j = (j + 1) & mask) {
                if (cells[e] == cell && hours[e] == hour) {
                    values[e] = mps;
                    return;
                }
            }
            if (size == cells.length) {
                int n = Math.max(4, cells.length * 2);
                cells = Arrays.copyOf(cells, n);
                hours = Arrays.copyOf(hours, n);
                values = Arrays.copyOf(values, n);
                slots = null;  // rebuilt, larger, on the next use
            } else {
                s[j] = size + 1;
                indexedSize = size + 1;
            }
            cells[size] = cell;
            hours[size] = hour;
            values[size] = mps;
            size++;
        }

        public void put(Key key, double mps) {
            put(key.cell(), key.hour(), mps);
        }

        /** Removes the NaN (forgotten) entries; the others keep their order (Python's {@code dict.pop}). */
        public void dropForgotten() {
            int kept = 0;
            for (int i = 0; i < size; i++) {
                if (!Double.isNaN(values[i])) {
                    cells[kept] = cells[i];
                    hours[kept] = hours[i];
                    values[kept] = values[i];
                    kept++;
                }
            }
            if (kept != size) {
                size = kept;
                slots = null;
            }
        }

        /** Python's {@code dict.update}: in {@code other}'s order. */
        public void putAll(Speeds other) {
            for (int i = 0; i < other.size; i++) {
                put(other.cells[i], other.hours[i], other.values[i]);
            }
        }

        /** The entries in insertion order, as a map (for callers that write them to Flink state). */
        public LinkedHashMap<Key, Double> toMap() {
            LinkedHashMap<Key, Double> map = new LinkedHashMap<>();
            for (int i = 0; i < size; i++) {
                map.put(new Key(cells[i], hours[i]), values[i]);
            }
            return map;
        }

        public static Speeds of(Map<Key, Double> map) {
            Speeds speeds = new Speeds(map.size());
            for (Map.Entry<Key, Double> e : map.entrySet()) {
                speeds.put(e.getKey(), e.getValue());
            }
            return speeds;
        }

        /** As Python compares dicts: the same keys and values, whatever the order. */
        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Speeds other) || other.size != size) {
                return false;
            }
            for (int i = 0; i < size; i++) {
                int e = other.find(cells[i], hours[i]);
                if (e < 0 || Double.compare(other.values[e], values[i]) != 0) {
                    return false;
                }
            }
            return true;
        }

        @Override
        public int hashCode() {
            int h = 0;
            for (int i = 0; i < size; i++) {
                h += hash(cells[i], hours[i]) ^ Double.hashCode(values[i]);
            }
            return h;
        }

        @Override
        public String toString() {
            return toMap().toString();
        }
    }

    /**
     * udfs.speed_profiles.SpeedTable: published speeds per (cell, hour of week), any level;
     * lookups fall back level by level. Implements the ETA's {@link Eta.SpeedOf}.
     */
    public static final class SpeedTable implements Eta.SpeedOf, Serializable {
        private static final long serialVersionUID = 1L;

        public double defaultMps;
        public Speeds speeds;

        public SpeedTable() {
            this(DEFAULT_SPEED_MPS);
        }

        public SpeedTable(double defaultMps) {
            this.defaultMps = defaultMps;
            this.speeds = new Speeds();
        }

        public void put(long cell, int hour, double mps) {
            speeds.put(cell, hour, mps);
        }

        /**
         * m/s at a resolution-9 cell in an hour of the week: the cell's in that hour; else the
         * cell's usual speed times its district's factor for the hour; else the district's in that
         * hour, or at any hour; else the default. (The district is computed before the fallbacks
         * as in Python, where an invalid cell raises there.)
         */
        @Override
        public double speed(long cell, int hour) {
            // NaN: a forgotten speed (forgetStale), as absent
            Speeds s = speeds;
            int known = s.find(cell, hour);
            if (known >= 0 && !Double.isNaN(s.values[known])) {
                return s.values[known];
            }
            long parent = district(cell);
            int usual = s.find(cell, ANY_HOUR);
            if (usual >= 0 && !Double.isNaN(s.values[usual])) {
                double factor = s.get(parent, HOUR_FACTOR + hour, 1.0);
                factor = Double.isNaN(factor) ? 1.0 : factor;
                return s.values[usual] * pyMin(pyMax(factor, FACTOR_MIN), FACTOR_MAX);
            }
            // Python's `a or b or default`: an absent, forgotten or zero speed falls through
            double v = s.get(parent, hour, 0.0);
            if (v != 0.0 && !Double.isNaN(v)) {
                return v;
            }
            v = s.get(parent, ANY_HOUR, 0.0);
            return v != 0.0 && !Double.isNaN(v) ? v : defaultMps;
        }
    }

    /** learn_interval's result: the estimates that changed and the speeds to publish, in Python's dict order. */
    public record Learned(LinkedHashMap<Key, RobustSpeed> changed, Speeds published) {
    }

    private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

    /** SplitMix64's finalizer (Stafford's Mix13). */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /**
     * The hash of udfs.speed_profiles.learning_order, as a signed long holding the unsigned
     * 64-bit value: {@code h = mix64((h ^ x) + 0x9E3779B97F4A7C15)} from 0 over the cell, the hour
     * and the speed's IEEE bits shifted right by 20 (a relative grid of 2^-32: a speed one ulp
     * apart, as the JVM's trig gives now and then, almost never changes the order).
     */
    public static long learningHash(long cell, int hour, double mps) {
        long h = mix64(cell + GOLDEN_GAMMA);
        h = mix64((h ^ (long) hour) + GOLDEN_GAMMA);
        return mix64((h ^ (Double.doubleToRawLongBits(mps) >>> 20)) + GOLDEN_GAMMA);
    }

    private record Ordered(long hash, Segment segment) {
    }

    /** learning_order: the hash unsigned, then cell, hour and speed (Python's {@code <}). */
    private static final Comparator<Ordered> LEARNING_ORDER = (a, b) -> {
        int c = Long.compareUnsigned(a.hash, b.hash);
        if (c == 0) {
            c = Long.compare(a.segment.cell(), b.segment.cell());
        }
        if (c == 0) {
            c = Integer.compare(a.segment.hour(), b.segment.hour());
        }
        if (c == 0) {
            double x = a.segment.mps(), y = b.segment.mps();
            c = x < y ? -1 : (x > y ? 1 : 0);
        }
        return c;
    };

    /** The segments in udfs.speed_profiles.learning_order (a stable sort, as Python's sorted). */
    public static Segment[] inLearningOrder(List<Segment> segments) {
        Ordered[] ordered = new Ordered[segments.size()];
        for (int i = 0; i < ordered.length; i++) {
            Segment s = segments.get(i);
            ordered[i] = new Ordered(learningHash(s.cell(), s.hour(), s.mps()), s);
        }
        Arrays.sort(ordered, LEARNING_ORDER);
        Segment[] out = new Segment[ordered.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = ordered[i].segment;
        }
        return out;
    }

    /**
     * udfs.speed_profiles.learn_interval: learns one district's segments of one event-time
     * interval into {@code estimates} (by {@link #profileKeys} key, changed in place), in the
     * fixed order of {@link #inLearningOrder} (see the Python docstring for why).
     */
    public static Learned learnInterval(Map<Key, RobustSpeed> estimates, List<Segment> segments) {
        LinkedHashMap<Key, RobustSpeed> changed = new LinkedHashMap<>();
        Speeds published = new Speeds();
        for (Segment segment : inLearningOrder(segments)) {
            long cell = segment.cell();
            int hour = segment.hour();
            double speed = segment.mps();
            long parent = district(cell);
            Key any = new Key(cell, ANY_HOUR);
            RobustSpeed usual = estimates.get(any);  // the cell at any hour, before this segment
            if (usual != null && usual.count >= MIN_OBSERVATIONS && usual.estimate > 0) {
                teach(estimates, changed, published, new Key(parent, HOUR_FACTOR + hour), speed / usual.estimate);
            }
            teach(estimates, changed, published, new Key(cell, hour), speed);
            teach(estimates, changed, published, any, speed);
            teach(estimates, changed, published, new Key(parent, hour), speed);
            teach(estimates, changed, published, new Key(parent, ANY_HOUR), speed);
        }
        return new Learned(changed, published);
    }

    private static void teach(Map<Key, RobustSpeed> estimates, LinkedHashMap<Key, RobustSpeed> changed,
                              Speeds published, Key key, double value) {
        RobustSpeed estimate = estimates.get(key);
        if (estimate == null) {
            estimate = new RobustSpeed();
            estimates.put(key, estimate);
        }
        changed.put(key, estimate);
        double mps = estimate.learn(value);
        if (!Double.isNaN(mps)) {
            published.put(key, mps);
        }
    }

    /** The key of a version's speeds in {@link CausalSpeeds}: the interval end and the district that learned them. */
    public record VersionPart(long version, long part) implements Comparable<VersionPart>, Serializable {
        @Override
        public int compareTo(VersionPart o) {
            int c = Long.compare(version, o.version);
            return c != 0 ? c : Long.compare(part, o.part);
        }
    }

    /** CausalSpeeds.fold's result: the base entries that changed, the (version, part) keys gone from pending. */
    public record Folded(Speeds changed, List<VersionPart> gone) {
    }

    /**
     * udfs.speed_profiles.CausalSpeeds: the speeds an ETA may use, only those learned before its
     * interval began (see the Python docstring). {@code pending} is sorted by (version, part),
     * as Python's bisected key list; the view is a cache, rebuilt after a restore as in Python.
     */
    public static final class CausalSpeeds implements Serializable {
        private static final long serialVersionUID = 1L;

        public double defaultMps;
        public Speeds base;
        public long baseUpto = NEVER;
        public TreeMap<VersionPart, Speeds> pending;
        private transient SpeedTable view;
        private transient long viewUpto = NEVER;

        public CausalSpeeds() {
            this(DEFAULT_SPEED_MPS);
        }

        public CausalSpeeds(double defaultMps) {
            this.defaultMps = defaultMps;
            this.base = new Speeds();
            this.pending = new TreeMap<>();
        }

        /** CausalSpeeds.restored: from what the broadcast state holds (the pending maps are shared, not copied). */
        public static CausalSpeeds restored(Speeds base, long baseUpto, Map<VersionPart, Speeds> pending,
                                            double defaultMps) {
            CausalSpeeds speeds = new CausalSpeeds(defaultMps);
            speeds.base = base.copy();
            speeds.baseUpto = baseUpto;
            speeds.pending.putAll(pending);
            return speeds;
        }

        public static CausalSpeeds restored(Speeds base, long baseUpto, Map<VersionPart, Speeds> pending) {
            return restored(base, baseUpto, pending, DEFAULT_SPEED_MPS);
        }

        /**
         * Speeds published for {@code version} by {@code part}; returns all of that part's for the
         * version (what to keep in state; the object kept here, changed by later receives).
         */
        public Speeds receive(long version, long part, Speeds published) {
            VersionPart key = new VersionPart(version, part);
            Speeds entries = pending.get(key);
            if (entries == null) {
                entries = new Speeds(published.size());
                pending.put(key, entries);
            }
            entries.putAll(published);
            if (view != null && version <= viewUpto) {
                view.speeds.putAll(published);
            }
            return entries;
        }

        /** Lookups over the versions up to {@code upto} (or a later view, once one was asked for). */
        public SpeedTable table(long upto) {
            if (view == null) {
                view = new SpeedTable(defaultMps);
                view.speeds.putAll(base);
                viewUpto = baseUpto;
                applyPending(NEVER, baseUpto);  // published late, after the fold they missed
            }
            if (upto > viewUpto) {
                applyPending(viewUpto, upto);
                viewUpto = upto;
            }
            return view;
        }

        /** The pending versions in {@code (after, upto]}. */
        private NavigableMap<VersionPart, Speeds> between(long after, long upto) {
            return pending.subMap(new VersionPart(after, Long.MAX_VALUE), false, new VersionPart(upto, Long.MAX_VALUE),
                    true);
        }

        private void applyPending(long after, long upto) {
            if (after >= upto) {
                return;
            }
            for (Speeds entries : between(after, upto).values()) {
                view.speeds.putAll(entries);
            }
        }

        /**
         * Moves the versions up to {@code upto} into {@code base}: the caller knows no lookup will
         * ask for an older view. Returns the base entries that changed and the keys gone from pending.
         */
        public Folded fold(long upto) {
            NavigableMap<VersionPart, Speeds> head = pending.headMap(new VersionPart(upto, Long.MAX_VALUE), true);
            if (head.isEmpty()) {
                return new Folded(new Speeds(), List.of());
            }
            table(upto);  // the view has them before they leave pending
            Speeds changed = new Speeds();
            List<VersionPart> gone = new ArrayList<>(head.size());
            for (Map.Entry<VersionPart, Speeds> e : head.entrySet()) {
                gone.add(e.getKey());
                changed.putAll(e.getValue());
            }
            head.clear();
            base.putAll(changed);
            base.dropForgotten(); // forgotten: gone from the base, so the state shrinks too
            baseUpto = Math.max(baseUpto, upto);
            return new Folded(changed, gone);
        }
    }
}
