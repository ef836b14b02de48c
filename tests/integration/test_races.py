"""Races that must have exactly one winner, with the money matching the winner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reelgate.domain.tasks import TaskStatus, VideoFile
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.reports import Reports
from reelgate.store.tables import ledger
from reelgate.store.tasks import TaskStore
from tests.support import fresh_database, new_task

PRICE = 43
FILE = VideoFile(file_id="7", width=1280, height=720, bytes=1)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[object]:
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


async def test_cancel_racing_success_has_one_winner(engine: object) -> None:
    accounts, tasks, reports = AccountStore(engine), TaskStore(engine), Reports(engine)  # type: ignore[arg-type]
    account = await accounts.create_account("racer")
    await accounts.top_up(account.id, 100 * PRICE)
    wins = {"success": 0, "cancel": 0}
    for _ in range(60):
        task_id = await submitted_task(tasks, account.id, "tracker")
        now = datetime.now(UTC)
        success, cancel = await asyncio.gather(
            tasks.record_success(task_id, FILE, now, owner="tracker"),
            tasks.record_failure(
                task_id, None, "cancelled", now, reason="cancelled", status=TaskStatus.CANCELLED
            ),
        )
        assert (success is None) != (cancel is None), "exactly one must win"
        wins["success" if success else "cancel"] += 1
        final = await tasks.get_by_id(task_id)
        assert final is not None
        net = await net_charge(engine, task_id)
        if final.status is TaskStatus.SUCCEEDED:
            assert net == -PRICE
        else:
            assert final.status is TaskStatus.CANCELLED and net == 0
        balance, summed = await reports.balance_and_ledger_sum(account.id)
        assert balance == summed
    assert sum(wins.values()) == 60


async def net_charge(engine: object, task_id: int) -> int:
    from sqlalchemy import func, select

    async with engine.connect() as conn:  # type: ignore[attr-defined]
        value = (
            await conn.execute(
                select(func.coalesce(func.sum(ledger.c.amount), 0)).where(
                    ledger.c.task_id == task_id
                )
            )
        ).scalar_one()
    return int(value)
