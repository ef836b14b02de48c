"""``Idempotency-Key`` on create and cancel: a retried request replays the first answer.

The same key with the same request gives the first answer again (no second task, no
second charge); with a different request it is refused; while the first is still
running, a duplicate gets a conflict. Answers that a retry might change (rate limits,
upstream outages) are not kept, so the retry runs for real.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import orjson
from starlette.requests import Request
from starlette.responses import Response

from reelgate.api.deps import gateway
from reelgate.api.errors import error_response
from reelgate.errors import (
    Conflict,
    InvalidParams,
    RateLimited,
    ReelgateError,
    UpstreamError,
    ValidationFailed,
)
from reelgate.store.idempotency import IN_PROGRESS
from reelgate.wire import JSONResponse

HEADER = "Idempotency-Key"
MAX_KEY = 255


def _keep(exc: ReelgateError) -> bool:
    """Whether an error is the request's final answer (kept) or worth retrying (not)."""
    if isinstance(exc, RateLimited):
        return False
    if isinstance(exc, UpstreamError):
        return not exc.retryable
    return exc.code != 1000


async def idempotent(
    request: Request, account_id: int, handler: Callable[[], Awaitable[Response]]
) -> Response:
    key = request.headers.get(HEADER)
    if key is None:
        return await handler()
    if not key or len(key) > MAX_KEY:
        raise InvalidParams(f"invalid params, {HEADER} must be 1 to {MAX_KEY} characters")
    gw = gateway(request)
    body = await request.body()
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).hexdigest()
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=gw.settings.idempotency_ttl_s)
    earlier = await gw.idempotency.begin(account_id, key, fingerprint, now, expires)
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
    try:
        response = await handler()
    except ReelgateError as exc:
        if not _keep(exc):
            await gw.idempotency.abandon(account_id, key)
            raise
        response = error_response(exc, request)
    except BaseException:
        await gw.idempotency.abandon(account_id, key)
        raise
    await gw.idempotency.finish(
        account_id, key, response.status_code, orjson.loads(bytes(response.body))
    )
    return response
