"""OpenAI's videos API under ``/v1/videos``: create, retrieve, list, delete and content,
as the ``openai`` SDK calls them; remix, edits, extensions and characters answer a clear
400 (MiniMax has nothing that does them). docs/openai.md says what each does here.

Each handler checks the caller's key once FastAPI has read its parameters
(``deps.Bearer``), and takes the services it uses.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import Response

from reelgate.api.deps import ApiCaller, Files, Tasks, gateway
from reelgate.api.files import serve_video
from reelgate.api.idempotency import idempotent
from reelgate.domain.images import in_decoder
from reelgate.domain.tasks import Task, TaskStatus
from reelgate.errors import Conflict, InvalidParams, NotFound
from reelgate.services.tasks import TaskService
from reelgate.surfaces.openai import content, forms, variants, views
from reelgate.surfaces.openai.errors import PREFIX
from reelgate.surfaces.openai.requests import BadParam, has_inline_image, parse_openai_request
from reelgate.surfaces.openai.schemas import (
    CreateVideo,
    OpenAIError,
    Video,
    VideoDeleted,
    VideoList,
    dump,
)
from reelgate.surfaces.openai.wire import STATUS
from reelgate.wire import JSONResponse, trace_id_of

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
POLL_AFTER_HEADER = "openai-poll-after-ms"
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIError, "description": text}
    for status, text in (
        (400, "Bad request: a value the model cannot take, or an unsupported operation"),
        (401, "Missing or invalid API key"),
        (403, "The key may not do this (e.g. use this model)"),
        (404, "No such video for this key's account"),
        (409, "A request with this Idempotency-Key is still running"),
        (422, "This Idempotency-Key was used with another request"),
        (429, "A rate limit, or insufficient_quota (no balance: not retried)"),
    )
}
router = APIRouter(prefix=PREFIX, tags=["Videos (OpenAI)"], responses=ERRORS)


def include(app: FastAPI) -> None:
    app.include_router(router)


def poll_cap(request: Request) -> float:
    """The tracker's longest interval between two polls of a task, in seconds."""
    return float(gateway(request).settings.poll_max_s)


def answer(request: Request, body: dict[str, Any], **headers: str) -> JSONResponse:
    trace = trace_id_of(request)
    if trace:
        headers["x-request-id"] = trace
    return JSONResponse(body, headers=headers)


async def _video(tasks: TaskService, account_id: int, video_id: str) -> Task:
    try:
        return await tasks.get(account_id, video_id)
    except NotFound:
        raise NotFound(f"No video found with id '{video_id}'.") from None


_CREATE_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["prompt"],
                "properties": {
                    "prompt": {"type": "string"},
                    "model": {"type": "string"},
                    "seconds": {"type": "string"},
                    "size": {"type": "string"},
                    "input_reference": {"type": "string", "format": "binary"},
                    "input_reference[image_url]": {"type": "string"},
                    "callback_url": {"type": "string"},
                },
            }
        },
        "application/json": {"schema": CreateVideo.model_json_schema()},
    },
}


@router.post(
    "", summary="Create a video", response_model=Video, openapi_extra={"requestBody": _CREATE_BODY}
)
async def create(request: Request, caller: ApiCaller, tasks: Tasks) -> Response:
    """Multipart (as the SDK sends it) or JSON. The answer is the queued ``Video``; an
    ``Idempotency-Key`` header makes a retried create replay it."""
    key = await caller.key()
    body = await forms.create_body(request)
    identity = forms.identity(body) if forms.is_form(request) else None

    async def run() -> Response:
        if has_inline_image(body):  # decoded on the decoder threads, never on the loop
            video = await in_decoder(parse_openai_request, body)
        else:
            video = parse_openai_request(body)
        task = await tasks.create(key, video)
        return answer(request, dump(views.video(task)))

    return await idempotent(request, key.account_id, run, identity=identity)


@router.get("", summary="List videos", response_model=VideoList)
async def list_videos(
    request: Request,
    caller: ApiCaller,
    tasks: Tasks,
    after: str | None = None,
    limit: str | None = None,
    order: str | None = None,
) -> Response:
    """The account's videos, newest first (``order=asc``: oldest first), ``limit`` at a
    time (1 to 100, default 20); ``after``: the last id of the page before."""
    key = await caller.key()
    ascending, size = _order(order), _limit(limit)
    try:
        page, more = await tasks.list_after(
            key.account_id, after or None, size, ascending=ascending
        )
    except InvalidParams:
        raise BadParam("after", f"Invalid value for 'after': no video {after!r}.") from None
    listed = VideoList(
        data=[views.video(t) for t in page],
        first_id=page[0].platform_id if page else None,
        last_id=page[-1].platform_id if page else None,
        has_more=more,
    )
    return answer(request, dump(listed))


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_LIMIT):
        raise BadParam("limit", f"Invalid value for 'limit': {value!r}; 1 to {MAX_LIMIT}.")
    return int(value)


def _order(value: str | None) -> bool:
    if value not in (None, "", "asc", "desc"):
        raise BadParam("order", f"Invalid value for 'order': {value!r}; asc or desc.")
    return value == "asc"


# before /{video_id}/...: "characters/content" would match both
@router.get(
    "/characters/{character_id}", summary="Not supported: characters", include_in_schema=False
)
async def get_character(caller: ApiCaller, character_id: str) -> Response:
    await caller.key()
    raise _unsupported("Characters")


@router.post("/characters", summary="Not supported: characters", include_in_schema=False)
async def create_character(caller: ApiCaller) -> Response:
    await caller.key()
    raise _unsupported("Characters")


@router.post("/edits", summary="Not supported: edits", include_in_schema=False)
async def edit(caller: ApiCaller) -> Response:
    await caller.key()
    raise _unsupported("Video edits")


@router.post("/extensions", summary="Not supported: extensions", include_in_schema=False)
async def extend(caller: ApiCaller) -> Response:
    await caller.key()
    raise _unsupported("Video extensions")


@router.post("/{video_id}/remix", summary="Not supported: remix", response_model=Video)
async def remix(caller: ApiCaller, video_id: str) -> Response:
    """Always 400 ``unsupported``: MiniMax cannot redo a video with a new prompt."""
    await caller.key()
    raise _unsupported("Remix")


def _unsupported(what: str) -> BadParam:
    return BadParam(
        None,
        f"{what} is not supported by this gateway: MiniMax has no equivalent. Create a "
        "new video (POST /v1/videos) instead.",
        "unsupported",
    )


@router.get("/{video_id}", summary="Retrieve a video", response_model=Video)
async def retrieve(
    request: Request,
    caller: ApiCaller,
    tasks: Tasks,
    longest: Annotated[float, Depends(poll_cap)],
    video_id: str,
) -> Response:
    """By its id (or the upstream's task id). While it is unfinished,
    ``openai-poll-after-ms`` says when the gateway next learns something of it."""
    key = await caller.key()
    task = await _video(tasks, key.account_id, video_id)
    headers = {}
    wait = views.poll_after_ms(task, datetime.now(UTC), longest)
    if wait is not None:
        headers[POLL_AFTER_HEADER] = str(wait)
    return answer(request, dump(views.video(task)), **headers)


@router.delete("/{video_id}", summary="Delete a video", response_model=VideoDeleted)
async def delete(request: Request, caller: ApiCaller, tasks: Tasks, video_id: str) -> Response:
    """A finished video's record and copy go, from every view. An unfinished one is
    cancelled first where the upstream can cancel it (a queued MiniMax-H3 task: refunded,
    nothing charged upstream); else it is refused (400) until it finishes."""
    key = await caller.key()
    task = await _video(tasks, key.account_id, video_id)
    if not task.status.terminal:
        # refused when the upstream cannot stop it; or it finished meanwhile
        with contextlib.suppress(Conflict):
            task = await tasks.cancel(key.account_id, task.platform_id, upstream=True)
    try:
        deleted = await tasks.delete(key.account_id, task.platform_id)
    except Conflict:
        raise BadParam(
            None,
            f"Video {task.platform_id} is {STATUS[task.status]} and cannot be deleted until "
            "it finishes: the upstream cannot stop it. POST "
            f"/v1/tasks/{task.platform_id}/cancel stops following it (and refunds it).",
            "video_not_finished",
        ) from None
    except NotFound:
        raise NotFound(f"No video found with id '{video_id}'.") from None
    return answer(request, dump(VideoDeleted(id=deleted.platform_id)))


@router.get(
    "/{video_id}/content",
    summary="Download a video, its thumbnail or its sprite sheet",
    response_class=Response,
    responses={
        200: {
            "content": {"video/mp4": {}, "image/jpeg": {}},
            "description": "The MP4 (with Range), or a JPEG preview",
        },
        206: {"description": "A byte range of the MP4"},
    },
)
async def download(
    request: Request,
    caller: ApiCaller,
    tasks: Tasks,
    files: Files,
    video_id: str,
    variant: str | None = None,
) -> Response:
    """``variant``: ``video`` (default), ``thumbnail`` (a frame, at most 640 px wide) or
    ``spritesheet`` (10 frames in a 5-column grid): JPEGs made from the video."""
    key = await caller.key()
    chosen = variants.variant(variant)
    task = await _video(tasks, key.account_id, video_id)
    if task.status is not TaskStatus.SUCCEEDED or task.file is None:
        raise BadParam(
            None,
            f"Video {task.platform_id} is {STATUS[task.status]}: its content is "
            "available once it is completed.",
            "video_not_ready",
        )
    if chosen == variants.VIDEO:
        return await serve_video(request, task, files=files)
    jpeg = await content.preview(files, task, chosen)
    return Response(jpeg, media_type=variants.JPEG)
