package io.lastmile.udfs;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.avro.Schema;
import org.apache.avro.util.Utf8;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * An Avro record body read as {@code udfs.contracts.wire.decode} reads it: fastavro's
 * {@code schemaless_reader} (its compiled reader, {@code fastavro/_read.pyx}, 1.13), the writer's
 * schema resolved to the reader's. It gives the values fastavro gives, in the order of the dict
 * fastavro builds, and fails where fastavro raises.
 *
 * <p>fastavro is laxer than the Avro specification, and than Java's Avro, in ways a partner's
 * bytes can reach; each is reproduced here because the reference accepts such records:
 * <ul>
 *   <li>a varint may have any number of bytes: each byte's 7 bits are shifted in by
 *       {@code shift mod 64} (see {@link #readLong}), so bits past the 64th wrap around rather
 *       than fail, and an {@code int} field holds any 64-bit value;</li>
 *   <li>a boolean byte other than 0 is true;</li>
 *   <li>a union index is a Python list index: -1 is the last branch, -n the first;</li>
 *   <li>a length or union index is read as a signed long, and a negative length reads to the end
 *       of the bytes (Python's {@code BytesIO.read(-n)}) before the length check fails.</li>
 * </ul>
 * Strings are strict UTF-8 ({@code bytes.decode()}): no surrogates, over-long forms or code
 * points above U+10FFFF. Lengths are only ever compared with the bytes left, never allocated.
 *
 * <p>It reads the Avro types the partner records use (null, boolean, int, long, float, double,
 * bytes, string and unions of them) in a top-level record; {@link #requireSupported} refuses a
 * schema with anything else when the contract loads, so a schema change cannot slip past it.
 */
final class FastavroReader {

    /** What fastavro raises: the Python exception's type and a text saying what went wrong. */
    static final class Undecodable extends Exception {
        Undecodable(String pythonType, String text) {
            super(pythonType + ": " + text, null, false, false); // an outcome, not a bug: no stack trace
        }
    }

    private static final Set<Schema.Type> PRIMITIVES = EnumSet.of(Schema.Type.NULL, Schema.Type.BOOLEAN,
            Schema.Type.INT, Schema.Type.LONG, Schema.Type.FLOAT, Schema.Type.DOUBLE, Schema.Type.BYTES,
            Schema.Type.STRING);

    private final byte[] data;
    private final CharsetDecoder utf8; // strict (REPORT on malformed input)
    private int pos;

    FastavroReader(byte[] data, int offset, CharsetDecoder strictUtf8) {
        this.data = data;
        this.pos = offset;
        this.utf8 = strictUtf8;
    }

    /** Where reading stopped ({@code BytesIO.tell()}). */
    int position() {
        return pos;
    }

    /**
     * A record schema the reader can read as fastavro does: fields of {@link #PRIMITIVES} or
     * unions of them, no aliases, and defaults of the JSON kind Python reads for the field's
     * type (fastavro puts the default's JSON value in the record as it is: {@code 1} for a double
     * field would be a Python int there). Throws IllegalStateException naming what is not.
     */
    static void requireSupported(Schema record, Map<String, JsonNode> defaults) {
        if (record.getType() != Schema.Type.RECORD) {
            throw new IllegalStateException(record.getFullName() + " is not a record");
        }
        for (Schema.Field f : record.getFields()) {
            Schema type = f.schema();
            boolean ok = PRIMITIVES.contains(type.getType()) || (type.getType() == Schema.Type.UNION
                    && type.getTypes().stream().allMatch(b -> PRIMITIVES.contains(b.getType())));
            if (!ok || !f.aliases().isEmpty()) {
                throw new IllegalStateException(record.getName() + "." + f.name() + " (" + type + ") is beyond what "
                        + "FastavroReader mirrors of fastavro: extend it before the schema uses it");
            }
            JsonNode d = defaults.get(f.name());
            if (d != null && !d.isNull() && javaDefault(d, type) == null) {
                throw new IllegalStateException(record.getName() + "." + f.name() + " has a default (" + d
                        + ") that Python would read as another type than " + type);
            }
        }
    }

    /**
     * {@code read_record} with a reader schema ({@code reader} null: the writer's own, as
     * schemaless_reader drops a reader schema equal to the writer's): the values of the
     * reader's fields in fastavro's dict order (the writer's fields it knows, then the ones it
     * takes defaults for). {@code readerDefaults} are the reader's field defaults as JSON.
     */
    Map<String, Object> readRecord(Schema writer, Schema reader, Map<String, JsonNode> readerDefaults)
            throws Undecodable {
        Map<String, Object> record = new LinkedHashMap<>();
        if (reader == null) {
            for (Schema.Field f : writer.getFields()) {
                record.put(f.name(), read(f.schema(), null));
            }
            return record;
        }
        Map<String, Schema.Field> unread = new LinkedHashMap<>();
        for (Schema.Field f : reader.getFields()) {
            unread.put(f.name(), f);
        }
        for (Schema.Field f : writer.getFields()) {
            Schema.Field readerField = unread.remove(f.name());
            if (readerField != null) {
                record.put(f.name(), read(f.schema(), readerField.schema()));
            } else {
                skip(f.schema());
            }
        }
        for (Schema.Field f : unread.values()) {
            JsonNode d = readerDefaults.get(f.name());
            if (d == null) {
                throw new Undecodable("SchemaResolutionError", "No default value for field " + f.name() + " in "
                        + reader.getName());
            }
            record.put(f.name(), javaDefault(d, f.schema()));
        }
        return record;
    }

    /** A field default as Python has it (json.loads of the schema), boxed for the field's type;
     * null also when the JSON kind is not the one Python reads for the type (see requireSupported). */
    private static Object javaDefault(JsonNode d, Schema type) {
        if (d.isNull()) {
            return null;
        }
        // A union's default is of its first branch (Avro specification).
        Schema.Type t = type.getType() == Schema.Type.UNION ? type.getTypes().get(0).getType() : type.getType();
        switch (t) {
            case BOOLEAN:
                return d.isBoolean() ? d.booleanValue() : null;
            case INT:
            case LONG:
                return d.isIntegralNumber() && d.canConvertToLong() ? box(d.longValue(), t) : null;
            case FLOAT:
            case DOUBLE:
                return d.isFloatingPointNumber() ? (Object) d.doubleValue() : null;
            case STRING:
                return d.isTextual() ? new Utf8(d.textValue()) : null;
            default:
                return null;
        }
    }

    /** {@code _read_data}: resolve, read, promote. {@code reader} null: no resolution. */
    private Object read(Schema writer, Schema reader) throws Undecodable {
        Schema target = reader == null ? null : matchSchemas(writer, reader);
        switch (writer.getType()) {
            case NULL:
                return null;
            case BOOLEAN:
                if (pos >= data.length) {
                    throw new Undecodable("EOFError", "cannot read boolean: no byte left at " + pos);
                }
                return data[pos++] != 0;
            case INT:
            case LONG:
                long n = readLong();
                return box(n, target == null ? writer.getType() : target.getType());
            case FLOAT:
                float f = Float.intBitsToFloat((int) littleEndian(4, "float"));
                return target != null && target.getType() == Schema.Type.DOUBLE ? (Object) (double) f : (Object) f;
            case DOUBLE:
                return Double.longBitsToDouble(littleEndian(8, "double"));
            case BYTES: {
                byte[] b = readBytes();
                return target != null && target.getType() == Schema.Type.STRING ? decode(b) : ByteBuffer.wrap(b);
            }
            case STRING: {
                Utf8 s = decode(readBytes());
                return target != null && target.getType() == Schema.Type.BYTES
                        ? ByteBuffer.wrap(s.getBytes(), 0, s.getByteLength()) : s;
            }
            case UNION:
                return readUnion(writer, target);
            default:
                throw new IllegalStateException("unsupported " + writer); // requireSupported keeps these out
        }
    }

    /**
     * A Python int as the box of its field's type: Integer for an int field when it fits (as
     * Java's Avro gives), else Long (fastavro reads an int as a 64-bit varint without a range
     * check); a Python float ({@code maybe_promote}'s {@code float(data)}, rounded to nearest) for
     * a float or double reader.
     */
    private static Object box(long n, Schema.Type type) {
        switch (type) {
            case INT:
                return n == (int) n ? (Object) (int) n : (Object) n;
            case FLOAT:
            case DOUBLE:
                return (double) n;
            default:
                return n;
        }
    }

    /** {@code read_union}: the branch at a Python list index, read as the first reader branch it
     * matches. */
    private Object readUnion(Schema writer, Schema reader) throws Undecodable {
        long index = readLong();
        int n = writer.getTypes().size();
        long at = index < 0 ? index + n : index;
        if (at < 0 || at >= n) {
            throw new Undecodable("IndexError", "list index out of range (union index " + index + " of " + n
                    + " branches)");
        }
        Schema branch = writer.getTypes().get((int) at);
        if (reader == null) {
            return read(branch, null);
        }
        if (reader.getType() != Schema.Type.UNION) {
            if (!matchTypes(branch, reader)) {
                throw new Undecodable("SchemaResolutionError", "schema mismatch: " + writer + " not found in " + reader);
            }
            return read(branch, reader);
        }
        for (Schema candidate : reader.getTypes()) {
            if (matchTypes(branch, candidate)) {
                return read(branch, candidate);
            }
        }
        throw new Undecodable("SchemaResolutionError", "schema mismatch: " + writer + " not found in " + reader);
    }

    /** {@code match_schemas}: the reader schema to read a writer's value as, for primitives and
     * unions. */
    private static Schema matchSchemas(Schema writer, Schema reader) throws Undecodable {
        if (writer.getType() == Schema.Type.UNION) {
            return reader; // resolved per value in readUnion
        }
        if (reader.getType() == Schema.Type.UNION) {
            for (Schema candidate : reader.getTypes()) {
                if (matchTypes(writer, candidate)) {
                    return candidate;
                }
            }
        } else if (matchTypes(writer, reader)) {
            return reader;
        }
        throw new Undecodable("SchemaResolutionError", "Schema mismatch: " + writer + " is not " + reader);
    }

    /** {@code match_types}: same type, a union on either side, or one of Avro's promotions. */
    private static boolean matchTypes(Schema writer, Schema reader) {
        Schema.Type w = writer.getType(), r = reader.getType();
        if (w == Schema.Type.UNION || r == Schema.Type.UNION || w == r) {
            return true;
        }
        switch (w) {
            case INT:
                return r == Schema.Type.LONG || r == Schema.Type.FLOAT || r == Schema.Type.DOUBLE;
            case LONG:
                return r == Schema.Type.FLOAT || r == Schema.Type.DOUBLE;
            case FLOAT:
                return r == Schema.Type.DOUBLE;
            case STRING:
                return r == Schema.Type.BYTES;
            case BYTES:
                return r == Schema.Type.STRING;
            default:
                return false;
        }
    }

    /** {@code _skip_data} for a writer's field the reader does not have: fastavro's skip_*
     * functions check less than its readers (a short float or double is no error). */
    private void skip(Schema writer) throws Undecodable {
        switch (writer.getType()) {
            case NULL:
                return;
            case BOOLEAN:
                pos = Math.min(data.length, pos + 1);
                return;
            case INT:
            case LONG:
                if (pos >= data.length) {
                    throw new Undecodable("IndexError", "no byte left for a varint at " + pos);
                }
                readLong();
                return;
            case FLOAT:
                pos = (int) Math.min(data.length, pos + 4L);
                return;
            case DOUBLE:
                pos = (int) Math.min(data.length, pos + 8L);
                return;
            case BYTES:
            case STRING: {
                long size = readLong();
                long left = data.length - pos;
                pos = size < 0 || size > left ? data.length : pos + (int) size;
                return;
            }
            case UNION: {
                long index = readLong();
                int n = writer.getTypes().size();
                long at = index < 0 ? index + n : index;
                if (at < 0 || at >= n) {
                    throw new Undecodable("IndexError", "list index out of range (union index " + index + " of "
                            + n + " branches)");
                }
                skip(writer.getTypes().get((int) at));
                return;
            }
            default:
                throw new IllegalStateException("unsupported " + writer);
        }
    }

    /**
     * {@code read_long}: zig-zag varint of any length. The 7 bits of each byte go in at
     * {@code shift} taken mod 64: the compiled reader's C shift by 64 or more is undefined in C,
     * and x86-64 and arm64 take the count mod 64, as Java's long shift does. So more than ten
     * bytes wrap around instead of failing.
     */
    long readLong() throws Undecodable {
        if (pos >= data.length) {
            throw new Undecodable("EOFError", "no byte left for a varint at " + pos);
        }
        long b = data[pos++] & 0xff;
        long n = b & 0x7f;
        int shift = 7;
        while ((b & 0x80) != 0) {
            if (pos >= data.length) {
                throw new Undecodable("IndexError", "the varint runs past the end of the bytes");
            }
            b = data[pos++] & 0xff;
            n |= (b & 0x7f) << shift;
            shift += 7;
        }
        return (n >>> 1) ^ -(n & 1);
    }

    private long littleEndian(int size, String type) throws Undecodable {
        if (data.length - pos < size) {
            throw new Undecodable("EOFError", "cannot read " + type + ": " + (data.length - pos) + " of its " + size
                    + " bytes left");
        }
        long bits = 0;
        for (int i = size - 1; i >= 0; i--) {
            bits = (bits << 8) | (data[pos + i] & 0xff);
        }
        pos += size;
        return bits;
    }

    /** {@code read_bytes}: a long length, then that many bytes ({@code BytesIO.read(size)}). */
    private byte[] readBytes() throws Undecodable {
        long size = readLong();
        int left = data.length - pos;
        int got = size < 0 || size > left ? left : (int) size;
        int start = pos;
        pos += got;
        if (got != size) {
            throw new Undecodable("EOFError", "Expected " + size + " bytes, read " + got);
        }
        byte[] out = new byte[got];
        System.arraycopy(data, start, out, 0, got);
        return out;
    }

    /** {@code bytes.decode()} (strict UTF-8), kept as Utf8 like Java's Avro gives strings. */
    private Utf8 decode(byte[] bytes) throws Undecodable {
        ByteBuffer in = ByteBuffer.wrap(bytes);
        utf8.reset();
        CoderResult result = utf8.decode(in, CharBuffer.allocate(bytes.length), true);
        if (result.isError()) {
            throw new Undecodable("UnicodeDecodeError", String.format(
                    "'utf-8' codec can't decode byte 0x%02x in position %d: invalid UTF-8",
                    bytes[in.position()] & 0xff, in.position()));
        }
        return new Utf8(bytes);
    }
}
