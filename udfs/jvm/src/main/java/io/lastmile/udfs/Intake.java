package io.lastmile.udfs;

import java.util.function.Function;

import org.apache.avro.generic.GenericRecord;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

import io.lastmile.udfs.core.Colocation;
import io.lastmile.udfs.core.Deliveries;
import io.lastmile.udfs.core.Pings;
import io.lastmile.udfs.flink.DeadLetters;
import io.lastmile.udfs.flink.Outputs;

/**
 * What {@link DecodeRecords} did not accept or found late ({@link DecodeRecords#REFUSED} rows),
 * decided as the Python reference decides it (udfs.flink.intake.Intake, step for step, with
 * {@link Contract.Reader#decide} for udfs.contracts.intake.from_wire): a dead letter with its
 * reason, or accepted after all (what the fast path was merely stricter about) and sent on like
 * the fast path's records: tasks, tracked statuses and offers as {@link DecodeRecords#ACCEPTED}
 * rows, positions as pings on {@link #PINGS}, their ClickHouse rows and the dead letters as
 * frames ({@link Outputs}). The watermark the fast path judged a record by counts as well as this
 * operator's own, which may still lag behind it.
 */
public final class Intake extends ProcessFunction<Row, Row> {
    private static final long serialVersionUID = 1L;
    public static final OutputTag<Pings.VehiclePing> PINGS =
            new OutputTag<>("intake-pings", TypeInformation.of(Pings.VehiclePing.class));

    private final Outputs outputs;
    private transient Contract.Reader reader;
    private transient Outputs.Call out;
    private transient AvroRecords avro;

    public Intake(Outputs outputs) {
        this.outputs = outputs;
    }

    @Override
    public void open(OpenContext context) {
        reader = Contract.INSTANCE.new Reader();
        out = outputs.open();
        avro = new AvroRecords();
    }

    @Override
    public void processElement(Row raw, Context ctx, Collector<Row> accepted) {
        byte[] payload = (byte[]) raw.getField(0);
        String topic = (String) raw.getField(1);
        String source = topic + "/" + raw.getField(2) + "/" + raw.getField(3);
        String partner = Contract.INSTANCE.partnerOfTopic(topic);
        String stream = topic.substring(topic.lastIndexOf('.') + 1);
        String name = Contract.INSTANCE.recordOfStream.get(stream);
        long now = System.currentTimeMillis();
        Decision decision = reader.decide(payload, topic, name, now);
        if (!decision.isAccepted()) {
            DeadLetters.write(out, avro, source, decision.stage(), decision.reason(), decision.message(), payload,
                    partner, now);
            out.emit(ctx::output);
            return;
        }
        GenericRecord r = decision.record();
        Function<String, Object> field = f -> DecodeRecords.value(r, name, f);
        if (stream.equals("delivery_tasks")) {
            accepted.collect(DecodeRecords.acceptedRow(stream, raw, now, field));
            return;
        }
        Object time = field.apply(name.equals("CapacityOffer") ? "available_from" : "event_time");
        long eventTime = (Long) time;
        long watermark = ctx.timerService().currentWatermark();
        Long judged = (Long) raw.getField(5);
        if (judged != null) {
            watermark = Math.max(watermark, judged);
        }
        if (eventTime < watermark) {
            DeadLetters.write(out, avro, source, "event-time", "late",
                    "event_time is " + Colocation.seconds(watermark - eventTime) + " s behind the watermark", payload,
                    partner, now);
            out.emit(ctx::output);
            return;
        }
        out.row(stream, DecodeRecords.eventRow(stream, raw, now, field));
        out.emit(ctx::output);
        if (stream.equals("vehicle_positions")) {
            Double speed = (Double) field.apply("speed_mps");
            ctx.output(PINGS, new Pings.VehiclePing(
                    Pings.vehicleKey((String) field.apply("partner_id"), (String) field.apply("vehicle_id")),
                    new Pings.Ping(eventTime, (Double) field.apply("lat"), (Double) field.apply("lng"),
                            speed == null ? Pings.NO_SPEED : speed)));
        } else if (stream.equals("capacity_offers") || tracked((String) field.apply("status"))) {
            accepted.collect(DecodeRecords.acceptedRow(stream, raw, now, field));
        }
    }

    static boolean tracked(String status) {
        return Deliveries.isOpen(status) || Deliveries.isFinal(status);
    }
}
