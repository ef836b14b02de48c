"""Tasks: insert with a reservation, look up, claim for tracking, and change state.

Every state change is one ``UPDATE ... WHERE status IN (...) RETURNING`` (compare-and-set),
and the event and the money movement that belong to it are written in the same
transaction, so each happens exactly once however many trackers, cancels, retries or
restarts race for a task. A transaction always starts with a write, so SQLite takes its
write lock up front and never deadlocks upgrading a read lock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.ids import PLATFORM_PREFIX
from reelgate.domain.tasks import (
    UNFINISHED,
    Task,
    TaskEvent,
    TaskStatus,
    UpstreamStatus,
    VideoFile,
)
from reelgate.domain.webhooks import callback_body
from reelgate.errors import Forbidden, InsufficientBalance, RateLimited
from reelgate.store.database import begin
from reelgate.store.deliveries import enqueue
from reelgate.store.money import move
from reelgate.store.tables import accounts, ledger, task_events, tasks

_UNFINISHED = [s.value for s in UNFINISHED]
_TRACKED = [TaskStatus.QUEUED.value, TaskStatus.RUNNING.value]


@dataclass(frozen=True, slots=True)
class NewTask:
    platform_id: str
    account_id: int
    api_key_id: int | None
    model: str
    mode: str
    channel: str
    request: dict[str, Any]
    duration: int
    resolution: str
    price: int
    callback_url: str | None
    deadline_at: datetime
    max_in_flight: int | None = None  # the key's limit, checked under the account's lock
    account_max_in_flight: int | None = None  # the account's, over all of its keys


@dataclass(frozen=True, slots=True)
class TaskFilter:
    status: str | None = None
    model: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def to_task(row: Any) -> Task:
    file = None
    if row.file_id is not None:
        file = VideoFile(
            file_id=row.file_id,
            width=row.file_width or 0,
            height=row.file_height or 0,
            bytes=row.file_bytes,
            filename=row.file_name or "output.mp4",
            upstream_url=row.file_upstream_url,
            upstream_url_expires_at=row.file_upstream_expires_at,
            storage_key=row.file_storage_key,
            sha256=row.file_sha256,
            created_at=row.file_created_at,
            extra=row.file_extra or {},
        )
    return Task(
        id=row.id,
        platform_id=row.platform_id,
        account_id=row.account_id,
        api_key_id=row.api_key_id,
        model=row.model,
        mode=row.mode,
        status=TaskStatus(row.status),
        upstream_status=UpstreamStatus(row.upstream_status) if row.upstream_status else None,
        upstream_task_id=row.upstream_task_id,
        channel=row.channel,
        request=row.request,
        duration=row.duration,
        resolution=row.resolution,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        deadline_at=row.deadline_at,
        error_code=row.error_code,
        error_message=row.error_message,
        error_reason=row.error_reason,
        file=file,
        callback_url=row.callback_url,
        price=row.price,
        poll_attempts=row.poll_attempts,
        missing_polls=row.missing_polls,
        copy_attempts=row.copy_attempts,
        next_poll_at=row.next_poll_at,
        upstream_callback=row.upstream_callback,
    )


class TaskStore:
    def __init__(self, engine: AsyncEngine, on_change: Callable[[int], None] | None = None) -> None:
        self._engine = engine
        self._on_change = on_change  # told the task id after each committed state change

    # -- create ---------------------------------------------------------------------

    async def insert(self, new: NewTask, now: datetime) -> Task:
        """Reserve the price and store the task, or refuse (1008, 1002) having stored nothing."""
        async with begin(self._engine) as conn:
            # Writing the account row first locks it: this account's creates queue here,
            # which makes the balance and in-flight checks below exact.
            balance = (
                await conn.execute(
                    update(accounts)
                    .where(
                        accounts.c.id == new.account_id,
                        accounts.c.status == "active",
                        accounts.c.balance >= new.price,
                    )
                    .values(balance=accounts.c.balance - new.price)
                    .returning(accounts.c.balance)
                )
            ).scalar_one_or_none()
            if balance is None:
                status = (
                    await conn.execute(
                        select(accounts.c.status).where(accounts.c.id == new.account_id)
                    )
                ).scalar_one_or_none()
                if status != "active":
                    raise Forbidden(f"the account is {status or 'gone'}")
                raise InsufficientBalance(
                    f"insufficient balance: this task costs {new.price} and the account "
                    "cannot cover it; top up and retry"
                )
            if new.max_in_flight is not None and new.api_key_id is not None:
                in_flight = (
                    await conn.execute(
                        select(func.count())
                        .select_from(tasks)
                        .where(
                            tasks.c.api_key_id == new.api_key_id, tasks.c.status.in_(_UNFINISHED)
                        )
                    )
                ).scalar_one()
                if in_flight >= new.max_in_flight:
                    raise RateLimited(
                        f"rate limit exceeded: this key allows {new.max_in_flight} tasks in "
                        "flight (max_in_flight); wait for one to finish"
                    )
            if new.account_max_in_flight is not None:
                in_flight = (
                    await conn.execute(
                        select(func.count())
                        .select_from(tasks)
                        .where(
                            tasks.c.account_id == new.account_id,
                            tasks.c.status.in_(_UNFINISHED),
                        )
                    )
                ).scalar_one()
                if in_flight >= new.account_max_in_flight:
                    raise RateLimited(
                        f"rate limit exceeded: this account allows {new.account_max_in_flight} "
                        "tasks in flight over all of its keys (the account's max_in_flight); "
                        "wait for one to finish"
                    )
            row = (
                await conn.execute(insert(tasks).values(_new_row(new, now)).returning(*tasks.c))
            ).one()
            if new.price:
                await conn.execute(
                    _ledger_insert(new.account_id, row.id, "reserve", -new.price, balance, now)
                )
        return to_task(row)

    async def mark_submitted(
        self,
        task_id: int,
        upstream_task_id: str,
        next_poll_at: datetime,
        now: datetime,
        *,
        channel: str | None = None,
        upstream_callback: bool = False,
    ) -> Task | None:
        """Record the upstream's id and the channel that took the task (if not the one
        it was stored with)."""
        extra: dict[str, Any] = {"channel": channel} if channel is not None else {}
        return await self._transition(
            task_id,
            [TaskStatus.SUBMITTING.value],
            now=now,
            upstream_callback=upstream_callback,
            **extra,
            status=TaskStatus.QUEUED.value,
            upstream_status=UpstreamStatus.PREPARING.value,
            upstream_task_id=upstream_task_id,
            next_poll_at=next_poll_at,
        )

    async def note_upstream_id(self, task_id: int, upstream_task_id: str, channel: str) -> None:
        """Keep the upstream's id on a task that was settled while its submit ran."""
        async with begin(self._engine) as conn:
            await conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id, tasks.c.upstream_task_id.is_(None))
                .values(upstream_task_id=upstream_task_id, channel=channel)
            )

    async def mark_refused(
        self, task_id: int, code: int, message: str, now: datetime
    ) -> Task | None:
        """The upstream refused the task: it failed before it started; release the money."""
        return await self._finish(
            task_id,
            [TaskStatus.SUBMITTING.value],
            now=now,
            money="release",
            status=TaskStatus.FAILED.value,
            error_code=code,
            error_message=message,
            error_reason="upstream_refused",
        )

    # -- look up --------------------------------------------------------------------

    async def get(self, account_id: int, any_id: str) -> Task | None:
        """The account's task with this platform id or upstream task id.

        One column is looked up, chosen by the id's shape, because an ``OR`` of the two
        makes SQLite walk all the account's tasks; the other column is the fallback, so an
        upstream id that happens to look like ours is still found.
        """
        first, second = tasks.c.platform_id, tasks.c.upstream_task_id
        if not any_id.startswith(PLATFORM_PREFIX):
            first, second = second, first
        for column in (first, second):
            task = await self._one(and_(tasks.c.account_id == account_id, column == any_id))
            if task is not None:
                return task
        return None

    async def get_by_id(self, task_id: int) -> Task | None:
        return await self._one(tasks.c.id == task_id)

    async def get_by_platform_id(self, platform_id: str) -> Task | None:
        return await self._one(tasks.c.platform_id == platform_id)

    async def get_by_file(self, account_id: int, file_id: str) -> Task | None:
        return await self._one(and_(tasks.c.account_id == account_id, tasks.c.file_id == file_id))

    async def _one(self, where: ColumnElement[bool]) -> Task | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(tasks).where(where).limit(1))).first()
        return to_task(row) if row else None

    async def list_for_account(
        self, account_id: int, filters: TaskFilter, before_id: int | None, limit: int
    ) -> list[Task]:
        """The account's tasks, newest first, strictly older than ``before_id``."""
        where = [tasks.c.account_id == account_id]
        if before_id is not None:
            where.append(tasks.c.id < before_id)
        if filters.status is not None:
            # `queued` includes tasks the upstream has not answered yet
            wanted = [filters.status]
            if filters.status == TaskStatus.QUEUED.value:
                wanted.append(TaskStatus.SUBMITTING.value)
            where.append(tasks.c.status.in_(wanted))
        if filters.model is not None:
            where.append(tasks.c.model == filters.model)
        if filters.created_from is not None:
            where.append(tasks.c.created_at >= filters.created_from)
        if filters.created_to is not None:
            where.append(tasks.c.created_at < filters.created_to)
        query = select(tasks).where(*where).order_by(tasks.c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [to_task(r) for r in rows]

    async def events(self, task_id: int, after_seq: int) -> list[TaskEvent]:
        query = (
            select(task_events)
            .where(task_events.c.task_id == task_id, task_events.c.seq > after_seq)
            .order_by(task_events.c.seq)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            TaskEvent(
                seq=r.seq,
                status=TaskStatus(r.status),
                upstream_status=UpstreamStatus(r.upstream_status) if r.upstream_status else None,
                created_at=r.created_at,
            )
            for r in rows
        ]

    # -- tracking -------------------------------------------------------------------

    async def claim_due(
        self, owner: str, now: datetime, limit: int, lease: timedelta
    ) -> list[Task]:
        """Lease up to ``limit`` tracked tasks whose next poll is due.

        PostgreSQL skips rows another worker has locked; SQLite serialises writers.
        A lease that expired (its worker died) makes the task claimable again.
        """
        due = (
            select(tasks.c.id)
            .where(
                tasks.c.status.in_(_TRACKED),
                tasks.c.next_poll_at <= now,
                or_(tasks.c.lease_until.is_(None), tasks.c.lease_until < now),
            )
            .order_by(tasks.c.next_poll_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(tasks)
            .where(tasks.c.id.in_(due))
            .values(lease_owner=owner, lease_until=now + lease)
            .returning(*tasks.c)
        )
        async with begin(self._engine) as conn:
            rows = (await conn.execute(stmt)).all()
        return [to_task(r) for r in rows]

    async def record_progress(
        self,
        task: Task,
        owner: str | None,
        upstream_status: UpstreamStatus,
        next_poll_at: datetime,
        now: datetime,
    ) -> Task | None:
        """Record a non-terminal status and release the lease until the next poll."""
        changed = upstream_status is not task.upstream_status
        return await self._transition(
            task.id,
            _TRACKED,
            now=now,
            owner=owner,
            event=changed,
            status=upstream_status.platform.value,
            upstream_status=upstream_status.value,
            next_poll_at=next_poll_at,
            poll_attempts=task.poll_attempts + 1,
            missing_polls=0,
            lease_owner=None,
            lease_until=None,
        )

    async def reschedule(
        self,
        task: Task,
        owner: str,
        next_poll_at: datetime,
        *,
        count_attempt: bool = True,
        missing: bool = False,
    ) -> None:
        """Release the lease without a change (the poll failed or could not be made);
        ``missing``: the upstream said it does not know the task."""
        await self._transition(
            task.id,
            _TRACKED,
            now=None,
            owner=owner,
            event=False,
            next_poll_at=next_poll_at,
            poll_attempts=task.poll_attempts + (1 if count_attempt else 0),
            missing_polls=task.missing_polls + 1 if missing else task.missing_polls,
            lease_owner=None,
            lease_until=None,
        )

    async def poll_now(self, task_id: int, now: datetime) -> None:
        """Make a tracked task due at once (an upstream pushed news about it)."""
        await self._transition(task_id, _TRACKED, now=None, event=False, next_poll_at=now)

    # -- finishing ------------------------------------------------------------------

    async def record_success(
        self,
        task_id: int,
        file: VideoFile,
        now: datetime,
        owner: str | None = None,
        *,
        copy_pending: bool = True,
    ) -> Task | None:
        """Record the result; ``copy_pending``: the gateway still wants its own copy."""
        return await self._finish(
            task_id,
            _TRACKED,
            now=now,
            owner=owner,
            money="capture",
            status=TaskStatus.SUCCEEDED.value,
            upstream_status=UpstreamStatus.SUCCESS.value,
            file_id=file.file_id,
            file_bytes=file.bytes,
            file_width=file.width,
            file_height=file.height,
            file_name=file.filename,
            file_upstream_url=file.upstream_url,
            file_upstream_expires_at=file.upstream_url_expires_at,
            file_created_at=file.created_at,
            file_extra=dict(file.extra) or None,
            file_copy_pending=copy_pending and file.storage_key is None,
            next_copy_at=now,
            file_storage_key=file.storage_key,
            file_sha256=file.sha256,
        )

    async def record_failure(
        self,
        task_id: int,
        code: int | None,
        message: str,
        now: datetime,
        *,
        reason: str,
        owner: str | None = None,
        status: TaskStatus = TaskStatus.FAILED,
        from_statuses: Sequence[str] = tuple(_UNFINISHED),
    ) -> Task | None:
        """Fail (or cancel) an unfinished task and refund its price."""
        return await self._finish(
            task_id,
            list(from_statuses),
            now=now,
            owner=owner,
            money="refund",
            status=status.value,
            upstream_status=UpstreamStatus.FAIL.value,
            error_code=code,
            error_message=message,
            error_reason=reason,
        )

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

    # -- sweeping -------------------------------------------------------------------

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

    # -- the one way state changes ----------------------------------------------------

    async def _finish(
        self,
        task_id: int,
        from_statuses: Iterable[str],
        *,
        now: datetime,
        money: str,
        owner: str | None = None,
        **values: Any,
    ) -> Task | None:
        return await self._transition(
            task_id,
            from_statuses,
            now=now,
            owner=owner,
            money=money,
            finished_at=now,
            next_poll_at=None,
            lease_owner=None,
            lease_until=None,
            **values,
        )

    async def _transition(
        self,
        task_id: int,
        from_statuses: Iterable[str],
        *,
        now: datetime | None,
        owner: str | None = None,
        event: bool = True,
        money: str | None = None,
        **values: Any,
    ) -> Task | None:
        """Apply ``values`` if the task is in one of ``from_statuses`` (and leased by
        ``owner``); with it, in the same transaction, its event and its money movement."""
        statuses = list(from_statuses)
        # `=` for one status: an IN list is re-rendered at every execution
        status_ok = (
            tasks.c.status == statuses[0] if len(statuses) == 1 else tasks.c.status.in_(statuses)
        )
        where = [tasks.c.id == task_id, status_ok]
        if owner is not None:
            where.append(tasks.c.lease_owner == owner)
        if now is not None:
            values["updated_at"] = now
        if event:
            values["event_seq"] = tasks.c.event_seq + 1
        stmt = update(tasks).where(*where).values(**values).returning(*tasks.c)
        async with begin(self._engine) as conn:
            row = (await conn.execute(stmt)).one_or_none()
            if row is None:
                return None
            stamp = now or datetime.now(UTC)
            if event:
                await conn.execute(
                    insert(task_events).values(
                        task_id=row.id,
                        seq=row.event_seq,
                        status=row.status,
                        upstream_status=row.upstream_status,
                        created_at=stamp,
                    )
                )
                if row.callback_url:  # the outbox: the callback commits with its change
                    await enqueue(
                        conn,
                        task_id=row.id,
                        account_id=row.account_id,
                        seq=row.event_seq,
                        url=row.callback_url,
                        body=callback_body(to_task(row)),
                        now=stamp,
                    )
            if money is not None and row.price:
                amount = 0 if money == "capture" else row.price
                await move(
                    conn,
                    account_id=row.account_id,
                    task_id=row.id,
                    kind=money,
                    amount=amount,
                    now=stamp,
                )
        if event and self._on_change is not None:
            self._on_change(row.id)
        return to_task(row)


def _new_row(new: NewTask, now: datetime) -> dict[str, Any]:
    return {
        "platform_id": new.platform_id,
        "account_id": new.account_id,
        "api_key_id": new.api_key_id,
        "model": new.model,
        "mode": new.mode,
        "status": TaskStatus.SUBMITTING.value,
        "channel": new.channel,
        "upstream_callback": False,
        "request": new.request,
        "duration": new.duration,
        "resolution": new.resolution,
        "price": new.price,
        "callback_url": new.callback_url,
        "created_at": now,
        "updated_at": now,
        "deadline_at": new.deadline_at,
        "poll_attempts": 0,
        "missing_polls": 0,
        "event_seq": 0,
        "file_copy_pending": False,
        "copy_attempts": 0,
    }


def _ledger_insert(
    account_id: int, task_id: int, kind: str, amount: int, balance: int, now: datetime
) -> Any:
    return insert(ledger).values(
        account_id=account_id,
        task_id=task_id,
        kind=kind,
        amount=amount,
        balance_after=balance,
        created_at=now,
    )
