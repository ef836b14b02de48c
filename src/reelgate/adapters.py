"""The concrete adapters the composition root picks: the upstream client and providers,
the sender of callbacks to clients, the videos' storage, Redis and the sandbox. Nothing
else in the gateway names them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from redis.asyncio import Redis

from reelgate.blobs.base import Storage
from reelgate.blobs.local import LocalStorage
from reelgate.providers.base import ProviderFactory
from reelgate.providers.http_webhooks import HttpWebhooks
from reelgate.providers.minimax_channel import minimax_providers
from reelgate.providers.upstream_http import AiohttpCalls
from reelgate.providers.webhooks import WebhookSender
from reelgate.settings import STANDALONE_SANDBOX_KEY, Settings

if TYPE_CHECKING:
    from reelgate.sandbox.service import Sandbox


def upstream_client(settings: Settings) -> httpx.AsyncClient:
    timeout = httpx.Timeout(settings.upstream_timeout_s, connect=5.0)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    # trust_env=False: a proxy variable must not reroute calls to a loopback sandbox
    return httpx.AsyncClient(timeout=timeout, limits=limits, trust_env=False)


def upstream_calls(settings: Settings) -> AiohttpCalls:
    """The providers' JSON calls: aiohttp, a tenth of httpx's CPU a call
    (``providers/upstream_http.py``); closed with ``aclose``."""
    return AiohttpCalls(settings.upstream_timeout_s, connect_s=5.0, limit=200)


def upstream_providers(
    settings: Settings, client: httpx.AsyncClient, calls: AiohttpCalls | None = None
) -> ProviderFactory:
    """Every channel speaks MiniMax v1 today (the real service or the sandbox)."""
    return minimax_providers(
        client, allow_private_downloads=settings.allow_private_urls, calls=calls
    )


def webhook_sender(settings: Settings, client: httpx.AsyncClient) -> WebhookSender:
    """Callbacks to clients' URLs (the challenge, the deliveries), behind the URL guard."""
    return HttpWebhooks(client, allow_private=settings.allow_private_urls)


def build_storage(settings: Settings) -> Storage:
    """The videos' storage: a local folder, or an S3-compatible bucket (docs/storage.md)."""
    if settings.storage_backend == "local":
        return LocalStorage(settings.videos_dir)
    if not settings.storage_s3_bucket:
        raise ValueError("storage_backend=s3 needs REELGATE_STORAGE_S3_BUCKET")
    # imported here: the S3 client (aiobotocore, aiohttp: ~50 MiB) only where it is used
    from reelgate.blobs.s3 import S3Config, S3Storage

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


def redis_client(settings: Settings) -> Redis | None:
    if not settings.redis_url:
        return None
    timeout = settings.redis_timeout_s
    return Redis.from_url(
        settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
    )


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
