"""Creating tasks and looking them up, for the MiniMax surface and the platform API."""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from reelgate.domain.bounds import INT64_MAX
from reelgate.domain.channels import Channel
from reelgate.domain.ids import new_platform_id
from reelgate.domain.polling import PollSchedule
from reelgate.domain.pricing import PriceTable
from reelgate.domain.tasks import FailureReason, Task, TaskEvent, TaskStatus, UpstreamStatus
from reelgate.domain.video import VideoRequest
from reelgate.errors import (
    Conflict,
    Forbidden,
    InvalidParams,
    NotFound,
    ReelgateError,
    UpstreamRejected,
)
from reelgate.providers.base import Provider
from reelgate.services.callbacks import CallbackVerifier
from reelgate.services.channels import ChannelRouter
from reelgate.services.task_cache import TaskCache
from reelgate.services.upstream_callbacks import UpstreamCallbacks
from reelgate.store.accounts import ApiKey
from reelgate.store.tasks import NewTask, TaskFilter, TaskStore

log = logging.getLogger(__name__)

TASK_NOT_FOUND = "invalid params, task not found"
CANCELLED_MESSAGE = "the task was cancelled by the client"
MAX_PAGE = 200
_FINISHED_VERB = {
    TaskStatus.SUCCEEDED: "succeeded",
    TaskStatus.FAILED: "failed",
    TaskStatus.CANCELLED: "been cancelled",
}
FILE_NOT_FOUND = "invalid params, file not found"
_NOT_STARTED = (UpstreamStatus.PREPARING, UpstreamStatus.QUEUEING)


class TaskService:
    def __init__(
        self,
        *,
        tasks: TaskStore,
        router: ChannelRouter,
        callbacks: UpstreamCallbacks,
        verifier: CallbackVerifier,
        schedule: PollSchedule,
        deadline: timedelta,
        prices: PriceTable,
        cache: TaskCache | None = None,
        on_submitted: Any = None,
        on_deleted: Callable[[Task], Awaitable[None]] | None = None,
    ) -> None:
        self._cache = cache
        self._tasks = tasks
        self._router = router
        self._callbacks = callbacks
        self._verifier = verifier
        self._schedule = schedule
        self._deadline = deadline
        self._prices = prices
        self._on_submitted = on_submitted  # wakes the tracker
        self._on_deleted = on_deleted  # removes the video's copy

    async def create(
        self, key: ApiKey, request: VideoRequest, deadline_s: float | None = None
    ) -> Task:
        """Check the key's models, price, reserve, store, submit upstream and record the
        upstream id, for a request a surface has parsed and validated.

        A model the key may not use, a missing balance or a full in-flight limit are
        refused before anything is stored or sent. An upstream refusal fails the task
        and releases its reservation.
        """
        if key.models is not None and request.model not in key.models:
            raise Forbidden(
                f"this API key may not use {request.model}; it may use: "
                f"{', '.join(key.models) or 'no model'}"
            )
        price = self._prices.quote(request)
        if request.callback_url is not None:
            # MiniMax's handshake, before anything is stored or charged
            await self._verifier.verify(request.callback_url)
        now = datetime.now(UTC)
        deadline = self._deadline
        if deadline_s is not None:
            deadline = min(deadline, timedelta(seconds=deadline_s))
        task = await self._tasks.insert(self._new_task(key, request, price, now + deadline), now)
        callback_url = self._callbacks.url_for(task.platform_id)

        async def submit(channel: Channel, provider: Provider) -> str:
            return await provider.submit(request, callback_url)

        try:
            channel, upstream_id = await self._router.submit(request.model, submit, key.account_id)
        except ReelgateError as exc:
            await self._tasks.mark_refused(task.id, exc.code, exc.message, datetime.now(UTC))
            raise
        # Cancelled mid-call (BaseException): we cannot know whether the upstream took it.
        # The task stays `submitting`; the tracker's sweep settles and refunds it.
        now = datetime.now(UTC)
        # the first poll is paced like every other (see Tracker): a burst of submits must
        # not become a burst of polls
        pace = self._router.poll_pace(channel.name, self._schedule.budget_share)
        submitted = await self._tasks.mark_submitted(
            task.id,
            upstream_id,
            now + timedelta(seconds=self._schedule.delay(0, at_least=pace)),
            now,
            channel=channel.name,
            upstream_callback=callback_url is not None,
        )
        if submitted is None:  # settled meanwhile (its deadline passed): say so, with its ids
            await self._tasks.note_upstream_id(task.id, upstream_id, channel.name)
            submitted = await self._tasks.get_by_id(task.id)
            assert submitted is not None
        if self._on_submitted is not None:
            self._on_submitted()
        return submitted

    def _new_task(
        self, key: ApiKey, request: VideoRequest, price: int, deadline_at: datetime
    ) -> NewTask:
        return NewTask(
            platform_id=new_platform_id(),
            account_id=key.account_id,
            api_key_id=key.id,
            model=request.model,
            mode=request.mode.value,
            channel="",  # known once a channel has taken it
            request=request.summary(),
            duration=request.duration,
            resolution=request.resolution,
            price=price,
            callback_url=request.callback_url,
            deadline_at=deadline_at,
            ratio=request.ratio,
            max_in_flight=key.max_in_flight,
            account_max_in_flight=key.account_max_in_flight,
        )

    async def get(self, account_id: int, any_id: str) -> Task:
        """The account's task by either id; a foreign id reads exactly like a missing one."""
        any_id = any_id.strip()
        if not any_id:  # a missing id is a bad request, not a task that is not there
            raise InvalidParams("invalid params, task_id is required")
        task = self._cache.get(account_id, any_id) if self._cache else None
        if task is None:
            task = await self._tasks.get(account_id, any_id)
            if task is None:
                raise NotFound(TASK_NOT_FOUND)
            if self._cache is not None:
                self._cache.put(account_id, any_id, task)
        return task

    async def list_page(
        self, account_id: int, filters: TaskFilter, cursor: str | None, limit: int
    ) -> tuple[list[Task], str | None]:
        """A page of the account's tasks, newest first, and the cursor of the next page."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidParams(f"limit must be between 1 and {MAX_PAGE}")
        before = _decode_cursor(cursor) if cursor else None
        page = await self._tasks.list_for_account(account_id, filters, before, limit + 1)
        more = len(page) > limit
        page = page[:limit]
        return page, (_encode_cursor(page[-1].id) if more else None)

    async def list_after(
        self, account_id: int, after: str | None, limit: int, *, ascending: bool = False
    ) -> tuple[list[Task], bool]:
        """A page of the account's tasks that follow the task ``after`` (its platform id,
        deleted or not), newest first or ``ascending``, and whether more follow: the
        paging of OpenAI's list (``after=<last id>``)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidParams(f"limit must be between 1 and {MAX_PAGE}")
        start = None
        if after is not None:
            start = await self._tasks.position(account_id, after)
            if start is None:
                raise InvalidParams(f"after: {after!r} is not a task of this account")
        page = await self._tasks.list_for_account(
            account_id,
            TaskFilter(),
            None if ascending else start,
            limit + 1,
            after_id=start if ascending else None,
            ascending=ascending,
        )
        return page[:limit], len(page) > limit

    async def numbered_page(
        self, account_id: int, filters: TaskFilter, offset: int, limit: int
    ) -> tuple[list[Task], int]:
        """A page by position (MiniMax v2's ``page_num``) and how many match in all."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidParams(f"invalid params, page_size must be between 1 and {MAX_PAGE}")
        page = await self._tasks.list_for_account(account_id, filters, None, limit, offset)
        return page, await self._tasks.count_for_account(account_id, filters)

    async def cancel(self, account_id: int, any_id: str, *, upstream: bool = False) -> Task:
        """Cancel an unfinished task and refund it; a finished one is a conflict.

        ``upstream``: as MiniMax v2's DELETE, only a task the upstream has not started,
        and the upstream cancels it too (it charges nothing then); a task it has started
        is a conflict. Without it the gateway stops following the task and refunds it,
        whatever the upstream does with it."""
        task = await self.get(account_id, any_id)
        if upstream and not task.status.terminal:
            await self._cancel_upstream(task)
        if not task.status.terminal:
            done = await self._tasks.record_failure(
                task.id,
                None,
                CANCELLED_MESSAGE,
                datetime.now(UTC),
                reason=FailureReason.CANCELLED,
                status=TaskStatus.CANCELLED,
            )
            if done is not None:
                return done
            # it finished while we were deciding: report how
            task = await self.get(account_id, any_id)
        raise Conflict(
            f"task {task.platform_id} has already {_FINISHED_VERB[task.status]} and cannot be "
            "cancelled"
        )

    async def _cancel_upstream(self, task: Task) -> None:
        """Cancel at the upstream a task that has not started there, or refuse.

        The upstream is asked first: the gateway's view may lag (it learns of changes at
        its next poll), and MiniMax's DELETE on a task that has finished deletes its
        record, video and all. Between that query and the DELETE the task may still
        start (the DELETE is then refused: running) or, within those milliseconds,
        finish: a window the upstream's API leaves open."""
        refusal = Conflict(
            f"invalid params, task {task.upstream_task_id or task.platform_id} has started "
            "and can no longer be cancelled"
        )
        if task.status is TaskStatus.RUNNING:
            raise refusal
        if task.upstream_task_id is None:
            return  # not at the upstream yet: nothing runs there
        provider = self._router.provider(task.channel)
        try:
            now = await provider.query(task.upstream_task_id, task.model)
            if now.status not in _NOT_STARTED:
                raise refusal
            cancelled = await provider.cancel(task.upstream_task_id, task.model)
        except UpstreamRejected:
            raise refusal from None
        if not cancelled:
            raise refusal

    async def delete(self, account_id: int, any_id: str) -> Task:
        """Delete a finished task's record (and the gateway's copy of its video): gone
        from every view of the account after this. An unfinished task is a conflict
        (cancel it first); the ledger keeps what it cost."""
        task = await self.get(account_id, any_id)
        if not task.status.terminal:
            raise Conflict(
                f"task {task.platform_id} is {task.status.public} and cannot be deleted "
                "until it finishes; cancel it first"
            )
        deleted = await self._tasks.mark_deleted(account_id, task.id, datetime.now(UTC))
        if self._cache is not None:
            self._cache.invalidate(task.id)
        if deleted is None:  # deleted meanwhile by another request: as if never there
            raise NotFound(TASK_NOT_FOUND)
        if self._on_deleted is not None:
            await self._on_deleted(deleted)
        return deleted

    async def events(self, task: Task, after_seq: int) -> list[TaskEvent]:
        return await self._tasks.events(task.id, after_seq)

    async def for_signed_link(self, platform_id: str) -> Task | None:
        """Any account's task by its ``platform_id``, for a download link whose signature
        (FileService.verify) was checked: the signature stands in for the account."""
        return await self._tasks.get_by_platform_id(platform_id)

    async def by_file(self, account_id: int, file_id: str) -> Task:
        file_id = file_id.strip()
        if not file_id:
            raise InvalidParams("invalid params, file_id is required")
        task = await self._tasks.get_by_file(account_id, file_id)
        if task is None or task.file is None:
            raise NotFound(FILE_NOT_FOUND)
        return task


def _encode_cursor(task_id: int) -> str:
    return base64.urlsafe_b64encode(f"t{task_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        # only what _encode_cursor gives out: the digits of a row id the store can hold
        # (int() alone also takes signs, spaces, "_" and numbers past 64 bits; those last
        # failed in the store with a 500)
        digits = raw[1:]
        if not raw.startswith("t") or not digits.isascii() or not digits.isdigit():
            raise ValueError(raw)
        task_id = int(digits)
        if task_id > INT64_MAX:
            raise ValueError(raw)
        return task_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidParams("cursor is not one this API gave out") from None
