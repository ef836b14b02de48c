"""The composition root: the one place that picks concrete adapters and wires them.

``create_app`` builds the ASGI app (routes, middleware, the mounted sandbox, the OpenAPI
document); its lifespan runs ``open_gateway`` (``reelgate.startup``), which opens the store
(migrating or checking it: ``migrates_at_start``), the one shared ``httpx.AsyncClient``,
Redis when configured, the providers, the storage and the worker, and closes them.
``reelgate worker`` opens the same gateway without the API (``open_gateway(settings,
api=False)``). The adapters are built in ``reelgate.adapters``, the services on them
in ``reelgate.gateway``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from reelgate import __version__
from reelgate.adapters import build_sandbox, build_storage, redis_client, upstream_client
from reelgate.api import admin as admin_api
from reelgate.api import channels as channels_api
from reelgate.api import docs as docs_api
from reelgate.api import errors as api_errors
from reelgate.api import files as files_api
from reelgate.api import health as health_api
from reelgate.api import metrics as metrics_api
from reelgate.api import platform as platform_api
from reelgate.api import upstream as upstream_api
from reelgate.api import webhooks as webhooks_api
from reelgate.api.params import url_without_nul
from reelgate.api.paths import CollapseSlashes
from reelgate.console import install as install_console
from reelgate.gateway import Announce, Gateway
from reelgate.http_limits import BodyLimit, gateway_errors
from reelgate.providers.base import ProviderFactory
from reelgate.settings import SANDBOX_MOUNT, Settings
from reelgate.startup import migrates_at_start, open_gateway, prepare_store, print_credentials
from reelgate.surfaces.minimax_v1 import errors as minimax_v1_errors
from reelgate.surfaces.minimax_v1 import routes as minimax_v1
from reelgate.surfaces.minimax_v1.schemas import CreateRequest
from reelgate.surfaces.minimax_v2 import errors as minimax_v2_errors
from reelgate.surfaces.minimax_v2 import routes as minimax_v2
from reelgate.surfaces.openai import errors as openai_errors
from reelgate.surfaces.openai import routes as openai_videos
from reelgate.wire import TraceIdMiddleware

__all__ = [
    "Announce",
    "Gateway",
    "build_sandbox",
    "build_storage",
    "create_app",
    "migrates_at_start",
    "open_gateway",
    "prepare_store",
    "print_credentials",
    "redis_client",
    "upstream_client",
]


def create_app(
    settings: Settings,
    *,
    worker: bool = True,
    announce: Announce | None = print_credentials,
    providers: ProviderFactory | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The gateway as an ASGI app, with the sandbox mounted at /sandbox when enabled
    (``Settings.sandbox_mounted``: by default only without a real MiniMax key).
    ``providers`` replaces the MiniMax adapter and ``clock`` the tracker's time (tests
    hand in a fake upstream and a clock they move)."""
    sandbox = build_sandbox(settings, mounted=True) if settings.sandbox_mounted else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if sandbox is not None:
            await sandbox.start()
        try:
            async with open_gateway(
                settings, worker=worker, announce=announce, providers=providers, clock=clock
            ) as gw:
                app.state.gateway = gw
                if sandbox is not None:
                    sandbox.use_api_keys(gw.sandbox_keys)
                yield
        finally:
            if sandbox is not None:
                await sandbox.close()

    app = FastAPI(
        title="reelgate",
        version=__version__,
        summary="A self-hosted, MiniMax-compatible gateway for AI video generation.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load their assets from a CDN: docs_api serves ours
        dependencies=[Depends(url_without_nul)],  # no route may pass a NUL on to the store
        redoc_url=None,
    )
    _install(app, settings)
    if sandbox is not None:
        from reelgate.sandbox.app import create_sandbox_app

        async def admin_only(token: str | None) -> None:
            # the control endpoints see every tenant's upstream tasks and steer the faults
            await app.state.gateway.auth.admin(token)

        app.mount(SANDBOX_MOUNT, create_sandbox_app(sandbox, control_auth=admin_only))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _install(app: FastAPI, settings: Settings) -> None:
    """The middleware (outermost last) and the routes."""
    # inside TraceIdMiddleware, so that its refusals carry a Trace-Id too
    app.add_middleware(
        BodyLimit,
        max_body=settings.max_body_bytes,
        body_timeout_s=settings.http_body_timeout_s,
        render=gateway_errors,
    )
    app.add_middleware(TraceIdMiddleware)
    # outermost: routing, body limits and error shapes all see /minimaxi//v1 as /minimaxi/v1
    app.add_middleware(CollapseSlashes)
    # first match wins: v2 before v1 (which owns the rest of /minimaxi/), and MiniMax's
    # root routes (/v1/video_generation) and OpenAI's /v1/videos before the platform's /v1/
    minimax = [minimax_v2_errors.SHAPE, minimax_v1_errors.SHAPE]
    api_errors.install(app, [*minimax, openai_errors.SHAPE, api_errors.PLATFORM])
    minimax_v1.include(app)  # under /minimaxi/v1 and at the root (/v1/video_generation...)
    minimax_v2.include(app)  # under /minimaxi/v2
    openai_videos.include(app)  # /v1/videos: OpenAI's videos API (docs/openai.md)
    app.include_router(platform_api.router)
    app.include_router(admin_api.router)
    app.include_router(channels_api.router)
    app.include_router(upstream_api.router)
    app.include_router(webhooks_api.router)
    app.include_router(metrics_api.router)
    app.include_router(files_api.router)
    app.include_router(health_api.router)
    docs_api.install(app)
    install_console(app)  # /console: the web pages (reelgate/console)


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
        )
        docs_api.add_security(schema)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["CreateRequest"] = CreateRequest.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for name, sub in components["CreateRequest"].pop("$defs", {}).items():
            components.setdefault(name, sub)
        app.openapi_schema = schema
    return app.openapi_schema
