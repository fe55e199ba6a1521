"""`lastmile state`: what it says when there is nothing to read (one line, no traceback). What
it reads from a real checkpoint is checked by tests/e2e/test_state_lifetime.py."""
import subprocess
import sys

import pytest

from lastmile import state
from lastmile.config import environ_without_settings
from lastmile.errors import StackError


def run_state(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**environ_without_settings(), "LASTMILE_HOME": str(tmp_path / "home")}
    return subprocess.run([sys.executable, "-m", "lastmile.cli", "state", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_without_a_checkpoint_it_says_so_in_one_line(tmp_path):
    result = run_state(tmp_path)
    assert result.returncode == 1
    assert "no completed checkpoint under" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_folder_that_is_not_a_checkpoint_is_refused(tmp_config, tmp_path):
    (tmp_path / "chk-3").mkdir()
    with pytest.raises(StackError, match="not a completed checkpoint"):
        state.census(tmp_config, tmp_path / "chk-3")
    result = run_state(tmp_path, "--checkpoint", str(tmp_path / "chk-3"))
    assert result.returncode == 1 and "not a completed checkpoint" in result.stderr and "Traceback" not in result.stderr
