"""One MiniMax account (a channel) over both of its wires: each model goes to the wire
the catalog says serves it (``VideoModel.api``), with the channel's one base URL, key
and budget."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx

from reelgate.domain.catalog import MODELS, Api
from reelgate.domain.channels import Channel
from reelgate.domain.video import VideoRequest
from reelgate.providers.base import FileInfo, ProviderFactory, PushedStatus, QueryResult
from reelgate.providers.minimax import MiniMaxProvider
from reelgate.providers.minimax_v2 import MiniMaxV2Provider
from reelgate.providers.upstream_http import UpstreamCalls


class MiniMaxChannel:
    """The Provider of a MiniMax channel: v1 for Hailuo, v2 for MiniMax-H3."""

    def __init__(self, v1: MiniMaxProvider, v2: MiniMaxV2Provider) -> None:
        self.name = v1.name
        self._v1 = v1
        self._v2 = v2

    def __repr__(self) -> str:
        return f"MiniMaxChannel({self.name!r})"

    def wire(self, model: str | None) -> MiniMaxProvider:
        spec = MODELS.get(model) if model else None
        return self._v2 if spec is not None and spec.api is Api.MINIMAX_V2 else self._v1

    async def submit(self, request: VideoRequest, callback_url: str | None = None) -> str:
        return await self.wire(request.model).submit(request, callback_url)

    async def query(self, upstream_task_id: str, model: str | None = None) -> QueryResult:
        return await self.wire(model).query(upstream_task_id, model)

    async def retrieve_file(self, file_id: str, model: str | None = None) -> FileInfo:
        return await self.wire(model).retrieve_file(file_id, model)

    async def cancel(self, upstream_task_id: str, model: str | None = None) -> bool:
        return await self.wire(model).cancel(upstream_task_id, model)

    def read_push(
        self, body: Mapping[str, object], model: str | None = None
    ) -> PushedStatus | None:
        return self.wire(model).read_push(body, model)

    def download(self, url: str) -> AsyncIterator[bytes]:
        return self._v1.download(url)


def minimax_providers(
    client: httpx.AsyncClient,
    *,
    allow_private_downloads: bool = False,
    calls: UpstreamCalls | None = None,
) -> ProviderFactory:
    """The MiniMax adapter for each channel, all over one shared client (and ``calls``
    for the JSON calls, if given: ``providers/upstream_http.py``)."""

    def build(channel: Channel) -> MiniMaxChannel:
        args = (channel.name, channel.base_url, channel.api_key, client)
        private = allow_private_downloads
        return MiniMaxChannel(
            MiniMaxProvider(*args, allow_private_downloads=private, calls=calls),
            MiniMaxV2Provider(*args, allow_private_downloads=private, calls=calls),
        )

    return build
