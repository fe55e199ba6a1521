package io.lastmile.udfs.flink;

/** A ClickHouse row of {@code table}, values in the order of its columns (see {@link Outputs#rows}). */
public record TableRow(String table, Object[] values) implements java.io.Serializable {
}
