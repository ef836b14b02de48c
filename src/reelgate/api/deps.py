"""What a handler may ask for: who calls (``Bearer`` for an API key, ``Operator`` for the
admin token) and the one or two services it uses (``Tasks``, ``Deliveries``...), so that
a handler's signature says what it uses. Each provider reads only the request, so none
of them shows in the OpenAPI document as a parameter.

``gateway`` is the one way to the whole object graph; handlers do not call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

from fastapi import Depends
from starlette.requests import Request

from reelgate.domain.accounts import ApiKey
from reelgate.domain.pricing import PriceTable
from reelgate.services.accounts import AccountService
from reelgate.services.auth import Authenticator
from reelgate.services.channel_admin import ChannelService
from reelgate.services.deliveries import DeliveryService
from reelgate.services.files import FileService
from reelgate.services.metrics_page import MetricsPage
from reelgate.services.task_streams import TaskStreams
from reelgate.services.tasks import TaskService
from reelgate.services.tracker import Tracker
from reelgate.services.upstream_callbacks import UpstreamCallbacks
from reelgate.wire import bearer_token

if TYPE_CHECKING:
    from reelgate.gateway import Gateway


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


# -- who calls -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bearer:
    """The caller of a platform route: whoever holds the bearer token it sent.

    The key is checked when the handler asks for it (``await caller.key()``), that is
    after FastAPI has validated the route's parameters: a malformed request is refused
    (422) before its key is looked up or counted against the key's rate limit, as the
    platform API has always answered.
    """

    token: str | None
    auth: Authenticator

    async def key(self) -> ApiKey:
        """The caller's key; Unauthorized (401), Forbidden or RateLimited otherwise."""
        return await self.auth.api_key(self.token)


async def bearer(request: Request) -> Bearer:
    return Bearer(bearer_token(request), gateway(request).auth)


async def operator(request: Request) -> None:
    """The admin token, or Unauthorized (401). A dependency, so it is checked before the
    route's parameters and body are validated: an anonymous caller learns nothing of
    what a valid request looks like."""
    await gateway(request).auth.admin(bearer_token(request))


# -- the services ----------------------------------------------------------------------
# ``async def``, though none awaits: FastAPI runs a plain ``def`` dependency in its
# thread pool, a thread hand-off per request for a lookup of an attribute (issue 19).


async def task_service(request: Request) -> TaskService:
    return gateway(request).task_service


async def file_service(request: Request) -> FileService:
    return gateway(request).file_service


async def account_service(request: Request) -> AccountService:
    return gateway(request).account_service


async def channel_service(request: Request) -> ChannelService:
    return gateway(request).channels


async def delivery_service(request: Request) -> DeliveryService:
    return gateway(request).delivery_service


async def task_streams(request: Request) -> TaskStreams:
    return gateway(request).task_streams


async def metrics_page(request: Request) -> MetricsPage:
    return gateway(request).metrics_page


async def upstream_callbacks(request: Request) -> UpstreamCallbacks:
    return gateway(request).upstream_callbacks


async def tracker(request: Request) -> Tracker:
    return gateway(request).tracker


@lru_cache(maxsize=4)
def _price_table(path: Path | None) -> PriceTable:
    return PriceTable.load(path)


async def price_table(request: Request) -> PriceTable:
    """The price table of the gateway's settings, read once per file."""
    return _price_table(gateway(request).settings.prices_file)


class Probes(Protocol):
    """What ``/readyz`` asks of the running gateway (``Gateway`` is one)."""

    @property
    def runs_worker(self) -> bool: ...

    async def readiness(self) -> list[str]: ...

    async def redis_reachable(self) -> bool | None: ...


async def probes(request: Request) -> Probes:
    return gateway(request)


ApiCaller = Annotated[Bearer, Depends(bearer)]
Operator = Annotated[None, Depends(operator)]
Tasks = Annotated[TaskService, Depends(task_service)]
Files = Annotated[FileService, Depends(file_service)]
Accounts = Annotated[AccountService, Depends(account_service)]
Channels = Annotated[ChannelService, Depends(channel_service)]
Deliveries = Annotated[DeliveryService, Depends(delivery_service)]
Streams = Annotated[TaskStreams, Depends(task_streams)]
