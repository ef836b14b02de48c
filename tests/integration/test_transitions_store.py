"""The store carries out only what the lifecycle table allows (domain/lifecycle.py), on
the configured database: a move the table lacks is refused before anything is written,
whatever the caller asks, and leaves the task, its events and its money as they were."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.lifecycle import IllegalTransition
from reelgate.domain.tasks import FailureReason, Task, TaskStatus, UpstreamStatus, VideoFile
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.tables import ledger, task_events
from reelgate.store.tasks import TaskStore
from tests.support import fresh_database, new_task

PRICE = 17
FILE = VideoFile(file_id="5", width=1280, height=720, bytes=2)


@dataclass
class Books:
    engine: AsyncEngine
    tasks: TaskStore
    account_id: int

    async def stored(self) -> Task:
        return await self.tasks.insert(new_task(self.account_id, price=PRICE), _now())

    async def queued(self) -> Task:
        task = await self.stored()
        queued = await self.tasks.mark_submitted(task.id, f"up-{task.id}", _now(), _now())
        assert queued is not None
        return queued

    async def state(self, task_id: int) -> tuple[Task, list[str], list[tuple[str, int]]]:
        """The task, its events' statuses and its ledger entries."""
        task = await self.tasks.get_by_id(task_id)
        assert task is not None
        async with self.engine.connect() as conn:
            events = (
                await conn.execute(
                    select(task_events.c.status)
                    .where(task_events.c.task_id == task_id)
                    .order_by(task_events.c.seq)
                )
            ).scalars()
            entries = (
                await conn.execute(
                    select(ledger.c.kind, ledger.c.amount)
                    .where(ledger.c.task_id == task_id)
                    .order_by(ledger.c.id)
                )
            ).all()
        return task, list(events), [(k, a) for k, a in entries]


@pytest.fixture
async def books(tmp_path: Path) -> AsyncIterator[Books]:
    with fresh_database(tmp_path) as url:
        engine = database.create_engine(url)
        try:
            await database.upgrade(engine)
            accounts = AccountStore(engine)
            account = await accounts.create_account("lifecycle")
            await accounts.top_up(account.id, 100 * PRICE, "test credit")
            yield Books(engine, TaskStore(engine), account.id)
        finally:
            await engine.dispose()


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize("reported", [UpstreamStatus.SUCCESS, UpstreamStatus.FAIL])
async def test_progress_cannot_finish_a_task(books: Books, reported: UpstreamStatus) -> None:
    """An upstream `Success` without a file id reached record_progress and was stored as
    `succeeded` with no capture and no file; the table has no such move."""
    task = await books.queued()
    before = await books.state(task.id)
    with pytest.raises(IllegalTransition):
        await books.tasks.record_progress(task, None, reported, _now(), _now())
    assert await books.state(task.id) == before
    assert before[0].status is TaskStatus.QUEUED
    assert before[2] == [("reserve", -PRICE)]


async def test_a_caller_may_not_widen_the_sources(books: Books) -> None:
    """from_statuses narrows what the table allows; it never lets a finished task be
    failed again and refunded after its capture."""
    task = await books.queued()
    assert await books.tasks.record_success(task.id, FILE, _now()) is not None
    before = await books.state(task.id)
    with pytest.raises(IllegalTransition):
        await books.tasks.record_failure(
            task.id,
            1000,
            "again",
            _now(),
            reason=FailureReason.UPSTREAM_FAILED,
            from_statuses=[TaskStatus.SUCCEEDED.value],
        )
    assert await books.state(task.id) == before
    assert before[2] == [("reserve", -PRICE), ("capture", 0)]


async def test_a_failure_cannot_be_recorded_as_a_success(books: Books) -> None:
    task = await books.queued()
    with pytest.raises(IllegalTransition):
        await books.tasks.record_failure(
            task.id, 1000, "x", _now(), reason="upstream_failed", status=TaskStatus.SUCCEEDED
        )
    assert (await books.state(task.id))[0].status is TaskStatus.QUEUED


async def test_an_interrupted_submit_ends_only_a_submitting_task(books: Books) -> None:
    """The table, not the caller, says an interrupted submit settles only `submitting`."""
    queued = await books.queued()
    late = await books.tasks.record_failure(
        queued.id, 1000, "interrupted", _now(), reason=FailureReason.INTERRUPTED
    )
    assert late is None
    assert (await books.state(queued.id))[0].status is TaskStatus.QUEUED
    stuck = await books.stored()
    done = await books.tasks.record_failure(
        stuck.id, 1000, "interrupted", _now(), reason=FailureReason.INTERRUPTED
    )
    assert done is not None and done.status is TaskStatus.FAILED
    _, events, entries = await books.state(stuck.id)
    assert events == ["failed"] and entries == [("reserve", -PRICE), ("refund", PRICE)]


async def test_each_move_writes_what_the_table_says(books: Books) -> None:
    """Events and money, move by move: create reserves and records no event; accept and
    progress move no money; the one terminal move captures, releases or refunds."""
    task = await books.stored()
    assert (await books.state(task.id))[1:] == ([], [("reserve", -PRICE)])
    queued = await books.tasks.mark_submitted(task.id, "up-x", _now(), _now())
    assert queued is not None
    same = await books.tasks.record_progress(queued, None, UpstreamStatus.PREPARING, _now(), _now())
    assert same is not None  # no change of the upstream's status: no event
    running = await books.tasks.record_progress(
        same, None, UpstreamStatus.PROCESSING, _now(), _now()
    )
    assert running is not None and running.status is TaskStatus.RUNNING
    assert await books.tasks.record_success(task.id, FILE, _now()) is not None
    _, events, entries = await books.state(task.id)
    assert events == ["queued", "running", "succeeded"]
    assert entries == [("reserve", -PRICE), ("capture", 0)]
    refused = await books.stored()
    assert await books.tasks.mark_refused(refused.id, 1002, "busy", _now()) is not None
    _, events, entries = await books.state(refused.id)
    assert events == ["failed"] and entries == [("reserve", -PRICE), ("release", PRICE)]
