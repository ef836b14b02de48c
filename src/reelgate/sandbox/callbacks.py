"""``callback_url`` as MiniMax does it: the challenge at create, then a push per status.

1. At create the sandbox POSTs ``{"challenge": "<random>"}``; the receiver must answer
   HTTP 200 with the same value as JSON (``{"challenge": ...}``) within 3 seconds, or the
   create fails with 2013 "invalid params, fail to check callback url" and no task is made.
   The challenge and its messages are the domain's (domain/webhooks.py), shared with the
   gateway, so the two answer alike.
2. Afterwards a background loop notices each status a task reaches and POSTs a
   query-shaped body ``{task_id, status, file_id, base_resp}`` for it (on success also
   ``video_width``/``video_height``), in order for each task, with lowercase statuses:
   ``preparing``, ``queueing``, ``processing``, ``success``, ``failed``. (A v2 task's
   body is v2's query, ``{"task": {...}}``: ``Sandbox.push_body`` builds it.) A push counts
   as delivered on any 2xx; it is tried three times, then given up. What was sent is
   kept in the task record (``pushed``), so a restarted sandbox goes on where it stopped;
   stopping lets a push in flight finish first, so a status is sent twice only if it was
   cut off mid-call.

The loop does not scan every task at a tick: the timeline is time based, so it keeps a
heap of when each task's status changes next, sleeps until the earliest (or until a new
task or a finished render wakes it) and pushes at once. Pushes to many tasks go out
concurrently, at most ``PUSH_CONCURRENCY`` at a time, so that a thousand tasks turning at
once do not pile a thousand requests onto the HTTP client's connection pool.

This module is the sandbox's outbound HTTP edge, so it catches httpx errors itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from reelgate.domain.tasks import UpstreamStatus
from reelgate.domain.webhooks import (
    CHALLENGE_HEADERS,
    CHALLENGE_TIMEOUT_S,
    challenge_body,
    challenge_failed,
    check_challenge_answer,
    new_challenge,
    no_answer,
)
from reelgate.errors import InvalidParams
from reelgate.sandbox.requestlog import LogEntry, RequestLog
from reelgate.sandbox.state import SandboxState, SandboxTask
from reelgate.urlguard import BlockedUrl, Resolve, send, system_resolve

log = logging.getLogger(__name__)

PUSH_TIMEOUT_S = 5.0
PUSH_BACKOFF_S = (0.5, 2.0)  # waits between the three attempts of one push
TICK_S = 0.1  # how soon a task whose next status cannot be foreseen is looked at again
PUSH_CONCURRENCY = 32  # pushes in flight at once, all tasks together
IDLE_S = 1.0  # the longest the loop sleeps without being woken
CLOSE_GRACE_S = 2.0  # how long stopping waits for a push in flight

CALLBACK_STATUS = {
    UpstreamStatus.PREPARING: "preparing",
    UpstreamStatus.QUEUEING: "queueing",
    UpstreamStatus.PROCESSING: "processing",
    UpstreamStatus.SUCCESS: "success",
    UpstreamStatus.FAIL: "failed",
}


class CallbackCheckFailed(InvalidParams):
    """invalid params, fail to check callback url"""


class PushSource(Protocol):
    """What the pusher needs to know about a task's life (the Sandbox provides it)."""

    def reached(self, task: SandboxTask) -> list[UpstreamStatus]:
        """The statuses the task has reached so far, in order."""
        ...

    def settled(self, task: SandboxTask) -> bool:
        """True when no further status will come (finished, or forgotten)."""
        ...

    def next_change_at(self, task: SandboxTask) -> float | None:
        """When the task may reach its next status; None when that cannot be foreseen
        (it waits for its render, which wakes the pusher when done)."""
        ...

    def push_body(self, task: SandboxTask, status: UpstreamStatus) -> dict[str, Any]: ...


class Callbacks:
    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        state: SandboxState,
        requests: RequestLog,
        allow_private: bool,
        clock: Callable[[], float] = time.time,
        concurrency: int = PUSH_CONCURRENCY,
        resolve: Resolve = system_resolve,
    ) -> None:
        self._client = client
        self._resolve = resolve
        self._state = state
        self._requests = requests
        self._allow_private = allow_private
        self._clock = clock
        self._due: list[tuple[float, str]] = []  # (when to look at a task, its id): a heap
        self._active: dict[str, asyncio.Task[None]] = {}
        self._loop: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)

    async def verify(self, url: str) -> None:
        """The challenge handshake; raises CallbackCheckFailed (2013) with the reason."""
        entry = LogEntry(self._clock(), "POST", url, "callback_challenge")
        try:
            await self._verify(url, entry)
        except CallbackCheckFailed as exc:
            entry.code = exc.code
            raise
        finally:
            entry.duration_s = self._clock() - entry.t
            self._requests.add(entry)

    async def _verify(self, url: str, entry: LogEntry) -> None:
        value = new_challenge()
        try:
            async with asyncio.timeout(CHALLENGE_TIMEOUT_S):
                # resolved once, checked, and sent to the checked address
                resp = await send(
                    self._client,
                    "POST",
                    url,
                    allow_private=self._allow_private,
                    resolve=self._resolve,
                    content=challenge_body(value),
                    headers=CHALLENGE_HEADERS,
                )
        except BlockedUrl as exc:
            raise CallbackCheckFailed(challenge_failed(exc.message)) from None
        except (TimeoutError, httpx.TimeoutException):
            raise CallbackCheckFailed(challenge_failed(no_answer(CHALLENGE_TIMEOUT_S))) from None
        except httpx.HTTPError as exc:
            raise CallbackCheckFailed(challenge_failed(exc.__class__.__name__)) from None
        entry.http_status = resp.status_code
        reason = check_challenge_answer(resp.status_code, resp.content, value)
        if reason is not None:
            raise CallbackCheckFailed(challenge_failed(reason))
        entry.code = 0

    # -- pushes ---------------------------------------------------------------------------

    def start(self, source: PushSource) -> None:
        """Run the push loop; pick up the pushes a previous run left unsent."""
        now = self._clock()
        for task in self._state.all():
            if task.callback_url and (not source.settled(task) or self._unsent(source, task)):
                heapq.heappush(self._due, (now, task.task_id))
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop().create_task(self._run(source), name="callbacks")

    def track(self, task: SandboxTask) -> None:
        """Look at the task now: it is new, or something besides time changed it."""
        if task.callback_url:
            self._look_at(task.task_id, self._clock())

    def _look_at(self, task_id: str, when: float) -> None:
        heapq.heappush(self._due, (when, task_id))
        if self._due[0][1] == task_id:  # sooner than the loop meant to wake up
            self._wake.set()

    async def close(self) -> None:
        """Stop; a push in flight gets CLOSE_GRACE_S to finish and be recorded."""
        self._stop.set()
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None
        jobs = list(self._active.values())
        if jobs:
            await asyncio.wait(jobs, timeout=CLOSE_GRACE_S)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    @staticmethod
    def _unsent(source: PushSource, task: SandboxTask) -> list[UpstreamStatus]:
        if not task.callback_url:
            return []
        return [s for s in source.reached(task) if CALLBACK_STATUS[s] not in task.pushed]

    async def _run(self, source: PushSource) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._round(source)
            except Exception:  # the loop must outlive any one bad record
                log.exception("callback round failed")
            wait = IDLE_S
            if self._due:
                wait = min(wait, max(0.0, self._due[0][0] - self._clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _round(self, source: PushSource) -> None:
        """Start the pushes that are due; note when to look at each task again."""
        now = self._clock()
        while self._due and self._due[0][0] <= now:
            _, task_id = heapq.heappop(self._due)
            if task_id in self._active:  # its job looks again when it is done
                continue
            task = self._state.get(task_id)
            if task is None:
                continue
            due = self._unsent(source, task)
            if due:
                job = asyncio.get_running_loop().create_task(
                    self._send(source, task, due), name=task_id
                )
                self._active[task_id] = job
                job.add_done_callback(self._finished)
            elif not source.settled(task):
                when = source.next_change_at(task)
                # never at or before now: the round would take it again and never end
                heapq.heappush(self._due, (max(now + 1e-3, when or now + TICK_S), task_id))

    def _finished(self, job: asyncio.Task[None]) -> None:
        task_id = job.get_name()
        self._active.pop(task_id, None)
        if not self._stop.is_set():
            self._look_at(task_id, self._clock())  # a status may have come meanwhile

    async def _send(
        self, source: PushSource, task: SandboxTask, statuses: list[UpstreamStatus]
    ) -> None:
        assert task.callback_url is not None
        for status in statuses:
            if self._stop.is_set():
                return
            delivered = await self._push(task.callback_url, source.push_body(task, status))
            if not delivered:
                log.warning("gave up pushing %s of task %s", status.value, task.task_id)
            task.pushed.append(CALLBACK_STATUS[status])
            self._state.save(task)

    async def _push(self, url: str, body: dict[str, Any]) -> bool:
        for attempt in range(len(PUSH_BACKOFF_S) + 1):
            if attempt:
                await asyncio.sleep(PUSH_BACKOFF_S[attempt - 1])
            async with self._slots:
                shown = body.get("task", body)  # v2 wraps the task: {"task": {"id", ...}}
                task_id = shown.get("task_id", shown.get("id"))
                entry = LogEntry(self._clock(), "POST", url, "callback_push", task_id=task_id)
                entry.task_status = shown["status"]
                try:
                    async with asyncio.timeout(PUSH_TIMEOUT_S):
                        resp = await send(
                            self._client,
                            "POST",
                            url,
                            allow_private=self._allow_private,
                            resolve=self._resolve,
                            json=body,
                        )
                    entry.http_status = resp.status_code
                except (InvalidParams, TimeoutError, httpx.HTTPError) as exc:
                    log.info("callback push to %s failed: %s", url, exc.__class__.__name__)
                finally:
                    entry.duration_s = self._clock() - entry.t
                    self._requests.add(entry)
            if 200 <= entry.http_status < 300:
                return True
        return False
