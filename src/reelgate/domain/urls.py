"""What an http(s) URL a client hands us must look like, checked before anything is done.

A URL that no HTTP client could call (a port out of range, a control character, a host
that is no host) is refused here, at the edge, with 2013 and a message that says what
is wrong. Otherwise it would travel on to the upstream, fail there, and look like the
upstream's fault (issue 13: nine such requests cooled a shared channel down).

This is syntax only: whether the host may be called (is it public?) is the business of
:mod:`reelgate.urlguard`, which resolves it.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

from reelgate.errors import InvalidParams

MAX_URL_CHARS = 4096
MAX_HOST_CHARS = 253  # DNS: the longest name, without the trailing dot
DEFAULT_PORTS = {"http": 80, "https": 443}

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_HEX_OR_DIGITS = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
# Unicode categories that never belong in a URL as typed: controls, format characters
# (zero-width and bidi marks), separators (spaces, line and paragraph separators),
# surrogates and unassigned code points.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class WebUrl:
    """An http(s) URL that passed :func:`parse_web_url`."""

    url: str  # as the client sent it
    scheme: str  # http | https
    host: str  # lowercase ASCII (IDNA for international names), no brackets
    port: int  # explicit, or the scheme's default
    ip: IPAddress | None  # set when the host is an IP literal


def parse_web_url(value: str, what: str) -> WebUrl:
    """Check ``value`` is a callable http(s) URL; raise InvalidParams saying what is wrong.

    ``what`` names the URL in messages, e.g. "first_frame_image URL" or "callback_url".
    """
    if len(value) > MAX_URL_CHARS:
        raise InvalidParams(
            f"invalid params, {what} is {len(value)} characters long; the limit is {MAX_URL_CHARS}"
        )
    _check_characters(value, what)
    try:
        parts = urlsplit(value)
    except ValueError as exc:  # e.g. an unclosed or invalid [IPv6] host
        raise InvalidParams(f"invalid params, {what} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidParams(f"invalid params, {what} must start with http:// or https://")
    netloc = parts.netloc
    if not netloc:
        raise InvalidParams(f"invalid params, {what} has no host")
    if "@" in netloc:
        # user:password@host: never needed to fetch a public file, and the classic way to
        # make a URL read as one host and call another
        raise InvalidParams(f"invalid params, {what} must not contain user credentials (...@)")
    host_text, port_text = _split_host_port(netloc, what)
    port = _port(port_text, scheme, what)
    host, ip = _host(host_text, what)
    return WebUrl(url=value, scheme=scheme, host=host, port=port, ip=ip)


def _check_characters(value: str, what: str) -> None:
    for i, ch in enumerate(value):
        if ch == " " or ch.isspace() or unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            name = "a space" if ch == " " else f"the character U+{ord(ch):04X}"
            raise InvalidParams(
                f"invalid params, {what} contains {name} at position {i}; "
                "URLs may not contain whitespace or control characters (percent-encode them)"
            )


def _split_host_port(netloc: str, what: str) -> tuple[str, str | None]:
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise InvalidParams(f"invalid params, {what} has an unclosed '[' in its host")
        host, rest = netloc[1:end], netloc[end + 1 :]
        if not rest:
            return f"[{host}]", None
        if not rest.startswith(":"):
            raise InvalidParams(f"invalid params, {what} has {rest!r} after its host")
        return f"[{host}]", rest[1:]
    if netloc.count(":") > 1:
        raise InvalidParams(
            f"invalid params, {what} has an IPv6 address without brackets; "
            "write it as http://[2001:db8::1]/..."
        )
    host, sep, port = netloc.partition(":")
    return host, port if sep else None


def _port(text: str | None, scheme: str, what: str) -> int:
    if text is None or text == "":  # "host:" is allowed by RFC 3986: the default port
        return DEFAULT_PORTS[scheme]
    if not text.isascii() or not text.isdigit():
        raise InvalidParams(
            f"invalid params, {what} has port {text!r}; a port is a number from 1 to 65535"
        )
    port = int(text)
    if not 1 <= port <= 65535:
        raise InvalidParams(f"invalid params, {what} has port {text}; ports are 1 to 65535")
    return port


def _host(text: str, what: str) -> tuple[str, IPAddress | None]:
    if text.startswith("["):
        literal = text[1:-1]
        if "%" in literal:
            raise InvalidParams(f"invalid params, {what} has an IPv6 zone id; remove '%...'")
        try:
            return literal.lower(), ipaddress.IPv6Address(literal)
        except ValueError:
            raise InvalidParams(
                f"invalid params, {what} has {text!r} as its host, not an IPv6 address"
            ) from None
    if not text:
        raise InvalidParams(f"invalid params, {what} has no host")
    name = text.lower()
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise InvalidParams(
                f"invalid params, {what} has {text!r} as its host, not a valid domain name"
            ) from None
    bare = name[:-1] if name.endswith(".") else name
    labels = bare.split(".")
    # A host whose last label is a number is an IPv4 address to every URL parser (WHATWG
    # "ends in a number"); the resolver would read "127.1" or "0x7f.1" as 127.0.0.1, so
    # only the plain dotted-quad form is accepted.
    if _HEX_OR_DIGITS.match(labels[-1]):
        try:
            return bare, ipaddress.IPv4Address(bare)
        except ValueError:
            raise InvalidParams(
                f"invalid params, {what} has {text!r} as its host; an IPv4 address must be "
                "four decimal numbers from 0 to 255 (like 93.184.216.34)"
            ) from None
    if len(bare) > MAX_HOST_CHARS or not all(_LABEL.match(label) for label in labels):
        raise InvalidParams(
            f"invalid params, {what} has {text!r} as its host, not a valid host name "
            "(letters, digits and '-', dot-separated labels of at most 63 characters)"
        )
    return bare, None
