"""Background processes with pid files, port checks and health waits."""
from __future__ import annotations

import dataclasses
import os
import pathlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence

from lastmile.errors import StackError


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` and we may bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_until(check: Callable[[], bool], timeout_s: float, what: str,
               alive: Callable[[], bool] | None = None, log: pathlib.Path | None = None) -> None:
    """Poll ``check`` until true; raise StackError on timeout or if ``alive`` turns false."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and not alive():
            raise StackError(f"{what} exited during start-up{_log_hint(log)}")
        time.sleep(0.2)
    raise StackError(f"{what} was not healthy after {timeout_s:.0f} s{_log_hint(log)}")


def _log_hint(log: pathlib.Path | None) -> str:
    if log is None or not log.exists():
        return ""
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    last = lines[-1][:200] if lines else ""
    return f"; see {log}" + (f" (last line: {last})" if last else "")


@dataclasses.dataclass(frozen=True)
class ManagedProcess:
    """A child process we start detached and find again through its pid file.

    ``marker`` is a string that must appear in the process's command line, so a
    recycled pid of an unrelated process is never signalled.
    """

    name: str
    run_dir: pathlib.Path
    marker: str

    @property
    def pid_file(self) -> pathlib.Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> pathlib.Path:
        return self.run_dir.parent / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid of our running process, or None (stale pid files are removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = pathlib.Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            cmdline, state = "", "X"
        if self.marker not in cmdline or state in ("Z", "X"):
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def started_alive(self) -> bool:
        """Whether the process this home last started is still running, judged by its pid
        alone: for the start-up wait, right after :meth:`start`.

        Not by the ``marker``: a JVM's command line can be read empty or half-written for
        a moment while it starts, and :meth:`pid` would then take the pid file for stale,
        remove it and report a running broker as exited (leaving it running).
        """
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return False
        return _alive(pid)

    def start(self, argv: Sequence[str], cwd: pathlib.Path, env: dict | None = None) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def stop(self, timeout_s: float = 20.0) -> bool:
        """SIGTERM the process group, SIGKILL after ``timeout_s``. True if it was running."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        raise StackError(f"not allowed to stop process {pid}: {exc}") from None


def _alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    if state == "Z":
        # our own child that exited: reap it so it does not linger as a zombie
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return True
