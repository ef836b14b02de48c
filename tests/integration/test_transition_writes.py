"""What each lifecycle move writes on the task row, on the configured database: the
error a failure records, the lease a move releases, the file a success keeps, the
event and callback it commits, and who is told of the change.

test_transitions_store.py holds which moves are legal and the money they move; this file
holds the columns, which a client reads back (the query answer, the callback body) and the
worker relies on (no lease or next poll left on a finished task).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.lifecycle import IllegalTransition
from reelgate.domain.tasks import FailureReason, Task, TaskStatus, UpstreamStatus, VideoFile
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.tables import deliveries, task_events, tasks
from reelgate.store.tasks import TaskStore
from tests.support import fresh_database, new_task

PRICE = 17
FILE = VideoFile(file_id="5", width=1280, height=720, bytes=2)
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=3)
OWNER = "worker-1"
CALLBACK = "https://hooks.example.com/reelgate"


@dataclass
class Rows:
    engine: AsyncEngine
    tasks: TaskStore
    account_id: int
    told: list[int] = field(default_factory=list)

    async def queued(self, *, callback: bool = False) -> Task:
        task = await self.tasks.insert(new_task(self.account_id, price=PRICE), T0)
        if callback:
            await self.write(task.id, callback_url=CALLBACK)
        queued = await self.tasks.mark_submitted(task.id, f"up-{task.id}", T0, T0)
        assert queued is not None
        return queued

    async def write(self, task_id: int, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(tasks).where(tasks.c.id == task_id).values(**values))

    async def leased(self, *, callback: bool = False) -> Task:
        """A queued task a worker holds the lease of, with a poll due."""
        task = await self.queued(callback=callback)
        await self.write(task.id, lease_owner=OWNER, lease_until=LATER, next_poll_at=LATER)
        return task

    async def row(self, task_id: int) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(select(tasks).where(tasks.c.id == task_id))).one()

    async def events(self, task_id: int) -> list[tuple[str, str | None]]:
        query = (
            select(task_events.c.status, task_events.c.upstream_status)
            .where(task_events.c.task_id == task_id)
            .order_by(task_events.c.seq)
        )
        async with self.engine.connect() as conn:
            return [(s, u) for s, u in (await conn.execute(query)).all()]

    async def callbacks(self, task_id: int) -> list[dict[str, Any]]:
        query = (
            select(deliveries.c.body)
            .where(deliveries.c.task_id == task_id)
            .order_by(deliveries.c.seq)
        )
        async with self.engine.connect() as conn:
            return [dict(b) for b in (await conn.execute(query)).scalars()]


@pytest.fixture
async def rows(tmp_path: Path) -> AsyncIterator[Rows]:
    with fresh_database(tmp_path) as url:
        engine = database.create_engine(url)
        try:
            await database.upgrade(engine)
            accounts = AccountStore(engine)
            account = await accounts.create_account("writes")
            await accounts.top_up(account.id, 100 * PRICE, "test credit")
            told: list[int] = []
            yield Rows(engine, TaskStore(engine, on_change=told.append), account.id, told)
        finally:
            await engine.dispose()


def finished(row: Any) -> tuple[Any, ...]:
    return (row.next_poll_at, row.lease_owner, row.lease_until)


async def test_a_failure_records_its_error_and_releases_the_task(rows: Rows) -> None:
    task = await rows.leased(callback=True)
    failed = await rows.tasks.record_failure(
        task.id,
        1027,
        "generation failed",
        LATER,
        reason=FailureReason.UPSTREAM_FAILED,
        owner=OWNER,
    )
    assert failed is not None
    assert (failed.status, failed.upstream_status) == (TaskStatus.FAILED, UpstreamStatus.FAIL)
    assert (failed.error_code, failed.error_message, failed.error_reason) == (
        1027,
        "generation failed",
        FailureReason.UPSTREAM_FAILED,
    )
    assert failed.finished_at == LATER and failed.updated_at == LATER
    assert finished(await rows.row(task.id)) == (None, None, None)
    assert (await rows.events(task.id))[-1] == ("failed", "Fail")
    [_, body] = await rows.callbacks(task.id)
    assert body["status"] == "failed" and body["platform_id"] == task.platform_id
    assert body["base_resp"] == {"status_code": 1027, "status_msg": "generation failed"}
    assert rows.told == [task.id, task.id]


async def test_a_cancel_records_its_reason(rows: Rows) -> None:
    task = await rows.queued()
    cancelled = await rows.tasks.record_failure(
        task.id,
        None,
        "cancelled by the client",
        LATER,
        reason=FailureReason.CANCELLED,
        status=TaskStatus.CANCELLED,
    )
    assert cancelled is not None and cancelled.status is TaskStatus.CANCELLED
    assert (cancelled.error_code, cancelled.error_reason) == (None, FailureReason.CANCELLED)


async def test_a_success_keeps_the_file_and_wants_a_copy(rows: Rows) -> None:
    task = await rows.leased(callback=True)
    done = await rows.tasks.record_success(task.id, FILE, LATER, OWNER)
    assert done is not None and done.file is not None
    assert (done.status, done.upstream_status) == (TaskStatus.SUCCEEDED, UpstreamStatus.SUCCESS)
    assert (done.file.file_id, done.file.width, done.file.height) == ("5", 1280, 720)
    assert done.finished_at == LATER
    row = await rows.row(task.id)
    assert finished(row) == (None, None, None)
    assert row.file_copy_pending is True and row.next_copy_at == LATER
    assert (await rows.events(task.id))[-1] == ("succeeded", "Success")
    [_, body] = await rows.callbacks(task.id)
    assert (body["status"], body["file_id"], body["video_width"]) == ("success", "5", 1280)


async def test_a_success_without_a_copy_wanted(rows: Rows) -> None:
    task = await rows.queued()
    assert await rows.tasks.record_success(task.id, FILE, LATER, copy_pending=False)
    assert (await rows.row(task.id)).file_copy_pending is False


async def test_a_refusal_records_its_error(rows: Rows) -> None:
    task = await rows.tasks.insert(new_task(rows.account_id, price=PRICE), T0)
    await rows.write(task.id, lease_owner=OWNER, lease_until=LATER, next_poll_at=LATER)
    refused = await rows.tasks.mark_refused(task.id, 1026, "sensitive content", LATER)
    assert refused is not None and refused.status is TaskStatus.FAILED
    assert (refused.error_code, refused.error_message, refused.error_reason) == (
        1026,
        "sensitive content",
        "upstream_refused",
    )
    assert refused.finished_at == LATER
    assert finished(await rows.row(task.id)) == (None, None, None)


async def test_progress_records_the_status_and_releases_the_lease(rows: Rows) -> None:
    task = await rows.leased()
    running = await rows.tasks.record_progress(task, OWNER, UpstreamStatus.PROCESSING, LATER, LATER)
    assert running is not None
    assert (running.status, running.upstream_status) == (
        TaskStatus.RUNNING,
        UpstreamStatus.PROCESSING,
    )
    assert running.poll_attempts == task.poll_attempts + 1
    row = await rows.row(task.id)
    assert (row.lease_owner, row.lease_until, row.next_poll_at) == (None, None, LATER)
    assert (await rows.events(task.id)) == [("queued", "Preparing"), ("running", "Processing")]


async def test_a_submit_records_the_upstream_and_its_callback_mode(rows: Rows) -> None:
    task = await rows.tasks.insert(new_task(rows.account_id, price=PRICE), T0)
    plain = await rows.tasks.mark_submitted(task.id, "up-1", LATER, LATER, channel="second")
    assert plain is not None
    assert (plain.upstream_task_id, plain.channel, plain.upstream_callback) == (
        "up-1",
        "second",
        False,
    )
    assert (plain.status, plain.upstream_status) == (TaskStatus.QUEUED, UpstreamStatus.PREPARING)
    assert plain.next_poll_at == LATER and plain.updated_at == LATER
    pushed = await rows.tasks.insert(new_task(rows.account_id, price=PRICE), T0)
    with_push = await rows.tasks.mark_submitted(
        pushed.id, "up-2", LATER, LATER, upstream_callback=True
    )
    assert with_push is not None and with_push.upstream_callback is True


async def test_a_late_upstream_id_is_kept_on_its_own_task_only(rows: Rows) -> None:
    settled = await rows.tasks.insert(new_task(rows.account_id, price=PRICE), T0)
    other = await rows.tasks.insert(new_task(rows.account_id, price=PRICE), T0)
    await rows.tasks.note_upstream_id(settled.id, "up-late", "second")
    assert (await rows.row(settled.id)).upstream_task_id == "up-late"
    assert (await rows.row(other.id)).upstream_task_id is None
    # an id already known is never overwritten
    await rows.tasks.note_upstream_id(settled.id, "up-other", "third")
    assert (await rows.row(settled.id)).upstream_task_id == "up-late"


async def test_a_widening_is_refused_with_the_statuses_named(rows: Rows) -> None:
    task = await rows.queued()
    with pytest.raises(IllegalTransition) as info:
        await rows.tasks.record_failure(
            task.id,
            1000,
            "x",
            LATER,
            reason=FailureReason.INTERRUPTED,
            from_statuses=[TaskStatus.QUEUED.value, TaskStatus.SUBMITTING.value],
        )
    assert str(info.value) == "interrupt cannot move a task from [<TaskStatus.QUEUED: 'queued'>]"


async def test_a_narrowing_moves_only_the_statuses_asked_for(rows: Rows) -> None:
    task = await rows.queued()
    only_running = await rows.tasks.record_failure(
        task.id,
        1000,
        "x",
        LATER,
        reason=FailureReason.UPSTREAM_FAILED,
        from_statuses=[TaskStatus.RUNNING.value],
    )
    assert only_running is None
    assert (await rows.row(task.id)).status == TaskStatus.QUEUED.value
