"""A real ClickHouse server (HTTP and native TCP) from PyPI's chdb-core."""
from __future__ import annotations

import hashlib
import string
import sys
import urllib.request

from lastmile.config import Config
from lastmile.paths import INFRA_DIR
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
    fill = {
        "host": config.clickhouse_host,
        "http_port": config.clickhouse_http_port,
        "tcp_port": config.clickhouse_native_port,
        "user": config.clickhouse_user,
        "password_sha256": hashlib.sha256(config.clickhouse_password.encode()).hexdigest(),
    }
    for name in ("config.xml", "users.xml"):
        template = string.Template((INFRA_DIR / "clickhouse" / name).read_text())
        (run_dir / name).write_text(template.substitute(fill))
    argv = [sys.executable, "-m", "lastmile.stack.clickhouse_server", str(run_dir), str(data_dir)]
    return process(config).start(argv, cwd=run_dir)


def wait_healthy(config: Config) -> None:
    proc = process(config)
    wait_until(lambda: healthy(config), config.startup_timeout_s, f"ClickHouse at {config.clickhouse_url}",
               alive=proc.started_alive, log=proc.log_file)
