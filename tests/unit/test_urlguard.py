"""The URL guard: malformed URLs are 2013s, every address it may call is globally
routable, every hop is checked, and the request goes to the address that was checked."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
import pytest

from reelgate.domain.webhooks import RetrySchedule
from reelgate.errors import InvalidParams
from reelgate.providers.http_webhooks import HttpWebhooks
from reelgate.services.callbacks import CallbackVerifier, Dispatcher
from reelgate.store.deliveries import Delivery
from reelgate.urlguard import BlockedUrl, blocked_reason, check_url, fetch, send

PUBLIC = "93.184.216.34"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://localhost/",
        "http://169.254.169.254/",
        "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud's metadata service
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://[fe80::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[2001::1]/",  # Teredo
        "http://0.0.0.0/",
        "ftp://93.184.216.34/",
        "file:///etc/passwd",
    ],
)
async def test_private_and_odd_urls_are_blocked(url: str) -> None:
    with pytest.raises(BlockedUrl):
        await check_url(url, allow_private=False)


# (range, first, last, just below, just above): the neighbours are public addresses, or
# None where the neighbour lies in another refused range (or does not exist).
V4_RANGES = [
    ("0.0.0.0/8", "0.0.0.0", "0.255.255.255", None, "1.0.0.0"),
    ("10.0.0.0/8", "10.0.0.0", "10.255.255.255", "9.255.255.255", "11.0.0.0"),
    ("100.64.0.0/10", "100.64.0.0", "100.127.255.255", "100.63.255.255", "100.128.0.0"),
    ("127.0.0.0/8", "127.0.0.0", "127.255.255.255", "126.255.255.255", "128.0.0.0"),
    ("169.254.0.0/16", "169.254.0.0", "169.254.255.255", "169.253.255.255", "169.255.0.0"),
    ("172.16.0.0/12", "172.16.0.0", "172.31.255.255", "172.15.255.255", "172.32.0.0"),
    ("192.0.0.0/24", "192.0.0.0", "192.0.0.255", "191.255.255.255", "192.0.1.0"),
    ("192.0.2.0/24", "192.0.2.0", "192.0.2.255", "192.0.1.255", "192.0.3.0"),
    ("192.88.99.0/24", "192.88.99.0", "192.88.99.255", "192.88.98.255", "192.88.100.0"),
    ("192.168.0.0/16", "192.168.0.0", "192.168.255.255", "192.167.255.255", "192.169.0.0"),
    ("198.18.0.0/15", "198.18.0.0", "198.19.255.255", "198.17.255.255", "198.20.0.0"),
    ("198.51.100.0/24", "198.51.100.0", "198.51.100.255", "198.51.99.255", "198.51.101.0"),
    ("203.0.113.0/24", "203.0.113.0", "203.0.113.255", "203.0.112.255", "203.0.114.0"),
    ("224.0.0.0/4", "224.0.0.0", "239.255.255.255", "223.255.255.255", None),
    ("240.0.0.0/4", "240.0.0.0", "255.255.255.255", None, None),
]
_MAX = "ffff:ffff:ffff:ffff:ffff"
V6_RANGES = [
    ("::/8", "::", f"ff:ffff:ffff:{_MAX}", None, None),
    ("::/96 (IPv4-compatible)", "::", "::ffff:ffff", None, None),
    ("64:ff9b:1::/48", "64:ff9b:1::", f"64:ff9b:1:{_MAX}", None, None),
    ("100::/64", "100::", "100::ffff:ffff:ffff:ffff", None, None),
    ("2000::/3 lower edge", "1fff:ffff:ffff:" + _MAX, "1fff:ffff:ffff:" + _MAX, None, "2000::"),
    ("2001::/23", "2001::", f"2001:1ff:ffff:{_MAX}", f"2000:ffff:ffff:{_MAX}", "2001:200::"),
    ("2001::/32 (Teredo)", "2001::", f"2001:0:ffff:{_MAX}", None, None),
    ("2001:db8::/32", "2001:db8::", f"2001:db8:ffff:{_MAX}", f"2001:db7:ffff:{_MAX}", "2001:db9::"),
    ("2002::/16 (6to4)", "2002::", f"2002:ffff:ffff:{_MAX}", f"2001:ffff:ffff:{_MAX}", "2003::"),
    ("3fff::/20", "3fff::", f"3fff:fff:ffff:{_MAX}", f"3ffe:ffff:ffff:{_MAX}", "3fff:1000::"),
    ("4000::/2 and up", "4000::", "5f00::1", None, None),
    ("fc00::/7", "fc00::", f"fdff:ffff:ffff:{_MAX}", None, None),
    ("fe80::/10", "fe80::", f"febf:ffff:ffff:{_MAX}", None, None),
    ("fec0::/10", "fec0::", f"feff:ffff:ffff:{_MAX}", None, None),
    ("ff00::/8", "ff00::", f"ffff:ffff:ffff:{_MAX}", None, None),
]


@pytest.mark.parametrize(("net", "first", "last", "below", "above"), V4_RANGES + V6_RANGES)
def test_each_refused_range_at_its_edges(
    net: str, first: str, last: str, below: str | None, above: str | None
) -> None:
    assert blocked_reason(ipaddress.ip_address(first)) is not None, net
    assert blocked_reason(ipaddress.ip_address(last)) is not None, net
    for outside in (below, above):
        if outside is not None:
            assert blocked_reason(ipaddress.ip_address(outside)) is None, (net, outside)


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        # IPv4-mapped and NAT64 addresses are judged by the IPv4 address they carry
        ("::ffff:93.184.216.34", False),
        ("::ffff:127.0.0.1", True),
        ("::ffff:100.64.0.0", True),
        ("::ffff:100.63.255.255", False),
        ("64:ff9b::5db8:d822", False),  # NAT64 of 93.184.216.34
        ("64:ff9b::7f00:1", True),  # NAT64 of 127.0.0.1
        ("64:ff9b::6440:0", True),  # NAT64 of 100.64.0.0
        ("64:ff9b::643f:ffff", False),  # NAT64 of 100.63.255.255
        ("::ffff:0:5db8:d822", True),  # IPv4-translated: never
        ("::5db8:d822", True),  # IPv4-compatible: never
        ("fe80::1%eth0", True),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
    ],
)
def test_embedded_ipv4_addresses(address: str, refused: bool) -> None:
    assert (blocked_reason(ipaddress.ip_address(address)) is not None) is refused


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"http://{PUBLIC}:99999/a.png", "port 99999; ports are 1 to 65535"),
        (f"http://{PUBLIC}:0/a.png", "port 0"),
        (f"http://{PUBLIC}:x/a.png", "port 'x'"),
        ("http://[::1/", "not a valid URL"),
        ("http://a.example/\r\nX: y", "U+000D"),
        ("http://user:pw@a.example/", "credentials"),
        ("http://127.1/", "four decimal numbers"),
    ],
)
async def test_malformed_urls_are_refused_not_crashed(url: str, says: str) -> None:
    # urlsplit().port raised ValueError here before: a 500
    for allow_private in (False, True):
        with pytest.raises(BlockedUrl, match=re.escape(says)):
            await check_url(url, allow_private=allow_private)


async def test_fetch_of_a_malformed_url_is_a_2013() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as c:
        with pytest.raises(InvalidParams) as caught:
            await fetch(c, f"http://{PUBLIC}:99999/a.png", allow_private=True, max_bytes=10)
    assert caught.value.code == 2013 and "99999" in caught.value.message


async def test_a_redirect_to_a_malformed_url_is_a_2013() -> None:
    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "http://93.184.216.34:70000/"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as client:
        with pytest.raises(InvalidParams, match="port 70000"):
            await fetch(client, f"http://{PUBLIC}/a.png", allow_private=False, max_bytes=100)


async def test_public_addresses_pass() -> None:
    target = await check_url(f"http://{PUBLIC}/image.png", allow_private=False)
    assert target.addresses == (PUBLIC,)


async def test_a_redirect_into_the_private_network_is_refused() -> None:
    hops: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        # Only the transport is stood in: the guard's checks all run for real.
        hops.append(str(request.url))
        if request.url.host == PUBLIC:
            return httpx.Response(302, headers={"location": "http://127.0.0.1:8000/admin"})
        return httpx.Response(200, content=b"secret")

    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as client:
        with pytest.raises(BlockedUrl):
            await fetch(client, f"http://{PUBLIC}/a.png", allow_private=False, max_bytes=100)
    assert hops == [f"http://{PUBLIC}/a.png"]  # the private hop was never requested


async def test_allowed_when_configured() -> None:
    await check_url("http://127.0.0.1/", allow_private=True)


class Rebinder:
    """A DNS server under an attacker's control: public on the first answer, private after
    (a TTL of 0 makes every later lookup a fresh one)."""

    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append((host, port))
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


class Recorder:
    """The network, as the HTTP client's transport sees it: where each request goes."""

    def __init__(self, status: int = 200, content: bytes = b"img") -> None:
        self.seen: list[httpx.Request] = []
        self.status, self.content = status, content

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return httpx.Response(self.status, content=self.content, json=None)


async def test_rebinding_cannot_move_a_fetch_to_a_private_address() -> None:
    resolver = Rebinder([PUBLIC], ["127.0.0.1"])
    net = Recorder()
    async with httpx.AsyncClient(transport=httpx.MockTransport(net)) as client:
        data = await fetch(
            client,
            "https://images.example/a.png",
            allow_private=False,
            max_bytes=100,
            resolve=resolver,
        )
    assert data == b"img"
    assert resolver.asked == [("images.example", 443)]  # resolved once: no second answer
    (request,) = net.seen
    # the connection goes to the checked address; the name stays in Host and in the TLS
    # server name, so the certificate is verified for the name
    assert request.url.host == PUBLIC and request.url.scheme == "https"
    assert request.headers["host"] == "images.example"
    assert request.extensions["sni_hostname"] == "images.example"
    assert request.headers["connection"] == "close"


async def test_a_name_with_one_private_answer_is_refused() -> None:
    resolver = Rebinder([PUBLIC, "10.0.0.7"])
    with pytest.raises(BlockedUrl, match=re.escape("10.0.0.7")):
        await check_url("http://mixed.example/", allow_private=False, resolve=resolver)


async def test_each_redirect_hop_is_resolved_once_and_pinned() -> None:
    resolver = Rebinder([PUBLIC], ["127.0.0.1"])

    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/first":
            return httpx.Response(302, headers={"location": "/second"})
        return httpx.Response(200, content=b"ok")

    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as client:
        with pytest.raises(BlockedUrl, match=re.escape("127.0.0.1")):
            await fetch(
                client,
                "http://hop.example/first",
                allow_private=False,
                max_bytes=10,
                resolve=resolver,
            )
    assert len(resolver.asked) == 2  # the second hop was checked again, and refused


async def test_the_next_checked_address_is_tried_when_one_cannot_be_reached() -> None:
    second = "93.184.216.35"
    tried: list[str] = []

    def network(request: httpx.Request) -> httpx.Response:
        tried.append(request.url.host)
        if request.url.host == PUBLIC:
            raise httpx.ConnectError("unreachable", request=request)
        return httpx.Response(200, content=b"ok")

    async with httpx.AsyncClient(transport=httpx.MockTransport(network)) as client:
        reply = await send(
            client,
            "POST",
            "http://two.example/hook",
            allow_private=False,
            resolve=Rebinder([PUBLIC, second]),
        )
    assert reply.status_code == 200 and tried == [PUBLIC, second]


async def test_a_receivers_answer_is_read_up_to_a_limit() -> None:
    big = Recorder(content=b"x" * (1 << 20))
    async with httpx.AsyncClient(transport=httpx.MockTransport(big)) as client:
        reply = await send(client, "POST", f"http://{PUBLIC}/hook", allow_private=False)
    assert reply.status_code == 200 and len(reply.content) == 64 * 1024


async def test_the_callback_challenge_goes_to_the_checked_address() -> None:
    resolver = Rebinder([PUBLIC], ["169.254.169.254"])
    seen: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=request.content)  # echoes the challenge

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as client:
        verifier = CallbackVerifier(HttpWebhooks(client, allow_private=False, resolve=resolver))
        await verifier.verify("http://hooks.example:8080/cb")
    (request,) = seen
    assert request.url.host == PUBLIC and request.url.port == 8080
    assert request.headers["host"] == "hooks.example:8080"
    assert "sni_hostname" not in request.extensions  # plain http: no TLS
    assert len(resolver.asked) == 1


async def test_a_malformed_callback_url_is_a_2013_from_the_verifier() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(Recorder())) as client:
        verifier = CallbackVerifier(HttpWebhooks(client, allow_private=True))
        with pytest.raises(InvalidParams) as caught:
            await verifier.verify(f"http://{PUBLIC}:99999/cb")
    assert caught.value.code == 2013 and "port 99999" in caught.value.message


class Outbox:
    """The delivery store's side of one attempt: what the dispatcher recorded."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[str, int | None]] = []

    async def active_secrets(self, account_id: int, now: datetime) -> list[str]:
        return []

    async def delivered(self, delivery_id: int, status: int, at: datetime) -> None:
        self.outcomes.append(("delivered", status))

    async def give_up(self, delivery_id: int, status: int | None, error: str) -> None:
        self.outcomes.append((f"gave up: {error}", status))


def delivery(url: str) -> Delivery:
    now = datetime.now(UTC)
    return Delivery(1, "msg_1", 1, 1, 1, url, {"status": "success"}, "pending", 0, now, None,
                    None, now, None)  # fmt: skip


@pytest.mark.parametrize(
    ("answers", "outcome"),
    [
        # checked at this attempt and sent there, though the name now says otherwise
        (([PUBLIC], ["127.0.0.1"]), ("delivered", 200)),
        # at a later attempt the name resolves to a private address: refused, never sent
        ((["127.0.0.1"],), ("gave up", None)),
    ],
)
async def test_each_delivery_is_resolved_once_checked_and_pinned(
    answers: tuple[list[str], ...], outcome: tuple[str, int | None]
) -> None:
    net, outbox, resolver = Recorder(), Outbox(), Rebinder(*answers)
    async with httpx.AsyncClient(transport=httpx.MockTransport(net)) as client:
        dispatcher = Dispatcher(
            store=outbox,  # type: ignore[arg-type]
            sender=HttpWebhooks(client, allow_private=False, resolve=resolver),
            schedule=RetrySchedule(),
        )
        await dispatcher.deliver(delivery("https://hooks.example/cb"))
    ((what, status),) = outbox.outcomes
    assert (what.split(":")[0], status) == outcome
    assert len(resolver.asked) == 1
    if status == 200:
        (request,) = net.seen
        assert request.url.host == PUBLIC and request.headers["host"] == "hooks.example"
        assert request.extensions["sni_hostname"] == "hooks.example"
    else:
        assert not net.seen and "127.0.0.1" in what
