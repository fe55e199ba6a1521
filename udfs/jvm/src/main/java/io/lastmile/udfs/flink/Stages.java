package io.lastmile.udfs.flink;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.types.Row;

import io.lastmile.udfs.DecodeRecords;
import io.lastmile.udfs.Intake;
import io.lastmile.udfs.core.Colocation.Routed;
import io.lastmile.udfs.core.Consolidation.Offer;
import io.lastmile.udfs.core.Pings;
import io.lastmile.udfs.core.Pings.PingBatch;
import io.lastmile.udfs.core.Stops;

/**
 * The JVM stages of the coordination job, each keyed and typed, for jobs/coordination.py's
 * {@code jvm_stages} to wire (names and uids are set there): the graph stays in the job module,
 * the Java here only does what Python cannot express through py4j (key selectors, types).
 */
public final class Stages {
    private Stages() {
    }

    /** Accepted tasks and statuses, by shipment, into the {@link Registry}. */
    public static SingleOutputStreamOperator<Routed> registry(DataStream<Row> accepted, double radiusM, long latenessMs,
                                                             long intervalMs, Outputs outputs) {
        return accepted.filter(row -> !"capacity_offers".equals(row.getField(Accepted.KIND)))
                .name("tasks and statuses")
                .keyBy(Registry.BY_SHIPMENT, TypeInformation.of(String.class))
                .process(new Registry(radiusM, latenessMs, intervalMs, outputs), TypeInformation.of(Routed.class));
    }

    /** The Registry's cell messages, by cell, into the {@link Matcher}. */
    public static SingleOutputStreamOperator<Void> matcher(DataStream<Routed> routed, double radiusM, long latenessMs,
                                                          String inboxKey, String sharing, Outputs outputs) {
        return routed.keyBy(Matcher.BY_CELL, TypeInformation.of(Long.class))
                .process(new Matcher(radiusM, latenessMs, inboxKey, sharing, outputs), TypeInformation.of(Void.class));
    }

    /** The Matcher's inbox candidates, by receiver and other shipment, into the {@link Disclosure}. */
    public static SingleOutputStreamOperator<Void> disclosure(DataStream<Disclosure.Candidate> candidates,
                                                             Outputs outputs) {
        return candidates.keyBy(Disclosure.BY_KEY, TypeInformation.of(String.class))
                .process(new Disclosure(outputs), TypeInformation.of(Void.class));
    }

    /** The Matcher's links by neighbourhood, with every accepted capacity offer broadcast, into the {@link Consolidator}. */
    public static SingleOutputStreamOperator<Void> consolidator(DataStream<Matcher.Links> links, DataStream<Row> accepted,
                                                               String inboxKey, String sharing, Outputs outputs) {
        DataStream<Offer> offers = accepted.filter(row -> "capacity_offers".equals(row.getField(Accepted.KIND)))
                .name("capacity offers")
                .map(Consolidator::offer, TypeInformation.of(Offer.class)).name("offers");
        return links.keyBy(Matcher.BY_NEIGHBOURHOOD, TypeInformation.of(Long.class))
                .connect(offers.broadcast(Consolidator.OFFERS))
                .process(new Consolidator(inboxKey, sharing, outputs), TypeInformation.of(Void.class));
    }

    /** Vehicle positions ({@link KafkaRows}) decoded and checked: {@link Pings.VehiclePing}s on the
     * main output, what was refused or late on {@link DecodeRecords#REFUSED}, the ClickHouse rows on
     * {@link DecodeRecords#ROWS}. */
    public static SingleOutputStreamOperator<Pings.VehiclePing> decodePositions(DataStream<Row> rows) {
        return rows.process(new DecodeRecords.Positions(), TypeInformation.of(Pings.VehiclePing.class));
    }

    /** Tasks, statuses and offers ({@link KafkaRows}) decoded and checked: {@link DecodeRecords#ACCEPTED}
     * rows on the main output, the rest as {@link #decodePositions}. */
    public static SingleOutputStreamOperator<Row> decodeEvents(DataStream<Row> rows) {
        return rows.process(new DecodeRecords.Events(), DecodeRecords.ACCEPTED);
    }

    /** What the decoding refused or found late ({@link DecodeRecords#REFUSED}), decided by the {@link Intake}:
     * {@link DecodeRecords#ACCEPTED} rows on the main output, accepted positions on {@link Intake#PINGS},
     * dead letters and rows as frames. */
    public static SingleOutputStreamOperator<Row> intake(DataStream<Row> refused, Outputs outputs) {
        return refused.process(new Intake(outputs), DecodeRecords.ACCEPTED);
    }

    /** Positions the Python Intake accepted, rows {@code (partner_id, vehicle_id, "ts,lat,lng,speed")}, as pings. */
    public static SingleOutputStreamOperator<Pings.VehiclePing> intakePings(DataStream<Row> rows) {
        return rows.flatMap((Row row, org.apache.flink.util.Collector<Pings.VehiclePing> out) -> {
            String key = Pings.vehicleKey((String) row.getField(0), (String) row.getField(1));
            for (Pings.Ping ping : Pings.parsePings((String) row.getField(2))) {
                out.collect(new Pings.VehiclePing(key, ping));
            }
        }, TypeInformation.of(Pings.VehiclePing.class));
    }

    /** Pings by van into {@link PingWindows}: one batch per van and interval. */
    public static SingleOutputStreamOperator<PingBatch> pingWindows(DataStream<Pings.VehiclePing> pings, long intervalMs) {
        return pings.keyBy(Pings.VehiclePing::key, TypeInformation.of(String.class))
                .process(new PingWindows(intervalMs), TypeInformation.of(PingBatch.class));
    }

    /** Ping batches as the Python stages read them: {@code (partner_id, vehicle_id, "ts,lat,lng,speed;...")}. */
    public static SingleOutputStreamOperator<Row> pingRows(DataStream<PingBatch> batches) {
        return batches.map(batch -> {
            StringBuilder text = new StringBuilder();
            for (Pings.Ping p : batch.pings()) {
                if (text.length() > 0) {
                    text.append(';');
                }
                text.append(p.ts()).append(',').append(p.lat()).append(',').append(p.lng()).append(',');
                if (p.hasSpeed()) {
                    text.append(p.speedMps());
                }
            }
            int colon = batch.key().indexOf(':');
            return Row.of(batch.key().substring(0, colon), batch.key().substring(colon + 1), text.toString());
        }, new org.apache.flink.api.java.typeutils.RowTypeInfo(
                new TypeInformation<?>[]{org.apache.flink.api.common.typeinfo.Types.STRING,
                    org.apache.flink.api.common.typeinfo.Types.STRING, org.apache.flink.api.common.typeinfo.Types.STRING},
                new String[]{"partner_id", "vehicle_id", "pings"}));
    }

    /** ClickHouse rows as frames (udfs/sinks/frames.py), one per row: what the graph tests read. */
    public static SingleOutputStreamOperator<byte[]> frames(DataStream<TableRow> rows, Outputs outputs) {
        return rows.map(new org.apache.flink.api.common.functions.RichMapFunction<TableRow, byte[]>() {
            private transient Outputs.Call call;

            @Override
            public byte[] map(TableRow row) {
                if (call == null) {
                    call = outputs.open();
                }
                byte[][] frame = new byte[1][];
                call.row(row.table(), row.values());
                call.emit((tag, bytes) -> frame[0] = bytes);
                return frame[0];
            }
        }, org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
    }

    /** Ping batches, by vehicle, into the {@link Tracker}. */
    public static SingleOutputStreamOperator<Tracker.Segments> tracker(DataStream<PingBatch> batches, Outputs outputs) {
        return batches.keyBy(PingBatch::key, TypeInformation.of(String.class))
                .process(new Tracker(outputs), TypeInformation.of(Tracker.Segments.class));
    }

    /** The Tracker's segments, by district, into {@link Profiles}. */
    public static SingleOutputStreamOperator<Profiles.Published> profiles(DataStream<Tracker.Segments> segments,
                                                                         long intervalMs, long ttlMs) {
        return segments.keyBy(Tracker.Segments::district, TypeInformation.of(Long.class))
                .process(new Profiles(intervalMs, ttlMs), TypeInformation.of(Profiles.Published.class));
    }

    /** Ping batches and the Registry's stop changes, by vehicle, with every district's speeds
     * broadcast, into {@link Routes}: the ETAs. */
    public static SingleOutputStreamOperator<Void> eta(DataStream<PingBatch> batches, DataStream<Stops.Change> stops,
                                                      DataStream<Profiles.Published> speeds, long intervalMs,
                                                      Outputs outputs) {
        TypeInformation<Routes.Input> input = TypeInformation.of(Routes.Input.class);
        return batches.map(Routes.Input::of, input).name("ping batches to routes")
                .union(stops.map(Routes.Input::of, input).name("stops to routes"))
                .keyBy(Routes.BY_VEHICLE, TypeInformation.of(String.class))
                .connect(speeds.broadcast(Routes.SPEEDS))
                .process(new Routes(intervalMs, outputs), TypeInformation.of(Void.class));
    }
}
