package io.lastmile.udfs.flink;

import java.util.List;

import org.apache.flink.types.Row;

import io.lastmile.udfs.AvroRecords;
import io.lastmile.udfs.DecodeRecords;

/**
 * An accepted task, status or offer as it reaches the JVM stages: {@code (kind, topic,
 * partition, offset, ingested_at, *DecodeRecords.FIELDS, schema_version)}, what jobs.coordination.event_path's
 * {@code accepted} selects and the Python Intake emits (udfs.flink.coordination.ACCEPTED_ROW).
 */
public final class Accepted {
    public static final int KIND = 0, TOPIC = 1, PARTITION = 2, OFFSET = 3, INGESTED_AT = 4;
    private static final int META = 5;
    public static final int EVENT_ID = index("event_id"), PARTNER_ID = index("partner_id"),
            SHIPMENT_ID = index("shipment_id"), EVENT_TIME = index("event_time"), DEST_LAT = index("dest_lat"),
            DEST_LNG = index("dest_lng"), WINDOW_START = index("window_start"), WINDOW_END = index("window_end"),
            RECIPIENT_KEY = index("recipient_key"), PARCEL_COUNT = index("parcel_count"),
            VOLUME_L = index("volume_l"), WEIGHT_KG = index("weight_kg"), RETAILER_ID = index("retailer_id"),
            SERVICE_LEVEL = index("service_level"), STATUS = index("status"), VEHICLE_ID = index("vehicle_id"),
            STOP_SEQUENCE = index("stop_sequence"), DEPOT_LAT = index("depot_lat"), DEPOT_LNG = index("depot_lng"),
            AVAILABLE_FROM = index("available_from"), AVAILABLE_TO = index("available_to"),
            SPARE_VOLUME_L = index("spare_volume_l"), SPARE_STOPS = index("spare_stops");
    /** The version of the schema the partner wrote the record with. */
    public static final int SCHEMA_VERSION = META + DecodeRecords.FIELDS.length;

    private Accepted() {
    }

    private static int index(String field) {
        int i = List.of(DecodeRecords.FIELDS).indexOf(field);
        if (i < 0) {
            throw new IllegalStateException("DecodeRecords has no field " + field);
        }
        return META + i;
    }

    public static String text(Row row, int field) {
        return (String) row.getField(field);
    }

    public static long time(Row row, int field) {
        return (Long) row.getField(field);
    }

    public static double number(Row row, int field) {
        return (Double) row.getField(field);
    }

    /** {@code topic/partition/offset}, as udfs.records.Source prints it. */
    public static String source(Row row) {
        return row.getField(TOPIC) + "/" + row.getField(PARTITION) + "/" + row.getField(OFFSET);
    }

    /** The row's record as Avro single-object bytes of {@code recordName}'s current schema
     * (udfs.contracts.wire.encode of the internal form): what a dead letter keeps. */
    public static byte[] encode(AvroRecords avro, String recordName, Row row) {
        List<org.apache.avro.Schema.Field> fields = avro.fields(recordName);
        Object[] values = new Object[fields.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = row.getField(index(fields.get(i).name()));
        }
        return avro.encode(recordName, values);
    }
}
