"""A scripted fake behind the WebhookSender port, for tests: clients' callback receivers
without a network, a socket or a sleep.

By default a receiver does what a good one does: it echoes a challenge and answers a push
with HTTP 200. A test scripts the next outcomes (``answer_next``, ``status_next``,
``fail_next``), each used once, in order; every call is recorded in ``posted``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reelgate.providers.webhooks import FailureKind, WebhookAnswer, WebhookFailure

Outcome = WebhookAnswer | WebhookFailure


@dataclass(frozen=True, slots=True)
class Posted:
    """One call, as the receiver got it."""

    url: str
    body: bytes
    headers: Mapping[str, str]
    timeout_s: float

    def json(self) -> Any:
        return json.loads(self.body)


Respond = Callable[[Posted], Outcome]


def echo(posted: Posted) -> WebhookAnswer:
    """A good receiver: the challenge echoed as MiniMax's sample does, a push taken."""
    try:
        value = posted.json().get("challenge")
    except (ValueError, AttributeError):
        value = None
    if value is None:
        return WebhookAnswer(200, {"content-type": "application/json"}, b'{"status":"success"}')
    body = json.dumps({"challenge": value}).encode()
    return WebhookAnswer(200, {"content-type": "application/json"}, body)


@dataclass
class FakeWebhooks:
    respond: Respond = echo  # what answers when nothing is scripted
    posted: list[Posted] = field(default_factory=list)
    _script: list[Outcome | Respond] = field(default_factory=list)

    def answer_next(self, *outcomes: Outcome | Respond) -> None:
        """The next calls end so, in order: an outcome, or a function of the call."""
        self._script.extend(outcomes)

    def status_next(
        self, status: int, headers: Mapping[str, str] | None = None, times: int = 1
    ) -> None:
        self.answer_next(*(WebhookAnswer(status, dict(headers or {})),) * times)

    def fail_next(self, kind: FailureKind, reason: str = "ConnectError", times: int = 1) -> None:
        self.answer_next(*(WebhookFailure(kind, reason),) * times)

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], *, timeout_s: float
    ) -> Outcome:
        posted = Posted(url, body, dict(headers), timeout_s)
        self.posted.append(posted)
        step = self._script.pop(0) if self._script else self.respond
        if isinstance(step, WebhookAnswer | WebhookFailure):
            return step
        return step(posted)
