"""A short-lived cache of tasks for the query path: clients poll the same task again and
again, and most of those polls find nothing new.

Every recorded change drops the task from the cache (the store tells the event bus, and
with Redis every replica hears it); the time-to-live only bounds how stale a copy can be
where no such notice arrives (several replicas without Redis).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from reelgate.domain.tasks import Task

Key = tuple[int, str]  # (account id, the id the client asked with)


class TaskCache:
    def __init__(
        self,
        *,
        max_entries: int = 20_000,
        live_ttl_s: float = 1.0,
        done_ttl_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: OrderedDict[Key, tuple[float, Task]] = OrderedDict()
        self._by_task: dict[int, set[Key]] = {}
        self._max = max_entries
        self._live_ttl = live_ttl_s
        self._done_ttl = done_ttl_s
        self._clock = clock

    def get(self, account_id: int, any_id: str) -> Task | None:
        key = (account_id, any_id)
        hit = self._entries.get(key)
        if hit is None:
            return None
        expires, task = hit
        if expires <= self._clock():
            self._drop(key, task.id)
            return None
        return task

    def put(self, account_id: int, any_id: str, task: Task) -> None:
        ttl = self._done_ttl if task.status.terminal else self._live_ttl
        key = (account_id, any_id)
        self._entries[key] = (self._clock() + ttl, task)
        self._entries.move_to_end(key)
        self._by_task.setdefault(task.id, set()).add(key)
        while len(self._entries) > self._max:
            old_key, (_, old) = self._entries.popitem(last=False)
            self._unindex(old_key, old.id)

    def invalidate(self, task_id: int) -> None:
        for key in self._by_task.pop(task_id, set()):
            self._entries.pop(key, None)

    def _drop(self, key: Key, task_id: int) -> None:
        self._entries.pop(key, None)
        self._unindex(key, task_id)

    def _unindex(self, key: Key, task_id: int) -> None:
        keys = self._by_task.get(task_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_task[task_id]
