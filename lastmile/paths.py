"""Where the repository's non-Python assets live (poms, templates, migrations)."""
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
INFRA_DIR = REPO_ROOT / "infra"
MIGRATIONS_DIR = INFRA_DIR / "clickhouse" / "migrations"
