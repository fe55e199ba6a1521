"""Breaking things on purpose: a local stack of its own (ports and home apart from the session's),
whose components can be killed, paused and restarted, and the coordination job as a process
group that can be killed as a whole.

    stack = FaultStack(tmp_path / "home", cache, FaultStack.PORTS)
    stack.up()
    job = Job.start(stack.env, "--bounded")
    stack.kill("clickhouse"); ...; stack.restart("clickhouse")
    assert job.wait(300) == 0, job.output()

Everything goes through the project's own stack code (lastmile.stack), as a user's `lastmile up`
would; the helpers only send signals.
"""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from lastmile.config import Config, environ_without_settings
from lastmile.stack import clickhouse, control, kafka

COMPONENTS = {"kafka": kafka, "clickhouse": clickhouse}


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(every_s)


def _alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


class FaultStack:
    """Kafka and ClickHouse of their own, on ``ports`` (below the kernel's ephemeral range)."""

    PORTS = {"kafka": 15092, "controller": 15093, "http": 15123, "native": 15900}

    def __init__(self, home: pathlib.Path, cache: pathlib.Path, ports: dict[str, int] | None = None,
                 secure: bool = False):
        self.secure = secure
        ports = ports or self.PORTS
        self.env = environ_without_settings()
        self.env.update({
            "LASTMILE_HOME": str(home),
            "LASTMILE_CACHE": str(cache),
            "LASTMILE_KAFKA_BOOTSTRAP": f"127.0.0.1:{ports['kafka']}",
            "LASTMILE_KAFKA_CONTROLLER_PORT": str(ports["controller"]),
            "LASTMILE_CLICKHOUSE_URL": f"http://127.0.0.1:{ports['http']}",
            "LASTMILE_CLICKHOUSE_NATIVE_PORT": str(ports["native"]),
        })
        self.config = Config.from_env(self.env)

    def up(self) -> None:
        """Start it (``secure``: `lastmile up --secure`); the config then has the stack's own accounts."""
        self.config = control.up(self.config, say=lambda _m: None, secure=self.secure)

    def down(self) -> None:
        control.down(self.config, say=lambda _m: None)

    def pid(self, component: str) -> int:
        pid = COMPONENTS[component].process(self.config).pid()
        assert pid is not None, f"{component} is not running"
        return pid

    def kill(self, component: str) -> None:
        """SIGKILL the component's process group (no shutdown of any kind) and wait until it is gone."""
        pid = self.pid(component)
        os.killpg(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), 30, f"{component} to die")

    def pause(self, component: str) -> None:
        os.killpg(self.pid(component), signal.SIGSTOP)

    def resume(self, component: str) -> None:
        os.killpg(self.pid(component), signal.SIGCONT)

    def restart(self, component: str) -> None:
        """Start the component again on the same data, and wait until it answers."""
        module = COMPONENTS[component]
        module.start(self.config)
        module.wait_healthy(self.config)


class Job:
    """``lastmile <args>`` in a process group of its own (the Python client and PyFlink's JVM)."""

    def __init__(self, proc: subprocess.Popen, log: pathlib.Path):
        self.proc = proc
        self.log = log

    @classmethod
    def start(cls, env: dict, log: pathlib.Path, *args: str, extra_env: dict | None = None) -> Job:
        out = open(log, "wb")  # noqa: SIM115 - the process writes to it after this returns
        proc = subprocess.Popen([sys.executable, "-m", "lastmile.cli", *args], env={**env, **(extra_env or {})},
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        return cls(proc, log)

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash of the machine's process would."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        wait_for(lambda: not _group_alive(self.proc.pid), 30, "the job's processes to die")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)

    def wait(self, timeout_s: float) -> int:
        return self.proc.wait(timeout_s)

    def output(self, tail: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-tail:]


def _group_alive(pgid: int) -> bool:
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if int((proc / "stat").read_text().split(")")[-1].split()[2]) == pgid and _alive(int(proc.name)):
                    return True
            except (OSError, ValueError, IndexError):
                continue
    return False
