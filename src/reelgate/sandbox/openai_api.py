"""OpenAI's videos API in the sandbox, so that a client written for ``/v1/videos`` can be
developed offline: create, retrieve, list, delete and content, over the sandbox's own
tasks (``docs/openai.md``, "The sandbox").

A create is parsed by the gateway's own parser (``surfaces/openai/requests.py``: the same
sizes, durations and refusals), then made as the sandbox's MiniMax task of the model's
wire (v1, or v2 for MiniMax-H3): it has that task's timeline, render and download URL. Its
id is ``video_<task id>``. Only tasks made here are shown here (``extra["openai"]``); the
faults the sandbox injects into MiniMax's endpoints are not injected here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reelgate.domain import upstream_codes
from reelgate.domain.catalog import MODELS, Api
from reelgate.domain.images import in_decoder
from reelgate.domain.tasks import UpstreamStatus
from reelgate.domain.video import VideoRequest
from reelgate.errors import NotFound
from reelgate.sandbox.faults import NO_FAULTS
from reelgate.sandbox.service import Sandbox
from reelgate.sandbox.state import SandboxTask
from reelgate.sandbox.v2 import V2Api
from reelgate.sandbox.v2_view import changed_at
from reelgate.surfaces.openai.requests import BadParam, has_inline_image, parse_openai_request
from reelgate.surfaces.openai.schemas import Video, VideoError, dump
from reelgate.surfaces.openai.wire import CANCELLED_CODE

ID_PREFIX = "video_"
MARK = "openai"  # in SandboxTask.extra: made through this API
_STATUS = {
    UpstreamStatus.PREPARING: "queued",
    UpstreamStatus.QUEUEING: "queued",
    UpstreamStatus.PROCESSING: "in_progress",
    UpstreamStatus.SUCCESS: "completed",
    UpstreamStatus.FAIL: "failed",
}
_PROGRESS = {"queued": 0, "in_progress": 50, "completed": 100, "failed": 0}
WAITING_POLL_MS = 500  # no step of the timeline is due: the render will move it on
MIN_POLL_MS = 100


def native_body(request: VideoRequest) -> dict[str, Any]:
    """The MiniMax create body (v1 or v2) of a parsed OpenAI request."""
    if MODELS[request.model].api is Api.MINIMAX_V2:
        content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
        for m in request.media:
            content.append(
                {"type": "image_url", "image_url": {"url": m.source}, "role": m.role.value}
            )
        body: dict[str, Any] = {
            "model": request.model,
            "content": content,
            "resolution": request.resolution,
            "duration": request.duration,
        }
        if "ratio" in request.explicit:
            body["ratio"] = request.ratio
    else:
        body = {
            "model": request.model,
            "prompt": request.prompt,
            "duration": request.duration,
            "resolution": request.resolution,
        }
        if request.first_frame is not None:
            body["first_frame_image"] = request.first_frame.source
        if request.subject is not None:
            body["subject_reference"] = [{"type": "character", "image": [request.subject.source]}]
    if request.callback_url:
        body["callback_url"] = request.callback_url
    return body


class OpenAIVideos:
    def __init__(self, sandbox: Sandbox, v2: V2Api) -> None:
        self._sandbox = sandbox
        self._v2 = v2

    async def create(self, account: str, body: Any, base_url: str) -> dict[str, Any]:
        if has_inline_image(body):
            request = await in_decoder(parse_openai_request, body)
        else:
            request = parse_openai_request(body)
        native = native_body(request)
        if MODELS[request.model].api is Api.MINIMAX_V2:
            task = await self._v2.create(account, native, NO_FAULTS, base_url)
        else:
            task = await self._sandbox.create(account, native)
        task.extra[MARK] = True
        self._sandbox.state.save(task)
        return self.video(task)

    def task(self, account: str, video_id: str) -> SandboxTask:
        task = self._sandbox.state.get(video_id.removeprefix(ID_PREFIX))
        if (
            not video_id.startswith(ID_PREFIX)
            or task is None
            or task.account != account
            or not task.extra.get(MARK)
        ):
            raise NotFound(f"No video found with id '{video_id}'.")
        return task

    def video(self, task: SandboxTask) -> dict[str, Any]:
        sandbox = self._sandbox
        status = sandbox.status(task)
        name = _STATUS[status]
        error = None
        if status is UpstreamStatus.FAIL:
            code = "upstream_failed"
            if task.cancelled_at:
                code = CANCELLED_CODE
            elif task.fail_code in upstream_codes.RIDES_WITH_FAIL:
                code = "moderation_blocked"
            error = VideoError(code=code, message=task.fail_message or "the task failed")
        finished = status in (UpstreamStatus.SUCCESS, UpstreamStatus.FAIL)
        done_at = changed_at(task, status, sandbox.timeline) if finished else None
        return dump(
            Video(
                id=ID_PREFIX + task.task_id,
                model=task.model,
                status=name,
                progress=_PROGRESS[name],
                created_at=int(task.created_at),
                completed_at=int(done_at) if done_at is not None else None,
                expires_at=None,
                prompt=task.prompt,
                seconds=str(task.duration),
                size=f"{task.width}x{task.height}",
                error=error,
            )
        )

    def poll_after_ms(self, task: SandboxTask) -> int | None:
        """Until the timeline's next step (None once finished)."""
        sandbox = self._sandbox
        if sandbox.settled(task):
            return None
        at = sandbox.next_change_at(task)
        if at is None:
            return WAITING_POLL_MS
        return max(MIN_POLL_MS, int((at - sandbox.clock()) * 1000) + 1)

    def list(self, account: str, after: str | None, limit: int, ascending: bool) -> dict[str, Any]:
        tasks = [
            t
            for t in self._sandbox.state.all()
            if t.account == account and t.extra.get(MARK) and not self._sandbox.forgotten(t)
        ]
        tasks.sort(key=lambda t: (t.created_at, t.task_id), reverse=not ascending)
        if after:
            ids = [ID_PREFIX + t.task_id for t in tasks]
            if after not in ids:
                raise BadParam("after", f"Invalid value for 'after': no video {after!r}.")
            tasks = tasks[ids.index(after) + 1 :]
        page = tasks[:limit]
        return {
            "object": "list",
            "data": [self.video(t) for t in page],
            "first_id": ID_PREFIX + page[0].task_id if page else None,
            "last_id": ID_PREFIX + page[-1].task_id if page else None,
            "has_more": len(tasks) > limit,
        }

    def delete(self, account: str, video_id: str) -> dict[str, Any]:
        """As the gateway: a finished video is deleted; a queued v2 one is cancelled and
        deleted; any other unfinished one is refused (MiniMax cannot stop it)."""
        task = self.task(account, video_id)
        sandbox = self._sandbox
        status = sandbox.status(task)
        queued = status in (UpstreamStatus.PREPARING, UpstreamStatus.QUEUEING)
        if queued and task.api == "v2":
            task.cancelled_at = sandbox.clock()
            sandbox.callbacks.track(task)  # pushes "cancelled", as v2's DELETE does
        elif not sandbox.settled(task):
            raise BadParam(
                None,
                f"Video {video_id} is {_STATUS[status]} and cannot be deleted until it "
                "finishes: the upstream cannot stop it.",
                "video_not_finished",
            )
        sandbox.state.delete(task)
        return {"id": video_id, "object": "video.deleted", "deleted": True}

    def video_path(self, account: str, video_id: str) -> Path:
        task = self.task(account, video_id)
        status = self._sandbox.status(task)
        if status is not UpstreamStatus.SUCCESS:
            raise BadParam(
                None,
                f"Video {video_id} is {_STATUS[status]}: its content is available once it "
                "is completed.",
                "video_not_ready",
            )
        return self._sandbox.video_path(task)
