"""Shared fixtures.

Unit tests need nothing running. Tests that take the ``stack`` fixture get a real
Kafka broker and a real ClickHouse server, started here by the project's own
``lastmile up`` code on test ports under ``.lastmile-test`` (so a developer's
stack on the default ports is left alone) and stopped at the end of the session,
also when tests fail. Each session writes to a throwaway ClickHouse database.
If the stack cannot start, every test that needs it errors: nothing is skipped.
"""
from __future__ import annotations

import pathlib
import shutil
import uuid

import pytest

from lastmile.config import Config

REPO = pathlib.Path(__file__).resolve().parent.parent
TEST_HOME = REPO / ".lastmile-test"

# Ports of the session's stack; the lifecycle tests use another set of their own.
TEST_ENV = {
    "LASTMILE_HOME": str(TEST_HOME),
    "LASTMILE_KAFKA_BOOTSTRAP": "127.0.0.1:29092",
    "LASTMILE_KAFKA_CONTROLLER_PORT": "29093",
    "LASTMILE_CLICKHOUSE_URL": "http://127.0.0.1:28123",
    "LASTMILE_CLICKHOUSE_NATIVE_PORT": "29000",
}


@pytest.fixture
def tmp_config(tmp_path) -> Config:
    """A config of the test's own home and download cache, nothing running."""
    return Config.from_env({}, home=tmp_path / "home", cache=tmp_path / "cache")


@pytest.fixture(scope="session")
def stack() -> Config:
    """A running local stack and a config pointing at a fresh database on it."""
    from lastmile.stack import control

    config = Config.from_env(TEST_ENV, clickhouse_database=f"lastmile_test_{uuid.uuid4().hex[:8]}")
    control.down(config, say=lambda _m: None)  # leftovers of an interrupted run
    shutil.rmtree(TEST_HOME, ignore_errors=True)
    try:
        control.up(config, say=lambda _m: None)
        yield config
    finally:
        control.down(config, say=lambda _m: None)


@pytest.fixture
def stack_env(stack: Config) -> dict:
    """Environment for running the ``lastmile`` command against the session's stack."""
    from tests_env import env_for

    return env_for(stack)


@pytest.fixture
def ch(stack: Config):
    from lastmile.clickhouse import http_client

    client = http_client(stack)
    yield client
    client.close()


@pytest.fixture(scope="session")
def jvm():
    """The JVM logic of udfs/jvm (tests/jvm_harness.py), one process per session."""
    from jvm_harness import JvmHarness

    harness = JvmHarness()
    yield harness
    harness.close()
