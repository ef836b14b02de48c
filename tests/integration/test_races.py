"""Races that must have exactly one winner, with the money matching the winner."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.tasks import TERMINAL, Task, TaskStatus, VideoFile
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.reports import Reports
from reelgate.store.tables import ledger, task_events, tasks
from reelgate.store.tasks import TaskStore
from tests.support import fresh_database, new_task

PRICE = 43
CREDIT = 100 * PRICE
RACES = 60
FILE = VideoFile(file_id="7", width=1280, height=720, bytes=1)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    with fresh_database(tmp_path) as url:
        eng = database.create_engine(url)
        await database.upgrade(eng)
        yield eng
        await eng.dispose()


async def submitted_task(tasks: TaskStore, account_id: int, owner: str) -> int:
    now = datetime.now(UTC)
    task = await tasks.insert(
        new_task(account_id, price=PRICE),
        now,
    )
    await tasks.mark_submitted(task.id, f"up-{task.id}", now, now)
    # the tracker holds the lease while it records the outcome
    claimed = await tasks.claim_due(owner, now + timedelta(seconds=1), 1, timedelta(minutes=1))
    assert [t.id for t in claimed] == [task.id]
    return task.id


async def test_cancel_racing_success_has_one_winner(engine: AsyncEngine) -> None:
    accounts, tasks, reports = AccountStore(engine), TaskStore(engine), Reports(engine)
    account = await accounts.create_account("racer")
    await accounts.top_up(account.id, CREDIT)
    wins: Counter[TaskStatus] = Counter()
    for i in range(RACES):
        task_id = await submitted_task(tasks, account.id, "tracker")
        now = datetime.now(UTC)
        success = tasks.record_success(task_id, FILE, now, owner="tracker")
        cancel = tasks.record_failure(
            task_id, None, "cancelled", now, reason="cancelled", status=TaskStatus.CANCELLED
        )
        # each starts first in half of the races, so that both outcomes are exercised
        racers: list[Awaitable[Task | None]] = [success, cancel] if i % 2 else [cancel, success]
        results = await asyncio.gather(*racers)
        winners = [r for r in results if r is not None]
        assert len(winners) == 1, "exactly one must win"
        winner = winners[0]
        wins[winner.status] += 1
        final = await tasks.get_by_id(task_id)
        assert final is not None and final.status is winner.status
        net = await net_charge(engine, task_id)
        if final.status is TaskStatus.SUCCEEDED:
            assert net == -PRICE
        else:
            assert final.status is TaskStatus.CANCELLED and net == 0
        balance, summed = await reports.balance_and_ledger_sum(account.id)
        assert balance == summed
    assert set(wins) == {TaskStatus.SUCCEEDED, TaskStatus.CANCELLED}, wins
    await books_match_the_winners(engine, reports, account.id, wins)


async def books_match_the_winners(
    engine: AsyncEngine, reports: Reports, account_id: int, wins: Counter[TaskStatus]
) -> None:
    """The account's tasks, ledger and balance say exactly what the winners did: every
    task reserved once, each success captured once, each cancel refunded once, nothing
    released, and one terminal event per task."""
    succeeded, cancelled = wins[TaskStatus.SUCCEEDED], wins[TaskStatus.CANCELLED]
    assert succeeded + cancelled == RACES
    async with engine.connect() as conn:
        statuses = dict(
            (
                await conn.execute(
                    select(tasks.c.status, func.count())
                    .where(tasks.c.account_id == account_id)
                    .group_by(tasks.c.status)
                )
            ).all()
        )
        kinds = {
            kind: (int(count), int(total))
            for kind, count, total in (
                await conn.execute(
                    select(ledger.c.kind, func.count(), func.sum(ledger.c.amount))
                    .where(ledger.c.account_id == account_id)
                    .group_by(ledger.c.kind)
                )
            ).all()
        }
        terminal_events = (
            await conn.execute(
                select(task_events.c.task_id, func.count())
                .where(task_events.c.status.in_([s.value for s in TERMINAL]))
                .group_by(task_events.c.task_id)
            )
        ).all()
    assert {TaskStatus(s): n for s, n in statuses.items()} == +wins
    expected = {
        "topup": (1, CREDIT),
        "reserve": (RACES, -RACES * PRICE),
        "capture": (succeeded, 0),
        "refund": (cancelled, cancelled * PRICE),
    }
    assert kinds == {k: v for k, v in expected.items() if v[0]}
    assert len(terminal_events) == RACES and {n for _, n in terminal_events} == {1}
    balance, summed = await reports.balance_and_ledger_sum(account_id)
    assert balance == summed == CREDIT - succeeded * PRICE


async def net_charge(engine: AsyncEngine, task_id: int) -> int:
    async with engine.connect() as conn:
        value = (
            await conn.execute(
                select(func.coalesce(func.sum(ledger.c.amount), 0)).where(
                    ledger.c.task_id == task_id
                )
            )
        ).scalar_one()
    return int(value)
