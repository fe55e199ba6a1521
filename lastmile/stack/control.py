"""`lastmile up | down | status`: start, stop and inspect the local stack.

A component whose configured address is not on this machine (a company's own
Kafka or ClickHouse) is "external": ``up`` does not start it, only checks it is
reachable, then applies migrations and creates topics there as well.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import socket
import time
from collections.abc import Callable
from types import ModuleType

from lastmile import credentials, migrations, topics
from lastmile.config import Config
from lastmile.errors import StackError
from lastmile.stack import clickhouse, jars, kafka
from lastmile.stack.process import port_is_free

COMPONENTS: dict[str, ModuleType] = {"kafka": kafka, "clickhouse": clickhouse}


@dataclasses.dataclass
class ComponentStatus:
    name: str
    address: str
    managed: bool
    pid: int | None
    healthy: bool

    @property
    def state(self) -> str:
        if self.healthy:
            return "healthy"
        return "starting or unhealthy" if self.pid else "stopped"


def _address(config: Config, name: str) -> tuple[str, str]:
    if name == "kafka":
        return config.kafka_host, config.kafka_bootstrap
    return config.clickhouse_host, f"{config.clickhouse_url} (native :{config.clickhouse_native_port})"


def is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def status(config: Config) -> list[ComponentStatus]:
    out = []
    for name, module in COMPONENTS.items():
        host, address = _address(config, name)
        managed = is_local(host)
        pid = module.process(config).pid() if managed else None
        out.append(ComponentStatus(name, address, managed, pid, module.healthy(config)))
    return out


def up(config: Config, say: Callable[[str], None] = print, secure: bool = False) -> Config:
    """Start what is not running, wait until healthy, apply migrations, create topics.

    Running it twice is harmless. A port held by a process that is not ours fails
    at once with a StackError naming the port, before anything is started. ``secure``: a
    stack whose Kafka and ClickHouse authenticate every client and authorize it per partner
    (docs/security.md); its accounts are made once, under ``LASTMILE_HOME/secrets``. A stack
    made secure stays secure. Returns the configuration with the stack's own accounts.
    """
    if secure and not credentials.stack(config.home):
        if kafka.formatted(config):
            raise StackError(f"the stack in {config.home} was made without --secure; its Kafka storage cannot be "
                             "secured in place: use another LASTMILE_HOME (or remove this one's kafka/ and clickhouse/)")
        credentials.create_stack(config.home)
    if credentials.stack(config.home) and not config.kafka_security_protocol:
        config = config.with_overrides(**credentials.stack_settings(config.home, set()))
    if credentials.stack(config.home):
        config.home.chmod(0o700)  # the brokers' and ClickHouse's data, checkpoints, secrets: the owner's alone
        say(f"secure stack: Kafka SASL/SCRAM with ACLs, ClickHouse accounts; secrets in {credentials.folder(config.home)}")
    to_start = []
    for current in status(config):
        if not current.managed:
            if not current.healthy:
                raise StackError(f"external {current.name} at {current.address} is not reachable")
            say(f"{current.name}: external at {current.address}, reachable")
            continue
        if current.pid is not None:
            say(f"{current.name}: already running (pid {current.pid})")
            continue
        taken = [f"{port} ({what})" for port, what in COMPONENTS[current.name].ports(config).items()
                 if not port_is_free(_address(config, current.name)[0], port)]
        if taken:
            raise StackError(
                f"{'port' if len(taken) == 1 else 'ports'} {', '.join(taken)} already in use by another process; "
                "stop it, or point "
                f"LASTMILE_{'KAFKA_BOOTSTRAP' if current.name == 'kafka' else 'CLICKHOUSE_URL'} at a free port"
            )
        to_start.append(current.name)

    if "kafka" in to_start:
        say("fetching Kafka broker jars (cached after the first run)")
        jars.fetch(config, "kafka-broker")
    say("fetching Flink connector jars (cached after the first run)")
    jars.fetch(config, "flink-connectors")
    say("building the JVM functions of udfs/jvm (cached after the first run)")
    jars.udf_jar(config)

    started = []
    try:
        for name in to_start:
            pid = COMPONENTS[name].start(config)
            started.append(name)
            say(f"{name}: started (pid {pid}), log {COMPONENTS[name].process(config).log_file}")
        t0 = time.monotonic()
        for name in to_start:
            COMPONENTS[name].wait_healthy(config)
        if to_start:
            say(f"healthy after {time.monotonic() - t0:.1f} s")
    except BaseException:
        for name in started:
            COMPONENTS[name].process(config).stop()
        raise

    applied = migrations.apply(config)
    say(f"ClickHouse migrations: {', '.join(applied) if applied else 'up to date'}")
    created = topics.ensure_topics(config, list(topics.COORDINATION_TOPICS))
    say(f"Kafka topics: {'created ' + ', '.join(created) if created else 'up to date'}")
    return config


def down(config: Config, say: Callable[[str], None] = print) -> None:
    """Stop every component this stack started (a Flink cluster of this home too); external ones are left alone."""
    from lastmile.map import server as map_server
    from lastmile.stack import flink

    if flink.running_pids(config):
        flink.down(config, say=say)
    if map_server.process(config).stop():
        say("map: stopped")
    for name, module in reversed(list(COMPONENTS.items())):
        stopped = module.process(config).stop()
        say(f"{name}: {'stopped' if stopped else 'not running'}")
