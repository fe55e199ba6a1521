"""The Kubernetes deployment (infra/k8s/) against the code, since no Kubernetes runs here: the
manifests parse and have what the Flink Kubernetes Operator needs; the image's Flink, the
entry point and the job's arguments are the ones this checkout runs; every setting the pods
get is one lastmile reads; every secret they read is in the example secret."""
import dataclasses
import re

import pytest
import yaml

from lastmile import run, versions
from lastmile.config import Config
from lastmile.paths import INFRA_DIR
from lastmile.stack import flink

K8S = INFRA_DIR / "k8s"


@pytest.fixture(scope="module")
def deployment() -> dict:
    return yaml.safe_load((K8S / "flink-deployment.yaml").read_text())


def test_the_deployment_has_what_the_operator_needs(deployment):
    assert (deployment["apiVersion"], deployment["kind"]) == ("flink.apache.org/v1beta1", "FlinkDeployment")
    spec = deployment["spec"]
    major, minor, _ = versions.FLINK_VERSION.split(".")
    assert spec["flinkVersion"] == f"v{major}_{minor}"
    conf = spec["flinkConfiguration"]
    assert conf["high-availability.type"] == "kubernetes" and conf["high-availability.storageDir"].startswith("s3://")
    for key in ("execution.checkpointing.dir", "execution.checkpointing.savepoint-dir"):
        assert conf[key].startswith("s3://"), key
    assert conf["python.execution-mode"] == "thread" and conf["taskmanager.numberOfTaskSlots"] == "1"
    for role in ("jobManager", "taskManager"):
        assert {"memory", "cpu"} <= set(spec[role]["resource"]), role
    job = spec["job"]
    assert job["upgradeMode"] == "savepoint" and job["state"] == "running" and job["parallelism"] >= 1


def test_the_entry_point_and_arguments_are_this_checkout_s(deployment):
    job = deployment["spec"]["job"]
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    # the jar the image puts there is PyFlink's own, of the pinned Flink version
    assert job["jarURI"] == f"local:///opt/flink/opt/flink-python-{versions.FLINK_VERSION}.jar"
    assert [p.name for p in flink.wheel_python_jars()] == [f"flink-python-{versions.FLINK_VERSION}.jar"]
    flag, module, *args = job["args"]
    assert (flag, module) == ("-pym", "lastmile.run")
    parsed = run.parser().parse_args(args)  # what `python -m lastmile.run` accepts
    assert parsed.cluster_state and not parsed.bounded  # live, with the cluster's checkpoints


def test_the_image_is_built_from_the_pinned_versions(deployment):
    dockerfile = (K8S / "Dockerfile").read_text()
    assert f"ARG FLINK_VERSION={versions.FLINK_VERSION}" in dockerfile
    assert "FROM python:3.11" in dockerfile  # PYTHON_REQUIRES
    assert "lastmile fetch-jars --into" in dockerfile and "pip install --no-cache-dir /opt/lastmile" in dockerfile
    from importlib.metadata import version

    assert deployment["spec"]["image"] == f"lastmile:{version('lastmile')}"
    assert f"-t lastmile:{version('lastmile')}" in dockerfile


def test_every_setting_the_pods_get_is_read_by_lastmile_and_every_secret_exists(deployment):
    fields = {f"LASTMILE_{f.name.upper()}" for f in dataclasses.fields(Config)}
    container = deployment["spec"]["podTemplate"]["spec"]["containers"][0]
    assert container["name"] == "flink-main-container"  # the operator merges its template by this name
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    for variable in container["env"]:
        assert variable["name"] in fields, variable["name"]
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret["stringData"], variable
    assert secret["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert re.fullmatch(r"[a-z0-9-]+", deployment["metadata"]["name"])
