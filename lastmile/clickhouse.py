"""ClickHouse clients built from the config (HTTP via clickhouse-connect, native TCP)."""
from __future__ import annotations

from lastmile.config import Config
from lastmile.errors import StackError


def http_client(config: Config, database: str | None = "", **settings):
    """A clickhouse-connect client on the HTTP interface.

    ``database=""`` (the default) means the configured database; ``None`` means the
    server's default database (used before the configured one exists).
    """
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

    name = config.clickhouse_database if database == "" else database
    try:
        return clickhouse_connect.get_client(
            host=config.clickhouse_host, port=config.clickhouse_http_port, secure=config.clickhouse_secure,
            username=config.clickhouse_user, password=config.clickhouse_password,
            database=name, settings=settings or None, connect_timeout=5, send_receive_timeout=120,
        )
    except OperationalError as exc:
        raise StackError(f"cannot reach ClickHouse at {config.clickhouse_url}: {str(exc).splitlines()[0]}") from None
    except DatabaseError as exc:
        if "UNKNOWN_DATABASE" not in str(exc):
            raise  # e.g. refused credentials, which callers tell apart (the live map's login)
        raise StackError(f"ClickHouse at {config.clickhouse_url} has no database {name!r}: "
                         "`lastmile migrate` (or `lastmile up`) creates it") from None


def native_client(config: Config, database: str | None = ""):
    """A clickhouse-driver client on the native TCP port."""
    from clickhouse_driver import Client

    return Client(
        host=config.clickhouse_host, port=config.clickhouse_native_port,
        user=config.clickhouse_user, password=config.clickhouse_password,
        database=(config.clickhouse_database if database == "" else database) or "default",
        secure=config.clickhouse_secure, connect_timeout=5,
    )
