"""The tracker's leases held over many polls (``services/poll_queue.py``): renewed in
batches, checked with one read before a batch is polled, handed back with the schedule
the tracker kept in memory; ``claim_due`` takes them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain import lifecycle
from reelgate.domain.tasks import Task, TaskStatus
from reelgate.store.database import begin
from reelgate.store.tables import tasks
from reelgate.store.task_rows import to_task

_TRACKED = [s.value for s in TaskStatus if s in lifecycle.TRACKED]
_CHUNK = 500  # ids in one IN list (SQLite allows 32,766 parameters)

# The claim's statements, built once (bound per call): tasks due whose lease is free or
# ran out, or that are ``owner``'s and were made due again by someone else.
_AT = tasks.c.next_poll_at.type
_CLAIMABLE = and_(
    tasks.c.status.in_(_TRACKED),
    tasks.c.next_poll_at <= bindparam("now", type_=_AT),
    or_(
        tasks.c.lease_until.is_(None),
        tasks.c.lease_until < bindparam("now", type_=_AT),
        tasks.c.lease_owner == bindparam("owner"),
    ),
)
_ANY_DUE = select(tasks.c.id).where(_CLAIMABLE).limit(1)
_CLAIM = (
    update(tasks)
    .where(
        tasks.c.id.in_(
            select(tasks.c.id)
            .where(_CLAIMABLE)
            .order_by(tasks.c.next_poll_at)
            .limit(bindparam("n"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .values(lease_owner=bindparam("owner"), lease_until=bindparam("until", type_=_AT))
    .returning(*tasks.c)
)
_CLAIMED_DUE_AT_LEASE_END = (
    update(tasks)
    .where(tasks.c.id.in_(bindparam("ids", expanding=True)))
    .values(next_poll_at=bindparam("until", type_=_AT))
)
_HAND_BACK = (
    update(tasks)
    .where(tasks.c.id == bindparam("tid"), tasks.c.lease_owner == bindparam("owner"))
    .values(
        next_poll_at=bindparam("due"),
        poll_attempts=bindparam("attempts"),
        missing_polls=bindparam("missing"),
        lease_owner=None,
        lease_until=None,
    )
)


class TaskLeases:
    _engine: AsyncEngine

    async def claim_due(
        self, owner: str, now: datetime, limit: int, lease: timedelta
    ) -> list[Task]:
        """Lease up to ``limit`` tracked tasks whose next poll is due.

        PostgreSQL skips rows another worker has locked; SQLite serialises writers.
        A lease that expired (its worker died) makes the task claimable again.

        A claimed task's ``next_poll_at`` becomes its lease's end (the latest anyone polls
        it: another worker, if this one dies), as ``renew_leases`` keeps it; the tasks
        returned carry the ``next_poll_at`` they were due at. So a task ``owner`` holds
        comes back to it only when another process made it due at once (``poll_now``).
        """
        params = {"now": now, "owner": owner, "n": limit, "until": now + lease}
        async with self._engine.connect() as conn:  # a read first: most rounds find none
            if (await conn.execute(_ANY_DUE, params)).first() is None:
                return []
        async with begin(self._engine) as conn:
            rows = (await conn.execute(_CLAIM, params)).all()
            if rows:  # a write first: SQLite takes its write lock up front
                ids = {"ids": [r.id for r in rows], "until": params["until"]}
                await conn.execute(_CLAIMED_DUE_AT_LEASE_END, ids)
        return [to_task(r) for r in rows]

    async def renew_leases(
        self, owner: str, ids: list[int], until: datetime
    ) -> dict[int, datetime]:
        """Extend ``owner``'s leases of these tasks to ``until``, and their ``next_poll_at``
        with them (the latest anyone polls them: another worker, if this one dies) where
        it was the lease's end, as the claim and the owner's writes leave it; one that
        is earlier was made due by ``poll_now`` and stays so.

        Returns the tasks still ``owner``'s with their ``next_poll_at`` now: one not
        returned was taken from it (a push, a cancel, a deadline). One statement (one
        row write a task) per ``_CHUNK`` tasks."""
        kept: dict[int, datetime] = {}
        moved = case(
            (tasks.c.next_poll_at == tasks.c.lease_until, until), else_=tasks.c.next_poll_at
        )
        async with begin(self._engine) as conn:
            for start in range(0, len(ids), _CHUNK):
                rows = await conn.execute(
                    update(tasks)
                    .where(
                        tasks.c.id.in_(ids[start : start + _CHUNK]),
                        tasks.c.lease_owner == owner,
                        tasks.c.status.in_(_TRACKED),
                    )
                    .values(lease_until=until, next_poll_at=moved)
                    .returning(tasks.c.id, tasks.c.next_poll_at)
                )
                kept.update((r.id, r.next_poll_at) for r in rows)
        return kept

    async def leased(self, owner: str, ids: list[int], until: datetime) -> set[int]:
        """Those of these tasks that ``owner`` still leases past ``until``, still tracked:
        one read of their ids, the tracker's check before it polls tasks it holds (while
        it holds one, only it writes the task's upstream status: a push releases the
        lease, a cancel or a deadline ends the tracking)."""
        query = select(tasks.c.id).where(
            tasks.c.id.in_(ids),
            tasks.c.lease_owner == owner,
            tasks.c.lease_until > until,
            tasks.c.status.in_(_TRACKED),
        )
        async with self._engine.connect() as conn:
            return set((await conn.execute(query)).scalars())

    async def hand_back(self, owner: str, schedules: list[tuple[int, datetime, int, int]]) -> None:
        """Release ``owner``'s leases, writing for each task (id, next poll, attempts,
        "not found" count) what the tracker kept in memory; one transaction."""
        if not schedules:
            return
        params = [
            {"tid": i, "owner": owner, "due": due, "attempts": a, "missing": m}
            for i, due, a, m in schedules
        ]
        async with begin(self._engine) as conn:
            await conn.execute(_HAND_BACK, params)
