"""lastmile.stack.process.ManagedProcess: the start-up wait judges our child by its pid."""
import sys
import time

from lastmile.stack.process import ManagedProcess


def test_started_alive_follows_the_child_not_its_command_line(tmp_path):
    # A marker that is not (yet) in the command line, as for a JVM read mid-start.
    proc = ManagedProcess("sleeper", tmp_path / "run", marker="not-in-the-command-line")
    proc.start([sys.executable, "-c", "import time; time.sleep(1.5)"], cwd=tmp_path)
    assert proc.started_alive()
    assert proc.pid_file.exists()  # the start-up check leaves the pid file alone
    deadline = time.monotonic() + 30
    while proc.started_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not proc.started_alive()  # it exited (and was reaped)


def test_started_alive_without_a_pid_file_is_false(tmp_path):
    assert not ManagedProcess("never", tmp_path / "run", marker="x").started_alive()
