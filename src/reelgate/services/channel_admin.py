"""Operator use cases for channels: list, create, change, delete, each checked first.

Every change is written to the store and the router reloads at once here; other replicas
see it within their refresh interval.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from reelgate.domain.catalog import MODELS
from reelgate.domain.channels import Channel
from reelgate.domain.urls import parse_web_url
from reelgate.errors import InvalidParams, NotFound
from reelgate.services.channels import ChannelRouter
from reelgate.store.channels import ChannelStore


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    """A channel's load and health as this process sees it."""

    in_flight: int
    calls_last_minute: int
    cooling_down: bool


class ChannelService:
    """Operator use cases for channels; every change is seen by the router at once here
    and by other replicas within their refresh interval."""

    def __init__(self, *, store: ChannelStore, router: ChannelRouter) -> None:
        self._store = store
        self._router = router

    async def list_all(self) -> list[Channel]:
        return await self._store.list()

    async def list_with_health(self) -> list[tuple[Channel, ChannelHealth]]:
        """Every channel with its health, read after a reload (a change made by another
        replica shows at once)."""
        await self._router.refresh(force=True)
        states = self._router.states()
        used = await self._router.budget_used()
        now = self._router.now()
        listed = []
        for channel in await self.list_all():
            state = states.get(channel.name)
            health = ChannelHealth(
                in_flight=state.in_flight if state else 0,
                calls_last_minute=used.get(channel.name, 0),
                cooling_down=bool(state and state.cooling_until > now),
            )
            listed.append((channel, health))
        return listed

    async def get(self, name: str) -> Channel:
        channel = await self._store.get(name)
        if channel is None:
            raise NotFound(f"no channel named {name!r}")
        return channel

    async def create(self, channel: Channel) -> Channel:
        _check(channel)
        await self._store.create(channel)
        await self._router.refresh(force=True)
        return channel

    async def update(self, name: str, **changes: Any) -> Channel:
        current = await self.get(name)
        required = ("kind", "base_url", "api_key", "priority", "weight", "enabled")
        changes = {k: v for k, v in changes.items() if v is not None or k not in required}
        if "models" in changes and changes["models"] is not None:
            changes["models"] = tuple(changes["models"])
        channel = replace(current, **changes)
        _check(channel)
        await self._store.replace(channel)
        await self._router.refresh(force=True)
        return channel

    async def delete(self, name: str) -> None:
        if not await self._store.delete(name):
            raise NotFound(f"no channel named {name!r}")
        await self._router.refresh(force=True)


def _check(channel: Channel) -> None:
    if not channel.name or len(channel.name) > 64:
        raise InvalidParams("a channel needs a name of at most 64 characters")
    if not channel.base_url.startswith(("http://", "https://")):
        raise InvalidParams("base_url must be an http(s) URL")
    # a URL no client can call (port 99999, a space) would fail every call as a 500
    parse_web_url(channel.base_url, "base_url")
    unknown = [m for m in channel.models or () if m not in MODELS]
    if unknown:
        raise InvalidParams(f"unknown models: {', '.join(unknown)}")
    if channel.weight < 0:
        raise InvalidParams("weight must be 0 or more")
    for label, value in (("rpm", channel.rpm), ("max_in_flight", channel.max_in_flight)):
        if value is not None and value < 1:
            raise InvalidParams(f"{label} must be at least 1 (leave it out for no limit)")
