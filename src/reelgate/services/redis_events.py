"""Live events across processes: each committed change is published on a Redis channel,
and every API replica tells its own event bus (waiting SSE streams, the task cache) when
any process (a worker, another replica) recorded a change.

The message is only a task id: the store stays the record, and whoever is told re-reads
it. Messages can be lost (Redis down, a reconnect, a full outbox): then, once Redis
answers again, every process wakes all its streams (the "*" message, and a reconnected
subscriber wakes its own), which re-read; meanwhile the bus is not ``complete`` and
streams re-read at each keep-alive; a cached copy lives a second. So a lost message costs
a delay, never an event, and Redis trouble never reaches a request.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from reelgate.services.events import EventBus

log = logging.getLogger(__name__)

BACKOFF_MAX_S = 5.0
WAKE_ALL = -1  # in the outbox: tell every process to wake all its streams (changes were lost)
LISTEN_TICK_S = 1.0  # how long one read of the subscription waits before looking again


class RedisEventFanout:
    """Publishes this process's changes; feeds other processes' changes to a local bus."""

    def __init__(
        self, redis: Redis, bus: EventBus, *, prefix: str, queue_size: int = 10_000
    ) -> None:
        self._redis = redis
        self._bus = bus
        self.channel = f"{prefix}task-changes"
        # Our own messages come back through the subscription: the origin lets us skip
        # them, since local waiters were woken when the change was made.
        self._origin = uuid.uuid4().hex[:12]
        self._outbox: asyncio.Queue[int] = asyncio.Queue(queue_size)
        self._down = False
        self._lost = False  # changes went unpublished: the others must be told to re-read

    def notify(self, task_id: int) -> None:
        """The TaskStore's ``on_change``: wake local waiters now, publish for the others."""
        self._bus.notify(task_id)
        try:
            self._outbox.put_nowait(task_id)
        except asyncio.QueueFull:  # Redis is far behind: the others wake all once it catches up
            self._lost = True

    async def publish_forever(self) -> None:
        backoff = 0.1
        while True:
            task_id = await self._outbox.get()
            what = "*" if task_id == WAKE_ALL else str(task_id)
            try:
                await self._redis.publish(self.channel, f"{self._origin}:{what}")
            except (RedisError, OSError) as exc:
                self._went_down(exc)
                # drop what queued up meanwhile rather than replay stale wake-ups later;
                # once Redis is back the others wake all their streams instead
                while not self._outbox.empty():
                    self._outbox.get_nowait()
                self._lost = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            self._came_back()
            backoff = 0.1
            if self._lost and self._outbox.empty():
                self._lost = False
                self._outbox.put_nowait(WAKE_ALL)

    async def subscribe_forever(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._came_back()
                    backoff = 0.1
                    while True:
                        message = await pubsub.get_message(timeout=LISTEN_TICK_S)
                        if message is not None:
                            self._deliver(message.get("data"))
            except (RedisError, OSError) as exc:
                self._went_down(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _deliver(self, data: object) -> None:
        text = data.decode() if isinstance(data, bytes) else str(data)
        origin, _, task_id = text.partition(":")
        if origin == self._origin:
            return
        if task_id == "*":
            self._bus.wake_all()
        elif task_id.isascii() and task_id.isdigit():
            self._bus.notify(int(task_id))

    def _went_down(self, exc: BaseException) -> None:
        if not self._down:
            log.warning(
                "Redis is unreachable (%s: %s): live events from other processes arrive "
                "within the streams' re-read interval until it answers again",
                exc.__class__.__name__,
                exc,
            )
            self._down = True
            self._bus.complete = False  # streams re-read the store at each keep-alive

    def _came_back(self) -> None:
        if self._down:
            log.warning("Redis answers again: live events are shared across processes again")
            self._down = False
            self._bus.complete = True
            self._bus.wake_all()  # what was published meanwhile never reached us
