package io.lastmile.udfs.sinks;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.connector.ChangelogMode;
import org.apache.flink.table.connector.sink.DynamicTableSink;
import org.apache.flink.table.connector.sink.SinkV2Provider;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.factories.DynamicTableSinkFactory;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.types.logical.LogicalType;

/**
 * {@code 'connector' = 'lastmile-clickhouse'}: a Flink SQL sink table writing to a ClickHouse
 * table with {@link ClickHouseSink} (RowBinary over HTTP, flushed on every checkpoint).
 *
 * <p>Options: {@code url} (the HTTP interface), {@code database}, {@code table}, {@code username},
 * {@code password}, {@code clickhouse-types} (the ClickHouse type of each column of the sink
 * table, in order, separated by {@code ;}), {@code sink.buffer-flush.max-bytes},
 * {@code sink.buffer-flush.interval}, {@code sink.max-retries}. The Flink columns carry the
 * values: text for String and UUID, epoch milliseconds (BIGINT) or TIMESTAMP for DateTime64(3).
 */
public final class ClickHouseTableFactory implements DynamicTableSinkFactory {
    static final ConfigOption<String> URL = ConfigOptions.key("url").stringType().noDefaultValue();
    static final ConfigOption<String> DATABASE = ConfigOptions.key("database").stringType().noDefaultValue();
    static final ConfigOption<String> TABLE = ConfigOptions.key("table").stringType().noDefaultValue();
    static final ConfigOption<String> USERNAME = ConfigOptions.key("username").stringType().defaultValue("default");
    static final ConfigOption<String> PASSWORD = ConfigOptions.key("password").stringType().defaultValue("");
    static final ConfigOption<String> TYPES = ConfigOptions.key("clickhouse-types").stringType().noDefaultValue();
    static final ConfigOption<Long> MAX_BYTES =
            ConfigOptions.key("sink.buffer-flush.max-bytes").longType().defaultValue(8L << 20);
    static final ConfigOption<Duration> INTERVAL =
            ConfigOptions.key("sink.buffer-flush.interval").durationType().defaultValue(Duration.ofSeconds(1));
    static final ConfigOption<Integer> RETRIES = ConfigOptions.key("sink.max-retries").intType().defaultValue(5);

    @Override
    public String factoryIdentifier() {
        return "lastmile-clickhouse";
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(URL, DATABASE, TABLE, TYPES);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Set.of(USERNAME, PASSWORD, MAX_BYTES, INTERVAL, RETRIES);
    }

    @Override
    public DynamicTableSink createDynamicTableSink(Context context) {
        FactoryUtil.TableFactoryHelper helper = FactoryUtil.createTableFactoryHelper(this, context);
        helper.validate();
        ReadableConfig options = helper.getOptions();
        ResolvedSchema schema = context.getCatalogTable().getResolvedSchema();
        List<Column> physical = schema.getColumns().stream().filter(Column::isPhysical).collect(Collectors.toList());
        List<String> names = physical.stream().map(Column::getName).collect(Collectors.toList());
        List<LogicalType> flinkTypes = physical.stream().map(c -> c.getDataType().getLogicalType())
                .collect(Collectors.toList());
        List<String> types = Arrays.asList(options.get(TYPES).split(";"));
        if (types.size() != names.size()) {
            throw new IllegalArgumentException("'clickhouse-types' names " + types.size() + " types for "
                    + names.size() + " columns");
        }
        String query = "INSERT INTO `" + options.get(DATABASE) + "`.`" + options.get(TABLE) + "` ("
                + names.stream().map(n -> "`" + n + "`").collect(Collectors.joining(", ")) + ") FORMAT RowBinary";
        ClickHouseSink<RowData> sink = new ClickHouseSink<>(options.get(URL), options.get(USERNAME),
                options.get(PASSWORD), options.get(MAX_BYTES), options.get(INTERVAL).toMillis(), options.get(RETRIES),
                new RowBinaryRows(query, names, types, flinkTypes));
        return new Table(sink, options.get(TABLE));
    }

    private static final class Table implements DynamicTableSink {
        private final ClickHouseSink<RowData> sink;
        private final String table;

        Table(ClickHouseSink<RowData> sink, String table) {
            this.sink = sink;
            this.table = table;
        }

        @Override
        public ChangelogMode getChangelogMode(ChangelogMode requested) {
            return ChangelogMode.insertOnly();
        }

        @Override
        public SinkRuntimeProvider getSinkRuntimeProvider(Context context) {
            return SinkV2Provider.of(sink);
        }

        @Override
        public DynamicTableSink copy() {
            return new Table(sink, table);
        }

        @Override
        public String asSummaryString() {
            return "ClickHouse " + table;
        }
    }
}
