"""The worker: the background loops a deployment needs (the tracker, the callback
dispatcher...), supervised as one object.

Each loop is a named object with ``run()`` and ``stop()``. A loop that crashes (raises, or
returns while the worker still runs) is logged and restarted after a growing pause; one
that crashes ``max_crashes`` times within ``crash_window_s`` is not a passing fault but a
broken process, so the worker stops and ``run()`` raises ``WorkerFailed`` (the
``reelgate worker`` process then exits non-zero for its supervisor to see).

Stopping is graceful: ``stop()`` (SIGTERM or SIGINT in ``run_until_signalled``) asks every
loop to finish its current round, which lets the tracker release its leases instead of
leaving them to expire, and waits at most ``shutdown_grace_s`` before cancelling.
Any number of workers may run against one store: the loops claim their work with leases.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Protocol

log = logging.getLogger(__name__)

RESTART_DELAY_MAX_S = 30.0


class Loop(Protocol):
    async def run(self) -> None:
        """Work until ``stop()`` is called."""
        ...

    def stop(self) -> None: ...


class WorkerFailed(Exception):
    """A loop kept crashing: the worker stopped."""


class Worker:
    def __init__(
        self,
        loops: Mapping[str, Loop],
        *,
        max_crashes: int = 5,
        crash_window_s: float = 60.0,
        shutdown_grace_s: float = 10.0,
        restart_delay_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loops = dict(loops)
        self._max_crashes = max_crashes
        self._crash_window_s = crash_window_s
        self._grace_s = shutdown_grace_s
        self._restart_delay_s = restart_delay_s
        self._clock = clock
        self._stopping = asyncio.Event()
        self.failure: str | None = None  # why the worker stopped on its own, if it did

    @property
    def names(self) -> list[str]:
        return list(self._loops)

    def stop(self) -> None:
        """Ask every loop to finish its round and return; ``run()`` then returns."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        for loop in self._loops.values():
            loop.stop()

    async def run(self) -> None:
        """Run every loop until ``stop()``; raise ``WorkerFailed`` if one keeps crashing."""
        supervisors = {
            asyncio.create_task(self._supervise(name, loop), name=f"worker-{name}")
            for name, loop in self._loops.items()
        }
        try:
            await self._wait(supervisors)
        finally:
            for task in supervisors:
                task.cancel()
            await asyncio.gather(*supervisors, return_exceptions=True)
        if self.failure is not None:
            raise WorkerFailed(self.failure)

    async def run_until_signalled(self) -> None:
        """``run()``, with SIGTERM and SIGINT asking for a graceful stop."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, self.stop)
        try:
            await self.run()
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    async def _wait(self, supervisors: set[asyncio.Task[None]]) -> None:
        stopping = asyncio.create_task(self._until_stopped())
        try:
            pending = set(supervisors)
            while pending and not stopping.done():
                done, pending = await asyncio.wait(
                    pending | {stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(stopping)
                for task in done - {stopping}:
                    exc = task.exception()
                    if exc is not None and self.failure is None:
                        self.failure = str(exc)
                        log.error("worker stopping: %s", exc)
                        self.stop()
            if pending:  # stopping: let each loop finish its round, within the grace period
                _, late = await asyncio.wait(pending, timeout=self._grace_s)
                for task in late:
                    log.warning(
                        "%s did not stop in %.0f s: cancelled", task.get_name(), self._grace_s
                    )
        finally:
            stopping.cancel()

    async def _until_stopped(self) -> None:
        await self._stopping.wait()

    async def _supervise(self, name: str, loop: Loop) -> None:
        crashes: deque[float] = deque()
        delay = self._restart_delay_s
        while not self._stopping.is_set():
            started = self._clock()
            try:
                await loop.run()
            except Exception:
                log.exception("worker loop %r crashed", name)
            else:
                if self._stopping.is_set():
                    return
                log.error("worker loop %r returned while the worker runs", name)
            now = self._clock()
            if now - started >= self._crash_window_s:  # it ran well for a while: start over
                delay = self._restart_delay_s
            crashes.append(now)
            while crashes and crashes[0] <= now - self._crash_window_s:
                crashes.popleft()
            if len(crashes) >= self._max_crashes:
                raise WorkerFailed(
                    f"loop {name!r} crashed {len(crashes)} times within {self._crash_window_s:g} s"
                )
            log.info("restarting worker loop %r in %.1f s", name, delay)
            try:  # a stop during the pause ends it at once
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            except TimeoutError:
                pass
            delay = min(delay * 2, RESTART_DELAY_MAX_S)
