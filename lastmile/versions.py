"""Every pinned version of the platform, in one place.

setup.py reads the Python pins from here, and the jar fetcher passes the Maven
coordinates to the poms under ``infra/jars/``. Flink and its Kafka connector are a
matched pair: the connector's version suffix (``-2.2``) names the Flink minor it
was built for; change both together.
"""

PYTHON_REQUIRES = ">=3.11,<3.12"

FLINK_VERSION = "2.2.1"
FLINK_KAFKA_CONNECTOR_VERSION = "5.0.0-2.2"
KAFKA_VERSION = "4.4.0"
LOG4J_VERSION = "2.24.3"
CHDB_CORE_VERSION = "26.9.0"
# Libraries shaded into the project's own JVM functions (udfs/jvm).
AVRO_JAVA_VERSION = "1.12.0"
# h3-java and h3-py bundle the same H3 C release (4.4.x), so the JVM's cells are the Python's bit for bit.
H3_JAVA_VERSION = "4.4.0"

# Python distributions the runtime needs, pinned to what was verified together.
RUNTIME_REQUIREMENTS = [
    f"apache-flink=={FLINK_VERSION}",
    f"chdb-core=={CHDB_CORE_VERSION}",
    "confluent-kafka==2.16.1",
    "fastavro==1.13.1",
    "h3==4.4.2",
    "numba==0.68.1",
    "numpy==2.1.3",
    "clickhouse-connect==1.12.0",
    "clickhouse-driver==0.2.11",
    "rich==15.0.0",
    "plotly==7.1.0",  # lastmile report --html: charts in one self-contained file
    "starlette==1.10.0",  # lastmile map: the live map's web server (ASGI)
    "uvicorn==0.54.0",
]

TEST_REQUIREMENTS = [
    "pytest==9.2.0",
    "hypothesis==6.170.17",
    "playwright==1.65.2",  # the live map's test in a real browser (Debian's chromium, not a downloaded one)
    "pyyaml==6.0.4",  # infra/k8s manifests checked against the code
]

# `make lint`: rules and checked packages in pyproject.toml.
LINT_REQUIREMENTS = [
    "ruff==0.17.6",
    "mypy==2.4.1",
]
