"""The tracker: finds tasks that are due, leases them, asks their channel, records changes.

It keeps the tasks it leased (``services/poll_queue.py``): a poll that finds nothing new
writes nothing, as the next poll time and attempt count stay in memory with the lease
(renewed in batches); changes are written at once. Stopping, it writes each task's
schedule and hands its leases back; if it dies, they run out and another worker takes the
tasks on. Each query spends one call of its channel's budget; a channel that asked us to
slow down (1002) is not polled until it recovers. Pushed changes are recorded at once.

Budgets: polls are paced so that a channel's tasks share ``schedule.budget_share`` of its
budget evenly (``paced_interval``: 1,000 tasks on 6,000 calls a minute are polled no more
often than every 20 s, never less often than the cap), and they may never take more than
``POLL_SHARE`` of it, so that submits always find room. When polls must wait for budget
the most overdue go first (``claim_due`` orders by ``next_poll_at``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from reelgate.domain import upstream_codes
from reelgate.domain.polling import PollSchedule
from reelgate.domain.pricing import PriceTable
from reelgate.domain.tasks import FailureReason, Task, UpstreamStatus, VideoFile
from reelgate.errors import UpstreamError
from reelgate.providers.base import QueryResult
from reelgate.services.channels import ChannelRouter
from reelgate.services.files import FileService
from reelgate.services.loop import Loop
from reelgate.services.poll_queue import Held, PollQueue
from reelgate.store.tasks import TaskStore

log = logging.getLogger(__name__)

# The codes of the failures the tracker records itself: upstream_codes.DEADLINE, LOST,
# INTERRUPTED (and NOT_FOUND, what MiniMax answers for a task id it does not know).
DEADLINE_MESSAGE = "task deadline exceeded: the upstream did not finish in time"
LOST_MESSAGE = "the upstream no longer knows this task"
INTERRUPTED_MESSAGE = "submission was interrupted before the upstream answered"
BUDGET_RETRY_S = 1.0
POLL_SHARE = 0.8  # polls stop while the channel's window is this full: the rest is for submits
# a video not copied is tried again this soon, doubling up to the most
COPY_RETRY_FIRST_S, COPY_RETRY_MAX_S = 5.0, 3600.0

Observe = Callable[[str, float], None]
Purge = Callable[[datetime], Awaitable[int]]  # deletes what expired before the time given
PURGE_EVERY_S = 60.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class Tracker(Loop):
    idle_s = 0.2  # how often an idle tracker looks for due tasks
    FORGOTTEN_AFTER = 3  # "task not found" answers in a row before a task counts as lost

    def __init__(
        self,
        *,
        tasks: TaskStore,
        router: ChannelRouter,
        files: FileService,
        schedule: PollSchedule,
        pushed_schedule: PollSchedule,
        batch: int,
        concurrency: int,
        lease: timedelta,
        sweep_every_s: float = 5.0,
        submit_grace: timedelta = timedelta(minutes=2),
        observe: Observe | None = None,
        poll_share: float = POLL_SHARE,
        purge: Purge | None = None,
        clock: Callable[[], datetime] = utc_now,
        prices: PriceTable | None = None,
    ) -> None:
        self._now = clock  # the time tasks are due, expire and finish by (tests steer it)
        self._prices = prices  # settles a success at what was billed; None: as reserved
        self._tasks = tasks
        self._router = router
        self._files = files
        self._schedule = schedule
        self._pushed_schedule = pushed_schedule  # the safety net when the upstream pushes
        super().__init__()
        self.batch = batch
        self._next_sweep = 0.0
        self._sem = asyncio.Semaphore(concurrency)
        self._lease = lease
        self._sweep_every_s = sweep_every_s  # deadlines, interrupted submits, pending copies
        self._submit_grace = submit_grace
        self._observe = observe  # (metric name, value) for metrics
        self.owner = f"tracker-{uuid.uuid4().hex[:12]}"
        self._queue = PollQueue(tasks, self.owner, lease)
        self._rng = random.Random()
        self._poll_share = poll_share
        self._dry: dict[str, float] = {}  # channel -> until when its poll budget is spent
        self._purge = purge  # expired Idempotency-Keys, which nothing else removes
        self._next_purge = 0.0

    async def run(self) -> None:
        try:
            await super().run()
        finally:  # the next worker starts where this one left off, without waiting
            await self._queue.hand_back()

    async def round(self) -> int:
        loop = asyncio.get_running_loop()
        if loop.time() >= self._next_sweep:
            self._next_sweep = loop.time() + self._sweep_every_s
            await self.sweep()
        return await self.poll_due()

    async def poll_due(self) -> int:
        """One round: the held tasks that are due (checked with one read), then due tasks
        claimed from the store, polled concurrently. Returns how many were polled, so that
        a round that found its channels out of budget is followed by a nap instead of
        trying the same tasks again at once."""
        await self._router.refresh()
        if self._all_dry(asyncio.get_running_loop().time()):
            return 0
        now = self._now()
        await self._queue.renew(now)
        due = await self._queue.verify(self._queue.pop_due(now, self.batch), now)
        if len(due) < self.batch:
            claimed = await self._tasks.claim_due(
                self.owner, now, self.batch - len(due), self._lease
            )
            due += self._queue.claimed(claimed, now)
        if not due:
            return 0
        if self._observe is not None:
            for held in due:
                self._observe("poll_delay", (now - held.due).total_seconds())
        polled = await asyncio.gather(*(self._poll_guarded(held) for held in due))
        return sum(polled)

    def _all_dry(self, now: float) -> bool:
        """True while every channel with a budget spent its polls' share of it (and there
        is no channel without a budget): claiming tasks now would only put them back."""
        channels = self._router.channels()
        return bool(channels) and all(self._dry.get(c.name, 0.0) > now for c in channels)

    async def _poll_guarded(self, held: Held) -> bool:
        async with self._sem:
            # a task still waiting for a query slot this late is not polled: its lease may
            # run out mid-query and another worker may poll it too; it stays due as it
            # was, for a round that renews the lease first
            if asyncio.get_running_loop().time() > held.poll_by:
                log.info("lease of %s ran short while it waited", held.task.platform_id)
                self._queue.put_back(held)
                return False
            try:
                return await self.poll(held.task)
            except Exception:
                log.exception("polling %s failed", held.task.platform_id)
                self._retry_later(held.task)
                return True

    async def poll(self, task: Task) -> bool:
        """Query one leased task and record the answer; False if the channel had no
        budget for it (it is put back, without counting as an attempt)."""
        assert task.upstream_task_id is not None
        if task.deadline_at <= self._now():
            await self._expire(task)
            return True
        channel = task.channel
        if not self._router.may_poll(channel):
            self._not_now(task)
            return False
        if not await self._router.acquire(channel, self._poll_share):
            self._dry[channel] = asyncio.get_running_loop().time() + BUDGET_RETRY_S / 4
            self._not_now(task)
            return False
        try:
            result = await self._router.provider(channel).query(task.upstream_task_id, task.model)
        except UpstreamError as exc:
            self._router.record(channel, "query", exc)
            log.info("query of %s failed: %s", task.platform_id, exc)
            missing = exc.code == upstream_codes.NOT_FOUND
            if missing and task.missing_polls + 1 >= self.FORGOTTEN_AFTER:
                # The upstream accepted the task and now refuses to know it: it is lost.
                await self._tasks.record_failure(
                    task.id,
                    upstream_codes.LOST,
                    f"{LOST_MESSAGE} ({exc.code}: {exc.message})",
                    self._now(),
                    reason=FailureReason.LOST,
                    owner=self.owner,
                )
                self._queue.drop(task.id)
                return True
            self._retry_later(task, missing=missing)
            return True
        self._router.record(channel, "query", None)
        await self.apply(task, result, owner=self.owner)
        return True

    async def apply(self, task: Task, result: QueryResult, owner: str | None) -> None:
        """Record what the upstream said about a task (from a poll by ``owner``, or a
        push). A poll that finds the status it knew writes nothing."""
        now = self._now()
        if result.status is UpstreamStatus.SUCCESS and result.file_id:
            await self._succeed(task, result, owner)
        elif result.status is UpstreamStatus.FAIL:
            code = result.error_code or upstream_codes.FAILED_WITHOUT_CODE
            message = result.error_message or "the upstream reported the task failed"
            await self._tasks.record_failure(
                task.id, code, message, now, reason=FailureReason.UPSTREAM_FAILED, owner=owner
            )
            self._queue.drop(task.id)
        else:
            at = now + timedelta(seconds=self._next_delay(task))
            polled = replace(task, poll_attempts=task.poll_attempts + 1, missing_polls=0)
            if owner is not None and result.status is task.upstream_status:
                self._queue.schedule(polled, at)  # no news: kept in memory, nothing written
                return
            stored = at if owner is None else now + self._lease  # held: as the claim left it
            row = await self._tasks.record_progress(
                task, owner, result.status, stored, now, release=owner is None
            )
            if owner is None or row is None:  # a push released the lease; or it is not ours
                self._queue.drop(task.id)
            else:
                self._queue.schedule(row, at, stored=stored)

    async def _succeed(self, task: Task, result: QueryResult, owner: str | None) -> None:
        """Record a success: retrieve the file (its download URL and size), copy it, and
        finish the task. Without an owner (a push) a failure hands the task to polling."""
        assert result.file_id is not None
        channel = task.channel
        if not await self._router.acquire(channel):
            if owner is None:
                await self._poll_soon(task)
            else:
                self._not_now(task)
            return
        try:
            info = await self._router.provider(channel).retrieve_file(result.file_id, task.model)
        except UpstreamError as exc:
            self._router.record(channel, "retrieve", exc)
            log.info("retrieve of %s failed: %s", task.platform_id, exc)
            if owner is None:
                await self._poll_soon(task)
            else:
                self._retry_later(task)
            return
        self._router.record(channel, "retrieve", None)
        stored = await self._files.try_copy(task, info.download_url)
        file = VideoFile(
            file_id=result.file_id,
            width=result.width or 0,
            height=result.height or 0,
            bytes=stored.size if stored else info.bytes,
            filename=info.filename,
            upstream_url=info.download_url,
            upstream_url_expires_at=info.expires_at,
            storage_key=stored.key if stored else None,
            sha256=stored.sha256 if stored else None,
            created_at=info.created_at,
            extra=info.extra,  # kept: files/retrieve is answered from the store
        )
        done = await self._tasks.record_success(
            task.id,
            file,
            self._now(),
            owner=owner,
            copy_pending=self._files.copies,
            usage=result.usage,
            ratio=result.ratio,
            charged=self._charge(task, result),
        )
        self._queue.drop(task.id)
        if done is not None and self._observe is not None:
            self._observe("completed", (self._now() - task.created_at).total_seconds())

    def _charge(self, task: Task, result: QueryResult) -> int | None:
        """What a success costs: the upstream's billed usage at the table's rates, at
        most the reservation (``task.price`` until it succeeds)."""
        if self._prices is None:
            return None
        return self._prices.settle(task.model, task.resolution, result.usage, task.price)

    async def on_push(self, platform_id: str, body: Mapping[str, Any]) -> None:
        """A status change pushed by the upstream: record it at once.

        A pushed success that carries the file id and the video's size (the query's
        shape) is recorded as it comes, with the one retrieve every success needs; one
        without them makes the task due at once, so that a query confirms it.
        """
        task = await self._tasks.get_by_platform_id(platform_id)
        if task is None or task.status.terminal or task.upstream_task_id is None:
            return
        pushed = self._router.provider(task.channel).read_push(body, task.model)
        if pushed is None:
            return
        if pushed.task_id and pushed.task_id != task.upstream_task_id:
            log.warning("push for %s names task %s; ignored", platform_id, pushed.task_id)
            return
        result = pushed.result
        if result.status is UpstreamStatus.SUCCESS:
            if pushed.complete and result.file_id:
                await self._succeed(task, result, owner=None)
            else:
                await self._poll_soon(task)
            return
        if result.status is task.upstream_status:
            return  # no news (a poll got there first): nothing to write
        await self.apply(task, result, owner=None)

    def _next_delay(self, task: Task, schedule: PollSchedule | None = None) -> float:
        """When to poll next: the task's schedule, stretched so that its channel's tasks
        share the budget evenly, never past the schedule's cap."""
        if schedule is None:
            schedule = self._pushed_schedule if task.upstream_callback else self._schedule
        pace = self._router.poll_pace(task.channel, schedule.budget_share)
        return schedule.delay(task.poll_attempts + 1, self._rng, at_least=pace)

    async def _poll_soon(self, task: Task) -> None:
        """Make a task due at once, for the tracker that holds it to settle with a query
        in its next round (``claim_due`` hands it back to its holder)."""
        await self._tasks.poll_now(task.id, now := self._now())
        self._queue.poke(task.id, now)
        self.wake()

    def _retry_later(self, task: Task, *, missing: bool = False) -> None:
        """The poll failed: count the attempt (and a "not found"), in memory."""
        next_poll = self._now() + timedelta(seconds=self._next_delay(task, self._schedule))
        missed = task.missing_polls + 1 if missing else task.missing_polls
        tried = replace(task, poll_attempts=task.poll_attempts + 1, missing_polls=missed)
        self._queue.schedule(tried, next_poll)

    def _not_now(self, task: Task) -> None:
        """The channel has no budget left (or asked us to slow down): look again soon,
        without counting it as an attempt."""
        later = timedelta(seconds=BUDGET_RETRY_S * (1 + self._rng.random()))
        self._queue.schedule(task, self._now() + later)

    async def sweep(self) -> None:
        """Settle what polling alone cannot: deadlines, interrupted submits, pending copies."""
        now = self._now()
        for task in await self._tasks.overdue(now, 100):
            await self._expire(task)
        for task in await self._tasks.stale_submitting(now - self._submit_grace):
            await self._tasks.record_failure(
                task.id,
                upstream_codes.INTERRUPTED,
                INTERRUPTED_MESSAGE,
                now,
                reason=FailureReason.INTERRUPTED,
                from_statuses=["submitting"],
            )
        if self._files.copies:
            for task in await self._tasks.pending_copies(20, now):
                await self._copy_pending(task)
        loop = asyncio.get_running_loop()
        if self._purge is not None and loop.time() >= self._next_purge:
            self._next_purge = loop.time() + PURGE_EVERY_S
            purged = await self._purge(now)
            if purged:
                log.info("purged %d expired Idempotency-Keys", purged)

    async def _expire(self, task: Task) -> None:
        await self._tasks.record_failure(
            task.id,
            upstream_codes.DEADLINE,
            DEADLINE_MESSAGE,
            self._now(),
            reason=FailureReason.DEADLINE_EXCEEDED,
        )
        self._queue.drop(task.id)

    async def _copy_pending(self, task: Task) -> None:
        assert task.file is not None
        if not await self._router.acquire(task.channel):
            return
        try:
            info = await self._router.provider(task.channel).retrieve_file(
                task.file.file_id, task.model
            )
        except UpstreamError as exc:
            self._router.record(task.channel, "retrieve", exc)
            log.info("retrieve for copy of %s failed: %s", task.platform_id, exc)
            stored = None
        else:
            self._router.record(task.channel, "retrieve", None)
            stored = await self._files.try_copy(task, info.download_url)
        if stored is not None:
            await self._tasks.record_copy(task.id, stored.key, stored.sha256, stored.size)
            return
        # back off per task, so that a few videos that can never be copied do not keep
        # the others waiting
        delay = min(COPY_RETRY_MAX_S, COPY_RETRY_FIRST_S * 2**task.copy_attempts)
        await self._tasks.copy_failed(task, self._now() + timedelta(seconds=delay))
