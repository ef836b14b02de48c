"""The WebhookSender port: how the services POST to a URL a client gave (the callback
challenge, the signed deliveries), in terms that name no HTTP library.

It sits beside the Provider port (``providers/base.py``) because it is the same kind of
thing, the gateway's outbound boundary, and so its adapters (``providers/http_webhooks.py``,
``FakeWebhooks`` in ``providers/fake.py``) import only the domain and the error tree, as
every provider does. The services import this module, never httpx.

A call ends in one of two typed outcomes, so that a caller cannot forget one: the
receiver's answer (any status), or a failure that says whether the URL was refused
(nothing was sent and a retry cannot help), the time ran out, or the call failed on the
way (the connection, TLS, the protocol).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

FailureKind = Literal["refused", "timeout", "unreachable"]


@dataclass(frozen=True, slots=True)
class WebhookAnswer:
    """What the receiver answered; ``body`` is read up to a bound (64 KiB)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class WebhookFailure:
    """No answer came. ``reason`` says why: the URL guard's refusal (a 2013 message) for
    ``refused``, else the failure's short name (``Timeout``, ``ConnectError``...)."""

    kind: FailureKind
    reason: str


class WebhookSender(Protocol):
    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, timeout_s: float
    ) -> WebhookAnswer | WebhookFailure:
        """POST ``body`` to ``url`` and return the answer, all within ``timeout_s`` (the
        name's resolution included). Redirects are not followed: a 3xx is the answer.
        An adapter reaches only the addresses the URL guard allows (``urlguard``)."""
        ...
