"""MiniMax v2 (MiniMax-H3), as MiniMax serves it: create, query, list and DELETE under
``/minimaxi/v2``. Each answer is the gateway's: the task id is the upstream's, next to
the gateway's ``platform_id``, and ``content.url`` is a signed URL of the gateway's own
copy of the video. A v2 route sees only v2 tasks; v1's query sees only v1's
(docs/minimax-v2.md: MiniMax keeps the two apart the same way).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from starlette.responses import Response

from reelgate.api.deps import file_service, gateway, task_service
from reelgate.api.idempotency import idempotent
from reelgate.domain.accounts import ApiKey
from reelgate.domain.catalog import Api, models_of
from reelgate.domain.images import in_decoder
from reelgate.domain.task_views import V2_STATUS, is_v2
from reelgate.domain.tasks import Task, TaskFilter, TaskStatus
from reelgate.errors import InvalidApiKey, InvalidParams, NotFound, Unauthorized
from reelgate.services.files import FileService
from reelgate.services.tasks import TaskService
from reelgate.surfaces.minimax_v2.requests import has_inline_media, parse_v2_request
from reelgate.surfaces.minimax_v2.schemas import (
    CreateResponse,
    DeleteResponse,
    ErrorResponse,
    ListResponse,
    QueryResponse,
    answer,
    task_shape,
)
from reelgate.surfaces.minimax_v2.wire import INVALID_TASK_ID, LOGIN_FAIL
from reelgate.wire import bearer_token, json_body

PREFIX = "/minimaxi/v2"
router = APIRouter(tags=["MiniMax v2"])
V2_MODELS = frozenset(models_of(Api.MINIMAX_V2))
WINDOW = timedelta(days=7)  # what MiniMax's query and list show (reference 5, 6)
MAX_PAGE_SIZE = 100  # MiniMax documents none; the sandbox's too
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid params (2013) and the like"},
    401: {"model": ErrorResponse, "description": "A missing or unknown key (1004)"},
}


def include(app: FastAPI) -> None:
    app.include_router(router, prefix=PREFIX)


async def caller(request: Request) -> ApiKey:
    """The caller's key; refused as MiniMax v2 refuses one (HTTP 401, 1004)."""
    try:
        return await gateway(request).auth.api_key(bearer_token(request))
    except InvalidApiKey:
        raise Unauthorized(LOGIN_FAIL) from None


Caller = Annotated[ApiKey, Depends(caller)]
Tasks = Annotated[TaskService, Depends(task_service)]
Files = Annotated[FileService, Depends(file_service)]


async def v2_task_of(tasks: TaskService, key: ApiKey, task_id: str) -> Task:
    """The account's v2 task by either id; anything else reads as MiniMax's unknown id."""
    try:
        task = await tasks.get(key.account_id, task_id)
    except NotFound:
        task = None
    if task is None or not is_v2(task) or task.created_at < datetime.now(UTC) - WINDOW:
        raise NotFound(INVALID_TASK_ID)
    return task


def url_of(files: FileService, task: Task) -> str | None:
    return files.signed_url(task) if task.status is TaskStatus.SUCCEEDED and task.file else None


@router.post(
    "/video_generation",
    summary="Create a video generation task (MiniMax-H3)",
    response_model=CreateResponse,
    responses=ERRORS,
)
async def create(request: Request, key: Caller, tasks: Tasks) -> Response:
    """Text, first and/or last frame, or references (images, videos, audio) in one
    ``content`` array. Answers MiniMax's ``task_id`` and the gateway's ``platform_id``;
    ``Idempotency-Key`` makes a retried create replay the first answer."""

    async def run() -> Response:
        body = await json_body(request)
        if has_inline_media(body):
            video = await in_decoder(parse_v2_request, body)
        else:
            video = parse_v2_request(body)
        task = await tasks.create(key, video)
        return answer(
            CreateResponse(task_id=task.upstream_task_id or "", platform_id=task.platform_id)
        )

    return await idempotent(request, key.account_id, run)


@router.get(
    "/query/video_generation/{task_id}",
    summary="Query a task by its task_id or its platform_id",
    response_model=QueryResponse,
    responses=ERRORS,
)
async def query(task_id: str, key: Caller, tasks: Tasks, files: Files) -> Response:
    task = await v2_task_of(tasks, key, task_id)
    return answer(QueryResponse(task=task_shape(task, url_of(files, task))))


@router.get(
    "/query/video_generation",
    summary="List the account's v2 tasks of the last 7 days, newest first",
    response_model=ListResponse,
    responses=ERRORS,
)
async def list_tasks(
    key: Caller,
    tasks: Tasks,
    files: Files,
    page_num: int = 1,
    page_size: int = 20,
    status: Annotated[str | None, Query(alias="filter.status")] = None,
    task_ids: Annotated[list[str] | None, Query(alias="filter.task_ids")] = None,
    model: Annotated[str | None, Query(alias="filter.model")] = None,
    task_type: Annotated[str | None, Query(alias="filter.task_type")] = None,
) -> Response:
    if page_num < 1:
        raise InvalidParams("invalid params, page_num starts at 1")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidParams(f"invalid params, page_size must be 1 to {MAX_PAGE_SIZE}")
    if status is not None and status not in set(V2_STATUS.values()):
        raise InvalidParams(f"invalid params, filter.status must be one of: {_statuses()}")
    filters = TaskFilter(
        status=status,
        model=model,
        models=V2_MODELS,
        ids=frozenset(task_ids) if task_ids else None,
        created_from=datetime.now(UTC) - WINDOW,
    )
    if task_type not in (None, "generation"):  # the gateway makes generations only
        return answer(ListResponse(items=[], total=0))
    page, total = await tasks.numbered_page(
        key.account_id, filters, (page_num - 1) * page_size, page_size
    )
    items = [task_shape(task, url_of(files, task)) for task in page]
    return answer(ListResponse(items=items, total=total))


def _statuses() -> str:
    return ", ".join(dict.fromkeys(V2_STATUS.values()))


@router.delete(
    "/video_generation/{task_id}",
    summary="Cancel a queued task (refunded) or delete a finished one",
    response_model=DeleteResponse,
    responses=ERRORS,
)
async def delete(task_id: str, key: Caller, tasks: Tasks) -> Response:
    """MiniMax's rules per status: queued is cancelled upstream and here, and refunded
    in full; succeeded or failed is deleted (gone from every view); running or cancelled
    is refused."""
    task = await v2_task_of(tasks, key, task_id)
    shown = task.upstream_task_id or task.platform_id
    if task.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
        try:  # a DELETE that lost the race to another reads as v2's unknown id
            await tasks.delete(key.account_id, task.platform_id)
        except NotFound:
            raise NotFound(INVALID_TASK_ID) from None
        return answer(DeleteResponse(task_id=shown, action="deleted", status="deleted"))
    if task.status is TaskStatus.CANCELLED:
        raise InvalidParams(f"invalid params, task {shown} is cancelled already")
    await tasks.cancel(key.account_id, task.platform_id, upstream=True)
    return answer(DeleteResponse(task_id=shown, action="cancelled", status="cancelled"))
