from __future__ import annotations

import bisect
import heapq
import random

import pytest

from reelgate.domain import signing
from reelgate.domain.ids import is_platform_id, new_platform_id
from reelgate.domain.polling import PollSchedule, paced_interval
from reelgate.domain.tasks import TaskStatus, UpstreamStatus


def test_platform_ids_sort_by_creation() -> None:
    ids = [new_platform_id() for _ in range(50)]
    assert all(is_platform_id(i) for i in ids)
    assert len(set(ids)) == 50
    assert ids[0] < ids[-1]


@pytest.mark.parametrize(
    ("attempt", "delay"), [(0, 1.0), (1, 2.0), (2, 4.0), (4, 16.0), (5, 30.0), (50, 30.0)]
)
def test_poll_schedule_backs_off_to_its_cap(attempt: int, delay: float) -> None:
    assert PollSchedule(initial=1, maximum=30, factor=2, jitter=0).delay(attempt) == delay


def test_poll_schedule_jitter_stays_in_bounds() -> None:
    rng = random.Random(7)
    delays = [PollSchedule(initial=2, maximum=30, jitter=0.1).delay(1, rng) for _ in range(200)]
    assert min(delays) >= 2.7 and max(delays) <= 3.3 and len(set(delays)) > 100


def test_poll_schedule_jitter_never_passes_the_cap() -> None:
    rng = random.Random(7)
    delays = [PollSchedule(initial=10, maximum=10, jitter=0.1).delay(3, rng) for _ in range(200)]
    assert min(delays) >= 9.0 and max(delays) <= 10.0 and len(set(delays)) > 100


def test_paced_interval_spreads_a_budget_over_the_tasks() -> None:
    assert paced_interval(1000, 3000) == 20.0  # 1,000 tasks, 3,000 polls a minute
    assert paced_interval(300, 900, window_s=30) == 10.0
    assert paced_interval(0, 3000) == 0.0
    assert paced_interval(5, 0) == float("inf")  # no budget for polls: the cap decides


@pytest.mark.parametrize(
    ("attempt", "pace", "delay"), [(0, 12, 12.0), (5, 12, 12.0), (9, 12, 30.0)]
)
def test_pacing_stretches_the_schedule_but_never_past_its_cap(
    attempt: int, pace: float, delay: float
) -> None:
    schedule = PollSchedule(initial=1, maximum=30, factor=1.5, jitter=0)
    assert schedule.delay(attempt, at_least=pace) == delay
    assert schedule.delay(attempt, at_least=1e9) == 30.0
    rng = random.Random(3)
    jittered = [schedule.__class__(jitter=0.1).delay(0, rng, at_least=pace) for _ in range(100)]
    assert min(jittered) >= pace and max(jittered) <= 30.0


def _simulate(tasks: int, budget: int, *, paced: bool) -> tuple[int, float]:
    """Tasks submitted 30 a second onto one channel, each polled until it has run five
    minutes, as the tracker schedules them; returns the most polls in any minute and the
    longest wait between two polls of one task."""
    schedule = PollSchedule(initial=1, maximum=30, factor=1.5, jitter=0.1, budget_share=0.5)
    rng = random.Random(11)
    heap: list[tuple[float, int, int]] = []  # (when, task, attempt)
    started = [i / 30 for i in range(tasks)]
    polls: list[float] = []
    last = dict(enumerate(started))
    longest = 0.0
    submitted = 0

    def delay(attempt: int, now: float) -> float:
        in_flight = bisect.bisect_right(started, now)
        pace = paced_interval(in_flight, budget * schedule.budget_share) if paced else 0.0
        return schedule.delay(attempt, rng, at_least=pace)

    while submitted < tasks or heap:
        if submitted < tasks and (not heap or started[submitted] <= heap[0][0]):
            now = started[submitted]
            heapq.heappush(heap, (now + delay(0, now), submitted, 0))
            submitted += 1
            continue
        now, task, attempt = heapq.heappop(heap)
        polls.append(now)
        longest = max(longest, now - last[task])
        last[task] = now
        if now - started[task] < 300:
            heapq.heappush(heap, (now + delay(attempt + 1, now), task, attempt + 1))
    busiest, first = 0, 0
    for end, t in enumerate(polls):
        while t - polls[first] >= 60:
            first += 1
        busiest = max(busiest, end - first + 1)
    return busiest, longest


def test_paced_polls_spend_the_budget_evenly_and_keep_the_cap() -> None:
    # 1,000 tasks need 2,000 polls a minute at the 30 s cap; the channel has 6,000 calls
    busiest, longest = _simulate(1000, 6000, paced=True)
    assert busiest <= 0.5 * 6000 * 1.05  # the share pacing aims at, give or take
    assert longest <= 30.0
    # unpaced, the early polls of fresh tasks come in a burst far over that share
    unpaced, _ = _simulate(1000, 6000, paced=False)
    assert unpaced > 6000 * 0.8


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("Success", UpstreamStatus.SUCCESS),
        ("success", UpstreamStatus.SUCCESS),
        ("Fail", UpstreamStatus.FAIL),
        ("failed", UpstreamStatus.FAIL),
        ("processing", UpstreamStatus.PROCESSING),
        ("Queueing", UpstreamStatus.QUEUEING),
        ("bogus", None),
    ],
)
def test_upstream_status_reads_both_cases(text: str, status: UpstreamStatus | None) -> None:
    assert UpstreamStatus.parse(text) is status


def test_status_mapping() -> None:
    assert UpstreamStatus.PREPARING.platform is TaskStatus.QUEUED
    assert UpstreamStatus.PROCESSING.platform is TaskStatus.RUNNING
    assert TaskStatus.SUBMITTING.public == "queued"
    assert TaskStatus.CANCELLED.terminal and not TaskStatus.RUNNING.terminal


def test_signatures_bind_subject_and_expiry() -> None:
    secret = b"k" * 32
    sig = signing.sign(secret, "video_1", 2000)
    assert signing.verify(secret, "video_1", 2000, sig, now=1000)
    assert not signing.verify(secret, "video_2", 2000, sig, now=1000)
    assert not signing.verify(secret, "video_1", 2001, sig, now=1000)
    assert not signing.verify(secret, "video_1", 2000, sig, now=2001)
    assert not signing.verify(b"x" * 32, "video_1", 2000, sig, now=1000)
