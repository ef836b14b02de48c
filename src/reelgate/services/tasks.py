"""Creating tasks and looking them up, for the MiniMax surface and the platform API."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from reelgate.domain.ids import new_platform_id
from reelgate.domain.polling import PollSchedule
from reelgate.domain.requests import VideoRequest, parse_video_request
from reelgate.domain.tasks import Task
from reelgate.errors import NotFound, UpstreamError
from reelgate.providers.base import Provider
from reelgate.store.accounts import ApiKey
from reelgate.store.tasks import NewTask, TaskStore

log = logging.getLogger(__name__)

# Decoding a large inline image takes milliseconds; keep it off the event loop.
_INLINE_IN_THREAD_BYTES = 256 * 1024
TASK_NOT_FOUND = "invalid params, task not found"
FILE_NOT_FOUND = "invalid params, file not found"


class TaskService:
    def __init__(
        self,
        *,
        tasks: TaskStore,
        provider: Provider,
        schedule: PollSchedule,
        deadline: timedelta,
        on_submitted: Any = None,
    ) -> None:
        self._tasks = tasks
        self._provider = provider
        self._schedule = schedule
        self._deadline = deadline
        self._on_submitted = on_submitted  # wakes the tracker

    async def create(self, key: ApiKey, body: Any, body_size: int = 0) -> Task:
        """Validate, store, submit upstream and record the upstream id.

        A request the upstream refuses leaves nothing behind in the store.
        """
        if body_size > _INLINE_IN_THREAD_BYTES:
            request = await asyncio.to_thread(parse_video_request, body)
        else:
            request = parse_video_request(body)
        now = datetime.now(UTC)
        task = await self._tasks.insert(self._new_task(key, request, now), now)
        try:
            upstream_id = await self._provider.submit(request)
        except UpstreamError:
            await self._tasks.delete_unsubmitted(task.id)
            raise
        except BaseException:
            # Cancelled mid-call: we cannot know whether the upstream took it. Leave the
            # task in `submitting`; the tracker settles stale submissions at start.
            raise
        now = datetime.now(UTC)
        submitted = await self._tasks.mark_submitted(
            task.id, upstream_id, now + timedelta(seconds=self._schedule.delay(0)), now
        )
        if submitted is None:  # settled by someone else meanwhile (e.g. cancelled)
            submitted = await self._tasks.get_by_id(task.id)
            assert submitted is not None
        if self._on_submitted is not None:
            self._on_submitted()
        return submitted

    def _new_task(self, key: ApiKey, request: VideoRequest, now: datetime) -> NewTask:
        return NewTask(
            platform_id=new_platform_id(),
            account_id=key.account_id,
            api_key_id=key.id,
            model=request.model,
            mode=request.mode.value,
            channel=self._provider.name,
            request=request.summary(),
            duration=request.duration,
            resolution=request.resolution,
            price=0,
            callback_url=request.callback_url,
            deadline_at=now + self._deadline,
        )

    async def get(self, account_id: int, any_id: str) -> Task:
        """The account's task by either id; a foreign id reads exactly like a missing one."""
        task = await self._tasks.get(account_id, any_id.strip()) if any_id else None
        if task is None:
            raise NotFound(TASK_NOT_FOUND)
        return task

    async def by_file(self, account_id: int, file_id: str) -> Task:
        task = await self._tasks.get_by_file(account_id, file_id.strip()) if file_id else None
        if task is None or task.file is None:
            raise NotFound(FILE_NOT_FOUND)
        return task
