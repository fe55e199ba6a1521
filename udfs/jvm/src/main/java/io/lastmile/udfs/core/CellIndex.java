package io.lastmile.udfs.core;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.lastmile.udfs.core.Colocation.Match;
import io.lastmile.udfs.core.Colocation.Task;

/**
 * udfs.colocation.CellIndex: the tasks stored in one index cell, and what changes when one
 * arrives or leaves. {@code tasks} maps {@code partner:shipment} to the version stored here.
 *
 * <p>The order of {@code tasks} is the order of the matches a task makes, so it must be the
 * insertion order, as a Python dict keeps it: a replaced version moves to the end, an expired one
 * leaves the others where they are: a {@link LinkedHashMap}, declared as such so that Flink
 * keeps the class when it serializes the field.
 *
 * <p>A Flink POJO (public no-arg constructor, public fields) and {@link Serializable}. The
 * tasks are also kept in columns, in the same order (transient: rebuilt from {@code tasks} after a
 * restore or a copy): a new task is compared with every stored one, and a walk of plain arrays
 * costs a fraction of a walk of the map's entries and records. So {@code tasks} changes through
 * the methods only.
 */
public final class CellIndex implements Serializable {
    private static final long serialVersionUID = 1L;

    public long cell;
    public double radiusM;
    public LinkedHashMap<String, Task> tasks;

    // The columns: slot i holds a task of `tasks` (null: removed since the last compaction), in
    // the map's order; `slots` of them are used, `slotOf` finds a key's. Null: not built.
    private transient Task[] byslot;
    private transient long[] home;
    private transient long[] start;
    private transient long[] end;
    private transient int slots;
    private transient HashMap<String, Integer> slotOf;

    public CellIndex() {
        this.tasks = new LinkedHashMap<>();
    }

    public CellIndex(long cell, double radiusM) {
        this.cell = cell;
        this.radiusM = radiusM;
        this.tasks = new LinkedHashMap<>();
    }

    /**
     * An index over a map the caller keeps (Python's {@code CellIndex(cell, radius, tasks)}): the
     * methods change it in place, and nothing else may.
     */
    public CellIndex(long cell, double radiusM, LinkedHashMap<String, Task> tasks) {
        this.cell = cell;
        this.radiusM = radiusM;
        this.tasks = tasks;
    }

    /** The stored version of {@code key} ({@code partner:shipment}), or null. */
    public Task get(String key) {
        return tasks.get(key);
    }

    public int size() {
        return tasks.size();
    }

    public boolean isEmpty() {
        return tasks.isEmpty();
    }

    /**
     * The earliest window end of the stored tasks (the Matcher's next expiry is that plus the
     * allowed lateness); {@link Long#MAX_VALUE} when empty.
     */
    public long earliestWindowEnd() {
        long earliest = Long.MAX_VALUE;
        for (Task t : tasks.values()) {
            earliest = Math.min(earliest, t.windowEnd());
        }
        return earliest;
    }

    /**
     * udfs.colocation.CellIndex.add: store {@code task} (replacing an older revision of it) and
     * return the matches it creates here, after the retractions of the version it replaces. An
     * older or the same revision changes nothing. The list may be immutable.
     */
    public List<Match> add(Task task) {
        String key = task.key();
        List<Match> out = null;
        Task old = tasks.get(key);
        if (old != null) {
            if (old.revision() >= task.revision()) {
                return List.of();
            }
            out = removeInto(key, task.revision(), null);
        }
        columns();
        long taskHome = task.homeCell(), taskStart = task.windowStart(), taskEnd = task.windowEnd();
        for (int i = 0; i < slots; i++) {
            // Colocation.ownsPair, then Colocation.colocated's cheap tests first, on the columns
            Task other = byslot[i];
            if (other == null || cell != Math.min(taskHome, home[i])
                    || Math.max(taskStart, start[i]) >= Math.min(taskEnd, end[i])) {
                continue;
            }
            double distance = Colocation.colocated(task, other, radiusM);
            if (!Double.isNaN(distance)) {
                if (out == null) {
                    out = new ArrayList<>(4);
                }
                out.add(Colocation.makeMatch(task, other, distance));
            }
        }
        tasks.put(key, task); // after a removal, at the end: as Python's pop and re-insert
        append(key, task);
        return out == null ? List.of() : out;
    }

    /** The columns, built from {@code tasks} if they are not. */
    private void columns() {
        if (byslot != null) {
            return;
        }
        int capacity = Math.max(8, tasks.size() * 2);
        byslot = new Task[capacity];
        home = new long[capacity];
        start = new long[capacity];
        end = new long[capacity];
        slots = 0;
        slotOf = new HashMap<>(capacity);
        for (Map.Entry<String, Task> e : tasks.entrySet()) {
            append(e.getKey(), e.getValue());
        }
    }

    /** After the last slot; the columns are built. */
    private void append(String key, Task task) {
        if (slots == byslot.length) {
            compact();
        }
        byslot[slots] = task;
        home[slots] = task.homeCell();
        start[slots] = task.windowStart();
        end[slots] = task.windowEnd();
        slotOf.put(key, slots++);
    }

    private void drop(String key) {
        if (byslot != null) {
            Integer slot = slotOf.remove(key);
            if (slot != null) {
                byslot[slot] = null;
            }
        }
    }

    private boolean anyEndsBefore(long ms) {
        for (int i = 0; i < slots; i++) {
            if (end[i] < ms && byslot[i] != null) {
                return true;
            }
        }
        return false;
    }

    /** Removed slots closed up, in order; the columns twice the tasks' number if they are full. */
    private void compact() {
        int live = tasks.size(), capacity = Math.max(8, live * 2);
        Task[] was = byslot;
        int used = slots;
        byslot = new Task[capacity];
        home = new long[capacity];
        start = new long[capacity];
        end = new long[capacity];
        slots = 0;
        slotOf.clear();
        for (int i = 0; i < used; i++) {
            if (was[i] != null) {
                append(was[i].key(), was[i]);
            }
        }
    }

    /**
     * udfs.colocation.CellIndex.remove: drop the stored version of {@code key} and retract the
     * matches it had here, at {@code byRevision} (the revision of the version replacing it, so
     * the retractions outrank the matches they undo). The list may be immutable.
     */
    public List<Match> remove(String key, long byRevision) {
        List<Match> out = removeInto(key, byRevision, null);
        return out == null ? List.of() : out;
    }

    private List<Match> removeInto(String key, long byRevision, List<Match> out) {
        Task gone = tasks.remove(key);
        if (gone == null) {
            return out;
        }
        drop(key);
        for (Task other : tasks.values()) {
            if (Colocation.ownsPair(cell, gone, other)) {
                double distance = Colocation.colocated(gone, other, radiusM);
                if (!Double.isNaN(distance)) {
                    if (out == null) {
                        out = new ArrayList<>(4);
                    }
                    out.add(Colocation.makeMatch(gone, other, distance, true, byRevision + other.revision()));
                }
            }
        }
        return out;
    }

    /** udfs.colocation.CellIndex.expire: drop the tasks whose window ended before {@code beforeMs}; how many. */
    public int expire(long beforeMs) {
        if (byslot != null && !anyEndsBefore(beforeMs)) {
            return 0;  // most timers: a look at a column instead of a walk of the map
        }
        int dropped = 0;
        for (Iterator<Map.Entry<String, Task>> it = tasks.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Task> e = it.next();
            if (e.getValue().windowEnd() < beforeMs) {
                it.remove();
                drop(e.getKey());
                dropped++;
            }
        }
        return dropped;
    }
}
