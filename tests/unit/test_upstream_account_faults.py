"""An upstream account's own faults are never shown to the client as the client's.

When a channel's MiniMax account is out of balance (1008), has a bad key (1004, 2049) or
another fault of its own, and no other channel takes the task, the client must not read
"insufficient balance" or "invalid key" about its own account: it gets a 1000 that says
to tell the operator. A refusal of the request itself is passed back as it is.
"""

from __future__ import annotations

import random

import httpx
import pytest

from reelgate.domain.channels import Channel, ChannelKind, Cooldown
from reelgate.errors import UpstreamError, UpstreamRejected, UpstreamUnavailable
from reelgate.providers.base import Provider
from reelgate.services.channels import ChannelRouter
from reelgate.services.limits import LocalRateLimiter

MODEL = "T2V-01"
ACCOUNT = 1


class Channels:
    """The channel list, as the store would give it."""

    def __init__(self, *names: str) -> None:
        self.channels = [Channel(n, ChannelKind.SANDBOX, f"http://{n}.invalid", "k") for n in names]

    async def list(self) -> list[Channel]:
        return self.channels

    async def in_flight(self) -> dict[str, int]:
        return {}


def router(*names: str) -> ChannelRouter:
    clock = 1000.0
    return ChannelRouter(
        store=Channels(*names),  # type: ignore[arg-type]
        client=httpx.AsyncClient(),
        limiter=LocalRateLimiter(lambda: clock),
        cooldown=Cooldown(base_s=5.0, max_s=300.0),
        rng=random.Random(3),
        clock=lambda: clock,
    )


async def client_error(r: ChannelRouter, *faults: UpstreamError) -> UpstreamError:
    """What the client gets when each channel, in turn, answers with the next fault."""
    answers = list(faults)

    async def submit(channel: Channel, provider: Provider) -> str:
        raise answers.pop(0)

    with pytest.raises(UpstreamError) as info:
        await r.submit(MODEL, submit, ACCOUNT)
    assert answers == []  # every channel was tried
    return info.value


# what MiniMax says about the account that calls it: here, the gateway's channel
ACCOUNT_FAULTS = {
    1008: "insufficient balance",
    1004: "authentication failed",
    2049: "invalid api key",
    2056: "usage limit exceeded",
    1028: "insufficient balance",
    1030: "token plan expired",
    2038: "real-name verification required",
}


@pytest.mark.parametrize("code", sorted(ACCOUNT_FAULTS))
async def test_an_account_fault_of_the_only_channel_reads_as_the_operators(code: int) -> None:
    error = await client_error(router("ch"), UpstreamRejected(code, ACCOUNT_FAULTS[code]))
    assert type(error) is UpstreamUnavailable
    assert (error.code, error.http_status) == (1000, 503)
    assert error.message == (
        f"the gateway's upstream account refused the task ({code}: {ACCOUNT_FAULTS[code]}); "
        "please tell the operator"
    )


async def test_the_last_fault_decides_when_every_channel_fails() -> None:
    r = router("a", "b")
    masked = await client_error(r, UpstreamRejected(1000, "busy"), UpstreamRejected(1008, "x"))
    assert masked.code == 1000 and "please tell the operator" in masked.message
    r = router("a", "b")
    plain = await client_error(r, UpstreamRejected(1008, "x"), UpstreamUnavailable("HTTP 500"))
    assert plain.code == 1000 and plain.message == "HTTP 500"


@pytest.mark.parametrize("code", [2013, 1026, 1027, 1042])
async def test_a_fault_of_the_request_is_passed_back_as_it_is(code: int) -> None:
    # one channel is enough to show it: a request fault is not tried elsewhere
    refusal = UpstreamRejected(code, "the request")
    assert await client_error(router("ch"), refusal) is refusal


@pytest.mark.parametrize("code", [1002, 1000, 1013])
async def test_other_upstream_answers_are_passed_on(code: int) -> None:
    fault = UpstreamRejected(code, "upstream says")
    error = await client_error(router("ch"), fault)
    assert error is fault and error.code == code
