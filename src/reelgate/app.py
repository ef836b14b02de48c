"""The composition root: the one place that picks concrete adapters and wires them.

``create_app`` builds the ASGI app; its lifespan opens the store (migrating it), the one
shared ``httpx.AsyncClient``, the provider, the storage and the tracker, and closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate import __version__
from reelgate.api import admin as admin_api
from reelgate.api import errors as api_errors
from reelgate.api import files as files_api
from reelgate.api import health as health_api
from reelgate.api import minimax as minimax_api
from reelgate.api import platform as platform_api
from reelgate.api.schemas import CreateRequest
from reelgate.domain.polling import PollSchedule
from reelgate.domain.pricing import PriceTable
from reelgate.providers.base import Provider
from reelgate.providers.minimax import MiniMaxProvider
from reelgate.sandbox.app import create_sandbox_app
from reelgate.sandbox.pool import RenderPool
from reelgate.sandbox.service import Sandbox
from reelgate.sandbox.state import SandboxState
from reelgate.sandbox.timeline import timeline_for
from reelgate.services.accounts import AccountService
from reelgate.services.auth import Authenticator
from reelgate.services.bootstrap import Credentials, bootstrap, signing_secret
from reelgate.services.events import EventBus
from reelgate.services.files import FileService
from reelgate.services.limits import LocalRateLimiter
from reelgate.services.tasks import TaskService
from reelgate.services.tracker import Tracker
from reelgate.settings import SANDBOX_MOUNT, Settings
from reelgate.storage.local import LocalStorage
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.reports import Reports
from reelgate.store.tasks import TaskStore
from reelgate.wire import TraceIdMiddleware

log = logging.getLogger(__name__)

Announce = Callable[[Credentials], None]


def print_credentials(creds: Credentials) -> None:
    """Show first-start credentials once; they are stored only as hashes."""
    lines = ["", "reelgate: first start, created the default account.", ""]
    if creds.admin_token:
        lines.append(f"  admin token: {creds.admin_token}")
    if creds.api_key:
        lines.append(f"  API key:     {creds.api_key}")
    lines += ["", "These are shown once and stored only as hashes: keep them now.", ""]
    print("\n".join(lines), file=sys.stderr, flush=True)


def upstream_client(settings: Settings) -> httpx.AsyncClient:
    timeout = httpx.Timeout(settings.upstream_timeout_s, connect=5.0)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    # trust_env=False: a proxy variable must not reroute calls to a loopback sandbox
    return httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False)


@dataclass
class Gateway:
    """Everything a request handler or the worker needs, built once."""

    settings: Settings
    engine: AsyncEngine
    accounts: AccountStore
    tasks: TaskStore
    auth: Authenticator
    account_service: AccountService
    provider: Provider
    task_service: TaskService
    file_service: FileService
    tracker: Tracker
    events: EventBus
    client: httpx.AsyncClient
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    async def readiness(self) -> list[str]:
        problems = []
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            current = await database.current_revision(self.engine)
            if current != database.head_revision():
                problems.append(f"schema at {current}, expected {database.head_revision()}")
        except Exception as exc:  # readiness reports, it does not raise
            problems.append(f"store: {exc.__class__.__name__}: {exc}")
        return problems


@contextlib.asynccontextmanager
async def open_gateway(
    settings: Settings, *, worker: bool = True, announce: Announce | None = print_credentials
) -> AsyncIterator[Gateway]:
    """Open the store (migrated), the client and the services; run the tracker if asked."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = database.create_engine(settings.database)
    client = upstream_client(settings)
    try:
        await database.upgrade(engine)
        accounts = AccountStore(engine)
        events = EventBus()
        tasks = TaskStore(engine, on_change=events.notify)
        creds = await bootstrap(accounts, settings)
        if creds is not None and announce is not None:
            announce(creds)
        secret = await signing_secret(accounts, settings)
        provider = MiniMaxProvider(
            "minimax" if settings.minimax_api_key else "sandbox",
            settings.upstream_base_url,
            settings.upstream_api_key,
            client,
        )
        schedule = PollSchedule(initial=settings.poll_initial_s, maximum=settings.poll_max_s)
        files = FileService(
            storage=LocalStorage(settings.videos_dir),
            provider=provider,
            secret=secret,
            base_url=settings.base_url,
            url_ttl_s=settings.download_url_ttl_s,
        )
        tracker = Tracker(
            tasks=tasks,
            provider=provider,
            files=files,
            schedule=schedule,
            batch=settings.tracker_batch,
            concurrency=settings.tracker_concurrency,
            lease=timedelta(seconds=settings.lease_s),
            sweep_every_s=settings.sweep_interval_s,
        )
        service = TaskService(
            tasks=tasks,
            provider=provider,
            schedule=schedule,
            deadline=timedelta(seconds=settings.task_deadline_s),
            prices=PriceTable.load(settings.prices_file),
            on_submitted=tracker.wake if worker else None,
        )
        auth = Authenticator(accounts, LocalRateLimiter())
        gw = Gateway(
            settings=settings,
            engine=engine,
            accounts=accounts,
            tasks=tasks,
            auth=auth,
            account_service=AccountService(accounts=accounts, reports=Reports(engine), auth=auth),
            provider=provider,
            task_service=service,
            file_service=files,
            tracker=tracker,
            events=events,
            client=client,
        )
        if worker:
            gw.background.append(asyncio.create_task(tracker.run(), name="tracker"))
        try:
            yield gw
        finally:
            tracker.stop()
            for job in gw.background:
                job.cancel()
            await asyncio.gather(*gw.background, return_exceptions=True)
    finally:
        await client.aclose()
        await engine.dispose()


def build_sandbox(settings: Settings) -> Sandbox:
    return Sandbox(
        state=SandboxState(settings.sandbox_dir),
        timeline=timeline_for(settings.sandbox_timings),
        api_keys=settings.sandbox_api_keys,
        client=upstream_client(settings),
        pool=RenderPool(settings.sandbox_render_workers),
        allow_private_urls=settings.sandbox_allow_private_urls,
        url_ttl_s=settings.sandbox_url_ttl_s,
    )


def create_app(
    settings: Settings, *, worker: bool = True, announce: Announce | None = print_credentials
) -> FastAPI:
    """The gateway as an ASGI app, with the sandbox mounted at /sandbox when enabled."""
    sandbox = build_sandbox(settings) if settings.sandbox_enabled else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if sandbox is not None:
            await sandbox.start()
        try:
            async with open_gateway(settings, worker=worker, announce=announce) as gw:
                app.state.gateway = gw
                yield
        finally:
            if sandbox is not None:
                await sandbox.close()

    app = FastAPI(
        title="reelgate",
        version=__version__,
        summary="A self-hosted, MiniMax-compatible gateway for AI video generation.",
        lifespan=lifespan,
    )
    app.add_middleware(TraceIdMiddleware)
    api_errors.install(app)
    app.include_router(minimax_api.router)
    app.include_router(platform_api.router)
    app.include_router(admin_api.router)
    app.include_router(files_api.router)
    app.include_router(health_api.router)
    if sandbox is not None:
        app.mount(SANDBOX_MOUNT, create_sandbox_app(sandbox))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components["CreateRequest"] = CreateRequest.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            for name, sub in components["CreateRequest"].pop("$defs", {}).items():
                components.setdefault(name, sub)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
