"""Calling URLs that clients supply, without becoming a way into the operator's network.

Every hop is parsed (:mod:`reelgate.domain.urls`: a malformed URL is a 2013, never a
500), resolved once, and refused unless every address it resolves to is globally
routable (see :func:`blocked_reason`), unless the configuration allows private
addresses. The request then goes to the address that was checked, not to the name: the
URL's host is replaced by that address, the ``Host`` header and (for https) the TLS
server name stay the name's, so the certificate is still verified for the name. A DNS
answer that changes between the check and the connection (rebinding) cannot send the
request elsewhere. Redirects are followed by hand so that each hop is checked again.

Pinned https requests ask for ``Connection: close``: the connection pool keys
connections by URL origin, here the address, so a kept-alive connection verified for one
name could otherwise carry a later request for another name on the same address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx

from reelgate.domain.urls import IPAddress, WebUrl, parse_web_url
from reelgate.errors import InvalidParams

MAX_REDIRECTS = 5
MAX_REPLY_BYTES = 64 * 1024  # of a callback receiver's answer: only its status matters

# (host, port) -> the addresses it resolves to, as strings
Resolve = Callable[[str, int], Awaitable[Sequence[str]]]


class BlockedUrl(InvalidParams):
    """The URL is malformed or points at an address the gateway may not call."""


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*spec: tuple[str, str]) -> tuple[tuple[Network, str], ...]:
    return tuple((ipaddress.ip_network(net), label) for net, label in spec)


# Special-purpose ranges (IANA registries, RFC 6890 and successors) that are not globally
# reachable, or that lead somewhere other than where they seem (6to4, Teredo). Listed
# explicitly: Python 3.11's ``is_global`` passes 100.64.0.0/10's neighbours and 2002::/16.
BLOCKED_V4 = _nets(
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (carrier NAT, cloud metadata)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),  # 255.255.255.255 (broadcast) included
)
BLOCKED_V6 = _nets(
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("::ffff:0:0:0/96", "IPv4-translated"),
    ("::/8", "reserved"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignments (Teredo included)"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
)
# The well-known NAT64 prefix carries an IPv4 address in its last 32 bits; the NAT64
# gateway connects there, so that address is what must be public.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
# Every routable IPv6 unicast address is in 2000::/3; the rest is special or unassigned.
GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")


def blocked_reason(ip: IPAddress) -> str | None:
    """Why the gateway may not call ``ip``; None when it is globally routable."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "an address with a zone id (link-local)"
        if ip in IPV4_MAPPED or ip in NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
            reason = blocked_reason(inner)
            return None if reason is None else f"it embeds {inner}: {reason}"
        for net6, label in BLOCKED_V6:
            if ip in net6:
                return f"{label}, {net6}"
        if ip not in GLOBAL_UNICAST_V6:
            return f"outside global unicast, {GLOBAL_UNICAST_V6}"
    else:
        for net4, label in BLOCKED_V4:
            if ip in net4:
                return f"{label}, {net4}"
    if not ip.is_global:  # a belt to the braces above: whatever Python knows of
        return "not globally routable"
    return None


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to, in the resolver's order of preference."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL and the addresses it may be called at (empty: not pinned)."""

    parsed: WebUrl
    addresses: tuple[str, ...]

    @property
    def url(self) -> str:
        return self.parsed.url

    def requests(self) -> list[tuple[httpx.URL, dict[str, str], dict[str, Any]]]:
        """(URL, extra headers, extensions) to try in turn, one per checked address."""
        url = httpx.URL(self.parsed.url)
        if not self.addresses:
            return [(url, {}, {})]
        out: list[tuple[httpx.URL, dict[str, str], dict[str, Any]]] = []
        for address in self.addresses:
            headers = {"Host": url.netloc.decode("ascii")}
            extensions: dict[str, Any] = {}
            if self.parsed.ip is None and self.parsed.scheme == "https":
                extensions["sni_hostname"] = url.raw_host.decode("ascii")
                headers["Connection"] = "close"  # see the module's docstring
            out.append((url.copy_with(host=address), headers, extensions))
        return out


async def check_url(
    url: str, *, allow_private: bool, resolve: Resolve = system_resolve, what: str = "the URL"
) -> Target:
    """Parse ``url`` and resolve its host once; raise BlockedUrl unless it is well formed
    and every address is allowed. Call the URL through the returned target only."""
    try:
        parsed = parse_web_url(url, what)
    except InvalidParams as exc:
        raise BlockedUrl(exc.message) from None
    if allow_private:
        return Target(parsed, ())
    if parsed.ip is not None:
        reason = blocked_reason(parsed.ip)
        if reason is not None:
            raise BlockedUrl(
                f"invalid params, {parsed.ip} is a private or reserved address ({reason})"
            )
        return Target(parsed, (_connectable(parsed.ip),))
    try:
        answers = await resolve(parsed.host, parsed.port)
    except (OSError, UnicodeError):
        answers = []
    if not answers:
        raise BlockedUrl(f"invalid params, the host {parsed.host!r} cannot be resolved")
    addresses: list[str] = []
    for answer in answers:
        try:
            ip = ipaddress.ip_address(answer)
        except ValueError:
            raise BlockedUrl(
                f"invalid params, {parsed.host!r} resolves to {answer!r}, not an address"
            ) from None
        reason = blocked_reason(ip)
        if reason is not None:  # one bad answer spoils the name: any may be used next time
            raise BlockedUrl(
                f"invalid params, {parsed.host!r} resolves to {ip}, a private or reserved "
                f"address ({reason})"
            )
        addresses.append(_connectable(ip))
    return Target(parsed, tuple(dict.fromkeys(addresses)))


def _connectable(ip: IPAddress) -> str:
    # an IPv4-mapped address is called as the IPv4 address it maps (where it really goes)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


@asynccontextmanager
async def open_checked(
    client: httpx.AsyncClient, method: str, target: Target, **kwargs: Any
) -> AsyncIterator[httpx.Response]:
    """Send one request to a checked target, at a checked address, redirects not followed.

    The addresses are tried in the resolver's order while connecting fails (nothing has
    been sent then, so trying the next is safe); the response is streamed.
    """
    headers = dict(kwargs.pop("headers", None) or {})
    attempts = target.requests()
    response: httpx.Response | None = None
    for n, (url, pin_headers, extensions) in enumerate(attempts, 1):
        request = client.build_request(
            method, url, headers={**headers, **pin_headers}, extensions=extensions, **kwargs
        )
        try:
            response = await client.send(request, stream=True, follow_redirects=False)
            break
        except httpx.ConnectError:
            if n == len(attempts):
                raise
        except httpx.InvalidURL as exc:  # not an httpx.HTTPError: keep it a 2013, never a 500
            raise BlockedUrl(f"invalid params, {target.url!r} is not a valid URL: {exc}") from None
    assert response is not None
    try:
        yield response
    finally:
        await response.aclose()


@dataclass(frozen=True, slots=True)
class Reply:
    """A receiver's answer, read up to MAX_REPLY_BYTES."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    allow_private: bool,
    resolve: Resolve = system_resolve,
    **kwargs: Any,
) -> Reply:
    """Check ``url``, then send one request to the checked address (no redirects).

    Raises BlockedUrl for a refused URL and httpx.HTTPError when the call fails.
    """
    target = await check_url(url, allow_private=allow_private, resolve=resolve)
    async with open_checked(client, method, target, **kwargs) as resp:
        body = bytearray()
        async for chunk in resp.aiter_bytes():
            body += chunk
            if len(body) >= MAX_REPLY_BYTES:  # a receiver may not make us buffer without end
                break
        return Reply(resp.status_code, resp.headers, bytes(body[:MAX_REPLY_BYTES]))


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    allow_private: bool,
    max_bytes: int,
    resolve: Resolve = system_resolve,
) -> bytes:
    """GET ``url`` (checking every redirect hop) and return at most ``max_bytes`` bytes.

    Every refusal is an InvalidParams (2013) naming the URL: never a 500.
    """
    for _ in range(MAX_REDIRECTS + 1):
        target = await check_url(url, allow_private=allow_private, resolve=resolve)
        try:
            async with open_checked(client, "GET", target) as resp:
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
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise InvalidParams(f"invalid params, {url} could not be fetched: {exc!r}") from None
    raise InvalidParams(f"invalid params, {url} redirects more than {MAX_REDIRECTS} times")
