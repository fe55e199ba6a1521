package io.lastmile.udfs.sinks;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import java.util.regex.Pattern;

import io.lastmile.udfs.core.Bytes;

/**
 * RowBinary bytes of rows made of plain Java values (String, Long, Integer, Double, Boolean,
 * {@code List} for arrays, null), one writer per column made from the column's ClickHouse type
 * as {@code system.columns} spells it: what the JVM operators of the job write (their Python
 * reference is udfs/sinks/rowbinary.py; tests/unit/test_jvm_outputs.py holds the two to each other).
 * Epoch milliseconds for {@code DateTime64(3)}, text for {@code UUID}.
 */
public final class RowBinaryValues implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final Pattern DATETIME64 = Pattern.compile("DateTime64\\(3(?:,\\s*'[^']*')?\\)");

    /** Writes one value of a column. */
    @FunctionalInterface
    public interface Value extends Serializable {
        void write(Object value, Bytes out);
    }

    private final String table;
    private final String[] names;
    private final Value[] writers;

    public RowBinaryValues(String table, List<String> names, List<String> clickHouseTypes) {
        this.table = table;
        this.names = names.toArray(new String[0]);
        this.writers = new Value[names.size()];
        for (int i = 0; i < writers.length; i++) {
            writers[i] = writer(clickHouseTypes.get(i).strip(), names.get(i));
        }
    }

    /** Appends one row; {@code values} in the order of the columns. */
    public void write(Object[] values, Bytes out) {
        if (values.length != writers.length) {
            throw new IllegalArgumentException(table + ": a row of " + values.length + " values for "
                    + writers.length + " columns");
        }
        for (int i = 0; i < writers.length; i++) {
            writers[i].write(values[i], out);
        }
    }

    private static String inner(String type, String wrapper) {
        return type.startsWith(wrapper + "(") && type.endsWith(")")
                ? type.substring(wrapper.length() + 1, type.length() - 1) : null;
    }

    static Value writer(String type, String column) {
        String inner;
        if ((inner = inner(type, "LowCardinality")) != null) {
            return writer(inner, column);
        }
        if ((inner = inner(type, "Nullable")) != null) {
            Value value = writer(inner, column);
            return (v, out) -> {
                out.write(v == null ? 1 : 0);
                if (v != null) {
                    value.write(v, out);
                }
            };
        }
        if ((inner = inner(type, "Array")) != null) {
            Value element = writer(inner, column);
            return (v, out) -> {
                List<?> values = (List<?>) notNull(v, column);
                varint(out, values.size());
                for (Object e : values) {
                    element.write(e, out);
                }
            };
        }
        if (DATETIME64.matcher(type).matches()) {
            return (v, out) -> out.littleEndian(((Number) notNull(v, column)).longValue(), 8);
        }
        switch (type) {
            case "String":
                return (v, out) -> {
                    byte[] bytes = notNull(v, column) instanceof byte[] ? (byte[]) v
                            : v.toString().getBytes(StandardCharsets.UTF_8);
                    varint(out, bytes.length);
                    out.write(bytes, 0, bytes.length);
                };
            case "UUID":
                return (v, out) -> {
                    UUID u = UUID.fromString(notNull(v, column).toString());
                    out.littleEndian(u.getMostSignificantBits(), 8);
                    out.littleEndian(u.getLeastSignificantBits(), 8);
                };
            case "Bool":
                return (v, out) -> out.write(((Boolean) notNull(v, column)) ? 1 : 0);
            case "Int8":
            case "UInt8":
                return (v, out) -> out.write(v instanceof Boolean ? ((Boolean) v ? 1 : 0)
                        : ((Number) notNull(v, column)).intValue());
            case "Int16":
            case "UInt16":
                return (v, out) -> out.littleEndian(((Number) notNull(v, column)).longValue(), 2);
            case "Int32":
            case "UInt32":
                return (v, out) -> out.littleEndian(((Number) notNull(v, column)).longValue(), 4);
            case "Int64":
            case "UInt64":
                return (v, out) -> out.littleEndian(((Number) notNull(v, column)).longValue(), 8);
            case "Float32":
                return (v, out) -> out.littleEndian(
                        Float.floatToRawIntBits(((Number) notNull(v, column)).floatValue()), 4);
            case "Float64":
                return (v, out) -> out.littleEndian(
                        Double.doubleToRawLongBits(((Number) notNull(v, column)).doubleValue()), 8);
            default:
                throw new IllegalArgumentException("column " + column + ": ClickHouse type " + type
                        + " is not written by the job");
        }
    }

    private static Object notNull(Object v, String column) {
        if (v == null) {
            throw new IllegalArgumentException("column " + column + " is not Nullable in ClickHouse, and the row has null");
        }
        return v;
    }

    static void varint(Bytes out, int n) {
        while ((n & ~0x7F) != 0) {
            out.write((n & 0x7F) | 0x80);
            n >>>= 7;
        }
        out.write(n);
    }
}
