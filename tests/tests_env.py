"""Environment for running the `lastmile` command against the test session's stack."""
import os

from conftest import TEST_ENV


def env_for(config) -> dict:
    """This process's environment without the caller's own ``LASTMILE_*`` settings (a
    developer's shell may point at another stack), with the test stack's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_") or k == "LASTMILE_CACHE"}
    env.update(TEST_ENV)
    env["LASTMILE_CLICKHOUSE_DATABASE"] = config.clickhouse_database
    return env
