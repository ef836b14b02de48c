"""The httpx adapter of the WebhookSender port: every outcome of a call becomes the port's
typed answer or failure, the URL guard refuses before anything is sent, and the deadline
covers the name's resolution. Over httpx's mock transport: no socket."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx
import pytest

from reelgate.providers.http_webhooks import HttpWebhooks
from reelgate.providers.webhooks import WebhookAnswer, WebhookFailure

PUBLIC = "93.184.216.34"
URL = f"http://{PUBLIC}/cb"


async def post(handler: httpx.MockTransport, url: str = URL, **kwargs: object) -> object:
    async with httpx.AsyncClient(transport=handler) as client:
        sender = HttpWebhooks(client, allow_private=False, **kwargs)  # type: ignore[arg-type]
        return await sender.post(url, b'{"a":1}', {"x-test": "1"}, timeout_s=1.0)


async def test_an_answer_is_passed_on_whatever_its_status() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "/x", "Retry-After": "7"}, content=b"hi")

    outcome = await post(httpx.MockTransport(handler))
    assert isinstance(outcome, WebhookAnswer)
    assert (outcome.status, outcome.body) == (302, b"hi")
    assert outcome.headers["retry-after"] == "7"  # names in lower case
    (request,) = seen  # the redirect was not followed
    assert request.method == "POST" and request.content == b'{"a":1}'
    assert request.headers["x-test"] == "1"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx.ConnectError, "unreachable"),
        (httpx.RemoteProtocolError, "unreachable"),
        (httpx.ReadTimeout, "timeout"),
        (httpx.ConnectTimeout, "timeout"),
    ],
)
async def test_a_failed_call_is_a_failure_named_for_its_cause(
    error: type[httpx.TransportError], kind: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("no", request=request)

    outcome = await post(httpx.MockTransport(handler))
    assert outcome == WebhookFailure(kind, error.__name__)  # type: ignore[arg-type]


async def test_a_private_address_is_refused_before_anything_is_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    outcome = await post(httpx.MockTransport(handler), "http://10.0.0.1/cb")
    assert isinstance(outcome, WebhookFailure) and outcome.kind == "refused"
    assert outcome.reason.startswith("invalid params, 10.0.0.1 is a private or reserved")
    assert seen == []


async def test_the_deadline_covers_a_slow_receiver_and_a_slow_resolver() -> None:
    never = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    async def slow_resolver(host: str, port: int) -> Sequence[str]:
        await never.wait()
        return [PUBLIC]

    async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as client:
        sender = HttpWebhooks(client, allow_private=False)
        assert await sender.post(URL, b"", {}, timeout_s=0.01) == WebhookFailure(
            "timeout", "Timeout"
        )
        resolving = HttpWebhooks(client, allow_private=False, resolve=slow_resolver)
        outcome = await resolving.post("http://hooks.example/cb", b"", {}, timeout_s=0.01)
        assert outcome == WebhookFailure("timeout", "Timeout")
