package io.lastmile.udfs.core;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;

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
 * <p>A Flink POJO (public no-arg constructor, public fields) and {@link Serializable}.
 */
public final class CellIndex implements Serializable {
    private static final long serialVersionUID = 1L;

    public long cell;
    public double radiusM;
    public LinkedHashMap<String, Task> tasks;

    public CellIndex() {
        this.tasks = new LinkedHashMap<>();
    }

    public CellIndex(long cell, double radiusM) {
        this.cell = cell;
        this.radiusM = radiusM;
        this.tasks = new LinkedHashMap<>();
    }

    /**
     * An index over a map the caller keeps (Python's {@code CellIndex(cell, radius, tasks)}, e.g.
     * the Matcher's read-through mirror of its map state): the methods change it in place.
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
        for (Task other : tasks.values()) {
            if (Colocation.ownsPair(cell, task, other)) {
                double distance = Colocation.colocated(task, other, radiusM);
                if (!Double.isNaN(distance)) {
                    if (out == null) {
                        out = new ArrayList<>(4);
                    }
                    out.add(Colocation.makeMatch(task, other, distance));
                }
            }
        }
        tasks.put(key, task); // after a removal, at the end: as Python's pop and re-insert
        return out == null ? List.of() : out;
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
        int dropped = 0;
        for (Iterator<Task> it = tasks.values().iterator(); it.hasNext(); ) {
            if (it.next().windowEnd() < beforeMs) {
                it.remove();
                dropped++;
            }
        }
        return dropped;
    }
}
