package io.lastmile.udfs.sinks;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichFlatMapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.types.Row;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.admin.Admin;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.admin.NewTopic;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.errors.TopicExistsException;
import org.apache.flink.util.Collector;

/**
 * Splits Kafka frames (udfs/sinks/frames.py) into {@code Row(topic, key, value)} records for
 * Flink's {@link KafkaSink}, which {@link #sink} builds: it flushes the producer on every
 * checkpoint (at least once), or writes in transactions committed with the checkpoint
 * (exactly once, for consumers that read committed).
 *
 * <p>A topic it has not written to yet is created first when missing ({@code partitions}
 * partitions, the cluster's default replication), so a new partner's inbox needs no set-up (udfs.contracts.topics; lastmile.topics
 * creates the fixed ones at {@code lastmile up}).
 */
public final class KafkaFrames extends RichFlatMapFunction<byte[], Row> implements ResultTypeQueryable<Row> {
    private static final long serialVersionUID = 1L;

    private final Properties admin;
    private final int partitions;
    private transient Set<String> known;

    /** {@code admin}: client properties of the cluster (bootstrap servers, security). */
    public KafkaFrames(Properties admin, int partitions) {
        this.admin = admin;
        this.partitions = partitions;
    }

    @Override
    public void open(OpenContext context) {
        known = new HashSet<>();
    }

    @Override
    public void flatMap(byte[] frame, Collector<Row> out) throws Exception {
        ByteBuffer buf = ByteBuffer.wrap(frame);
        while (buf.hasRemaining()) {
            String topic = new String(take(buf, buf.getInt()), StandardCharsets.UTF_8);
            if (!known.contains(topic)) {
                ensure(topic);
                known.add(topic);
            }
            int k = buf.getInt();
            byte[] key = k < 0 ? null : take(buf, k);
            byte[] value = take(buf, buf.getInt());
            out.collect(Row.of(topic, key, value));
        }
    }

    private void ensure(String topic) throws InterruptedException {
        Properties props = new Properties();
        props.putAll(admin);
        props.putIfAbsent(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        try (Admin client = Admin.create(props)) {
            Set<String> names = client.listTopics().names().get(30, TimeUnit.SECONDS);
            if (names.contains(topic)) {
                return;
            }
            client.createTopics(List.of(new NewTopic(topic, java.util.Optional.of(partitions), java.util.Optional.empty()))).all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new IllegalStateException("could not create topic " + topic + ": " + e.getCause(), e.getCause());
            }
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("could not create topic " + topic + ": Kafka did not answer in 30 s", e);
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
        return KafkaSink.<Row>builder()
                .setBootstrapServers(bootstrap)
                .setKafkaProducerConfig(producerConfig)
                .setRecordSerializer(new Records())
                .setDeliveryGuarantee(DeliveryGuarantee.valueOf(guarantee))
                .setTransactionalIdPrefix(transactionalIdPrefix)
                .build();
    }

    /**
     * {@code Row(topic, key, value)} as a producer record. Not the builder's topic selector, which
     * caches the topic per element and so hashed every record's key and value bytes.
     */
    static final class Records implements KafkaRecordSerializationSchema<Row> {
        private static final long serialVersionUID = 1L;

        @Override
        public ProducerRecord<byte[], byte[]> serialize(Row row, KafkaSinkContext context, Long timestamp) {
            return new ProducerRecord<>((String) row.getField(0), null, timestamp, (byte[]) row.getField(1),
                    (byte[]) row.getField(2));
        }
    }
}
