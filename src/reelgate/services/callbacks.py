"""Callbacks to clients: the challenge at create, then signed deliveries from the outbox.

A client's ``callback_url`` is checked as MiniMax does it: the gateway POSTs
``{"challenge": ...}`` and accepts the task only if the same value comes back within
3 seconds. Every later status change is written to the outbox in the transaction that
records it, and the dispatcher delivers it (Standard Webhooks signatures, retries with
backoff, ``Retry-After``, 410 stops) until it is delivered or its window runs out.

Both reach the client's URL through the ``WebhookSender`` port (providers/webhooks.py):
the composition root hands in the httpx adapter, which keeps the URL guard in force, and
tests hand in ``FakeWebhooks``. The challenge itself is the domain's (domain/webhooks.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from reelgate.domain.webhooks import (
    CHALLENGE_HEADERS,
    CHALLENGE_TIMEOUT_S,
    RetrySchedule,
    challenge_body,
    challenge_failed,
    check_challenge_answer,
    new_challenge,
    no_answer,
    signature_header,
)
from reelgate.errors import InvalidParams
from reelgate.providers.webhooks import WebhookFailure, WebhookSender
from reelgate.services.loop import Loop
from reelgate.store.deliveries import Delivery, DeliveryStore

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT_S = 15.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class CallbackVerifier:
    def __init__(self, sender: WebhookSender, *, timeout_s: float = CHALLENGE_TIMEOUT_S) -> None:
        self._sender = sender
        self._timeout_s = timeout_s

    async def verify(self, url: str) -> None:
        """Raise InvalidParams (2013) unless ``url`` echoes a challenge within 3 s.

        The sender resolves the name once and sends the challenge to the address that was
        checked: a DNS answer that changes in between cannot redirect it.
        """
        value = new_challenge()
        outcome = await self._sender.post(
            url, challenge_body(value), CHALLENGE_HEADERS, timeout_s=self._timeout_s
        )
        reason: str | None
        if isinstance(outcome, WebhookFailure):
            reason = no_answer(self._timeout_s) if outcome.kind == "timeout" else outcome.reason
        else:
            reason = check_challenge_answer(outcome.status, outcome.body, value)
        if reason is not None:
            raise InvalidParams(challenge_failed(reason))


class Dispatcher(Loop):
    """Delivers the outbox. Runs in the worker; several dispatchers share the work."""

    idle_s = 0.5
    batch = 50

    def __init__(
        self,
        *,
        store: DeliveryStore,
        sender: WebhookSender,
        schedule: RetrySchedule,
        lease: timedelta = timedelta(seconds=60),
        concurrency: int = 16,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._lease = lease  # a claimed delivery of a worker that died is retried after this
        self._store = store
        self._sender = sender
        self._schedule = schedule
        self._clock = clock
        super().__init__()
        self._sem = asyncio.Semaphore(concurrency)
        self._rng = random.Random()

    async def round(self) -> int:
        return await self.deliver_due()

    async def deliver_due(self) -> int:
        now = self._clock()
        due = await self._store.claim_due(now, self.batch, self._lease)
        if due:
            await asyncio.gather(*(self._guarded(d) for d in due))
        return len(due)

    async def _guarded(self, delivery: Delivery) -> None:
        async with self._sem:
            try:
                await self.deliver(delivery)
            except Exception as exc:
                log.exception("delivery %s failed unexpectedly", delivery.msg_id)
                await self._retry(delivery, None, repr(exc), None)

    async def deliver(self, delivery: Delivery) -> None:
        body = json.dumps(delivery.body, separators=(",", ":")).encode()
        now = self._clock()
        secrets_ = await self._store.active_secrets(delivery.account_id, now)
        timestamp = int(now.timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.msg_id,
            "webhook-timestamp": str(timestamp),
        }
        if secrets_:
            headers["webhook-signature"] = signature_header(
                secrets_, delivery.msg_id, timestamp, body
            )
        # The sender checks the URL on every attempt (a name may resolve elsewhere by
        # now) and sends to the address that was checked. Redirects are not followed:
        # Standard Webhooks counts one as a failure.
        outcome = await self._sender.post(delivery.url, body, headers, timeout_s=DELIVERY_TIMEOUT_S)
        if isinstance(outcome, WebhookFailure):
            if outcome.kind == "refused":  # never sent, and a retry cannot change that
                await self._store.give_up(delivery.id, None, outcome.reason)
            else:
                await self._retry(delivery, None, outcome.reason, None)
        elif 200 <= outcome.status < 300:
            await self._store.delivered(delivery.id, outcome.status, self._clock())
        elif outcome.status == 410:
            await self._store.gone(delivery, outcome.status)
        else:
            retry_after = _retry_after(outcome.headers.get("retry-after"))
            await self._retry(delivery, outcome.status, f"HTTP {outcome.status}", retry_after)

    async def _retry(
        self, delivery: Delivery, status: int | None, error: str, retry_after: float | None
    ) -> None:
        now = self._clock()
        delay = self._schedule.delay(delivery.attempts + 1, retry_after, self._rng)
        at = now + timedelta(seconds=delay)
        if at - delivery.created_at > timedelta(seconds=self._schedule.window_s):
            await self._store.give_up(delivery.id, status, error)
            return
        await self._store.retry(delivery.id, at, status, error)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the backoff schedule decides instead
