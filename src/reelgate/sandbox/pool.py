"""Rendering off the event loop, in a bounded pool of processes.

The render workers must never outlive the process that started them: a gateway killed
with SIGKILL cannot shut its pool down, and a spawned worker blocks on its job queue
forever (it holds both ends of that queue's pipe, so it never sees end-of-file). Each
worker therefore watches its parent twice over (``_die_with_parent``): on Linux the kernel
sends it SIGKILL when the parent dies (``PR_SET_PDEATHSIG``), and everywhere a daemon
thread waits on a pipe whose only writer is the parent, and exits on its end-of-file.
Once the parent and the workers are gone, multiprocessing's resource tracker sees its
own pipe close and exits too.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection, wait
from pathlib import Path

from reelgate.sandbox.render.request import RenderRequest

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_JOIN_S = 5.0  # how long close() waits for terminated workers and the manager thread


def _render(request: RenderRequest, out: str) -> int:
    # runs in a render worker: only the workers load the imaging libraries
    from reelgate.sandbox.render.video import render_video

    path = Path(out)
    render_video(request, path)
    return path.stat().st_size


def _die_with_parent(parent: int, lifeline: Connection, death_signal: bool) -> None:
    """The initializer of every render worker: end it as soon as its parent is gone."""
    if death_signal and sys.platform == "linux":
        # The signal comes when the *thread* that spawned us ends, so the pool asks for it
        # only when that thread is the main thread (whose end is the process's end).
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        # The parent holds the only writing end: end-of-file (or readiness, which can only
        # mean end-of-file, since nothing is ever written) means the parent is gone.
        wait([lifeline])
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class RenderPool:
    """At most ``workers`` videos render at once; the rest wait their turn."""

    def __init__(self, workers: int) -> None:
        self._workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None
        self._lifeline: tuple[Connection, Connection] | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            reader, writer = multiprocessing.Pipe(duplex=False)
            self._lifeline = (reader, writer)
            main = threading.current_thread() is threading.main_thread()
            # spawn, not fork: forking a process that runs an event loop and threads is unsafe
            self._executor = ProcessPoolExecutor(
                self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_die_with_parent,
                initargs=(os.getpid(), reader, main),
            )
        return self._executor

    async def render(self, request: RenderRequest, out: Path) -> int:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), _render, request, str(out))

    def close(self) -> None:
        """End the workers now, busy or not, and release the pool's semaphores.

        A render cut short is redone after a restart. Waiting for the executor's manager
        thread and dropping the executor lets its queues' semaphores be finalized (and
        unregistered from the resource tracker) before the interpreter exits; otherwise
        the tracker reports them as leaked.
        """
        executor, self._executor = self._executor, None
        if executor is None:
            return
        workers = list((executor._processes or {}).values())
        # (typeshed types this attribute as a _ThreadWakeup: it is the manager Thread)
        manager: threading.Thread | None = getattr(executor, "_executor_manager_thread", None)
        # shutdown(wait=False) alone leaves busy workers (and so the process tree) running
        executor.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            process.terminate()
        for process in workers:
            process.join(_JOIN_S)
            if process.is_alive():
                process.kill()
                process.join(_JOIN_S)
        if manager is not None:
            manager.join(_JOIN_S)
        executor.shutdown(wait=True)  # closes the result queue; returns at once by now
        if self._lifeline is not None:
            for end in self._lifeline:
                end.close()
            self._lifeline = None
