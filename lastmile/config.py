"""One frozen configuration object, built from the environment and CLI flags.

Every endpoint the jobs and tools talk to comes from here, so the same code runs
against the local stack (``lastmile up``) and against a company's existing Kafka,
ClickHouse and Flink. Precedence: explicit overrides (CLI flags) > environment >
defaults.
"""
from __future__ import annotations

import dataclasses
import math
import os
import pathlib
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lastmile.errors import ConfigError

if TYPE_CHECKING:
    from jobs.settings import JobSettings

DEFAULT_KAFKA_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_CLICKHOUSE_URL = "http://127.0.0.1:8123"
KAFKA_COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")
# Kafka's client classes inside flink-sql-connector-kafka (lastmile/versions.py), as the job loads them
JAVA_KAFKA_PACKAGE = "org.apache.flink.kafka.shaded.org.apache.kafka"
KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL")
KAFKA_SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
OPERATORS = ("jvm", "python")


@dataclasses.dataclass(frozen=True)
class Config:
    kafka_bootstrap: str = DEFAULT_KAFKA_BOOTSTRAP
    # How every Kafka client of the project authenticates (docs/security.md): PLAINTEXT (the
    # default local stack), SASL_PLAINTEXT / SASL_SSL with a SCRAM or PLAIN account, or SSL.
    # Unset, a stack made by `lastmile up --secure` gives its own account (LASTMILE_HOME/secrets).
    kafka_security_protocol: str = ""
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_username: str = ""
    kafka_password: str = dataclasses.field(default="", repr=False)
    kafka_ssl_ca: str = ""  # a PEM file of the CAs to trust (SASL_SSL, SSL); empty: the system's
    clickhouse_url: str = DEFAULT_CLICKHOUSE_URL
    clickhouse_native_port: int = 9000
    clickhouse_user: str = "default"
    clickhouse_password: str = dataclasses.field(default="", repr=False)
    clickhouse_database: str = "lastmile"
    # How long the job's ClickHouse writers retry a failed insert (backing the job off meanwhile)
    # before it fails and restarts from its last checkpoint.
    clickhouse_retry_s: float = 600.0
    home: pathlib.Path = pathlib.Path(".lastmile")
    cache: pathlib.Path = pathlib.Path.home() / ".cache" / "lastmile"
    # Local KRaft controller listener; only used by `lastmile up`.
    kafka_controller_port: int = 0
    topic_partitions: int = 2
    parallelism: int = 2
    colocation_radius_m: float = 150.0
    # Event time: bounded out-of-orderness of watermarks, idle-partition timeout, and how
    # long after its window ends a delivery task is still accepted (and kept in state).
    out_of_orderness_s: float = 120.0
    idle_timeout_s: float = 30.0
    # A live partition further behind the newest one than this, and not catching up (advancing
    # at under twice real time), stops holding the watermark back (udfs/jvm PartitionWatermarks).
    # More than the 5 minutes a producer's timestamp may run ahead.
    max_partition_lag_s: float = 900.0
    allowed_lateness_s: float = 600.0
    checkpoint_interval_s: float = 10.0
    # Positions reach the ETA path as one batch per vehicle and this much event time (a
    # tumbling window on the JVM): ETAs are at most this stale, and Python runs once per
    # vehicle and interval instead of once per ping.
    eta_interval_s: float = 300.0
    # The learned speeds forget an estimate no segment taught for this many days of event time
    # (udfs.speed_profiles.forget_stale): the profiles' state is bounded by time, not only the map.
    speed_ttl_days: float = 28.0
    # How long ClickHouse keeps the raw event tables' rows (delivery_tasks, shipment_status,
    # vehicle_positions, capacity_offers, dead_letters) after they were ingested, in days;
    # 0 keeps them. Applied by `lastmile migrate` / `up` (lastmile.migrations.apply_retention).
    raw_ttl_days: int = 0
    # Compression of the job's Kafka outputs: none by default, for a broker on the same
    # machine (it decompresses every compressed batch to validate it); lz4 or zstd for a
    # broker across a network.
    kafka_output_compression: str = "none"
    # Where the coordination job's stateful stages run: "jvm" (udfs/jvm, the default) or
    # "python" (udfs/flink, the reference the JVM stages are held to; several times slower).
    operators: str = "jvm"
    startup_timeout_s: float = 90.0
    # REST endpoint of the standalone Flink cluster (`lastmile cluster up` starts one there;
    # its RPC port is the next one) and how many TaskManagers it starts.
    flink_rest: str = "127.0.0.1:8081"
    flink_taskmanagers: int = 2
    # Shared secret of the ecosystem for recipient_key HMACs (partner SDK only).
    ecosystem_key: str = dataclasses.field(default="", repr=False)
    # Key of the opaque counterpart tokens in partners' inboxes; no partner may know it. Empty:
    # one generated for this home (LASTMILE_HOME/secrets/inbox.key). Set it for a cluster.
    inbox_key: str = dataclasses.field(default="", repr=False)
    # Partners who agreed to be named to each other in their inboxes, and to share
    # same_recipient (comma-separated ids), besides those `lastmile partners share` kept
    # under the home (lastmile/sharing.py).
    # The live map (`lastmile map`): a raster tile URL ({z}/{x}/{y}) for a base map under the
    # hexes (none: hexes on a plain background, offline), and partner views' tokens on a stack
    # without partner accounts ("p1:token1,p2:token2"; with accounts, their ClickHouse passwords).
    map_tiles: str = ""
    map_partner_tokens: str = dataclasses.field(default="", repr=False)
    inbox_named_partners: str = ""
    inbox_same_recipient_partners: str = ""

    def __post_init__(self) -> None:
        host, port = _split_host_port(self.kafka_bootstrap.split(",")[0], "LASTMILE_KAFKA_BOOTSTRAP")
        url = urlsplit(self.clickhouse_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(
                f"LASTMILE_CLICKHOUSE_URL must look like http://host:8123, got {self.clickhouse_url!r}"
            )
        if not _is_identifier(self.clickhouse_database):
            raise ConfigError(
                f"LASTMILE_CLICKHOUSE_DATABASE must be a plain identifier, got {self.clickhouse_database!r}"
            )
        if self.kafka_controller_port == 0:
            object.__setattr__(self, "kafka_controller_port", port + 1)
        if self.kafka_security_protocol not in ("", *KAFKA_SECURITY_PROTOCOLS):
            raise ConfigError(f"LASTMILE_KAFKA_SECURITY_PROTOCOL must be one of {', '.join(KAFKA_SECURITY_PROTOCOLS)}, "
                              f"got {self.kafka_security_protocol!r}")
        if self.kafka_sasl_mechanism not in KAFKA_SASL_MECHANISMS:
            raise ConfigError(f"LASTMILE_KAFKA_SASL_MECHANISM must be one of {', '.join(KAFKA_SASL_MECHANISMS)}, "
                              f"got {self.kafka_sasl_mechanism!r}")
        if self.kafka_security_protocol.startswith("SASL") and not self.kafka_username:
            raise ConfigError(f"LASTMILE_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                              "LASTMILE_KAFKA_USERNAME and LASTMILE_KAFKA_PASSWORD")
        if self.kafka_output_compression not in KAFKA_COMPRESSIONS:
            raise ConfigError(f"LASTMILE_KAFKA_OUTPUT_COMPRESSION must be one of {', '.join(KAFKA_COMPRESSIONS)}, "
                              f"got {self.kafka_output_compression!r}")
        if self.operators not in OPERATORS:
            raise ConfigError(f"LASTMILE_OPERATORS must be one of {', '.join(OPERATORS)}, got {self.operators!r}")
        if not (math.isfinite(self.eta_interval_s) and self.eta_interval_s >= 1):
            raise ConfigError(f"eta_interval_s must be at least 1 second, got {self.eta_interval_s}")
        if not (math.isfinite(self.speed_ttl_days) and self.speed_ttl_days > 0):
            raise ConfigError(f"speed_ttl_days must be a positive number of days, got {self.speed_ttl_days}")
        for name in ("out_of_orderness_s", "idle_timeout_s", "max_partition_lag_s", "allowed_lateness_s",
                     "checkpoint_interval_s", "clickhouse_retry_s"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ConfigError(f"{name} must be a non-negative number of seconds, got {getattr(self, name)}")
        _split_host_port(self.flink_rest, "LASTMILE_FLINK_REST")
        from udfs.contracts.topics import check_partner_id

        for name in ("inbox_named_partners", "inbox_same_recipient_partners"):
            try:
                for partner in filter(None, (p.strip() for p in getattr(self, name).split(","))):
                    check_partner_id(partner)
            except ValueError as exc:
                raise ConfigError(f"LASTMILE_{name.upper()} must be comma-separated partner ids: {exc}") from None
        if self.raw_ttl_days < 0:
            raise ConfigError(f"LASTMILE_RAW_TTL_DAYS must be 0 (keep) or a number of days, got {self.raw_ttl_days}")
        for name in ("topic_partitions", "parallelism", "flink_taskmanagers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (math.isfinite(self.colocation_radius_m) and self.colocation_radius_m > 0):
            raise ConfigError(f"colocation radius must be a positive number of metres, got {self.colocation_radius_m}")
        object.__setattr__(self, "home", pathlib.Path(self.home).absolute())
        object.__setattr__(self, "cache", pathlib.Path(self.cache).absolute())

    # --- Kafka clients -------------------------------------------------------
    @property
    def kafka_protocol(self) -> str:
        return self.kafka_security_protocol or "PLAINTEXT"

    def kafka_client(self) -> dict[str, str]:
        """librdkafka settings of every Python client (confluent-kafka): the bootstrap servers
        and how to authenticate."""
        out = {"bootstrap.servers": self.kafka_bootstrap}
        if self.kafka_protocol != "PLAINTEXT":
            out["security.protocol"] = self.kafka_protocol
        if self.kafka_protocol.startswith("SASL"):
            out.update({"sasl.mechanisms": self.kafka_sasl_mechanism, "sasl.username": self.kafka_username,
                        "sasl.password": self.kafka_password})
        if self.kafka_ssl_ca and self.kafka_protocol.endswith("SSL"):
            out["ssl.ca.location"] = self.kafka_ssl_ca
        return out

    def kafka_java_client(self) -> dict[str, str]:
        """The same for the Java clients of the job (Flink's Kafka source and sink, KafkaFrames)."""
        out = {"bootstrap.servers": self.kafka_bootstrap}
        if self.kafka_protocol != "PLAINTEXT":
            out["security.protocol"] = self.kafka_protocol
        if self.kafka_protocol.startswith("SASL"):
            # the job's Kafka classes are those of Flink's SQL Kafka connector, which relocates them
            module = JAVA_KAFKA_PACKAGE + (".common.security.plain.PlainLoginModule" if self.kafka_sasl_mechanism == "PLAIN"
                                           else ".common.security.scram.ScramLoginModule")
            out.update({"sasl.mechanism": self.kafka_sasl_mechanism,
                        "sasl.jaas.config": f'{module} required username="{_jaas(self.kafka_username)}" '
                                            f'password="{_jaas(self.kafka_password)}";'})
        if self.kafka_ssl_ca and self.kafka_protocol.endswith("SSL"):
            out.update({"ssl.truststore.type": "PEM", "ssl.truststore.location": self.kafka_ssl_ca})
        return out

    # --- derived endpoints -------------------------------------------------
    @property
    def kafka_host(self) -> str:
        return _split_host_port(self.kafka_bootstrap.split(",")[0], "LASTMILE_KAFKA_BOOTSTRAP")[0]

    @property
    def kafka_port(self) -> int:
        return _split_host_port(self.kafka_bootstrap.split(",")[0], "LASTMILE_KAFKA_BOOTSTRAP")[1]

    @property
    def clickhouse_host(self) -> str:
        return urlsplit(self.clickhouse_url).hostname or "127.0.0.1"

    @property
    def clickhouse_http_port(self) -> int:
        url = urlsplit(self.clickhouse_url)
        return url.port or (443 if url.scheme == "https" else 8123)

    @property
    def clickhouse_secure(self) -> bool:
        return urlsplit(self.clickhouse_url).scheme == "https"

    def job_settings(self) -> JobSettings:
        """What a job graph gets of this configuration (jobs.settings): the endpoints as narrow
        targets, the streams' parameters; no paths of the local stack, no other secret."""
        from jobs.settings import JobSettings
        from lastmile import credentials, sharing
        from udfs.sinks.targets import ClickHouseTarget, KafkaTarget

        scheme = "https" if self.clickhouse_secure else "http"
        return JobSettings(
            kafka=KafkaTarget(self.kafka_bootstrap, self.topic_partitions, self.kafka_output_compression,
                              tuple(sorted(self.kafka_java_client().items()))),
            clickhouse=ClickHouseTarget(f"{scheme}://{self.clickhouse_host}:{self.clickhouse_http_port}/",
                                        self.clickhouse_database, self.clickhouse_user, self.clickhouse_password,
                                        self.clickhouse_retry_s),
            operators=self.operators, parallelism=self.parallelism, colocation_radius_m=self.colocation_radius_m,
            out_of_orderness_s=self.out_of_orderness_s, idle_timeout_s=self.idle_timeout_s,
            max_partition_lag_s=self.max_partition_lag_s,
            allowed_lateness_s=self.allowed_lateness_s, eta_interval_s=self.eta_interval_s,
            speed_ttl_days=self.speed_ttl_days, inbox_key=self.inbox_key or credentials.inbox_key(self.home),
            sharing=sharing.read(self.home, self.inbox_named_partners, self.inbox_same_recipient_partners))

    def with_overrides(self, **changes) -> Config:
        """A copy with the given fields replaced; ``None`` values are ignored."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Config:
        """Read ``LASTMILE_*`` variables; keyword overrides (CLI flags) win."""
        env = os.environ if env is None else env
        values: dict = {}
        for field in dataclasses.fields(cls):
            raw = env.get("LASTMILE_" + field.name.upper())
            if raw is None or raw == "":
                continue
            values[field.name] = _parse(field, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "kafka_security_protocol" not in values:  # a secure local stack's own accounts
            from lastmile import credentials

            values = {**credentials.stack_settings(pathlib.Path(values.get("home", cls.home)).absolute(),
                                                   set(values)), **values}
        return cls(**values)

    def describe(self) -> dict:
        """Endpoints and paths, passwords masked: for `lastmile status` and logs."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for secret in ("clickhouse_password", "ecosystem_key", "kafka_password", "inbox_key"):
            if out[secret]:
                out[secret] = "***"
        return {k: str(v) for k, v in out.items()}


def environ_without_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (this process's by default) without its ``LASTMILE_*`` settings, except
    the shared download cache: for starting ``lastmile`` against another stack (the
    benchmark's, the tests') whatever the caller's shell points at."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if not k.startswith("LASTMILE_") or k == "LASTMILE_CACHE"}


def _jaas(value: str) -> str:
    """A value inside a JAAS option's double quotes."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _parse(field: dataclasses.Field, raw: str):
    name = "LASTMILE_" + field.name.upper()
    kind = field.type if isinstance(field.type, str) else field.type.__name__
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if kind.endswith("Path"):
        return pathlib.Path(raw).expanduser()
    return raw


def _split_host_port(address: str, name: str) -> tuple[str, int]:
    host, sep, port = address.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{name} must be host:port, got {address!r}")
    return host.strip("[]"), int(port)


def _is_identifier(name: str) -> bool:
    return bool(name) and name.replace("_", "a").isalnum() and not name[0].isdigit()
