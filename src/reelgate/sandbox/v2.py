"""MiniMax's v2 video API (MiniMax-H3) in the sandbox: create, query, list and DELETE.

A v2 task lives on the same timeline, fault plan, render pool, callback pusher and
download URLs as a v1 task; what differs is its body (the ``content`` array, parsed by the
gateway's own ``parse_v2_request``), its 15-digit id, its ratio and soundtrack, how it is
shown (``v2_view``) and what DELETE does to it (reference section 7). Each API sees only
its own tasks: a v2 id is unknown to v1's query and the other way round.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.datastructures import QueryParams

from reelgate.domain.images import in_decoder
from reelgate.domain.tasks import UpstreamStatus
from reelgate.errors import InvalidParams, NotFound
from reelgate.sandbox.faults import FAIL_MIDWAY_CODE, FAIL_MIDWAY_MESSAGE, CallFaults, FaultKind
from reelgate.sandbox.render import v2_output_size, v2_ratio
from reelgate.sandbox.service import Sandbox, TaskForgotten
from reelgate.sandbox.state import SandboxTask, new_numeric_id, new_v2_task_id
from reelgate.sandbox.v2_media import MediaReader, Outputs, lead_size
from reelgate.sandbox.v2_view import (
    CANCELLED,
    FAILED,
    QUEUED,
    STATUSES,
    SUCCEEDED,
    TASK_TYPES,
    status_name,
    usage,
)
from reelgate.surfaces.minimax_v2.requests import has_inline_media, parse_v2_request
from reelgate.surfaces.minimax_v2.wire import INVALID_TASK_ID

WINDOW_S = 7 * 24 * 3600  # a task can be queried and listed for 7 days (section 5.1)
DEFAULT_PAGE_SIZE = 20  # MiniMax's example; it documents no maximum
MAX_PAGE_SIZE = 100


class V2Api:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._state = sandbox.state

    async def create(self, account: str, body: Any, call: CallFaults, base_url: str) -> SandboxTask:
        """Validate, read the media, check the callback URL, keep the inputs, start."""
        sandbox = self._sandbox
        if has_inline_media(body):  # images, clips: decoded and probed off the event loop
            request = await in_decoder(parse_v2_request, body)
        else:
            request = parse_v2_request(body)
        content = body["content"]  # the parse checked it: a list of objects
        fields = [f"content[{i}]" for i, item in enumerate(content) if item.get("type") != "text"]
        reader = MediaReader(
            sandbox.client, allow_private=sandbox.allow_private, outputs=self._outputs(account)
        )
        inputs = await reader.read_all(request, fields)
        ratio = v2_ratio(request.ratio or "adaptive", lead_size(inputs))
        width, height = v2_output_size(request.resolution, ratio)
        if request.callback_url:
            await sandbox.callbacks.verify(request.callback_url)  # no task unless it answers
        task_id = new_v2_task_id()
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
            created_at=sandbox.clock(),
            file_id=new_numeric_id(),
            inputs={i.key: self._state.write_input(task_id, i.key, i.data) for i in inputs},
            callback_url=request.callback_url,
            faults=[k.value for k in call.task],
            api="v2",
            ratio=ratio,
            base_url=base_url,
            usage=usage([i.medium for i in inputs], request.duration),
        )
        if FaultKind.FAIL_MIDWAY in task.faults:
            task.fail_code, task.fail_message = FAIL_MIDWAY_CODE, FAIL_MIDWAY_MESSAGE
        sandbox.begin(task)
        return task

    def _outputs(self, account: str) -> Outputs:
        def output(file_id: str) -> Path | None:
            task = self._state.by_file(file_id)
            if task is None or task.account != account or self._sandbox.forgotten(task):
                return None
            if self._sandbox.status(task) is not UpstreamStatus.SUCCESS:
                return None
            return self._state.video_path(task)

        return output

    def task(self, account: str, task_id: str) -> SandboxTask:
        """The caller's v2 task, or 400 "invalid task_id" (unknown, another account's, a v1
        task, deleted, older than 7 days, or lost to an injected ``forget``)."""
        task = self._state.get(task_id)
        if (
            task is None
            or task.account != account
            or task.api != "v2"
            or self._sandbox.clock() - task.created_at > WINDOW_S
        ):
            raise NotFound(INVALID_TASK_ID)
        if self._sandbox.forgotten(task):
            raise TaskForgotten(INVALID_TASK_ID)
        return task

    def query(self, account: str, task_id: str, base_url: str) -> dict[str, Any]:
        return self._sandbox.v2_task(self.task(account, task_id), base_url)

    def list(self, account: str, params: QueryParams, base_url: str) -> dict[str, Any]:
        """The caller's v2 tasks of the last 7 days that match, newest first, one page."""
        page_num = _positive(params, "page_num", 1)
        page_size = _positive(params, "page_size", DEFAULT_PAGE_SIZE)
        if page_size > MAX_PAGE_SIZE:
            raise InvalidParams(f"invalid params, page_size must be at most {MAX_PAGE_SIZE}")
        status = _choice(params, "filter.status", STATUSES)
        task_type = _choice(params, "filter.task_type", TASK_TYPES)
        ids = set(params.getlist("filter.task_ids"))
        model = params.get("filter.model")
        sandbox, now = self._sandbox, self._sandbox.clock()
        found = [
            t
            for t in self._state.all()
            if t.account == account
            and t.api == "v2"
            and now - t.created_at <= WINDOW_S
            and not sandbox.forgotten(t)
            and (not ids or t.task_id in ids)
            and (model is None or t.model == model)
            and task_type in (None, "generation")
            and (status is None or status_name(t, sandbox.status(t)) == status)
        ]
        found.sort(key=lambda t: (t.created_at, t.task_id), reverse=True)
        page = found[(page_num - 1) * page_size : page_num * page_size]
        return {"items": [sandbox.v2_task(t, base_url) for t in page], "total": len(found)}

    def delete(self, account: str, task_id: str) -> dict[str, Any]:
        """Section 7: a queued task is cancelled (nothing charged), a finished one's record
        is deleted (it reads as unknown afterwards); a running or cancelled one is left
        as it is, with a 400."""
        task = self.task(account, task_id)
        status = status_name(task, self._sandbox.status(task))
        if status == QUEUED:
            task.cancelled_at = self._sandbox.clock()
            self._state.save(task)
            self._sandbox.callbacks.track(task)  # push "cancelled" now
            return {"task_id": task.task_id, "action": CANCELLED, "status": CANCELLED}
        if status in (SUCCEEDED, FAILED):
            self._state.delete(task)
            return {"task_id": task.task_id, "action": "deleted", "status": "deleted"}
        raise InvalidParams(
            f"invalid params, the task is {status}: only a queued task can be cancelled "
            "and only a succeeded or failed one deleted"
        )


def _positive(params: QueryParams, name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or int(value) < 1:
        raise InvalidParams(f"invalid params, {name} must be a positive integer, not {value!r}")
    return int(value)


def _choice(params: QueryParams, name: str, allowed: tuple[str, ...]) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidParams(f"invalid params, {name} must be one of: {', '.join(allowed)}")
    return value
