"""Telling waiters that a task changed: in-process wake-ups, and the cap on live streams.

The store is the record; a waiter re-reads it when woken, so a wake-up carries no data and
a missed one costs a delay, never an event. Whether one can be missed depends on who
tells the bus: every change made in this process reaches it, and with Redis so does every
change made elsewhere (``RedisEventFanout``). An API replica without Redis hears nothing
of the worker's changes: its bus is not ``complete``, and waiters re-read now and then.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from reelgate.errors import RateLimited


class Subscription:
    """Wake-ups for one task, from the moment of subscribing: a change notified while
    the subscriber is busy (reading the store) is kept for its next :meth:`wait`."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def wait(self, at_most_s: float) -> bool:
        """True when woken (by then or meanwhile), False after ``at_most_s`` of quiet."""
        try:
            async with asyncio.timeout(at_most_s):
                await self._event.wait()
        except TimeoutError:
            return False
        self._event.clear()
        return True


class EventBus:
    def __init__(self, *, complete: bool = True) -> None:
        self._waiters: dict[int, set[Subscription]] = defaultdict(set)
        self._listeners: list[Callable[[int], None]] = []
        # Whether every change, wherever it is made, reaches notify(). False in an API
        # replica without Redis, and while Redis is unreachable.
        self.complete = complete

    def listen(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(task_id)`` on every change (caches drop their copy here)."""
        self._listeners.append(callback)

    def notify(self, task_id: int) -> None:
        for listener in self._listeners:
            listener(task_id)
        for waiter in self._waiters.get(task_id, ()):
            waiter.wake()

    def wake_all(self) -> None:
        """Wake every waiter: changes may have gone unheard (Redis was away)."""
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.wake()

    @contextmanager
    def subscribe(self, task_id: int) -> Iterator[Subscription]:
        sub = Subscription()
        self._waiters[task_id].add(sub)
        try:
            yield sub
        finally:
            waiters = self._waiters.get(task_id)
            if waiters is not None:
                waiters.discard(sub)
                if not waiters:
                    del self._waiters[task_id]

    async def wait(self, task_id: int, at_most_s: float) -> None:
        """Return when ``task_id`` changes or after ``at_most_s`` seconds, whichever is first."""
        with self.subscribe(task_id) as sub:
            await sub.wait(at_most_s)

    def waiting(self) -> int:
        """Subscriptions open now (for tests and metrics)."""
        return sum(len(w) for w in self._waiters.values())


class StreamSlots:
    """At most ``per_key`` live streams open at once per API key, in this process."""

    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._open: dict[int, int] = {}

    def open(self, key_id: int) -> int:
        return self._open.get(key_id, 0)

    def acquire(self, key_id: int) -> Callable[[], None]:
        """Take a slot, or raise RateLimited when none is free; returns its release (safe
        to call more than once)."""
        held = self._open.get(key_id, 0)
        if held >= self.per_key:
            raise RateLimited(
                f"this API key has {held} event streams open, the most it may; close one "
                "or poll GET /v1/tasks/{id} instead"
            )
        self._open[key_id] = held + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            left = self._open[key_id] - 1
            if left:
                self._open[key_id] = left
            else:
                del self._open[key_id]

        return release
