"""The job's ClickHouse tables as the migrations make them, without a server."""
from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def column_types() -> dict:
    """``(column, ClickHouse type)`` of the job's tables (udfs.rows.COLUMNS), from the migrations
    applied in an embedded ClickHouse (chdb, no server): what production reads from
    ``system.columns`` (lastmile.run.clickhouse_columns)."""
    import tempfile

    from chdb import session

    from lastmile.migrations import discover
    from udfs.rows import COLUMNS

    with tempfile.TemporaryDirectory() as folder:
        ch = session.Session(folder)
        ch.query("CREATE DATABASE lastmile")
        ch.query("USE lastmile")
        for migration in discover():
            for statement in migration.statements():
                ch.query(statement)
        found = {}
        for line in ch.query("SELECT table, name, type FROM system.columns WHERE database = 'lastmile'",
                             "TabSeparated").bytes().decode().splitlines():
            table, name, ch_type = line.split("\t")
            found[(table, name)] = ch_type.replace("\\'", "'")
        ch.close()
    return {t: [(c, found[(t, c)]) for c in cols] for t, cols in COLUMNS.items()}
