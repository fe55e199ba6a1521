package io.lastmile.udfs.flink;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.util.OutputTag;

import io.lastmile.udfs.core.Bytes;
import io.lastmile.udfs.sinks.ClickHouseSink;
import io.lastmile.udfs.sinks.RowBinaryValues;

/**
 * What the JVM operators of the coordination job write: ClickHouse rows and Kafka messages,
 * gathered per call into frames on two side outputs, {@link #CLICKHOUSE} and {@link #KAFKA},
 * in the layout of udfs/sinks/frames.py (what the Python stages' EncodeOutputs emits, so both
 * go to the same JVM sinks: {@code ClickHouseSink.frames} and {@code KafkaFrames}).
 *
 * <p>Built from the tables' columns with the server's types (jobs.runtime.clickhouse_columns,
 * as JSON, see {@link #fromJson}). Serializable: operators carry it; the encoders are made in
 * {@link #open}. A {@link Call} is reused by its operator (one thread).
 */
public final class Outputs implements Serializable {
    private static final long serialVersionUID = 1L;
    public static final OutputTag<byte[]> CLICKHOUSE =
            new OutputTag<>("clickhouse-frames", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
    public static final OutputTag<byte[]> KAFKA =
            new OutputTag<>("kafka-frames", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);

    private final String database;
    private final LinkedHashMap<String, ArrayList<String[]>> tables; // table -> (column, ClickHouse type)

    private Outputs(String database, LinkedHashMap<String, ArrayList<String[]>> tables) {
        this.database = database;
        this.tables = tables;
    }

    /** {@code {"database": db, "tables": {table: [[column, type], ...]}}}. */
    public static Outputs fromJson(String json) {
        try {
            JsonNode spec = new ObjectMapper().readTree(json);
            LinkedHashMap<String, ArrayList<String[]>> tables = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = spec.get("tables").fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                ArrayList<String[]> columns = new ArrayList<>();
                for (JsonNode c : e.getValue()) {
                    columns.add(new String[]{c.get(0).asText(), c.get(1).asText()});
                }
                tables.put(e.getKey(), columns);
            }
            Outputs outputs = new Outputs(spec.get("database").asText(), tables);
            outputs.open(); // an unknown column type fails when the job is planned
            return outputs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes {@link TableRow}s straight into {@code ClickHouseSink}'s buffers (the raw partner rows
     * the decoding writes, a sink chained to it). */
    public ClickHouseSink.Encoder<TableRow> rows() {
        return new RowEncoder(this);
    }

    private static final class RowEncoder implements ClickHouseSink.Encoder<TableRow> {
        private static final long serialVersionUID = 1L;
        private final Outputs outputs;
        private transient Map<String, String> queries;
        private transient Map<String, RowBinaryValues> encoders;

        RowEncoder(Outputs outputs) {
            this.outputs = outputs;
        }

        private void init() {
            queries = new java.util.HashMap<>();
            encoders = new java.util.HashMap<>();
            for (Map.Entry<String, ArrayList<String[]>> e : outputs.tables.entrySet()) {
                List<String> names = new ArrayList<>(), types = new ArrayList<>();
                for (String[] c : e.getValue()) {
                    names.add(c[0]);
                    types.add(c[1]);
                }
                queries.put(e.getKey(), outputs.insertQuery(e.getKey()));
                encoders.put(e.getKey(), new RowBinaryValues(e.getKey(), names, types));
            }
        }

        @Override
        public String query(TableRow row) {
            if (queries == null) {
                init();
            }
            return queries.get(row.table());
        }

        @Override
        public void encode(TableRow row, Bytes out) {
            encoders.get(row.table()).write(row.values(), out);
        }
    }

    /** {@code INSERT INTO `db`.`table` (`col`, ...) FORMAT RowBinary}, as udfs.sinks.rowbinary writes it. */
    String insertQuery(String table) {
        StringBuilder q = new StringBuilder("INSERT INTO `").append(database).append("`.`").append(table).append("` (");
        List<String[]> columns = tables.get(table);
        if (columns == null) {
            throw new IllegalArgumentException("no columns known for ClickHouse table " + table);
        }
        for (int i = 0; i < columns.size(); i++) {
            q.append(i == 0 ? "`" : ", `").append(columns.get(i)[0]).append('`');
        }
        return q.append(") FORMAT RowBinary").toString();
    }

    /** The per-call gatherer of one operator instance. */
    public Call open() {
        return new Call();
    }

    /** Rows and messages of one call, emitted together by {@link #emit}. */
    public final class Call {
        private final Map<String, Table> byTable = new LinkedHashMap<>();
        private final Bytes kafka = new Bytes(1024);

        private final class Table {
            final byte[] query;
            final RowBinaryValues encoder;
            final Bytes rows = new Bytes(1024);

            Table(String name, List<String[]> columns) {
                List<String> names = new ArrayList<>(), types = new ArrayList<>();
                for (String[] c : columns) {
                    names.add(c[0]);
                    types.add(c[1]);
                }
                query = insertQuery(name).getBytes(StandardCharsets.UTF_8);
                encoder = new RowBinaryValues(name, names, types);
            }
        }

        Call() {
            for (Map.Entry<String, ArrayList<String[]>> e : tables.entrySet()) {
                byTable.put(e.getKey(), new Table(e.getKey(), e.getValue()));
            }
        }

        /** A ClickHouse row of {@code table}, values in the order of its columns. */
        public void row(String table, Object... values) {
            Table t = byTable.get(table);
            if (t == null) {
                throw new IllegalArgumentException("no columns known for ClickHouse table " + table);
            }
            t.encoder.write(values, t.rows);
        }

        /** A Kafka message with a text key (null: none), to each of {@code topics}. */
        public void message(String key, byte[] value, String... topics) {
            byte[] k = key == null ? null : key.getBytes(StandardCharsets.UTF_8);
            for (String topic : topics) {
                byte[] t = topic.getBytes(StandardCharsets.UTF_8);
                kafka.bigEndian32(t.length);
                kafka.write(t, 0, t.length);
                if (k == null) {
                    kafka.bigEndian32(-1);
                } else {
                    kafka.bigEndian32(k.length);
                    kafka.write(k, 0, k.length);
                }
                kafka.bigEndian32(value.length);
                kafka.write(value, 0, value.length);
            }
        }

        /** Emit what was gathered (a frame per table with rows, one Kafka frame) and start over. */
        public void emit(BiConsumer<OutputTag<byte[]>, byte[]> output) {
            for (Table t : byTable.values()) {
                if (t.rows.size() > 0) {
                    Bytes frame = new Bytes(4 + t.query.length + t.rows.size());
                    frame.bigEndian32(t.query.length);
                    frame.write(t.query, 0, t.query.length);
                    frame.append(t.rows);
                    t.rows.reset();
                    output.accept(CLICKHOUSE, frame.toByteArray());
                }
            }
            if (kafka.size() > 0) {
                output.accept(KAFKA, kafka.toByteArray());
                kafka.reset();
            }
        }
    }
}
