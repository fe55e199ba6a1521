package io.lastmile.udfs.core;

import java.io.Serializable;
import java.util.Comparator;

/**
 * What a vehicle's ETA state is told about its stops (udfs.eta: Stop, Assign, Unassign).
 * The Registry (per shipment) sends them, the ETA operator (per vehicle) applies them.
 */
public final class Stops {
    private Stops() {
    }

    /** udfs.eta.Stop: a shipment's stop on a van; {@code stopSequence} may be null. */
    public record Stop(String shipmentId, Integer stopSequence, double lat, double lng, long windowStart)
            implements Serializable {
        /** udfs.eta.Stop.order_key: stops with a sequence first, by it, then window start, then shipment. */
        public static final Comparator<Stop> ORDER = Comparator
                .comparing((Stop s) -> s.stopSequence == null)
                .thenComparingInt(s -> s.stopSequence == null ? 0 : s.stopSequence)
                .thenComparingLong(Stop::windowStart)
                .thenComparing(Stop::shipmentId, Text.CODE_POINT_ORDER);
    }

    /** A message for one van's route: {@link Assign} or {@link Unassign}. */
    public sealed interface Change extends Serializable permits Assign, Unassign {
        String vehicleKey();

        long at();
    }

    /** udfs.eta.Assign: the shipment is out for delivery on the van {@code vehicleKey} (partner:vehicle). */
    public record Assign(String vehicleKey, Stop stop, long at) implements Change {
    }

    /** udfs.eta.Unassign: the shipment left the van (delivered, failed, moved to another van...). */
    public record Unassign(String vehicleKey, String shipmentId, long at) implements Change {
    }
}
