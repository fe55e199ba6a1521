"""CPU seconds and peak memory of processes, sampled from /proc (Linux).

The benchmark watches every process that does the work (the job's client and its
JVM, the Kafka broker, the ClickHouse server, the baseline) and their children.
"""
from __future__ import annotations

import os
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


class Sampler:
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
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="procstat", daemon=True)

    def add_root(self, label: str, pid: int) -> None:
        self.roots[label] = pid

    def __enter__(self) -> "Sampler":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

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
