"""``reelgate serve --workers N``: N API processes on one listening socket, supervised.

The supervisor (the process the operator started) binds the port, migrates the schema,
bootstraps the first account (printing its one-time credentials once), then starts N
children that each serve the API (``create_app(settings, worker=False)``, as ``serve
--no-worker`` does) on the socket it passes down. The kernel hands each new connection to
whichever child accepts it first. The tracker and the callback dispatcher run once, in
the supervisor itself, exactly as ``reelgate worker`` runs them (``open_gateway(api=False)``).

Children that die are restarted after a pause that doubles (1 s up to 30 s); a child
that dies ``REELGATE_WORKER_MAX_CRASHES`` times within ``REELGATE_WORKER_CRASH_WINDOW_S``
means something is broken, so everything stops and the supervisor exits 1, as it does
when its tracker keeps crashing. SIGTERM or SIGINT stops the children (SIGTERM, then
SIGKILL after the grace period) and the tracker, which releases its leases. Each child
also dies with the supervisor (``PR_SET_PDEATHSIG``), so even a SIGKILL of the supervisor
leaves no API process behind. Children run in a process group of their own, so that a
terminal's Ctrl-C reaches the supervisor only, which then stops them in order.

What several API processes cannot share by themselves is refused at start (``refusal``):
the mounted sandbox keeps its tasks in the process that serves it, and rate windows and
live-event wake-ups are per process without Redis (docs/scale.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reelgate.settings import Settings

if TYPE_CHECKING:
    import uvicorn

    from reelgate.gateway import Gateway

log = logging.getLogger(__name__)

EXIT_FAILED = 1  # a child or the tracker kept crashing: everything was stopped
POLL_S = 0.25  # how often the supervisor looks at its children
RESTART_DELAY_MAX_S = 30.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def refusal(settings: Settings, workers: int) -> str | None:
    """Why ``serve --workers`` cannot run with these settings, or None when it can."""
    if workers < 1:
        return f"--workers must be at least 1, not {workers}"
    if workers == 1:
        return None
    if settings.sandbox_mounted:
        return (
            f"--workers {workers} cannot serve the built-in sandbox at /sandbox: it keeps its "
            "tasks in the process that serves it, so a task created through one API process "
            "would not be found by the others. Run it on its own (`reelgate sandbox`) and point "
            "the gateway at it (REELGATE_MINIMAX_API_KEY=sandbox-key "
            "REELGATE_MINIMAX_BASE_URL=http://127.0.0.1:8001), or use a real upstream; and set "
            "REELGATE_SANDBOX_ENABLED=false if it is still enabled (docs/scale.md)"
        )
    if settings.redis_url is None:
        return (
            f"--workers {workers} needs REELGATE_REDIS_URL: without Redis each API process "
            f"counts rate limits and channel budgets on its own (a key would get up to "
            f"{workers} times its rpm_limit) and hears of other processes' task changes only "
            "at its event streams' keep-alive (docs/scale.md)"
        )
    return None


def uvicorn_server(
    settings: Settings, app: Any, *, log_level: str, access_log: bool
) -> uvicorn.Server:
    """The HTTP server of one API process (the single process or a child)."""
    import uvicorn

    from reelgate.http_limits import http_options

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=10,
        **http_options(settings),  # head deadline (src/reelgate/http_limits.py)
    )
    return uvicorn.Server(config)


# -- the children ------------------------------------------------------------------------


def child_main(argv: list[str]) -> None:
    """An API process: serve the socket inherited as file descriptor ``argv[0]``."""
    fd, parent, log_level, access_log = int(argv[0]), int(argv[1]), argv[2], argv[3] == "1"
    _die_with(parent)
    from reelgate.app import create_app

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()  # the supervisor's environment, its host and port included
    sock = socket.socket(fileno=fd)
    server = uvicorn_server(
        settings, create_app(settings, worker=False), log_level=log_level, access_log=access_log
    )
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    sys.exit(0 if server.started else EXIT_FAILED)


def _die_with(parent: int) -> None:
    """End this child when the supervisor ends, however it ends: the kernel sends SIGTERM
    (uvicorn's graceful stop) when the parent dies, even by SIGKILL."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the supervisor died before the signal was armed
        os._exit(EXIT_FAILED)


@dataclass
class CrashBudget:
    """How many child deaths are a passing fault: at most ``max_crashes`` - 1 within
    ``window_s``; the pause before a restart doubles while they keep coming."""

    max_crashes: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    delay_s: float = 1.0
    _crashes: deque[float] = field(default_factory=deque)

    def crashed(self) -> float | None:
        """Record a death: the pause before the restart, or None when it is one too many."""
        now = self.clock()
        if self._crashes and now - self._crashes[-1] >= self.window_s:
            self.delay_s = 1.0  # it ran well for a while: start over
        self._crashes.append(now)
        while self._crashes and self._crashes[0] <= now - self.window_s:
            self._crashes.popleft()
        if len(self._crashes) >= self.max_crashes:
            return None
        delay, self.delay_s = self.delay_s, min(self.delay_s * 2, RESTART_DELAY_MAX_S)
        return delay


class Children:
    """The N API processes: started, watched, restarted, stopped."""

    def __init__(
        self, sock: socket.socket, count: int, settings: Settings, log_level: str, access: bool
    ) -> None:
        self._sock = sock
        self._count = count
        self._settings = settings
        self._args = [log_level, "1" if access else "0"]
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * count
        self._due: dict[int, float] = {}  # slot -> when its restart is due
        self.budget = CrashBudget(settings.worker_max_crashes, settings.worker_crash_window_s)
        self.failure: str | None = None

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p is not None and p.poll() is None]

    def start(self, slot: int) -> None:
        fd = self._sock.fileno()
        env = {
            **os.environ,
            "REELGATE_HOST": self._settings.host,
            "REELGATE_PORT": str(self._settings.port),
        }
        code = "import sys; from reelgate.supervisor import child_main; child_main(sys.argv[1:])"
        argv = [sys.executable, "-c", code, str(fd), str(os.getpid()), *self._args]
        # its own process group: a terminal's Ctrl-C reaches the supervisor, which stops it
        self._procs[slot] = subprocess.Popen(argv, env=env, pass_fds=[fd], process_group=0)

    def start_all(self) -> None:
        for slot in range(self._count):
            self.start(slot)

    def check(self) -> bool:
        """Restart children that died (when their pause is over); False when one died once
        too often, ``failure`` saying which."""
        now = time.monotonic()
        for slot, proc in enumerate(self._procs):
            if slot in self._due:
                if now >= self._due[slot]:
                    del self._due[slot]
                    self.start(slot)
                continue
            if proc is None or proc.poll() is None:
                continue
            delay = self.budget.crashed()
            if delay is None:
                self.failure = (
                    f"API process {proc.pid} exited ({proc.returncode}); "
                    f"{self.budget.max_crashes} exits within {self.budget.window_s:g} s"
                )
                return False
            log.error(
                "API process %d exited (%s): restarting in %.0f s", proc.pid, proc.returncode, delay
            )
            self._due[slot] = now + delay
        return True

    def stop(self, grace_s: float) -> None:
        """SIGTERM every child, SIGKILL what is left after ``grace_s``, reap them all."""
        live = [p for p in self._procs if p is not None and p.poll() is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in live:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("API process %d did not stop in %.0f s: killed", proc.pid, grace_s)
                proc.kill()
                proc.wait()
        self._due.clear()


# -- the supervisor ----------------------------------------------------------------------


async def supervise(
    settings: Settings,
    sock: socket.socket,
    count: int,
    *,
    worker: bool,
    log_level: str,
    access_log: bool,
    started: Callable[[Gateway, list[int]], None],
) -> int:
    """Run the children and, with ``worker``, the tracker and dispatcher, until a signal
    (exit 0) or until one of them keeps failing (exit 1)."""
    from reelgate.app import open_gateway
    from reelgate.services.bootstrap import bootstrap
    from reelgate.startup import print_credentials

    children = Children(sock, count, settings, log_level, access_log)
    async with open_gateway(settings, api=False, worker=worker) as gw:
        # once, here, before any child: they find the account made and print nothing
        creds = await bootstrap(gw.accounts, settings)
        if creds is not None:
            print_credentials(creds)
        children.start_all()
        try:
            started(gw, children.pids)
            failure = await _watch(gw, children)
        finally:
            if gw.worker is not None:
                gw.worker.stop()  # its round ends and its leases are released
            # uvicorn's own grace (10 s) and a little more for the lifespan to close
            await asyncio.to_thread(children.stop, 15.0)
    if failure is not None:
        log.error("reelgate serve stopped: %s", failure)
        return EXIT_FAILED
    return 0


async def _watch(gw: Gateway, children: Children) -> str | None:
    """Until SIGTERM or SIGINT (None) or a failure (what failed)."""
    from reelgate.worker import WorkerFailed

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stopping.set)
    tracker = asyncio.create_task(gw.worker.run()) if gw.worker is not None else None
    try:
        while not stopping.is_set():
            if not children.check():
                return children.failure
            if tracker is not None and tracker.done():
                return str(tracker.exception() or "the tracker returned")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), POLL_S)
        return None
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        if tracker is not None:
            if gw.worker is not None:
                gw.worker.stop()
            with contextlib.suppress(WorkerFailed, asyncio.CancelledError):
                await asyncio.wait_for(tracker, gw.settings.worker_shutdown_grace_s + 1)
