"""Carrying out a task's lifecycle (``domain/lifecycle.py``) on the database.

The table says which statuses may move where and what each move writes; this module
only carries a move out. Every state change is one ``UPDATE ... WHERE status IN
(sources) RETURNING`` (compare-and-set), and the event, the callback and the money
movement that the table puts with it are written in the same transaction, only if the
``UPDATE`` returned a row: so each happens exactly once however many trackers, cancels,
retries or restarts race for a task. A transaction always starts with a write, so SQLite
takes its write lock up front and never deadlocks upgrading a read lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain import lifecycle
from reelgate.domain.lifecycle import Event, IllegalTransition, Money, Plan, Step
from reelgate.domain.tasks import Task, TaskStatus, UpstreamStatus, Usage, VideoFile
from reelgate.domain.webhooks import callback_body
from reelgate.store.database import begin
from reelgate.store.deliveries import enqueue
from reelgate.store.money import move_sync, reservation
from reelgate.store.moves import SEQ_NEXT, Fold, compare_and_set, fold
from reelgate.store.tables import task_events, tasks
from reelgate.store.task_rows import file_values, to_task
from reelgate.store.transactions import write

_TRACKED = [s.value for s in TaskStatus if s in lifecycle.TRACKED]
# what every move into a terminal status clears: nothing is polled or leased any more
_FINISHED: dict[str, Any] = {"next_poll_at": None, "lease_owner": None, "lease_until": None}
_ADD_EVENT = insert(task_events)


class TaskTransitions:
    """The lifecycle writes of ``TaskStore``: each public method is one compare-and-set."""

    def __init__(self, engine: AsyncEngine, on_change: Callable[[int], None] | None = None) -> None:
        self._engine = engine
        self._on_change = on_change  # told the task id after each committed state change

    # -- submit -----------------------------------------------------------------------

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
            lifecycle.plan(Step.ACCEPT, TaskStatus.QUEUED),
            now=now,
            upstream_callback=upstream_callback,
            **extra,
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
        return await self._transition(
            task_id,
            lifecycle.plan(Step.REFUSE, TaskStatus.FAILED),
            now=now,
            **_FINISHED,
            finished_at=now,
            error_code=code,
            error_message=message,
            error_reason="upstream_refused",
        )

    # -- tracking ---------------------------------------------------------------------

    async def record_progress(
        self,
        task: Task,
        owner: str | None,
        upstream_status: UpstreamStatus,
        next_poll_at: datetime,
        now: datetime,
        *,
        release: bool = True,
    ) -> Task | None:
        """Record a non-terminal status and release the lease until the next poll
        (``release=False``: the owner keeps it, renewed to ``next_poll_at``, and polls
        the task from memory). IllegalTransition for a terminal one: those go through
        record_success or record_failure, which move the money."""
        lease: dict[str, Any] = (
            {"lease_owner": None, "lease_until": None}
            if release
            else {"lease_until": next_poll_at}  # held: next poll at the lease's end
        )
        return await self._transition(
            task.id,
            lifecycle.plan(Step.PROGRESS, upstream_status.platform),
            now=now,
            owner=owner,
            changed=upstream_status is not task.upstream_status,
            upstream_status=upstream_status.value,
            next_poll_at=next_poll_at,
            poll_attempts=task.poll_attempts + 1,
            missing_polls=0,
            **lease,
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
        await self._touch(
            task.id,
            owner=owner,
            next_poll_at=next_poll_at,
            poll_attempts=task.poll_attempts + (1 if count_attempt else 0),
            missing_polls=task.missing_polls + 1 if missing else task.missing_polls,
            lease_owner=None,
            lease_until=None,
        )

    async def poll_now(self, task_id: int, now: datetime) -> None:
        """Make a tracked task due at once (an upstream pushed news about it)."""
        await self._touch(task_id, next_poll_at=now)

    # -- finishing --------------------------------------------------------------------

    async def record_success(
        self,
        task_id: int,
        file: VideoFile,
        now: datetime,
        owner: str | None = None,
        *,
        copy_pending: bool = True,
        usage: Usage | None = None,
        ratio: str | None = None,
        charged: int | None = None,
    ) -> Task | None:
        """Record the result; ``copy_pending``: the gateway still wants its own copy.
        ``usage`` and ``ratio``: what a v2 upstream billed and the ratio it chose.
        ``charged``: what the task costs after all (``PriceTable.settle``); it becomes
        the task's price, never above what was reserved, and the rest is given back
        (``settle``) in the same transaction. None: the reservation is the charge."""
        extra: dict[str, Any] = {"usage": usage.as_dict()} if usage is not None else {}
        if ratio is not None:
            extra["ratio"] = ratio
        if charged is not None:
            charged = max(charged, 0)
            extra["price"] = case((tasks.c.price > charged, charged), else_=tasks.c.price)
        return await self._transition(
            task_id,
            lifecycle.plan(Step.SUCCEED, TaskStatus.SUCCEEDED),
            now=now,
            owner=owner,
            settling=charged is not None,
            **_FINISHED,
            finished_at=now,
            upstream_status=UpstreamStatus.SUCCESS.value,
            **file_values(file, now, copy_pending=copy_pending),
            **extra,
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
        from_statuses: Sequence[str] | None = None,
    ) -> Task | None:
        """Fail (or cancel) an unfinished task and refund its price.

        The lifecycle decides which statuses may end this way (an interrupted submit:
        only ``submitting``). ``from_statuses`` may narrow that, never widen it.
        """
        plan = lifecycle.plan(lifecycle.ending(status, reason), status)
        if from_statuses is not None:
            plan = _narrowed(plan, from_statuses)
        return await self._transition(
            task_id,
            plan,
            now=now,
            owner=owner,
            **_FINISHED,
            finished_at=now,
            upstream_status=UpstreamStatus.FAIL.value,
            error_code=code,
            error_message=message,
            error_reason=reason,
        )

    # -- the one way state changes ------------------------------------------------------

    async def _transition(
        self,
        task_id: int,
        plan: Plan,
        *,
        now: datetime,
        owner: str | None = None,
        changed: bool = True,
        settling: bool = False,
        **values: Any,
    ) -> Task | None:
        """Move the task as ``plan`` says if it is in one of its sources (and leased by
        ``owner``); with it, in the same transaction, what the plan writes with it.
        ``changed``: the upstream's status changed (an ON_CHANGE event is recorded).
        ``settling``: ``values`` change the task's price to its charge."""
        event = plan.event is Event.ALWAYS or (plan.event is Event.ON_CHANGE and changed)
        values.update(status=plan.target.value, updated_at=now)
        if event:
            values["event_seq"] = SEQ_NEXT
        sources = plan.ordered_sources()
        how, row = Fold.NONE, None
        if self._engine.dialect.name == "postgresql":
            how = fold(plan, event=event, settling=settling)
        if how is not Fold.NONE:
            # one statement, one round trip (store/moves.py)
            row = await self._at_once(task_id, sources, owner, values, how, plan.callback)
        if how is Fold.NONE or (row is None and how is Fold.WITH_EVENT and plan.callback):
            # a money move, or a task with a callback URL (which the statement left
            # alone): the transaction, in one hand-off (store/transactions.py)
            row = await write(
                self._engine, self._mover(task_id, sources, owner, values, plan, now, settling)
            )
        if row is None:
            return None
        if event and self._on_change is not None:
            self._on_change(row.id)
        return to_task(row)

    async def _at_once(
        self,
        task_id: int,
        sources: list[str],
        owner: str | None,
        values: dict[str, Any],
        how: Fold,
        callback: bool,
    ) -> Any:
        stmt, params = compare_and_set(task_id, sources, owner, values, how, callback=callback)
        return await write(
            self._engine, lambda conn: conn.execute(stmt, params).one_or_none(), atomic=True
        )

    @staticmethod
    def _mover(
        task_id: int,
        sources: list[str],
        owner: str | None,
        values: dict[str, Any],
        plan: Plan,
        now: datetime,
        settling: bool,
    ) -> Callable[[Connection], Any]:
        stmt, params = compare_and_set(task_id, sources, owner, values)
        event = "event_seq" in values

        def move_it(conn: Connection) -> Any:
            row = conn.execute(stmt, params).one_or_none()
            if row is None:
                return None
            if event:
                _record_event(conn, row, plan, now)
            _move_money(conn, row, plan, now, settling=settling)
            return row

        return move_it

    async def _touch(self, task_id: int, *, owner: str | None = None, **values: Any) -> None:
        """Change a tracked task's schedule or lease, not its status: no event, no money."""
        stmt, params = compare_and_set(task_id, _TRACKED, owner, values)
        async with begin(self._engine) as conn:
            await conn.execute(stmt, params)


def _move_money(conn: Connection, row: Any, plan: Plan, now: datetime, *, settling: bool) -> None:
    """The plan's money, then its remainder if any is left. ``row.price`` is what the
    task reserved, unless this move settled it at its charge: the reservation is then
    the ledger's. A free task moves nothing."""
    reserved = reservation(conn, row.id) if settling else row.price
    if not reserved:
        return
    moves = [(plan.money, plan.money.amount(reserved))]
    rest = plan.remainder.amount(reserved, row.price)
    if rest:  # nothing left to give back writes nothing
        moves.append((plan.remainder, rest))
    for money, amount in moves:
        if money is not Money.NONE:
            move_sync(
                conn,
                account_id=row.account_id,
                task_id=row.id,
                kind=money.value,
                amount=amount,
                now=now,
            )


def _record_event(conn: Connection, row: Any, plan: Plan, now: datetime) -> None:
    """The task's numbered event, and (the outbox) its callback, which commits with it."""
    conn.execute(
        _ADD_EVENT,
        {
            "task_id": row.id,
            "seq": row.event_seq,
            "status": row.status,
            "upstream_status": row.upstream_status,
            "created_at": now,
        },
    )
    if plan.callback and row.callback_url:
        enqueue(
            conn,
            task_id=row.id,
            account_id=row.account_id,
            seq=row.event_seq,
            url=row.callback_url,
            body=callback_body(to_task(row)),
            now=now,
        )


def _narrowed(plan: Plan, from_statuses: Sequence[str]) -> Plan:
    wanted = frozenset(TaskStatus(s) for s in from_statuses)
    if not wanted <= plan.sources:
        raise IllegalTransition(
            f"{plan.step.value} cannot move a task from {sorted(wanted - plan.sources)}"
        )
    return replace(plan, sources=wanted)
