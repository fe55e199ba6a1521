"""Class-data sharing (CDS) archives for the JVMs that plan the coordination job.

Planning the job loads and links some 20,000 classes (Flink, the table planner, Calcite)
and most of the seconds before a job exists go there, in the JVM PyFlink starts in this
process (it plans the job for the MiniCluster it then runs, and for a cluster it is
submitted to: jobs.runtime). A dynamic CDS archive
(JDK 13+, ``-XX:ArchiveClassesAtExit``) holds those classes parsed and verified, and a
JVM started with it (``-XX:SharedArchiveFile``) maps them instead (BENCHMARKS.md: the
planning JVM's part went from ~10.5 to ~9 s, and with the client compiler only to ~6.3 s).

An archive belongs to one JDK and one class path, so each is named by a digest of both
and kept in the download cache. The first JVM of a kind writes it when it exits, under
a name of its own (``*.<pid>.partial``); a later start adopts the file once no process is
writing it any more (the JVM writes it at exit, after the Python process that started it
may be gone). A JVM that finds an archive it cannot use runs without it: ``-Xshare:auto``,
and the JDK's warnings about it are off (they would go to the job's output).
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
from collections.abc import Iterable

from lastmile.config import Config

QUIET = ("-Xshare:auto", "-Xlog:cds=off", "-Xlog:cds+dynamic=off")
#: The first bytes of a dynamic archive (HotSpot's CDS_DYNAMIC_ARCHIVE_MAGIC, little-endian).
#: The JDK writes the header last, so a file a killed JVM left half-written does not start so.
DYNAMIC_MAGIC = bytes.fromhex("a8ab0bf0")


def _java_identity() -> str:
    java = shutil.which("java")
    if java is None:
        return "no-java"
    real = pathlib.Path(java).resolve()
    return f"{real}:{real.stat().st_mtime_ns}:{os.environ.get('JAVA_HOME', '')}"


def archive_for(config: Config, role: str, class_path: Iterable[pathlib.Path]) -> pathlib.Path:
    """Where the archive of JVMs of ``role`` with this class path lives (it may not exist)."""
    digest = hashlib.sha256(_java_identity().encode())
    for jar in class_path:
        real = jar.resolve()
        digest.update(f"\n{real}:{real.stat().st_size}:{real.stat().st_mtime_ns}".encode())
    return config.cache / "cds" / f"{role}-{digest.hexdigest()[:16]}.jsa"


def _writers(partial: pathlib.Path) -> bool:
    """Whether a running process has ``partial`` on its command line (is to write it)."""
    needle = str(partial).encode()
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if needle in (proc / "cmdline").read_bytes():
                    return True
            except OSError:  # gone meanwhile, or not ours to read
                continue
    return False


def _adopt(archive: pathlib.Path) -> bool:
    """Turn a finished ``*.partial`` of ``archive`` into it; whether one is still being written."""
    writing = False
    for partial in sorted(archive.parent.glob(f"{archive.name}.*.partial")):
        if _writers(partial):
            writing = True
        elif archive.exists() or not _complete(partial):
            partial.unlink(missing_ok=True)
        else:
            try:
                partial.rename(archive)
            except FileNotFoundError:  # another process adopted it first
                pass
    return writing


def _complete(partial: pathlib.Path) -> bool:
    try:
        with open(partial, "rb") as f:
            return f.read(len(DYNAMIC_MAGIC)) == DYNAMIC_MAGIC
    except FileNotFoundError:
        return False


def jvm_options(archive: pathlib.Path) -> list[str]:
    """Options for a JVM of ``archive``'s kind: use it, or write it at exit when there is none
    (nor one being written)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    writing = _adopt(archive)
    if archive.exists():
        return [f"-XX:SharedArchiveFile={archive}", *QUIET]
    if writing:
        return list(QUIET[1:])
    return [f"-XX:ArchiveClassesAtExit={archive}.{os.getpid()}.partial", *QUIET[1:]]
