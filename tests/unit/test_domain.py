from __future__ import annotations

import random

import pytest

from reelgate.domain import signing
from reelgate.domain.ids import is_platform_id, new_platform_id
from reelgate.domain.polling import PollSchedule
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
    delays = [PollSchedule(initial=10, maximum=10, jitter=0.1).delay(3, rng) for _ in range(200)]
    assert min(delays) >= 9.0 and max(delays) <= 11.0 and len(set(delays)) > 100


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
