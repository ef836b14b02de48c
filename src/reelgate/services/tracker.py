"""The tracker: finds tasks that are due, leases them, asks the upstream, records changes.

It picks up where it left off after a restart because everything it needs (the next poll
time, the attempt count, the lease) lives in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from datetime import UTC, datetime, timedelta

from reelgate.domain.polling import PollSchedule
from reelgate.domain.tasks import FailureReason, Task, UpstreamStatus, VideoFile
from reelgate.errors import UpstreamError
from reelgate.providers.base import Provider
from reelgate.services.files import FileService
from reelgate.store.tasks import TaskStore

log = logging.getLogger(__name__)

DEADLINE_CODE = 1001
DEADLINE_MESSAGE = "task deadline exceeded: the upstream did not finish in time"
NOT_FOUND_CODE = 2013  # what MiniMax answers for a task id it does not know
LOST_CODE = 1000
LOST_MESSAGE = "the upstream no longer knows this task"
INTERRUPTED_CODE = 1000
INTERRUPTED_MESSAGE = "submission was interrupted before the upstream answered"


class Tracker:
    IDLE_TICK_S = 0.2  # how often an idle tracker looks for due tasks
    FORGOTTEN_AFTER = 3  # polls refused as invalid before the task counts as lost upstream

    def __init__(
        self,
        *,
        tasks: TaskStore,
        provider: Provider,
        files: FileService,
        schedule: PollSchedule,
        batch: int,
        concurrency: int,
        lease: timedelta,
        sweep_every_s: float = 5.0,
        submit_grace: timedelta = timedelta(minutes=2),
    ) -> None:
        self._sweep_every_s = sweep_every_s  # deadlines, interrupted submits, pending copies
        self._tasks = tasks
        self._provider = provider
        self._files = files
        self._schedule = schedule
        self._batch = batch
        self._sem = asyncio.Semaphore(concurrency)
        self._lease = lease
        self._submit_grace = submit_grace
        self.owner = f"tracker-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._rng = random.Random()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        """Loop until stopped; a failing round is logged and retried, never fatal."""
        next_sweep = 0.0
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                if loop.time() >= next_sweep:
                    await self.sweep()
                    next_sweep = loop.time() + self._sweep_every_s
                claimed = await self.poll_due()
            except Exception:
                log.exception("tracker round failed")
                claimed = 0
            if claimed < self._batch:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.IDLE_TICK_S)

    async def poll_due(self) -> int:
        """One round: claim due tasks and poll them concurrently. Returns how many."""
        now = datetime.now(UTC)
        due = await self._tasks.claim_due(self.owner, now, self._batch, self._lease)
        if due:
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
        try:
            result = await self._provider.query(task.upstream_task_id)
        except UpstreamError as exc:
            log.info("query of %s failed: %s", task.platform_id, exc)
            if exc.code == NOT_FOUND_CODE and task.poll_attempts >= self.FORGOTTEN_AFTER:
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
            await self._retry_later(task)
            return
        now = datetime.now(UTC)
        if result.status is UpstreamStatus.SUCCESS and result.file_id:
            await self._succeed(task, result.file_id, result.width or 0, result.height or 0)
        elif result.status is UpstreamStatus.FAIL:
            code = result.error_code or 1000
            message = result.error_message or "the upstream reported the task failed"
            await self._tasks.record_failure(
                task.id, code, message, now, reason=FailureReason.UPSTREAM_FAILED, owner=self.owner
            )
        else:
            delay = self._schedule.delay(task.poll_attempts + 1, self._rng)
            await self._tasks.record_progress(
                task, self.owner, result.status, now + timedelta(seconds=delay), now
            )

    async def _succeed(self, task: Task, file_id: str, width: int, height: int) -> None:
        try:
            info = await self._provider.retrieve_file(file_id)
        except UpstreamError as exc:
            log.info("retrieve of %s failed: %s", task.platform_id, exc)
            await self._retry_later(task)
            return
        stored = await self._files.try_copy(task, info.download_url)
        file = VideoFile(
            file_id=file_id,
            width=width,
            height=height,
            bytes=stored.size if stored else info.bytes,
            filename=info.filename,
            upstream_url=info.download_url,
            upstream_url_expires_at=info.expires_at,
            storage_key=stored.key if stored else None,
            sha256=stored.sha256 if stored else None,
            created_at=info.created_at,
        )
        await self._tasks.record_success(task.id, file, datetime.now(UTC), owner=self.owner)

    async def _retry_later(self, task: Task) -> None:
        delay = self._schedule.delay(task.poll_attempts + 1, self._rng)
        await self._tasks.reschedule(task, self.owner, datetime.now(UTC) + timedelta(seconds=delay))

    async def sweep(self) -> None:
        """Settle what polling alone cannot: deadlines, interrupted submits, pending copies."""
        now = datetime.now(UTC)
        for task in await self._tasks.overdue(now, 100):
            await self._tasks.record_failure(
                task.id,
                DEADLINE_CODE,
                DEADLINE_MESSAGE,
                now,
                reason=FailureReason.DEADLINE_EXCEEDED,
            )
        for task in await self._tasks.stale_submitting(now - self._submit_grace):
            await self._tasks.record_failure(
                task.id,
                INTERRUPTED_CODE,
                INTERRUPTED_MESSAGE,
                now,
                reason=FailureReason.INTERRUPTED,
                from_statuses=["submitting"],
            )
        for task in await self._tasks.pending_copies(20):
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
        try:
            info = await self._provider.retrieve_file(task.file.file_id)
        except UpstreamError as exc:
            log.info("retrieve for copy of %s failed: %s", task.platform_id, exc)
            return
        stored = await self._files.try_copy(task, info.download_url)
        if stored is not None:
            await self._tasks.record_copy(task.id, stored.key, stored.sha256, stored.size)
