"""Tasks: insert with a reservation, look up, claim for tracking, copies and sweeps.

The lifecycle writes (every change of a task's status) are in ``store/transitions.py``,
carrying out the table of ``domain/lifecycle.py``; the row mapping is in
``store/task_rows.py``. ``TaskStore`` is the one object the services hold.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, NoReturn

from sqlalchemy import ColumnElement, Connection, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Dialect

from reelgate.domain import lifecycle
from reelgate.domain.ids import PLATFORM_PREFIX
from reelgate.domain.tasks import TERMINAL, UNFINISHED, Task, TaskEvent, TaskStatus
from reelgate.errors import Forbidden, InsufficientBalance, RateLimited
from reelgate.store import lookup_pg
from reelgate.store.create_pg import RESERVE, create_at_once, unlimited
from reelgate.store.database import begin
from reelgate.store.leases import TaskLeases
from reelgate.store.money import ADD_ENTRY
from reelgate.store.tables import accounts, task_events, tasks
from reelgate.store.task_rows import NewTask, TaskFilter, new_row, to_event, to_task
from reelgate.store.transactions import read, write
from reelgate.store.transitions import TaskTransitions

__all__ = ["NewTask", "TaskFilter", "TaskStore", "to_task"]

_UNFINISHED = [s.value for s in TaskStatus if s in UNFINISHED]

_TERMINAL = [s.value for s in TaskStatus if s in TERMINAL]
# a record its account deleted is gone from every view of the account
_LIVE = tasks.c.deleted_at.is_(None)

# The create's and the lookup's statements, built once: one built per call costs its
# construction and the hashing of its cache key at every call.
_INSERT = insert(tasks).returning(*tasks.c)
_BY_PLATFORM_ID, _BY_UPSTREAM_ID = (
    select(tasks)
    .where(tasks.c.account_id == bindparam("t_account"), column == bindparam("t_id"), _LIVE)
    .limit(1)
    for column in (tasks.c.platform_id, tasks.c.upstream_task_id)
)


@lru_cache(maxsize=8)
def _compiled_lookups(dialect: Dialect) -> dict[Any, lookup_pg.Compiled]:
    """The lookups by id as asyncpg runs them, compiled once per engine's dialect."""
    return {q: lookup_pg.compile_for(q, dialect) for q in (_BY_PLATFORM_ID, _BY_UPSTREAM_ID)}


_ACCOUNT_STATUS = select(accounts.c.status).where(accounts.c.id == bindparam("r_account"))
_KEY_IN_FLIGHT, _ACCOUNT_IN_FLIGHT = (
    select(func.count())
    .select_from(tasks)
    .where(column == bindparam("f_owner"), tasks.c.status.in_(_UNFINISHED))
    for column in (tasks.c.api_key_id, tasks.c.account_id)
)


def _filtered(account_id: int, filters: TaskFilter) -> list[ColumnElement[bool]]:
    where = [_mine(account_id)]
    if filters.status is not None:
        # `queued` includes tasks the upstream has not answered yet
        wanted = [filters.status]
        if filters.status == TaskStatus.QUEUED.value:
            wanted.append(TaskStatus.SUBMITTING.value)
        where.append(tasks.c.status.in_(wanted))
    if filters.model is not None:
        where.append(tasks.c.model == filters.model)
    if filters.models is not None:
        where.append(tasks.c.model.in_(sorted(filters.models)))
    if filters.ids is not None:
        ids = sorted(filters.ids)
        where.append(or_(tasks.c.platform_id.in_(ids), tasks.c.upstream_task_id.in_(ids)))
    if filters.created_from is not None:
        where.append(tasks.c.created_at >= filters.created_from)
    if filters.created_to is not None:
        where.append(tasks.c.created_at < filters.created_to)
    return where


def _mine(account_id: int) -> ColumnElement[bool]:
    """The account's own tasks that it has not deleted."""
    return and_(tasks.c.account_id == account_id, _LIVE)


class TaskStore(TaskLeases, TaskTransitions):
    # -- create ---------------------------------------------------------------------

    async def insert(self, new: NewTask, now: datetime) -> Task:
        """Reserve the price and store the task, or refuse (1008, 1002) having stored nothing."""
        created = lifecycle.creation()
        money = created.money
        charged = bool(new.price) and money is not lifecycle.Money.NONE

        def store(conn: Connection) -> Any:
            balance = _reserve(conn, new)
            _check_in_flight(conn, new)
            row = conn.execute(_INSERT, new_row(new, created.target, now)).one()
            if charged:
                conn.execute(
                    ADD_ENTRY,
                    {
                        "account_id": new.account_id,
                        "task_id": row.id,
                        "kind": money.value,
                        "amount": money.amount(new.price),
                        "balance_after": balance,
                        "created_at": now,
                    },
                )
            return row

        if self._engine.dialect.name == "postgresql" and unlimited(new):
            return await self._insert_at_once(new, now)
        # one hand-off to the database's thread for the whole transaction
        return to_task(await write(self._engine, store))

    async def _insert_at_once(self, new: NewTask, now: datetime) -> Task:
        """``insert`` as one statement, one round trip (``store/create_pg.py``)."""
        statement, params = create_at_once(new, now)

        def store(conn: Connection) -> Any:
            row = conn.execute(statement, params).one_or_none()
            if row is None:  # nothing reserved, so nothing inserted: say why
                _refuse(conn, new)
            return row

        return to_task(await write(self._engine, store, atomic=True))

    # -- look up --------------------------------------------------------------------

    async def get(self, account_id: int, any_id: str) -> Task | None:
        """The account's task with this platform id or upstream task id.

        One column is looked up, chosen by the id's shape, because an ``OR`` of the two
        makes SQLite walk all the account's tasks; the other column is the fallback, so an
        upstream id that happens to look like ours is still found.
        """
        first, second = _BY_PLATFORM_ID, _BY_UPSTREAM_ID
        if not any_id.startswith(PLATFORM_PREFIX):
            first, second = second, first
        params = {"t_account": account_id, "t_id": any_id}

        def look_up(conn: Connection) -> Any:
            return conn.execute(first, params).first() or conn.execute(second, params).first()

        async def the_sqlalchemy_way() -> Any:
            # a point lookup on an index: in the event loop's thread on SQLite
            return await read(self._engine, look_up)

        if self._engine.dialect.name == "postgresql":
            # on the asyncpg connection itself: half the CPU (store/lookup_pg.py)
            compiled = _compiled_lookups(self._engine.dialect)
            ordered = [compiled[first], compiled[second]]
            row = await lookup_pg.first_of(self._engine, ordered, params, the_sqlalchemy_way)
        else:
            row = await the_sqlalchemy_way()
        return to_task(row) if row is not None else None

    async def get_by_id(self, task_id: int) -> Task | None:
        return await self._one(tasks.c.id == task_id)

    async def get_by_platform_id(self, platform_id: str) -> Task | None:
        """Any account's task, unless deleted (a signed link to it stops working)."""
        return await self._one(and_(tasks.c.platform_id == platform_id, _LIVE))

    async def get_by_file(self, account_id: int, file_id: str) -> Task | None:
        return await self._one(and_(_mine(account_id), tasks.c.file_id == file_id))

    async def mark_deleted(self, account_id: int, task_id: int, now: datetime) -> Task | None:
        """Delete a finished task's record from its account's views (``deleted_at``);
        the row stays for the ledger. None if it is not the account's, not finished,
        or deleted already: a delete happens once."""
        stmt = (
            update(tasks)
            .where(
                tasks.c.id == task_id,
                _mine(account_id),
                tasks.c.status.in_(_TERMINAL),
            )
            .values(deleted_at=now)
            .returning(*tasks.c)
        )
        async with begin(self._engine) as conn:
            row = (await conn.execute(stmt)).one_or_none()
        return to_task(row) if row is not None else None

    async def _one(self, where: ColumnElement[bool]) -> Task | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(tasks).where(where).limit(1))).first()
        return to_task(row) if row else None

    async def list_for_account(
        self,
        account_id: int,
        filters: TaskFilter,
        before_id: int | None,
        limit: int,
        offset: int = 0,
        *,
        after_id: int | None = None,
        ascending: bool = False,
    ) -> list[Task]:
        """The account's tasks, newest first (``ascending``: oldest first), strictly older
        than ``before_id`` and newer than ``after_id``, past the first ``offset`` of them
        (v2's page numbers)."""
        where = _filtered(account_id, filters)
        if before_id is not None:
            where.append(tasks.c.id < before_id)
        if after_id is not None:
            where.append(tasks.c.id > after_id)
        order = tasks.c.id.asc() if ascending else tasks.c.id.desc()
        query = select(tasks).where(*where).order_by(order).limit(limit)
        if offset:
            query = query.offset(offset)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [to_task(r) for r in rows]

    async def position(self, account_id: int, platform_id: str) -> int | None:
        """The row id of the account's task with this ``platform_id``, deleted or not:
        where a page that follows it starts (a client may delete a page's last task
        before it asks for the next page)."""
        query = select(tasks.c.id).where(
            tasks.c.account_id == account_id, tasks.c.platform_id == platform_id
        )
        async with self._engine.connect() as conn:
            found: int | None = (await conn.execute(query)).scalar_one_or_none()
        return found

    async def count_for_account(self, account_id: int, filters: TaskFilter) -> int:
        """How many of the account's tasks the filters keep (v2's list ``total``)."""
        query = select(func.count()).select_from(tasks).where(*_filtered(account_id, filters))
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def events(self, task_id: int, after_seq: int) -> list[TaskEvent]:
        query = (
            select(task_events)
            .where(task_events.c.task_id == task_id, task_events.c.seq > after_seq)
            .order_by(task_events.c.seq)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [to_event(r) for r in rows]

    # -- the gateway's copy of the video ----------------------------------------------

    async def record_copy(
        self, task_id: int, storage_key: str, sha256: str, size: int
    ) -> Task | None:
        stmt = (
            update(tasks)
            .where(tasks.c.id == task_id, tasks.c.file_copy_pending.is_(True))
            .values(
                file_storage_key=storage_key,
                file_sha256=sha256,
                file_bytes=size,
                file_copy_pending=False,
            )
            .returning(*tasks.c)
        )
        async with begin(self._engine) as conn:
            row = (await conn.execute(stmt)).one_or_none()
        if row is not None and self._on_change is not None:
            self._on_change(row.id)  # not a status change, but copies of the task are stale
        return to_task(row) if row else None

    async def pending_copies(self, limit: int, now: datetime | None = None) -> list[Task]:
        """Videos still to copy whose next try is due (all of them without ``now``)."""
        where: ColumnElement[bool] = tasks.c.file_copy_pending.is_(True)
        if now is not None:
            where = and_(where, or_(tasks.c.next_copy_at.is_(None), tasks.c.next_copy_at <= now))
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(tasks).where(where).order_by(tasks.c.next_copy_at).limit(limit)
                )
            ).all()
        return [to_task(r) for r in rows]

    async def copy_failed(self, task: Task, next_copy_at: datetime) -> None:
        async with begin(self._engine) as conn:
            await conn.execute(
                update(tasks)
                .where(tasks.c.id == task.id)
                .values(copy_attempts=tasks.c.copy_attempts + 1, next_copy_at=next_copy_at)
            )

    # -- sweeping -------------------------------------------------------------------

    async def stale_submitting(self, before: datetime, limit: int = 100) -> list[Task]:
        """Tasks stuck in ``submitting``: the process died between store and upstream answer."""
        return await self._many(
            and_(tasks.c.status == TaskStatus.SUBMITTING.value, tasks.c.created_at < before),
            limit,
        )

    async def overdue(self, now: datetime, limit: int) -> list[Task]:
        return await self._many(
            and_(tasks.c.status.in_(_UNFINISHED), tasks.c.deadline_at < now), limit
        )

    async def count_by_status(self) -> dict[str, int]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(select(tasks.c.status, func.count()).group_by(tasks.c.status))
            ).all()
        return {r[0]: r[1] for r in rows}

    async def _many(self, where: ColumnElement[bool], limit: int) -> list[Task]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(select(tasks).where(where).order_by(tasks.c.id).limit(limit))
            ).all()
        return [to_task(r) for r in rows]


def _reserve(conn: Connection, new: NewTask) -> int:
    """Take the price from an active account's balance; the balance after it.

    Writing the account row first locks it: this account's creates queue here, which
    makes the balance and in-flight checks exact. Only a balance that covers the price
    is lowered, so it never goes below zero.
    """
    params = {"r_account": new.account_id, "r_price": new.price}
    balance = conn.execute(RESERVE, params).scalar_one_or_none()
    if balance is not None:
        return int(balance)
    _refuse(conn, new)


def _refuse(conn: Connection, new: NewTask) -> NoReturn:
    """Why the account could not reserve the price: Forbidden or InsufficientBalance."""
    status = conn.execute(_ACCOUNT_STATUS, {"r_account": new.account_id}).scalar_one_or_none()
    if status != "active":
        raise Forbidden(f"the account is {status or 'gone'}")
    raise InsufficientBalance(
        f"insufficient balance: this task costs {new.price} and the account "
        "cannot cover it; top up and retry"
    )


def _in_flight(conn: Connection, query: Any, owner: int) -> int:
    return int(conn.execute(query, {"f_owner": owner}).scalar_one())


def _check_in_flight(conn: Connection, new: NewTask) -> None:
    """Refuse (1002) a task over the key's or the account's ``max_in_flight``; counted
    under the account row's lock that ``_reserve`` took."""
    key_id, key_limit = new.api_key_id, new.max_in_flight
    if (
        key_limit is not None
        and key_id is not None
        and _in_flight(conn, _KEY_IN_FLIGHT, key_id) >= key_limit
    ):
        raise RateLimited(
            f"rate limit exceeded: this key allows {key_limit} tasks in "
            "flight (max_in_flight); wait for one to finish"
        )
    if new.account_max_in_flight is not None:
        in_flight = _in_flight(conn, _ACCOUNT_IN_FLIGHT, new.account_id)
        if in_flight >= new.account_max_in_flight:
            raise RateLimited(
                f"rate limit exceeded: this account allows {new.account_max_in_flight} "
                "tasks in flight over all of its keys (the account's max_in_flight); "
                "wait for one to finish"
            )
