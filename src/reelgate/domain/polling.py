"""When to poll a task next: a pure function of how long it has been tracked, and of how
many tasks share its channel's budget."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """Poll soon after submit, then back off geometrically up to ``maximum``, with jitter.

    ``maximum`` is a cap, never passed: jitter that would overshoot it is reflected below
    it, so a task polled at the cap is polled every ``(1 - jitter) * maximum`` to
    ``maximum`` seconds.

    >>> PollSchedule(initial=1, maximum=30, factor=2, jitter=0).delay(3)
    8.0
    >>> PollSchedule(initial=1, maximum=30, factor=2, jitter=0).delay(1, at_least=12)
    12.0
    """

    initial: float = 1.0
    maximum: float = 30.0
    factor: float = 1.5
    jitter: float = 0.1  # +/- this fraction, so many tasks do not poll in lockstep
    budget_share: float = 0.5  # of a channel's budget, that pacing spreads over its tasks

    def delay(
        self, attempt: int, rng: random.Random | None = None, *, at_least: float = 0.0
    ) -> float:
        """Seconds to wait before poll number ``attempt + 1`` (``attempt`` counts from 0).

        ``at_least`` (see ``paced_interval``) stretches the wait so that a channel's
        budget is spent evenly; the cap still wins over it.
        """
        floor = min(self.maximum, at_least)
        base = max(floor, min(self.maximum, self.initial * self.factor ** max(0, attempt)))
        if not self.jitter:
            return float(base)
        value = base * (1 + (rng or random).uniform(-self.jitter, self.jitter))
        if value > self.maximum:
            value = 2 * self.maximum - value  # reflected: the cap is a promise
        return max(0.05, floor, value)


def paced_interval(tasks: int, calls: float, window_s: float = 60.0) -> float:
    """The shortest interval at which ``tasks`` tasks, each polled once per interval,
    make at most ``calls`` calls per ``window_s``: polling a channel's tasks no more often
    than this spreads its budget evenly over them, instead of spending it in a burst on
    the newest (whose early polls come fastest) and starving the rest past the cap.

    >>> paced_interval(1000, 3000)
    20.0
    >>> paced_interval(0, 3000)
    0.0
    """
    if calls <= 0:
        return math.inf
    return max(0, tasks) * window_s / calls
