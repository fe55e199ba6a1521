package io.lastmile.udfs.clickhouse;

import org.apache.flink.connector.jdbc.core.database.dialect.AbstractDialect;
import org.apache.flink.connector.jdbc.core.database.dialect.AbstractDialectConverter;
import org.apache.flink.connector.jdbc.core.database.dialect.JdbcDialectConverter;
import org.apache.flink.table.types.logical.LogicalTypeRoot;
import org.apache.flink.table.types.logical.RowType;

import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;

/**
 * ClickHouse for Flink's JDBC connector (which ships no ClickHouse dialect): insert only.
 *
 * <p>An "upsert" is a plain INSERT: every lastmile table is a ReplacingMergeTree ordered by the
 * record's deterministic id, so a batch written twice (a replay after a failure) leaves one row
 * visible through FINAL. The sink flushes on every checkpoint and at the end of input.
 */
public class ClickHouseDialect extends AbstractDialect {
    @Override
    public String dialectName() {
        return "ClickHouse";
    }

    @Override
    public Optional<String> defaultDriverName() {
        return Optional.of("com.clickhouse.jdbc.Driver");
    }

    @Override
    public String quoteIdentifier(String identifier) {
        return "`" + identifier.replace("`", "\\`") + "`";
    }

    @Override
    public String getLimitClause(long limit) {
        return "LIMIT " + limit;
    }

    @Override
    public Optional<String> getUpsertStatement(String table, String[] fields, String[] keys) {
        return Optional.of(getInsertIntoStatement(table, fields));
    }

    @Override
    public JdbcDialectConverter getRowConverter(RowType rowType) {
        return new AbstractDialectConverter(rowType) {
            @Override
            public String converterName() {
                return "ClickHouse";
            }
        };
    }

    @Override
    public Optional<Range> timestampPrecisionRange() {
        return Optional.of(Range.of(0, 9));
    }

    @Override
    public Optional<Range> decimalPrecisionRange() {
        return Optional.of(Range.of(1, 76));
    }

    @Override
    public Set<LogicalTypeRoot> supportedTypes() {
        return EnumSet.of(LogicalTypeRoot.CHAR, LogicalTypeRoot.VARCHAR, LogicalTypeRoot.BOOLEAN,
                LogicalTypeRoot.DECIMAL, LogicalTypeRoot.TINYINT, LogicalTypeRoot.SMALLINT,
                LogicalTypeRoot.INTEGER, LogicalTypeRoot.BIGINT, LogicalTypeRoot.FLOAT,
                LogicalTypeRoot.DOUBLE, LogicalTypeRoot.DATE, LogicalTypeRoot.TIME_WITHOUT_TIME_ZONE,
                LogicalTypeRoot.TIMESTAMP_WITHOUT_TIME_ZONE, LogicalTypeRoot.TIMESTAMP_WITH_LOCAL_TIME_ZONE);
    }
}
