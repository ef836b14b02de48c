"""Billing under random, concurrent operations, on the real SQLite or PostgreSQL store.

Hypothesis draws sequences of steps; each step fires several operations at once
(creates, top-ups, and transitions that race on the same task: a success against a
cancel, a duplicate success, a deadline against a refusal...). After every step the
books must balance:

- every account's balance equals the sum of its ledger, and never goes below zero;
- the ledger's running balance matches each entry's ``balance_after``;
- a task's ledger is exactly what its state calls for: ``reserve`` while it runs,
  ``reserve + capture`` (net: minus its price) once it succeeded, plus ``settle`` when it
  was charged less than it reserved (billed by the second: its price is then the charge,
  never above the reservation), ``reserve + release`` or ``reserve + refund`` (net:
  zero) once it failed or was cancelled, nothing if free;
- each task finishes at most once, whatever raced for it;
- a create refused for lack of balance (or of in-flight room) stored nothing, and was
  refused only when the balance could really not cover it;
- the balance equals what the test computes on its own: top-ups minus the prices of the
  tasks that are running or succeeded.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.tasks import (
    UNFINISHED,
    FailureReason,
    Task,
    TaskStatus,
    UpstreamStatus,
    VideoFile,
)
from reelgate.errors import InsufficientBalance, RateLimited
from reelgate.services.keys import issue_key
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.reports import Reports
from reelgate.store.tables import accounts as accounts_table
from reelgate.store.tables import ledger, tasks
from reelgate.store.tasks import NewTask, TaskStore
from tests.support import migrated_database
from tests.support import new_task as make_task

FILE = VideoFile(file_id="1", width=1280, height=720, bytes=1)
ACCOUNTS = 2
TERMINAL_OPS = {"refuse", "success", "settle", "overbill", "fail", "cancel", "deadline",
                "interrupt"}  # fmt: skip

# -- what Hypothesis draws ----------------------------------------------------------------

prices = st.sampled_from([0, 0, 1, 7, 43, 99, 250])
# A create is stored, then (as services/tasks.py does) the upstream accepts or refuses it,
# or the process "dies" before it answers and the task stays `submitting`.
create = st.tuples(
    st.just("create"),
    st.integers(0, ACCOUNTS - 1),
    prices,
    st.sampled_from(["submit", "submit", "refuse", "stay"]),
)
top_up = st.tuples(st.just("topup"), st.integers(0, ACCOUNTS - 1), st.integers(1, 300))
# Operations fired at once at one task, picked by a small reference counted from the
# newest task: a success racing a cancel, a duplicate success, a deadline racing a poll...
ops = st.sampled_from(
    ["success", "success", "settle", "overbill", "cancel", "fail", "deadline", "progress",
     "submit", "refuse", "interrupt"]
)  # fmt: skip
race = st.tuples(st.just("race"), st.integers(0, 3), st.lists(ops, min_size=1, max_size=4))
step = st.lists(st.one_of(race, race, create, top_up), min_size=1, max_size=3)
scenario = st.fixed_dictionaries(
    {
        "credit": st.lists(st.integers(0, 300), min_size=ACCOUNTS, max_size=ACCOUNTS),
        "max_in_flight": st.one_of(st.none(), st.integers(1, 3)),
        "steps": st.lists(step, min_size=1, max_size=10),
    }
)

# -- the model the test keeps on its own ----------------------------------------------------


@dataclass
class Book:
    account_ids: list[int]
    key_ids: list[int]
    max_in_flight: int | None
    topped_up: Counter[int] = field(default_factory=Counter)
    task_ids: list[int] = field(default_factory=list)
    created: Counter[int] = field(default_factory=Counter)  # tasks per account
    finishes: Counter[int] = field(default_factory=Counter)  # terminal wins per task


def new_task(account_id: int, key_id: int, price: int, max_in_flight: int | None) -> NewTask:
    task: NewTask = make_task(account_id, key_id=key_id, price=price, max_in_flight=max_in_flight)
    return task


def transition_call(store: TaskStore, op: str, task: Task) -> Awaitable[Task | None]:
    """The store call the gateway makes for ``op`` (who makes it in the comment)."""
    now = datetime.now(UTC)
    calls: dict[str, Callable[[], Awaitable[Task | None]]] = {
        # services/tasks.py: create, after the upstream answered / refused
        "submit": lambda: store.mark_submitted(task.id, f"up-{task.id}", now, now),
        "refuse": lambda: store.mark_refused(task.id, 1002, "refused", now),
        # services/tracker.py: a poll, a success, a failure, the deadline and crash sweeps
        "progress": lambda: store.record_progress(task, None, UpstreamStatus.PROCESSING, now, now),
        "success": lambda: store.record_success(task.id, FILE, now),
        # a success billed by the second: charged less than reserved, or more (capped)
        "settle": lambda: store.record_success(task.id, FILE, now, charged=task.price // 3),
        "overbill": lambda: store.record_success(task.id, FILE, now, charged=task.price + 7),
        "fail": lambda: store.record_failure(
            task.id, 1000, "failed", now, reason=FailureReason.UPSTREAM_FAILED
        ),
        "deadline": lambda: store.record_failure(
            task.id, 1001, "deadline", now, reason=FailureReason.DEADLINE_EXCEEDED
        ),
        "interrupt": lambda: store.record_failure(
            task.id,
            1000,
            "interrupted",
            now,
            reason=FailureReason.INTERRUPTED,
            from_statuses=[TaskStatus.SUBMITTING.value],
        ),
        # services/tasks.py: cancel by the client
        "cancel": lambda: store.record_failure(
            task.id,
            None,
            "cancelled",
            now,
            reason=FailureReason.CANCELLED,
            status=TaskStatus.CANCELLED,
        ),
    }
    return calls[op]()


async def create_and_submit(store: TaskStore, new: NewTask, then: str) -> tuple[Task, Task | None]:
    """The create flow: store (reserving), then record the upstream's answer."""
    task = await store.insert(new, datetime.now(UTC))
    if then == "stay":
        return task, None
    return task, await transition_call(store, then, task)


async def run_step(
    engine: AsyncEngine, store: TaskStore, accounts: AccountStore, book: Book, actions: list[Any]
) -> None:
    balances_before = {a: await balance_of(engine, a) for a in book.account_ids}
    calls: list[Awaitable[Any]] = []
    meaning: list[tuple[Any, ...]] = []
    for action in actions:
        if action[0] == "create":
            _, idx, price, then = action
            account_id, key_id = book.account_ids[idx], book.key_ids[idx]
            new = new_task(account_id, key_id, price, book.max_in_flight)
            calls.append(create_and_submit(store, new, then))
            meaning.append(("create", account_id, price, then))
        elif action[0] == "topup":
            _, idx, amount = action
            calls.append(accounts.top_up(book.account_ids[idx], amount, "property test"))
            meaning.append(("topup", book.account_ids[idx], amount))
        elif book.task_ids:
            _, ref, fired = action
            task_id = book.task_ids[-1 - ref % len(book.task_ids)]
            task = await store.get_by_id(task_id)
            assert task is not None
            for op in fired:
                calls.append(transition_call(store, op, task))
                meaning.append((op, task_id))
            if sum(op in TERMINAL_OPS for op in fired) > 1:
                event("terminal transitions raced on one task")
    results = await asyncio.gather(*calls, return_exceptions=True)

    spent_by_creates: Counter[int] = Counter()
    for what, result in zip(meaning, results, strict=True):
        if what[0] == "create" and isinstance(result, tuple):
            spent_by_creates[what[1]] += what[2]
    for what, result in zip(meaning, results, strict=True):
        if isinstance(result, BaseException) and not isinstance(
            result, InsufficientBalance | RateLimited
        ):
            raise result
        kind = what[0]
        if kind == "create":
            account_id, price, then = what[1], what[2], what[3]
            if isinstance(result, tuple):
                task, answered = result
                book.task_ids.append(task.id)
                book.created[account_id] += 1
                assert answered is not None or then == "stay", "nothing raced this create"
                if then == "refuse":
                    book.finishes[task.id] += 1
            elif isinstance(result, InsufficientBalance):
                event("create refused: balance")
                # Only creates lower a balance: during the step it never fell below this.
                floor = balances_before[account_id] - (spent_by_creates[account_id])
                assert price > floor, f"refused a price of {price} with at least {floor} there"
            else:
                event("create refused: in flight")
        elif kind == "topup":
            book.topped_up[what[1]] += what[2]
        elif kind in TERMINAL_OPS and result is not None:
            book.finishes[what[1]] += 1
            assert result.status.terminal
            event(f"finished by {kind}")


async def balance_of(engine: AsyncEngine, account_id: int) -> int:
    query = select(accounts_table.c.balance).where(accounts_table.c.id == account_id)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def check_books(engine: AsyncEngine, reports: Reports, book: Book) -> None:
    async with engine.connect() as conn:
        task_rows = (
            await conn.execute(select(tasks).where(tasks.c.account_id.in_(book.account_ids)))
        ).all()
        entries = (
            await conn.execute(
                select(ledger)
                .where(ledger.c.account_id.in_(book.account_ids))
                .order_by(ledger.c.id)
            )
        ).all()
    by_task: dict[int, list[Any]] = {}
    for e in entries:
        if e.task_id is not None:
            by_task.setdefault(e.task_id, []).append(e)
    held: Counter[int] = Counter()  # prices of running or succeeded tasks, per account
    for t in task_rows:
        status = TaskStatus(t.status)
        kinds = sorted(e.kind for e in by_task.get(t.id, []))
        net = sum(e.amount for e in by_task.get(t.id, []))
        reserved = -sum(e.amount for e in by_task.get(t.id, []) if e.kind == "reserve")
        assert book.finishes[t.id] <= 1, f"task {t.id} finished {book.finishes[t.id]} times"
        if status in UNFINISHED or status is TaskStatus.SUCCEEDED:
            held[t.account_id] += t.price
        if reserved == 0:
            assert kinds == [] and net == 0 and t.price == 0
        elif status in UNFINISHED:
            assert (kinds, net, t.price) == (["reserve"], -t.price, reserved)
        elif status is TaskStatus.SUCCEEDED:
            settled = ["settle"] if t.price < reserved else []
            assert (kinds, net) == (["capture", "reserve", *settled], -t.price)
            assert 0 <= t.price <= reserved
        elif t.error_reason == FailureReason.UPSTREAM_REFUSED:
            assert (kinds, net) == (["release", "reserve"], 0)
        else:
            assert (kinds, net) == (["refund", "reserve"], 0)
    for account_id, key_id in zip(book.account_ids, book.key_ids, strict=True):
        balance, summed = await reports.balance_and_ledger_sum(account_id)
        assert balance == summed >= 0
        assert balance == book.topped_up[account_id] - held[account_id]
        running = 0
        for e in entries:
            if e.account_id == account_id:
                running += e.amount
                assert e.balance_after == running, f"ledger entry {e.id} is out of step"
        # a refused create stored nothing
        assert sum(1 for t in task_rows if t.account_id == account_id) == book.created[account_id]
        if book.max_in_flight is not None:
            mine = [t for t in task_rows if t.api_key_id == key_id]
            in_flight = sum(1 for t in mine if TaskStatus(t.status) in UNFINISHED)
            assert in_flight <= book.max_in_flight


async def run_scenario(url: str, drawn: dict[str, Any]) -> None:
    engine = database.create_engine(url)
    try:
        accounts, store, reports = AccountStore(engine), TaskStore(engine), Reports(engine)
        run = uuid.uuid4().hex[:10]  # one database per test: names unique per example
        account_ids, key_ids = [], []
        for i in range(ACCOUNTS):
            account = await accounts.create_account(f"prop-{run}-{i}")
            issued = issue_key()
            key = await accounts.create_key(
                account_id=account.id, name="k", prefix=issued.prefix, key_hash=issued.hash
            )
            account_ids.append(account.id)
            key_ids.append(key.id)
        book = Book(account_ids, key_ids, drawn["max_in_flight"])
        for account_id, credit in zip(account_ids, drawn["credit"], strict=True):
            if credit:
                await accounts.top_up(account_id, credit, "starting credit")
                book.topped_up[account_id] += credit
        await check_books(engine, reports, book)
        for actions in drawn["steps"]:
            await run_step(engine, store, accounts, book, actions)
            await check_books(engine, reports, book)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database(tmp_path_factory.mktemp("billing")) as url:
        yield url


@settings(
    max_examples=30,
    deadline=None,
    database=None,  # no .hypothesis folder in the tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(drawn=scenario)
def test_books_balance_under_concurrent_operations(
    database_url: str, drawn: dict[str, Any]
) -> None:
    asyncio.run(run_scenario(database_url, drawn))


def test_the_scenarios_count_what_they_claim(database_url: str) -> None:
    """The checks above can fail: a task that lost its refund is caught."""

    async def run() -> None:
        engine = database.create_engine(database_url)
        try:
            accounts, store, reports = AccountStore(engine), TaskStore(engine), Reports(engine)
            account = await accounts.create_account(f"broken-{uuid.uuid4().hex[:8]}")
            issued = issue_key()
            key = await accounts.create_key(
                account_id=account.id, name="k", prefix=issued.prefix, key_hash=issued.hash
            )
            await accounts.top_up(account.id, 100)
            task = await store.insert(new_task(account.id, key.id, 43, None), datetime.now(UTC))
            book = Book([account.id], [key.id], None, Counter({account.id: 100}))
            book.task_ids.append(task.id)
            book.created[account.id] = 1
            await check_books(engine, reports, book)
            async with engine.begin() as conn:  # fail the task without its refund
                await conn.execute(
                    tasks.update().where(tasks.c.id == task.id).values(status="failed")
                )
            with pytest.raises(AssertionError):
                await check_books(engine, reports, book)
        finally:
            await engine.dispose()

    asyncio.run(run())
