"""The gateway's object graph: the stores and the services, built once on what
``reelgate.startup.open_gateway`` opened (the engine, the upstream client, Redis, the
storage) and with the providers it was handed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.adapters import webhook_sender
from reelgate.blobs.base import Storage
from reelgate.domain.channels import Cooldown
from reelgate.domain.polling import PollSchedule
from reelgate.domain.pricing import PriceTable
from reelgate.domain.webhooks import RetrySchedule
from reelgate.providers.base import ProviderFactory
from reelgate.providers.webhooks import WebhookSender
from reelgate.services.accounts import AccountService
from reelgate.services.auth import Authenticator
from reelgate.services.bootstrap import Credentials, bootstrap, sandbox_api_keys, signing_secret
from reelgate.services.callbacks import CallbackVerifier, Dispatcher
from reelgate.services.channel_admin import ChannelService
from reelgate.services.channel_config import declare_channels
from reelgate.services.channels import ChannelRouter
from reelgate.services.deliveries import DeliveryService
from reelgate.services.events import EventBus, StreamSlots
from reelgate.services.files import FileService
from reelgate.services.idempotency import IdempotencyService
from reelgate.services.limits import LocalRateLimiter, RateLimiter
from reelgate.services.metrics import Metrics
from reelgate.services.metrics_page import MetricsPage
from reelgate.services.redis_events import RedisEventFanout
from reelgate.services.redis_limits import RedisRateLimiter
from reelgate.services.task_cache import TaskCache
from reelgate.services.task_streams import TaskStreams
from reelgate.services.tasks import TaskService
from reelgate.services.tracker import Tracker, utc_now
from reelgate.services.upstream_callbacks import UpstreamCallbacks
from reelgate.settings import Settings
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.channels import ChannelStore
from reelgate.store.deliveries import DeliveryStore
from reelgate.store.idempotency import IdempotencyStore
from reelgate.store.reports import Reports
from reelgate.store.tasks import TaskStore
from reelgate.worker import Worker

log = logging.getLogger(__name__)

Announce = Callable[[Credentials], None]


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
    idempotency: IdempotencyService
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
    # what handlers ask for (api/deps.py) besides the services above, built on them
    delivery_service: DeliveryService = field(init=False)
    task_streams: TaskStreams = field(init=False)
    metrics_page: MetricsPage = field(init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        self.streams = StreamSlots(settings.max_event_streams_per_key)
        self.delivery_service = DeliveryService(self.deliveries, wake=self.dispatcher.wake)
        self.task_streams = TaskStreams(
            tasks=self.task_service,
            bus=self.events,
            slots=self.streams,
            keepalive_s=settings.event_stream_keepalive_s,
        )
        token = settings.metrics_token
        self.metrics_page = MetricsPage(
            metrics=self.metrics,
            router=self.router,
            auth=self.auth,
            scrape_token=token.get_secret_value() if token is not None else None,
        )

    @property
    def runs_worker(self) -> bool:
        return self.worker is not None

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


@dataclass
class Parts:
    """What ``open_gateway`` opened, and the steps that build the services on it."""

    settings: Settings
    engine: AsyncEngine
    client: httpx.AsyncClient
    redis: Redis | None
    storage: Storage
    api: bool
    worker: bool
    fanout: RedisEventFanout | None = None
    clock: Callable[[], datetime] = utc_now  # what the tracker reads as now
    # seconds for the router's cool-downs and budgets and the local rate windows
    monotonic: Callable[[], float] = time.monotonic
    webhooks: WebhookSender | None = None  # callbacks to clients; None: the httpx adapter

    async def assemble(self, providers: ProviderFactory, announce: Announce | None) -> Gateway:
        settings, engine, redis = self.settings, self.engine, self.redis
        accounts = AccountStore(engine)
        # Every change reaches this bus where Redis carries other processes' changes, or
        # where there are none (the single process on SQLite); else streams re-read.
        single = self.api and self.worker and not settings.database.startswith("postgresql")
        events = EventBus(complete=redis is not None or single)
        if redis is not None:
            self.fanout = RedisEventFanout(redis, events, prefix=settings.redis_prefix)
        tasks = TaskStore(engine, on_change=self.fanout.notify if self.fanout else events.notify)
        limiter: RateLimiter = (
            RedisRateLimiter(redis, prefix=settings.redis_prefix)
            if redis
            else LocalRateLimiter(self.monotonic)
        )
        if self.api:  # a worker has no one to show first-start credentials to
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
        router = await self._router(channel_store, limiter, metrics, providers)
        idempotency = IdempotencyStore(engine)
        files = self._files(router, secret)
        tracker = self._tracker(tasks, router, files, metrics, idempotency)
        callbacks = UpstreamCallbacks(secret, settings.public_base_url)
        deliveries = DeliveryStore(engine)
        auth = Authenticator(accounts, limiter)
        return Gateway(
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
            idempotency=IdempotencyService(
                idempotency, ttl_s=settings.idempotency_ttl_s, lease_s=settings.idempotency_lease
            ),
            deliveries=deliveries,
            dispatcher=self._dispatcher(deliveries),
            task_service=self._task_service(tasks, router, callbacks, tracker, events, files),
            file_service=files,
            tracker=tracker,
            events=events,
            client=self.client,
            redis=redis,
            sandbox_keys=sandbox_keys,
        )

    async def _router(
        self,
        channel_store: ChannelStore,
        limiter: RateLimiter,
        metrics: Metrics,
        providers: ProviderFactory,
    ) -> ChannelRouter:
        settings = self.settings
        router = ChannelRouter(
            store=channel_store,
            limiter=limiter,
            providers=providers,
            submit_deadline_s=settings.submit_deadline_s,
            budget_window_s=settings.channel_budget_window_s,
            cooldown=Cooldown(base_s=settings.channel_cooldown_s),
            on_call=metrics.upstream_call,
            clock=self.monotonic,
        )
        await router.refresh(force=True)
        return router

    def _files(self, router: ChannelRouter, secret: bytes) -> FileService:
        settings = self.settings
        return FileService(
            storage=self.storage,
            providers=router.provider,
            secret=secret,
            base_url=settings.base_url,
            url_ttl_s=settings.download_url_ttl_s,
            copy_videos=settings.copy_videos,
            redirect_downloads=settings.storage_s3_serve == "redirect",
        )

    def _tracker(
        self,
        tasks: TaskStore,
        router: ChannelRouter,
        files: FileService,
        metrics: Metrics,
        idempotency: IdempotencyStore,
    ) -> Tracker:
        settings = self.settings
        return Tracker(
            tasks=tasks,
            router=router,
            files=files,
            schedule=poll_schedule(settings),
            pushed_schedule=PollSchedule(
                initial=settings.pushed_poll_s, maximum=settings.pushed_poll_s
            ),
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
            clock=self.clock,
            prices=PriceTable.load(settings.prices_file),  # to settle by the second
        )

    def _dispatcher(self, deliveries: DeliveryStore) -> Dispatcher:
        settings = self.settings
        return Dispatcher(
            store=deliveries,
            sender=self._webhooks(),
            schedule=RetrySchedule(
                first_s=settings.callback_retry_first_s,
                window_s=settings.callback_retry_window_s,
            ),
            lease=timedelta(seconds=settings.lease_s),
        )

    def _webhooks(self) -> WebhookSender:
        return self.webhooks or webhook_sender(self.settings, self.client)

    def _task_service(
        self,
        tasks: TaskStore,
        router: ChannelRouter,
        callbacks: UpstreamCallbacks,
        tracker: Tracker,
        events: EventBus,
        files: FileService,
    ) -> TaskService:
        settings = self.settings
        cache = TaskCache()
        events.listen(cache.invalidate)  # with Redis, changes made anywhere reach here too
        return TaskService(
            tasks=tasks,
            router=router,
            callbacks=callbacks,
            verifier=CallbackVerifier(self._webhooks()),
            schedule=poll_schedule(settings),
            deadline=timedelta(seconds=settings.task_deadline_s),
            prices=PriceTable.load(settings.prices_file),
            cache=cache,
            on_submitted=tracker.wake if self.worker else None,
            on_deleted=files.forget,
        )


def poll_schedule(settings: Settings) -> PollSchedule:
    return PollSchedule(initial=settings.poll_initial_s, maximum=settings.poll_max_s)
