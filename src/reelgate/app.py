"""The composition root: the one place that picks concrete adapters and wires them.

``create_app`` builds the ASGI app; its lifespan opens the store (migrating or checking
it: ``migrates_at_start``), the one shared ``httpx.AsyncClient``, Redis when configured,
the provider, the storage and the worker, and closes them. ``reelgate worker`` opens the
same gateway without the API (``open_gateway(settings, api=False)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate import __version__
from reelgate.api import admin as admin_api
from reelgate.api import channels as channels_api
from reelgate.api import docs as docs_api
from reelgate.api import errors as api_errors
from reelgate.api import files as files_api
from reelgate.api import health as health_api
from reelgate.api import metrics as metrics_api
from reelgate.api import minimax as minimax_api
from reelgate.api import platform as platform_api
from reelgate.api import upstream as upstream_api
from reelgate.api import webhooks as webhooks_api
from reelgate.api.params import url_without_nul
from reelgate.api.paths import CollapseSlashes
from reelgate.api.schemas import CreateRequest
from reelgate.domain.channels import Cooldown
from reelgate.domain.polling import PollSchedule
from reelgate.domain.pricing import PriceTable
from reelgate.domain.webhooks import RetrySchedule
from reelgate.http_limits import BodyLimit, gateway_errors
from reelgate.services.accounts import AccountService
from reelgate.services.auth import Authenticator
from reelgate.services.bootstrap import Credentials, bootstrap, sandbox_api_keys, signing_secret
from reelgate.services.callbacks import CallbackVerifier, Dispatcher
from reelgate.services.channel_config import declare_channels
from reelgate.services.channels import ChannelRouter, ChannelService
from reelgate.services.events import EventBus, StreamSlots
from reelgate.services.files import FileService
from reelgate.services.limits import LocalRateLimiter, RateLimiter
from reelgate.services.metrics import Metrics
from reelgate.services.redis_events import RedisEventFanout
from reelgate.services.redis_limits import RedisRateLimiter
from reelgate.services.task_cache import TaskCache
from reelgate.services.tasks import TaskService
from reelgate.services.tracker import Tracker
from reelgate.services.upstream_callbacks import UpstreamCallbacks
from reelgate.settings import SANDBOX_MOUNT, STANDALONE_SANDBOX_KEY, Settings
from reelgate.storage.base import Storage
from reelgate.storage.local import LocalStorage
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.channels import ChannelStore
from reelgate.store.deliveries import DeliveryStore
from reelgate.store.idempotency import IdempotencyStore
from reelgate.store.reports import Reports
from reelgate.store.tasks import TaskStore
from reelgate.wire import TraceIdMiddleware
from reelgate.worker import Worker

if TYPE_CHECKING:
    from reelgate.sandbox.service import Sandbox

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


def build_storage(settings: Settings) -> Storage:
    """The videos' storage: a local folder, or an S3-compatible bucket (docs/storage.md)."""
    if settings.storage_backend == "local":
        return LocalStorage(settings.videos_dir)
    if not settings.storage_s3_bucket:
        raise ValueError("storage_backend=s3 needs REELGATE_STORAGE_S3_BUCKET")
    # imported here: the S3 client (aiobotocore, aiohttp: ~50 MiB) only where it is used
    from reelgate.storage.s3 import S3Config, S3Storage

    secret = settings.storage_s3_secret_access_key
    return S3Storage(
        S3Config(
            bucket=settings.storage_s3_bucket,
            prefix=settings.storage_s3_prefix,
            endpoint_url=settings.storage_s3_endpoint_url,
            region=settings.storage_s3_region,
            access_key_id=settings.storage_s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            addressing_style=settings.storage_s3_addressing_style,
        )
    )


@dataclass
class Gateway:
    """Everything a request handler or the worker needs, built once."""

    settings: Settings
    engine: AsyncEngine
    accounts: AccountStore
    tasks: TaskStore
    auth: Authenticator
    account_service: AccountService
    router: ChannelRouter
    channels: ChannelService
    upstream_callbacks: UpstreamCallbacks
    metrics: Metrics
    idempotency: IdempotencyStore
    deliveries: DeliveryStore
    dispatcher: Dispatcher
    task_service: TaskService
    file_service: FileService
    tracker: Tracker
    events: EventBus
    client: httpx.AsyncClient
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    worker: Worker | None = None  # the tracker and the dispatcher, where this process runs them
    redis: Redis | None = None
    sandbox_keys: list[str] = field(default_factory=list)  # the mounted sandbox's, if any
    streams: StreamSlots = field(init=False)  # open event streams per API key

    def __post_init__(self) -> None:
        self.streams = StreamSlots(self.settings.max_event_streams_per_key)

    async def readiness(self) -> list[str]:
        problems = []
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            schema = await database.schema_problem(self.engine)
            if schema is not None:
                problems.append(schema)
        except Exception as exc:  # readiness reports, it does not raise
            problems.append(f"store: {exc.__class__.__name__}: {exc}")
        if self.worker is not None and self.worker.failure is not None:
            problems.append(f"worker stopped: {self.worker.failure}")
        return problems

    async def redis_reachable(self) -> bool | None:
        """None without Redis. Its absence is reported, not fatal: limits fail open."""
        if self.redis is None:
            return None
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False


def migrates_at_start(settings: Settings, *, api: bool, worker: bool) -> bool:
    """The start-up rule (docs/scale.md): only the single process (API and worker together)
    migrates by itself; replicas and workers of a larger deployment check and refuse, so
    that migrating stays one deliberate step instead of N processes racing to do it."""
    if settings.auto_migrate is not None:
        return settings.auto_migrate
    return api and worker


async def prepare_store(settings: Settings, *, api: bool = True, worker: bool = True) -> None:
    """Migrate or check the schema before a server starts, so that a refusal is a clear
    message (``database.StartupError``) rather than a failed ASGI lifespan."""
    engine = database.create_engine(settings.database)
    try:
        await database.prepare(engine, migrate=migrates_at_start(settings, api=api, worker=worker))
    finally:
        await engine.dispose()


def redis_client(settings: Settings) -> Redis | None:
    if not settings.redis_url:
        return None
    timeout = settings.redis_timeout_s
    return Redis.from_url(
        settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
    )


async def _warn_about_sharing(
    settings: Settings, redis: Redis | None, *, api: bool, worker: bool
) -> None:
    """Say at start when limits and live events are per process although several may run:
    a split role (API-only or worker-only) or PostgreSQL without Redis."""
    if redis is None:
        if not (api and worker) or settings.database.startswith("postgresql"):
            log.warning(
                "REELGATE_REDIS_URL is not set: per-key rate limits and channel budgets are "
                "counted per process (N replicas let a key through N times its rpm_limit) and "
                "live events from other processes reach event streams at their next "
                "keep-alive (REELGATE_EVENT_STREAM_KEEPALIVE_S), not at once. "
                "Set REELGATE_REDIS_URL to share them (docs/scale.md)."
            )
        return
    try:
        await redis.ping()
    except (RedisError, OSError) as exc:
        log.warning(
            "Redis at REELGATE_REDIS_URL does not answer (%s: %s); starting anyway: limits are "
            "per process until it does",
            exc.__class__.__name__,
            exc,
        )


@contextlib.asynccontextmanager
async def open_gateway(
    settings: Settings,
    *,
    worker: bool = True,
    api: bool = True,
    announce: Announce | None = print_credentials,
) -> AsyncIterator[Gateway]:
    """Open the store (migrated or checked), the clients and the services.

    ``api`` and ``worker`` say what this process is: both (the single process: the worker
    runs in the background), the API alone (``serve --no-worker``: no tracker, no
    dispatcher), or the worker alone (``reelgate worker``: the caller runs ``gw.worker``).
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    storage = build_storage(settings)
    engine = database.create_engine(settings.database)
    client = upstream_client(settings)
    redis = redis_client(settings)
    try:
        await database.prepare(engine, migrate=migrates_at_start(settings, api=api, worker=worker))
        await _warn_about_sharing(settings, redis, api=api, worker=worker)
        accounts = AccountStore(engine)
        # Every change reaches this bus where Redis carries other processes' changes, or
        # where there are none (the single process on SQLite); else streams re-read.
        events = EventBus(
            complete=redis is not None
            or (api and worker and not settings.database.startswith("postgresql"))
        )
        fanout = RedisEventFanout(redis, events, prefix=settings.redis_prefix) if redis else None
        tasks = TaskStore(engine, on_change=fanout.notify if fanout else events.notify)
        limiter: RateLimiter = (
            RedisRateLimiter(redis, prefix=settings.redis_prefix) if redis else LocalRateLimiter()
        )
        if api:  # a worker has no one to show first-start credentials to
            creds = await bootstrap(accounts, settings)
            if creds is not None and announce is not None:
                announce(creds)
        secret = await signing_secret(accounts, settings)
        # the mounted sandbox's keys (a secret kept in the store unless set): the implicit
        # channel calls it with the first
        sandbox_keys = (
            await sandbox_api_keys(accounts, settings) if settings.sandbox_mounted else []
        )
        channel_store = ChannelStore(engine)
        await declare_channels(channel_store, settings, sandbox_keys[0] if sandbox_keys else None)
        metrics = Metrics()
        router = ChannelRouter(
            store=channel_store,
            client=client,
            limiter=limiter,
            submit_deadline_s=settings.submit_deadline_s,
            budget_window_s=settings.channel_budget_window_s,
            cooldown=Cooldown(base_s=settings.channel_cooldown_s),
            on_call=metrics.upstream_call,
            allow_private_downloads=settings.allow_private_urls,
        )
        await router.refresh(force=True)
        schedule = PollSchedule(initial=settings.poll_initial_s, maximum=settings.poll_max_s)
        idempotency = IdempotencyStore(engine)
        pushed = PollSchedule(initial=settings.pushed_poll_s, maximum=settings.pushed_poll_s)
        files = FileService(
            storage=storage,
            providers=router.provider,
            secret=secret,
            base_url=settings.base_url,
            url_ttl_s=settings.download_url_ttl_s,
            copy_videos=settings.copy_videos,
            redirect_downloads=settings.storage_s3_serve == "redirect",
        )
        tracker = Tracker(
            tasks=tasks,
            router=router,
            files=files,
            schedule=schedule,
            pushed_schedule=pushed,
            observe=metrics.observe,
            batch=settings.tracker_batch,
            concurrency=settings.tracker_concurrency,
            lease=timedelta(seconds=settings.lease_s),
            sweep_every_s=settings.sweep_interval_s,
            # a submit still trying channels must never be taken for an interrupted one
            submit_grace=timedelta(
                seconds=settings.submit_deadline_s + settings.upstream_timeout_s + 60
            ),
            purge=idempotency.purge,
        )
        callbacks = UpstreamCallbacks(secret, settings.public_base_url)
        deliveries = DeliveryStore(engine)
        dispatcher = Dispatcher(
            store=deliveries,
            client=client,
            schedule=RetrySchedule(
                first_s=settings.callback_retry_first_s,
                window_s=settings.callback_retry_window_s,
            ),
            allow_private=settings.allow_private_urls,
            lease=timedelta(seconds=settings.lease_s),
        )
        cache = TaskCache()
        events.listen(cache.invalidate)  # with Redis, changes made anywhere reach here too
        service = TaskService(
            tasks=tasks,
            router=router,
            callbacks=callbacks,
            verifier=CallbackVerifier(client, allow_private=settings.allow_private_urls),
            schedule=schedule,
            deadline=timedelta(seconds=settings.task_deadline_s),
            prices=PriceTable.load(settings.prices_file),
            cache=cache,
            on_submitted=tracker.wake if worker else None,
        )
        auth = Authenticator(accounts, limiter)
        gw = Gateway(
            settings=settings,
            engine=engine,
            accounts=accounts,
            tasks=tasks,
            auth=auth,
            account_service=AccountService(accounts=accounts, reports=Reports(engine), auth=auth),
            router=router,
            channels=ChannelService(store=channel_store, router=router),
            upstream_callbacks=callbacks,
            metrics=metrics,
            idempotency=idempotency,
            deliveries=deliveries,
            dispatcher=dispatcher,
            task_service=service,
            file_service=files,
            tracker=tracker,
            events=events,
            client=client,
            redis=redis,
            sandbox_keys=sandbox_keys,
        )
        worker_job = None
        if worker:
            gw.worker = Worker(
                {"tracker": tracker, "dispatcher": dispatcher},
                max_crashes=settings.worker_max_crashes,
                crash_window_s=settings.worker_crash_window_s,
                shutdown_grace_s=settings.worker_shutdown_grace_s,
            )
            if api:
                worker_job = asyncio.create_task(gw.worker.run(), name="worker")
                worker_job.add_done_callback(_log_worker_end)
        if api:
            gw.background.append(
                asyncio.create_task(metrics.sample_store(tasks), name="metrics-sampler")
            )
        if fanout is not None:
            gw.background.append(
                asyncio.create_task(fanout.publish_forever(), name="events-publish")
            )
            if api:  # only API replicas have waiters (SSE streams) to wake
                gw.background.append(
                    asyncio.create_task(fanout.subscribe_forever(), name="events-subscribe")
                )
        try:
            yield gw
        finally:
            if gw.worker is not None:
                gw.worker.stop()  # loops finish their round and release their leases
            if worker_job is not None:
                await asyncio.wait({worker_job}, timeout=settings.worker_shutdown_grace_s + 1)
                gw.background.append(worker_job)
            for job in gw.background:
                job.cancel()
            await asyncio.gather(*gw.background, return_exceptions=True)
    finally:
        await storage.aclose()
        await client.aclose()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


def _log_worker_end(job: asyncio.Task[None]) -> None:
    # In the single process the API keeps serving; /readyz reports the stopped worker.
    if not job.cancelled() and job.exception() is not None:
        log.error("the in-process worker stopped: %s; /readyz reports it", job.exception())


def build_sandbox(settings: Settings, *, mounted: bool = False) -> Sandbox:
    """The sandbox. Standalone it accepts REELGATE_SANDBOX_API_KEYS or the documented
    ``sandbox-key``; mounted, no key until the gateway has read its own from the store
    (``Sandbox.use_api_keys`` in ``create_app``'s lifespan)."""
    # imported here: a gateway in front of a real upstream never loads the sandbox
    from reelgate.sandbox.faults import FaultPlan
    from reelgate.sandbox.pool import RenderPool
    from reelgate.sandbox.service import Sandbox
    from reelgate.sandbox.state import SandboxState
    from reelgate.sandbox.timeline import timeline_for

    return Sandbox(
        state=SandboxState(settings.sandbox_dir),
        timeline=timeline_for(settings.sandbox_timings),
        api_keys=[] if mounted else settings.sandbox_api_keys or [STANDALONE_SANDBOX_KEY],
        client=upstream_client(settings),
        pool=RenderPool(settings.sandbox_render_workers),
        allow_private_urls=settings.sandbox_allow_private_urls,
        url_ttl_s=settings.sandbox_url_ttl_s,
        render_mode=settings.sandbox_render,
        rpm=settings.sandbox_rpm,
        faults=FaultPlan.parse(
            settings.sandbox_faults,
            seed=settings.sandbox_fault_seed,
            slow_s=settings.sandbox_slow_s,
            hang_s=settings.sandbox_hang_s,
        ),
    )


def create_app(
    settings: Settings, *, worker: bool = True, announce: Announce | None = print_credentials
) -> FastAPI:
    """The gateway as an ASGI app, with the sandbox mounted at /sandbox when enabled
    (``Settings.sandbox_mounted``: by default only without a real MiniMax key)."""
    sandbox = build_sandbox(settings, mounted=True) if settings.sandbox_mounted else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if sandbox is not None:
            await sandbox.start()
        try:
            async with open_gateway(settings, worker=worker, announce=announce) as gw:
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
    api_errors.install(app)
    minimax_api.include(app)  # under /minimaxi/v1 and at the root (/v1/video_generation...)
    app.include_router(platform_api.router)
    app.include_router(admin_api.router)
    app.include_router(channels_api.router)
    app.include_router(upstream_api.router)
    app.include_router(webhooks_api.router)
    app.include_router(metrics_api.router)
    app.include_router(files_api.router)
    app.include_router(health_api.router)
    docs_api.install(app)
    if sandbox is not None:
        from reelgate.sandbox.app import create_sandbox_app

        async def admin_only(token: str | None) -> None:
            # the control endpoints see every tenant's upstream tasks and steer the faults
            await app.state.gateway.auth.admin(token)

        app.mount(SANDBOX_MOUNT, create_sandbox_app(sandbox, control_auth=admin_only))

    def openapi() -> dict[str, Any]:
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

    app.openapi = openapi  # type: ignore[method-assign]
    return app
