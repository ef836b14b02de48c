"""The tasks a tracker holds: leased in the store, scheduled in memory.

A poll that finds nothing new writes nothing: the task's next poll time, attempt count and
"not found" count stay here, with its lease, and only changes are written. The store learns
of the lease in batches:

- ``renew``: when the oldest lease is half spent, one statement per 500 tasks extends them
  all and sets their ``next_poll_at`` to the lease's end (the latest anyone will poll them:
  if this worker dies, another takes them on then), so that the claim's index range skips
  them. It also finds tasks that were taken from us (a push, a cancel, a deadline) and
  drops them.
- ``claim_due`` sets a claimed task's ``next_poll_at`` to the lease's end too (and a
  change this worker writes does the same), and it returns, besides tasks nobody holds,
  ours whose ``next_poll_at`` someone moved before that: a ``poll_now`` (a push)
  recorded by another process reaches us in the next round (``claimed``).
- ``verify``: before a batch is polled, one read of ids checks that it is still ours,
  tracked, leased for a while yet.
- ``hand_back``: when the tracker stops, each task's schedule is written and its lease
  released, in one transaction.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from reelgate.domain.tasks import Task
from reelgate.store.tasks import TaskStore

LEASE_LEFT_TO_POLL = 0.2  # a task waiting for a query slot is skipped once less is left
RENEW_AT = 0.5  # of a lease spent: renew every lease held


@dataclass(slots=True)
class Held:
    task: Task  # with this worker's own poll_attempts and missing_polls
    due: datetime
    stored_due: datetime | None  # the next_poll_at the store has for it
    poll_by: float = 0.0  # loop time after which a query may outlast the lease
    in_flight: bool = False


class PollQueue:
    def __init__(self, store: TaskStore, owner: str, lease: timedelta) -> None:
        self._store = store
        self._owner = owner
        self._lease = lease
        self._held: dict[int, Held] = {}
        self._heap: list[tuple[datetime, int, int]] = []  # (due, tie, task id); stale ok
        self._tie = itertools.count()
        self._renew_at: datetime | None = None  # store time when the oldest lease is half spent

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, task_id: int) -> bool:
        return task_id in self._held

    def _poll_by(self) -> float:
        left = self._lease.total_seconds() * (1 - LEASE_LEFT_TO_POLL)
        return asyncio.get_running_loop().time() + left

    def claimed(self, tasks: list[Task], now: datetime) -> list[Held]:
        """Tasks just leased by ``claim_due``: held, in flight. One we held already was
        made due by another process (``poll_now``: a push): due now, with its row."""
        renew = now + self._lease * RENEW_AT
        if self._renew_at is None or not self._held:
            self._renew_at = renew
        poll_by = self._poll_by()
        entries = []
        for task in tasks:
            held = self._held.get(task.id)
            if held is not None:
                if held.in_flight:
                    continue  # popped due this round already
                task = replace(
                    task,
                    poll_attempts=max(task.poll_attempts, held.task.poll_attempts),
                    missing_polls=held.task.missing_polls,
                )
            # the claim made the row's next_poll_at its lease's end; the task's, the due
            held = Held(task, task.next_poll_at or now, now + self._lease, poll_by, True)
            self._held[task.id] = held
            entries.append(held)
        return entries

    def schedule(self, task: Task, due: datetime, *, stored: datetime | None = None) -> None:
        """Poll this task again at ``due``; ``stored``: the next_poll_at just written."""
        held = self._held.get(task.id)
        if held is None:
            return  # dropped while it was polled: no longer ours
        held.task, held.due, held.in_flight = task, due, False
        if stored is not None:
            held.stored_due = stored
        heapq.heappush(self._heap, (due, next(self._tie), task.id))

    def put_back(self, held: Held) -> None:
        """Not polled after all (no budget, or its lease ran short): due as it was."""
        self.schedule(held.task, held.due)

    def drop(self, task_id: int) -> None:
        self._held.pop(task_id, None)

    def poke(self, task_id: int, now: datetime) -> None:
        """Due at once (an upstream pushed news about it)."""
        held = self._held.get(task_id)
        if held is not None and not held.in_flight and held.due > now:
            self.schedule(held.task, now)

    def pop_due(self, now: datetime, limit: int) -> list[Held]:
        due: list[Held] = []
        while self._heap and len(due) < limit and self._heap[0][0] <= now:
            at, _, task_id = heapq.heappop(self._heap)
            held = self._held.get(task_id)
            if held is None or held.in_flight or held.due != at:
                continue  # dropped, or scheduled again since: a stale heap entry
            held.in_flight = True
            due.append(held)
        return due

    def next_due(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    async def renew(self, now: datetime) -> None:
        """Extend every lease held once the oldest is half spent; drop what is not ours."""
        if self._renew_at is None or now < self._renew_at or not self._held:
            return
        until = now + self._lease
        kept = await self._store.renew_leases(self._owner, list(self._held), until)
        poll_by = self._poll_by()
        for task_id in list(self._held):
            if task_id not in kept:
                self.drop(task_id)
                continue
            held, stored = self._held[task_id], kept[task_id]
            if stored < until and stored < held.due and not held.in_flight:
                self.schedule(held.task, now)  # another process's poll_now, missed by the claim
            held.stored_due = stored
            held.poll_by = poll_by
        self._renew_at = now + self._lease * RENEW_AT

    async def verify(self, entries: list[Held], now: datetime) -> list[Held]:
        """The entries still ours (one read of their ids): while we hold a task nobody
        else changes what we keep of it, so the memory's copy is current."""
        if not entries:
            return []
        margin = self._lease * LEASE_LEFT_TO_POLL
        ours = await self._store.leased(self._owner, [h.task.id for h in entries], now + margin)
        fresh = []
        for held in entries:
            if held.task.id in ours:
                fresh.append(held)
            else:
                self.drop(held.task.id)
        return fresh

    async def hand_back(self) -> None:
        """Write each task's schedule and release its lease (the tracker stops)."""
        if not self._held:
            return
        held, self._held, self._heap = list(self._held.values()), {}, []
        await self._store.hand_back(
            self._owner,
            [(h.task.id, h.due, h.task.poll_attempts, h.task.missing_polls) for h in held],
        )
