package io.lastmile.udfs.core;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;

import io.lastmile.udfs.core.Stops.Assign;
import io.lastmile.udfs.core.Stops.Change;
import io.lastmile.udfs.core.Stops.Stop;
import io.lastmile.udfs.core.Stops.Unassign;

/**
 * The delivery side of udfs.eta: one {@link Delivery} per shipment joins its latest task with its
 * latest status and tells vans what changed ({@link Assign}, {@link Unassign}); the Registry
 * applies tasks and statuses in event-time order ({@link #inEventOrder}), whatever order they
 * arrive in.
 */
public final class Deliveries {
    /** udfs.eta.OPEN_STATUSES: the shipment is on a van. */
    public static final List<String> OPEN_STATUSES = List.of("OUT_FOR_DELIVERY");
    /** udfs.eta.FINAL_STATUSES: its delivery ended, one way or the other. */
    public static final List<String> FINAL_STATUSES = List.of("DELIVERED", "FAILED_ATTEMPT", "RETURNED", "CANCELLED");
    /** udfs.flink.coordination.DELIVERY_RETENTION_MS: a delivery is kept this long after its last change. */
    public static final long DELIVERY_RETENTION_MS = 2L * 24 * 3_600_000;
    /** udfs.flink.coordination.HOUR_MS. */
    public static final long HOUR_MS = 3_600_000;

    private Deliveries() {
    }

    /** Python's {@code status in OPEN_STATUSES} (false for null). */
    public static boolean isOpen(String status) {
        return status != null && OPEN_STATUSES.contains(status);
    }

    /** Python's {@code status in FINAL_STATUSES} (false for null). */
    public static boolean isFinal(String status) {
        return status != null && FINAL_STATUSES.contains(status);
    }

    /**
     * udfs.eta.DeliveryEvent: a task ({@code hasDest}: its destination and window start) or a
     * status ({@code status}, {@code vehicleId}, {@code stopSequence}, each may be null) of one
     * shipment. {@code rank} orders events of equal time: the task, then OUT_FOR_DELIVERY, then a
     * final status. Python's {@code dest} tuple is the three dest fields, None is {@code !hasDest}.
     */
    public record DeliveryEvent(long at, int rank, String eventId, boolean hasDest, double lat, double lng,
                                long windowStart, String status, String vehicleId, Integer stopSequence)
            implements Serializable {
    }

    /** udfs.eta.task_event. */
    public static DeliveryEvent taskEvent(long eventTime, String eventId, double lat, double lng, long windowStart) {
        return new DeliveryEvent(eventTime, 0, eventId, true, lat, lng, windowStart, null, null, null);
    }

    /** udfs.eta.status_event, from a ShipmentStatus's fields ({@code vehicleId}, {@code stopSequence} may be null). */
    public static DeliveryEvent statusEvent(long eventTime, String eventId, String status, String vehicleId,
                                            Integer stopSequence) {
        return new DeliveryEvent(eventTime, isOpen(status) ? 1 : 2, eventId, false, 0.0, 0.0, 0, status, vehicleId,
                stopSequence);
    }

    /** udfs.eta.in_event_order's key: event time, rank, then event id by code point. */
    public static final Comparator<DeliveryEvent> EVENT_ORDER = (a, b) -> {
        int c = Long.compare(a.at, b.at);
        if (c != 0) {
            return c;
        }
        c = Integer.compare(a.rank, b.rank);
        return c != 0 ? c : Text.compare(a.eventId, b.eventId);
    };

    /** udfs.eta.in_event_order: a sorted copy (stable, as Python's sorted). */
    public static List<DeliveryEvent> inEventOrder(List<DeliveryEvent> events) {
        List<DeliveryEvent> sorted = new ArrayList<>(events);
        sorted.sort(EVENT_ORDER);
        return sorted;
    }

    /**
     * udfs.eta.Delivery, keyed by {@code partner:shipment}: the latest task and status of one
     * shipment. {@code taskTime} and {@code statusTime} are -1 before the first; {@code hasDest}
     * false is Python's {@code dest is None}.
     *
     * <p>A Flink POJO (public no-arg constructor, public fields) and {@link Serializable}.
     */
    public static final class Delivery implements Serializable {
        private static final long serialVersionUID = 1L;

        public String partnerId;
        public String shipmentId;
        public boolean hasDest;
        public double destLat;
        public double destLng;
        public long destWindowStart;
        public long taskTime = -1;
        public String status;
        public long statusTime = -1;
        public String vehicleId;
        public Integer stopSequence;

        public Delivery() {
        }

        public Delivery(String partnerId, String shipmentId) {
            this.partnerId = partnerId;
            this.shipmentId = shipmentId;
        }

        /** The delivery of a Registry key, {@code partner:shipment} (split at the first colon), before any event. */
        public static Delivery forKey(String key) {
            int colon = key.indexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException("not a partner:shipment key: " + key);
            }
            return new Delivery(key.substring(0, colon), key.substring(colon + 1));
        }

        private String vehicleKey() {
            return vehicleId != null ? partnerId + ":" + vehicleId : null;
        }

        private Stop stop() {
            return new Stop(shipmentId, stopSequence, destLat, destLng, destWindowStart);
        }

        /** udfs.eta.Delivery.apply: one task or status; what its van must know (the list may be immutable). */
        public List<Change> apply(DeliveryEvent event) {
            if (event.hasDest) {
                return onTask(event.at, event.lat, event.lng, event.windowStart);
            }
            return onStatus(event.at, event.status, event.vehicleId, event.stopSequence);
        }

        /**
         * What the Registry does with the events it releases: apply them {@link #inEventOrder}, and
         * return every change in order.
         */
        public List<Change> applyInOrder(List<DeliveryEvent> events) {
            List<Change> out = null;
            for (DeliveryEvent event : events.size() > 1 ? inEventOrder(events) : events) {
                List<Change> changes = apply(event);
                if (!changes.isEmpty()) {
                    if (out == null) {
                        out = new ArrayList<>(changes.size() + 2);
                    }
                    out.addAll(changes);
                }
            }
            return out == null ? List.of() : out;
        }

        /**
         * udfs.eta.Delivery.on_task: a newer announcement; a van that already carries the shipment
         * gets the new stop.
         */
        public List<Change> onTask(long eventTime, double lat, double lng, long windowStart) {
            if (eventTime <= taskTime) {
                return List.of();
            }
            taskTime = eventTime;
            hasDest = true;
            destLat = lat;
            destLng = lng;
            destWindowStart = windowStart;
            if (isOpen(status) && vehicleId != null) {
                return List.of(new Assign(vehicleKey(), stop(), eventTime));
            }
            return List.of();
        }

        /** udfs.eta.Delivery.on_status: a status not older than the last one applied; older ones change nothing. */
        public List<Change> onStatus(long eventTime, String newStatus, String newVehicleId, Integer newStopSequence) {
            if (eventTime < statusTime) {
                return List.of();
            }
            String previous;
            if (isOpen(status)) {
                previous = vehicleKey();
            } else if (status == null && isFinal(newStatus) && newVehicleId != null) {
                previous = partnerId + ":" + newVehicleId; // its state was gone (a very late delivery)
            } else {
                previous = null;
            }
            status = newStatus;
            statusTime = eventTime;
            if (isOpen(newStatus) && newVehicleId != null) {
                vehicleId = newVehicleId;
                stopSequence = newStopSequence;
                String current = vehicleKey();
                Unassign moved = previous != null && !previous.equals(current)
                        ? new Unassign(previous, shipmentId, eventTime) : null; // moved to another van
                Assign assign = hasDest ? new Assign(current, stop(), eventTime) : null;
                if (moved != null && assign != null) {
                    return List.of(moved, assign);
                }
                return moved != null ? List.of(moved) : assign != null ? List.of(assign) : List.of();
            }
            if (isFinal(newStatus) && previous != null) {
                return List.of(new Unassign(previous, shipmentId, eventTime));
            }
            return List.of();
        }

        /** When the Registry may drop this delivery: its last change plus {@link #DELIVERY_RETENTION_MS}. */
        public long retainUntil() {
            return Math.max(taskTime, statusTime) + DELIVERY_RETENTION_MS;
        }

        /**
         * The Registry's clean-up timer: {@link #retainUntil} rounded up to a whole hour (the
         * statuses of a shipment's day share it).
         */
        public long cleanupTimer() {
            return -Math.floorDiv(-retainUntil(), HOUR_MS) * HOUR_MS;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Delivery d && Objects.equals(partnerId, d.partnerId)
                    && Objects.equals(shipmentId, d.shipmentId) && hasDest == d.hasDest
                    && Double.compare(destLat, d.destLat) == 0 && Double.compare(destLng, d.destLng) == 0
                    && destWindowStart == d.destWindowStart && taskTime == d.taskTime
                    && Objects.equals(status, d.status) && statusTime == d.statusTime
                    && Objects.equals(vehicleId, d.vehicleId)
                    && Objects.equals(stopSequence, d.stopSequence);
        }

        @Override
        public int hashCode() {
            return Objects.hash(partnerId, shipmentId, taskTime, status, statusTime, vehicleId);
        }

        @Override
        public String toString() {
            return "Delivery[" + partnerId + ":" + shipmentId + ", dest=" + (hasDest ? destLat + "," + destLng + ","
                    + destWindowStart : "null") + ", taskTime=" + taskTime + ", status=" + status + ", statusTime="
                    + statusTime + ", vehicleId=" + vehicleId + ", stopSequence=" + stopSequence + "]";
        }
    }
}
