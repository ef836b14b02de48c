"""The channel router: which upstream account takes a task, failover, budgets, cool-downs.

The store holds the channels; the router keeps a cached copy (refreshed every few seconds
so that replicas see admin changes), one provider per channel, and per-channel health.

Health is shared by every tenant, so one tenant must not be able to spoil it (issue 13):
only a fault that says the channel itself is unwell cools it down at once; a fault that
one request's content could have caused (a 5xx, a time-out, a 1000) cools down only the
pair (channel, account) that met it, and counts against the channel only when accounts
other than one meet such faults too. See docs/channels.md, "Health".
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx

from reelgate.domain import upstream_codes
from reelgate.domain.channels import Channel, ChannelState, Cooldown, choose
from reelgate.domain.polling import paced_interval
from reelgate.errors import (
    RateLimited,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnavailable,
    UpstreamUnreachable,
)
from reelgate.providers.base import Provider, ProviderFactory
from reelgate.services.limits import RateLimiter
from reelgate.store.channels import ChannelStore

log = logging.getLogger(__name__)

# Whose fault each upstream code is comes from the one table (domain/upstream_codes.py):
# the request's is passed back and never retried elsewhere; the channel's own account's
# (its key, balance, quota, rate limit) and connection failures cool the channel at once.
# Ambiguous faults (5xx, time-outs, 1000 and the like: the request's content may be the
# cause) cool the channel down only when this many distinct accounts met one within
# STRIKE_WINDOW_S; each account counts at most once per window.
STRIKE_ACCOUNTS = 2
STRIKE_WINDOW_S = 60.0
PAIRS_KEPT = 4096  # (channel, account) records before the settled ones are dropped
# Each call counts against a window a little longer than the upstream's own (2%), so
# that network jitter cannot squeeze one call too many into the upstream's window.
BUDGET_MARGIN = 1.02

Submit = Callable[[Channel, Provider], Awaitable[str]]


FaultKind = Literal["request", "channel", "ambiguous"]


@dataclass
class _Health:
    failures: int = 0  # consecutive channel faults: the next pause doubles with each
    cooling_until: float = 0.0
    throttled_until: float = 0.0  # the upstream answered 1002: polls wait too
    # account -> when its latest counted ambiguous fault struck this channel
    strikes: dict[int | None, float] = field(default_factory=dict)


@dataclass
class _PairHealth:
    """One account's own cool-down on one channel."""

    failures: int = 0
    cooling_until: float = 0.0


def is_request_fault(exc: UpstreamError) -> bool:
    return isinstance(exc, UpstreamRejected) and not upstream_codes.row(exc.code).fails_over


def fault_kind(exc: UpstreamError) -> FaultKind:
    """Whose fault a failed call is: the request's, the channel's, or either's (ambiguous).

    A connection that cannot be opened, or a refusal of the channel's own account, says
    nothing about the request. Anything else (HTTP 5xx, a time-out, a reset mid-answer,
    1000, 1013 ...) may have been caused by what one client sent.
    """
    if is_request_fault(exc):
        return "request"
    if isinstance(exc, UpstreamRejected) and upstream_codes.row(exc.code).channel_fault:
        return "channel"
    if isinstance(exc, UpstreamUnreachable):
        return "channel"
    return "ambiguous"


class ChannelRouter:
    def __init__(
        self,
        *,
        store: ChannelStore,
        limiter: RateLimiter,
        providers: ProviderFactory | None = None,
        client: httpx.AsyncClient | None = None,
        cooldown: Cooldown = Cooldown(),
        refresh_s: float = 5.0,
        submit_deadline_s: float = 60.0,
        budget_window_s: float = 60.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_call: Callable[[str, str, str], None] | None = None,
        allow_private_downloads: bool = False,
        strike_accounts: int = STRIKE_ACCOUNTS,
        strike_window_s: float = STRIKE_WINDOW_S,
    ) -> None:
        self._strike_accounts = strike_accounts
        self._strike_window_s = strike_window_s
        self._pairs: dict[tuple[str, int], _PairHealth] = {}
        self._store = store
        # the composition root picks the adapter; without one, the MiniMax adapter over
        # ``client`` (what every channel was before providers became pluggable)
        self._make_provider = providers or _minimax_providers(client, allow_private_downloads)
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
                    self._providers[name] = self._make_provider(channel)
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

    def states(self, account: int | None = None) -> dict[str, ChannelState]:
        """Each channel's state; for ``account``, its own cool-downs count too."""
        out = {}
        for name in self._channels:
            cooling = self._health.get(name, _Health()).cooling_until
            pair = self._pairs.get((name, account)) if account is not None else None
            if pair is not None:
                cooling = max(cooling, pair.cooling_until)
            out[name] = ChannelState(cooling_until=cooling, in_flight=self._in_flight.get(name, 0))
        return out

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

    def record(
        self, name: str, operation: str, exc: UpstreamError | None, account: int | None = None
    ) -> None:
        """Account for one call's outcome: successes heal; a channel fault cools the channel
        down; an ambiguous fault of a submit cools down the (channel, ``account``) pair and
        is one strike against the channel (see the module's docstring)."""
        health = self._health.setdefault(name, _Health())
        outcome = "ok" if exc is None else f"error_{exc.code}"
        if self._on_call is not None:
            self._on_call(name, operation, outcome)
        if exc is None:
            health.failures = 0
            health.strikes.clear()
            if account is not None:
                self._pairs.pop((name, account), None)
            return
        kind = fault_kind(exc)
        if kind == "request":
            return
        now = self._clock()
        if kind == "channel":
            self._trip(name, health, operation, exc, now)
        elif operation == "submit":  # a failed query takes nothing out of rotation
            self._cool_pair(name, account, exc, now)
            self._strike(name, health, account, exc, now)

    def _trip(
        self, name: str, health: _Health, operation: str, exc: UpstreamError, now: float
    ) -> None:
        health.failures += 1
        pause = self._cooldown.after(health.failures)
        if isinstance(exc, UpstreamRejected) and upstream_codes.row(exc.code).throttles:
            health.throttled_until = now + pause
        if operation == "submit":  # a failed query does not take a channel out of rotation
            health.cooling_until = now + pause
            log.warning("channel %s cools down for %.0f s: %s", name, pause, exc)

    def _cool_pair(self, name: str, account: int | None, exc: UpstreamError, now: float) -> None:
        if account is None:
            return
        if (name, account) not in self._pairs and len(self._pairs) >= PAIRS_KEPT:
            # drop the records whose doubling has lapsed: a quiet max pause resets it
            self._pairs = {
                k: p for k, p in self._pairs.items() if now - p.cooling_until < self._cooldown.max_s
            }
        pair = self._pairs.setdefault((name, account), _PairHealth())
        pair.failures += 1
        pause = self._cooldown.after(pair.failures)
        pair.cooling_until = now + pause
        log.info("channel %s cools down for account %s for %.0f s: %s", name, account, pause, exc)

    def _strike(
        self, name: str, health: _Health, account: int | None, exc: UpstreamError, now: float
    ) -> None:
        window = self._strike_window_s
        health.strikes = {a: t for a, t in health.strikes.items() if now - t < window}
        if account in health.strikes:  # unknown callers (None) count as one account
            return  # one strike per account per window
        health.strikes[account] = now
        if len(health.strikes) >= self._strike_accounts:
            health.strikes.clear()  # a new round: each account may strike once more
            self._trip(name, health, "submit", exc, now)

    # -- submitting with failover -----------------------------------------------------

    async def submit(
        self, model: str, submit: Submit, account: int | None = None
    ) -> tuple[Channel, str]:
        """Try channels in order until one accepts, within one overall deadline.

        ``account`` is the client's account: its own cool-downs are honoured, and the
        faults it meets are counted as its own (see ``record``).
        """
        await self.refresh()
        order = choose(
            self._channels.values(), model, self.states(account), self._clock(), self._rng
        )
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
                self.record(channel.name, "submit", last, account)
                continue
            except UpstreamError as exc:
                self.record(channel.name, "submit", exc, account)
                if is_request_fault(exc):
                    raise
                last = exc
                continue
            self.record(channel.name, "submit", None, account)
            self._in_flight[channel.name] = self._in_flight.get(channel.name, 0) + 1
            return channel, upstream_id
        if last is None and out_of_budget:
            raise RateLimited(
                f"rate limit exceeded: every upstream channel for {model} is at its request "
                "budget; retry shortly"
            )
        raise _for_client(last)


def _minimax_providers(
    client: httpx.AsyncClient | None, allow_private_downloads: bool
) -> ProviderFactory:
    if client is None:
        raise ValueError("ChannelRouter needs a provider factory or an httpx client")
    # imported here: the router itself knows only the Provider port
    from reelgate.providers.minimax_channel import minimax_providers

    return minimax_providers(client, allow_private_downloads=allow_private_downloads)


def _for_client(exc: UpstreamError | None) -> UpstreamError:
    """What the client hears when no channel took the task."""
    if exc is None:
        return UpstreamUnavailable("no upstream channel accepted the task in time")
    if isinstance(exc, UpstreamRejected) and upstream_codes.row(exc.code).hidden_from_client:
        # The gateway's upstream account is at fault, not the client's key or balance:
        # UpstreamUnavailable's code (upstream_codes.ACCOUNT_FAULT_SHOWN_AS), not its own.
        return UpstreamUnavailable(
            f"the gateway's upstream account refused the task ({exc.code}: {exc.message}); "
            "please tell the operator"
        )
    return exc
