"""A fork server for the ``reelgate`` processes the tests start (``tests.support.Server``).

Each ``reelgate serve`` spent about 1.8 s of CPU getting ready, more than half of it
importing FastAPI, SQLAlchemy, pydantic and the gateway itself, and a ``make test`` starts
some ninety of them. This process imports all that once, then forks one child per
request: the child sets its own environment, working directory, log and arguments and runs
the command line's ``main()`` as ``python -m reelgate`` would, then exits through the
interpreter's normal shutdown. The children are real processes on their own ports, killed,
restarted and signalled like any other; what differs from a fresh ``exec`` is only that
the modules are already imported. The tests of the command itself (``tests/e2e/test_cli.py``)
still run ``reelgate`` as a program, and ``REELGATE_TEST_FORK=0`` makes ``Server`` use
plain ``subprocess.Popen`` for every process.

The protocol is a line of JSON each way over the zygote's stdin and stdout: a request
(``args``, ``env``, ``cwd``, ``log``) is answered ``{"started": pid}``; a child's end is
reported ``{"exited": pid, "code": returncode}`` (negative for a signal, as ``Popen``'s).
The zygote stays single-threaded (forking a process with threads is unsafe) and ends when
its stdin closes, that is, with the pytest process that started it.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
from typing import Any

# what `serve`, `worker` and `sandbox` import before they run (reelgate.cli imports its
# commands' modules lazily)
PRELOAD = (
    "reelgate.cli",
    "reelgate.app",
    "reelgate.supervisor",
    "reelgate.worker",
    "reelgate.sandbox.app",
    "reelgate.http_limits",
    "uvicorn",
)


def main() -> None:
    """The zygote: preload, then fork on request; the child returns here to run."""
    for name in PRELOAD:
        importlib.import_module(name)
    request = _serve_forks(sys.stdin.fileno(), sys.stdout.fileno())
    if request is None:
        return
    code: Any = 1
    try:
        code = _run(request)
    except SystemExit as done:
        code = done.code
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(code)  # through the interpreter's shutdown: atexit handlers, thread joins


def _serve_forks(requests: int, replies: int) -> dict[str, Any] | None:
    """Fork a child per request line; report each child's exit. Returns the request in
    the child, None in the zygote when the pytest process has gone."""
    children: set[int] = set()
    pending = b""
    while True:
        ready, _, _ = select.select([requests], [], [], 0.05)
        if ready:
            chunk = os.read(requests, 65536)
            if not chunk:
                return None
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:  # the child's stdin and stdout are replaced in _run
                    return dict(request)
                children.add(pid)
                _reply(replies, {"started": pid})
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            children.discard(pid)
            _reply(replies, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _reply(fd: int, message: dict[str, Any]) -> None:
    os.write(fd, (json.dumps(message) + "\n").encode())


def _run(request: dict[str, Any]) -> Any:
    """In the child: become ``python -m reelgate ARGS`` with this environment and log."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(devnull)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["reelgate", *request["args"]]
    from reelgate.cli import main as reelgate_main

    reelgate_main()
    return 0


class Zygote:
    """The pytest side: starts the zygote, asks it for processes, hears of their ends."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from tests.zygote import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._lock = threading.Lock()  # one request at a time: replies come in order
        self._started: list[int] = []
        self._got_started = threading.Condition()
        self._exits: dict[int, int] = {}
        self._exited = threading.Condition()
        self._gone = False  # the zygote ended: no more news of its children will come
        threading.Thread(target=self._listen, name="zygote", daemon=True).start()

    def _listen(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            message = json.loads(line)
            if "started" in message:
                with self._got_started:
                    self._started.append(int(message["started"]))
                    self._got_started.notify_all()
            else:
                with self._exited:
                    self._exits[int(message["exited"])] = int(message["code"])
                    self._exited.notify_all()
        with self._got_started, self._exited:  # nobody waits forever on a dead zygote
            self._gone = True
            self._got_started.notify_all()
            self._exited.notify_all()

    def spawn(self, args: list[str], env: dict[str, str], log: str) -> ForkedProcess:
        request = {"args": args, "env": env, "cwd": os.getcwd(), "log": log}
        with self._lock:
            assert self._proc.stdin is not None
            self._proc.stdin.write((json.dumps(request) + "\n").encode())
            self._proc.stdin.flush()
            with self._got_started:
                self._got_started.wait_for(lambda: bool(self._started) or self._gone, 30)
                if not self._started:
                    raise RuntimeError("the zygote did not fork")
                pid = self._started.pop(0)
        return ForkedProcess(self, pid, args)

    def exit_code(self, pid: int, timeout: float | None) -> int | None:
        with self._exited:
            self._exited.wait_for(lambda: pid in self._exits or self._gone, timeout=timeout)
            if pid not in self._exits and self._gone:
                raise RuntimeError(f"the zygote ended before its child {pid}")
            return self._exits.get(pid)


class ForkedProcess:
    """What ``Server`` and the tests use of ``subprocess.Popen``, for a zygote's child."""

    def __init__(self, zygote: Zygote, pid: int, args: list[str]) -> None:
        self._zygote = zygote
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._zygote.exit_code(self.pid, timeout=0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = self._zygote.exit_code(self.pid, timeout=timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


_zygote: Zygote | None = None
_zygote_lock = threading.Lock()


def zygote() -> Zygote:
    """This test process's zygote, started on first use."""
    global _zygote
    with _zygote_lock:
        if _zygote is None:
            _zygote = Zygote()
        return _zygote
