"""Where the job's outputs go, as narrow targets: what a sink needs of an endpoint and nothing
else (never the whole configuration, which holds other secrets and the local stack's paths).

Built from the configuration by ``lastmile.config.Config.job_settings``; the password is
left out of every ``repr``, so a target in a log line or a Flink plan reveals none.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ClickHouseTarget:
    """ClickHouse's HTTP interface (``http_url``, where the JVM sinks post RowBinary rows)."""

    http_url: str  # scheme://host:port/
    database: str
    user: str = "default"
    password: str = dataclasses.field(default="", repr=False)
    retry_for_s: float = 600.0  # how long a failed insert is retried before the job restarts from its checkpoint


@dataclasses.dataclass(frozen=True)
class KafkaTarget:
    """A Kafka cluster the job reads partner topics from and writes its outputs to."""

    bootstrap: str
    partitions: int = 2  # of the output topics the job creates on first use (inboxes of new partners)
    compression: str = "none"  # of the job's output batches (see lastmile.config.Config.kafka_output_compression)
    # Java client properties: bootstrap servers and how to authenticate (Config.kafka_java_client)
    client: tuple[tuple[str, str], ...] = dataclasses.field(default=(), repr=False)

    def client_properties(self) -> dict[str, str]:
        """Every Java client's properties (Flink's source and sink, KafkaFrames' admin)."""
        return {"bootstrap.servers": self.bootstrap, **dict(self.client)}
