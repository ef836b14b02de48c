"""The sandbox's behaviour: accounts, creating tasks, their status over time, files."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from reelgate.domain import signing
from reelgate.domain.images import MAX_IMAGE_BYTES, decode_data_url, inspect_image
from reelgate.domain.requests import ImageInput, parse_video_request
from reelgate.domain.tasks import UpstreamStatus
from reelgate.errors import InvalidApiKey, NotFound, Unauthorized
from reelgate.sandbox.pool import RenderPool
from reelgate.sandbox.render import RenderRequest, output_size
from reelgate.sandbox.state import SandboxState, SandboxTask, new_numeric_id
from reelgate.sandbox.timeline import Timeline
from reelgate.urlguard import fetch

log = logging.getLogger(__name__)

TASK_NOT_FOUND = "invalid params, task not found"
FILE_NOT_FOUND = "invalid params, file not found"


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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.timeline = timeline
        # each key is its own account, as on the real service; only hashes are kept
        self._accounts = {_hash(k): _hash(k)[:12] for k in api_keys}
        self._client = client
        self._pool = pool
        self._allow_private = allow_private_urls
        self._url_ttl = url_ttl_s
        self._clock = clock
        self._secret = state.secret()
        self._renders: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Carry on with the tasks that were rendering when the sandbox last stopped."""
        for task in self.state.all():
            if not task.rendered and not task.fail_code:
                self._schedule(task)

    async def close(self) -> None:
        for job in list(self._renders):
            job.cancel()
        await asyncio.gather(*self._renders, return_exceptions=True)
        self._pool.close()

    def account_for(self, token: str | None) -> str:
        if token is None:
            raise Unauthorized("authorization header is missing or not 'Bearer <API key>'")
        account = self._accounts.get(_hash(token))
        if account is None:
            raise InvalidApiKey("invalid api key")
        return account

    async def create(self, account: str, body: Any) -> SandboxTask:
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
            info = inspect_image(images["first"], "first_frame_image")
            first_size = (info.width, info.height)
        elif "last" in images:
            info = inspect_image(images["last"], "last_frame_image")
            first_size = (info.width, info.height)
        width, height = output_size(request.resolution, first_size)
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
        )
        self.state.save(task)
        self._schedule(task)
        return task

    async def _image_bytes(self, image: ImageInput, name: str) -> bytes:
        if image.is_inline:
            return decode_data_url(image.value, name)
        data = await fetch(
            self._client, image.value, allow_private=self._allow_private, max_bytes=MAX_IMAGE_BYTES
        )
        inspect_image(data, name)
        return data

    def _schedule(self, task: SandboxTask) -> None:
        job = asyncio.get_running_loop().create_task(self._render(task))
        self._renders.add(job)
        job.add_done_callback(self._renders.discard)

    async def _render(self, task: SandboxTask) -> None:
        request = RenderRequest(
            mode=task.mode,
            prompt=task.prompt,
            width=task.width,
            height=task.height,
            duration=task.duration,
            first_frame=self._input(task, "first"),
            last_frame=self._input(task, "last"),
            subject=self._input(task, "subject"),
        )
        try:
            task.bytes = await self._pool.render(request, self.state.video_path(task))
            task.rendered = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a render bug must fail the task, not hang it
            log.exception("sandbox render of task %s failed", task.task_id)
            task.fail_code, task.fail_message = 1013, f"internal service error: {exc}"
        self.state.save(task)

    def _input(self, task: SandboxTask, role: str) -> bytes | None:
        name = task.inputs.get(role)
        return self.state.read_input(name) if name else None

    def status(self, task: SandboxTask) -> UpstreamStatus:
        if task.fail_code:
            return UpstreamStatus.FAIL
        return self.timeline.status_at(self._clock() - task.created_at, task.rendered)

    def task(self, account: str, task_id: str) -> SandboxTask:
        task = self.state.get(task_id)
        if task is None or task.account != account:
            raise NotFound(TASK_NOT_FOUND)
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
        if task is None or task.account != account or self.status(task) != UpstreamStatus.SUCCESS:
            raise NotFound(FILE_NOT_FOUND)
        return task

    def retrieve(self, account: str, file_id: str, base_url: str) -> dict[str, Any]:
        task = self.file(account, file_id)
        expires = int(self._clock()) + self._url_ttl
        sig = signing.sign(self._secret, task.file_id, expires)
        return {
            "file_id": int(task.file_id),
            "bytes": task.bytes,
            "created_at": int(task.created_at),
            "filename": "output.mp4",
            "purpose": "video_generation",
            "download_url": (
                f"{base_url.rstrip('/')}/v1/files/download/{task.file_id}.mp4"
                f"?expires={expires}&sig={sig}"
            ),
        }

    def signed_video(self, file_id: str, expires: int, sig: str) -> Path | None:
        task = self.state.by_file(file_id)
        if task is None or not task.rendered:
            return None
        if not signing.verify(self._secret, file_id, expires, sig, self._clock()):
            return None
        return self.state.video_path(task)

    def video_path(self, task: SandboxTask) -> Path:
        return self.state.video_path(task)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
