"""Fetching URLs that clients supply, without becoming a way into the operator's network.

Every hop is resolved first and refused if any address it resolves to is private,
loopback, link-local (cloud metadata lives there), multicast or reserved, unless the
configuration allows private addresses. Redirects are followed by hand so that each
hop is checked again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx

from reelgate.errors import InvalidParams

MAX_REDIRECTS = 5


class BlockedUrl(InvalidParams):
    """The URL points at an address the gateway may not call."""


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raise BlockedUrl unless ``url`` is http(s) and resolves only to allowed addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BlockedUrl(f"invalid params, {url!r} is not an http(s) URL")
    if allow_private:
        return
    host = parts.hostname
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except OSError:
        raise BlockedUrl(f"invalid params, the host {host!r} cannot be resolved") from None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if not _is_public(ip):
            raise BlockedUrl(
                f"invalid params, {host!r} resolves to {ip}, a private or reserved address"
            )


async def fetch(
    client: httpx.AsyncClient, url: str, *, allow_private: bool, max_bytes: int
) -> bytes:
    """GET ``url`` (checking every redirect hop) and return at most ``max_bytes`` bytes."""
    for _ in range(MAX_REDIRECTS + 1):
        await check_url(url, allow_private=allow_private)
        try:
            async with client.stream("GET", url, follow_redirects=False) as resp:
                if resp.is_redirect and "location" in resp.headers:
                    url = urljoin(url, resp.headers["location"])
                    continue
                if resp.status_code != 200:
                    raise InvalidParams(f"invalid params, {url} answered HTTP {resp.status_code}")
                data = bytearray()
                async for chunk in resp.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise InvalidParams(
                            f"invalid params, {url} is larger than {max_bytes} bytes"
                        )
                return bytes(data)
        except httpx.HTTPError as exc:
            raise InvalidParams(f"invalid params, {url} could not be fetched: {exc!r}") from None
    raise InvalidParams(f"invalid params, {url} redirects more than {MAX_REDIRECTS} times")
