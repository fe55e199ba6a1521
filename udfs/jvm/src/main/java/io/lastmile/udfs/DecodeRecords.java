package io.lastmile.udfs;

import java.util.function.Function;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.util.Utf8;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import io.lastmile.udfs.core.H3;
import io.lastmile.udfs.core.Pings;
import io.lastmile.udfs.flink.TableRow;

/**
 * Partner records ({@code flink.KafkaRows} rows) decoded and checked against the contract
 * ({@link Contract}), on the JVM: the first step of the coordination job for every record.
 *
 * <p>What it accepts and finds on time goes on: positions as {@link Pings.VehiclePing}s (to the
 * ping windows of their van), tasks, the statuses the Registry tracks and capacity offers as
 * {@link #ACCEPTED} rows; the ClickHouse rows of accepted positions, statuses and offers on
 * {@link #ROWS} (tasks are written by the Registry, which knows their versions). What it does
 * not accept, or finds late, goes to {@link #REFUSED} with the watermark it was judged by: the
 * Intake decides (a dead letter with its reason, or accepted after all). Late: a position whose
 * Kafka timestamp or event time, a status whose event time, an offer whose start is behind the
 * watermark; a task's lateness depends on its window (the Registry judges it).
 */
public abstract class DecodeRecords<T> extends ProcessFunction<Row, T> {
    private static final long serialVersionUID = 1L;
    static final int SHARED_RESOLUTION = 10;
    /**
     * The fields of tasks, statuses and offers, sharing one row (each type leaves the others'
     * null): every field of the current versions, in schema order, each once, with its Flink type.
     * udfs.contracts.jvm_export.decoded_fields lists the same (tests/unit/test_jvm_contract.py).
     */
    public static final String[] FIELDS = {
            "event_id", "partner_id", "shipment_id", "event_time", "dest_lat", "dest_lng", "window_start", "window_end",
            "recipient_key", "parcel_count", "volume_l", "weight_kg", "retailer_id", "service_level", "status",
            "vehicle_id", "stop_sequence", "lat", "lng", "reason", "depot_lat", "depot_lng", "available_from",
            "available_to", "spare_volume_l", "spare_stops"};
    private static final TypeInformation<?>[] FIELD_TYPES = {
            Types.STRING, Types.STRING, Types.STRING, Types.LONG, Types.DOUBLE, Types.DOUBLE, Types.LONG, Types.LONG,
            Types.STRING, Types.INT, Types.DOUBLE, Types.DOUBLE, Types.STRING, Types.STRING, Types.STRING,
            Types.STRING, Types.INT, Types.DOUBLE, Types.DOUBLE, Types.STRING, Types.DOUBLE, Types.DOUBLE, Types.LONG,
            Types.LONG, Types.DOUBLE, Types.INT};

    /** The last column of the event tables' rows and of {@link #ACCEPTED}: the version of the
     * schema the partner wrote the record with (udfs.rows; the schema-adherence KPI). */
    public static final String SCHEMA_VERSION = "schema_version";

    /** {@code (payload, topic, partition, offset, ts, judged_watermark)}: for the Intake. */
    public static final RowTypeInfo REFUSED_TYPE = new RowTypeInfo(
            new TypeInformation<?>[]{Types.PRIMITIVE_ARRAY(Types.BYTE), Types.STRING, Types.INT, Types.LONG, Types.LONG,
                Types.LONG},
            new String[]{"payload", "topic", "partition", "offset", "ts", "judged_watermark"});
    public static final OutputTag<Row> REFUSED = new OutputTag<>("refused", REFUSED_TYPE);
    public static final OutputTag<TableRow> ROWS = new OutputTag<>("raw-rows", TypeInformation.of(TableRow.class));
    /** {@code (kind, topic, partition, offset, ingested_at, *FIELDS, schema_version)} (udfs.flink.intake.ACCEPTED_ROW). */
    public static final RowTypeInfo ACCEPTED = acceptedType();

    private transient Contract.Reader reader;

    @Override
    public void open(OpenContext context) {
        reader = Contract.INSTANCE.new Reader();
    }

    @Override
    public void processElement(Row raw, Context ctx, Collector<T> out) {
        long now = System.currentTimeMillis();
        String topic = (String) raw.getField(1);
        long watermark = ctx.timerService().currentWatermark();
        String stream = topic.substring(topic.lastIndexOf('.') + 1);
        String name = Contract.INSTANCE.recordOfStream.get(stream);
        GenericRecord r = name == null ? null : reader.accept((byte[]) raw.getField(0), topic, name, now);
        // not late before the first watermark (SQL's CURRENT_WATERMARK is null then)
        if (r == null || watermark != Long.MIN_VALUE && late(r, name, (Long) raw.getField(4), watermark)) {
            ctx.output(REFUSED, Row.of(raw.getField(0), topic, raw.getField(2), raw.getField(3), raw.getField(4),
                    watermark == Long.MIN_VALUE ? null : watermark));
            return;
        }
        accepted(r, name, stream, raw, now, ctx, out);
    }

    abstract boolean late(GenericRecord r, String name, long ts, long watermark);

    abstract void accepted(GenericRecord r, String name, String stream, Row raw, long now, Context ctx, Collector<T> out);

    /** Vehicle positions, to the ping windows of their van. */
    public static final class Positions extends DecodeRecords<Pings.VehiclePing> {
        private static final long serialVersionUID = 1L;

        @Override
        boolean late(GenericRecord r, String name, long ts, long watermark) {
            return ts < watermark || (Long) r.get("event_time") < watermark;
        }

        @Override
        void accepted(GenericRecord r, String name, String stream, Row raw, long now, Context ctx,
                      Collector<Pings.VehiclePing> out) {
            Function<String, Object> field = f -> value(r, name, f);
            ctx.output(ROWS, new TableRow(stream, eventRow(stream, raw, now, field)));
            Double speed = (Double) field.apply("speed_mps");
            out.collect(new Pings.VehiclePing(
                    Pings.vehicleKey((String) field.apply("partner_id"), (String) field.apply("vehicle_id")),
                    new Pings.Ping((Long) field.apply("event_time"), (Double) field.apply("lat"),
                            (Double) field.apply("lng"), speed == null ? Pings.NO_SPEED : speed)));
        }
    }

    /** Delivery tasks, statuses and capacity offers, as {@link #ACCEPTED} rows. */
    public static final class Events extends DecodeRecords<Row> {
        private static final long serialVersionUID = 1L;

        @Override
        boolean late(GenericRecord r, String name, long ts, long watermark) {
            if (name.equals("DeliveryTask")) {
                return false; // the Registry judges a task by its window
            }
            return (Long) r.get(name.equals("CapacityOffer") ? "available_from" : "event_time") < watermark;
        }

        @Override
        void accepted(GenericRecord r, String name, String stream, Row raw, long now, Context ctx, Collector<Row> out) {
            Function<String, Object> field = f -> value(r, name, f);
            if (!stream.equals("delivery_tasks")) { // a task's row: the Registry's, which knows its versions
                ctx.output(ROWS, new TableRow(stream, eventRow(stream, raw, now, field)));
            }
            if (!stream.equals("shipment_status") || Intake.tracked((String) field.apply("status"))) {
                out.collect(acceptedRow(stream, raw, now, field));
            }
        }
    }

    /**
     * The ClickHouse row of an accepted position, status or offer (udfs.rows.event_row: H3 cells,
     * resolution 10, instead of coordinates); {@code field} gives the record's values by name,
     * {@code raw} is where it came from (a {@link #REFUSED} or source row).
     */
    static Object[] eventRow(String stream, Row raw, long now, Function<String, Object> field) {
        Object topic = raw.getField(1), partition = raw.getField(2), offset = raw.getField(3);
        switch (stream) {
            case "vehicle_positions":
                return new Object[]{field.apply("event_id"), field.apply("partner_id"), field.apply("vehicle_id"),
                    field.apply("event_time"), now, cell(field.apply("lat"), field.apply("lng")),
                    field.apply("speed_mps"), field.apply("load_volume_l"), field.apply("capacity_volume_l"), topic,
                    partition, offset, field.apply(SCHEMA_VERSION)};
            case "shipment_status":
                return new Object[]{field.apply("event_id"), field.apply("partner_id"), field.apply("shipment_id"),
                    field.apply("event_time"), now, field.apply("status"), field.apply("vehicle_id"),
                    field.apply("stop_sequence"), cell(field.apply("lat"), field.apply("lng")), field.apply("reason"),
                    topic, partition, offset, field.apply(SCHEMA_VERSION)};
            case "capacity_offers":
                return new Object[]{field.apply("event_id"), field.apply("partner_id"), field.apply("vehicle_id"),
                    field.apply("available_from"), now, cell(field.apply("depot_lat"), field.apply("depot_lng")),
                    field.apply("available_from"), field.apply("available_to"), field.apply("spare_volume_l"),
                    field.apply("spare_stops"), topic, partition, offset, field.apply(SCHEMA_VERSION)};
            default:
                throw new IllegalArgumentException("no table for stream " + stream);
        }
    }

    private static Long cell(Object lat, Object lng) {
        return lat == null ? null : H3.latLngToCell((Double) lat, (Double) lng, SHARED_RESOLUTION);
    }

    /** An {@link #ACCEPTED} row: {@code (kind, topic, partition, offset, ingested_at, *fields, schema_version)}. */
    static Row acceptedRow(String stream, Row raw, long now, Function<String, Object> field) {
        Row row = new Row(6 + FIELDS.length);
        row.setField(0, stream);
        row.setField(1, raw.getField(1));
        row.setField(2, raw.getField(2));
        row.setField(3, raw.getField(3));
        row.setField(4, now);
        for (int i = 0; i < FIELDS.length; i++) {
            row.setField(5 + i, field.apply(FIELDS[i]));
        }
        row.setField(5 + FIELDS.length, field.apply(SCHEMA_VERSION));
        return row;
    }

    private static RowTypeInfo acceptedType() {
        String[] names = new String[6 + FIELDS.length];
        TypeInformation<?>[] types = new TypeInformation<?>[names.length];
        String[] meta = {"kind", "topic", "partition", "offset", "ingested_at"};
        TypeInformation<?>[] metaTypes = {Types.STRING, Types.STRING, Types.INT, Types.LONG, Types.LONG};
        System.arraycopy(meta, 0, names, 0, 5);
        System.arraycopy(metaTypes, 0, types, 0, 5);
        System.arraycopy(FIELDS, 0, names, 5, FIELDS.length);
        System.arraycopy(FIELD_TYPES, 0, types, 5, FIELDS.length);
        names[5 + FIELDS.length] = SCHEMA_VERSION;
        types[5 + FIELDS.length] = Types.INT;
        return new RowTypeInfo(types, names);
    }

    /** A field of {@code r} (a record of {@code name}) in its Java form; a default of the current
     * version where the writer's version lacks it. */
    static Object value(GenericRecord r, String name, String field) {
        if (field.equals(SCHEMA_VERSION)) {
            return Contract.INSTANCE.writerVersion(r);
        }
        org.apache.avro.Schema.Field f = r.getSchema().getField(field);
        if (f == null) {
            JsonNode d = Contract.INSTANCE.defaults.get(name + "." + field);
            if (d == null || d.isNull()) {
                return null;
            }
            return d.isTextual() ? d.asText() : d.isInt() ? (Object) d.asInt() : d.isLong() ? (Object) d.asLong()
                    : d.isNumber() ? (Object) d.asDouble() : d.isBoolean() ? (Object) d.asBoolean() : null;
        }
        Object v = r.get(f.pos());
        return v instanceof Utf8 ? v.toString() : v;
    }
}
