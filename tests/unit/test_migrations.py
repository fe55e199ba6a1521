import pytest

from lastmile import migrations
from lastmile.errors import StackError


def test_shipped_migrations_are_ordered_and_well_formed():
    found = migrations.discover()
    assert [m.version for m in found] == sorted({m.version for m in found})
    assert found[0].version == 1
    for migration in found:
        for statement in migration.statements():
            assert not statement.endswith(";")
            assert statement.split()[0].upper() in {"CREATE", "ALTER", "DROP", "INSERT", "RENAME"}


def test_core_migration_declares_every_domain_table():
    statements = " ".join(migrations.discover()[0].statements())
    for table in ("colocations", "delivery_tasks", "shipment_status", "vehicle_positions", "capacity_offers",
                  "eta_predictions", "consolidation_proposals", "dead_letters"):
        assert f"CREATE TABLE IF NOT EXISTS {table}\n" in statements


def test_statements_split_on_line_ending_semicolons_and_drop_comments():
    m = migrations.Migration(1, "0001_x.sql", "-- a comment; with a semicolon\nCREATE TABLE a (x String DEFAULT ';');"
                                              "\n\nCREATE TABLE b (y UInt8);")
    assert m.statements() == ["CREATE TABLE a (x String DEFAULT ';')", "CREATE TABLE b (y UInt8)"]


def test_badly_named_or_duplicate_files_are_refused(tmp_path):
    (tmp_path / "1_init.sql").write_text("CREATE TABLE a (x UInt8)")
    with pytest.raises(StackError, match="NNNN"):
        migrations.discover(tmp_path)
    (tmp_path / "1_init.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (x UInt8)")
    (tmp_path / "0001_b.sql").write_text("CREATE TABLE b (x UInt8)")
    with pytest.raises(StackError, match="share a version"):
        migrations.discover(tmp_path)
