"""The sandbox's OpenAI videos routes (``/v1/videos``, below its base URL): the same gate
as MiniMax's (its keys, its request limit, the request log) with OpenAI's wording
(``OPENAI``): the error envelope of ``surfaces/openai/wire.py`` with its real HTTP status.
The log names the endpoints ``openai_create``, ``openai_retrieve``, ``openai_list``,
``openai_delete`` and ``openai_content``."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI, Request
from starlette.responses import FileResponse, Response

from reelgate.errors import ReelgateError, Unauthorized
from reelgate.sandbox.faults import HttpFault
from reelgate.sandbox.gate import Call, Wire, base_url, serve
from reelgate.sandbox.openai_api import OpenAIVideos
from reelgate.sandbox.service import Sandbox
from reelgate.sandbox.v2 import V2Api
from reelgate.surfaces.openai import forms, variants
from reelgate.surfaces.openai.requests import BadParam
from reelgate.surfaces.openai.wire import error_body
from reelgate.wire import JSONResponse, trace_id_of

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


def openai_error(exc: ReelgateError, request: Request) -> Response:
    status, body, headers = error_body(exc, trace_id_of(request))
    return JSONResponse(body, status_code=status, headers=headers)


def _as_is(exc: Unauthorized, create: bool) -> ReelgateError:
    return exc  # 401: the SDK's AuthenticationError


def _http_fault(fault: HttpFault, request: Request) -> tuple[Response, int | None]:
    exc = ReelgateError("internal error")  # never drawn: no fault is planned for these
    return openai_error(exc, request), exc.code


OPENAI = Wire("openai", openai_error, _as_is, _http_fault)


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_LIMIT):
        raise BadParam("limit", f"Invalid value for 'limit': {value!r}; 1 to {MAX_LIMIT}.")
    return int(value)


def add_openai_routes(app: FastAPI, sandbox: Sandbox, v2: V2Api) -> None:
    videos = OpenAIVideos(sandbox, v2)

    @app.post("/v1/videos", tags=["OpenAI videos"])
    async def create(request: Request) -> Response:
        async def handle(call: Call) -> Response:
            body = await forms.create_body(request)
            video = await videos.create(call.account, body, base_url(request))
            call.entry.task_id = video["id"]
            return JSONResponse(video)

        return await serve(sandbox, request, "openai_create", handle, OPENAI)

    @app.get("/v1/videos", tags=["OpenAI videos"])
    async def list_videos(
        request: Request, after: str | None = None, limit: str | None = None, order: str = ""
    ) -> Response:
        async def handle(call: Call) -> Response:
            if order not in ("", "asc", "desc"):
                raise BadParam("order", f"Invalid value for 'order': {order!r}; asc or desc.")
            page = videos.list(call.account, after, _limit(limit), order == "asc")
            return JSONResponse(page)

        return await serve(sandbox, request, "openai_list", handle, OPENAI)

    @app.get("/v1/videos/{video_id}", tags=["OpenAI videos"])
    async def retrieve(request: Request, video_id: str) -> Response:
        async def handle(call: Call) -> Response:
            call.entry.task_id = video_id
            task = videos.task(call.account, video_id)
            video = videos.video(task)
            call.entry.task_status = video["status"]
            wait = videos.poll_after_ms(task)
            headers = {} if wait is None else {"openai-poll-after-ms": str(wait)}
            return JSONResponse(video, headers=headers)

        return await serve(sandbox, request, "openai_retrieve", handle, OPENAI)

    @app.delete("/v1/videos/{video_id}", tags=["OpenAI videos"])
    async def delete(request: Request, video_id: str) -> Response:
        async def handle(call: Call) -> Response:
            call.entry.task_id = video_id
            return JSONResponse(videos.delete(call.account, video_id))

        return await serve(sandbox, request, "openai_delete", handle, OPENAI)

    @app.get("/v1/videos/{video_id}/content", tags=["OpenAI videos"])
    async def content(request: Request, video_id: str, variant: str | None = None) -> Response:
        async def handle(call: Call) -> Response:
            call.entry.task_id = video_id
            chosen = variants.variant(variant)
            path = videos.video_path(call.account, video_id)
            call.entry.code = 0
            if chosen == variants.VIDEO:
                return FileResponse(path, media_type="video/mp4")
            jpeg = await asyncio.to_thread(variants.draw, chosen, path)
            return Response(jpeg, media_type=variants.JPEG)

        return await serve(sandbox, request, "openai_content", handle, OPENAI)
