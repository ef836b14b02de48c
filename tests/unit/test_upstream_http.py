"""The providers' aiohttp transport (``providers/upstream_http.py``), against a real socket:
the request as sent (method, path, query, headers, JSON body), connections reused, and
each way a call can fail turned into the UpstreamError the router counts."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import pytest_asyncio

from reelgate.domain.tasks import UpstreamStatus
from reelgate.errors import UpstreamTimeout, UpstreamUnavailable, UpstreamUnreachable
from reelgate.providers.minimax import MiniMaxProvider
from reelgate.providers.upstream_http import AiohttpCalls
from reelgate.services.channels import fault_kind

BODY = b'{"task_id":"7","status":"Processing","base_resp":{"status_code":0}}'
HANG = b""  # the answer that never comes

Reply = Callable[[bytes], bytes]  # the request (head and body) -> the bytes answered


def ok(body: bytes = BODY) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    return head % len(body) + body


class Upstream:
    """A keep-alive HTTP/1.1 server of a few lines: it records each request and answers
        what ``reply`` says; after an answer that is not a whole one (HTTP, its JSON body to
    the end) it hangs up."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[bytes] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + (await reader.readexactly(length) if length else b"")
                self.requests.append(request)
                answer = self.reply(request)
                if answer == HANG:
                    await asyncio.Event().wait()
                writer.write(answer)
                if not (answer.startswith(b"HTTP/") and answer.endswith(b"}")):
                    break  # not a whole answer: hang up
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


Serve = Callable[[Reply], Awaitable[tuple[Upstream, str]]]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(reply: Reply) -> tuple[Upstream, str]:
        upstream = Upstream(reply)
        server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0)
        servers.append(server)
        return upstream, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()


async def test_a_query_is_sent_as_httpx_would_and_connections_are_kept(serve: Serve) -> None:
    upstream, base = await serve(lambda _: ok())
    calls = AiohttpCalls(5.0)
    try:
        provider = MiniMaxProvider("c", base, "k-secret", httpx.AsyncClient(), calls=calls)
        for _ in range(3):
            result = await provider.query("7 8")
            assert result.status is UpstreamStatus.PROCESSING
        sent = await calls.request(
            "POST", base + "/v1/video_generation", "create", headers={}, json={"a": "é"}
        )
    finally:
        await calls.aclose()
    assert sent.json()["task_id"] == "7"
    first = upstream.requests[0].decode()
    assert first.startswith("GET /v1/query/video_generation?task_id=7+8 HTTP/1.1\r\n")
    assert "Authorization: Bearer k-secret\r\n" in first
    post = upstream.requests[-1]
    assert post.startswith(b"POST /v1/video_generation HTTP/1.1\r\n")
    assert json.loads(post.split(b"\r\n\r\n", 1)[1]) == {"a": "é"}
    assert upstream.connections == 1  # one keep-alive connection for the four calls


async def test_a_refused_connection_is_the_channels_fault() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nobody listens
    calls = AiohttpCalls(5.0)
    try:
        with pytest.raises(UpstreamUnreachable) as refused:
            await calls.request("GET", f"http://127.0.0.1:{port}/v1/x", "query", headers={})
    finally:
        await calls.aclose()
    assert fault_kind(refused.value) == "channel"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (HANG, UpstreamTimeout),  # no answer within the timeout
        (b"garbage\r\n\r\n", UpstreamUnavailable),  # not HTTP, then hung up
        (ok()[:-10], UpstreamUnavailable),  # hung up mid-body
    ],
)
async def test_a_failed_call_is_an_upstream_error(
    serve: Serve, answer: bytes, error: type[Exception]
) -> None:
    _, base = await serve(lambda _: answer)
    calls = AiohttpCalls(0.3)
    try:
        with pytest.raises(error) as failed:
            await calls.request("GET", base + "/v1/query/video_generation", "query", headers={})
    finally:
        await calls.aclose()
    assert "query" in str(failed.value)
