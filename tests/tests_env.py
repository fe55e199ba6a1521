"""Environment for running the `lastmile` command against the test session's stack."""

from conftest import TEST_ENV

from lastmile.config import environ_without_settings


def env_for(config) -> dict:
    """This process's environment without the caller's own ``LASTMILE_*`` settings (a
    developer's shell may point at another stack), with the test stack's."""
    env = environ_without_settings()
    env.update(TEST_ENV)
    env["LASTMILE_CLICKHOUSE_DATABASE"] = config.clickhouse_database
    return env
