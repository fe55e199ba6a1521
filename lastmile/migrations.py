"""Ordered, recorded ClickHouse migrations.

Files ``infra/clickhouse/migrations/NNNN_name.sql`` are applied in order of NNNN to
the configured database; each applied file is recorded in ``schema_migrations``
with its checksum. Running again applies only what is new. A recorded file whose
content changed is an error: write a new migration instead of editing an old one.
Table names in the files are unqualified; they land in the configured database.
"""
from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import re

from lastmile.clickhouse import http_client
from lastmile.config import Config
from lastmile.errors import StackError
from lastmile.paths import MIGRATIONS_DIR

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        """Statements separated by ``;`` at the end of a line; ``--`` comment lines dropped."""
        body = "\n".join(ln for ln in self.sql.splitlines() if not ln.lstrip().startswith("--"))
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def discover(folder: pathlib.Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise StackError(f"migration file name must be NNNN_snake_case.sql: {path.name}")
        found.append(Migration(int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StackError(f"two migration files share a version number in {folder}")
    return found


def apply(config: Config, folder: pathlib.Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations; return the names applied now (empty when up to date)."""
    db = config.clickhouse_database
    http_client(config, database=None).command(f"CREATE DATABASE IF NOT EXISTS `{db}`")
    client = http_client(config)
    client.command(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, checksum String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version"
    )
    applied = {row[0]: (row[1], row[2]) for row in
               client.query("SELECT version, name, checksum FROM schema_migrations").result_rows}
    done = []
    for migration in discover(folder):
        if migration.version in applied:
            name, checksum = applied[migration.version]
            if checksum != migration.checksum:
                raise StackError(
                    f"migration {migration.name} changed after it was applied as {name}; "
                    "add a new migration instead of editing an applied one"
                )
            continue
        for statement in migration.statements():
            client.command(statement)
        client.insert("schema_migrations", [[migration.version, migration.name, migration.checksum]],
                      column_names=["version", "name", "checksum"])
        done.append(migration.name)
    apply_retention(config)
    return done


#: The raw tables (events as accepted, refused records) and the column their retention counts from.
RAW_TABLES = {"delivery_tasks": "ingested_at", "shipment_status": "ingested_at", "vehicle_positions": "ingested_at",
              "capacity_offers": "ingested_at", "dead_letters": "received_at"}


def apply_retention(config: Config) -> None:
    """Set the raw tables' TTL to ``config.raw_ttl_days`` after ingestion (0: no TTL). Counted
    from ingestion, not event time: a replay of last year's feed is kept as long as a live one.
    The results (co-locations, proposals, ETAs) and the KPI aggregates are not affected."""
    client = http_client(config)
    for table, column in RAW_TABLES.items():
        current = client.query("SELECT create_table_query FROM system.tables WHERE database = currentDatabase() "
                               "AND name = {t:String}", parameters={"t": table}).result_rows[0][0]
        wanted = f"TTL toDateTime({column}) + toIntervalDay({int(config.raw_ttl_days)})"
        if config.raw_ttl_days and wanted not in current:  # as ClickHouse writes it back: set once, not at every `up`
            client.command(f"ALTER TABLE {table} MODIFY TTL toDateTime({column}) + INTERVAL {int(config.raw_ttl_days)} DAY")
        elif not config.raw_ttl_days and " TTL " in current:
            client.command(f"ALTER TABLE {table} REMOVE TTL")
