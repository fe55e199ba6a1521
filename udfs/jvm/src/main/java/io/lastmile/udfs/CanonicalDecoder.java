package io.lastmile.udfs;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.util.List;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.util.Utf8;

/**
 * The fast path's reader of one writer schema ({@link Contract.Reader#accept}): the record when
 * the bytes are the canonical Avro binary encoding of a record of that schema with strict UTF-8
 * text, else null. It reads the bytes once. Before it, the fast path decoded them with Avro's
 * {@code GenericDatumReader}, encoded the record again and compared the bytes: ~9 % of the JVM's
 * samples in a 1M-event run (BENCHMARKS.md, thirteenth round).
 *
 * <p>Canonical, as the re-encoding decided it: every varint in its shortest form (a long at most
 * 10 bytes, an int at most 5, with no bits beyond 64 or 32), a union's branch index one of its
 * branches, a boolean 0 or 1, no byte after the record. On top of what the re-encoding decided, a
 * float or double that is not finite is not taken here (the bit patterns of NaN are many, and
 * no partner record keeps such a number: rule {@code not_finite}); what is not taken here goes
 * to {@link Contract.Reader#decide}, the reference's answer, so this reader may be stricter than
 * Avro's but never laxer. tests/unit/test_jvm_contract.py holds it to the re-encoding
 * ({@code Check canonical}) on mutated and hand-made bytes.
 *
 * <p>The values are those of {@code GenericDatumReader}: Utf8, Integer, Long, Float, Double,
 * Boolean, ByteBuffer, null. Field types are those {@link FastavroReader#requireSupported}
 * allows (primitives and unions of them). One instance per {@link Contract.Reader}: not
 * thread-safe.
 */
final class CanonicalDecoder {
    private static final byte NULL = 0, BOOLEAN = 1, INT = 2, LONG = 3, FLOAT = 4, DOUBLE = 5, BYTES = 6, STRING = 7;

    private final Schema schema;
    /** Per field, the types of its branches (one for a field that is not a union). */
    private final byte[][] branches;
    private final boolean[] union;
    private final CharsetDecoder utf8; // strict (REPORT on malformed input)
    private byte[] data;
    private int pos;
    private boolean bad;

    CanonicalDecoder(Schema schema, CharsetDecoder strictUtf8) {
        this.schema = schema;
        this.utf8 = strictUtf8;
        List<Schema.Field> fields = schema.getFields();
        branches = new byte[fields.size()][];
        union = new boolean[fields.size()];
        for (int i = 0; i < branches.length; i++) {
            Schema type = fields.get(i).schema();
            union[i] = type.getType() == Schema.Type.UNION;
            List<Schema> types = union[i] ? type.getTypes() : List.of(type);
            branches[i] = new byte[types.size()];
            for (int b = 0; b < types.size(); b++) {
                branches[i][b] = kind(types.get(b), schema.getName() + "." + fields.get(i).name());
            }
        }
    }

    private static byte kind(Schema type, String field) {
        return switch (type.getType()) {
            case NULL -> NULL;
            case BOOLEAN -> BOOLEAN;
            case INT -> INT;
            case LONG -> LONG;
            case FLOAT -> FLOAT;
            case DOUBLE -> DOUBLE;
            case BYTES -> BYTES;
            case STRING -> STRING;
            default -> throw new IllegalStateException(field + " (" + type + ") is beyond what CanonicalDecoder reads");
        };
    }

    /** The record in {@code data[offset:]}, or null (not canonical, not strict UTF-8, not decodable). */
    GenericData.Record read(byte[] data, int offset) {
        this.data = data;
        this.pos = offset;
        this.bad = false;
        GenericData.Record record = new GenericData.Record(schema);
        for (int i = 0; i < branches.length; i++) {
            byte kind;
            if (union[i]) {
                long raw = varint(5, 0x0F);
                long index = (raw >>> 1) ^ -(raw & 1);
                if (bad || index < 0 || index >= branches[i].length) {
                    return null;
                }
                kind = branches[i][(int) index];
            } else {
                kind = branches[i][0];
            }
            Object value = value(kind);
            if (bad) {
                return null;
            }
            record.put(i, value);
        }
        return pos == data.length ? record : null;
    }

    private Object value(byte kind) {
        switch (kind) {
            case NULL:
                return null;
            case BOOLEAN: {
                if (pos >= data.length || (data[pos] & 0xfe) != 0) {
                    bad = true;
                    return null;
                }
                return data[pos++] == 1;
            }
            case INT: {
                long v = varint(5, 0x0F);
                return (int) ((v >>> 1) ^ -(v & 1));
            }
            case LONG: {
                long v = varint(10, 0x01);
                return (v >>> 1) ^ -(v & 1);
            }
            case FLOAT: {
                float f = Float.intBitsToFloat((int) fixed(4));
                if (!Float.isFinite(f)) {
                    bad = true;
                }
                return f;
            }
            case DOUBLE: {
                double d = Double.longBitsToDouble(fixed(8));
                if (!Double.isFinite(d)) {
                    bad = true;
                }
                return d;
            }
            case BYTES: {
                byte[] bytes = lengthAndBytes();
                return bytes == null ? null : ByteBuffer.wrap(bytes);
            }
            case STRING: {
                byte[] bytes = lengthAndBytes();
                if (bytes == null) {
                    return null;
                }
                int ascii = 0;
                while (ascii < bytes.length && bytes[ascii] >= 0) {
                    ascii++;
                }
                if (ascii < bytes.length && !strictUtf8(bytes)) {
                    bad = true;
                    return null;
                }
                return new Utf8(bytes);
            }
            default:
                throw new IllegalStateException("kind " + kind);
        }
    }

    /** A string's or bytes' value (a copy): its length, a zig-zag long varint at least 0 and no
     * more than the bytes left, then that many bytes; null (and {@link #bad}) otherwise. */
    private byte[] lengthAndBytes() {
        long v = varint(10, 0x01);
        long n = (v >>> 1) ^ -(v & 1);
        if (bad || n < 0 || n > data.length - pos) {
            bad = true;
            return null;
        }
        byte[] bytes = java.util.Arrays.copyOfRange(data, pos, pos + (int) n);
        pos += (int) n;
        return bytes;
    }

    /**
     * The raw (still zig-zag) value of a varint of at most {@code maxBytes}, whose last byte
     * may be at most {@code maxLast} when it is the {@code maxBytes}-th; sets {@link #bad} when the
     * varint runs out of bytes, is longer, or is not in its shortest form (a last byte of 0
     * after others).
     */
    private long varint(int maxBytes, int maxLast) {
        long v = 0;
        for (int i = 0; i < maxBytes; i++) {
            if (pos >= data.length) {
                break;
            }
            int b = data[pos++] & 0xff;
            v |= (long) (b & 0x7f) << (7 * i);
            if ((b & 0x80) == 0) {
                if ((b == 0 && i > 0) || (i == maxBytes - 1 && b > maxLast)) {
                    break;
                }
                return v;
            }
        }
        bad = true;
        return 0;
    }

    private long fixed(int n) {
        if (data.length - pos < n) {
            bad = true;
            return 0;
        }
        long v = 0;
        for (int i = 0; i < n; i++) {
            v |= (long) (data[pos + i] & 0xff) << (8 * i);
        }
        pos += n;
        return v;
    }

    private boolean strictUtf8(byte[] bytes) {
        try {
            utf8.reset();
            CharBuffer ignored = utf8.decode(ByteBuffer.wrap(bytes));
            return true;
        } catch (CharacterCodingException e) {
            return false;
        }
    }
}
