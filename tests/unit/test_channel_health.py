"""Channel health under faults one tenant can cause: only a channel that is unwell for
everyone is taken out of rotation; one account's ambiguous faults cool down only that
account's use of it (issue 13: nine bad creates cooled a shared channel for everyone)."""

from __future__ import annotations

import random

import httpx
import pytest

from reelgate.domain.channels import Channel, ChannelKind, Cooldown
from reelgate.errors import (
    InvalidParams,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    UpstreamUnreachable,
)
from reelgate.providers.base import Provider
from reelgate.providers.minimax import MiniMaxProvider
from reelgate.services.channel_admin import ChannelService
from reelgate.services.channels import STRIKE_WINDOW_S, ChannelRouter, fault_kind
from reelgate.services.limits import LocalRateLimiter

MODEL = "T2V-01"
ATTACKER, OTHER, THIRD = 1, 2, 3


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Channels:
    """The channel list, as the store would give it."""

    def __init__(self, *names: str) -> None:
        self.channels = [Channel(n, ChannelKind.SANDBOX, f"http://{n}.invalid", "k") for n in names]

    async def list(self) -> list[Channel]:
        return self.channels

    async def in_flight(self) -> dict[str, int]:
        return {}


def http_500() -> UpstreamError:
    return UpstreamUnavailable("upstream answered HTTP 500")


def connection_refused() -> UpstreamError:
    # as the MiniMax provider raises it for httpx's ConnectError (see test_provider_*)
    return UpstreamUnreachable("upstream create failed: ConnectError")


class Upstream:
    """A scripted provider: each channel answers with the next scripted outcome (faults of
    the channel itself), or accepts when nothing is scripted."""

    def __init__(self) -> None:
        self.script: dict[str, list[UpstreamError | None]] = {}
        self.calls: list[str] = []

    def fail(self, channel: str, *errors: UpstreamError) -> None:
        self.script.setdefault(channel, []).extend(errors)

    async def __call__(self, channel: Channel, provider: Provider) -> str:
        self.calls.append(channel.name)
        queue = self.script.get(channel.name)
        outcome = queue.pop(0) if queue else None
        if outcome is not None:
            raise outcome
        return f"{channel.name}-task"


def router(clock: Clock, *names: str) -> ChannelRouter:
    return ChannelRouter(
        store=Channels(*names),  # type: ignore[arg-type]
        client=httpx.AsyncClient(),
        limiter=LocalRateLimiter(clock),
        cooldown=Cooldown(base_s=5.0, max_s=300.0),
        rng=random.Random(7),
        clock=clock,
    )


async def attempt(
    r: ChannelRouter, up: Upstream, account: int, poisoned: UpstreamError | None = None
) -> str:
    """One create: the channel that took it, or the code the client would get.

    ``poisoned``: the request's content makes every upstream fail with this.
    """

    async def submit(channel: Channel, provider: Provider) -> str:
        if poisoned is not None:
            up.calls.append(channel.name)
            raise poisoned
        return await up(channel, provider)

    try:
        channel, _ = await r.submit(MODEL, submit, account)
    except UpstreamError as exc:
        return f"error {exc.code}"
    return channel.name


def cooling(r: ChannelRouter, name: str = "ch") -> bool:
    return r.states()[name].cooling_until > r.now()


async def test_nine_5xx_of_one_account_leave_the_channel_to_the_others() -> None:
    clock, up = Clock(), Upstream()
    r = router(clock, "ch")
    for _ in range(9):
        assert await attempt(r, up, ATTACKER, http_500()) == "error 1000"
        assert not cooling(r)
        assert await attempt(r, up, OTHER) == "ch"  # right after each one
        # the attacker waits out its own pause (5 s, doubling), and tries again
        clock.now = r.states(ATTACKER)["ch"].cooling_until
    assert up.calls == ["ch", "ch"] * 9  # each of the nine reached the upstream and failed


async def test_nine_5xx_in_40_seconds_as_in_the_issue() -> None:
    clock, up = Clock(), Upstream()
    r = router(clock, "ch")
    for _ in range(9):
        await attempt(r, up, ATTACKER, http_500())
        clock.now += 40 / 9
    assert not cooling(r)
    assert await attempt(r, up, OTHER) == "ch"


async def test_one_account_is_cooled_down_on_the_channel_it_keeps_failing() -> None:
    clock, up = Clock(), Upstream()
    r = router(clock, "ch")
    assert await attempt(r, up, ATTACKER, http_500()) == "error 1000"
    # its own cool-down: nothing is sent upstream for it until that runs out (5 s, doubling)
    assert await attempt(r, up, ATTACKER) == "error 1000" and up.calls == ["ch"]
    assert await attempt(r, up, OTHER) == "ch"
    clock.now += 4.999
    assert await attempt(r, up, ATTACKER) == "error 1000" and len(up.calls) == 2
    clock.now += 0.001
    assert await attempt(r, up, ATTACKER, http_500()) == "error 1000"  # probed: 10 s now
    clock.now += 9.999
    assert await attempt(r, up, ATTACKER) == "error 1000" and len(up.calls) == 3
    clock.now += 0.001
    assert await attempt(r, up, ATTACKER) == "ch"  # a success heals the pair
    assert await attempt(r, up, ATTACKER, http_500()) == "error 1000"
    clock.now += 5.0  # back to the first pause
    assert await attempt(r, up, ATTACKER) == "ch"


async def test_a_failing_account_fails_over_and_only_it_is_cooled() -> None:
    clock, up = Clock(), Upstream()
    r = router(clock, "a", "b")
    assert await attempt(r, up, ATTACKER, http_500()) == "error 1000"
    assert sorted(up.calls) == ["a", "b"]  # failover tried both
    assert await attempt(r, up, ATTACKER) == "error 1000" and len(up.calls) == 2
    assert await attempt(r, up, OTHER) in ("a", "b")
    assert not cooling(r, "a") and not cooling(r, "b")


async def test_ambiguous_faults_from_two_accounts_cool_the_channel() -> None:
    clock, up = Clock(), Upstream()
    r = router(clock, "ch")
    await attempt(r, up, ATTACKER, http_500())
    assert not cooling(r)
    await attempt(r, up, OTHER, UpstreamTimeout("upstream create timed out"))
    assert cooling(r)
    assert await attempt(r, up, THIRD) == "error 1000" and len(up.calls) == 2
    clock.now += 4.999
    assert await attempt(r, up, THIRD) == "error 1000"
    clock.now += 0.001
    assert await attempt(r, up, THIRD) == "ch"


async def test_strikes_are_counted_within_the_window_only() -> None:
    clock, up = Clock(), Upstream()
    r = router(clock, "ch")
    await attempt(r, up, ATTACKER, http_500())
    clock.now += STRIKE_WINDOW_S  # the attacker's strike lapses exactly now
    await attempt(r, up, OTHER, http_500())
    assert not cooling(r)
    clock.now += STRIKE_WINDOW_S - 0.001  # OTHER's strike is still within the window
    await attempt(r, up, ATTACKER, http_500())
    assert cooling(r)


async def test_one_account_adds_at_most_one_strike_per_window() -> None:
    clock, up = Clock(), Upstream()
    r = router(clock, "a", "b")
    # ATTACKER meets a 1000 on both channels 20 times, each time as soon as its own
    # pauses allow: one strike per window, and one account never trips a channel
    for _ in range(20):
        await attempt(r, up, ATTACKER, UpstreamRejected(1000, "unknown error"))
        clock.now = max(s.cooling_until for s in r.states(ATTACKER).values())
    assert len(up.calls) == 40
    assert not cooling(r, "a") and not cooling(r, "b")
    assert await attempt(r, up, OTHER) in ("a", "b")


async def test_a_success_clears_the_strikes() -> None:
    clock, up = Clock(), Upstream()
    r = router(clock, "ch")
    await attempt(r, up, ATTACKER, http_500())
    assert await attempt(r, up, THIRD) == "ch"  # the channel works for others
    await attempt(r, up, OTHER, http_500())
    assert not cooling(r)  # ATTACKER's strike was cleared by THIRD's success


async def test_a_connection_error_cools_the_channel_at_once() -> None:
    clock, up = Clock(), Upstream()
    r = router(clock, "ch")
    up.fail("ch", connection_refused())
    assert await attempt(r, up, ATTACKER) == "error 1000"
    assert cooling(r)
    assert await attempt(r, up, OTHER) == "error 1000" and len(up.calls) == 1


@pytest.mark.parametrize("code", [1002, 1008, 1004, 2049])
async def test_account_faults_of_the_upstream_cool_the_channel_at_once(code: int) -> None:
    clock, up = Clock(), Upstream()
    r = router(clock, "ch")
    up.fail("ch", UpstreamRejected(code, "the channel's account"))
    await attempt(r, up, ATTACKER)
    assert cooling(r)
    clock.now += 4.999
    assert cooling(r)
    clock.now += 0.001
    assert not cooling(r)


@pytest.mark.parametrize("code", [2013, 1026, 1027, 1042])
async def test_refusals_of_the_request_never_count(code: int) -> None:
    clock, up = Clock(), Upstream()
    r = router(clock, "ch")
    for account in (ATTACKER, OTHER, THIRD) * 3:
        poisoned = UpstreamRejected(code, "the request")
        assert await attempt(r, up, account, poisoned) == f"error {code}"
    assert not cooling(r)
    assert await attempt(r, up, ATTACKER) == "ch"  # nor its own pair


async def test_the_threshold_of_accounts_is_a_setting() -> None:
    clock, up = Clock(), Upstream()
    r = ChannelRouter(
        store=Channels("ch"),  # type: ignore[arg-type]
        client=httpx.AsyncClient(),
        limiter=LocalRateLimiter(clock),
        clock=clock,
        strike_accounts=3,
    )
    await attempt(r, up, ATTACKER, http_500())
    await attempt(r, up, OTHER, http_500())
    assert not cooling(r)  # two accounts: one short of the threshold
    await attempt(r, up, THIRD, http_500())
    assert cooling(r)


@pytest.mark.parametrize(
    "base_url", ["http://upstream.example:99999", "http://up stream.example", "http://a@b.example"]
)
async def test_a_channel_whose_base_url_no_client_can_call_is_refused(base_url: str) -> None:
    clock = Clock()
    store = Channels()
    service = ChannelService(store=store, router=router(clock))  # type: ignore[arg-type]
    with pytest.raises(InvalidParams) as info:
        await service.create(Channel("bad", ChannelKind.MINIMAX, base_url, "k"))
    assert info.value.message.startswith("invalid params, base_url ")


async def test_the_provider_reports_a_refused_connection_as_the_channels_fault() -> None:
    """The MiniMax provider turns a connection that cannot be opened into
    UpstreamUnreachable, which the router counts against the channel at once; a reset
    after the request went out stays ambiguous."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nobody listens
    async with httpx.AsyncClient(trust_env=False) as client:
        provider = MiniMaxProvider("c", f"http://127.0.0.1:{port}", "k", client)
        with pytest.raises(UpstreamUnreachable) as refused:
            await provider.query("1")
    assert fault_kind(refused.value) == "channel"
    assert fault_kind(http_500()) == "ambiguous"
