"""MiniMax v1's wire shapes: one pydantic model per shape, used for the OpenAPI page and
to write the answers (``answer``), so the two cannot drift.

The create body is parsed by hand (``requests``: MiniMax's error wording, ``null`` and
``""`` read as absent); ``CreateRequest`` documents it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reelgate.domain.tasks import Task, TaskStatus
from reelgate.services.files import FileObject as File
from reelgate.wire import JSONResponse


class BaseResp(BaseModel):
    status_code: int = Field(0, description="0 on success; a MiniMax error code otherwise.")
    status_msg: str = "success"


class ErrorResponse(BaseModel):
    """How every MiniMax route answers an error: HTTP 200 with only ``base_resp``, whose
    ``status_code`` is not 0 (e.g. 1004 bad key, 1008 no balance, 2013 invalid params)."""

    base_resp: BaseResp


# The documented answer of each route: its success shape first (the one Swagger UI shows),
# or the error shape. The routes answer errors with HTTP 200 as MiniMax does, so one
# status has to admit both for a client (or a schema checker) to read it right.
SUCCESS_OR_ERROR = (
    "The success shape below; on an error, HTTP 200 as well, with only `base_resp` "
    "(`status_code` not 0): see ErrorResponse."
)


class SubjectReference(BaseModel):
    type: Literal["character"] = "character"
    image: list[str] = Field(description="Exactly one image: a public URL or a data URL.")


class CreateRequest(BaseModel):
    """The body of ``POST /minimaxi/v1/video_generation``, as MiniMax defines it."""

    model: str = Field(description="e.g. MiniMax-Hailuo-2.3, MiniMax-Hailuo-02, S2V-01")
    prompt: str | None = Field(None, max_length=2000, description="Required for text to video.")
    prompt_optimizer: bool | None = None
    fast_pretreatment: bool | None = None
    duration: int | None = Field(None, description="Seconds: 6 or 10 depending on the model.")
    resolution: str | None = Field(None, description="512P, 720P, 768P or 1080P by model.")
    first_frame_image: str | None = Field(None, description="Public URL or data URL.")
    last_frame_image: str | None = Field(None, description="MiniMax-Hailuo-02 only.")
    subject_reference: list[SubjectReference] | None = Field(None, description="S2V-01 only.")
    callback_url: str | None = None
    aigc_watermark: bool | None = None


class CreateResponse(BaseModel):
    task_id: str = Field(description="The upstream's own task id.")
    platform_id: str = Field(description="The gateway's id: video_<ULID>.")
    base_resp: BaseResp


class QueryResponse(BaseModel):
    task_id: str
    platform_id: str
    status: Literal["Preparing", "Queueing", "Processing", "Success", "Fail"]
    file_id: str = ""
    video_width: int | None = None
    video_height: int | None = None
    error_message: str | None = None
    base_resp: BaseResp


class FileObject(BaseModel):
    """The upstream's other fields are passed on too; those holding a URL point at the
    gateway's copy where it has one."""

    model_config = ConfigDict(extra="allow")

    file_id: int | str
    bytes: int
    created_at: int
    filename: str
    purpose: Literal["video_generation"] = "video_generation"
    download_url: str = Field(description="Signed and expiring; a plain GET needs no auth.")
    backup_download_url: str | None = Field(
        None, description="A second link to the same file, where the upstream gives one."
    )


class RetrieveResponse(BaseModel):
    file: FileObject
    base_resp: BaseResp


SUCCESS = BaseResp(status_code=0, status_msg="success")  # both set: both written


def answer(shape: BaseModel) -> JSONResponse:
    """The JSON answer of a shape: the fields it was given, no others (an absent field
    stays absent, as in MiniMax's answers, rather than becoming ``null``)."""
    return JSONResponse(shape.model_dump(mode="json", exclude_unset=True))


def created(task: Task) -> CreateResponse:
    return CreateResponse(
        task_id=task.upstream_task_id or "", platform_id=task.platform_id, base_resp=SUCCESS
    )


def queried(task: Task) -> QueryResponse:
    """The query answer of a task, the same whichever id was asked for."""
    fields: dict[str, Any] = {}
    if task.status is TaskStatus.SUCCEEDED and task.file is not None:
        fields.update(
            file_id=task.file.file_id,
            video_width=task.file.width,
            video_height=task.file.height,
        )
    if task.status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
        fields["error_message"] = task.failure_message
    return QueryResponse(
        task_id=task.upstream_task_id or task.platform_id,
        platform_id=task.platform_id,
        status=task.minimax_status,
        file_id=fields.pop("file_id", ""),
        **fields,
        base_resp=BaseResp(**task.minimax_base_resp),
    )


def retrieved(file: File) -> RetrieveResponse:
    """The file object: the fields the gateway writes, then the upstream's others
    (e.g. ``backup_download_url``), never over one of the gateway's."""
    body: dict[str, Any] = {
        "file_id": int(file.file_id) if file.file_id.isdigit() else file.file_id,
        "bytes": file.bytes,
        "created_at": file.created_at,
        "filename": file.filename,
        "purpose": "video_generation",
        "download_url": file.download_url,
    }
    for name, value in file.extra.items():
        body.setdefault(name, value)
    # not validated: the upstream's fields are passed on as they came (bounded scalars:
    # domain/upstream_fields.py), whatever their type
    return RetrieveResponse(file=FileObject.model_construct(**body), base_resp=SUCCESS)


_PNG = "data:image/png;base64,<base64 of an image over 300 px on its short side>"
CREATE_EXAMPLES: dict[str, Any] = {
    "text_to_video": {
        "summary": "Text to video",
        "value": {
            "model": "MiniMax-Hailuo-2.3",
            "prompt": "A man picks up a book [Pedestal up], then reads [Static shot].",
            "duration": 6,
            "resolution": "1080P",
        },
    },
    "first_frame": {
        "summary": "First frame (image to video)",
        "value": {
            "model": "MiniMax-Hailuo-2.3",
            "prompt": "The cat turns its head [Push in]",
            "first_frame_image": _PNG,
        },
    },
    "first_last_frame": {
        "summary": "First and last frame",
        "value": {
            "model": "MiniMax-Hailuo-02",
            "prompt": "A flower blooms",
            "first_frame_image": _PNG,
            "last_frame_image": _PNG,
            "duration": 6,
            "resolution": "768P",
        },
    },
    "subject_reference": {
        "summary": "Subject reference",
        "value": {
            "model": "S2V-01",
            "prompt": "The person walks through a market",
            "subject_reference": [{"type": "character", "image": [_PNG]}],
        },
    },
}
