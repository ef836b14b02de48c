"""The sandbox's behaviour: accounts, creating tasks, their status over time, files."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from reelgate.domain.images import (
    MAX_IMAGE_BYTES,
    decode_data_url,
    in_decoder,
    inspect_image,
    probe_image,
)
from reelgate.domain.tasks import UpstreamStatus
from reelgate.domain.video import Media
from reelgate.errors import InvalidApiKey, NotFound, Unauthorized
from reelgate.sandbox.callbacks import CALLBACK_STATUS, Callbacks
from reelgate.sandbox.faults import (
    FAIL_MIDWAY_CODE,
    FAIL_MIDWAY_MESSAGE,
    NO_FAULTS,
    CallFaults,
    FaultKind,
    FaultPlan,
    Faults,
)
from reelgate.sandbox.files import Files
from reelgate.sandbox.pool import RenderPool
from reelgate.sandbox.ratelimit import RateLimiter
from reelgate.sandbox.render import RenderRequest, output_size
from reelgate.sandbox.requestlog import RequestLog
from reelgate.sandbox.state import SandboxState, SandboxTask, new_numeric_id
from reelgate.sandbox.timeline import Timeline
from reelgate.sandbox.v2_media import render_request
from reelgate.sandbox.v2_view import task_json
from reelgate.surfaces.minimax_v1.requests import has_inline_image, parse_video_request
from reelgate.urlguard import fetch

log = logging.getLogger(__name__)

TASK_NOT_FOUND = "invalid params, task not found"
FILE_NOT_FOUND = "invalid params, file not found"


class TaskForgotten(NotFound):
    """A task an injected ``forget`` fault dropped: it reads exactly like an unknown one."""


class Sandbox:
    def __init__(
        self,
        *,
        state: SandboxState,
        timeline: Timeline,
        api_keys: list[str],
        client: httpx.AsyncClient,
        pool: RenderPool,
        allow_private_urls: bool = False,
        url_ttl_s: int = 3600,
        rpm: int | None = None,
        faults: FaultPlan | None = None,
        render_mode: str = "full",
        clock: Callable[[], float] = time.time,
    ) -> None:
        # "stub": every task gets one tiny shared clip instead of its own render, so that
        # load tests can keep thousands of tasks in flight on a small machine
        self._render_mode = render_mode
        self._stub_lock = asyncio.Lock()
        self.state = state
        self.timeline = timeline
        # each key is its own account, as on the real service; only hashes are kept
        self._accounts = {_hash(k): _hash(k)[:12] for k in api_keys}
        self.client = client
        self._pool = pool
        self.allow_private = allow_private_urls
        self._clock = clock
        self.files = Files(state, url_ttl_s=url_ttl_s, clock=clock)
        self._renders: set[asyncio.Task[None]] = set()
        self.limiter = RateLimiter(rpm)
        self.faults = Faults(faults)
        self.requests = RequestLog()
        self.callbacks = Callbacks(
            client=client,
            state=state,
            requests=self.requests,
            allow_private=allow_private_urls,
            clock=clock,
        )

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    async def start(self) -> None:
        """Carry on with the renders and callback pushes the sandbox left when it stopped."""
        for task in self.state.all():
            if self._needs_render(task):
                self._schedule(task)
        self.callbacks.start(self)

    async def close(self) -> None:
        await self.callbacks.close()
        for job in list(self._renders):
            job.cancel()
        await asyncio.gather(*self._renders, return_exceptions=True)
        await asyncio.to_thread(self.state.close)  # the records saved so far reach the disk
        self._pool.close()
        await self.client.aclose()

    def use_api_keys(self, api_keys: list[str]) -> None:
        """Replace the keys accepted: the mounted sandbox learns its (stored) key only once
        the gateway has opened its store, after the app was built."""
        self._accounts = {_hash(k): _hash(k)[:12] for k in api_keys}

    def account_for(self, token: str | None) -> str:
        if token is None:
            raise Unauthorized("authorization header is missing or not 'Bearer <API key>'")
        account = self._accounts.get(_hash(token))
        if account is None:
            raise InvalidApiKey("invalid api key")
        return account

    async def create(self, account: str, body: Any, call: CallFaults = NO_FAULTS) -> SandboxTask:
        """Validate, check the callback URL, keep the inputs and start the task.

        ``call`` carries the faults the plan decided for this create (kept in the record).
        """
        # images are checked on their header, then decoded, never on the event loop
        if has_inline_image(body):
            request = await in_decoder(parse_video_request, body)
        else:
            request = parse_video_request(body)
        task_id = new_numeric_id()
        images = {
            role: await self._image_bytes(img, name)
            for role, img, name in (
                ("first", request.first_frame, "first_frame_image"),
                ("last", request.last_frame, "last_frame_image"),
                ("subject", request.subject, "subject_reference image"),
            )
            if img is not None
        }
        first_size = None
        if "first" in images:
            info = probe_image(images["first"], "first_frame_image")  # checked already
            first_size = (info.width, info.height)
        elif "last" in images:
            info = probe_image(images["last"], "last_frame_image")
            first_size = (info.width, info.height)
        width, height = output_size(request.resolution, first_size)
        if request.callback_url:
            await self.callbacks.verify(request.callback_url)  # no task unless it answers
        task = SandboxTask(
            task_id=task_id,
            account=account,
            model=request.model,
            mode=request.mode.value,
            prompt=request.prompt,
            duration=request.duration,
            resolution=request.resolution,
            width=width,
            height=height,
            created_at=self._clock(),
            file_id=new_numeric_id(),
            inputs={role: self.state.write_input(task_id, role, b) for role, b in images.items()},
            callback_url=request.callback_url,
            faults=[k.value for k in call.task],
        )
        if FaultKind.FAIL_MIDWAY in task.faults:
            task.fail_code, task.fail_message = FAIL_MIDWAY_CODE, FAIL_MIDWAY_MESSAGE
        self.begin(task)
        return task

    def begin(self, task: SandboxTask) -> None:
        """Keep a new task (v1 or v2), start its render, and its callback pushes."""
        self.state.save(task, new=True)
        if self._needs_render(task):
            self._schedule(task)
        self.callbacks.track(task)

    async def _image_bytes(self, image: Media, name: str) -> bytes:
        if image.is_inline:
            return decode_data_url(image.source, name)
        data = await fetch(
            self.client, image.source, allow_private=self.allow_private, max_bytes=MAX_IMAGE_BYTES
        )
        await in_decoder(inspect_image, data, name)
        return data

    @staticmethod
    def _needs_render(task: SandboxTask) -> bool:
        # a task doomed by an injected fault (or cancelled) never gets a video: none drawn
        doomed = task.fail_code or task.cancelled_at or FaultKind.FORGET in task.faults
        return not task.rendered and not doomed

    def _schedule(self, task: SandboxTask) -> None:
        job = asyncio.get_running_loop().create_task(self._render(task))
        self._renders.add(job)
        job.add_done_callback(self._renders.discard)

    async def _render(self, task: SandboxTask) -> None:
        if task.api == "v2":
            request = render_request(task, self.state.read_input)
        else:
            request = self._v1_render_request(task)
        try:
            if self._render_mode == "stub":
                task.bytes = await self._copy_stub(self.state.video_path(task))
            else:
                task.bytes = await self._pool.render(request, self.state.video_path(task))
            task.rendered = True
            task.rendered_at = self._clock()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a render bug must fail the task, not hang it
            log.exception("sandbox render of task %s failed", task.task_id)
            task.fail_code, task.fail_message = 1013, f"internal service error: {exc}"
            task.rendered_at = self._clock()  # when it failed (v2's updated_at)
        self.state.save(task)
        self.callbacks.track(task)  # a status that waited for the render may be due now

    def _v1_render_request(self, task: SandboxTask) -> RenderRequest:
        return RenderRequest(
            mode=task.mode,
            prompt=task.prompt,
            width=task.width,
            height=task.height,
            duration=task.duration,
            first_frame=self._input(task, "first"),
            last_frame=self._input(task, "last"),
            subject=self._input(task, "subject"),
        )

    async def _copy_stub(self, out: Path) -> int:
        stub = self.state.dir / "stub.mp4"
        async with self._stub_lock:
            if not stub.exists():
                request = RenderRequest(
                    mode="t2v", prompt="stub", width=320, height=180, duration=1
                )
                await self._pool.render(request, stub)
        return await asyncio.to_thread(_copy, stub, out)

    def success_at(self, task: SandboxTask) -> float | None:
        """When the task turned (or will turn) Success, for measuring how late gateways
        notice; None if it has not been rendered or does not succeed."""
        if not task.rendered or task.fail_code or task.faults or task.cancelled_at:
            return None
        return max(task.created_at + self.timeline.total_s, task.rendered_at)

    def _input(self, task: SandboxTask, role: str) -> bytes | None:
        name = task.inputs.get(role)
        return self.state.read_input(name) if name else None

    # -- a task's life over time -----------------------------------------------------------

    def reached(self, task: SandboxTask) -> list[UpstreamStatus]:
        """The statuses the task has gone through so far, in order; the last is the current.

        An injected ``fail_midway`` turns the task to Fail halfway through Processing; a
        failed render turns it to Fail at once; a forgotten task stops where it vanished;
        a cancelled one (v2's DELETE, while queued) turned to Fail when it was cancelled.
        v2 shows one waiting status, not two: Queueing is left out of a v2 task's list,
        so that its callback pushes ``queued`` once.
        """
        passed = self._reached(task)
        if task.api == "v2":
            return [s for s in passed if s is not UpstreamStatus.QUEUEING]
        return passed

    def _reached(self, task: SandboxTask) -> list[UpstreamStatus]:
        elapsed = self._clock() - task.created_at
        if task.cancelled_at:
            elapsed = min(elapsed, task.cancelled_at - task.created_at)
            return [*self.timeline.reached(elapsed, task.rendered), UpstreamStatus.FAIL]
        if FaultKind.FORGET in task.faults:
            elapsed = min(elapsed, self.timeline.processing_at_s - 1e-9)
        passed = self.timeline.reached(elapsed, task.rendered)
        if FaultKind.FAIL_MIDWAY in task.faults:
            if elapsed >= self.timeline.midway_s:
                return [*passed, UpstreamStatus.FAIL]
            return passed
        if task.fail_code:
            return [*passed, UpstreamStatus.FAIL]
        return passed

    def next_change_at(self, task: SandboxTask) -> float | None:
        """When the task may reach its next status (the timeline's next step); None once
        only its render can move it on (the render wakes the pusher when it is done)."""
        elapsed = self._clock() - task.created_at
        steps = [self.timeline.preparing_s, self.timeline.processing_at_s, self.timeline.total_s]
        if FaultKind.FAIL_MIDWAY in task.faults:
            steps.append(self.timeline.midway_s)
        later = [step for step in steps if step > elapsed]
        return task.created_at + min(later) if later else None

    def status(self, task: SandboxTask) -> UpstreamStatus:
        return self.reached(task)[-1]

    def forgotten(self, task: SandboxTask) -> bool:
        """An injected ``forget``: the task vanishes when it would start Processing."""
        return (
            FaultKind.FORGET in task.faults
            and not task.cancelled_at
            and self._clock() - task.created_at >= self.timeline.processing_at_s
        )

    def settled(self, task: SandboxTask) -> bool:
        return self.forgotten(task) or self.status(task) in (
            UpstreamStatus.SUCCESS,
            UpstreamStatus.FAIL,
        )

    def push_body(self, task: SandboxTask, status: UpstreamStatus) -> dict[str, Any]:
        """A callback push: the query's shape (on success the video's size too, as the
        query gives it), with MiniMax's lowercase callback status. v2: the query's
        ``{"task": {...}}`` as it was at ``status``."""
        if task.api == "v2":
            return {"task": self.v2_task(task, task.base_url, status)}
        code, message = (0, "success")
        if status is UpstreamStatus.FAIL:
            code, message = task.fail_code, task.fail_message
        body: dict[str, Any] = {
            "task_id": task.task_id,
            "status": CALLBACK_STATUS[status],
            "file_id": task.file_id if status is UpstreamStatus.SUCCESS else "",
            "base_resp": {"status_code": code, "status_msg": message},
        }
        if status is UpstreamStatus.SUCCESS:
            body.update(video_width=task.width, video_height=task.height)
        return body

    def v2_task(
        self, task: SandboxTask, base_url: str, status: UpstreamStatus | None = None
    ) -> dict[str, Any]:
        """The v2 VideoTask, now or as it was at ``status``, its video URL freshly signed."""
        status = status or self.status(task)
        url = self.files.url(task, base_url) if status is UpstreamStatus.SUCCESS else None
        return task_json(task, status, self.timeline, url)

    def task(self, account: str, task_id: str) -> SandboxTask:
        task = self.state.get(task_id)
        if task is None or task.account != account or task.api != "v1":
            raise NotFound(TASK_NOT_FOUND)
        if self.forgotten(task):
            raise TaskForgotten(TASK_NOT_FOUND)
        return task

    def query(self, account: str, task_id: str) -> dict[str, Any]:
        task = self.task(account, task_id)
        status = self.status(task)
        out: dict[str, Any] = {"task_id": task.task_id, "status": status.value, "file_id": ""}
        if status is UpstreamStatus.SUCCESS:
            out.update(file_id=task.file_id, video_width=task.width, video_height=task.height)
        elif status is UpstreamStatus.FAIL:
            # MiniMax reports why a task failed in base_resp next to status "Fail"
            out["base_resp"] = {"status_code": task.fail_code, "status_msg": task.fail_message}
        return out

    def file(self, account: str, file_id: str) -> SandboxTask:
        task = self.state.by_file(file_id)
        if task is None or task.account != account or task.api != "v1":
            raise NotFound(FILE_NOT_FOUND)
        if self.status(task) != UpstreamStatus.SUCCESS:
            raise NotFound(FILE_NOT_FOUND)
        return task

    def retrieve(self, account: str, file_id: str, base_url: str) -> dict[str, Any]:
        return self.files.retrieve(self.file(account, file_id), base_url)

    def video_path(self, task: SandboxTask) -> Path:
        return self.state.video_path(task)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _copy(source: Path, out: Path) -> int:
    tmp = out.with_suffix(".tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, out)  # atomic, like a render
    return out.stat().st_size
