"""MiniMax v2's wire shapes: one pydantic model per shape, for the OpenAPI page and to
write the answers (``answer``). The task object is ``domain/task_views.v2_task``'s, the
same a v2 task's callbacks carry."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reelgate.domain.task_views import v2_task
from reelgate.domain.tasks import Task
from reelgate.wire import JSONResponse

Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Role = Literal["first_frame", "last_frame", "reference_image", "reference_video", "reference_audio"]


class ContentItem(BaseModel):
    """One item of ``content``: one text, or one medium in a role."""

    model_config = ConfigDict(extra="allow")

    type: Literal["text", "image_url", "video_url", "audio_url"]
    text: str | None = Field(None, max_length=7000, description="The prompt (one text item).")
    role: (
        Literal[
            "first_frame", "last_frame", "reference_image", "reference_video", "reference_audio"
        ]
        | None
    ) = Field(None, description="A lone image without a role is the first frame.")


class CreateRequest(BaseModel):
    """The body of ``POST /minimaxi/v2/video_generation``, as MiniMax defines it."""

    model: Literal["MiniMax-H3", "MiniMax-H3-Max"]
    content: list[ContentItem]
    duration: int = Field(description="Seconds: 4 to 15 (H3), 5 to 15 (H3-Max).")
    resolution: Literal["480P", "768P", "2K"] | None = Field(
        None, description="768P and 2K (H3), 480P and 768P (H3-Max); 768P by default."
    )
    ratio: Literal["adaptive", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"] | None = Field(
        None, description="Text to video needs one other than adaptive."
    )
    callback_url: str | None = None
    aigc_watermark: bool | None = None
    extra: dict[str, str] | None = Field(None, description="H3-Max: prompt_expansion_mode.")


class CreateResponse(BaseModel):
    task_id: str = Field(description="The upstream's own task id.")
    platform_id: str = Field(description="The gateway's id: video_<ULID>.")


class TaskError(BaseModel):
    code: str
    message: str


class TaskContent(BaseModel):
    url: str = Field(description="The gateway's signed, expiring URL of its copy.")


class VideoTask(BaseModel):
    id: str = Field(description="The upstream's task id.")
    platform_id: str = Field(description="The gateway's id: video_<ULID>.")
    model: str
    status: Status
    error: TaskError | None = None
    created_at: int
    updated_at: int
    content: TaskContent | None = None
    resolution: str
    duration: int
    usage: dict[str, int] = Field(description="What was billed, once succeeded; {} before.")
    ratio: str
    task_type: Literal["generation"] = "generation"
    modality: Literal["video"] = "video"


class QueryResponse(BaseModel):
    task: VideoTask


class ListResponse(BaseModel):
    items: list[VideoTask]
    total: int = Field(description="The tasks that match, over the last 7 days.")


class DeleteResponse(BaseModel):
    task_id: str
    action: Literal["cancelled", "deleted"]
    status: Literal["cancelled", "deleted"]


class ErrorDetail(BaseModel):
    type: str = Field(description="bad_request_error, authorized_error, ...")
    message: str = Field(description="The reason, then MiniMax's code in parentheses.")
    http_code: str


class ErrorResponse(BaseModel):
    """How every v2 route answers an error: the HTTP status is the real one."""

    type: Literal["error"] = "error"
    error: ErrorDetail
    request_id: str | None


def answer(shape: BaseModel, status_code: int = 200) -> JSONResponse:
    """The JSON answer of a shape: the fields it was given, no others."""
    return JSONResponse(shape.model_dump(mode="json", exclude_unset=True), status_code=status_code)


def task_shape(task: Task, url: str | None) -> VideoTask:
    return VideoTask.model_validate(v2_task(task, url))


def body_of(value: Any) -> dict[str, Any]:
    """An answer's JSON (for the tests and the docs' examples)."""
    data: dict[str, Any] = value.model_dump(mode="json", exclude_unset=True)
    return data
