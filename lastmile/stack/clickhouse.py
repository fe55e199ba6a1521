"""A real ClickHouse server (HTTP and native TCP) from PyPI's chdb-core."""
from __future__ import annotations

import string
import sys
import urllib.request

from lastmile import credentials
from lastmile.config import Config
from lastmile.paths import INFRA_DIR
from lastmile.stack import clickhouse_users
from lastmile.stack.process import ManagedProcess, wait_until


def process(config: Config) -> ManagedProcess:
    return ManagedProcess("clickhouse", config.home / "run",
                          marker=f"lastmile.stack.clickhouse_server {config.home / 'clickhouse'}")


def ports(config: Config) -> dict[int, str]:
    return {config.clickhouse_http_port: "ClickHouse HTTP", config.clickhouse_native_port: "ClickHouse native TCP"}


def healthy(config: Config, timeout_s: float = 1.0) -> bool:
    """True when the HTTP interface answers ``/ping``."""
    try:
        with urllib.request.urlopen(f"{config.clickhouse_url.rstrip('/')}/ping", timeout=timeout_s) as resp:
            return resp.status == 200
    except OSError:
        return False


def start(config: Config) -> int:
    run_dir = config.home / "clickhouse"
    data_dir = run_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    fill = {"host": config.clickhouse_host, "http_port": config.clickhouse_http_port,
            "tcp_port": config.clickhouse_native_port}
    template = string.Template((INFRA_DIR / "clickhouse" / "config.xml").read_text())
    (run_dir / "config.xml").write_text(template.substitute(fill))
    write_users(config)
    argv = [sys.executable, "-m", "lastmile.stack.clickhouse_server", str(run_dir), str(data_dir)]
    return process(config).start(argv, cwd=run_dir)


def write_users(config: Config) -> None:
    """users.xml of the server (infra/clickhouse/users.xml): the writer account of ``config``
    and, on a secure stack, each partner's read-only account. Owner-only: it holds password
    hashes. A running server reads it again within seconds."""
    users = [clickhouse_users.writer(config.clickhouse_user, clickhouse_users.sha256_hex(config.clickhouse_password))]
    if credentials.stack(config.home):
        users.append(clickhouse_users.embedded())
        analyst = credentials.stack(config.home).get("analyst")
        if analyst:
            users.append(clickhouse_users.analyst(analyst["username"], clickhouse_users.sha256_hex(analyst["password"]),
                                                  config.clickhouse_database))
        for partner_id, entry in sorted(credentials.partners(config.home).items()):
            users.append(clickhouse_users.partner(partner_id, entry["clickhouse_sha256"], config.clickhouse_database))
    text = string.Template((INFRA_DIR / "clickhouse" / "users.xml").read_text()).substitute(users="\n".join(users))
    credentials.write_owner_only(config.home / "clickhouse" / "users.xml", text)


def reload_users(config: Config) -> None:
    """Write users.xml and have the local server read it: it is restarted (the embedded server
    of chdb-core does not read its users again, and `SYSTEM RELOAD CONFIG` is not supported
    there). About two seconds; the job's writers retry meanwhile (docs/guarantees.md)."""
    write_users(config)
    proc = process(config)
    if proc.pid() is not None:
        proc.stop()
        start(config)
        wait_healthy(config)


def wait_healthy(config: Config) -> None:
    proc = process(config)
    wait_until(lambda: healthy(config), config.startup_timeout_s, f"ClickHouse at {config.clickhouse_url}",
               alive=proc.started_alive, log=proc.log_file)
