"""When to poll a task next: a pure function of how long it has been tracked."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """Poll soon after submit, then back off geometrically up to ``maximum``, with jitter.

    >>> PollSchedule(initial=1, maximum=30, factor=2, jitter=0).delay(3)
    8.0
    """

    initial: float = 1.0
    maximum: float = 30.0
    factor: float = 1.5
    jitter: float = 0.1  # +/- this fraction, so many tasks do not poll in lockstep

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before poll number ``attempt + 1`` (``attempt`` counts from 0)."""
        base = min(self.maximum, self.initial * self.factor ** max(0, attempt))
        if not self.jitter:
            return float(base)
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.05, base * (1 + spread))
