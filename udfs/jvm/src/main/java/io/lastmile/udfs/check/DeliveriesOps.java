package io.lastmile.udfs.check;

import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;

import io.lastmile.udfs.core.Deliveries;
import io.lastmile.udfs.core.Deliveries.Delivery;
import io.lastmile.udfs.core.Deliveries.DeliveryEvent;
import io.lastmile.udfs.core.Stops.Assign;
import io.lastmile.udfs.core.Stops.Change;
import io.lastmile.udfs.core.Stops.Unassign;

/**
 * core.Deliveries for tests/unit/test_jvm_deliveries.py. An event goes in as
 * {@code ["task", at, event_id, lat, lng, window_start]} or
 * {@code ["status", at, event_id, status, vehicle_id, stop_sequence]} (made by taskEvent /
 * statusEvent) and comes out as udfs.eta.DeliveryEvent's fields; floats cross as hex text.
 */
public final class DeliveriesOps implements Harness.Ops {
    @Override
    public Object call(String op, JsonNode a) {
        switch (op) {
            case "event":
                return event(event(a));
            case "in_event_order": {
                List<DeliveryEvent> events = events(a);
                List<Object> out = new ArrayList<>();
                for (DeliveryEvent e : Deliveries.inEventOrder(events)) {
                    out.add(event(e));
                }
                return out;
            }
            case "run": {
                // [key, [[event, ...] per release of the Registry, ...], one_by_one]: per release,
                // [changes, delivery state, retain until, clean-up timer]
                Delivery delivery = Delivery.forKey(a.get(0).asText());
                boolean oneByOne = a.get(2).asBoolean();
                List<Object> out = new ArrayList<>();
                for (JsonNode batch : a.get(1)) {
                    List<DeliveryEvent> events = events(batch);
                    List<Change> changes;
                    if (oneByOne) {
                        changes = new ArrayList<>();
                        for (DeliveryEvent e : events) {
                            changes.addAll(e.hasDest() ? delivery.onTask(e.at(), e.lat(), e.lng(), e.windowStart())
                                    : delivery.onStatus(e.at(), e.status(), e.vehicleId(), e.stopSequence()));
                        }
                    } else {
                        changes = delivery.applyInOrder(events);
                    }
                    List<Object> row = new ArrayList<>();
                    row.add(changes(changes));
                    row.add(state(delivery));
                    row.add(delivery.retainUntil());
                    row.add(delivery.cleanupTimer());
                    out.add(row);
                }
                return out;
            }
            default:
                throw new IllegalArgumentException("unknown op " + op);
        }
    }

    private static List<DeliveryEvent> events(JsonNode list) {
        List<DeliveryEvent> out = new ArrayList<>();
        for (JsonNode e : list) {
            out.add(event(e));
        }
        return out;
    }

    private static DeliveryEvent event(JsonNode e) {
        if (e.get(0).asText().equals("task")) {
            return Deliveries.taskEvent(e.get(1).asLong(), e.get(2).asText(), ColocationOps.num(e.get(3)),
                    ColocationOps.num(e.get(4)), e.get(5).asLong());
        }
        return Deliveries.statusEvent(e.get(1).asLong(), e.get(2).asText(), ColocationOps.text(e.get(3)),
                ColocationOps.text(e.get(4)), e.get(5).isNull() ? null : e.get(5).asInt());
    }

    private static List<Object> event(DeliveryEvent e) {
        List<Object> out = new ArrayList<>();
        out.add(e.at());
        out.add(e.rank());
        out.add(e.eventId());
        out.add(e.hasDest() ? List.of(ColocationOps.hex(e.lat()), ColocationOps.hex(e.lng()), e.windowStart()) : null);
        out.add(e.status());
        out.add(e.vehicleId());
        out.add(e.stopSequence());
        return out;
    }

    private static List<Object> changes(List<Change> changes) {
        List<Object> out = new ArrayList<>();
        for (Change c : changes) {
            List<Object> row = new ArrayList<>();
            if (c instanceof Assign assign) {
                row.add("assign");
                row.add(assign.vehicleKey());
                List<Object> stop = new ArrayList<>();
                stop.add(assign.stop().shipmentId());
                stop.add(assign.stop().stopSequence());
                stop.add(ColocationOps.hex(assign.stop().lat()));
                stop.add(ColocationOps.hex(assign.stop().lng()));
                stop.add(assign.stop().windowStart());
                row.add(stop);
            } else {
                Unassign unassign = (Unassign) c;
                row.add("unassign");
                row.add(unassign.vehicleKey());
                row.add(unassign.shipmentId());
            }
            row.add(c.at());
            out.add(row);
        }
        return out;
    }

    private static List<Object> state(Delivery d) {
        List<Object> out = new ArrayList<>();
        out.add(d.partnerId);
        out.add(d.shipmentId);
        out.add(d.hasDest ? List.of(ColocationOps.hex(d.destLat), ColocationOps.hex(d.destLng), d.destWindowStart)
                : null);
        out.add(d.taskTime);
        out.add(d.status);
        out.add(d.statusTime);
        out.add(d.vehicleId);
        out.add(d.stopSequence);
        return out;
    }
}
