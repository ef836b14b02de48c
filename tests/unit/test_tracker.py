"""The tracker's rounds against fakes: leases that run short, budgets that run dry. A poll
that finds nothing new writes nothing: the tracker keeps the task's next poll in memory."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from reelgate.domain.polling import PollSchedule
from reelgate.domain.tasks import UpstreamStatus
from reelgate.providers.base import QueryResult
from reelgate.services.tracker import Tracker


@dataclass
class _Task:
    id: int
    platform_id: str = ""
    upstream_task_id: str = ""
    model: str = "T2V-01"
    channel: str = "ch"
    deadline_at: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(hours=1))
    poll_attempts: int = 1
    missing_polls: int = 0
    upstream_callback: bool = False
    upstream_status: UpstreamStatus = UpstreamStatus.PROCESSING
    next_poll_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _task(n: int) -> Any:
    return _Task(id=n, platform_id=f"video_{n}", upstream_task_id=f"up-{n}")


class Store:
    def __init__(self, tasks: list[Any]) -> None:
        self.due = tasks
        self.progress: list[tuple[int, datetime]] = []
        self.put_back: list[int] = []

    async def claim_due(self, owner: str, now: datetime, limit: int, lease: timedelta) -> Any:
        claimed, self.due = self.due[:limit], self.due[limit:]
        return claimed

    async def record_progress(self, task: Any, owner: Any, status: Any, at: Any, now: Any) -> None:
        self.progress.append((task.id, at))

    async def reschedule(self, task: Any, owner: str, at: datetime, **_: Any) -> None:
        self.put_back.append(task.id)


class Provider:
    def __init__(self, query_s: float) -> None:
        self.query_s = query_s
        self.queried: list[str] = []

    async def query(self, upstream_task_id: str, model: str | None = None) -> QueryResult:
        self.queried.append(upstream_task_id)
        await asyncio.sleep(self.query_s)
        return QueryResult(status=UpstreamStatus.PROCESSING)


class Router:
    def __init__(self, provider: Provider, *, budget: int = 1000, pace: float = 0.0) -> None:
        self._provider = provider
        self.budget = budget
        self.pace = pace
        self.acquired = 0

    async def refresh(self) -> None:
        pass

    def channels(self) -> list[Any]:
        return [SimpleNamespace(name="ch")]

    def may_poll(self, name: str) -> bool:
        return True

    async def acquire(self, name: str, share: float = 1.0) -> bool:
        if self.acquired >= self.budget:
            return False
        self.acquired += 1
        return True

    def poll_pace(self, name: str, share: float) -> float:
        return self.pace

    def provider(self, name: str) -> Provider:
        return self._provider

    def record(self, *_: Any) -> None:
        pass


def _tracker(store: Store, router: Router, *, lease_s: float, concurrency: int = 1) -> Tracker:
    schedule = PollSchedule(initial=1, maximum=30, jitter=0)
    return Tracker(
        tasks=store,  # type: ignore[arg-type]
        router=router,  # type: ignore[arg-type]
        files=SimpleNamespace(copies=False),  # type: ignore[arg-type]
        schedule=schedule,
        pushed_schedule=schedule,
        batch=10,
        concurrency=concurrency,
        lease=timedelta(seconds=lease_s),
    )


async def test_a_task_whose_lease_ran_short_while_it_waited_is_not_polled() -> None:
    # one query slot, queries of 0.45 s, a lease of 0.5 s: the first task is polled, the
    # second waits 0.45 s for the slot and finds less than a fifth of its lease left
    store, provider = Store([_task(1), _task(2)]), Provider(query_s=0.45)
    store_due_at = store.due[1].next_poll_at
    tracker = _tracker(store, Router(provider), lease_s=0.5)
    assert await tracker.poll_due() == 1
    assert provider.queried == ["up-1"]
    assert store.progress == [] and store.put_back == []  # no news: nothing written
    # still held, due as it was, for a round that renews its lease first
    assert tracker._queue.next_due() == store_due_at


async def test_the_next_poll_is_paced_by_the_channels_budget() -> None:
    store, provider = Store([_task(1)]), Provider(query_s=0)
    tracker = _tracker(store, Router(provider, pace=12.0), lease_s=60)
    before = datetime.now(UTC)
    await tracker.poll_due()
    assert store.progress == []  # no news: the next poll is kept in memory
    at = tracker._queue.next_due()
    assert at is not None
    assert 12.0 <= (at - before).total_seconds() < 13.0  # the schedule alone says 2.25 s


async def test_a_dry_budget_puts_tasks_back_and_the_tracker_naps() -> None:
    store, provider = Store([_task(n) for n in range(1, 6)]), Provider(query_s=0)
    router = Router(provider, budget=2)
    tracker = _tracker(store, router, lease_s=60, concurrency=5)
    before = datetime.now(UTC)
    assert await tracker.poll_due() == 2  # fewer than claimed: the loop naps
    assert provider.queried == ["up-1", "up-2"]
    # the other three are kept, due again in 1-2 s, not counted as attempts
    assert len(tracker._queue) == 5 and store.put_back == []
    for n in (3, 4, 5):
        held = tracker._queue._held[n]
        assert 1.0 <= (held.due - before).total_seconds() < 2.1
        assert held.task.poll_attempts == 1
    store.due = [_task(6)]
    assert await tracker.poll_due() == 0  # dry: nothing claimed
    assert store.due
