"""How big the coordination job's state is, per operator, as its checkpoints hold it.

A live ``lastmile run`` checkpoints every ``LASTMILE_CHECKPOINT_INTERVAL_S`` to
``LASTMILE_HOME/checkpoints``; :func:`census` reads one checkpoint's ``_metadata`` with Flink's
own reader (udfs/jvm ``tools.StateCensus``) and gives each operator's bytes: its keyed state
(with its timers), its operator state (broadcast state, source offsets) and its coordinator's (a
source's enumerator). ``lastmile state`` prints the newest; tests/e2e/test_state_lifetime.py
watches it over a simulated week.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib

from lastmile.config import Config
from lastmile.errors import StackError


@dataclasses.dataclass(frozen=True)
class OperatorState:
    uid: str
    name: str
    keyed_bytes: int
    operator_bytes: int
    coordinator_bytes: int
    total_bytes: int


def newest_checkpoint(config: Config) -> pathlib.Path:
    """The newest completed checkpoint under the home's ``checkpoints``, or one readable error."""
    from lastmile.run import latest_checkpoint

    found = latest_checkpoint(config.home)
    if found is None:
        raise StackError(f"no completed checkpoint under {config.home / 'checkpoints'}: a live `lastmile run` "
                         f"writes one every {config.checkpoint_interval_s:g} s")
    return found


def newest_census(config: Config, attempts: int = 5) -> tuple[pathlib.Path, list[OperatorState]]:
    """The newest checkpoint and its :func:`census`. A running job keeps its newest three and
    may discard the one being read; then the newest again."""
    for _ in range(attempts - 1):
        checkpoint = newest_checkpoint(config)
        try:
            return checkpoint, census(config, checkpoint)
        except StackError:
            if checkpoint.exists():
                raise  # not discarded: unreadable
    checkpoint = newest_checkpoint(config)
    return checkpoint, census(config, checkpoint)


def census(config: Config, checkpoint: pathlib.Path) -> list[OperatorState]:
    """Each operator's state in ``checkpoint`` (a ``chk-N`` folder), largest first."""
    from lastmile.stack import flink

    if not (checkpoint / "_metadata").is_file():
        raise StackError(f"{checkpoint} is not a completed checkpoint (it has no _metadata)")
    rows = json.loads(flink.run_tool(config, "StateCensus", str(checkpoint),
                                     what=f"could not read {checkpoint}"))["operators"]
    states = [OperatorState(r["uid"], r["name"], r["keyed_bytes"], r["operator_bytes"], r["coordinator_bytes"],
                            r["total_bytes"]) for r in rows]
    return sorted(states, key=lambda s: (-s.total_bytes, s.uid))
