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


def lastmile(env: dict, *args: str, timeout: float = 900):
    """``lastmile <args>`` run to its end; fails the test with the tail of stderr when it fails."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "lastmile.cli", *args], env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def simulate_city(env: dict, truth_path, prefix: str, partners: int, tasks_per_day: int, start: str, seed: int):
    """A simulated city of partners named ``<prefix>...`` on day ``start``, into Kafka; its truth to ``truth_path``.
    Give each test's city a day of its own: two cities of one day co-locate with each other."""
    return lastmile(env, "simulate", "--partners", str(partners), "--partner-prefix", prefix, "--tasks-per-day",
                    str(tasks_per_day), "--start", start, "--seed", str(seed), "--truth", str(truth_path), "--json",
                    timeout=300)
