"""What a job graph needs to know, and no more: the endpoints as narrow targets
(udfs/sinks/targets.py) and the parameters of its streams.

The command line builds these from its configuration (``lastmile.config.Config.job_settings``);
the graph modules of this package never read the environment or import ``lastmile``.
"""
from __future__ import annotations

import dataclasses

from udfs.outputs import NOT_SHARED, Sharing
from udfs.sinks.targets import ClickHouseTarget, KafkaTarget


@dataclasses.dataclass(frozen=True)
class JobSettings:
    """Each field as lastmile.config.Config documents it (and gives its default)."""

    kafka: KafkaTarget
    clickhouse: ClickHouseTarget
    operators: str  # "jvm" (udfs/jvm) or "python" (udfs/flink, the reference)
    parallelism: int
    colocation_radius_m: float
    out_of_orderness_s: float
    idle_timeout_s: float
    max_partition_lag_s: float
    allowed_lateness_s: float
    eta_interval_s: float
    speed_ttl_days: float
    # the key of the inboxes' counterpart tokens (udfs.outputs.counterpart): the pipeline's alone
    inbox_key: str = dataclasses.field(default="", repr=False)
    # what partners agreed to share in their inboxes (lastmile partners share)
    sharing: Sharing = NOT_SHARED
