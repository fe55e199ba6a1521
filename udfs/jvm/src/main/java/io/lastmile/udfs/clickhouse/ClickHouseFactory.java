package io.lastmile.udfs.clickhouse;

import org.apache.flink.connector.jdbc.core.database.JdbcFactory;
import org.apache.flink.connector.jdbc.core.database.catalog.JdbcCatalog;
import org.apache.flink.connector.jdbc.core.database.dialect.JdbcDialect;

/** Found by the JDBC connector through META-INF/services for {@code jdbc:clickhouse:} URLs. */
public class ClickHouseFactory implements JdbcFactory {
    @Override
    public boolean acceptsURL(String url) {
        return url.startsWith("jdbc:clickhouse:") || url.startsWith("jdbc:ch:");
    }

    @Override
    public JdbcDialect createDialect() {
        return new ClickHouseDialect();
    }

    @Override
    public JdbcCatalog createCatalog(ClassLoader classLoader, String catalog, String database, String user,
                                     String password, String baseUrl) {
        throw new UnsupportedOperationException("lastmile has no ClickHouse JDBC catalog");
    }
}
