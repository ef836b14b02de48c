"""Which channel takes a task: tiers by priority, weighted random within a tier, and the
channels that are disabled, cooling down, full or out of budget left out."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from reelgate.domain.channels import Channel, ChannelKind, ChannelState, choose, mask

MODEL = "T2V-01"


def ch(name: str, **kw: object) -> Channel:
    return Channel(name, ChannelKind.SANDBOX, f"http://{name}.invalid", "k", **kw)  # type: ignore[arg-type]


def names(channels: list[Channel]) -> list[str]:
    return [c.name for c in channels]


def test_higher_priority_tiers_come_first() -> None:
    channels = [ch("low", priority=-1), ch("high", priority=5), ch("mid")]
    assert names(choose(channels, MODEL, {}, 0.0, random.Random(1))) == ["high", "mid", "low"]


def test_a_tier_is_shuffled_by_weight() -> None:
    channels = [ch("heavy", weight=9), ch("light", weight=1), ch("off", weight=0)]
    firsts = Counter(
        names(choose(channels, MODEL, {}, 0.0, random.Random(seed)))[0] for seed in range(2000)
    )
    assert set(firsts) == {"heavy", "light"}  # weight 0: never
    assert 0.86 < firsts["heavy"] / 2000 < 0.94  # 9 of 10
    every = choose(channels, MODEL, {}, 0.0, random.Random(3))
    assert sorted(names(every)) == ["heavy", "light"]  # every usable channel, once


def test_only_channels_that_serve_the_model_and_are_enabled() -> None:
    channels = [
        ch("other", models=("S2V-01",)),
        ch("this", models=(MODEL, "S2V-01")),
        ch("any"),
        ch("disabled", enabled=False),
    ]
    assert sorted(names(choose(channels, MODEL, {}, 0.0, random.Random(1)))) == ["any", "this"]
    assert ch("x", models=()).serves(MODEL) is False


@pytest.mark.parametrize(
    ("state", "limit", "usable"),
    [
        (ChannelState(cooling_until=10.0), None, True),  # cooled down at that instant
        (ChannelState(cooling_until=9.999), None, True),
        (ChannelState(cooling_until=10.001), None, False),
        (ChannelState(in_flight=2), 3, True),
        (ChannelState(in_flight=3), 3, False),
        (ChannelState(in_flight=9), None, True),
        (ChannelState(budget_left=1), None, True),
        (ChannelState(budget_left=0), None, False),
        (ChannelState(budget_left=None), None, True),
    ],
)
def test_a_channel_without_room_is_left_out(
    state: ChannelState, limit: int | None, usable: bool
) -> None:
    channels = [ch("x", max_in_flight=limit), ch("fresh")]
    order = names(choose(channels, MODEL, {"x": state}, 10.0, random.Random(1)))
    assert ("x" in order) is usable and "fresh" in order  # no state: room


def test_an_api_key_is_masked() -> None:
    assert mask("sk-abcdefghijkl") == "sk-a…kl"
    assert mask("0123456789") == "…"  # too short to show any of it
    assert mask("01234567890") == "0123…90"
    assert ch("x").masked_key == "…"
