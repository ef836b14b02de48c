"""The task lifecycle as the store carries it out, on the configured database: a change
happens only from the states it is legal from, only for the lease's current owner, only
for an active account, and never rewrites what the upstream said. Each test here kills a
mutant that a hand-made mutation run let through (issue 15)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.tasks import FailureReason, Task, TaskStatus, UpstreamStatus, VideoFile
from reelgate.errors import Forbidden
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.tables import deliveries, ledger, tasks
from reelgate.store.tasks import TaskStore
from tests.support import migrated_database, new_task

PRICE = 25
FILE = VideoFile(file_id="7", width=1280, height=720, bytes=3)
LEASE = timedelta(seconds=30)
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class Lifecycle:
    engine: AsyncEngine
    accounts: AccountStore
    tasks: TaskStore

    async def account(self, name: str, credit: int = 100) -> int:
        account = await self.accounts.create_account(name)
        if credit:
            await self.accounts.top_up(account.id, credit, "test credit")
        return account.id

    async def stored(self, account_id: int, price: int = PRICE) -> Task:
        """A task as a create leaves it before the upstream answered: ``submitting``."""
        return await self.tasks.insert(new_task(account_id, price=price), T0)

    async def queued(self, account_id: int, upstream_id: str, price: int = PRICE) -> Task:
        task = await self.stored(account_id, price)
        queued = await self.tasks.mark_submitted(task.id, upstream_id, T0, T0, channel="ch-a")
        assert queued is not None and queued.status is TaskStatus.QUEUED
        return queued

    async def now(self, task_id: int) -> Task:
        task = await self.tasks.get_by_id(task_id)
        assert task is not None
        return task

    async def entries(self, task_id: int) -> list[tuple[str, int]]:
        query = select(ledger.c.kind, ledger.c.amount).where(ledger.c.task_id == task_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(ledger.c.id))).all()
        return [(r.kind, r.amount) for r in rows]

    async def balance(self, account_id: int) -> int:
        account = await self.accounts.get_account(account_id)
        assert account is not None
        return account.balance

    async def count(self, table: str, account_id: int) -> int:
        source = {"tasks": tasks, "ledger": ledger, "deliveries": deliveries}[table]
        query = select(func.count()).select_from(source).where(source.c.account_id == account_id)
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database for the module; each test uses accounts of its own."""
    with migrated_database(tmp_path_factory.mktemp("lifecycle")) as url:
        yield url


@pytest.fixture
async def life(database_url: str) -> AsyncIterator[Lifecycle]:
    engine = database.create_engine(database_url)
    try:
        yield Lifecycle(engine, AccountStore(engine), TaskStore(engine))
    finally:
        await engine.dispose()


# -- legal transitions only -----------------------------------------------------------


async def test_no_success_is_recorded_while_the_upstream_has_not_answered(
    life: Lifecycle,
) -> None:
    account = await life.account("success-from-submitting")
    task = await life.stored(account)
    assert task.status is TaskStatus.SUBMITTING
    assert await life.tasks.record_success(task.id, FILE, T0) is None
    assert await life.tasks.record_progress(task, None, UpstreamStatus.PROCESSING, T0, T0) is None
    still = await life.now(task.id)
    assert still.status is TaskStatus.SUBMITTING and still.file is None
    assert await life.entries(task.id) == [("reserve", -PRICE)]  # nothing captured
    assert await life.tasks.events(task.id, 0) == []

    # once the upstream has the task, the same calls go through, in order
    queued = await life.tasks.mark_submitted(task.id, "up-s", T0, T0)
    assert queued is not None and queued.status is TaskStatus.QUEUED
    running = await life.tasks.record_progress(queued, None, UpstreamStatus.PROCESSING, T0, T0)
    assert running is not None and running.status is TaskStatus.RUNNING
    done = await life.tasks.record_success(task.id, FILE, T0)
    assert done is not None and done.status is TaskStatus.SUCCEEDED
    assert done.file is not None and done.file.file_id == FILE.file_id
    assert await life.entries(task.id) == [("reserve", -PRICE), ("capture", 0)]
    assert await life.balance(account) == 100 - PRICE
    seen = [(e.seq, e.status) for e in await life.tasks.events(task.id, 0)]
    assert seen == [
        (1, TaskStatus.QUEUED),
        (2, TaskStatus.RUNNING),
        (3, TaskStatus.SUCCEEDED),
    ]
    assert [e.seq for e in await life.tasks.events(task.id, 2)] == [3]


async def test_a_refusal_only_settles_a_task_the_upstream_has_not_taken(life: Lifecycle) -> None:
    account = await life.account("refusal-after-queued")
    queued = await life.queued(account, "up-r")
    assert await life.tasks.mark_refused(queued.id, 1002, "busy", T0) is None
    assert (await life.now(queued.id)).status is TaskStatus.QUEUED
    stored = await life.stored(account)
    refused = await life.tasks.mark_refused(stored.id, 2013, "bad prompt", T0)
    assert refused is not None and refused.status is TaskStatus.FAILED
    assert (refused.error_code, refused.error_reason) == (2013, "upstream_refused")
    assert refused.finished_at == T0
    assert await life.entries(stored.id) == [("reserve", -PRICE), ("release", PRICE)]
    assert await life.balance(account) == 100 - PRICE  # the queued one still holds its price


async def test_a_finished_task_never_changes_again(life: Lifecycle) -> None:
    account = await life.account("finished-is-final")
    task = await life.queued(account, "up-f")
    failed = await life.tasks.record_failure(
        task.id, 1000, "gone", T0, reason=FailureReason.LOST.value
    )
    assert failed is not None and failed.status is TaskStatus.FAILED
    assert failed.upstream_status is UpstreamStatus.FAIL and failed.next_poll_at is None
    assert await life.entries(task.id) == [("reserve", -PRICE), ("refund", PRICE)]
    assert await life.tasks.record_success(task.id, FILE, T0) is None
    assert await life.tasks.record_progress(failed, None, UpstreamStatus.QUEUEING, T0, T0) is None
    assert await life.tasks.mark_submitted(task.id, "up-again", T0, T0) is None
    assert await life.tasks.record_failure(task.id, 1, "x", T0, reason="lost") is None
    after = await life.now(task.id)
    assert after.status is TaskStatus.FAILED and after.upstream_task_id == "up-f"
    assert await life.entries(task.id) == [("reserve", -PRICE), ("refund", PRICE)]
    assert await life.balance(account) == 100


async def test_a_failure_can_be_limited_to_some_states(life: Lifecycle) -> None:
    """The tracker's sweep of stuck submits fails only tasks still ``submitting``."""
    account = await life.account("from-statuses")
    queued = await life.queued(account, "up-q")
    only_submitting = [TaskStatus.SUBMITTING.value]
    swept = await life.tasks.record_failure(
        queued.id, None, "lost", T0, reason="interrupted", from_statuses=only_submitting
    )
    assert swept is None and (await life.now(queued.id)).status is TaskStatus.QUEUED
    cancelled = await life.tasks.record_failure(
        queued.id, None, "cancelled", T0, reason="cancelled", status=TaskStatus.CANCELLED
    )
    assert cancelled is not None and cancelled.status is TaskStatus.CANCELLED


# -- leases ---------------------------------------------------------------------------


async def test_a_stale_lease_owner_cannot_write(life: Lifecycle) -> None:
    """A worker whose lease ran out (it stalled) and was claimed again by another must not
    record anything: neither progress, nor a result, nor a reschedule."""
    account = await life.account("stale-owner")
    task = await life.queued(account, "up-l")
    (first,) = [t for t in await life.tasks.claim_due("w1", T0, 50, LEASE) if t.id == task.id]
    later = T0 + LEASE + timedelta(seconds=1)
    (second,) = [t for t in await life.tasks.claim_due("w2", later, 50, LEASE) if t.id == task.id]

    assert await life.tasks.record_progress(first, "w1", UpstreamStatus.PROCESSING, T0, T0) is None
    assert await life.tasks.record_success(task.id, FILE, T0, "w1") is None
    assert await life.tasks.record_failure(task.id, 1, "x", T0, reason="lost", owner="w1") is None
    await life.tasks.reschedule(first, "w1", T0 + timedelta(days=1), missing=True)
    held = await life.now(task.id)
    assert held.status is TaskStatus.QUEUED and held.file is None
    assert held.poll_attempts == 0 and held.missing_polls == 0
    assert held.next_poll_at == later + LEASE  # as w2's claim left it: its lease's end
    assert await life.entries(task.id) == [("reserve", -PRICE)]

    # the current owner's writes go through
    moved = await life.tasks.record_progress(second, "w2", UpstreamStatus.PROCESSING, later, later)
    assert moved is not None and moved.status is TaskStatus.RUNNING
    assert moved.poll_attempts == 1 and moved.next_poll_at == later
    # its lease is released with the progress: the task is due again for anyone
    assert task.id in [t.id for t in await life.tasks.claim_due("w3", later, 50, LEASE)]
    done = await life.tasks.record_success(task.id, FILE, later, "w3")
    assert done is not None and done.status is TaskStatus.SUCCEEDED


async def test_a_reschedule_counts_attempts_and_missing_polls(life: Lifecycle) -> None:
    account = await life.account("reschedule")
    task = await life.queued(account, "up-m")
    (claimed,) = [t for t in await life.tasks.claim_due("w", T0, 50, LEASE) if t.id == task.id]
    next_poll = T0 + timedelta(seconds=9)
    await life.tasks.reschedule(claimed, "w", next_poll, missing=True)
    once = await life.now(task.id)
    assert (once.poll_attempts, once.missing_polls, once.next_poll_at) == (1, 1, next_poll)
    await life.tasks.reschedule(once, "w", next_poll)  # its lease was released: ignored
    assert (await life.now(task.id)).poll_attempts == 1
    # not due yet, then due, then made due at once by news from the upstream
    assert task.id not in [t.id for t in await life.tasks.claim_due("x", T0, 50, LEASE)]
    (again,) = [t for t in await life.tasks.claim_due("w", next_poll, 50, LEASE) if t.id == task.id]
    await life.tasks.reschedule(again, "w", next_poll + timedelta(hours=1), count_attempt=False)
    twice = await life.now(task.id)
    assert (twice.poll_attempts, twice.missing_polls) == (1, 1)  # not counted, not missing
    await life.tasks.poll_now(task.id, next_poll)
    assert (await life.now(task.id)).next_poll_at == next_poll
    # progress from the upstream clears the count of missing polls; no event when the
    # upstream status did not change
    seen = await life.now(task.id)
    progress = await life.tasks.record_progress(
        seen, None, UpstreamStatus.PREPARING, next_poll, next_poll
    )
    assert progress is not None and progress.missing_polls == 0
    assert [e.seq for e in await life.tasks.events(task.id, 0)] == [1]


# -- accounts -------------------------------------------------------------------------


@pytest.mark.parametrize("price", [PRICE, 0])
async def test_a_suspended_account_reserves_nothing(life: Lifecycle, price: int) -> None:
    account = await life.account(f"suspended-{price}")
    await life.accounts.set_status(account, "suspended")
    with pytest.raises(Forbidden, match="the account is suspended"):
        await life.stored(account, price)
    assert await life.balance(account) == 100
    assert await life.count("tasks", account) == 0
    assert await life.count("ledger", account) == 1  # the credit only
    await life.accounts.set_status(account, "active")
    task = await life.stored(account, price)
    assert await life.entries(task.id) == ([("reserve", -price)] if price else [])
    assert await life.balance(account) == 100 - price


async def test_an_account_that_does_not_exist_reserves_nothing(life: Lifecycle) -> None:
    with pytest.raises(Forbidden, match="the account is gone"):
        await life.stored(10**9)


# -- what the upstream said -----------------------------------------------------------


async def test_the_upstream_id_is_never_overwritten(life: Lifecycle) -> None:
    account = await life.account("upstream-id")
    task = await life.queued(account, "up-1")
    assert task.upstream_task_id == "up-1" and task.channel == "ch-a"
    # a late second submit answer, on another channel, must not replace the first
    await life.tasks.note_upstream_id(task.id, "up-2", "ch-b")
    assert await life.tasks.mark_submitted(task.id, "up-3", T0, T0, channel="ch-c") is None
    kept = await life.now(task.id)
    assert (kept.upstream_task_id, kept.channel) == ("up-1", "ch-a")
    assert await life.tasks.get(account, "up-1") == kept
    assert await life.tasks.get(account, "up-2") is None

    # a task settled while its submit ran keeps the upstream's id when it comes, once
    other = await life.stored(account)
    assert (
        await life.tasks.record_failure(other.id, None, "late", T0, reason="deadline") is not None
    )
    await life.tasks.note_upstream_id(other.id, "up-late", "ch-b")
    await life.tasks.note_upstream_id(other.id, "up-later", "ch-c")
    settled = await life.now(other.id)
    assert (settled.upstream_task_id, settled.channel) == ("up-late", "ch-b")
    assert settled.status is TaskStatus.FAILED


async def test_a_callback_is_queued_with_each_change_of_a_task_that_has_one(
    life: Lifecycle,
) -> None:
    account = await life.account("outbox")
    await life.queued(account, "up-plain")  # no callback URL: nothing queued
    assert await life.count("deliveries", account) == 0
    new = replace(new_task(account, price=PRICE), callback_url="https://cb.example/x")
    stored = await life.tasks.insert(new, T0)
    assert await life.tasks.mark_submitted(stored.id, "up-cb", T0, T0) is not None
    assert await life.tasks.record_success(stored.id, FILE, T0) is not None
    assert await life.count("deliveries", account) == 2  # queued, then succeeded
