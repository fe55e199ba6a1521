package io.lastmile.udfs;

import org.apache.avro.generic.GenericRecord;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.types.Row;

/**
 * {@code LATERAL TABLE(LASTMILE_DECODE_POSITION(payload BYTES, topic STRING))}: one row per
 * input, the VehiclePosition decoded from its Avro single-object bytes and checked by the
 * contract's rules, with its resolution-10 H3 cell and the time it was taken in.
 *
 * <p>{@code ok} is false when the record is not accepted here: the job then hands the bytes to
 * the Python reference ({@code udfs.contracts.intake.from_wire}), which writes the dead letter
 * with its reason (see {@link Contract}). A table function, so the decode runs once per record
 * whatever columns the query reads; not deterministic (the future-time rule reads the clock).
 */
@FunctionHint(output = @DataTypeHint(DecodePosition.ROW))
public class DecodePosition extends ContractFunction {

    public static final String ROW = "ROW<ok BOOLEAN, event_id STRING, partner_id STRING, vehicle_id STRING, "
            + "event_time BIGINT, lat DOUBLE, lng DOUBLE, speed_mps DOUBLE, load_volume_l DOUBLE, "
            + "capacity_volume_l DOUBLE, h3_cell BIGINT, ingested_at BIGINT>";

    public void eval(byte[] payload, String topic) {
        long now = System.currentTimeMillis();
        GenericRecord r = reader.accept(payload, topic, "VehiclePosition", now);
        if (r == null) {
            collect(Row.of(false, null, null, null, null, null, null, null, null, null, null, now));
            return;
        }
        double lat = (Double) r.get("lat"), lng = (Double) r.get("lng");
        collect(Row.of(true, r.get("event_id").toString(), r.get("partner_id").toString(), r.get("vehicle_id").toString(),
                (Long) r.get("event_time"), lat, lng, (Double) r.get("speed_mps"), (Double) r.get("load_volume_l"),
                (Double) r.get("capacity_volume_l"), h3.latLngToCell(lat, lng, SHARED_RESOLUTION), now));
    }
}
