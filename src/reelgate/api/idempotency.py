"""``Idempotency-Key`` on create and cancel: a retried request replays the first answer.

The same key with the same request gives the first answer again (no second task, no
second charge); with a different request it is refused; while the first is still
running, a duplicate gets a conflict. Answers that a retry might change (rate limits,
upstream outages) are not kept, so the retry runs for real.

The first request holds the key under a lease (``Settings.idempotency_lease``, a bit more
than the longest a create may take) that it renews while it runs; if its process dies, a
retry after the lease takes the key over and runs the request (store/idempotency.py).
The key's use cases are services/idempotency.py; this module is their HTTP side.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.api.errors import error_response
from reelgate.domain import upstream_codes
from reelgate.errors import (
    Conflict,
    InvalidParams,
    ReelgateError,
    UpstreamError,
    ValidationFailed,
)
from reelgate.services.idempotency import IN_PROGRESS, IdempotencyService
from reelgate.wire import OFF_LOOP_BYTES, JSONResponse

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
MAX_KEY = 255
RENEWALS_PER_LEASE = 3  # a renewal may fail twice before the lease can pass


def _keep(exc: ReelgateError) -> bool:
    """Whether an error is the request's final answer (kept) or worth retrying (not):
    a transient code (upstream_codes: an internal error, a rate limit) is not kept."""
    if isinstance(exc, UpstreamError):
        return not exc.retryable
    return exc.code not in upstream_codes.TRANSIENT


def _fingerprint(head: bytes, body: bytes) -> str:
    digest = hashlib.sha256(head)
    digest.update(body)
    return digest.hexdigest()


async def idempotent(
    request: Request,
    account_id: int,
    handler: Callable[[], Awaitable[Response]],
    *,
    identity: bytes | None = None,
) -> Response:
    """``identity``: what identifies the request instead of its raw body (a multipart
    form's fields: its boundary changes on every retry of the same request)."""
    key = request.headers.get(HEADER)
    if key is None:
        return await handler()
    if not key or len(key) > MAX_KEY:
        raise InvalidParams(f"invalid params, {HEADER} must be 1 to {MAX_KEY} characters")
    gw = gateway(request)
    body = identity if identity is not None else await request.body()
    head = f"{request.method} {request.url.path}\n".encode()
    if len(body) > OFF_LOOP_BYTES:  # ~0.1 s for a create with two inline images
        fingerprint = await asyncio.to_thread(_fingerprint, head, body)
    else:
        fingerprint = _fingerprint(head, body)
    owner = uuid.uuid4().hex
    keys = gw.idempotency
    earlier = await keys.begin(account_id, key, fingerprint, owner)
    if earlier is not None:
        if earlier.fingerprint != fingerprint:
            raise ValidationFailed(
                f"invalid params, this {HEADER} was used with a different request; "
                "use a new key for a new request"
            )
        if earlier.state == IN_PROGRESS or earlier.status_code is None:
            raise Conflict(f"a request with this {HEADER} is still in progress; retry in a moment")
        return JSONResponse(
            earlier.response,
            status_code=earlier.status_code,
            headers={"Idempotent-Replayed": "true"},
        )
    async with _renewing(keys, account_id, key, owner):
        try:
            response = await handler()
        except ReelgateError as exc:
            if not _keep(exc):
                await keys.abandon(account_id, key, owner)
                raise
            response = error_response(exc, request)
        except BaseException:
            await keys.abandon(account_id, key, owner)
            raise
    if not await keys.finish(
        account_id, key, owner, response.status_code, orjson.loads(bytes(response.body))
    ):
        log.warning("%s %r was taken over while its first request ran", HEADER, key)
    return response


@contextlib.asynccontextmanager
async def _renewing(
    keys: IdempotencyService, account_id: int, key: str, owner: str
) -> AsyncIterator[None]:
    """Renew the key's lease while the request runs, so that only a dead owner loses it."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(keys.lease.total_seconds() / RENEWALS_PER_LEASE)
            try:
                if not await keys.renew(account_id, key, owner):
                    return  # taken over: finish() will say so
            except Exception as exc:  # the store blinked: the next renewal may work
                log.warning("could not renew the lease of %s %r: %s", HEADER, key, exc)

    job = asyncio.create_task(renew(), name="idempotency-lease")
    try:
        yield
    finally:
        job.cancel()  # not awaited: that could swallow a cancellation of this request
