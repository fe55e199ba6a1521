package io.lastmile.udfs.sinks;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Properties;

import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.TopicSelector;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * Splits Kafka frames (udfs/sinks/frames.py) into {@code Row(topic, key, value)} records for
 * Flink's {@link KafkaSink}, which {@link #sink} builds: it flushes the producer on every
 * checkpoint (at least once), or writes in transactions committed with the checkpoint
 * (exactly once, for consumers that read committed).
 */
public final class KafkaFrames implements FlatMapFunction<byte[], Row>, ResultTypeQueryable<Row> {
    private static final long serialVersionUID = 1L;

    @Override
    public void flatMap(byte[] frame, Collector<Row> out) {
        ByteBuffer buf = ByteBuffer.wrap(frame);
        while (buf.hasRemaining()) {
            String topic = new String(take(buf, buf.getInt()), StandardCharsets.UTF_8);
            int k = buf.getInt();
            byte[] key = k < 0 ? null : take(buf, k);
            byte[] value = take(buf, buf.getInt());
            out.collect(Row.of(topic, key, value));
        }
    }

    private static byte[] take(ByteBuffer buf, int n) {
        byte[] bytes = new byte[n];
        buf.get(bytes);
        return bytes;
    }

    @Override
    public TypeInformation<Row> getProducedType() {
        return Types.ROW(Types.STRING, Types.PRIMITIVE_ARRAY(Types.BYTE), Types.PRIMITIVE_ARRAY(Types.BYTE));
    }

    /** Flink's Kafka sink for the records of {@link KafkaFrames}; {@code guarantee} names a
     * {@link DeliveryGuarantee} (AT_LEAST_ONCE or EXACTLY_ONCE). */
    public static KafkaSink<Row> sink(String bootstrap, Properties producerConfig, String guarantee,
                                      String transactionalIdPrefix) {
        KafkaRecordSerializationSchema<Row> records = KafkaRecordSerializationSchema.<Row>builder()
                .setTopicSelector((TopicSelector<Row>) row -> (String) row.getField(0))
                .setKeySerializationSchema((SerializationSchema<Row>) row -> (byte[]) row.getField(1))
                .setValueSerializationSchema((SerializationSchema<Row>) row -> (byte[]) row.getField(2))
                .build();
        return KafkaSink.<Row>builder()
                .setBootstrapServers(bootstrap)
                .setKafkaProducerConfig(producerConfig)
                .setRecordSerializer(records)
                .setDeliveryGuarantee(DeliveryGuarantee.valueOf(guarantee))
                .setTransactionalIdPrefix(transactionalIdPrefix)
                .build();
    }
}
