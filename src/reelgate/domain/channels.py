"""Upstream channels and how one is chosen: a pure function of their state.

A channel is one upstream account (a MiniMax key, or a sandbox). The highest priority
tier that has capacity is used, weighted random within it; the rest of the order is the
failover sequence.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class ChannelKind(StrEnum):
    MINIMAX = "minimax"
    SANDBOX = "sandbox"


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    kind: ChannelKind
    base_url: str
    api_key: str = field(repr=False)  # never shown: not in repr, not in any API answer
    models: tuple[str, ...] | None = None  # None: every model
    priority: int = 0  # higher is tried first
    weight: int = 1  # share within its priority tier
    rpm: int | None = None  # requests per minute to this upstream account, all calls
    max_in_flight: int | None = None  # unfinished tasks on this channel at once
    enabled: bool = True
    source: str = "api"  # "config" (the settings/file) or "api" (the admin API)

    def serves(self, model: str) -> bool:
        return self.models is None or model in self.models

    @property
    def masked_key(self) -> str:
        return mask(self.api_key)


def mask(secret: str) -> str:
    return secret[:4] + "…" + secret[-2:] if len(secret) > 10 else "…"


@dataclass(frozen=True, slots=True)
class ChannelState:
    """What the router knows of a channel right now."""

    cooling_until: float = 0.0  # monotonic seconds; taken out until then
    in_flight: int = 0
    budget_left: int | None = None  # calls left in the current window; None: unlimited


def choose(
    channels: Iterable[Channel],
    model: str,
    states: dict[str, ChannelState],
    now: float,
    rng: random.Random,
) -> list[Channel]:
    """The order in which to try channels for ``model``: tiers by priority, weighted random
    within a tier; channels that are disabled, cooling down or full are left out."""
    usable = [c for c in channels if c.enabled and c.serves(model) and _has_room(c, states, now)]
    tiers: dict[int, list[Channel]] = {}
    for channel in usable:
        tiers.setdefault(channel.priority, []).append(channel)
    order: list[Channel] = []
    for priority in sorted(tiers, reverse=True):
        order += weighted_shuffle(tiers[priority], rng)
    return order


def _has_room(channel: Channel, states: dict[str, ChannelState], now: float) -> bool:
    state = states.get(channel.name, ChannelState())
    if state.cooling_until > now:
        return False
    if channel.max_in_flight is not None and state.in_flight >= channel.max_in_flight:
        return False
    return state.budget_left is None or state.budget_left > 0


def weighted_shuffle(channels: Sequence[Channel], rng: random.Random) -> list[Channel]:
    """A random order where each next pick is proportional to weight (Efraimidis-Spirakis)."""
    keyed = [(rng.random() ** (1.0 / max(c.weight, 1e-9)), c) for c in channels if c.weight > 0]
    return [c for _, c in sorted(keyed, key=lambda kc: kc[0], reverse=True)]


@dataclass(frozen=True, slots=True)
class Cooldown:
    """How long a failing channel stays out: doubling from ``base_s`` up to ``max_s``."""

    base_s: float = 5.0
    max_s: float = 300.0

    def after(self, consecutive_failures: int) -> float:
        return float(min(self.max_s, self.base_s * 2 ** max(0, consecutive_failures - 1)))
