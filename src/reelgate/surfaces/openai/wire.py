"""OpenAI's wire, shared by the gateway's ``/v1/videos`` and the sandbox's: the error
envelope and the four statuses a ``Video`` may have.

An error reads ``{"error": {"message", "type", "param", "code"}}`` with a real HTTP
status, chosen so that the SDK raises the class a client expects (``_make_status_error``
in openai 3.57.0: 400 BadRequestError, 401 AuthenticationError, 403
PermissionDeniedError, 404 NotFoundError, 409 ConflictError, 422
UnprocessableEntityError, 429 RateLimitError, 5xx InternalServerError). Two choices
(docs/openai.md, "Errors"):

- a missing balance is OpenAI's ``insufficient_quota``: 429 with ``x-should-retry:
  false``, so that the SDK raises RateLimitError at once instead of retrying it;
- an upstream refusal of the request itself (MiniMax's invalid params, sensitive input)
  is the client's 400, not a 502 that the SDK would retry.

Pure: no web framework, so both callers build their own response from the tuple.
"""

from __future__ import annotations

from typing import Any, Literal

from reelgate.domain import upstream_codes
from reelgate.domain.tasks import TaskStatus
from reelgate.errors import InsufficientBalance, ReelgateError, UpstreamRejected

VideoStatus = Literal["queued", "in_progress", "completed", "failed"]
QUEUED, IN_PROGRESS, COMPLETED, FAILED = "queued", "in_progress", "completed", "failed"
# The SDK's poll() stops on completed and failed only (and on a status it does not know):
# a cancelled task is `failed` with error code `cancelled`, so a waiting client stops.
STATUS: dict[TaskStatus, VideoStatus] = {
    TaskStatus.SUBMITTING: "queued",
    TaskStatus.QUEUED: "queued",
    TaskStatus.RUNNING: "in_progress",
    TaskStatus.SUCCEEDED: "completed",
    TaskStatus.FAILED: "failed",
    TaskStatus.CANCELLED: "failed",
}
CANCELLED_CODE = "cancelled"

# The error tree's kinds in OpenAI's words, where OpenAI has one.
_CODES = {
    "unauthorized": "invalid_api_key",
    "forbidden": "permission_denied",
    "rate_limited": "rate_limit_exceeded",
    "insufficient_balance": "insufficient_quota",
    "sensitive_input": "moderation_blocked",
    "validation_failed": "invalid_value",
}


def error_status(exc: ReelgateError) -> int:
    if isinstance(exc, InsufficientBalance):
        return 429
    if isinstance(exc, UpstreamRejected):
        row = upstream_codes.row(exc.code)
        if row.fault is upstream_codes.Fault.REQUEST:
            return 400
    return exc.http_status


def _type(status: int, exc: ReelgateError) -> str:
    if isinstance(exc, InsufficientBalance):
        return "insufficient_quota"
    if status == 429:
        return "requests"  # OpenAI's type for a request-rate limit
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def error_body(
    exc: ReelgateError, request_id: str | None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The HTTP status, the body and the headers of ``exc`` on OpenAI's wire."""
    status = error_status(exc)
    code = getattr(exc, "openai_code", None) or _CODES.get(exc.kind, exc.kind)
    if isinstance(exc, UpstreamRejected) and status == 400:
        sensitive = exc.code in upstream_codes.RIDES_WITH_FAIL
        code = "moderation_blocked" if sensitive else "upstream_refused"
    body = {
        "error": {
            # the error tree words for MiniMax's wire; OpenAI's messages have no prefix
            "message": exc.message.removeprefix("invalid params, "),
            "type": _type(status, exc),
            "param": getattr(exc, "param", None),
            "code": code,
        }
    }
    headers = {"x-request-id": request_id} if request_id else {}
    if isinstance(exc, InsufficientBalance):
        headers["x-should-retry"] = "false"  # a retry cannot find money
    return status, body, headers
