package io.lastmile.udfs.flink;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.types.Row;

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
                                                          Outputs outputs) {
        return routed.keyBy(Matcher.BY_CELL, TypeInformation.of(Long.class))
                .process(new Matcher(radiusM, latenessMs, outputs), TypeInformation.of(Void.class));
    }

    /** The Matcher's links by neighbourhood, with every accepted capacity offer broadcast, into the {@link Consolidator}. */
    public static SingleOutputStreamOperator<Void> consolidator(DataStream<Matcher.Links> links, DataStream<Row> accepted,
                                                               Outputs outputs) {
        DataStream<Offer> offers = accepted.filter(row -> "capacity_offers".equals(row.getField(Accepted.KIND)))
                .name("capacity offers")
                .map(Consolidator::offer, TypeInformation.of(Offer.class)).name("offers");
        return links.keyBy(Matcher.BY_NEIGHBOURHOOD, TypeInformation.of(Long.class))
                .connect(offers.broadcast(Consolidator.OFFERS))
                .process(new Consolidator(outputs), TypeInformation.of(Void.class));
    }

    /** Ping batch rows {@code (partner_id, vehicle_id, "ts,lat,lng,speed;...")} as {@link PingBatch}es. */
    public static SingleOutputStreamOperator<PingBatch> pingBatches(DataStream<Row> rows) {
        return rows.map(row -> Pings.batchFromRow((String) row.getField(0), (String) row.getField(1),
                (String) row.getField(2)), TypeInformation.of(PingBatch.class));
    }

    /** Ping batches, by vehicle, into the {@link Tracker}. */
    public static SingleOutputStreamOperator<Tracker.Segments> tracker(DataStream<PingBatch> batches) {
        return batches.keyBy(PingBatch::key, TypeInformation.of(String.class))
                .process(new Tracker(), TypeInformation.of(Tracker.Segments.class));
    }

    /** The Tracker's segments, by district, into {@link Profiles}. */
    public static SingleOutputStreamOperator<Profiles.Published> profiles(DataStream<Tracker.Segments> segments,
                                                                         long intervalMs) {
        return segments.keyBy(Tracker.Segments::district, TypeInformation.of(Long.class))
                .process(new Profiles(intervalMs), TypeInformation.of(Profiles.Published.class));
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
