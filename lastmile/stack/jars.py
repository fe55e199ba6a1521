"""Fetch the jars the wheels do not ship (Kafka broker, Flink connectors) with Maven.

Each pom under ``infra/jars/<set>/`` names its artifacts with version properties
that come from :mod:`lastmile.versions`. The resolved classpath is copied into
``<cache>/jars/<set>-<digest>/``; the digest covers the pom and the versions, so a
version change fetches anew and an unchanged one works offline.
"""
from __future__ import annotations

import hashlib
import pathlib
import shutil
import subprocess

from lastmile import versions
from lastmile.config import Config
from lastmile.errors import StackError
from lastmile.paths import INFRA_DIR

JAR_SETS = {
    "kafka-broker": {
        "kafka.version": versions.KAFKA_VERSION,
        "log4j.version": versions.LOG4J_VERSION,
    },
    "flink-connectors": {
        "flink.kafka.connector.version": versions.FLINK_KAFKA_CONNECTOR_VERSION,
    },
}


def jar_dir(config: Config, name: str) -> pathlib.Path:
    props = JAR_SETS[name]
    pom = INFRA_DIR / "jars" / name / "pom.xml"
    digest = hashlib.sha256(pom.read_bytes() + repr(sorted(props.items())).encode()).hexdigest()[:12]
    return config.cache / "jars" / f"{name}-{digest}"


def fetch(config: Config, name: str) -> pathlib.Path:
    """Return the folder holding jar set ``name``, running Maven only the first time."""
    target = jar_dir(config, name)
    if (target / ".complete").exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (mvn) is needed once to fetch the jars; install it (apt-get install maven)")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    args = [mvn, "-q", "-B", "-f", str(INFRA_DIR / "jars" / name / "pom.xml"),
            "dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={partial}"]
    args += [f"-D{k}={v}" for k, v in JAR_SETS[name].items()]
    result = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0 or not any(partial.glob("*.jar")):
        tail = " | ".join(result.stdout.strip().splitlines()[-3:])
        raise StackError(f"Maven could not fetch the {name} jars (exit {result.returncode}): {tail}")
    (partial / ".complete").write_text("ok\n")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def fetch_all(config: Config) -> dict[str, pathlib.Path]:
    return {name: fetch(config, name) for name in JAR_SETS}


def flink_connector_jars(config: Config) -> list[pathlib.Path]:
    """The connector jars a Flink job needs on its classpath (``pipeline.jars``)."""
    return sorted(fetch(config, "flink-connectors").glob("*.jar"))
