"""The sandbox's render workers never outlive the gateway that started them (issue 13, item 10).

A gateway is made to render, so that its render processes and multiprocessing's resource
tracker exist; then it is killed (SIGKILL: no shutdown code runs) or stopped (SIGTERM).
The processes are found in /proc by their parent's pid, and each is identified by its
start time as well, so that a recycled pid is never mistaken for a survivor.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.support import MiniMax, Server

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")

Proc = tuple[int, str]  # (pid, start time in clock ticks): one process, even if pids recycle


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _children(parent: int) -> dict[Proc, str]:
    """The live children of ``parent``, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None or int(fields[1]) != parent:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        found[(int(entry.name), fields[19])] = cmdline
    return found


def _alive(proc: Proc) -> bool:
    """Still running: not gone and not a zombie waiting to be reaped by init."""
    fields = _stat(proc[0])
    return fields is not None and fields[19] == proc[1] and fields[0] not in ("Z", "X")


def _start_rendering(tmp_path: Path) -> tuple[Server, dict[Proc, str]]:
    """A gateway whose render pool has spawned: its workers and resource tracker."""
    srv = Server(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'rg.db'}")
    srv.start()
    assert srv.proc is not None
    with MiniMax(srv.url + "/minimaxi") as client:
        client.create({"model": "T2V-01", "prompt": "a lighthouse at dusk"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = _children(srv.proc.pid)
        workers = [c for c in children.values() if "spawn_main" in c]
        trackers = [c for c in children.values() if "resource_tracker" in c]
        if workers and trackers:
            return srv, children
        time.sleep(0.05)
    srv.kill()
    raise AssertionError(f"the render pool never started: {_children(srv.proc.pid)}")


def _wait_gone(procs: dict[Proc, str], timeout: float) -> dict[Proc, str]:
    """The processes still alive after ``timeout`` seconds (at once when none is)."""
    deadline = time.monotonic() + timeout
    while True:
        left = {p: cmd for p, cmd in procs.items() if _alive(p)}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def test_render_workers_and_tracker_die_with_a_killed_gateway(tmp_path: Path) -> None:
    srv, children = _start_rendering(tmp_path)
    try:
        srv.stop(signal.SIGKILL)
        left = _wait_gone(children, timeout=5)
    finally:
        for pid, _ in _wait_gone(children, timeout=0):  # never leave them behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert not left, f"orphaned by SIGKILL of the gateway: {left}"


def test_sigterm_stops_the_workers_and_leaks_no_semaphores(tmp_path: Path) -> None:
    srv, children = _start_rendering(tmp_path)
    srv.stop(signal.SIGTERM)
    assert not _wait_gone(children, timeout=5)
    log = srv.log()
    assert "Finished server process" in log
    assert "leaked semaphore" not in log and "resource_tracker" not in log, log[-2000:]
