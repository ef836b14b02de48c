"""A task's status changes as a live stream: the recorded events after a point, then
each new one as it is recorded, until the terminal one. The HTTP side
(``GET /v1/tasks/{id}/events``) writes them as Server-Sent Events.

Idle, a stream costs nothing: it sleeps until the event bus says its task changed, and
says when a keep-alive is due (for proxies). Only where a change made in another process
may go unheard (``EventBus.complete`` false) does it re-read the store then.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

from reelgate.domain.tasks import Task, TaskEvent
from reelgate.services.events import EventBus, StreamSlots
from reelgate.services.tasks import TaskService

KEEPALIVE = None  # what ``follow`` yields when a keep-alive is due


class TaskStreams:
    def __init__(
        self, *, tasks: TaskService, bus: EventBus, slots: StreamSlots, keepalive_s: float
    ) -> None:
        self._tasks = tasks
        self._bus = bus
        self._slots = slots
        self._keepalive_s = keepalive_s

    def hold(self, key_id: int) -> Callable[[], None]:
        """A stream slot of the key, or RateLimited (429) when it holds all of them;
        returns the slot's release."""
        return self._slots.acquire(key_id)

    async def follow(self, task: Task, after: int) -> AsyncGenerator[TaskEvent | None, None]:
        """The task's events after sequence number ``after``, then each new one, until
        the terminal event; ``KEEPALIVE`` (None) whenever the stream has been idle for
        the keep-alive interval."""
        # Subscribed before the first read: a change recorded while we read wakes us after.
        with self._bus.subscribe(task.id) as changes:
            current = task
            while True:
                events = await self._tasks.events(task, after)
                for event in events:
                    after = event.seq
                    yield event
                    if event.status.terminal:
                        return
                if not events and current.status.terminal:
                    return  # resumed after the terminal event: nothing more will come
                while not await changes.wait(self._keepalive_s):
                    yield KEEPALIVE
                    if not self._bus.complete:
                        break
                if not events:  # a change without a new event (a copy, say), or a re-read
                    current = await self._tasks.get(task.account_id, task.platform_id)
