"""What a client reads when it reuses an ``Idempotency-Key``, and a key left free by a
request that did not finish (a retryable upstream fault, a cancelled request), in process
on the fake upstream."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import pytest_asyncio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message

from reelgate.api.idempotency import idempotent
from reelgate.errors import UpstreamUnreachable
from tests.inprocess.harness import InProcess
from tests.support import API_KEY

pytestmark = pytest.mark.asyncio(loop_scope="module")

CREATE = "/v1/video_generation"
T2V = {"model": "T2V-01", "prompt": "a paper boat"}
REFUSED = {"model": "T2V-01", "prompt": "a paper boat", "duration": 10}  # a kept 2013


@pytest_asyncio.fixture(loop_scope="module")
async def api(gateway: InProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway.client() as c:
        yield c


async def account_of(gateway: InProcess) -> int:
    return (await gateway.gw.auth.api_key(API_KEY)).account_id


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(f"{method} {path}\n".encode() + body).hexdigest()


async def test_a_key_reused_for_another_request_is_refused_in_words(
    api: httpx.AsyncClient,
) -> None:
    headers = {"Idempotency-Key": "words-1"}
    first = await api.post(CREATE, json=REFUSED, headers=headers)
    assert first.json()["base_resp"]["status_code"] == 2013
    other = await api.post(CREATE, json={**REFUSED, "prompt": "a dog"}, headers=headers)
    assert other.json()["base_resp"] == {
        "status_code": 2013,
        "status_msg": "invalid params, this Idempotency-Key was used with a different "
        "request; use a new key for a new request",
    }


async def test_a_key_still_in_progress_is_a_conflict(
    gateway: InProcess, api: httpx.AsyncClient
) -> None:
    body = orjson.dumps(T2V)
    account = await account_of(gateway)
    fp = fingerprint("POST", CREATE, body)
    assert await gateway.gw.idempotency.begin(account, "busy-1", fp, "another-owner") is None
    resp = await api.post(
        CREATE,
        content=body,
        headers={"Idempotency-Key": "busy-1", "Content-Type": "application/json"},
    )
    assert resp.json()["base_resp"] == {
        "status_code": 2013,
        "status_msg": "a request with this Idempotency-Key is still in progress; retry in a moment",
    }
    assert await gateway.count_tasks() == 0


async def test_a_retryable_upstream_fault_leaves_the_key_free(
    gateway: InProcess, api: httpx.AsyncClient
) -> None:
    gateway.upstream.fault_next("submit", UpstreamUnreachable("upstream submit failed"))
    headers = {"Idempotency-Key": "fault-1"}
    failed = await api.post(CREATE, json=T2V, headers=headers)
    assert failed.json()["base_resp"]["status_code"] == 1000
    # not kept: the key now answers another request with that request's own answer
    refused = await api.post(CREATE, json=REFUSED, headers=headers)
    assert "idempotent-replayed" not in refused.headers
    assert "allows duration 6 seconds, not 10" in refused.json()["base_resp"]["status_msg"]


async def test_a_cancelled_request_gives_its_key_up(gateway: InProcess) -> None:
    """A client that goes away mid-create cancels the handler: the key must not stay
    claimed until its lease runs out, or the client's retry would get a 409."""
    body = orjson.dumps(T2V)
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            await asyncio.Event().wait()  # the client is gone: nothing more arrives
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "app": gateway.app,
        "method": "POST",
        "scheme": "http",
        "server": ("gateway.test", 80),
        "root_path": "",
        "path": CREATE,
        "query_string": b"",
        "headers": [(b"idempotency-key", b"cancel-1"), (b"host", b"gateway.test")],
    }
    ran = asyncio.Event()

    async def handler() -> Response:
        ran.set()
        await asyncio.Event().wait()  # a create that has not answered yet
        raise AssertionError("unreachable")

    account = await account_of(gateway)
    request = asyncio.create_task(idempotent(Request(scope, receive), account, handler))
    await ran.wait()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    # the key is free: another request claims it at once
    fp = fingerprint("POST", CREATE, b"{}")
    assert await gateway.gw.idempotency.begin(account, "cancel-1", fp, "next-owner") is None
