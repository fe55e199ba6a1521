"""The JVM that PyFlink starts in this process has the job's jars on its own classpath.

Handed over as ``pipeline.jars`` only, they were visible to one Java thread (PyFlink sets
them as that thread's context class loader), and planning the coordination job on the
MiniCluster failed now and then with ``ClassNotFoundException: io.lastmile.udfs...``
when a call was served by another py4j connection (lastmile.stack.flink.local_lib).
"""
import threading

from pyflink.java_gateway import get_gateway

from lastmile.config import Config
from lastmile.run import stream_env

JOB_CLASSES = ("io.lastmile.udfs.DecodeRecords", "io.lastmile.udfs.sinks.ClickHouseSink",
               "org.apache.flink.connector.kafka.source.KafkaSource")


def test_job_classes_load_from_the_jvm_classpath_on_any_thread(tmp_path):
    env = stream_env(Config.from_env({}, home=tmp_path))
    jvm = get_gateway().jvm
    system = jvm.java.lang.ClassLoader.getSystemClassLoader()
    for name in JOB_CLASSES:
        assert system.loadClass(name).getName() == name

    # A call from another Python thread while this one holds a connection is served by
    # another py4j connection, so by another Java thread: its context class loader is the
    # JVM's default one, and the classes are there too.
    loaded, errors = [], []

    def load():
        try:
            loader = jvm.Thread.currentThread().getContextClassLoader()
            loaded.extend(loader.loadClass(name).getName() for name in JOB_CLASSES)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    worker = threading.Thread(target=load)
    worker.start()
    worker.join(60)
    assert not errors and loaded == list(JOB_CLASSES)
    # Nothing shipped twice: classes both on the classpath and in pipeline.jars would load
    # in two class loaders in the MiniCluster's tasks.
    conf = env._j_stream_execution_environment.getConfiguration()
    assert not conf.toMap().containsKey("pipeline.jars")
