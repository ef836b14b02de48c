"""The URL guard: every hop is checked, redirects included."""

from __future__ import annotations

import httpx
import pytest

from reelgate.urlguard import BlockedUrl, check_url, fetch


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://localhost/",
        "http://169.254.169.254/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://[fe80::1]/",
        "http://[::ffff:10.0.0.1]/",
        "ftp://93.184.216.34/",
        "file:///etc/passwd",
    ],
)
async def test_private_and_odd_urls_are_blocked(url: str) -> None:
    with pytest.raises(BlockedUrl):
        await check_url(url, allow_private=False)


async def test_public_addresses_pass() -> None:
    await check_url("http://93.184.216.34/image.png", allow_private=False)


async def test_a_redirect_into_the_private_network_is_refused() -> None:
    hops: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        # Only the transport is stood in: the guard's checks all run for real.
        hops.append(str(request.url))
        if request.url.host == "93.184.216.34":
            return httpx.Response(302, headers={"location": "http://127.0.0.1:8000/admin"})
        return httpx.Response(200, content=b"secret")

    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as client:
        with pytest.raises(BlockedUrl):
            await fetch(client, "http://93.184.216.34/a.png", allow_private=False, max_bytes=100)
    assert hops == ["http://93.184.216.34/a.png"]  # the private hop was never requested


async def test_allowed_when_configured() -> None:
    await check_url("http://127.0.0.1/", allow_private=True)
