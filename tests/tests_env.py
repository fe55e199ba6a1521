"""Environment for running the `lastmile` command against the test session's stack."""
import os

from conftest import TEST_ENV


def env_for(config) -> dict:
    env = dict(os.environ)
    env.update(TEST_ENV)
    env["LASTMILE_CLICKHOUSE_DATABASE"] = config.clickhouse_database
    return env
