package io.lastmile.udfs.sinks;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.types.logical.LogicalType;

/**
 * The RowBinary bytes of Flink SQL rows for a ClickHouse table: one writer per column, made
 * from the column's ClickHouse type (as {@code system.columns} spells it) and fed the
 * column's Flink value. The layout and the types written are those of the Python reference,
 * udfs/sinks/rowbinary.py (tests/e2e/test_outputs.py holds the two to each other).
 */
final class RowBinaryRows implements ClickHouseSink.Encoder<RowData> {
    private static final long serialVersionUID = 1L;
    private static final Pattern DATETIME64 = Pattern.compile("DateTime64\\((\\d+)(?:,\\s*'[^']*')?\\)");

    private final String query;
    private final String[] names;
    private final String[] clickHouseTypes;
    private final LogicalType[] flinkTypes;
    private transient Column[] columns;
    private transient ByteBuffer scratch;

    RowBinaryRows(String query, List<String> names, List<String> clickHouseTypes, List<LogicalType> flinkTypes) {
        this.query = query;
        this.names = names.toArray(new String[0]);
        this.clickHouseTypes = clickHouseTypes.toArray(new String[0]);
        this.flinkTypes = flinkTypes.toArray(new LogicalType[0]);
        columns(); // an unknown type fails when the job is planned, not when it runs
    }

    @FunctionalInterface
    private interface Value {
        void write(Object value, ByteArrayOutputStream out);
    }

    private static final class Column {
        final RowData.FieldGetter getter;
        final Value value;
        final boolean nullable;
        final String name;

        Column(RowData.FieldGetter getter, Value value, boolean nullable, String name) {
            this.getter = getter;
            this.value = value;
            this.nullable = nullable;
            this.name = name;
        }
    }

    private Column[] columns() {
        if (columns == null) {
            scratch = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
            Column[] cols = new Column[names.length];
            for (int i = 0; i < names.length; i++) {
                String type = unwrap(clickHouseTypes[i].strip(), "LowCardinality");
                boolean nullable = type.startsWith("Nullable(");
                cols[i] = new Column(RowData.createFieldGetter(flinkTypes[i], i),
                        writer(unwrap(unwrap(type, "Nullable"), "LowCardinality"), names[i]), nullable, names[i]);
            }
            columns = cols;
        }
        return columns;
    }

    private static String unwrap(String type, String wrapper) {
        return type.startsWith(wrapper + "(") && type.endsWith(")")
                ? type.substring(wrapper.length() + 1, type.length() - 1) : type;
    }

    private Value writer(String type, String name) {
        switch (type) {
            case "String":
                return (v, out) -> {
                    byte[] bytes = v instanceof StringData ? ((StringData) v).toBytes() : (byte[]) v;
                    varint(out, bytes.length);
                    out.write(bytes, 0, bytes.length);
                };
            case "UUID":
                return (v, out) -> {
                    UUID u = UUID.fromString(v.toString());
                    fixed(out, 8, u.getMostSignificantBits());
                    fixed(out, 8, u.getLeastSignificantBits());
                };
            case "Bool":
            case "UInt8":
            case "Int8":
                return (v, out) -> out.write(v instanceof Boolean ? (((Boolean) v) ? 1 : 0) : ((Number) v).intValue());
            case "Int16":
            case "UInt16":
                return (v, out) -> fixed(out, 2, ((Number) v).longValue());
            case "Int32":
            case "UInt32":
                return (v, out) -> fixed(out, 4, ((Number) v).longValue());
            case "Int64":
            case "UInt64":
                return (v, out) -> fixed(out, 8, ((Number) v).longValue());
            case "Float32":
                return (v, out) -> fixed(out, 4, Float.floatToRawIntBits(((Number) v).floatValue()));
            case "Float64":
                return (v, out) -> fixed(out, 8, Double.doubleToRawLongBits(((Number) v).doubleValue()));
            default:
                Matcher m = DATETIME64.matcher(type);
                if (m.matches() && m.group(1).equals("3")) {
                    return (v, out) -> fixed(out, 8, v instanceof TimestampData
                            ? ((TimestampData) v).getMillisecond() : ((Number) v).longValue());
                }
                throw new IllegalArgumentException("column " + name + ": ClickHouse type " + type
                        + " is not written by the job");
        }
    }

    private void fixed(ByteArrayOutputStream out, int bytes, long value) {
        scratch.clear();
        scratch.putLong(value);
        out.write(scratch.array(), 0, bytes); // little-endian: the low bytes come first
    }

    private static void varint(ByteArrayOutputStream out, int n) {
        while ((n & ~0x7F) != 0) {
            out.write((n & 0x7F) | 0x80);
            n >>>= 7;
        }
        out.write(n);
    }

    @Override
    public String query(RowData row) {
        return query;
    }

    @Override
    public void encode(RowData row, ByteArrayOutputStream out) {
        for (Column c : columns()) {
            Object v = c.getter.getFieldOrNull(row);
            if (c.nullable) {
                out.write(v == null ? 1 : 0);
                if (v == null) {
                    continue;
                }
            } else if (v == null) {
                throw new IllegalArgumentException("column " + c.name + " is not Nullable in ClickHouse, and the row has null");
            }
            c.value.write(v, out);
        }
    }
}
