"""MiniMax's callback challenge, written once (domain/webhooks.py) for the gateway and the
sandbox: what passes, what fails and the message the create is refused with, the same
from both. The gateway's verifier runs over the fake WebhookSender; the parity test runs
both over one mock HTTP transport (no socket, no sleep)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from reelgate.domain.webhooks import (
    ANSWER_WITH,
    CHECK_FAILED,
    challenge_body,
    challenge_failed,
    check_challenge_answer,
    new_challenge,
)
from reelgate.errors import InvalidParams
from reelgate.providers.fake_webhooks import FakeWebhooks, Posted, echo
from reelgate.providers.http_webhooks import HttpWebhooks
from reelgate.providers.webhooks import WebhookAnswer, WebhookFailure
from reelgate.sandbox.callbacks import Callbacks
from reelgate.sandbox.requestlog import RequestLog
from reelgate.sandbox.state import SandboxState
from reelgate.services.callbacks import CallbackVerifier

URL = "http://hooks.example/cb"
VALUE = "abc"


def answer(payload: object, status: int = 200) -> tuple[int, bytes, str]:
    return status, json.dumps(payload).encode(), VALUE


# -- the rule ----------------------------------------------------------------------------


def test_http_200_echoing_the_value_passes() -> None:
    assert check_challenge_answer(*answer({"challenge": VALUE})) is None
    assert check_challenge_answer(*answer({"challenge": VALUE, "other": 1})) is None


@pytest.mark.parametrize("status", [199, 201, 204, 302, 500])
def test_any_other_status_fails_even_with_the_echo(status: int) -> None:
    reason = check_challenge_answer(*answer({"challenge": VALUE}, status))
    assert reason == f"{ANSWER_WITH} (it answered HTTP {status})"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"abc", "the answer is not JSON"),
        (b"", "the answer is not JSON"),
        (b"\xff\xfe", "the answer is not JSON"),
        (b"[" * 100_000, "the answer is not JSON"),  # too deep to parse: a reason, not a 500
        (b'["abc"]', "the answer is not a JSON object"),
        (b'"abc"', "the answer is not a JSON object"),
        (b"{}", "the answer does not echo the challenge"),
        (b'{"challenge": "abd"}', "the answer does not echo the challenge"),
        (b'{"challenge": "ab"}', "the answer does not echo the challenge"),
        (b'{"challenge": ["abc"]}', "the answer does not echo the challenge"),
        (b'{"Challenge": "abc"}', "the answer does not echo the challenge"),
    ],
)
def test_an_answer_that_is_not_the_echo_fails_saying_why(body: bytes, why: str) -> None:
    assert check_challenge_answer(200, body, VALUE) == f"{ANSWER_WITH} ({why})"


def test_each_challenge_is_new_and_sent_as_json() -> None:
    values = {new_challenge() for _ in range(100)}
    assert len(values) == 100 and all(len(v) == 32 for v in values)
    assert challenge_body("x") == b'{"challenge":"x"}'


def test_the_refusal_names_the_check_and_drops_the_guards_prefix() -> None:
    assert challenge_failed("invalid params, 10.0.0.1 is private") == (
        f"{CHECK_FAILED}: 10.0.0.1 is private"
    )
    assert challenge_failed("ConnectError") == f"{CHECK_FAILED}: ConnectError"


# -- the gateway's verifier over the fake sender -----------------------------------------


async def test_the_verifier_posts_a_fresh_challenge_and_accepts_the_echo() -> None:
    hooks = FakeWebhooks()
    verifier = CallbackVerifier(hooks)
    await verifier.verify(URL)
    await verifier.verify(URL)
    first, second = hooks.posted
    assert first.url == URL and first.timeout_s == 3.0
    assert first.headers == {"content-type": "application/json"}
    assert set(first.json()) == {"challenge"}
    assert first.json()["challenge"] != second.json()["challenge"]


def wrong_echo(posted: Posted) -> WebhookAnswer:
    return WebhookAnswer(
        200, {}, json.dumps({"challenge": posted.json()["challenge"] + "x"}).encode()
    )


@pytest.mark.parametrize(
    ("outcome", "message"),
    [
        (wrong_echo, f"{ANSWER_WITH} (the answer does not echo the challenge)"),
        (lambda p: WebhookAnswer(201, {}, echo(p).body), f"{ANSWER_WITH} (it answered HTTP 201)"),
        (WebhookFailure("timeout", "ReadTimeout"), "no answer within 3 seconds"),
        (WebhookFailure("unreachable", "ConnectError"), "ConnectError"),
        (
            WebhookFailure("refused", "invalid params, 10.0.0.1 is a private or reserved address"),
            "10.0.0.1 is a private or reserved address",
        ),
    ],
)
async def test_the_verifier_refuses_with_2013_and_the_reason(
    outcome: WebhookAnswer | WebhookFailure | Callable[[Posted], WebhookAnswer], message: str
) -> None:
    hooks = FakeWebhooks()
    hooks.answer_next(outcome)
    with pytest.raises(InvalidParams) as refused:
        await CallbackVerifier(hooks).verify(URL)
    assert refused.value.code == 2013
    assert refused.value.message == f"{CHECK_FAILED}: {message}"


async def test_the_time_allowed_is_the_verifiers() -> None:
    hooks = FakeWebhooks()
    hooks.fail_next("timeout", "Timeout")
    with pytest.raises(InvalidParams, match=r"no answer within 0\.5 seconds"):
        await CallbackVerifier(hooks, timeout_s=0.5).verify(URL)
    assert hooks.posted[0].timeout_s == 0.5


# -- the gateway and the sandbox answer alike --------------------------------------------

Receiver = Callable[[httpx.Request], Awaitable[httpx.Response]]


def receiver(status: int, echoed: Callable[[str], object]) -> Receiver:
    async def answer(request: httpx.Request) -> httpx.Response:
        value = json.loads(request.content)["challenge"]
        return httpx.Response(status, content=json.dumps(echoed(value)).encode())

    return answer


async def unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


async def outcome_of(verify: Callable[[str], Awaitable[None]], url: str) -> str | None:
    try:
        await verify(url)
    except InvalidParams as exc:
        assert exc.code == 2013
        return exc.message
    return None


def good(value: str) -> object:
    return {"challenge": value}


@pytest.mark.parametrize(
    ("url", "answer", "reason"),
    [
        (URL, receiver(200, good), None),
        (URL, receiver(200, lambda v: {"challenge": v + "x"}), "does not echo the challenge)"),
        (URL, receiver(200, lambda v: [v]), "(the answer is not a JSON object)"),
        (URL, receiver(404, good), "(it answered HTTP 404)"),
        (URL, unreachable, ": ConnectError"),
        ("http://10.0.0.1/cb", receiver(200, good), ": 10.0.0.1 is a private or reserved"),
        ("http://hooks.example:99999/cb", receiver(200, good), "port 99999"),
    ],
)
async def test_the_gateway_and_the_sandbox_answer_alike(
    tmp_path: Path, url: str, answer: Receiver, reason: str | None
) -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return await answer(request)

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]  # a public address: the guard lets the name through

    state = SandboxState(tmp_path)
    try:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            gateway = CallbackVerifier(HttpWebhooks(client, allow_private=False, resolve=resolve))
            sandbox = Callbacks(
                client=client,
                state=state,
                requests=RequestLog(),
                allow_private=False,
                resolve=resolve,
            )
            ours = await outcome_of(gateway.verify, url)
            theirs = await outcome_of(sandbox.verify, url)
    finally:
        state.close()
    assert ours == theirs
    if reason is None:
        assert ours is None and len(seen) == 2
    else:
        assert ours is not None and ours.startswith(f"{CHECK_FAILED}: ") and reason in ours
    for request in seen:
        assert request.headers["content-type"] == "application/json"
