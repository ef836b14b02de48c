"""The shape every background loop shares: rounds of work, a wake-up, a stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


class Loop:
    """Runs ``round()`` until stopped. A round that did less than ``batch`` items of
    work is followed by a nap of ``idle_s`` that ``wake()`` cuts short; a round that
    fails is logged and the loop goes on."""

    idle_s: float = 0.2
    batch: int = 1

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def round(self) -> int:
        """Do one round of work; return how many items it handled."""
        raise NotImplementedError

    async def run(self) -> None:
        name = type(self).__name__
        while not self._stop.is_set():
            try:
                done = await self.round()
            except Exception:
                log.exception("%s round failed", name)
                done = 0
            if done < self.batch:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_s)
