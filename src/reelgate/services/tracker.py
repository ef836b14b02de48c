"""The tracker: finds tasks that are due, leases them, asks their channel, records changes.

It picks up where it left off after a restart because everything it needs (the next poll
time, the attempt count, the lease) lives in the store. Each query spends one call of
its channel's budget; a channel that asked us to slow down (1002) is not polled until it
recovers. Pushed changes (upstream callbacks) are recorded at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from reelgate.domain.polling import PollSchedule
from reelgate.domain.tasks import FailureReason, Task, UpstreamStatus, VideoFile
from reelgate.errors import UpstreamError
from reelgate.providers.base import QueryResult
from reelgate.services.channels import ChannelRouter
from reelgate.services.files import FileService
from reelgate.services.loop import Loop
from reelgate.store.tasks import TaskStore

log = logging.getLogger(__name__)

DEADLINE_CODE = 1001
DEADLINE_MESSAGE = "task deadline exceeded: the upstream did not finish in time"
NOT_FOUND_CODE = 2013  # what MiniMax answers for a task id it does not know
LOST_CODE = 1000
LOST_MESSAGE = "the upstream no longer knows this task"
INTERRUPTED_CODE = 1000
INTERRUPTED_MESSAGE = "submission was interrupted before the upstream answered"
BUDGET_RETRY_S = 1.0
COPY_RETRY_FIRST_S, COPY_RETRY_MAX_S = (
    5.0,
    3600.0,
)  # a task whose channel is out of budget is looked at again this soon

Observe = Callable[[str, float], None]


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
    ) -> None:
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
        self._rng = random.Random()

    async def round(self) -> int:
        loop = asyncio.get_running_loop()
        if loop.time() >= self._next_sweep:
            self._next_sweep = loop.time() + self._sweep_every_s
            await self.sweep()
        return await self.poll_due()

    async def poll_due(self) -> int:
        """One round: claim due tasks and poll them concurrently. Returns how many."""
        await self._router.refresh()
        now = datetime.now(UTC)
        due = await self._tasks.claim_due(self.owner, now, self.batch, self._lease)
        if due:
            if self._observe is not None:
                for task in due:
                    if task.next_poll_at is not None:
                        self._observe("poll_delay", (now - task.next_poll_at).total_seconds())
            await asyncio.gather(*(self._poll_guarded(t) for t in due))
        return len(due)

    async def _poll_guarded(self, task: Task) -> None:
        async with self._sem:
            try:
                await self.poll(task)
            except Exception:
                log.exception("polling %s failed", task.platform_id)
                await self._retry_later(task)

    async def poll(self, task: Task) -> None:
        assert task.upstream_task_id is not None
        if task.deadline_at <= datetime.now(UTC):
            await self._expire(task)
            return
        channel = task.channel
        if not self._router.may_poll(channel) or not await self._router.acquire(channel):
            await self._not_now(task)
            return
        try:
            result = await self._router.provider(channel).query(task.upstream_task_id)
        except UpstreamError as exc:
            self._router.record(channel, "query", exc)
            log.info("query of %s failed: %s", task.platform_id, exc)
            missing = exc.code == NOT_FOUND_CODE
            if missing and task.missing_polls + 1 >= self.FORGOTTEN_AFTER:
                # The upstream accepted the task and now refuses to know it: it is lost.
                await self._tasks.record_failure(
                    task.id,
                    LOST_CODE,
                    f"{LOST_MESSAGE} ({exc.code}: {exc.message})",
                    datetime.now(UTC),
                    reason=FailureReason.LOST,
                    owner=self.owner,
                )
                return
            await self._retry_later(task, missing=missing)
            return
        self._router.record(channel, "query", None)
        await self.apply(task, result, owner=self.owner)

    async def apply(self, task: Task, result: QueryResult, owner: str | None) -> None:
        """Record what the upstream said about a task (from a poll or a push)."""
        now = datetime.now(UTC)
        if result.status is UpstreamStatus.SUCCESS and result.file_id:
            await self._succeed(task, result, owner)
        elif result.status is UpstreamStatus.FAIL:
            code = result.error_code or 1000
            message = result.error_message or "the upstream reported the task failed"
            await self._tasks.record_failure(
                task.id, code, message, now, reason=FailureReason.UPSTREAM_FAILED, owner=owner
            )
        else:
            schedule = self._pushed_schedule if task.upstream_callback else self._schedule
            delay = schedule.delay(task.poll_attempts + 1, self._rng)
            await self._tasks.record_progress(
                task, owner, result.status, now + timedelta(seconds=delay), now
            )

    async def _succeed(self, task: Task, result: QueryResult, owner: str | None) -> None:
        assert result.file_id is not None
        channel = task.channel
        if not await self._router.acquire(channel):
            await self._not_now(task)
            return
        try:
            info = await self._router.provider(channel).retrieve_file(result.file_id)
        except UpstreamError as exc:
            self._router.record(channel, "retrieve", exc)
            log.info("retrieve of %s failed: %s", task.platform_id, exc)
            await self._retry_later(task)
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
        )
        done = await self._tasks.record_success(
            task.id, file, datetime.now(UTC), owner=owner, copy_pending=self._files.copies
        )
        if done is not None and self._observe is not None:
            self._observe("completed", (datetime.now(UTC) - task.created_at).total_seconds())

    async def on_push(self, platform_id: str, body: Mapping[str, Any]) -> None:
        """A status change pushed by the upstream: record it at once.

        A push of success triggers an immediate query instead (the push carries no video
        size, and a query confirms it); other pushes are recorded as they come.
        """
        task = await self._tasks.get_by_platform_id(platform_id)
        if task is None or task.status.terminal or task.upstream_task_id is None:
            return
        pushed_id = str(body.get("task_id", ""))
        if pushed_id and pushed_id != task.upstream_task_id:
            log.warning("push for %s names task %s; ignored", platform_id, pushed_id)
            return
        status = UpstreamStatus.parse(str(body.get("status", "")))
        if status is None:
            return
        if status is UpstreamStatus.SUCCESS:
            await self._tasks.poll_now(task.id, datetime.now(UTC))
            self.wake()
            return
        base = body.get("base_resp") or {}
        code = int(base.get("status_code") or 0) if isinstance(base, Mapping) else 0
        message = str(base.get("status_msg") or "") if isinstance(base, Mapping) else ""
        await self.apply(
            task,
            QueryResult(status=status, error_code=code, error_message=message if code else ""),
            owner=None,
        )

    async def _retry_later(self, task: Task, *, missing: bool = False) -> None:
        delay = self._schedule.delay(task.poll_attempts + 1, self._rng)
        next_poll = datetime.now(UTC) + timedelta(seconds=delay)
        await self._tasks.reschedule(task, self.owner, next_poll, missing=missing)

    async def _not_now(self, task: Task) -> None:
        """The channel has no budget left (or asked us to slow down): look again soon,
        without counting it as an attempt."""
        await self._tasks.reschedule(
            task,
            self.owner,
            datetime.now(UTC) + timedelta(seconds=BUDGET_RETRY_S * (1 + self._rng.random())),
            count_attempt=False,
        )

    async def sweep(self) -> None:
        """Settle what polling alone cannot: deadlines, interrupted submits, pending copies."""
        now = datetime.now(UTC)
        for task in await self._tasks.overdue(now, 100):
            await self._expire(task)
        for task in await self._tasks.stale_submitting(now - self._submit_grace):
            await self._tasks.record_failure(
                task.id,
                INTERRUPTED_CODE,
                INTERRUPTED_MESSAGE,
                now,
                reason=FailureReason.INTERRUPTED,
                from_statuses=["submitting"],
            )
        if self._files.copies:
            for task in await self._tasks.pending_copies(20, now):
                await self._copy_pending(task)

    async def _expire(self, task: Task) -> None:
        await self._tasks.record_failure(
            task.id,
            DEADLINE_CODE,
            DEADLINE_MESSAGE,
            datetime.now(UTC),
            reason=FailureReason.DEADLINE_EXCEEDED,
        )

    async def _copy_pending(self, task: Task) -> None:
        assert task.file is not None
        if not await self._router.acquire(task.channel):
            return
        try:
            info = await self._router.provider(task.channel).retrieve_file(task.file.file_id)
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
        await self._tasks.copy_failed(task, datetime.now(UTC) + timedelta(seconds=delay))
