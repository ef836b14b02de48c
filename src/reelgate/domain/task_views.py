"""How a task reads on MiniMax's v2 wire (its ``VideoTask``): the v2 surface's query and
list answers, and the body of a v2 task's callbacks, which MiniMax gives the query's
shape (``{"task": {...}}``: reference v2 section 10).

Pure, beside ``webhooks.callback_body`` (v1's), because the store writes a callback's
body in the transaction of the change it reports.
"""

from __future__ import annotations

from typing import Any

from reelgate.domain import upstream_codes
from reelgate.domain.catalog import MODELS, Api
from reelgate.domain.tasks import Task, TaskStatus
from reelgate.domain.video import MediaKind

V2_STATUS = {
    TaskStatus.SUBMITTING: "queued",
    TaskStatus.QUEUED: "queued",
    TaskStatus.RUNNING: "running",
    TaskStatus.SUCCEEDED: "succeeded",
    TaskStatus.FAILED: "failed",
    TaskStatus.CANCELLED: "cancelled",
}


def is_v2(task: Task) -> bool:
    """Whether the task's model is served by MiniMax's v2 wire."""
    spec = MODELS.get(task.model)
    return spec is not None and spec.api is Api.MINIMAX_V2


def v2_task(task: Task, url: str | None = None) -> dict[str, Any]:
    """The task as v2's query shows it, in the order of MiniMax's examples; ``url``: the
    video's (signed, expiring) URL, shown once it succeeded. ``id`` is the upstream's
    task id (the gateway's own until the upstream answered), ``platform_id`` the
    gateway's."""
    out: dict[str, Any] = {
        "id": task.upstream_task_id or task.platform_id,
        "platform_id": task.platform_id,
        "model": task.model,
        "status": V2_STATUS[task.status],
    }
    if task.status is TaskStatus.FAILED:
        code = task.error_code or upstream_codes.FAILED_WITHOUT_CODE
        out["error"] = {"code": str(code), "message": task.failure_message}
    out["created_at"] = int(task.created_at.timestamp())
    out["updated_at"] = int(task.updated_at.timestamp())
    if task.status is TaskStatus.SUCCEEDED and url is not None:
        out["content"] = {"url": url}
    out.update(
        resolution=task.resolution,
        duration=task.duration,
        usage=usage_of(task),
        ratio=task.ratio or "",
        task_type="generation",
        modality="video",
    )
    return out


def usage_of(task: Task) -> dict[str, int]:
    """What the task was billed for, once it succeeded (``{}`` before, as MiniMax's): the
    upstream's own report, else what the request asked (its seconds and images)."""
    if task.status is not TaskStatus.SUCCEEDED:
        return {}
    if task.usage is not None:
        return task.usage.as_dict()
    images = sum(
        1
        for name in ("first_frame_image", "last_frame_image", "subject_image")
        if name in task.request
    ) + sum(1 for ref in task.request.get("references", []) if MediaKind.IMAGE.value in ref)
    return {
        "total_seconds": task.duration,
        "input_seconds": 0,
        "output_seconds": task.duration,
        "input_image_count": images,
    }
