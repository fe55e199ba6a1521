package io.lastmile.udfs.flink;

import java.time.Duration;
import java.util.Properties;
import java.util.regex.Pattern;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.typeutils.RowTypeInfo;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

import io.lastmile.udfs.Contract;

/**
 * Partner topics as a stream of {@link #TYPE} rows {@code (payload, topic, partition, offset,
 * ts)}: the bytes untouched (what cannot be decoded becomes a dead letter with its offset), the
 * Kafka record timestamp as the event timestamp (partner producers set it to the event's time),
 * watermarks per partition with a bounded out-of-orderness, so reading a backlog of many
 * partitions at different speeds makes nothing late by accident. Flink's KafkaSource, no SQL:
 * planning a job through the table planner cost seconds before it ran.
 */
public final class KafkaRows implements KafkaRecordDeserializationSchema<Row> {
    private static final long serialVersionUID = 1L;
    public static final RowTypeInfo TYPE = new RowTypeInfo(
            new TypeInformation<?>[]{Types.PRIMITIVE_ARRAY(Types.BYTE), Types.STRING, Types.INT, Types.LONG, Types.LONG},
            new String[]{"payload", "topic", "partition", "offset", "ts"});

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Row> out) {
        out.collect(Row.of(record.value(), record.topic(), record.partition(), record.offset(),
                Contract.INSTANCE.sourceTimestamp(record.timestamp(), System.currentTimeMillis())));
    }

    @Override
    public TypeInformation<Row> getProducedType() {
        return TYPE;
    }

    /**
     * The topics matching {@code pattern}, from the earliest offsets; {@code bounded}: up to the
     * offsets they end at now, without partition discovery (what is there now, no more);
     * otherwise new partner topics are found every {@code discoveryMs}, and a partition silent
     * for {@code idleMs}, stuck for as long, or more than {@code maxLagMs} behind the others
     * without catching up ({@link PartitionWatermarks}) does not hold the watermark back.
     */
    public static DataStream<Row> source(StreamExecutionEnvironment env, String name, Properties consumer,
                                         String pattern, String groupId, boolean bounded, long outOfOrdernessMs,
                                         long idleMs, long maxLagMs, long discoveryMs) {
        var builder = KafkaSource.<Row>builder()
                .setProperties(consumer)
                .setTopicPattern(Pattern.compile(pattern))
                .setGroupId(groupId)
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setDeserializer(new KafkaRows())
                .setProperty("partition.discovery.interval.ms", String.valueOf(bounded ? -1 : discoveryMs));
        // A partition stuck in the past or far behind stops counting (PartitionWatermarks), live only.
        long windowMs = bounded ? Long.MAX_VALUE : idleMs;
        long lagMs = bounded ? Long.MAX_VALUE : maxLagMs;
        WatermarkStrategy<Row> watermarks = WatermarkStrategy
                .<Row>forGenerator(context -> new PartitionWatermarks(outOfOrdernessMs, windowMs, lagMs,
                        PartitionWatermarks.Newest.ofJob(context.getMetricGroup().getAllVariables()
                                .getOrDefault("<job_id>", ""))))
                .withTimestampAssigner((row, kafkaTs) -> (Long) row.getField(4));
        if (bounded) {
            builder.setBounded(OffsetsInitializer.latest());
        } else {
            // Only live: a backlog read under backpressure can leave a partition silent for a
            // while; marking it idle would let the watermark overtake its records.
            watermarks = watermarks.withIdleness(Duration.ofMillis(idleMs));
        }
        return env.fromSource(builder.build(), watermarks, name);
    }

    /** A bounded stream like {@link #source}'s with no rows: for a pattern that matches no topic
     * yet (the Kafka source would wait for one and a bounded run never end). */
    public static DataStream<Row> empty(StreamExecutionEnvironment env, String name) {
        // (Flink's collection sources refuse or fail on an empty collection)
        return env.fromSequence(0, 0).filter(n -> false).name(name)
                .map(n -> new Row(TYPE.getArity()), TYPE).name(name);
    }
}
