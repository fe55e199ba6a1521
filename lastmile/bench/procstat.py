"""CPU seconds and peak memory of processes, sampled from /proc (Linux).

The benchmark watches every process that does the work (the job's client and its
JVM, the Kafka broker, the ClickHouse server, the baseline) and their children.
"""
from __future__ import annotations

import os
import re
import subprocess
import threading
import time

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> tuple[int, float, int] | None:
    """(parent pid, CPU seconds, RSS bytes) of a live process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # after the command: state(0) ppid(1) ... utime(11) stime(12) ... rss(21), in pages
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK, int(fields[21]) * _PAGE


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return str(pid)
    if not argv:
        return str(pid)
    if os.path.basename(argv[0]).startswith("java"):
        return "java " + next((a for a in reversed(argv) if not a.startswith("-") and "." in a), "")[:60]
    return " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv[:4]))[:80]


class _Background:
    """A sampling thread that runs while the ``with`` block does (``_loop`` until ``_stop``)."""

    def __init__(self, name: str):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        raise NotImplementedError


class Sampler(_Background):
    """Samples ``roots`` and all their descendants every ``interval_s`` in a thread.

    ``cpu_s`` (used while sampling) and ``peak_rss_mib`` per process, keyed by a readable name.
    """

    def __init__(self, roots: dict[str, int], interval_s: float = 0.2):
        self.roots = dict(roots)
        self.interval_s = interval_s
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._peak: dict[int, int] = {}
        self._label: dict[int, str] = {}
        super().__init__("procstat")

    def add_root(self, label: str, pid: int) -> None:
        self.roots[label] = pid

    def __enter__(self) -> Sampler:
        self._sample()
        return super().__enter__()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        stats = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                s = _stat(int(entry))
                if s is not None:
                    stats[int(entry)] = s
        labels = {pid: label for label, pid in self.roots.items() if pid in stats}
        changed = True
        while changed:  # descendants take their root's label
            changed = False
            for pid, (ppid, _, _) in stats.items():
                if pid not in labels and ppid in labels:
                    labels[pid] = f"{labels[ppid]} > {_name(pid)}"
                    changed = True
        for pid, label in labels.items():
            _, cpu, rss = stats[pid]
            self._first.setdefault(pid, cpu)
            self._last[pid] = cpu
            self._peak[pid] = max(self._peak.get(pid, 0), rss)
            self._label.setdefault(pid, label)

    def report(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for pid, label in self._label.items():
            entry = out.setdefault(label, {"cpu_s": 0.0, "peak_rss_mib": 0.0})
            entry["cpu_s"] = round(entry["cpu_s"] + self._last[pid] - self._first[pid], 2)
            entry["peak_rss_mib"] = round(max(entry["peak_rss_mib"], self._peak[pid] / 2**20), 1)
        return out

    def cpu_s(self) -> float:
        return sum(self._last[p] - self._first[p] for p in self._label)


def wait_cpu_idle(pids: list[int], below: float = 0.15, seconds: float = 2.0, limit_s: float = 60.0) -> None:
    """Wait until the given processes together use less than ``below`` cores for ``seconds``
    (a broker settling after a load), at most ``limit_s``."""
    deadline = time.monotonic() + limit_s
    def total():
        return sum((_stat(p) or (0, 0.0, 0))[1] for p in pids)
    while time.monotonic() < deadline:
        before = total()
        time.sleep(seconds)
        if (total() - before) / seconds < below:
            return


def _thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each live thread of ``pid``."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


_JSTACK_THREAD = re.compile(r'^"(?P<name>[^"]*)".*\bnid=(?P<nid>0x[0-9a-f]+|\d+)', re.M)
_SUBTASK = re.compile(r"\s*\(\d+/\d+\)(#\d+)?$")


def _thread_names(pid: int) -> dict[int, str]:
    """Native thread id -> Java thread name (``jstack``), subtask index dropped."""
    try:
        text = subprocess.run(["jstack", str(pid)], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {int(m["nid"], 0): _SUBTASK.sub("", m["name"]) for m in _JSTACK_THREAD.finditer(text)}


class TaskSampler(_Background):
    """CPU seconds per Flink task (operator chain) of JVM processes, from their threads.

    In thread mode a Python operator runs in its task's thread, so a task's CPU is its
    Java and its Python work together. Thread names come from ``jstack`` every
    ``name_every_s``; a thread that lives shorter than that is counted under ``other``.
    JVM processes only: ``jstack`` attaches by sending SIGQUIT, which ends most others.
    """

    def __init__(self, pids: list[int], interval_s: float = 0.5, name_every_s: float = 3.0):
        self.pids = list(pids)
        self.interval_s, self.name_every_s = interval_s, name_every_s
        self._first: dict[tuple[int, int], float] = {}
        self._last: dict[tuple[int, int], float] = {}
        self._names: dict[tuple[int, int], str] = {}
        super().__init__("taskstat")

    def _loop(self) -> None:
        named_at = 0.0
        while True:
            for pid in self.pids:
                for tid, cpu in _thread_cpu(pid).items():
                    self._first.setdefault((pid, tid), cpu)
                    self._last[(pid, tid)] = cpu
            if time.monotonic() - named_at > self.name_every_s:
                for pid in self.pids:
                    for tid, name in _thread_names(pid).items():
                        self._names[(pid, tid)] = name
                named_at = time.monotonic()
            if self._stop.wait(self.interval_s):
                return

    def report(self, top: int = 15) -> dict[str, float]:
        """CPU seconds per task name, largest first; the rest summed as ``other``."""
        per: dict[str, float] = {}
        for key, last in self._last.items():
            name = self._names.get(key, "other (unnamed or short-lived threads)")
            per[name] = per.get(name, 0.0) + last - self._first[key]
        ranked = sorted(per.items(), key=lambda kv: -kv[1])
        out = {name: round(cpu, 1) for name, cpu in ranked[:top]}
        if ranked[top:]:
            out["other"] = round(out.get("other", 0.0) + sum(cpu for _, cpu in ranked[top:]), 1)
        return out
