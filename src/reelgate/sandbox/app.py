"""The sandbox's HTTP surface: MiniMax v1 under ``/v1/...``, mountable or standalone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.responses import FileResponse, Response

from reelgate.errors import ReelgateError
from reelgate.sandbox.service import Sandbox
from reelgate.wire import TraceIdMiddleware, bearer_token, json_body, minimax_error, ok


def create_sandbox_app(sandbox: Sandbox, *, standalone: bool = False) -> FastAPI:
    """The sandbox as an ASGI app. Standalone, it starts and stops the sandbox itself."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await sandbox.start()
        try:
            yield
        finally:
            await sandbox.close()

    app = FastAPI(
        title="reelgate sandbox",
        summary="An offline MiniMax v1 video API emulator with a CPU renderer.",
        lifespan=lifespan if standalone else None,
    )

    app.add_middleware(TraceIdMiddleware)

    @app.exception_handler(ReelgateError)
    async def _error(request: Request, exc: ReelgateError) -> Response:
        return minimax_error(exc)

    @app.post("/v1/video_generation")
    async def create(request: Request) -> Response:
        account = sandbox.account_for(bearer_token(request))
        task = await sandbox.create(account, await json_body(request))
        return ok({"task_id": task.task_id})

    @app.get("/v1/query/video_generation")
    async def query(request: Request, task_id: str = "") -> Response:
        account = sandbox.account_for(bearer_token(request))
        return ok(sandbox.query(account, task_id))

    @app.get("/v1/files/retrieve")
    async def retrieve(request: Request, file_id: str = "") -> Response:
        account = sandbox.account_for(bearer_token(request))
        file = sandbox.retrieve(account, file_id, _base_url(request))
        return ok({"file": file})

    @app.get("/v1/files/retrieve_content")
    async def retrieve_content(request: Request, file_id: str = "") -> Response:
        account = sandbox.account_for(bearer_token(request))
        task = sandbox.file(account, file_id)
        return FileResponse(sandbox.video_path(task), media_type="video/mp4")

    @app.get("/v1/files/download/{name}")
    async def download(name: str, expires: int = 0, sig: str = "") -> Response:
        path = sandbox.signed_video(name.removesuffix(".mp4"), expires, sig)
        if path is None:
            return Response(b"not found or expired", status_code=404, media_type="text/plain")
        return FileResponse(path, media_type="video/mp4", filename="output.mp4")

    return app


def _base_url(request: Request) -> str:
    """Where this app is reachable, mount path included (the sandbox may sit at /sandbox)."""
    root = request.scope.get("root_path", "")
    return f"{request.url.scheme}://{request.url.netloc}{root}"
