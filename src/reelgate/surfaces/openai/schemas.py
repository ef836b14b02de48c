"""OpenAI's videos wire: one pydantic model per shape, used for the OpenAPI page and to
write the answers, so the two cannot drift. Every key of a ``Video`` is always present
(``null`` where unknown), as the SDK's ``Video`` type has them (openai 3.57.0,
``types/video.py``). Shared with the sandbox: nothing here reaches the services.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from reelgate.surfaces.openai.wire import VideoStatus


class VideoError(BaseModel):
    code: str = Field(
        description="Why it failed: `cancelled`, `moderation_blocked`, `deadline_exceeded`, "
        "`upstream_failed`, `lost_upstream`, `interrupted` or `upstream_refused`."
    )
    message: str


class Video(BaseModel):
    id: str = Field(description="The gateway's id (`video_<ULID>`), the same on /v1/tasks.")
    object: Literal["video"] = "video"
    model: str
    status: VideoStatus = Field(
        description="A cancelled task is `failed` with error code `cancelled`."
    )
    progress: int = Field(ge=0, le=100, description="0 queued, 50 in progress, 100 completed.")
    created_at: int = Field(description="Unix seconds.")
    completed_at: int | None = Field(description="When it finished (completed or failed).")
    expires_at: int | None = Field(
        description="Always null: the gateway keeps its copy until the video is deleted."
    )
    prompt: str | None
    remixed_from_video_id: str | None = None
    seconds: str = Field(description='The duration, as a string (e.g. `"6"`).')
    size: str = Field(description="WIDTHxHEIGHT: as planned, then as made once completed.")
    error: VideoError | None


class VideoList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Video]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VideoDeleted(BaseModel):
    id: str
    object: Literal["video.deleted"] = "video.deleted"
    deleted: bool = True


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error, requests, insufficient_quota...")
    param: str | None
    code: str | None


class OpenAIError(BaseModel):
    error: OpenAIErrorDetail


class ImageReference(BaseModel):
    image_url: str = Field(description="An http(s) URL or a data URI of a JPEG, PNG or WebP.")


class CreateVideo(BaseModel):
    """The create body as JSON; multipart takes the same fields, with ``input_reference``
    as a file part (the SDK's way) or ``input_reference[image_url]``."""

    prompt: str
    model: str | None = Field(None, description="Default MiniMax-Hailuo-2.3.")
    seconds: str | int | None = Field(None, description='e.g. "6"; the model\'s default.')
    size: str | None = Field(None, description="e.g. 1280x720, 1366x768 (docs/openai.md).")
    input_reference: ImageReference | None = Field(
        None, description="The first frame (on S2V-01: the subject)."
    )
    callback_url: str | None = Field(None, description="reelgate's: MiniMax-style pushes.")


def dump(shape: BaseModel) -> dict[str, Any]:
    """A shape as JSON, every field written (the SDK's types expect each key)."""
    return shape.model_dump(mode="json")
