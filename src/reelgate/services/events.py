"""Telling waiters that a task changed: in-process wake-ups. The store is the record; a
waiter re-reads it, so a missed wake-up costs at most one poll interval, never an event."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable


class EventBus:
    def __init__(self) -> None:
        self._waiters: dict[int, set[asyncio.Event]] = defaultdict(set)
        self._listeners: list[Callable[[int], None]] = []

    def listen(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(task_id)`` on every change (caches drop their copy here)."""
        self._listeners.append(callback)

    def notify(self, task_id: int) -> None:
        for listener in self._listeners:
            listener(task_id)
        for event in self._waiters.get(task_id, ()):
            event.set()

    async def wait(self, task_id: int, at_most_s: float) -> None:
        """Return when ``task_id`` changes or after ``at_most_s`` seconds, whichever is first."""
        event = asyncio.Event()
        self._waiters[task_id].add(event)
        try:
            async with asyncio.timeout(at_most_s):
                await event.wait()
        except TimeoutError:
            pass
        finally:
            waiters = self._waiters.get(task_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[task_id]
