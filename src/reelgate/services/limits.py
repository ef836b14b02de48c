"""Request-rate limits. One process keeps its windows in memory; with Redis configured the
replicas share them (see services/redis_limits.py once it exists)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class RateLimiter(Protocol):
    async def allow(self, key: str, limit: int, window_s: float) -> bool:
        """Count one request under ``key``; False if that would exceed ``limit`` per window."""
        ...

    async def used(self, key: str, window_s: float) -> int:
        """Requests counted under ``key`` in the last window."""
        ...


class LocalRateLimiter:
    """An exact sliding window: the times of the last ``limit`` requests per key."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    async def allow(self, key: str, limit: int, window_s: float) -> bool:
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - window_s:
            hits.popleft()
        if len(hits) >= limit:
            return False
        hits.append(now)
        return True

    async def used(self, key: str, window_s: float) -> int:
        now = self._clock()
        return sum(1 for t in self._hits.get(key, ()) if t > now - window_s)
