"""MiniMax v1, exactly: create, query, files/retrieve and files/retrieve_content.

Served under ``/minimaxi/v1`` and, for clients that cut a base URL down to
``scheme://host:port``, under ``/v1`` as well (:func:`include`; README "Base URLs for
MiniMax clients"). Both answer alike, in MiniMax's shape (``errors.py``). Each handler
gets what it uses (the caller's key, a service), not the whole gateway.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import Response

from reelgate.api.deps import file_service, gateway, task_service
from reelgate.api.files import serve_video
from reelgate.api.idempotency import idempotent
from reelgate.api.lean import LeanRoute
from reelgate.domain.accounts import ApiKey
from reelgate.domain.images import in_decoder
from reelgate.domain.task_views import is_v2
from reelgate.domain.tasks import Task
from reelgate.domain.video import VideoRequest
from reelgate.errors import InvalidApiKey, InvalidParams, NotFound
from reelgate.services.files import FileService
from reelgate.services.tasks import TASK_NOT_FOUND, TaskService
from reelgate.surfaces.minimax_v1.requests import has_inline_image, parse_video_request
from reelgate.surfaces.minimax_v1.schemas import (
    CREATE_EXAMPLES,
    SUCCESS_OR_ERROR,
    CreateResponse,
    ErrorResponse,
    QueryResponse,
    RetrieveResponse,
    answer,
    created,
    queried,
    retrieved,
)
from reelgate.wire import bearer_token, json_body, key_refusal

PREFIX = "/minimaxi/v1"
ROOT_PREFIX = "/v1"  # the same routes where the base URL is the server's root
router = APIRouter(tags=["MiniMax v1"])

# A client's own, shorter deadline for a task, in seconds (not part of MiniMax's API).
DEADLINE_HEADER = "X-Reelgate-Deadline"

Endpoint = Callable[..., Awaitable[Response]]


def lean(method: str, path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
    """``router.post``/``router.get`` for a route served by ``api.lean.LeanRoute``."""

    def declare(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(
            path, endpoint, methods=[method], route_class_override=LeanRoute, **options
        )
        return endpoint

    return declare


def include(app: FastAPI) -> None:
    """Mount the routes under /minimaxi/v1 (documented) and under /v1 (left out of the
    OpenAPI document: the same operations, which would otherwise appear twice)."""
    app.include_router(router, prefix=PREFIX)
    app.include_router(router, prefix=ROOT_PREFIX, include_in_schema=False)


async def _key(request: Request, *, create: bool) -> ApiKey:
    try:
        return await gateway(request).auth.api_key(bearer_token(request))
    except InvalidApiKey as exc:
        raise key_refusal(exc, create=create) from None


async def caller(request: Request) -> ApiKey:
    """The caller's key, refused with 1004 as MiniMax's query and files endpoints do."""
    return await _key(request, create=False)


async def creator(request: Request) -> ApiKey:
    """The caller's key, refused with 2049 as MiniMax's create does (``wire.key_refusal``)."""
    return await _key(request, create=True)


Caller = Annotated[ApiKey, Depends(caller)]
Tasks = Annotated[TaskService, Depends(task_service)]


async def parse(body: object) -> VideoRequest:
    """The body as a canonical request. An inline image is checked on its header, then
    decoded, on the decoder threads: never on the event loop, whatever its size (a few
    KB may declare 16383x5460)."""
    if has_inline_image(body):
        return await in_decoder(parse_video_request, body)
    return parse_video_request(body)


@lean(
    "POST",
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
    # The key and the service are looked up here rather than declared as dependencies:
    # FastAPI solves each dependency anew per request (its cache key, its parameters),
    # a third of the web layer's CPU on this route and the query (issue 19).
    key = await creator(request)
    tasks = gateway(request).task_service

    async def run() -> Response:
        body = await json_body(request)
        deadline = _deadline(request.headers.get(DEADLINE_HEADER))
        video = await parse(body)
        return answer(created(await tasks.create(key, video, deadline)))

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


@lean(
    "GET",
    "/query/video_generation",
    summary="Query a task by its task_id or its platform_id",
    response_model=QueryResponse | ErrorResponse,
    response_description=SUCCESS_OR_ERROR,
)
async def query(request: Request, task_id: str = "") -> Response:
    # no dependencies, as for create (the hottest route: a client polls it)
    key = await caller(request)
    tasks = gateway(request).task_service
    return answer(queried(v1_only(await tasks.get(key.account_id, task_id))))


def v1_only(task: Task) -> Task:
    """v1 shows v1 tasks only: a v2 task (MiniMax-H3) has no file id and its own query
    (docs/minimax-v2.md), so v1 answers it as MiniMax answers an id it does not know."""
    if is_v2(task):
        raise NotFound(TASK_NOT_FOUND)
    return task


@router.get(
    "/files/retrieve",
    summary="The file object of a finished video, with a download URL",
    response_model=RetrieveResponse | ErrorResponse,
    response_description=SUCCESS_OR_ERROR,
)
async def retrieve(
    key: Caller,
    tasks: Tasks,
    files: Annotated[FileService, Depends(file_service)],
    file_id: str = "",
) -> Response:
    """``download_url`` is signed and expiring; it works with a plain GET and no auth."""
    task = v1_only(await tasks.by_file(key.account_id, file_id))
    return answer(retrieved(await files.file_object(task)))


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
async def retrieve_content(
    request: Request, key: Caller, tasks: Tasks, file_id: str = ""
) -> Response:
    """Serve the gateway's copy (with Range and HEAD), or stream the upstream's until
    copied."""
    return await serve_video(request, v1_only(await tasks.by_file(key.account_id, file_id)))
