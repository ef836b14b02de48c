"""Rate limits shared by every replica and worker, kept in Redis.

The same exact sliding window as ``LocalRateLimiter``: a sorted set per key holds the
times of the requests still inside the window, and one Lua script trims it, counts, and
adds, so the check and the count are atomic however many processes race. Times come from
Redis's own clock (``TIME``), so replicas whose clocks disagree still share one window.

Redis trouble must not take requests down: a call that fails or times out falls back to
a per-process window (fail-open to the single-replica behaviour, not to no limit at all)
and Redis is left alone for ``retry_s`` before it is tried again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from reelgate.services.limits import LocalRateLimiter, RateLimiter

log = logging.getLogger(__name__)

# Scores are integer microseconds of Redis's clock (exact in a double up to 2**53).
# ZREMRANGEBYSCORE is inclusive: a hit exactly one window old has left, as in the local one.
_ALLOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return 1
"""

_USED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[1]) + 1, '+inf')
"""


class RedisRateLimiter:
    """A ``RateLimiter`` whose windows every process shares; see the module's note."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        fallback: RateLimiter | None = None,
        retry_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}limit:"
        self._fallback = fallback or LocalRateLimiter()
        self._retry_s = retry_s
        self._clock = clock
        self._down_until: float | None = None  # set while Redis is considered down
        self._allow = redis.register_script(_ALLOW)
        self._used = redis.register_script(_USED)

    async def allow(self, key: str, limit: int, window_s: float) -> bool:
        if not self._redis_up():
            return await self._fallback.allow(key, limit, window_s)
        try:
            allowed = await self._allow(
                keys=[self._prefix + key], args=[limit, _micros(window_s), uuid.uuid4().hex]
            )
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            return await self._fallback.allow(key, limit, window_s)
        self._came_back()
        return bool(allowed)

    async def used(self, key: str, window_s: float) -> int:
        if not self._redis_up():
            return await self._fallback.used(key, window_s)
        try:
            count = await self._used(keys=[self._prefix + key], args=[_micros(window_s)])
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            return await self._fallback.used(key, window_s)
        self._came_back()
        return int(count)

    def _redis_up(self) -> bool:
        return self._down_until is None or self._clock() >= self._down_until

    def _went_down(self, exc: BaseException) -> None:
        if self._down_until is None:
            log.warning(
                "Redis is unreachable (%s: %s): rate limits and channel budgets are kept "
                "per process until it answers again",
                exc.__class__.__name__,
                exc,
            )
        self._down_until = self._clock() + self._retry_s

    def _came_back(self) -> None:
        if self._down_until is not None:
            log.warning("Redis answers again: rate limits are shared across processes again")
            self._down_until = None


def _micros(seconds: float) -> int:
    return max(1, round(seconds * 1_000_000))
