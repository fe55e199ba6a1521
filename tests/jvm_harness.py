"""The JVM logic of udfs/jvm, driven from the agreement tests without Flink.

One ``java`` process per test session runs ``io.lastmile.udfs.check.Harness``: a request
is a JSON line ``{"area", "op", "args"}``, the reply a JSON line ``{"ok": ...}`` or
``{"error": ...}``. An area's state (``<Area>Ops`` in udfs/jvm ``check``) lives as long as
the process, so a test can feed stateful logic step by step and compare every step with
the Python reference.
"""
from __future__ import annotations

import json
import subprocess
import threading

from lastmile.config import Config
from lastmile.stack import flink


class JvmError(AssertionError):
    """The JVM side raised (its message is the Java exception)."""


class JvmHarness:
    def __init__(self, config: Config | None = None):
        # with Flink's API (watermark generators) as a job has it
        classpath = flink.tools_classpath(config or Config.from_env())
        self._proc = subprocess.Popen(["java", "-XX:TieredStopAtLevel=1", "-cp", classpath,
                                       "io.lastmile.udfs.check.Harness"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8")

    def call(self, area: str, op: str, args=None):
        """One request; its result, or :class:`JvmError`."""
        return self.calls(area, op, [args])[0]

    def calls(self, area: str, op: str, many: list):
        """Many requests of one op in one round trip; their results in order. The requests are
        written from another thread while the replies are read: a large batch would otherwise
        fill both pipes and leave each process waiting for the other."""
        lines = "".join(json.dumps({"area": area, "op": op, "args": a}, allow_nan=False) + "\n" for a in many)

        def write():
            self._proc.stdin.write(lines)
            self._proc.stdin.flush()

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        out = []
        for _ in many:
            line = self._proc.stdout.readline()
            if not line:
                raise JvmError(f"the JVM harness exited ({self._proc.poll()})")
            reply = json.loads(line)
            if "error" in reply:
                raise JvmError(reply["error"])
            out.append(reply["ok"])
        writer.join()
        return out

    def close(self) -> None:
        self._proc.stdin.close()
        self._proc.wait(30)
