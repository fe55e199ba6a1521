"""The ``<users>`` of the local ClickHouse server's users.xml (infra/clickhouse/users.xml).

ClickHouse from chdb-core has no writable access storage (SQL ``CREATE USER`` fails there), so
the local server's accounts are written to users.xml, which the server reads again when it
changes. On an external server the same rights are SQL RBAC (docs/security.md).

- the writer account: every right on the database (the pipeline, migrations, the CLI);
- a partner's account (secure stack only): read-only, SELECT on the tables that concern it,
  row filters so that it sees only its own rows; no other table;
- the analysts' account (secure stack only): read-only, the tables of events and results.
"""
from __future__ import annotations

import hashlib
import re
from xml.sax.saxutils import escape

from lastmile.errors import ConfigError

# the tables a partner reads, and which of their rows are its own
PARTNER_TABLES = {
    "delivery_tasks": "partner_id = {p}",
    "shipment_status": "partner_id = {p}",
    "vehicle_positions": "partner_id = {p}",
    "capacity_offers": "partner_id = {p}",
    "eta_predictions": "partner_id = {p}",
    "dead_letters": "partner_id = {p}",
    # its own KPIs' aggregates (infra/clickhouse/migrations/0007_kpis.sql)
    **{table: "partner_id = {p}" for table in ("kpi_status_daily", "kpi_deliveries", "kpi_task_windows",
                                               "kpi_feed_events", "kpi_dead_letters_daily", "kpi_last_eta",
                                               "vehicle_km", "kpi_schema_daily")},
}
# what an analyst reads: every table of events and results, which hold H3 cells and no raw
# coordinates or recipient keys; of the dead letters, only what says why and whose (not the
# refused records' messages and payloads): the summary view, and those columns of the table
ANALYST_TABLES = ("delivery_tasks", "shipment_status", "vehicle_positions", "capacity_offers", "colocations",
                  "colocations_current", "eta_predictions", "consolidation_proposals", "dead_letters_summary",
                  "dead_letters(dead_letter_id, received_at, source, partner_id, stage, reason, payload_sha256)",
                  "kpi_status_daily", "kpi_deliveries", "kpi_task_windows", "kpi_feed_events", "kpi_dead_letters_daily",
                  "kpi_last_eta", "vehicle_km", "proposal_savings", "kpi_schema_daily")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(f"a ClickHouse user name must be letters, digits, '.', '_' or '-' (at most 64), got {name!r}")
    return name


def sha256_hex(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def writer(name: str, password_sha256: str) -> str:
    return f"""        <{checked_name(name)}>
            <password_sha256_hex>{escape(password_sha256)}</password_sha256_hex>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </{name}>"""


def embedded() -> str:
    """``default`` on a secure stack: chdb's in-process session opens the listeners as this
    account, without a password and from the loopback (it can be given no other). So it may
    open the listeners and nothing else: no table, no data."""
    return """        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
            <grants>
                <query>GRANT SYSTEM LISTEN ON *.*</query>
                <query>GRANT SELECT ON system.numbers</query>
            </grants>
        </default>"""


def analyst(name: str, password_sha256: str, database: str) -> str:
    """The analysts' read-only account (secure stack): :data:`ANALYST_TABLES`, nothing else."""
    return _reader(checked_name(name), password_sha256, database, {table: None for table in ANALYST_TABLES})


def partner(partner_id: str, password_sha256: str, database: str) -> str:
    """A partner's read-only account: its own rows of :data:`PARTNER_TABLES`, nothing else."""
    literal = "'" + partner_id.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return _reader(checked_name(partner_id), password_sha256, database,
                   {table: f.format(p=literal) for table, f in PARTNER_TABLES.items()})


def _grant(database: str, table: str) -> str:
    """``GRANT SELECT`` on ``table``, or on some of its columns: ``table(col, ...)``."""
    name, _, columns = table.partition("(")
    what = f"SELECT({columns.rstrip(')')})" if columns else "SELECT"
    return f"                <query>GRANT {what} ON {database}.{name}</query>"


def _reader(name: str, password_sha256: str, database: str, tables: dict[str, str | None]) -> str:
    """A read-only account: SELECT on ``tables`` of ``database``, each with its row filter if any."""
    grants = "\n".join(_grant(database, table) for table in tables)
    filters = "\n".join(f"                    <{table}><filter>{escape(f)}</filter></{table}>"
                        for table, f in tables.items() if f is not None)
    databases = f"""
            <databases>
                <{database}>
{filters}
                </{database}>
            </databases>""" if filters else ""
    return f"""        <{name}>
            <password_sha256_hex>{escape(password_sha256)}</password_sha256_hex>
            <networks><ip>::/0</ip></networks>
            <profile>reader</profile>
            <quota>default</quota>
            <grants>
{grants}
            </grants>{databases}
        </{name}>"""
