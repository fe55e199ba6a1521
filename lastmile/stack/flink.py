"""`lastmile cluster up | down | status`: a standalone Flink cluster on this machine.

One JobManager and ``flink_taskmanagers`` TaskManagers (default 2) as separate JVMs,
started with the daemon scripts of the distribution inside the pinned apache-flink
wheel (``pyflink/bin``), configured from ``infra/flink/config.yaml`` under
``$LASTMILE_HOME/flink`` (conf, logs, pid files, checkpoints, savepoints). The wheel
keeps ``flink-python`` in ``opt/``; the cluster's lib folder is the wheel's ``lib/`` plus
that jar (links, the wheel is not changed). In thread mode each TaskManager runs its
Python functions in its own interpreter: this is how the job uses both cores.

Jobs reach it with ``lastmile run --jobmanager HOST:PORT`` (planned in that process and
submitted to the REST endpoint, see ``lastmile.run._submit``), or with the
distribution's own ``flink run -pym lastmile.run``.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import string
import subprocess
import sys
import time
import urllib.request

from lastmile.config import Config
from lastmile.errors import StackError
from lastmile.paths import INFRA_DIR, REPO_ROOT
from lastmile.stack import jars
from lastmile.stack.process import port_is_free

TASKMANAGER_MEMORY = "2560m"


def wheel_home() -> pathlib.Path:
    import pyflink

    return pathlib.Path(pyflink.__file__).resolve().parent


def wheel_python_jars() -> list[pathlib.Path]:
    """The wheel's ``opt/flink-python-*.jar`` (PyFlink puts it on its JVM's class path)."""
    return sorted((wheel_home() / "opt").glob("flink-python-*.jar"))


def tools_classpath(config: Config) -> str:
    """The udfs jar and the connectors with Flink's own API and runtime from PyFlink's wheel:
    for the JVM tools run outside a job (udfs/jvm ``tools``, the tests' harness)."""
    return os.pathsep.join(map(str, [*jars.flink_connector_jars(config),
                                     *sorted((wheel_home() / "lib").glob("flink-dist-*.jar"))]))


def run_tool(config: Config, tool: str, *args: str, what: str) -> str:
    """Run udfs/jvm ``tools.<tool>`` with ``args``: the last line it printed, or a StackError
    naming ``what`` with the last line of its error output."""
    done = subprocess.run(["java", "-XX:TieredStopAtLevel=1", "-cp", tools_classpath(config),
                           f"io.lastmile.udfs.tools.{tool}", *args], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise StackError(f"{what}: {last}")
    return (done.stdout.strip().splitlines() or [""])[-1]


def cluster_dir(config: Config) -> pathlib.Path:
    return config.home / "flink"


def rest_url(config: Config) -> str:
    return f"http://{config.flink_rest}"


def _env(config: Config) -> dict[str, str]:
    """What the daemon scripts and the flink CLI need: our conf, lib and log folders, and
    this venv first on PATH (pemja finds its interpreter there)."""
    base = cluster_dir(config)
    venv_bin = os.path.dirname(sys.executable)
    return {**os.environ, "FLINK_CONF_DIR": str(base / "conf"), "FLINK_LIB_DIR": str(base / "lib"),
            "FLINK_LOG_DIR": str(base / "log"), "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
            "PYFLINK_CLIENT_EXECUTABLE": sys.executable}


def _script(name: str) -> str:
    return str(wheel_home() / "bin" / name)


def rest_json(config: Config, path: str, timeout_s: float = 5.0) -> dict:
    """GET ``path`` of the cluster's REST API as JSON (raises OSError or ValueError)."""
    with urllib.request.urlopen(f"{rest_url(config)}{path}", timeout=timeout_s) as resp:
        return json.load(resp)


def overview(config: Config, timeout_s: float = 2.0) -> dict | None:
    """The cluster's ``/overview`` (task managers, slots, jobs), or None if it does not answer."""
    try:
        return rest_json(config, "/overview", timeout_s)
    except (OSError, ValueError):
        return None


def _prepare(config: Config) -> None:
    base = cluster_dir(config)
    for sub in ("conf", "lib", "log", "run", "checkpoints", "savepoints"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    host, _, port = config.flink_rest.rpartition(":")
    template = string.Template((INFRA_DIR / "flink" / "config.yaml").read_text())
    (base / "conf" / "config.yaml").write_text(template.substitute(
        host=host, rest_port=port, rpc_port=int(port) + 1, pid_dir=base / "run", taskmanagers=config.flink_taskmanagers,
        taskmanager_memory=TASKMANAGER_MEMORY, python=sys.executable, checkpoints=(base / "checkpoints").as_uri(),
        savepoints=(base / "savepoints").as_uri()))
    for log_config in wheel_home().joinpath("conf").glob("log4j*.properties"):  # without them, no log files
        shutil.copyfile(log_config, base / "conf" / log_config.name)
    lib = base / "lib"
    for old in lib.iterdir():
        old.unlink()
    wheel = wheel_home()
    # The job's own jars (connectors, udfs/jvm) too: a job on this cluster then ships none
    # (see has_job_jars), and `flink run -pym lastmile.run` plans with them on its classpath.
    for jar in [*sorted((wheel / "lib").glob("*.jar")), *wheel_python_jars(), *jars.flink_connector_jars(config)]:
        (lib / jar.name).symlink_to(jar)


def local_lib(config: Config) -> pathlib.Path:
    """A lib folder for the JVM that PyFlink starts in this process (the MiniCluster's, and
    the planner's): the wheel's ``lib/`` plus the job's jars, as links.

    With the job's jars on that JVM's own classpath every thread of it sees them. Handed
    over as ``pipeline.jars`` instead, PyFlink puts them into the context class loader of
    the one Java thread that served the call; a later call served by another py4j
    connection (one opens whenever a call comes in while another is in progress, e.g.
    from a callback of the planner) then fails with ``ClassNotFoundException`` for
    ``io.lastmile.udfs`` classes. Named by the jars it links, so a change makes a new one
    and processes running with the old one keep it.
    """
    wanted = [*sorted((wheel_home() / "lib").glob("*.jar")), *jars.flink_connector_jars(config)]
    digest = hashlib.sha256("\n".join(str(j.resolve()) for j in wanted).encode()).hexdigest()[:12]
    lib = config.cache / "flink-local" / f"lib-{digest}"
    if not lib.is_dir():
        partial = lib.with_name(f"{lib.name}.{os.getpid()}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for jar in wanted:
            (partial / jar.name).symlink_to(jar.resolve())
        try:
            partial.rename(lib)
        except OSError:  # another process made it first: the same links
            shutil.rmtree(partial, ignore_errors=True)
    return lib


def has_job_jars(config: Config) -> bool:
    """Whether the running cluster of this home has the job's jars, as this checkout builds
    them, in its lib folder (a cluster started before a change to udfs/jvm has older ones)."""
    lib = cluster_dir(config) / "lib"
    return bool(running_pids(config)) and all(
        (lib / jar.name).resolve() == jar.resolve() for jar in jars.flink_connector_jars(config))


def python_code_digest() -> str:
    """A digest of the Python code the TaskManagers import (``udfs/``)."""
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "udfs").rglob("*.py")):
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def has_current_code(config: Config) -> bool:
    """Whether the running cluster of this home started with the Python code of this checkout.

    In thread mode a TaskManager's interpreter lives as long as the TaskManager and keeps
    the modules the first job imported: a job submitted after a change to ``udfs/`` would
    run the old functions there (pickled functions refer to their modules by name).
    """
    started = cluster_dir(config) / "run" / "python-code.sha256"
    return bool(running_pids(config)) and started.exists() and started.read_text() == python_code_digest()


def up(config: Config, say=print) -> None:
    """Start the JobManager and the TaskManagers; wait until every TaskManager has registered."""
    current = overview(config)
    if current is not None:
        missing = config.flink_taskmanagers - current.get("taskmanagers", 0)
        if missing > 0 and running_pids(config):  # this home's cluster lost some: start them again
            env = _env(config)
            for _ in range(missing):
                _run([_script("taskmanager.sh"), "start"], {**env, "JVM_ARGS": _cds_options(config, "taskmanager")},
                     "a Flink TaskManager")
            _wait_for_taskmanagers(config, say)
            return
        say(f"flink: already running at {rest_url(config)} ({current.get('taskmanagers')} task managers)")
        return
    host, _, port = config.flink_rest.rpartition(":")
    for p, what in ((int(port), "Flink REST"), (int(port) + 1, "Flink RPC")):
        if not port_is_free(host, p):
            raise StackError(f"port {p} ({what}) already in use by another process; stop it, or point "
                             "LASTMILE_FLINK_REST at a free port")
    _prepare(config)
    (cluster_dir(config) / "run" / "python-code.sha256").write_text(python_code_digest())
    env = _env(config)
    _run([_script("jobmanager.sh"), "start"], {**env, "JVM_ARGS": _cds_options(config, "jobmanager")},
         "the Flink JobManager")
    for i in range(config.flink_taskmanagers):
        # One TaskManager writes the archive when there is none: two would write the same file.
        options = _cds_options(config, "taskmanager") if i == 0 or _has_cds(config, "taskmanager") else ""
        _run([_script("taskmanager.sh"), "start"], {**env, "JVM_ARGS": options}, "a Flink TaskManager")
    _wait_for_taskmanagers(config, say)


def _wait_for_taskmanagers(config: Config, say) -> None:
    deadline = time.monotonic() + config.startup_timeout_s
    while time.monotonic() < deadline:
        current = overview(config)
        if current is not None and current.get("taskmanagers", 0) >= config.flink_taskmanagers:
            say(f"flink: JobManager and {current['taskmanagers']} TaskManagers at {rest_url(config)}, "
                f"logs in {cluster_dir(config) / 'log'}")
            return
        time.sleep(0.5)
    raise StackError(f"the Flink cluster at {rest_url(config)} did not come up within {config.startup_timeout_s:.0f} s; "
                     f"see {cluster_dir(config) / 'log'}")


def _archive(config: Config, role: str) -> pathlib.Path:
    """The archive of the cluster's JVMs of ``role``, named by their class path and their JVM
    options (an archive written under one collector is of no use to another)."""
    from lastmile.stack import cds

    options = [line for line in (cluster_dir(config) / "conf" / "config.yaml").read_text().splitlines()
               if line.startswith(("env.java.opts.all", f"env.java.opts.{role}"))]
    flavour = hashlib.sha256("\n".join(options).encode()).hexdigest()[:8]
    return cds.archive_for(config, f"flink-{role}-{flavour}", sorted((cluster_dir(config) / "lib").glob("*.jar")))


def _cds_options(config: Config, role: str) -> str:
    """JVM options of a cluster JVM of ``role``: a class-data sharing archive of the classes the
    JVMs of its kind loaded, the job's included (its jars are in the cluster's lib), written by
    the first one when it stops (lastmile.stack.cds). The first job on a fresh TaskManager
    loaded and verified thousands of classes (Kafka, Avro, H3, the job's) while it ran."""
    from lastmile.stack import cds

    return " ".join(cds.jvm_options(_archive(config, role)))


def _has_cds(config: Config, role: str) -> bool:
    return _archive(config, role).exists()


def down(config: Config, say=print) -> None:
    """Stop every TaskManager and the JobManager this home started; leaves no process."""
    if not (cluster_dir(config) / "conf" / "config.yaml").exists():
        say("flink: not running")
        return
    env = _env(config)
    _run([_script("taskmanager.sh"), "stop-all"], env, "the Flink TaskManagers", check=False)
    _run([_script("jobmanager.sh"), "stop-all"], env, "the Flink JobManager", check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (running_pids(config) or overview(config, 0.5) is not None):
        time.sleep(0.3)
    for pid in running_pids(config):  # still there after the scripts' SIGTERM
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    say("flink: stopped")


def running_pids(config: Config) -> list[int]:
    """Live JobManager and TaskManager processes of this home (from the daemon scripts' pid files)."""
    pids = []
    for pid_file in (cluster_dir(config) / "run").glob("*.pid"):
        for line in pid_file.read_text().split():
            if line.isdigit() and pathlib.Path(f"/proc/{line}").exists():
                pids.append(int(line))
    return pids


def savepoint(config: Config, job_id: str, stop: bool = False, timeout_s: float = 300.0) -> str:
    """Take a savepoint of ``job_id`` on the cluster at ``LASTMILE_FLINK_REST`` into the
    cluster's savepoint folder (a cluster of this home: ``<home>/flink/savepoints``); with
    ``stop``, stop the job once it is taken (its sinks flushed: nothing is written twice on a
    resume from it). Returns the savepoint's location."""
    import re
    import urllib.error
    import urllib.parse

    if not re.fullmatch(r"[0-9a-f]{32}", job_id):
        raise StackError(f"a Flink job id is 32 hex digits, got {job_id!r}")
    action = "stop" if stop else "savepoints"
    body = {"drain": False} if stop else {"cancel-job": False}
    request = urllib.request.Request(f"{rest_url(config)}/jobs/{job_id}/{action}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            trigger = json.loads(resp.read())["request-id"]
    except urllib.error.HTTPError as err:
        raise StackError(f"the cluster at {rest_url(config)} refused a savepoint of job {job_id}: "
                         f"{err.read().decode(errors='replace')[:300]}") from None
    except OSError as err:
        raise StackError(f"no Flink cluster answers at {rest_url(config)}: {err}") from None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = rest_json(config, f"/jobs/{job_id}/savepoints/{trigger}", timeout_s=10)
        if found.get("status", {}).get("id") == "COMPLETED":
            operation = found.get("operation", {})
            if "location" in operation:  # a local folder as a path, anything else as the URI it is
                location = operation["location"]
                return urllib.parse.urlparse(location).path if location.startswith("file:") else location
            cause = (operation.get("failure-cause") or {}).get("stack-trace", "unknown cause").splitlines()[0]
            raise StackError(f"the savepoint of job {job_id} failed: {cause.rpartition('Exception: ')[2][:300]}")
        time.sleep(0.5)
    raise StackError(f"the savepoint of job {job_id} did not complete within {timeout_s:.0f} s")


def status(config: Config) -> dict:
    current = overview(config)
    return {"address": rest_url(config), "running": current is not None,
            "taskmanagers": (current or {}).get("taskmanagers", 0), "slots": (current or {}).get("slots-total", 0),
            "jobs_running": (current or {}).get("jobs-running", 0)}


def _run(argv: list[str], env: dict, what: str, check: bool = True) -> None:
    result = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and result.returncode != 0:
        raise StackError(f"could not start {what} (exit {result.returncode}): {result.stdout.strip()[-300:]}")
