"""How long a sandbox task spends in each state, per timing profile."""

from __future__ import annotations

from dataclasses import dataclass

from reelgate.domain.tasks import UpstreamStatus


@dataclass(frozen=True, slots=True)
class Timeline:
    preparing_s: float
    queueing_s: float
    processing_s: float  # at least; the video must also be rendered

    def status_at(self, elapsed: float, rendered: bool) -> UpstreamStatus:
        if elapsed < self.preparing_s:
            return UpstreamStatus.PREPARING
        if elapsed < self.preparing_s + self.queueing_s:
            return UpstreamStatus.QUEUEING
        if elapsed < self.total_s or not rendered:
            return UpstreamStatus.PROCESSING
        return UpstreamStatus.SUCCESS

    def reached(self, elapsed: float, rendered: bool) -> list[UpstreamStatus]:
        """Every status up to the current one, in order."""
        current = self.status_at(elapsed, rendered)
        return list(ORDER[: ORDER.index(current) + 1])

    @property
    def processing_at_s(self) -> float:
        return self.preparing_s + self.queueing_s

    @property
    def midway_s(self) -> float:
        """Halfway through Processing: when an injected ``fail_midway`` fault strikes."""
        return self.processing_at_s + self.processing_s / 2

    @property
    def total_s(self) -> float:
        return self.preparing_s + self.queueing_s + self.processing_s


ORDER = (
    UpstreamStatus.PREPARING,
    UpstreamStatus.QUEUEING,
    UpstreamStatus.PROCESSING,
    UpstreamStatus.SUCCESS,
)


PROFILES = {
    # development and tests: a task finishes as soon as its video is rendered
    "fast": Timeline(preparing_s=0.2, queueing_s=0.3, processing_s=0.5),
    # demonstrations and load tests: about what the real service takes
    "realistic": Timeline(preparing_s=10.0, queueing_s=30.0, processing_s=150.0),
}


def timeline_for(spec: str) -> Timeline:
    """A named profile, or three comma-separated durations in seconds."""
    if spec in PROFILES:
        return PROFILES[spec]
    preparing, queueing, processing = (float(x) for x in spec.split(","))
    return Timeline(preparing, queueing, processing)
