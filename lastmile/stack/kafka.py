"""A single-node KRaft Kafka broker run from Maven Central jars."""
from __future__ import annotations

import base64
import shutil
import socket
import string
import subprocess
import uuid

from lastmile import credentials
from lastmile.config import Config
from lastmile.errors import StackError
from lastmile.paths import INFRA_DIR
from lastmile.stack import jars
from lastmile.stack.process import ManagedProcess, wait_until

HEAP = "-Xmx768m"


def process(config: Config) -> ManagedProcess:
    return ManagedProcess("kafka", config.home / "run", marker=f"kafka.Kafka {config.home / 'kafka'}")


def ports(config: Config) -> dict[int, str]:
    return {config.kafka_port: "Kafka broker", config.kafka_controller_port: "Kafka controller"}


def healthy(config: Config, timeout_s: float = 2.0) -> bool:
    """True when the broker answers a metadata request."""
    if not _tcp_open(config.kafka_host, config.kafka_port):
        return False
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({**config.kafka_client(), "log_level": 0})
    try:
        admin.list_topics(timeout=timeout_s)
    except Exception:  # noqa: BLE001 - any failure here just means "not healthy yet"
        return False
    return True


def formatted(config: Config) -> bool:
    """The broker's storage exists (its security was decided when it was formatted)."""
    return (config.home / "kafka" / "data" / "meta.properties").exists()


def start(config: Config) -> int:
    """Format storage on first start, then launch the broker; returns its pid."""
    kafka_dir = config.home / "kafka"
    data_dir = kafka_dir / "data"
    kafka_dir.mkdir(parents=True, exist_ok=True)
    props = kafka_dir / "server.properties"
    accounts = credentials.stack(config.home)  # a secure stack's (`lastmile up --secure`), or none
    security = ""
    if accounts:
        security = string.Template((INFRA_DIR / "kafka" / "secure.properties").read_text()).substitute(
            user=accounts["kafka"]["username"], password=accounts["kafka"]["password"],
            controller_user=accounts["controller"]["username"], controller_password=accounts["controller"]["password"])
    template = string.Template((INFRA_DIR / "kafka" / "server.properties").read_text())
    credentials.write_owner_only(props, template.substitute(  # a secure stack's holds passwords
        host=config.kafka_host, port=config.kafka_port, controller_port=config.kafka_controller_port,
        log_dir=data_dir, partitions=config.topic_partitions, security=security,
        listener="SASL_PLAINTEXT" if accounts else "PLAINTEXT",
        controller_protocol="SASL_PLAINTEXT" if accounts else "PLAINTEXT",
        auto_create="false" if accounts else "true",
    ))
    classpath = str(jars.fetch(config, "kafka-broker") / "*")
    java = shutil.which("java")
    if java is None:
        raise StackError("Java 17+ is needed for the Kafka broker (apt-get install openjdk-17-jre-headless)")
    if not formatted(config):
        # "=" form: a base64 id may start with "-", which the tool would read as an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # a secure stack's pipeline account exists from the start (SCRAM credentials live in the metadata)
        scram = (["--add-scram", f"{credentials.MECHANISM}=[name={accounts['kafka']['username']},"
                  f"password={accounts['kafka']['password']}]"] if accounts else [])
        fmt = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(props),
             "--ignore-formatted", *scram],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        if fmt.returncode != 0:
            raise StackError(f"formatting Kafka storage failed: {fmt.stdout.strip().splitlines()[-1:]}")
    proc = process(config)
    logs = config.home / "logs"
    argv = [java, HEAP, "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={INFRA_DIR / 'kafka' / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={logs}", "-cp", classpath, "kafka.Kafka", str(props)]
    return proc.start(argv, cwd=kafka_dir)


def wait_healthy(config: Config) -> None:
    proc = process(config)
    wait_until(lambda: healthy(config), config.startup_timeout_s, f"Kafka broker at {config.kafka_bootstrap}",
               alive=proc.started_alive, log=proc.log_file)


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
