"""Opening and closing the gateway: the store migrated or checked, the adapters the
composition root picks (``reelgate.adapters``, or the providers a caller hands in: the
in-process tests pass a fake), the object graph (``reelgate.gateway``) and what runs beside
the requests. ``create_app``'s lifespan and ``reelgate worker`` both run ``open_gateway``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from reelgate.adapters import (
    build_storage,
    redis_client,
    upstream_calls,
    upstream_client,
    upstream_providers,
)
from reelgate.gateway import Announce, Gateway, Parts
from reelgate.providers.base import ProviderFactory
from reelgate.services.bootstrap import Credentials
from reelgate.services.redis_events import RedisEventFanout
from reelgate.settings import Settings
from reelgate.store import database
from reelgate.worker import Worker

log = logging.getLogger(__name__)


def print_credentials(creds: Credentials) -> None:
    """Show first-start credentials once; they are stored only as hashes."""
    lines = ["", "reelgate: first start, created the default account.", ""]
    if creds.admin_token:
        lines.append(f"  admin token: {creds.admin_token}")
    if creds.api_key:
        lines.append(f"  API key:     {creds.api_key}")
    lines += ["", "These are shown once and stored only as hashes: keep them now.", ""]
    print("\n".join(lines), file=sys.stderr, flush=True)


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
    providers: ProviderFactory | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[Gateway]:
    """Open the store (migrated or checked), the clients and the services.

    ``api`` and ``worker`` say what this process is: both (the single process: the worker
    runs in the background), the API alone (``serve --no-worker``: no tracker, no
    dispatcher), or the worker alone (``reelgate worker``: the caller runs ``gw.worker``).
    ``providers`` builds each channel's provider: by default the MiniMax adapter.
    ``clock`` is the time the tracker reads (tasks due, deadlines): by default the real one.
    A clock handed in also drives, read as seconds, the channel router (cool-downs, budgets)
    and the local rate windows, so that a test that moves it moves all of the gateway's time.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    storage = build_storage(settings)
    engine = database.create_engine(settings.database)
    client = upstream_client(settings)
    calls = upstream_calls(settings)
    redis = redis_client(settings)
    try:
        await database.prepare(engine, migrate=migrates_at_start(settings, api=api, worker=worker))
        await _warn_about_sharing(settings, redis, api=api, worker=worker)
        parts = Parts(settings, engine, client, redis, storage, api=api, worker=worker)
        if clock is not None:
            parts.clock = clock
            parts.monotonic = _seconds_of(clock)
        factory = providers or upstream_providers(settings, client, calls)
        gw = await parts.assemble(factory, announce)
        worker_job = _start_background(gw, parts.fanout, api=api, worker=worker)
        try:
            yield gw
        finally:
            await _stop_background(gw, worker_job)
    finally:
        await storage.aclose()
        await client.aclose()
        await calls.aclose()
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


def _seconds_of(clock: Callable[[], datetime]) -> Callable[[], float]:
    """A clock of seconds that moves with ``clock`` (only differences of it are read)."""
    return lambda: clock().timestamp()


def _start_background(
    gw: Gateway, fanout: RedisEventFanout | None, *, api: bool, worker: bool
) -> asyncio.Task[None] | None:
    """Start what runs beside the requests; returns the in-process worker's job, if any."""
    settings = gw.settings
    worker_job = None
    if worker:
        gw.worker = Worker(
            {"tracker": gw.tracker, "dispatcher": gw.dispatcher},
            max_crashes=settings.worker_max_crashes,
            crash_window_s=settings.worker_crash_window_s,
            shutdown_grace_s=settings.worker_shutdown_grace_s,
        )
        if api:
            worker_job = asyncio.create_task(gw.worker.run(), name="worker")
            worker_job.add_done_callback(_log_worker_end)
    if api:
        gw.background.append(
            asyncio.create_task(gw.metrics.sample_store(gw.tasks), name="metrics-sampler")
        )
    if fanout is not None:
        gw.background.append(asyncio.create_task(fanout.publish_forever(), name="events-publish"))
        if api:  # only API replicas have waiters (SSE streams) to wake
            gw.background.append(
                asyncio.create_task(fanout.subscribe_forever(), name="events-subscribe")
            )
    return worker_job


async def _stop_background(gw: Gateway, worker_job: asyncio.Task[None] | None) -> None:
    if gw.worker is not None:
        gw.worker.stop()  # loops finish their round and release their leases
    if worker_job is not None:
        await asyncio.wait({worker_job}, timeout=gw.settings.worker_shutdown_grace_s + 1)
        gw.background.append(worker_job)
    for job in gw.background:
        job.cancel()
    await asyncio.gather(*gw.background, return_exceptions=True)


def _log_worker_end(job: asyncio.Task[None]) -> None:
    # In the single process the API keeps serving; /readyz reports the stopped worker.
    if not job.cancelled() and job.exception() is not None:
        log.error("the in-process worker stopped: %s; /readyz reports it", job.exception())
