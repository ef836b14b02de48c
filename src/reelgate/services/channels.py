"""The channel router: which upstream account takes a task, failover, budgets, cool-downs.

The store holds the channels; the router keeps a cached copy (refreshed every few seconds
so that replicas see admin changes), one provider per channel, and per-channel health.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx

from reelgate.domain.channels import Channel, ChannelState, Cooldown, choose
from reelgate.domain.models import MODELS
from reelgate.domain.polling import paced_interval
from reelgate.errors import (
    InvalidParams,
    NotFound,
    RateLimited,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
)
from reelgate.providers.base import Provider
from reelgate.providers.minimax import MiniMaxProvider
from reelgate.services.limits import RateLimiter
from reelgate.store.channels import ChannelStore

log = logging.getLogger(__name__)

# Refusals that say the request itself is wrong: passed back, never retried elsewhere.
REQUEST_FAULT_CODES = frozenset({2013, 1026, 1027, 1042})
# Refusals that say this channel's own account is at fault (its key, its balance, its
# quota): the client's request is fine, so another channel may take it.
ACCOUNT_FAULT_CODES = frozenset({1004, 2049, 1008, 2056, 1028, 1030, 2038})
# Each call counts against a window a little longer than the upstream's own (2%), so
# that network jitter cannot squeeze one call too many into the upstream's window.
BUDGET_MARGIN = 1.02

Submit = Callable[[Channel, Provider], Awaitable[str]]


@dataclass
class _Health:
    failures: int = 0
    cooling_until: float = 0.0
    throttled_until: float = 0.0  # the upstream answered 1002: polls wait too


def is_request_fault(exc: UpstreamError) -> bool:
    return isinstance(exc, UpstreamRejected) and exc.code in REQUEST_FAULT_CODES


class ChannelRouter:
    def __init__(
        self,
        *,
        store: ChannelStore,
        client: httpx.AsyncClient,
        limiter: RateLimiter,
        cooldown: Cooldown = Cooldown(),
        refresh_s: float = 5.0,
        submit_deadline_s: float = 60.0,
        budget_window_s: float = 60.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_call: Callable[[str, str, str], None] | None = None,
        allow_private_downloads: bool = False,
    ) -> None:
        self._allow_private_downloads = allow_private_downloads
        self._store = store
        self._client = client
        self._limiter = limiter
        self._cooldown = cooldown
        self._refresh_s = refresh_s
        self._submit_deadline_s = submit_deadline_s
        self._budget_window_s = budget_window_s * BUDGET_MARGIN
        self._rng = rng or random.Random()
        self._clock = clock
        self._on_call = on_call  # (channel, operation, outcome) for metrics
        self._channels: dict[str, Channel] = {}
        self._providers: dict[str, Provider] = {}
        self._health: dict[str, _Health] = {}
        self._in_flight: dict[str, int] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    # -- the channel list -------------------------------------------------------------

    async def refresh(self, force: bool = False) -> None:
        if not force and self._clock() - self._loaded_at < self._refresh_s:
            return
        async with self._lock:
            if not force and self._clock() - self._loaded_at < self._refresh_s:
                return
            channels = {c.name: c for c in await self._store.list()}
            for name, channel in channels.items():
                old = self._channels.get(name)
                if old is None or (old.base_url, old.api_key) != (
                    channel.base_url,
                    channel.api_key,
                ):
                    self._providers[name] = MiniMaxProvider(
                        name,
                        channel.base_url,
                        channel.api_key,
                        self._client,
                        allow_private_downloads=self._allow_private_downloads,
                    )
            self._channels = channels
            self._in_flight = await self._store.in_flight()
            self._loaded_at = self._clock()

    def now(self) -> float:
        return self._clock()

    def channels(self) -> list[Channel]:
        return list(self._channels.values())

    def provider(self, name: str) -> Provider:
        """The provider of the channel that created a task: every later call goes there."""
        provider = self._providers.get(name)
        if provider is None:
            raise UpstreamUnavailable(f"channel {name!r} is not configured any more")
        return provider

    def states(self) -> dict[str, ChannelState]:
        return {
            name: ChannelState(
                cooling_until=self._health.get(name, _Health()).cooling_until,
                in_flight=self._in_flight.get(name, 0),
            )
            for name in self._channels
        }

    # -- budgets and health -----------------------------------------------------------

    async def acquire(self, name: str, share: float = 1.0) -> bool:
        """Spend one call of the channel's per-minute budget; False if none is left.

        ``share`` < 1: only while the calls spent in the window (of every kind) stay under
        that share of the budget. The tracker polls so, which keeps the rest for submits.
        """
        channel = self._channels.get(name)
        if channel is None or channel.rpm is None:
            return True
        limit = max(1, int(channel.rpm * min(1.0, share)))
        return await self._limiter.allow(f"channel:{name}", limit, self._budget_window_s)

    def poll_pace(self, name: str, share: float) -> float:
        """The shortest poll interval that spreads ``share`` of the channel's budget over
        its unfinished tasks (0 for a channel without a budget); see ``paced_interval``."""
        channel = self._channels.get(name)
        if channel is None or channel.rpm is None:
            return 0.0
        return paced_interval(
            self._in_flight.get(name, 0), channel.rpm * share, self._budget_window_s
        )

    async def budget_used(self) -> dict[str, int]:
        """Calls spent per channel in the current budget window."""
        return {
            name: await self._limiter.used(f"channel:{name}", self._budget_window_s)
            for name in self._channels
        }

    def may_poll(self, name: str) -> bool:
        """False while the upstream asked us (1002) to slow down."""
        return self._health.get(name, _Health()).throttled_until <= self._clock()

    def record(self, name: str, operation: str, exc: UpstreamError | None) -> None:
        """Account for one call's outcome: successes heal, channel faults cool it down."""
        health = self._health.setdefault(name, _Health())
        outcome = "ok" if exc is None else f"error_{exc.code}"
        if self._on_call is not None:
            self._on_call(name, operation, outcome)
        if exc is None:
            health.failures = 0
            return
        if is_request_fault(exc):
            return
        health.failures += 1
        pause = self._cooldown.after(health.failures)
        now = self._clock()
        if isinstance(exc, UpstreamRejected) and exc.code == 1002:
            health.throttled_until = now + pause
        if operation == "submit":  # a failed query does not take a channel out of rotation
            health.cooling_until = now + pause
            log.warning("channel %s cools down for %.0f s: %s", name, pause, exc)

    # -- submitting with failover -----------------------------------------------------

    async def submit(self, model: str, submit: Submit) -> tuple[Channel, str]:
        """Try channels in order until one accepts, within one overall deadline."""
        await self.refresh()
        order = choose(self._channels.values(), model, self.states(), self._clock(), self._rng)
        if not order:
            serving = [c for c in self._channels.values() if c.enabled and c.serves(model)]
            if not serving:
                raise UpstreamUnavailable(f"no upstream channel serves {model}")
            raise UpstreamUnavailable(
                f"every upstream channel for {model} is cooling down or full; retry shortly"
            )
        deadline = self._clock() + self._submit_deadline_s
        last: UpstreamError | None = None
        out_of_budget = False
        for channel in order:
            left = deadline - self._clock()
            if left <= 0:
                break
            if not await self.acquire(channel.name):
                out_of_budget = True
                continue
            try:
                async with asyncio.timeout(left):
                    upstream_id = await submit(channel, self._providers[channel.name])
            except TimeoutError:
                last = UpstreamUnavailable("the upstream did not accept the task in time")
                self.record(channel.name, "submit", last)
                continue
            except UpstreamError as exc:
                self.record(channel.name, "submit", exc)
                if is_request_fault(exc):
                    raise
                last = exc
                continue
            self.record(channel.name, "submit", None)
            self._in_flight[channel.name] = self._in_flight.get(channel.name, 0) + 1
            return channel, upstream_id
        if last is None and out_of_budget:
            raise RateLimited(
                f"rate limit exceeded: every upstream channel for {model} is at its request "
                "budget; retry shortly"
            )
        raise _for_client(last)


def _for_client(exc: UpstreamError | None) -> UpstreamError:
    """What the client hears when no channel took the task."""
    if exc is None:
        return UpstreamUnavailable("no upstream channel accepted the task in time")
    if isinstance(exc, UpstreamRejected) and exc.code in ACCOUNT_FAULT_CODES:
        # The gateway's upstream account is at fault, not the client's key or balance.
        return UpstreamUnavailable(
            f"the gateway's upstream account refused the task ({exc.code}: {exc.message}); "
            "please tell the operator"
        )
    return exc


class ChannelService:
    """Operator use cases for channels; every change is seen by the router at once here
    and by other replicas within their refresh interval."""

    def __init__(self, *, store: ChannelStore, router: ChannelRouter) -> None:
        self._store = store
        self._router = router

    async def list_all(self) -> list[Channel]:
        return await self._store.list()

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
    unknown = [m for m in channel.models or () if m not in MODELS]
    if unknown:
        raise InvalidParams(f"unknown models: {', '.join(unknown)}")
    if channel.weight < 0:
        raise InvalidParams("weight must be 0 or more")
    for label, value in (("rpm", channel.rpm), ("max_in_flight", channel.max_in_flight)):
        if value is not None and value < 1:
            raise InvalidParams(f"{label} must be at least 1 (leave it out for no limit)")
