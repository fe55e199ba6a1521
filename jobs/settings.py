"""What a job graph needs to know, and no more: the endpoints as narrow targets
(udfs/sinks/targets.py) and the parameters of its streams.

The command line builds these from its configuration (``lastmile.config.Config.job_settings``);
the graph modules of this package never read the environment or import ``lastmile``.
"""
from __future__ import annotations

import dataclasses

from udfs.sinks.targets import ClickHouseTarget, KafkaTarget


@dataclasses.dataclass(frozen=True)
class JobSettings:
    kafka: KafkaTarget
    clickhouse: ClickHouseTarget
    # Where the coordination job's stateful stages run: "jvm" (udfs/jvm) or "python"
    # (udfs/flink, the reference the JVM stages are held to).
    operators: str = "jvm"
    parallelism: int = 2
    colocation_radius_m: float = 150.0
    # Event time: bounded out-of-orderness of watermarks, idle-partition timeout, and how
    # long after its window ends a delivery task is still accepted (and kept in state).
    out_of_orderness_s: float = 120.0
    idle_timeout_s: float = 30.0
    allowed_lateness_s: float = 600.0
    # Positions reach the ETA path as one batch per vehicle and this much event time.
    eta_interval_s: float = 300.0
