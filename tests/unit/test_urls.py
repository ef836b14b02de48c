"""URL fields are checked at the edge: a URL no client could call is a 2013 that says
what is wrong, for every URL field of a create (issue 13, item 1)."""

from __future__ import annotations

from typing import Any

import pytest

from reelgate.domain.urls import MAX_URL_CHARS, parse_web_url
from reelgate.errors import InvalidParams
from reelgate.surfaces.minimax_v1.requests import parse_video_request

BASE = "http://93.184.216.34"


def refusal(value: str) -> str:
    with pytest.raises(InvalidParams) as info:
        parse_web_url(value, "first_frame_image URL")
    assert info.value.code == 2013
    return info.value.message


@pytest.mark.parametrize(
    ("port", "ok"), [("0", False), ("1", True), ("65535", True), ("65536", False)]
)
def test_ports_at_the_edges(port: str, ok: bool) -> None:
    url = f"{BASE}:{port}/a.png"
    if ok:
        assert parse_web_url(url, "first_frame_image URL").port == int(port)
    else:
        assert refusal(url) == (
            f"invalid params, first_frame_image URL has port {port}; ports are 1 to 65535"
        )


def test_length_at_the_edge() -> None:
    prefix = f"{BASE}/"
    assert parse_web_url(prefix + "a" * (MAX_URL_CHARS - len(prefix)), "u").host
    message = refusal(prefix + "a" * (MAX_URL_CHARS + 1 - len(prefix)))
    assert f"is {MAX_URL_CHARS + 1} characters long; the limit is {MAX_URL_CHARS}" in message


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        (f"{BASE}:99999/a.png", "has port 99999; ports are 1 to 65535"),
        (f"{BASE}:123456789012345678901234567890/", "has port 1234567890"),
        (f"{BASE}:8o/a.png", "has port '8o'; a port is a number"),
        (f"{BASE}:١٢/a.png", "has port '١٢'"),  # Arabic-Indic digits are not a port
        ("http://user:pass@93.184.216.34/a.png", "must not contain user credentials"),
        ("http://93.184.216.34\\@evil.example/", "must not contain user credentials"),
        ("http://a.example/a b.png", "contains a space at position 18"),
        ("http://a.example/a.png\n", "contains the character U+000A"),
        ("http://a.example\t/a.png", "contains the character U+0009"),
        ("http://a.example/\x00", "U+0000"),
        ("http://a.example/\x7f", "U+007F"),
        ("http://a.example/\u200b.png", "U+200B"),  # zero-width space
        ("http://a.example/\u202e.png", "U+202E"),  # right-to-left override
        ("http:///a.png", "has no host"),
        ("http://:80/a.png", "has no host"),
        ("https://[::1/a.png", "not a valid URL"),
        ("http://[fe80::1%25eth0]/", "zone id"),
        ("http://[nothost]/", "IPv4 or IPv6 address"),
        ("http://::1/a.png", "IPv6 address without brackets"),
        ("http://127.1/a.png", "four decimal numbers"),
        ("http://0x7f000001/a.png", "four decimal numbers"),
        ("http://2130706433/a.png", "four decimal numbers"),
        ("http://0177.0.0.1/a.png", "four decimal numbers"),
        ("http://a..example/a.png", "not a valid host name"),
        ("http://-a.example/a.png", "not a valid host name"),
        ("http://a.example!/a.png", "not a valid host name"),
        (f"http://{'a' * 64}.example/a.png", "not a valid host name"),
        ("http://xn--a.example/a.png", None),  # well formed; whether it resolves is later
        ("gopher://a.example/", "must start with http:// or https://"),
    ],
)
def test_malformed_urls_say_what_is_wrong(url: str, fragment: str | None) -> None:
    if fragment is None:
        parse_web_url(url, "first_frame_image URL")
        return
    message = refusal(url)
    assert message.startswith("invalid params, first_frame_image URL ")
    assert fragment in message


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.com/images/a.png?x=1&y=%20#frag",
        "http://93.184.216.34/a.png",
        "http://[2606:2800:220:1:248:1893:25c8:1946]:8080/a.png",
        "https://bücher.example/中文.png",
        "HTTPS://CDN.Example.COM/A.PNG",
        "http://a.example.:80/a.png",
        "http://a_b.example/a.png",
    ],
)
def test_ordinary_urls_pass(url: str) -> None:
    parsed = parse_web_url(url, "u")
    assert parsed.scheme in ("http", "https") and parsed.host == parsed.host.lower()


BAD = f"{BASE}:99999/a.png"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "I2V-01", "first_frame_image": BAD}, "first_frame_image URL"),
        (
            {"model": "MiniMax-Hailuo-02", "first_frame_image": f"{BASE}/a.png"}
            | {"last_frame_image": BAD},
            "last_frame_image URL",
        ),
        (
            {"model": "S2V-01", "subject_reference": [{"type": "character", "image": [BAD]}]},
            "subject_reference image URL",
        ),
        ({"model": "T2V-01", "prompt": "x", "callback_url": BAD}, "callback_url"),
        (
            {"model": "T2V-01", "prompt": "x", "callback_url": "http://a.example/\r\nX-A: b"},
            "callback_url",
        ),
    ],
)
def test_every_url_field_of_a_create_is_checked(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidParams) as info:
        parse_video_request(body)
    assert info.value.code == 2013
    assert info.value.message.startswith(f"invalid params, {field} ")
