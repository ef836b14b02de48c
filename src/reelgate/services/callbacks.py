"""Callbacks to clients: the challenge at create, then signed deliveries from the outbox.

A client's ``callback_url`` is checked as MiniMax does it: the gateway POSTs
``{"challenge": ...}`` and accepts the task only if the same value comes back within
3 seconds. Every later status change is written to the outbox in the transaction that
records it, and the dispatcher delivers it (Standard Webhooks signatures, retries with
backoff, ``Retry-After``, 410 stops) until it is delivered or its window runs out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from datetime import UTC, datetime, timedelta

import httpx

from reelgate.domain.webhooks import RetrySchedule, signature_header
from reelgate.errors import InvalidParams
from reelgate.services.loop import Loop
from reelgate.store.deliveries import Delivery, DeliveryStore
from reelgate.urlguard import BlockedUrl, Resolve, send, system_resolve

log = logging.getLogger(__name__)

CHALLENGE_TIMEOUT_S = 3.0
DELIVERY_TIMEOUT_S = 15.0
CHECK_FAILED = "invalid params, fail to check callback url"


class CallbackVerifier:
    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        allow_private: bool,
        resolve: Resolve = system_resolve,
    ) -> None:
        self._client = client
        self._allow_private = allow_private
        self._resolve = resolve

    async def verify(self, url: str) -> None:
        """Raise InvalidParams (2013) unless ``url`` echoes a challenge within 3 s.

        The name is resolved once and the challenge goes to the address that was checked
        (``urlguard.send``): a DNS answer that changes in between cannot redirect it.
        """
        challenge = secrets.token_urlsafe(24)
        try:
            async with asyncio.timeout(CHALLENGE_TIMEOUT_S):
                resp = await send(
                    self._client,
                    "POST",
                    url,
                    allow_private=self._allow_private,
                    resolve=self._resolve,
                    json={"challenge": challenge},
                )
            echoed = resp.json().get("challenge") if resp.status_code == 200 else None
        except BlockedUrl as exc:
            reason = exc.message.removeprefix("invalid params, ")
            raise InvalidParams(f"{CHECK_FAILED}: {reason}") from None
        except TimeoutError:
            raise InvalidParams(f"{CHECK_FAILED}: no answer within 3 seconds") from None
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise InvalidParams(f"{CHECK_FAILED}: {exc.__class__.__name__}") from None
        if echoed != challenge:
            raise InvalidParams(
                f'{CHECK_FAILED}: answer with HTTP 200 and the JSON {{"challenge": <value>}}'
            )


class Dispatcher(Loop):
    """Delivers the outbox. Runs in the worker; several dispatchers share the work."""

    idle_s = 0.5
    batch = 50

    def __init__(
        self,
        *,
        store: DeliveryStore,
        client: httpx.AsyncClient,
        schedule: RetrySchedule,
        allow_private: bool,
        lease: timedelta = timedelta(seconds=60),
        concurrency: int = 16,
        resolve: Resolve = system_resolve,
    ) -> None:
        self._lease = lease  # a claimed delivery of a worker that died is retried after this
        self._store = store
        self._client = client
        self._schedule = schedule
        self._allow_private = allow_private
        self._resolve = resolve
        super().__init__()
        self._sem = asyncio.Semaphore(concurrency)
        self._rng = random.Random()

    async def round(self) -> int:
        return await self.deliver_due()

    async def deliver_due(self) -> int:
        now = datetime.now(UTC)
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
        now = datetime.now(UTC)
        secrets_ = await self._store.active_secrets(delivery.account_id, now)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery.msg_id,
            "webhook-timestamp": str(timestamp),
        }
        if secrets_:
            headers["webhook-signature"] = signature_header(
                secrets_, delivery.msg_id, timestamp, body
            )
        try:
            # Checked on every attempt (a name may resolve elsewhere by now), and sent to
            # the address that was checked. Redirects are not followed: Standard Webhooks
            # counts one as a failure. The deadline covers the name's resolution too.
            async with asyncio.timeout(DELIVERY_TIMEOUT_S):
                resp = await send(
                    self._client,
                    "POST",
                    delivery.url,
                    allow_private=self._allow_private,
                    resolve=self._resolve,
                    content=body,
                    headers=headers,
                    timeout=DELIVERY_TIMEOUT_S,
                )
        except BlockedUrl as exc:
            await self._store.give_up(delivery.id, None, exc.message)
            return
        except TimeoutError:
            await self._retry(delivery, None, "Timeout", None)
            return
        except httpx.HTTPError as exc:
            await self._retry(delivery, None, exc.__class__.__name__, None)
            return
        if 200 <= resp.status_code < 300:
            await self._store.delivered(delivery.id, resp.status_code, datetime.now(UTC))
        elif resp.status_code == 410:
            await self._store.gone(delivery, resp.status_code)
        else:
            retry_after = _retry_after(resp.headers.get("retry-after"))
            await self._retry(delivery, resp.status_code, f"HTTP {resp.status_code}", retry_after)

    async def _retry(
        self, delivery: Delivery, status: int | None, error: str, retry_after: float | None
    ) -> None:
        now = datetime.now(UTC)
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
