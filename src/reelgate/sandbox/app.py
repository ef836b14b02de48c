"""The sandbox's HTTP surface: MiniMax v1 under ``/v1/...`` and v2 under ``/v2/...``
(``v2_app``), mountable or standalone.

Mounted inside the gateway it lives at ``/sandbox``; standalone it answers both at the
root and at ``/sandbox``, so ``http://host:port/sandbox`` is its base URL either way.
The gateway passes ``control_auth`` (its admin token) for the ``/_control`` endpoints;
standalone they take any of the sandbox's keys (``control.key_holders``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.responses import FileResponse, Response

from reelgate.errors import ReelgateError
from reelgate.sandbox.control import ControlAuth, add_control_routes, key_holders
from reelgate.sandbox.faults import FaultKind
from reelgate.sandbox.gate import Call, base_url, relative_path, serve
from reelgate.sandbox.openai_app import add_openai_routes
from reelgate.sandbox.ratelimit import STANDALONE_RPM
from reelgate.sandbox.requestlog import LogEntry
from reelgate.sandbox.service import Sandbox, TaskForgotten
from reelgate.sandbox.v2 import V2Api
from reelgate.sandbox.v2_app import add_v2_routes
from reelgate.settings import SANDBOX_MOUNT
from reelgate.wire import TraceIdMiddleware, json_body, minimax_error, ok


def create_sandbox_app(
    sandbox: Sandbox, *, standalone: bool = False, control_auth: ControlAuth | None = None
) -> FastAPI:
    """The sandbox as an ASGI app. Standalone, it starts and stops the sandbox itself.
    ``control_auth`` decides who may call ``/_control/...`` (default: its key holders)."""
    if sandbox.limiter.rpm is None:
        # MiniMax's own limit standalone; inside the gateway, whose tracker does not yet
        # budget its polls, no limit unless one is configured.
        sandbox.limiter.rpm = STANDALONE_RPM if standalone else 0
    authorize = control_auth or key_holders(sandbox)
    v2 = V2Api(sandbox)
    app = _build(sandbox, v2, authorize, standalone=standalone)
    if standalone:
        app.mount(SANDBOX_MOUNT, _build(sandbox, v2, authorize, standalone=False))
    return app


def _build(sandbox: Sandbox, v2: V2Api, authorize: ControlAuth, *, standalone: bool) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await sandbox.start()
        try:
            yield
        finally:
            await sandbox.close()

    app = FastAPI(
        title="reelgate sandbox",
        summary="An offline MiniMax video API emulator (v1 and v2) with a CPU renderer.",
        lifespan=lifespan if standalone else None,
    )

    app.add_middleware(TraceIdMiddleware)

    @app.exception_handler(ReelgateError)
    async def _error(request: Request, exc: ReelgateError) -> Response:
        return minimax_error(exc)

    _add_task_routes(app, sandbox)
    _add_file_routes(app, sandbox)
    add_v2_routes(app, sandbox, v2)
    add_openai_routes(app, sandbox, v2)  # OpenAI's /v1/videos (docs/openai.md)
    add_control_routes(app, sandbox, authorize)
    return app


def _add_task_routes(app: FastAPI, sandbox: Sandbox) -> None:
    """MiniMax's create and query."""

    @app.post("/v1/video_generation", tags=["MiniMax v1"])
    async def create(request: Request) -> Response:
        async def handle(call: Call) -> Response:
            body = await json_body(request)
            if isinstance(body, dict):
                call.entry.body_fields = sorted(body)
            task = await sandbox.create(call.account, body, call.faults)
            call.entry.task_id = task.task_id
            call.entry.file_id = task.file_id
            call.entry.faults.extend(task.faults)
            return ok({"task_id": task.task_id})

        return await serve(sandbox, request, "create", handle)

    @app.get("/v1/query/video_generation", tags=["MiniMax v1"])
    async def query(request: Request, task_id: str = "") -> Response:
        async def handle(call: Call) -> Response:
            try:
                body = sandbox.query(call.account, task_id)
            except TaskForgotten:
                call.entry.faults.append(FaultKind.FORGET.value)
                raise
            call.entry.task_status = body["status"]
            if "base_resp" in body:
                call.entry.code = body["base_resp"]["status_code"]
            return ok(body)

        return await serve(sandbox, request, "query", handle)


def _add_file_routes(app: FastAPI, sandbox: Sandbox) -> None:
    """MiniMax's file routes, and the signed download URL that ``files/retrieve`` gives."""

    @app.get("/v1/files/retrieve", tags=["MiniMax v1"])
    async def retrieve(request: Request, file_id: str = "") -> Response:
        async def handle(call: Call) -> Response:
            file = sandbox.retrieve(call.account, file_id, base_url(request))
            return ok({"file": file})

        return await serve(sandbox, request, "retrieve", handle)

    @app.get("/v1/files/retrieve_content", tags=["MiniMax v1"])
    async def retrieve_content(request: Request, file_id: str = "") -> Response:
        async def handle(call: Call) -> Response:
            task = sandbox.file(call.account, file_id)
            call.entry.code = 0
            return FileResponse(sandbox.video_path(task), media_type="video/mp4")

        return await serve(sandbox, request, "retrieve_content", handle)

    @app.get("/v1/files/download/{name}", tags=["MiniMax v1"])
    async def download(request: Request, name: str, expires: int = 0, sig: str = "") -> Response:
        """A signed, expiring download URL as ``files/retrieve`` hands out: no auth header."""
        file_id = name.removesuffix(".mp4")
        entry = LogEntry(
            sandbox.clock(), request.method, relative_path(request), "download", file_id=file_id
        )
        found = sandbox.files.download(file_id, expires, sig)
        if found.task is not None:
            entry.task_id = found.task.task_id
        if found.faulted:
            entry.faults.append(FaultKind.DOWNLOAD_404.value)
        response: Response
        if found.path is None:
            response = Response(b"not found or expired", status_code=404, media_type="text/plain")
        else:
            response = FileResponse(found.path, media_type="video/mp4", filename="output.mp4")
        entry.http_status = response.status_code
        entry.duration_s = sandbox.clock() - entry.t
        sandbox.requests.add(entry)
        return response
