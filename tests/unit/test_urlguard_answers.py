"""The URL guard on every answer the resolver gives, and its limits at the edge: every
resolved address is checked (not only the first), each refusal says why, redirects and
sizes are bounded exactly."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest

from reelgate.errors import InvalidParams
from reelgate.urlguard import (
    MAX_REDIRECTS,
    MAX_REPLY_BYTES,
    BlockedUrl,
    check_url,
    fetch,
    send,
    system_resolve,
)

PUBLIC, PUBLIC2, PUBLIC3 = "93.184.216.34", "93.184.216.35", "2606:2800:220:1::1"


def answers(*addresses: str) -> object:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize("position", [0, 1, 2])
@pytest.mark.parametrize("private", ["10.0.0.7", "127.0.0.1", "::1", "::ffff:169.254.169.254"])
async def test_a_private_answer_anywhere_spoils_the_name(position: int, private: str) -> None:
    found = [PUBLIC, PUBLIC2, PUBLIC3]
    found[position] = private
    with pytest.raises(BlockedUrl) as info:
        await check_url("http://mixed.example/", allow_private=False, resolve=answers(*found))
    assert info.value.message.startswith(
        f"invalid params, 'mixed.example' resolves to {ipaddress.ip_address(private)}, a private "
        "or reserved address ("
    )


async def test_every_public_answer_is_kept_in_order_once() -> None:
    resolve = answers(PUBLIC2, PUBLIC, PUBLIC2, PUBLIC3, "::ffff:" + PUBLIC)
    target = await check_url("https://ok.example/x", allow_private=False, resolve=resolve)
    # an IPv4-mapped answer is called as the IPv4 address it maps
    assert target.addresses == (PUBLIC2, PUBLIC, PUBLIC3)
    assert target.url == "https://ok.example/x"


@pytest.mark.parametrize("found", [[], None])
async def test_a_name_without_answers_is_refused(found: list[str] | None) -> None:
    async def resolve(host: str, port: int) -> Sequence[str]:
        if found is None:
            raise OSError("NXDOMAIN")
        return found

    with pytest.raises(BlockedUrl) as info:
        await check_url("http://gone.example/", allow_private=False, resolve=resolve)
    assert info.value.message == "invalid params, the host 'gone.example' cannot be resolved"


async def test_an_answer_that_is_not_an_address_is_refused() -> None:
    with pytest.raises(BlockedUrl) as info:
        await check_url("http://odd.example/", allow_private=False, resolve=answers("nope"))
    assert info.value.message == "invalid params, 'odd.example' resolves to 'nope', not an address"


async def test_a_private_literal_says_why() -> None:
    with pytest.raises(BlockedUrl) as info:
        await check_url("http://10.1.2.3/", allow_private=False)
    assert info.value.message == (
        "invalid params, 10.1.2.3 is a private or reserved address (private, 10.0.0.0/8)"
    )
    with pytest.raises(BlockedUrl, match=r"^invalid params, the URL "):
        await check_url("http://exa mple.com/", allow_private=False)
    with pytest.raises(BlockedUrl, match=r"^invalid params, callback_url "):
        await check_url("http://exa mple.com/", allow_private=False, what="callback_url")


async def test_allowed_private_urls_are_called_by_name() -> None:
    target = await check_url("http://127.0.0.1:9/x", allow_private=True)
    assert target.addresses == () and target.url == "http://127.0.0.1:9/x"
    seen: list[httpx.Request] = []

    def network(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"ok", headers={"x-a": "1"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(network)) as client:
        reply = await send(client, "POST", "http://10.0.0.1/h", allow_private=True)
        data = await fetch(client, "http://10.0.0.1/i", allow_private=True, max_bytes=2)
    assert reply.status_code == 200 and reply.headers["x-a"] == "1" and data == b"ok"
    assert [r.url.host for r in seen] == ["10.0.0.1", "10.0.0.1"]


async def test_the_system_resolver_answers_addresses() -> None:
    assert "127.0.0.1" in await system_resolve("localhost", 80)
    assert await system_resolve("127.0.0.1", 443) == ["127.0.0.1"]


def chunked(parts: list[bytes], status: int = 200) -> httpx.MockTransport:
    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    return httpx.MockTransport(lambda request: httpx.Response(status, content=body()))


@pytest.mark.parametrize(("size", "fits"), [(10, True), (11, False)])
async def test_a_fetch_reads_up_to_max_bytes(size: int, fits: bool) -> None:
    parts = [b"x" * 4, b"y" * 4, b"z" * (size - 8)]
    async with httpx.AsyncClient(transport=chunked(parts)) as client:
        if fits:
            data = await fetch(client, "http://10.0.0.1/a", allow_private=True, max_bytes=10)
            assert data == b"xxxxyyyy" + b"z" * (size - 8)
        else:
            with pytest.raises(InvalidParams) as info:
                await fetch(client, "http://10.0.0.1/a", allow_private=True, max_bytes=10)
            assert info.value.message == "invalid params, http://10.0.0.1/a is larger than 10 bytes"


async def test_a_fetch_that_is_not_200_says_so() -> None:
    async with httpx.AsyncClient(transport=chunked([b"gone"], status=404)) as client:
        with pytest.raises(InvalidParams) as info:
            await fetch(client, "http://10.0.0.1/a", allow_private=True, max_bytes=10)
    assert info.value.message == "invalid params, http://10.0.0.1/a answered HTTP 404"


async def test_a_fetch_that_fails_says_so() -> None:
    def network(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(network)) as client:
        with pytest.raises(InvalidParams) as info:
            await fetch(client, "http://10.0.0.1/a", allow_private=True, max_bytes=10)
    assert info.value.message.startswith(
        "invalid params, http://10.0.0.1/a could not be fetched: ReadTimeout("
    )


@pytest.mark.parametrize(("hops", "followed"), [(MAX_REDIRECTS, True), (MAX_REDIRECTS + 1, False)])
async def test_redirects_are_followed_up_to_the_limit(hops: int, followed: bool) -> None:
    methods: list[str] = []

    def network(request: httpx.Request) -> httpx.Response:
        methods.append(request.method)
        n = int(request.url.path.strip("/") or 0)
        if n < hops:
            return httpx.Response(302, headers={"Location": f"/{n + 1}"})
        return httpx.Response(200, content=b"end")

    async with httpx.AsyncClient(transport=httpx.MockTransport(network)) as client:
        if followed:
            assert await fetch(client, "http://10.0.0.1/0", allow_private=True, max_bytes=9) == (
                b"end"
            )
        else:
            with pytest.raises(InvalidParams) as info:
                await fetch(client, "http://10.0.0.1/0", allow_private=True, max_bytes=9)
            assert info.value.message == (
                f"invalid params, http://10.0.0.1/{MAX_REDIRECTS + 1} redirects more than "
                f"{MAX_REDIRECTS} times"
            )
    assert set(methods) == {"GET"}


async def test_a_redirect_without_a_location_is_the_answer() -> None:
    async with httpx.AsyncClient(transport=chunked([b"moved"], status=302)) as client:
        with pytest.raises(InvalidParams, match="answered HTTP 302"):
            await fetch(client, "http://10.0.0.1/a", allow_private=True, max_bytes=10)


@pytest.mark.parametrize("size", [MAX_REPLY_BYTES - 1, MAX_REPLY_BYTES, MAX_REPLY_BYTES + 5])
async def test_a_receivers_reply_is_kept_up_to_the_limit(size: int) -> None:
    parts = [b"a" * (size // 2), b"b" * (size - size // 2)]
    async with httpx.AsyncClient(transport=chunked(parts)) as client:
        reply = await send(client, "POST", "http://10.0.0.1/h", allow_private=True)
    expected = (b"a" * (size // 2) + b"b" * (size - size // 2))[:MAX_REPLY_BYTES]
    assert reply.content == expected
