package io.lastmile.udfs;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.util.Utf8;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.types.Row;

/**
 * {@code LATERAL TABLE(LASTMILE_DECODE_EVENT(payload BYTES, topic STRING))}: one row per input,
 * a DeliveryTask, ShipmentStatus or CapacityOffer (by the topic's stream) decoded from its Avro
 * single-object bytes and checked by the contract's rules, in the current version of its schema
 * (fields a writer's older version lacks take their defaults), with the resolution-10 H3 cell of
 * its point and the time it was taken in. The fields of all three types share one row; a type
 * leaves the others' null. {@code ok} false: the Python reference decides (see {@link Contract}).
 * The field list is held against avro_schemas/ by tests/unit/test_jvm_contract.py.
 */
@FunctionHint(output = @DataTypeHint(DecodeEvent.ROW))
public class DecodeEvent extends ContractFunction {

    public static final String[] FIELDS = {
            "event_id", "partner_id", "shipment_id", "event_time", "dest_lat", "dest_lng", "window_start", "window_end",
            "recipient_key", "parcel_count", "volume_l", "weight_kg", "retailer_id", "service_level", "status",
            "vehicle_id", "stop_sequence", "lat", "lng", "reason", "depot_lat", "depot_lng", "available_from",
            "available_to", "spare_volume_l", "spare_stops"};
    public static final String ROW = "ROW<ok BOOLEAN, kind STRING, ingested_at BIGINT, h3_cell BIGINT, "
            + "event_id STRING, partner_id STRING, shipment_id STRING, event_time BIGINT, dest_lat DOUBLE, "
            + "dest_lng DOUBLE, window_start BIGINT, window_end BIGINT, recipient_key STRING, parcel_count INT, "
            + "volume_l DOUBLE, weight_kg DOUBLE, retailer_id STRING, service_level STRING, status STRING, "
            + "vehicle_id STRING, stop_sequence INT, lat DOUBLE, lng DOUBLE, reason STRING, depot_lat DOUBLE, "
            + "depot_lng DOUBLE, available_from BIGINT, available_to BIGINT, spare_volume_l DOUBLE, spare_stops INT>";
    static final int META = 4;

    public void eval(byte[] payload, String topic) {
        long now = System.currentTimeMillis();
        String stream = topic == null ? null : topic.substring(topic.lastIndexOf('.') + 1);
        String name = stream == null ? null : Contract.INSTANCE.recordOfStream.get(stream);
        GenericRecord r = name == null || name.equals("VehiclePosition")
                ? null : reader.accept(payload, topic, name, now);
        Row row = new Row(META + FIELDS.length);
        row.setField(0, r != null);
        row.setField(1, stream);
        row.setField(2, now);
        if (r != null) {
            Schema latest = Contract.INSTANCE.latest.get(name);
            for (int i = 0; i < FIELDS.length; i++) {
                if (latest.getField(FIELDS[i]) != null) {
                    row.setField(META + i, value(r, name, FIELDS[i]));
                }
            }
            String[] point = Contract.INSTANCE.fields.get("points").get(name);
            Object lat = row.getField(META + indexOf(point[0])), lng = row.getField(META + indexOf(point[1]));
            if (lat != null && lng != null) {
                row.setField(3, h3.latLngToCell((Double) lat, (Double) lng, SHARED_RESOLUTION));
            }
        }
        collect(row);
    }

    private static int indexOf(String field) {
        for (int i = 0; i < FIELDS.length; i++) {
            if (FIELDS[i].equals(field)) {
                return i;
            }
        }
        throw new IllegalStateException("no field " + field);
    }

    /** The field in its Java form; a default of the current version where the writer's version lacks it. */
    static Object value(GenericRecord r, String name, String field) {
        if (r.getSchema().getField(field) == null) {
            JsonNode d = Contract.INSTANCE.defaults.get(name + "." + field);
            if (d == null || d.isNull()) {
                return null;
            }
            return d.isTextual() ? d.asText() : d.isInt() ? (Object) d.asInt() : d.isLong() ? (Object) d.asLong()
                    : d.isNumber() ? (Object) d.asDouble() : d.isBoolean() ? (Object) d.asBoolean() : null;
        }
        Object v = r.get(field);
        return v instanceof Utf8 ? v.toString() : v;
    }
}
