"""Tasks: insert, look up, claim for tracking and record changes by compare-and-set.

Every state change is one ``UPDATE ... WHERE status IN (unfinished)`` so that exactly
one writer wins however many trackers, retries or restarts race for a task.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.tasks import (
    UNFINISHED,
    Task,
    TaskStatus,
    UpstreamStatus,
    VideoFile,
)
from reelgate.store.tables import tasks

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
        file=file,
        callback_url=row.callback_url,
        price=row.price,
        poll_attempts=row.poll_attempts,
    )


class TaskStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def insert(self, new: NewTask, now: datetime) -> Task:
        values = {
            "platform_id": new.platform_id,
            "account_id": new.account_id,
            "api_key_id": new.api_key_id,
            "model": new.model,
            "mode": new.mode,
            "status": TaskStatus.SUBMITTING.value,
            "channel": new.channel,
            "request": new.request,
            "duration": new.duration,
            "resolution": new.resolution,
            "price": new.price,
            "callback_url": new.callback_url,
            "created_at": now,
            "updated_at": now,
            "deadline_at": new.deadline_at,
            "poll_attempts": 0,
            "file_copy_pending": False,
        }
        async with self._engine.begin() as conn:
            row = (await conn.execute(insert(tasks).values(values).returning(*tasks.c))).one()
        return to_task(row)

    async def delete_unsubmitted(self, task_id: int) -> None:
        """Remove a task the upstream refused outright: a refused request leaves nothing."""
        async with self._engine.begin() as conn:
            await conn.execute(
                tasks.delete().where(
                    tasks.c.id == task_id, tasks.c.status == TaskStatus.SUBMITTING.value
                )
            )

    async def mark_submitted(
        self, task_id: int, upstream_task_id: str, next_poll_at: datetime, now: datetime
    ) -> Task | None:
        return await self._cas(
            task_id,
            [TaskStatus.SUBMITTING.value],
            status=TaskStatus.QUEUED.value,
            upstream_status=UpstreamStatus.PREPARING.value,
            upstream_task_id=upstream_task_id,
            next_poll_at=next_poll_at,
            updated_at=now,
        )

    async def get(self, account_id: int, any_id: str) -> Task | None:
        """The account's task with this platform id or upstream task id."""
        cond = or_(tasks.c.platform_id == any_id, tasks.c.upstream_task_id == any_id)
        return await self._one(and_(tasks.c.account_id == account_id, cond))

    async def get_by_id(self, task_id: int) -> Task | None:
        return await self._one(tasks.c.id == task_id)

    async def get_by_platform_id(self, platform_id: str) -> Task | None:
        return await self._one(tasks.c.platform_id == platform_id)

    async def get_by_file(self, account_id: int, file_id: str) -> Task | None:
        return await self._one(and_(tasks.c.account_id == account_id, tasks.c.file_id == file_id))

    async def get_by_file_id(self, file_id: str) -> Task | None:
        return await self._one(tasks.c.file_id == file_id)

    async def _one(self, where: ColumnElement[bool]) -> Task | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(tasks).where(where).order_by(tasks.c.id).limit(1))
            ).one_or_none()
        return to_task(row) if row else None

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
        async with self._engine.begin() as conn:
            rows = (await conn.execute(stmt)).all()
        return [to_task(r) for r in rows]

    async def record_progress(
        self,
        task_id: int,
        owner: str,
        upstream_status: UpstreamStatus,
        next_poll_at: datetime,
        attempts: int,
        now: datetime,
    ) -> Task | None:
        """Record a non-terminal status and release the lease until the next poll."""
        return await self._cas(
            task_id,
            _TRACKED,
            owner=owner,
            status=upstream_status.platform.value,
            upstream_status=upstream_status.value,
            next_poll_at=next_poll_at,
            poll_attempts=attempts,
            lease_owner=None,
            lease_until=None,
            updated_at=now,
        )

    async def reschedule(
        self, task_id: int, owner: str, next_poll_at: datetime, attempts: int, now: datetime
    ) -> None:
        """Release the lease without a change (the poll failed or said nothing new)."""
        await self._cas(
            task_id,
            _TRACKED,
            owner=owner,
            next_poll_at=next_poll_at,
            poll_attempts=attempts,
            lease_owner=None,
            lease_until=None,
        )

    async def record_success(
        self, task_id: int, file: VideoFile, now: datetime, owner: str | None = None
    ) -> Task | None:
        return await self._cas(
            task_id,
            _UNFINISHED,
            owner=owner,
            status=TaskStatus.SUCCEEDED.value,
            upstream_status=UpstreamStatus.SUCCESS.value,
            finished_at=now,
            updated_at=now,
            next_poll_at=None,
            lease_owner=None,
            lease_until=None,
            file_id=file.file_id,
            file_bytes=file.bytes,
            file_width=file.width,
            file_height=file.height,
            file_name=file.filename,
            file_upstream_url=file.upstream_url,
            file_upstream_expires_at=file.upstream_url_expires_at,
            file_created_at=file.created_at,
            file_copy_pending=file.storage_key is None,
            file_storage_key=file.storage_key,
            file_sha256=file.sha256,
        )

    async def record_failure(
        self,
        task_id: int,
        code: int,
        message: str,
        now: datetime,
        *,
        owner: str | None = None,
        status: TaskStatus = TaskStatus.FAILED,
        from_statuses: Sequence[str] = tuple(_UNFINISHED),
    ) -> Task | None:
        upstream = UpstreamStatus.FAIL.value
        return await self._cas(
            task_id,
            list(from_statuses),
            owner=owner,
            status=status.value,
            upstream_status=upstream,
            error_code=code,
            error_message=message,
            finished_at=now,
            updated_at=now,
            next_poll_at=None,
            lease_owner=None,
            lease_until=None,
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
        async with self._engine.begin() as conn:
            row = (await conn.execute(stmt)).one_or_none()
        return to_task(row) if row else None

    async def pending_copies(self, limit: int) -> list[Task]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(tasks)
                    .where(tasks.c.file_copy_pending.is_(True))
                    .order_by(tasks.c.id)
                    .limit(limit)
                )
            ).all()
        return [to_task(r) for r in rows]

    async def stale_submitting(self, before: datetime) -> list[Task]:
        """Tasks stuck in ``submitting``: the process died between store and upstream answer."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(tasks).where(
                        tasks.c.status == TaskStatus.SUBMITTING.value,
                        tasks.c.created_at < before,
                    )
                )
            ).all()
        return [to_task(r) for r in rows]

    async def overdue(self, now: datetime, limit: int) -> list[Task]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(tasks)
                    .where(tasks.c.status.in_(_TRACKED), tasks.c.deadline_at < now)
                    .limit(limit)
                )
            ).all()
        return [to_task(r) for r in rows]

    async def count_by_status(self) -> dict[str, int]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(select(tasks.c.status, func.count()).group_by(tasks.c.status))
            ).all()
        return {r[0]: r[1] for r in rows}

    async def _cas(
        self,
        task_id: int,
        from_statuses: Iterable[str],
        *,
        owner: str | None = None,
        **values: Any,
    ) -> Task | None:
        """Apply ``values`` if the task is in one of ``from_statuses`` (and leased by ``owner``)."""
        where = [tasks.c.id == task_id, tasks.c.status.in_(list(from_statuses))]
        if owner is not None:
            where.append(tasks.c.lease_owner == owner)
        stmt = update(tasks).where(*where).values(**values).returning(*tasks.c)
        async with self._engine.begin() as conn:
            row = (await conn.execute(stmt)).one_or_none()
        return to_task(row) if row else None
