"""lastmile.stack.cds: class-data sharing archives, written by a first JVM and used by the next."""
import pathlib
import subprocess
import sys
import time

from lastmile.stack import cds

HELLO = 'public class Hello { public static void main(String[] a) { System.out.println("hello"); } }\n'



def _java(options, source):
    return subprocess.run(["java", *options, str(source)], capture_output=True, text=True, timeout=120)


def test_the_first_jvm_writes_the_archive_and_the_next_one_uses_it(tmp_config, tmp_path):
    source = tmp_path / "Hello.java"
    source.write_text(HELLO)
    archive = cds.archive_for(tmp_config, "test", [source])

    first = cds.jvm_options(archive)
    assert any(o.startswith("-XX:ArchiveClassesAtExit=") for o in first) and not archive.exists()
    run = _java(first, source)
    assert run.returncode == 0 and run.stdout == "hello\n", run.stderr  # the JDK's CDS logging stays quiet

    second = cds.jvm_options(archive)  # adopts what the first JVM wrote
    assert archive.exists() and f"-XX:SharedArchiveFile={archive}" in second
    assert not list(archive.parent.glob("*.partial"))
    # -Xshare:on (last wins) fails the JVM when the archive cannot be mapped: it can.
    used = _java([*second, "-Xshare:on"], source)
    assert used.returncode == 0 and used.stdout == "hello\n", used.stderr


def test_a_half_written_archive_is_dropped_and_one_being_written_is_waited_for(tmp_config, tmp_path):
    jar = tmp_path / "a.jar"
    jar.write_bytes(b"not really a jar")
    archive = cds.archive_for(tmp_config, "test", [jar])
    archive.parent.mkdir(parents=True)
    half = archive.with_name(f"{archive.name}.1.partial")
    half.write_bytes(b"\0" * 4096)  # the JDK writes the header last: a killed writer leaves no magic
    assert any(o.startswith("-XX:ArchiveClassesAtExit=") for o in cds.jvm_options(archive))
    assert not half.exists() and not archive.exists()

    being_written = archive.with_name(f"{archive.name}.2.partial")
    being_written.write_bytes(cds.DYNAMIC_MAGIC + b"\0" * 64)
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", str(being_written)])
    try:
        _wait_for_exec(writer.pid, str(being_written))
        options = cds.jvm_options(archive)
        assert not any("ArchiveClassesAtExit" in o or "SharedArchiveFile" in o for o in options)
        assert being_written.exists()
    finally:
        writer.kill()
        writer.wait()
    assert any("SharedArchiveFile" in o for o in cds.jvm_options(archive))  # its writer is gone: adopted


def _wait_for_exec(pid, needle):
    """Until the child runs its own command line: between fork and exec it shows the parent's."""
    cmdline = pathlib.Path(f"/proc/{pid}/cmdline")
    deadline = time.monotonic() + 10
    while needle.encode() not in cmdline.read_bytes():
        assert time.monotonic() < deadline, "the child never showed its command line"
        time.sleep(0.01)


def test_the_archive_follows_the_class_path(tmp_config, tmp_path):
    jar = tmp_path / "a.jar"
    jar.write_bytes(b"one")
    before = cds.archive_for(tmp_config, "test", [jar])
    jar.write_bytes(b"other")
    assert cds.archive_for(tmp_config, "test", [jar]) != before
    assert cds.archive_for(tmp_config, "other-role", [jar]).name.startswith("other-role-")
