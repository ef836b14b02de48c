"""Processes as /proc shows them: their children, memory and CPU time, and ``Proc``,
one target process started the way a user starts it and stopped with all it spawned."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from config import ROOT

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Unavailable(RuntimeError):
    """A target that cannot be run here; the message says exactly why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    out: list[int] = []
    for tid in tasks:
        with contextlib.suppress(OSError):
            out += [int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
    return out


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_time(pid: int) -> int:
    """When a process started (clock ticks after boot); 0 if it is gone."""
    with contextlib.suppress(OSError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system time of one process (all its threads, live or exited), from /proc."""
    return cpu_seconds_of(f"/proc/{pid}/stat")


def cpu_seconds_of(stat_path: str) -> float:
    with contextlib.suppress(OSError):
        fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    return 0.0


def busy_seconds() -> float:
    """CPU time the whole machine spent busy (all CPUs, all processes, interrupts)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def main_thread_cpu_s(pid: int) -> float:
    """User + system time of a process's main thread."""
    return cpu_seconds_of(f"/proc/{pid}/task/{pid}/stat")


def set_affinity(pid: int, cpus: Iterable[int] | None) -> None:
    """Pin every thread of a process (affinity is per thread on Linux)."""
    if cpus is None:
        cpus = range(os.cpu_count() or 1)
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), set(cpus))


def set_idle(pid: int) -> None:
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))


@dataclass
class Proc:
    """One target process (with whatever it spawns), its log file and its readiness URL."""

    name: str
    argv: list[str]
    env: dict[str, str]
    ready_url: str
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    ready_s: float = 0.0
    cpus: frozenset[int] | None = None  # where it starts (the bench itself is elsewhere)
    # its children are part of it (the API processes of serve --workers): placed and
    # counted (CPU time) with it
    with_children: bool = False
    _seen: dict[int, int] = field(default_factory=dict)  # pid -> start time

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self, timeout: float = 120.0, poll_s: float = 0.02) -> float:
        """Start it and wait for its readiness URL to answer 200; the seconds that took."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            t0 = time.perf_counter()
            self.popen = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )
        if self.cpus is not None:
            set_affinity(self.popen.pid, self.cpus)
        deadline = t0 + timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.perf_counter() < deadline:
                if self.popen.poll() is not None:
                    raise Unavailable(f"{self.name} exited early:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.ready_url).status_code == 200:
                        self.ready_s = time.perf_counter() - t0
                        return self.ready_s
                time.sleep(poll_s)
        self.stop()
        raise Unavailable(f"{self.name} did not get ready in {timeout:.0f} s:\n{self.log_tail()}")

    def wait_log(self, line: str, count: int, timeout: float = 60.0) -> None:
        """Wait until ``line`` is in its log ``count`` times (each API process says it)."""
        deadline = time.perf_counter() + timeout
        while self.log_path.read_text(errors="replace").count(line) < count:
            if time.perf_counter() > deadline or (self.popen and self.popen.poll() is not None):
                raise Unavailable(f"{self.name}: {count} x {line!r} not seen:\n{self.log_tail()}")
            time.sleep(0.05)

    def tree(self) -> list[int]:
        pids = [self.pid, *descendants(self.pid)]
        for pid in pids[1:]:
            self._seen.setdefault(pid, start_time(pid))
        return pids

    def rss_kib(self, *, tree: bool = True) -> int:
        return sum(rss_kib(p) for p in (self.tree() if tree else [self.pid]))

    def cpu_s(self) -> float:
        if self.with_children:
            return sum(cpu_seconds(p) for p in self.tree())
        return cpu_seconds(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL; then end what it spawned and left behind (render workers)."""
        if self.popen is None:
            return
        if self.popen.poll() is None:
            self.tree()  # remember its children before they are orphaned
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        time.sleep(0.2)
        for pid, started in sorted(self._seen.items()):
            if started and start_time(pid) == started:  # the same process, not a reused pid
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        self._seen.clear()
