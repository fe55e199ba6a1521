"""Running the coordination job: the Flink environment (connector jars, the JVM's options),
the endpoints checked first, the MiniCluster or a cluster's REST endpoint, checkpoints to
resume from. The graph itself is :mod:`jobs.coordination`'s; this module hands it narrow
settings (``Config.job_settings``) and the ClickHouse columns it encodes rows with.

    lastmile run [--bounded] [--jobmanager HOST:PORT]
    flink run -pym lastmile.run [--bounded]      # from a cluster's own client
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import sys
import time

from lastmile import topics
from lastmile.config import Config
from lastmile.errors import StackError
from lastmile.stack import cds, flink, jars


def stream_env(config: Config, parallelism: int | None = None, extra: dict | None = None, ship_jars: bool = False):
    """A StreamExecutionEnvironment in thread mode with the connector jars on its classpath.

    Without an ``execution.target`` in ``extra`` this is the local MiniCluster inside
    PyFlink's JVM. ``python.executable`` is this interpreter, so the UDF workers import
    the same venv (otherwise: "No module named 'pyflink'"). ``ship_jars``: the job
    carries the jars (``pipeline.jars``) even when they are on the classpath here, for a
    cluster whose lib folder does not have them.
    """
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment

    # pemja (thread mode) finds its interpreter on PATH, not only through
    # python.executable: a venv that is not activated must come first on PATH
    # before the JVM starts, or the task fails with "No module named 'pemja'".
    venv_bin = os.path.dirname(sys.executable)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != venv_bin:
        os.environ["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    jars_on_classpath = _start_gateway_with_jars(config)
    conf = Configuration()
    # Thread mode: Python runs in the task's JVM through pemja, ~2x process mode here.
    conf.set_string("python.execution-mode", "thread")
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.client.executable", sys.executable)
    # Chained operators hand records on without a defensive copy: copying rows between the
    # SQL operators was a quarter of the TaskManagers' Java time (JFR, 300k events). Every
    # operator of ours emits new objects or copies what it keeps (the ClickHouse sinks encode at once).
    conf.set_string("pipeline.object-reuse", "true")
    if ship_jars or not jars_on_classpath:
        conf.set_string("pipeline.jars", ";".join(p.as_uri() for p in jars.flink_connector_jars(config)))
    for key, value in (extra or {}).items():
        conf.set_string(key, str(value))
    with _without_loopback_server():
        if (extra or {}).get("execution.target") == "remote":
            # get_execution_environment() makes a local environment of anything without a
            # context (a `flink run`): the constructor keeps the target and its REST address.
            from pyflink.java_gateway import get_gateway

            env = StreamExecutionEnvironment(get_gateway().jvm.org.apache.flink.streaming.api.environment
                                             .StreamExecutionEnvironment(conf._j_configuration))
        else:
            env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(parallelism or config.parallelism)
    return env


@contextlib.contextmanager
def _without_loopback_server():
    """PyFlink's environment, made for a local MiniCluster, starts a Beam worker pool in this
    process for Python functions in *process* mode (importing Apache Beam: ~0.9 s of every
    `lastmile run`). Thread mode, the only mode lastmile runs, never uses it; PyFlink skips it
    when its private ``_python_worker_execution_mode`` variable says ``process``."""
    before = os.environ.get("_python_worker_execution_mode")
    os.environ["_python_worker_execution_mode"] = "process"
    try:
        yield
    finally:
        if before is None:
            del os.environ["_python_worker_execution_mode"]
        else:
            os.environ["_python_worker_execution_mode"] = before


_gateway_lib = None  # the lib folder this process's PyFlink JVM was started with, if any


def _start_gateway_with_jars(config: Config) -> bool:
    """Start PyFlink's JVM with the job's jars on its classpath, if this process has none yet.

    Whether the JVM has them: True too when an earlier call started it with the same jars;
    False when something else started it (the ``flink run`` client that started this
    process, or a plain PyFlink call before this one): then only ``pipeline.jars`` can
    bring the jars, see :func:`lastmile.stack.flink.local_lib` for why that is the weaker way.
    """
    global _gateway_lib
    from pyflink import java_gateway

    if java_gateway._gateway is not None or "PYFLINK_GATEWAY_PORT" in os.environ:
        return _gateway_lib is not None and _gateway_lib == flink.local_lib(config)
    lib = flink.local_lib(config)
    # This JVM plans the job and, for the MiniCluster, runs it: the client compiler only
    # (as in the cluster's JVMs, infra/flink/config.yaml) and a class-data sharing archive
    # (lastmile.stack.cds) cut its part of the start from ~10.5 to ~6.3 s.
    # The parallel collector: in the MiniCluster this JVM runs the job too, and G1's concurrent
    # work competes with it on 2 cores (as on the cluster's TaskManagers, infra/flink/config.yaml).
    options = ["-XX:TieredStopAtLevel=1", "-XX:+UseParallelGC"]
    archive = cds.archive_for(config, "gateway-parallel-c1", [*sorted(lib.glob("*.jar")), *flink.wheel_python_jars()])
    jvm_args = " ".join([os.environ.get("JVM_ARGS", ""), *options, *cds.jvm_options(archive)])
    # Read by PyFlink's launcher; without FLINK_HOME it would set FLINK_LIB_DIR to the wheel's lib/.
    launcher_env = {"FLINK_HOME": os.environ.get("FLINK_HOME", str(flink.wheel_home())), "FLINK_LIB_DIR": str(lib),
                    "JVM_ARGS": jvm_args.strip()}
    before = {name: os.environ.get(name) for name in launcher_env}
    os.environ.update(launcher_env)
    try:
        java_gateway.get_gateway()
        _gateway_lib = lib
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
    return True


# How the job restarts after a failure (docs/guarantees.md). Live: from the last checkpoint, for
# ever, backing off from 1 s to a minute (with jitter) while a dependency stays down, and back to
# 1 s after an hour without failures; every failed checkpoint fails the job (a Kafka delivery
# failure is never only a log line). Bounded: no checkpoints, so a restart reads the topics
# again from the start (the ClickHouse tables collapse the replay, Kafka outputs are sent
# again); three tries, then the run fails with the cause.
RESTARTS_LIVE = {
    "restart-strategy.type": "exponential-delay",
    "restart-strategy.exponential-delay.initial-backoff": "1 s",
    "restart-strategy.exponential-delay.max-backoff": "1 min",
    "restart-strategy.exponential-delay.backoff-multiplier": "2.0",
    "restart-strategy.exponential-delay.reset-backoff-threshold": "1 h",
    "restart-strategy.exponential-delay.jitter-factor": "0.1",
    "execution.checkpointing.tolerable-failed-checkpoints": "0",
}
RESTARTS_BOUNDED = {
    "restart-strategy.type": "fixed-delay",
    "restart-strategy.fixed-delay.attempts": "3",
    "restart-strategy.fixed-delay.delay": "5 s",
}


def clickhouse_columns(config: Config, tables: dict) -> dict[str, list[tuple[str, str]]]:
    """``(column, ClickHouse type)`` of each table's columns in the given order, from the
    server's ``system.columns``: what the rows are encoded with (udfs.sinks.rowbinary)."""
    from lastmile.clickhouse import http_client

    client = http_client(config)
    try:
        found = {(t, c): ty for t, c, ty in client.query(
            "SELECT table, name, type FROM system.columns WHERE database = {db:String} AND table IN {tables:Array(String)}",
            parameters={"db": config.clickhouse_database, "tables": list(tables)}).result_rows}
    finally:
        client.close()
    missing = [f"{t}.{c}" for t, cols in tables.items() for c in cols if (t, c) not in found]
    if missing:
        raise StackError(f"ClickHouse database {config.clickhouse_database} lacks {', '.join(missing[:5])}: "
                         "run `lastmile migrate`")
    return {t: [(c, found[(t, c)]) for c in cols] for t, cols in tables.items()}


def empty_sources(config: Config, sources: dict[str, str]) -> frozenset[str]:
    """The names of ``sources`` (name -> topic pattern) whose pattern matches no topic yet."""
    return frozenset(name for name, pattern in sources.items() if not topics.matching(config, pattern))


def latest_checkpoint(home: pathlib.Path) -> pathlib.Path | None:
    """The newest completed checkpoint under ``<home>/checkpoints`` (one with ``_metadata``)."""
    done = sorted((home / "checkpoints").glob("*/chk-*/_metadata"), key=lambda p: p.stat().st_mtime)
    return done[-1].parent if done else None


def _check_endpoints(config: Config) -> None:
    """Fail before starting Flink, in one line, when Kafka or ClickHouse (or its database) is
    not there; the coordination topics exist afterwards."""
    from lastmile.clickhouse import http_client

    topics.ensure_topics(config, list(topics.COORDINATION_TOPICS))
    http_client(config).close()


def submit_detached(config: Config, bounded: bool, jobmanager: str, from_savepoint: str | None = None,
                    say=print) -> str:
    """Submit the job to the cluster at ``jobmanager`` and return its id without waiting."""
    _check_endpoints(config)
    target = {**_check_jobmanager(config, jobmanager), "execution.attached": "false"}
    return _submit(config, bounded, jobmanager, target, say, from_savepoint=from_savepoint, detach=True) or ""


def run(config: Config, bounded: bool, jobmanager: str | None = None, say=print, progress: bool = False,
        from_savepoint: str | None = None) -> float:
    """Run on the configured Kafka and ClickHouse; returns seconds taken.

    Without ``jobmanager`` in the local MiniCluster (one JVM, one Python interpreter); with
    it, planned here and submitted to that Flink cluster's REST endpoint (:func:`_submit`),
    waiting for the job to end. Unbounded runs checkpoint every
    ``checkpoint_interval_s`` to ``<home>/checkpoints`` and resume from the latest
    completed checkpoint there.
    """
    _check_endpoints(config)
    target = _check_jobmanager(config, jobmanager) if jobmanager else None
    started = time.monotonic()
    reporter: contextlib.AbstractContextManager = contextlib.nullcontext()
    if progress:
        from lastmile.progress import ProgressReporter, backlog

        reporter = ProgressReporter(config, backlog(config) if bounded else None)
    with reporter:
        if target:
            _submit(config, bounded, jobmanager or "", target, say, from_savepoint=from_savepoint)
        else:
            execute(config, bounded, say, from_savepoint=from_savepoint)
    return time.monotonic() - started


def execute(config: Config, bounded: bool, say=print, target: dict | None = None, ship_jars: bool = False,
            own_state: bool = True, from_savepoint: str | None = None, detach: bool = False) -> str | None:
    """Build and execute the job in this process's Flink environment: the MiniCluster, the
    cluster of the ``flink run`` that started this process, or the cluster ``target`` names
    (Flink settings, see :func:`_submit`). ``own_state``: checkpoints under ``<home>/checkpoints``
    and a restart from the newest of them; without, the cluster's own settings (a Kubernetes
    deployment: object storage, its operator restores). ``from_savepoint``: start from that
    savepoint (or retained checkpoint) instead. ``detach``: return the job's id once submitted."""
    from jobs import coordination
    from udfs.rows import COLUMNS

    extra = {**RESTARTS_BOUNDED, **dict(target or {})}
    if not bounded and not own_state:
        extra.update(RESTARTS_LIVE)
    if not bounded and own_state:
        checkpoints = config.home / "checkpoints"
        checkpoints.mkdir(parents=True, exist_ok=True)
        checkpoints.chmod(0o700)  # the job's state: partners' coordinates and recipient keys
        extra.update({"execution.checkpointing.interval": f"{int(config.checkpoint_interval_s * 1000)} ms",
                      "execution.checkpointing.dir": checkpoints.as_uri(),
                      "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
                      # a few to fall back on should the newest be unreadable; older ones are deleted
                      "execution.checkpointing.num-retained": "3",
                      **RESTARTS_LIVE})
        resume = latest_checkpoint(config.home)
        if resume is not None and from_savepoint is None:
            extra["execution.state-recovery.path"] = resume.as_uri()
            say(f"resuming from checkpoint {resume}")
    if from_savepoint is not None:
        extra["execution.state-recovery.path"] = _state_uri(from_savepoint)
        say(f"starting from savepoint {from_savepoint}")
    settings = config.job_settings()
    env = stream_env(config, extra=extra, ship_jars=ship_jars)
    empty = empty_sources(config, coordination.SOURCES) if bounded else frozenset()
    coordination.build(env, coordination.kafka_sources(env, settings, bounded, empty),
                       coordination.production_sinks(settings, clickhouse_columns(config, COLUMNS)), settings)
    if detach:
        return str(env.execute_async("lastmile-coordination").get_job_id())
    env.execute("lastmile-coordination")
    return None


def _state_uri(path: str) -> str:
    """A savepoint or checkpoint given as a path or a URI, as Flink's recovery path."""
    import re
    import urllib.parse

    if path.startswith("file:"):
        path = urllib.parse.urlparse(path).path
    elif re.match(r"[a-z][a-z0-9+.-]*://", path):  # s3://, hdfs://: where the cluster reads it
        return path
    local = pathlib.Path(path).absolute()
    if not (local / "_metadata").exists():
        raise StackError(f"no savepoint at {local} (a savepoint folder holds a _metadata file)")
    return local.as_uri()


def _submit(config: Config, bounded: bool, jobmanager: str, target: dict, say, from_savepoint: str | None = None,
            detach: bool = False) -> str | None:
    """Plan the job here and submit it to the cluster at ``jobmanager`` (its REST endpoint):
    attached, returns when the job has ended; with ``detach``, returns its id once submitted.

    Planned in this process's PyFlink JVM, like a MiniCluster run (its class-data sharing
    archive and client compiler, :func:`stream_env`): ``flink run -py`` would start a bash
    script, a JVM for its options, the client JVM and a second Python process first, about
    2 s more before the job exists. The cluster's TaskManagers import the same installed
    package. :func:`main` below stays the entry point for ``flink run -pym lastmile.run``.
    """
    from py4j.protocol import Py4JJavaError

    local = jobmanager == config.flink_rest
    if local and flink.running_pids(config) and not flink.has_current_code(config):
        # Its TaskManagers would run the functions they imported for an earlier job.
        if flink.status(config)["jobs_running"]:
            raise StackError("the local Flink cluster runs a job and was started with other Python code than this "
                             "checkout's udfs/; stop the job, then `lastmile cluster down` and `up`")
        say("the local Flink cluster was started with other Python code than this checkout's udfs/; restarting it")
        flink.down(config, say=lambda _m: None)
        flink.up(config, say=lambda _m: None)
    ship_jars = not (local and flink.has_job_jars(config))  # a cluster of this home has them in its lib
    if ship_jars and local and flink.running_pids(config):
        say("the local Flink cluster has older job jars than this checkout; shipping the current ones "
            "(restart it, `lastmile cluster down` and `up`, to submit faster)")
    try:
        return execute(config, bounded, say, target=target, ship_jars=ship_jars, from_savepoint=from_savepoint,
                       detach=detach)
    except Py4JJavaError as e:
        raise StackError(f"the job on {jobmanager} failed: {_root_cause(e)}") from None


def _check_jobmanager(config: Config, jobmanager: str) -> dict:
    """The Flink settings that submit to ``jobmanager`` (HOST:PORT of a REST endpoint), once
    a cluster answers there; otherwise one readable line."""
    host, _, port = jobmanager.rpartition(":")
    if not host or not port.isdigit():
        raise StackError(f"--jobmanager {jobmanager!r}: expected HOST:PORT of the cluster's REST endpoint")
    if flink.overview(config.with_overrides(flink_rest=jobmanager)) is None:
        raise StackError(f"no Flink cluster answers at {jobmanager} (`lastmile cluster up` starts one here)")
    return {"execution.target": "remote", "rest.address": host, "rest.port": port, "execution.attached": "true"}


def _root_cause(error) -> str:
    """The innermost cause of a Java exception from py4j, in one line."""
    throwable = error.java_exception
    while throwable.getCause() is not None and throwable.getCause() != throwable:
        throwable = throwable.getCause()
    return f"{throwable.getClass().getName()}: {throwable.getMessage()}"[:300]


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``flink run -pym lastmile.run [--bounded] [--cluster-state]``: the job in the
    cluster's context."""
    args = parser().parse_args(argv)
    execute(Config.from_env(), args.bounded, own_state=not args.cluster_state)


def parser():
    """The arguments of ``python -m lastmile.run`` (``flink run -pym``, infra/k8s/flink-deployment.yaml)."""
    import argparse

    p = argparse.ArgumentParser(description="the lastmile coordination job (for flink run)")
    p.add_argument("--bounded", action="store_true", help="process what is in the topics now, then end")
    p.add_argument("--cluster-state", action="store_true",
                   help="checkpoints and recovery as the cluster is configured (Kubernetes: object storage, the "
                        "operator restores), not under LASTMILE_HOME")
    return p


if __name__ == "__main__":
    main()
