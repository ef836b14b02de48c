"""MiniMax v1, exactly: create, query, files/retrieve and files/retrieve_content.

Served under ``/minimaxi/v1`` and, for clients that cut a base URL down to
``scheme://host:port``, under ``/v1`` as well (:func:`include`; README "Base URLs for
MiniMax clients"). Both answer alike, in MiniMax's shape (``api/errors.py``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.api.files import serve_video
from reelgate.api.idempotency import idempotent
from reelgate.api.schemas import (
    CREATE_EXAMPLES,
    SUCCESS_OR_ERROR,
    CreateResponse,
    ErrorResponse,
    QueryResponse,
    RetrieveResponse,
)
from reelgate.domain.accounts import ApiKey
from reelgate.domain.tasks import Task, TaskStatus
from reelgate.errors import InvalidApiKey, InvalidParams
from reelgate.wire import JSONResponse, bearer_token, json_body, key_refusal, ok

PREFIX = "/minimaxi/v1"
ROOT_PREFIX = "/v1"  # the same routes where the base URL is the server's root
router = APIRouter(tags=["MiniMax v1"])


def include(app: FastAPI) -> None:
    """Mount the routes under /minimaxi/v1 (documented) and under /v1 (left out of the
    OpenAPI document: the same operations, which would otherwise appear twice)."""
    app.include_router(router, prefix=PREFIX)
    app.include_router(router, prefix=ROOT_PREFIX, include_in_schema=False)


async def caller(request: Request, *, create: bool = False) -> ApiKey:
    """The caller's key, refused with the code MiniMax uses on this endpoint
    (``wire.key_refusal``: 2049 on create, 1004 elsewhere)."""
    try:
        return await gateway(request).auth.api_key(bearer_token(request))
    except InvalidApiKey as exc:
        raise key_refusal(exc, create=create) from None


# A client's own, shorter deadline for a task, in seconds (not part of MiniMax's API).
DEADLINE_HEADER = "X-Reelgate-Deadline"


def query_body(task: Task) -> dict[str, Any]:
    """The query answer for a task, the same whichever id was asked for."""
    body: dict[str, Any] = {
        "task_id": task.upstream_task_id or task.platform_id,
        "platform_id": task.platform_id,
        "status": task.minimax_status,
        "file_id": "",
    }
    if task.status is TaskStatus.SUCCEEDED and task.file is not None:
        body.update(
            file_id=task.file.file_id,
            video_width=task.file.width,
            video_height=task.file.height,
        )
    if task.status in (TaskStatus.FAILED, TaskStatus.CANCELLED):
        body["error_message"] = task.failure_message
    body["base_resp"] = task.minimax_base_resp
    return body


@router.post(
    "/video_generation",
    summary="Create a video generation task",
    response_model=CreateResponse | ErrorResponse,
    response_description=SUCCESS_OR_ERROR,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/CreateRequest"},
                    "examples": CREATE_EXAMPLES,
                }
            },
        }
    },
)
async def create(request: Request) -> Response:
    """Text to video, first frame, first and last frame, or subject reference.

    Answers ``task_id`` (the upstream's id) and ``platform_id`` (the gateway's). An
    optional ``X-Reelgate-Deadline: <seconds>`` header sets a deadline shorter than the
    gateway's default: an unfinished task then fails and is refunded. An
    ``Idempotency-Key`` header makes a retried create replay the first answer.
    """
    gw = gateway(request)
    key = await caller(request, create=True)

    async def run() -> Response:
        body = await json_body(request)
        deadline = _deadline(request.headers.get(DEADLINE_HEADER))
        task = await gw.task_service.create(key, body, deadline)
        return ok({"task_id": task.upstream_task_id, "platform_id": task.platform_id})

    return await idempotent(request, key.account_id, run)


def _deadline(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if not 0 < seconds < 10**7:
        raise InvalidParams(
            f"invalid params, {DEADLINE_HEADER} must be a positive number of seconds"
        )
    return seconds


@router.get(
    "/query/video_generation",
    summary="Query a task by its task_id or its platform_id",
    response_model=QueryResponse | ErrorResponse,
    response_description=SUCCESS_OR_ERROR,
)
async def query(request: Request, task_id: str = "") -> Response:
    gw = gateway(request)
    key = await caller(request)
    task = await gw.task_service.get(key.account_id, task_id)
    return JSONResponse(query_body(task))


@router.get(
    "/files/retrieve",
    summary="The file object of a finished video, with a download URL",
    response_model=RetrieveResponse | ErrorResponse,
    response_description=SUCCESS_OR_ERROR,
)
async def retrieve(request: Request, file_id: str = "") -> Response:
    """``download_url`` is signed and expiring; it works with a plain GET and no auth."""
    gw = gateway(request)
    key = await caller(request)
    task = await gw.task_service.by_file(key.account_id, file_id)
    file = await gw.file_service.file_object(task)
    return ok({"file": file.as_minimax()})


# GET and HEAD as two routes: one route of two methods gives both one operationId
@router.head(
    "/files/retrieve_content",
    summary="The headers of a GET, with no body (size, Accept-Ranges)",
    response_class=Response,
)
@router.get(
    "/files/retrieve_content",
    summary="The bytes of a finished video",
    response_class=Response,
    responses={
        200: {
            "content": {"video/mp4": {}},
            "model": ErrorResponse,
            "description": "The video; an error is JSON with only `base_resp`, as MiniMax's",
        },
        206: {"description": "A byte range"},
    },
)
async def retrieve_content(request: Request, file_id: str = "") -> Response:
    gw = gateway(request)
    key = await caller(request)
    task = await gw.task_service.by_file(key.account_id, file_id)
    return await video_response(request, task)


async def video_response(request: Request, task: Task) -> Response:
    """Serve the gateway's copy (with Range and HEAD), or stream the upstream's until copied."""
    return await serve_video(request, task)
