"""The platform's task object: how a task reads on /v1 (and in the console)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from reelgate.domain.tasks import Task, TaskEvent, TaskStatus
from reelgate.services.files import FileService


class ErrorInfo(BaseModel):
    code: int | None = Field(description="MiniMax-style code, when there is one.")
    reason: str | None = Field(
        description="upstream_failed, upstream_refused, deadline_exceeded, cancelled, "
        "lost_upstream or interrupted."
    )
    message: str


class VideoInfo(BaseModel):
    file_id: str
    width: int
    height: int
    duration: int = Field(description="Seconds.")
    bytes: int | None
    sha256: str | None
    download_url: str = Field(description="Signed and expiring; a plain GET needs no auth.")


class TaskObject(BaseModel):
    object: Literal["task"] = "task"
    platform_id: str
    task_id: str | None = Field(description="The upstream's own task id.")
    model: str
    mode: Literal["t2v", "i2v", "fl2v", "s2v"]
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    minimax_status: Literal["Preparing", "Queueing", "Processing", "Success", "Fail"]
    duration: int
    resolution: str
    price: int = Field(
        description="Minor units reserved at create; once succeeded, what the task cost "
        "(a model billed by the second settles at the seconds billed, never above)."
    )
    charged: int = Field(description="Minor units charged: the price once succeeded, else 0.")
    created_at: datetime
    finished_at: datetime | None
    deadline_at: datetime
    error: ErrorInfo | None
    video: VideoInfo | None
    request: dict[str, Any]


class TaskList(BaseModel):
    object: Literal["list"] = "list"
    data: list[TaskObject]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
    has_more: bool


class ErrorDetail(BaseModel):
    code: int
    kind: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail
    request_id: str | None


def iso(value: datetime | None) -> str | None:
    """Times on the wire: ISO 8601 in UTC with a Z."""
    return value.isoformat().replace("+00:00", "Z") if value else None


async def task_object(task: Task, files: FileService) -> dict[str, Any]:
    video = None
    if task.status is TaskStatus.SUCCEEDED and task.file is not None:
        file = await files.file_object(task)
        video = {
            "file_id": task.file.file_id,
            "width": task.file.width,
            "height": task.file.height,
            "duration": task.duration,
            "bytes": task.file.bytes,
            "sha256": task.file.sha256,
            "download_url": file.download_url,
        }
    error = None
    if task.status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
        error = {
            "code": task.error_code,
            "reason": task.error_reason,
            "message": task.error_message or "",
        }
    return {
        "object": "task",
        "platform_id": task.platform_id,
        "task_id": task.upstream_task_id,
        "model": task.model,
        "mode": task.mode,
        "status": task.status.public,
        "minimax_status": task.minimax_status,
        "duration": task.duration,
        "resolution": task.resolution,
        "price": task.price,
        "charged": task.price if task.status is TaskStatus.SUCCEEDED else 0,
        "created_at": iso(task.created_at),
        "finished_at": iso(task.finished_at),
        "deadline_at": iso(task.deadline_at),
        "error": error,
        "video": video,
        "request": task.request,
    }


def event_data(task: Task, event: TaskEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "platform_id": task.platform_id,
        "task_id": task.upstream_task_id,
        "status": event.status.public,
        "minimax_status": event.upstream_status.value if event.upstream_status else None,
        "at": iso(event.created_at),
    }
