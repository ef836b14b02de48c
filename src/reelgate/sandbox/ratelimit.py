"""Per-account request limits, as MiniMax counts them: requests per minute (RPM).

A sliding window log: each account keeps the times of its accepted calls in the last 60
seconds, and a call is refused while that count has reached the limit. Refused calls do
not count. The window is exact (no bursts at a minute boundary) and costs at most ``rpm``
timestamps per account.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from reelgate.errors import RateLimited

WINDOW_S = 60.0
STANDALONE_RPM = 20  # MiniMax's published limit for paid accounts (reference 4.3)
RATE_LIMIT_MESSAGE = "rate limit exceeded(RPM)"


class RateLimiter:
    """At most ``rpm`` calls per account in any 60 seconds; 0 means unlimited.

    ``rpm`` None means "not decided yet": the app settles it (20 standalone, unlimited when
    mounted inside the gateway) before serving.
    """

    def __init__(self, rpm: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rpm = rpm
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}

    def acquire(self, account: str) -> None:
        """Count one call for ``account``, or raise RateLimited (1002) if over the limit."""
        if not self.rpm:
            return
        now = self._clock()
        calls = self._calls.setdefault(account, deque())
        while calls and calls[0] <= now - WINDOW_S:
            calls.popleft()
        if len(calls) >= self.rpm:
            raise RateLimited(RATE_LIMIT_MESSAGE)
        calls.append(now)
