"""Settling a success at what it cost, on the configured database (SQLite, or
PostgreSQL with REELGATE_TEST_DATABASE): ``record_success(..., charged=)`` keeps the
charge as the task's price, never above the reservation, and gives the rest back with
one ``settle`` entry in the success's own transaction, exactly once, whatever races it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.tasks import FailureReason, Task, TaskStatus, Usage, VideoFile
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.reports import Reports
from reelgate.store.tables import ledger
from reelgate.store.tasks import TaskStore
from tests.support import migrated_database, new_task

RESERVED = 168  # MiniMax-H3 at 768P: 6 s + a reference video by URL (15 s), 8 a second
CREDIT = 1000
FILE = VideoFile(file_id="7", width=1344, height=768, bytes=1)
USAGE = Usage(output_seconds=6, input_seconds=3, input_image_count=1)


@dataclass
class Books:
    engine: AsyncEngine
    accounts: AccountStore
    tasks: TaskStore
    reports: Reports

    async def queued(self, price: int = RESERVED) -> tuple[int, Task]:
        """A new account with CREDIT and one queued H3 task that reserved ``price``."""
        account = await self.accounts.create_account(f"settle-{uuid.uuid4().hex[:12]}")
        await self.accounts.top_up(account.id, CREDIT, "test credit")
        stored = await self.tasks.insert(
            new_task(account.id, price=price, model="MiniMax-H3"), now()
        )
        task = await self.tasks.mark_submitted(stored.id, f"up-{stored.id}", now(), now())
        assert task is not None
        return account.id, task

    async def balance(self, account_id: int) -> int:
        balance, summed = await self.reports.balance_and_ledger_sum(account_id)
        assert balance == summed, "the balance must equal the sum of the ledger"
        return balance

    async def entries(self, task_id: int) -> list[tuple[str, int]]:
        query = select(ledger.c.kind, ledger.c.amount).where(ledger.c.task_id == task_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(ledger.c.id))).all()
        return [(r.kind, r.amount) for r in rows]


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database(tmp_path_factory.mktemp("settlement")) as url:
        yield url


@pytest.fixture
async def books(database_url: str) -> AsyncIterator[Books]:
    engine = database.create_engine(database_url)
    try:
        yield Books(engine, AccountStore(engine), TaskStore(engine), Reports(engine))
    finally:
        await engine.dispose()


def now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize(
    ("charged", "price", "settled"),
    [
        (72, 72, [("settle", 96)]),  # billed less: the difference given back, once
        (RESERVED - 1, RESERVED - 1, [("settle", 1)]),  # one past equal
        (RESERVED, RESERVED, []),  # billed what was reserved: nothing to give back
        (RESERVED + 1, RESERVED, []),  # billed more: capped at the reservation
        (0, 0, [("settle", RESERVED)]),
        (None, RESERVED, []),  # no charge known: the reservation is the charge
    ],
)
async def test_a_success_settles_at_its_charge(
    books: Books, charged: int | None, price: int, settled: list[tuple[str, int]]
) -> None:
    account, task = await books.queued()
    assert await books.balance(account) == CREDIT - RESERVED

    done = await books.tasks.record_success(
        task.id, FILE, now(), usage=USAGE, ratio="9:16", charged=charged
    )

    assert done is not None and done.status is TaskStatus.SUCCEEDED
    assert (done.price, done.usage, done.ratio) == (price, USAGE, "9:16")
    assert await books.entries(task.id) == [("reserve", -RESERVED), ("capture", 0), *settled]
    assert await books.balance(account) == CREDIT - price  # the task nets its price
    stored = await books.tasks.get_by_id(task.id)
    assert stored is not None and stored.price == price


async def test_a_free_task_settles_nothing(books: Books) -> None:
    account, task = await books.queued(price=0)
    done = await books.tasks.record_success(task.id, FILE, now(), charged=5)
    assert done is not None and done.price == 0
    assert await books.entries(task.id) == []
    assert await books.balance(account) == CREDIT


async def test_a_settled_task_is_settled_once(books: Books) -> None:
    account, task = await books.queued()
    results = await asyncio.gather(
        *(books.tasks.record_success(task.id, FILE, now(), charged=c) for c in (72, 100, 72, 40))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    charged = winners[0].price
    assert await books.entries(task.id) == [
        ("reserve", -RESERVED),
        ("capture", 0),
        ("settle", RESERVED - charged),
    ]
    assert await books.balance(account) == CREDIT - charged
    # a finished task's money never moves again
    assert await books.tasks.record_success(task.id, FILE, now(), charged=1) is None
    cancel = await books.tasks.record_failure(
        task.id, None, "cancelled", now(), reason="cancelled", status=TaskStatus.CANCELLED
    )
    assert cancel is None and len(await books.entries(task.id)) == 3
    # and the ledger itself refuses a second settle of the task
    with pytest.raises(IntegrityError):
        async with books.engine.begin() as conn:
            await conn.execute(
                insert(ledger).values(
                    account_id=account,
                    task_id=task.id,
                    kind="settle",
                    amount=1,
                    balance_after=0,
                    created_at=now(),
                )
            )


@pytest.mark.parametrize("attempt", range(4))
async def test_success_racing_a_cancel_has_one_outcome(books: Books, attempt: int) -> None:
    account, task = await books.queued()
    cancel = books.tasks.record_failure(
        task.id,
        None,
        "cancelled",
        now(),
        reason=FailureReason.CANCELLED,
        status=TaskStatus.CANCELLED,
    )
    success = books.tasks.record_success(task.id, FILE, now(), usage=USAGE, charged=72)
    # which one starts first alternates; which one wins is the database's to decide
    first, second = (cancel, success) if attempt % 2 else (success, cancel)
    results = await asyncio.gather(first, second)
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    if winners[0].status is TaskStatus.SUCCEEDED:
        assert await books.entries(task.id) == [
            ("reserve", -RESERVED),
            ("capture", 0),
            ("settle", 96),
        ]
        assert await books.balance(account) == CREDIT - 72
    else:  # cancelled first: refunded in full, and the success changes nothing
        assert winners[0].status is TaskStatus.CANCELLED and winners[0].price == RESERVED
        assert await books.entries(task.id) == [("reserve", -RESERVED), ("refund", RESERVED)]
        assert await books.balance(account) == CREDIT


async def test_a_failed_task_is_refunded_in_full(books: Books) -> None:
    account, task = await books.queued()
    failed = await books.tasks.record_failure(
        task.id, 1000, "generation failed", now(), reason=FailureReason.UPSTREAM_FAILED
    )
    assert failed is not None and failed.price == RESERVED
    assert await books.tasks.record_success(task.id, FILE, now(), charged=72) is None
    assert await books.entries(task.id) == [("reserve", -RESERVED), ("refund", RESERVED)]
    assert await books.balance(account) == CREDIT
