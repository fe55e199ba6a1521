"""Fetch the jars the wheels do not ship (Kafka broker, Flink connectors) with Maven,
and build the project's own JVM functions (``udfs/jvm``).

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
from lastmile.paths import INFRA_DIR, REPO_ROOT

UDF_SOURCES = REPO_ROOT / "udfs" / "jvm"

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
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    _maven(INFRA_DIR / "jars" / name / "pom.xml",
           ["dependency:copy-dependencies", "-DincludeScope=runtime", f"-DoutputDirectory={partial}",
            *(f"-D{k}={v}" for k, v in JAR_SETS[name].items())],
           f"fetch the {name} jars", done=lambda: any(partial.glob("*.jar")))
    (partial / ".complete").write_text("ok\n")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def fetch_all(config: Config) -> dict[str, pathlib.Path]:
    return {**{name: fetch(config, name) for name in JAR_SETS}, "lastmile-udfs": udf_jar(config)}


def flink_connector_jars(config: Config) -> list[pathlib.Path]:
    """The jars a Flink job needs on its classpath (``pipeline.jars``): connectors and our functions."""
    return [*sorted(fetch(config, "flink-connectors").glob("*.jar")), udf_jar(config)]


def udf_jar(config: Config) -> pathlib.Path:
    """The shaded jar of ``udfs/jvm``, built by Maven the first time and whenever its sources,
    the pinned versions or the contract (schemas, rules) change.

    The contract goes into the jar as ``lastmile/contract.json``, generated from
    ``avro_schemas/`` and ``udfs/contracts/rules.py`` (:mod:`udfs.contracts.jvm_export`).
    """
    from udfs.contracts.jvm_export import contract_json

    contract = contract_json()
    digest = hashlib.sha256("|".join((contract, versions.FLINK_VERSION, versions.AVRO_JAVA_VERSION,
                                      versions.H3_JAVA_VERSION, versions.FLINK_KAFKA_CONNECTOR_VERSION)).encode())
    for path in sorted(p for p in UDF_SOURCES.rglob("*") if p.is_file() and "target" not in p.parts):
        digest.update(str(path.relative_to(UDF_SOURCES)).encode() + path.read_bytes())
    target = config.cache / "jars" / f"lastmile-udfs-{digest.hexdigest()[:12]}"
    jar = target / "lastmile-udfs.jar"
    if jar.exists():
        return jar
    build = target.with_name(target.name + ".build")
    shutil.rmtree(build, ignore_errors=True)
    (build / "contract").mkdir(parents=True)
    (build / "contract" / "contract.json").write_text(contract)
    built = build / "target" / "lastmile-udfs-0.jar"
    _maven(UDF_SOURCES / "pom.xml",
           ["package", f"-Dbuild.dir={build / 'target'}", f"-Dcontract.dir={build / 'contract'}",
            f"-Dflink.version={versions.FLINK_VERSION}", f"-Davro.version={versions.AVRO_JAVA_VERSION}",
            f"-Dflink.kafka.connector.version={versions.FLINK_KAFKA_CONNECTOR_VERSION}",
            f"-Dh3.version={versions.H3_JAVA_VERSION}"],
           "build udfs/jvm", done=built.exists)
    target.mkdir(parents=True, exist_ok=True)
    shutil.move(str(built), jar)
    shutil.rmtree(build, ignore_errors=True)
    return jar


def _maven(pom: pathlib.Path, args: list[str], what: str, done) -> None:
    """Run Maven quietly on ``pom``; a StackError naming ``what`` when Maven is missing, fails,
    or leaves ``done()`` false."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(f"Maven (mvn) is needed to {what}; install it (apt-get install maven)")
    result = subprocess.run([mvn, "-q", "-B", "-f", str(pom), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0 or not done():
        tail = " | ".join(result.stdout.strip().splitlines()[-5:])
        raise StackError(f"Maven could not {what} (exit {result.returncode}): {tail}")
