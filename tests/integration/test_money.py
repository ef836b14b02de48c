"""Money, case by case, on the configured database: reserve at create, capture on success,
release on an upstream refusal, refund on failure or cancel; each exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.tasks import FailureReason, TaskStatus, VideoFile
from reelgate.errors import InsufficientBalance, InvalidParams, NotFound, RateLimited
from reelgate.services.keys import issue_key
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.reports import Reports
from reelgate.store.tables import ledger, tasks
from reelgate.store.tasks import TaskStore
from tests.support import migrated_database, new_task

PRICE = 43
FILE = VideoFile(file_id="9", width=1280, height=720, bytes=1)


@dataclass
class Stores:
    engine: AsyncEngine
    accounts: AccountStore
    tasks: TaskStore
    reports: Reports

    async def account(self, name: str, credit: int = 0) -> int:
        account = await self.accounts.create_account(name)
        if credit:
            await self.accounts.top_up(account.id, credit, "test credit")
        return account.id

    async def create(
        self,
        account_id: int,
        price: int = PRICE,
        *,
        key_id: int | None = None,
        max_in_flight: int | None = None,
    ) -> int:
        now = datetime.now(UTC)
        task = await self.tasks.insert(
            new_task(account_id, key_id=key_id, price=price, max_in_flight=max_in_flight),
            now,
        )
        return task.id

    async def submitted(self, account_id: int, price: int = PRICE) -> int:
        task_id = await self.create(account_id, price)
        now = datetime.now(UTC)
        assert await self.tasks.mark_submitted(task_id, f"up-{task_id}", now, now) is not None
        return task_id

    async def balance(self, account_id: int) -> int:
        balance, summed = await self.reports.balance_and_ledger_sum(account_id)
        assert balance == summed, "the balance must equal the sum of the ledger"
        return balance

    async def entries(self, task_id: int) -> list[tuple[str, int]]:
        query = select(ledger.c.kind, ledger.c.amount).where(ledger.c.task_id == task_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(ledger.c.id))).all()
        return [(r.kind, r.amount) for r in rows]

    async def count(self, table_name: str, account_id: int) -> int:
        table = {"tasks": tasks, "ledger": ledger}[table_name]
        query = select(func.count()).select_from(table).where(table.c.account_id == account_id)
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database for the module; each test uses accounts of its own."""
    with migrated_database(tmp_path_factory.mktemp("money")) as url:
        yield url


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[Stores]:
    engine = database.create_engine(database_url)
    try:
        yield Stores(engine, AccountStore(engine), TaskStore(engine), Reports(engine))
    finally:
        await engine.dispose()


def now() -> datetime:
    return datetime.now(UTC)


async def test_refused_submit_releases(stores: Stores) -> None:
    account = await stores.account("refused", 100)
    task_id = await stores.create(account)
    assert await stores.balance(account) == 100 - PRICE  # reserved while the upstream decides

    refused = await stores.tasks.mark_refused(task_id, 1002, "upstream busy", now())
    assert refused is not None and refused.status is TaskStatus.FAILED
    assert refused.error_reason == FailureReason.UPSTREAM_REFUSED
    assert await stores.balance(account) == 100
    assert await stores.entries(task_id) == [("reserve", -PRICE), ("release", PRICE)]
    # neither a second refusal nor a later failure or success moves money again
    assert await stores.tasks.mark_refused(task_id, 1002, "again", now()) is None
    assert await stores.tasks.record_failure(task_id, None, "x", now(), reason="lost") is None
    assert await stores.tasks.record_success(task_id, FILE, now()) is None
    assert await stores.balance(account) == 100
    assert len(await stores.entries(task_id)) == 2


async def test_refusal_only_applies_before_the_upstream_answered(stores: Stores) -> None:
    account = await stores.account("late-refusal", 100)
    task_id = await stores.submitted(account)
    assert await stores.tasks.mark_refused(task_id, 1000, "too late", now()) is None
    assert await stores.balance(account) == 100 - PRICE
    assert await stores.entries(task_id) == [("reserve", -PRICE)]


async def test_concurrent_failures_refund_once(stores: Stores) -> None:
    account = await stores.account("refund-once", 100)
    task_id = await stores.submitted(account)
    results = await asyncio.gather(
        *(
            stores.tasks.record_failure(task_id, 1000, f"boom {i}", now(), reason="upstream_failed")
            for i in range(5)
        )
    )
    assert sum(r is not None for r in results) == 1
    assert await stores.entries(task_id) == [("reserve", -PRICE), ("refund", PRICE)]
    assert await stores.balance(account) == 100


async def test_cancel_deadline_and_sweep_racing_refund_once(stores: Stores) -> None:
    account = await stores.account("mixed-failures", 1000)
    task_id = await stores.create(account)  # still `submitting`: the sweep may take it too
    results = await asyncio.gather(
        stores.tasks.record_failure(
            task_id, None, "cancel", now(), reason="cancelled", status=TaskStatus.CANCELLED
        ),
        stores.tasks.record_failure(task_id, 1001, "deadline", now(), reason="deadline_exceeded"),
        stores.tasks.record_failure(
            task_id,
            1000,
            "interrupted",
            now(),
            reason="interrupted",
            from_statuses=[TaskStatus.SUBMITTING.value],
        ),
        stores.tasks.mark_refused(task_id, 1002, "refused", now()),
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    back = "release" if winners[0].error_reason == "upstream_refused" else "refund"
    assert [kind for kind, _ in await stores.entries(task_id)] == ["reserve", back]
    assert await stores.balance(account) == 1000


async def test_capture_happens_once(stores: Stores) -> None:
    account = await stores.account("capture-once", 100)
    task_id = await stores.submitted(account)
    results = await asyncio.gather(
        *(stores.tasks.record_success(task_id, FILE, now()) for _ in range(5)),
        stores.tasks.record_failure(task_id, 1000, "late failure", now(), reason="upstream_failed"),
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    if winners[0].status is TaskStatus.SUCCEEDED:
        assert await stores.entries(task_id) == [("reserve", -PRICE), ("capture", 0)]
        assert await stores.balance(account) == 100 - PRICE
    else:  # the failure got there first: refunded, and no success after it
        assert await stores.entries(task_id) == [("reserve", -PRICE), ("refund", PRICE)]
        assert await stores.balance(account) == 100
    # a finished task's money never moves again
    assert await stores.tasks.record_success(task_id, FILE, now()) is None
    assert await stores.tasks.record_failure(task_id, 1, "x", now(), reason="lost") is None
    assert len(await stores.entries(task_id)) == 2


async def test_ledger_allows_one_movement_of_each_kind_per_task(stores: Stores) -> None:
    account = await stores.account("unique", 100)
    task_id = await stores.submitted(account)
    assert await stores.tasks.record_success(task_id, FILE, now()) is not None
    for kind in ("reserve", "capture"):
        with pytest.raises(IntegrityError):
            async with stores.engine.begin() as conn:
                await conn.execute(
                    insert(ledger).values(
                        account_id=account,
                        task_id=task_id,
                        kind=kind,
                        amount=-1,
                        balance_after=0,
                        created_at=now(),
                    )
                )
    assert await stores.entries(task_id) == [("reserve", -PRICE), ("capture", 0)]
    # top-ups belong to no task: any number of them
    for _ in range(3):
        await stores.accounts.top_up(account, 5)
    assert await stores.balance(account) == 100 - PRICE + 15


async def test_insufficient_balance_leaves_nothing(stores: Stores) -> None:
    account = await stores.account("poor", PRICE - 1)
    with pytest.raises(InsufficientBalance, match="insufficient balance"):
        await stores.create(account)
    assert await stores.count("tasks", account) == 0
    assert await stores.count("ledger", account) == 1  # the top-up only
    assert await stores.balance(account) == PRICE - 1
    await stores.accounts.top_up(account, 1)
    task_id = await stores.create(account)  # exactly enough
    assert await stores.balance(account) == 0
    assert await stores.entries(task_id) == [("reserve", -PRICE)]


async def test_free_tasks_move_no_money(stores: Stores) -> None:
    account = await stores.account("free")
    task_id = await stores.submitted(account, price=0)
    assert await stores.tasks.record_success(task_id, FILE, now()) is not None
    other = await stores.create(account, price=0)
    assert await stores.tasks.mark_refused(other, 1002, "busy", now()) is not None
    assert await stores.entries(task_id) == [] and await stores.entries(other) == []
    assert await stores.balance(account) == 0


async def test_concurrent_creates_never_overdraw(stores: Stores) -> None:
    account = await stores.account("contended", 2 * PRICE + 10)
    results = await asyncio.gather(
        *(stores.create(account) for _ in range(6)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, InsufficientBalance)]
    assert (len(created), len(refused)) == (2, 4), results
    assert await stores.count("tasks", account) == 2
    assert await stores.balance(account) == 10


async def test_in_flight_limit_holds_under_concurrency(stores: Stores) -> None:
    account = await stores.account("busy", 100 * PRICE)
    issued = issue_key()
    key = await stores.accounts.create_key(
        account_id=account, name="k", prefix=issued.prefix, key_hash=issued.hash, max_in_flight=2
    )
    results = await asyncio.gather(
        *(stores.create(account, key_id=key.id, max_in_flight=2) for _ in range(6)),
        return_exceptions=True,
    )
    created = [r for r in results if isinstance(r, int)]
    assert len(created) == 2, results
    assert all(isinstance(r, RateLimited) for r in results if not isinstance(r, int))
    assert await stores.balance(account) == 98 * PRICE  # the refused ones reserved nothing
    # a finished task frees its slot
    assert await stores.tasks.mark_refused(created[0], 1002, "busy", now()) is not None
    await stores.create(account, key_id=key.id, max_in_flight=2)
    with pytest.raises(RateLimited, match="max_in_flight"):
        await stores.create(account, key_id=key.id, max_in_flight=2)


async def test_top_up_refuses_bad_amounts_and_missing_accounts(stores: Stores) -> None:
    account = await stores.account("topups")
    for amount in (0, -5):
        with pytest.raises(InvalidParams):
            await stores.accounts.top_up(account, amount)
    with pytest.raises(NotFound):
        await stores.accounts.top_up(account + 1000, 5)
    assert await stores.count("ledger", account) == 0
    assert await stores.balance(account) == 0
