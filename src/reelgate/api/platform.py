"""The platform's own task API: get by either id, list, cancel, and live events (SSE).

Real HTTP status codes here, with one error body: ``{error: {code, kind, message},
request_id}``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request
from starlette.responses import Response, StreamingResponse

from reelgate.api.deps import ApiCaller, Files, Streams, Tasks
from reelgate.api.idempotency import idempotent
from reelgate.api.params import UtcDatetime
from reelgate.api.sse import resume_after, task_event_stream
from reelgate.api.views import ErrorBody, TaskList, TaskObject, task_object
from reelgate.domain.tasks import TaskFilter
from reelgate.wire import JSONResponse

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "Bad request (e.g. a cursor this API did not give out)"),
        (401, "Missing or invalid API key"),
        (403, "The key or account may not do this"),
        (404, "No such task for this key's account"),
        (409, "The task's state does not allow this"),
        (422, "A parameter has a value that is not allowed"),
        (429, "A rate limit of the key was hit"),
    )
}

# Each handler asks for its caller's key (``caller.key()``) once FastAPI has validated
# its parameters: a malformed request is a 422 whoever sends it (deps.Bearer).
router = APIRouter(prefix="/v1", tags=["Tasks"], responses=ERRORS)


@router.get("/tasks/{task_id}", response_model=TaskObject, summary="A task by either id")
async def get_task(caller: ApiCaller, tasks: Tasks, files: Files, task_id: str) -> Response:
    """Look a task up by its ``platform_id`` or by the upstream's ``task_id``."""
    key = await caller.key()
    task = await tasks.get(key.account_id, task_id)
    return JSONResponse(await task_object(task, files))


@router.get("/tasks", response_model=TaskList, summary="The caller's tasks, newest first")
async def list_tasks(
    caller: ApiCaller,
    tasks: Tasks,
    files: Files,
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None,
    model: str | None = None,
    created_after: Annotated[UtcDatetime | None, Query(description="ISO 8601, inclusive")] = None,
    created_before: Annotated[UtcDatetime | None, Query(description="ISO 8601, exclusive")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    key = await caller.key()
    filters = TaskFilter(status, model, created_after, created_before)
    page, next_cursor = await tasks.list_page(key.account_id, filters, cursor, limit)
    return JSONResponse(
        {
            "object": "list",
            "data": [await task_object(t, files) for t in page],
            "next_cursor": next_cursor,
            "has_more": next_cursor is not None,
        }
    )


@router.post(
    "/tasks/{task_id}/cancel", response_model=TaskObject, summary="Cancel an unfinished task"
)
async def cancel_task(
    request: Request, caller: ApiCaller, tasks: Tasks, files: Files, task_id: str
) -> Response:
    """The task becomes ``cancelled``, is no longer tracked, and its price is refunded. A
    result that arrives later from the upstream is ignored. A finished task answers 409.
    With an ``Idempotency-Key`` a retried cancel replays the first answer."""
    key = await caller.key()

    async def run() -> Response:
        task = await tasks.cancel(key.account_id, task_id)
        return JSONResponse(await task_object(task, files))

    return await idempotent(request, key.account_id, run)


@router.get(
    "/tasks/{task_id}/events",
    summary="Server-Sent Events: one per status change, until the task finishes",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def task_events(
    caller: ApiCaller,
    tasks: Tasks,
    streams: Streams,
    task_id: str,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    """Each event has ``id`` = its sequence number; reconnect with ``Last-Event-ID`` to
    resume without loss. The stream ends after the terminal event."""
    key = await caller.key()
    task = await tasks.get(key.account_id, task_id)
    return task_event_stream(streams, key.id, task, resume_after(last_event_id))
