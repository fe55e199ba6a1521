package io.lastmile.udfs;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;

import io.lastmile.udfs.core.Bytes;

/**
 * Avro single-object bytes of the job's output records (CoLocation, EtaUpdate,
 * ConsolidationProposal, DeadLetter, and partner records for dead letters) in the current
 * version of their schema, from the contract the jar carries: what udfs.contracts.wire.encode
 * writes in Python, byte for byte (Avro's binary encoding of given values is canonical).
 * One instance per operator: it reuses its buffers and is not thread-safe.
 */
public final class AvroRecords {
    private final Map<String, Writer> writers = new HashMap<>();
    private final Bytes out = new Bytes(256);
    private BinaryEncoder encoder;

    private static final class Writer {
        final Schema schema;
        final byte[] header = new byte[10];
        final GenericDatumWriter<GenericData.Record> datum;

        Writer(Schema schema, long fingerprintLe) {
            this.schema = schema;
            this.datum = new GenericDatumWriter<>(schema);
            header[0] = (byte) 0xC3;
            header[1] = 0x01;
            for (int i = 0; i < 8; i++) {
                header[2 + i] = (byte) (fingerprintLe >>> (8 * i));
            }
        }
    }

    private Writer writer(String name) {
        Writer w = writers.get(name);
        if (w == null) {
            Schema schema = Contract.INSTANCE.latest.get(name);
            if (schema == null) {
                throw new IllegalArgumentException("no schema " + name + " in the contract");
            }
            w = new Writer(schema, Contract.INSTANCE.latestFingerprint.get(name));
            writers.put(name, w);
        }
        return w;
    }

    /** The fields of {@code name}'s current schema, in order. */
    public List<Schema.Field> fields(String name) {
        return writer(name).schema.getFields();
    }

    /**
     * {@code values} in the order of the schema's fields: String, Long, Integer, Double,
     * Boolean, byte[] (bytes), {@code List} (arrays), null (for a union with null).
     */
    public byte[] encode(String name, Object... values) {
        Writer w = writer(name);
        GenericData.Record record = new GenericData.Record(w.schema);
        for (int i = 0; i < values.length; i++) {
            Object v = values[i];
            record.put(i, v instanceof byte[] ? java.nio.ByteBuffer.wrap((byte[]) v) : v);
        }
        out.reset();
        out.write(w.header, 0, w.header.length);
        encoder = EncoderFactory.get().binaryEncoder(out, encoder);
        try {
            w.datum.write(record, encoder);
            encoder.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(name + " cannot be written with these values: " + e, e);
        }
        return out.toByteArray();
    }
}
