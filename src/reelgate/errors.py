"""The one error tree. Each error knows its MiniMax code and its HTTP status.

    ReelgateError                    1000 / 500
    ├── InvalidParams                2013 / 400
    │   ├── ValidationFailed         2013 / 422
    │   ├── BodyTooLarge             2013 / 413
    │   └── BodyTimeout              2013 / 408
    ├── Unauthorized                 1004 / 401
    │   └── InvalidApiKey            2049 / 401
    ├── Forbidden                    1004 / 403
    ├── NotFound                     2013 / 404
    ├── Conflict                     2013 / 409
    ├── RateLimited                  1002 / 429
    ├── InsufficientBalance          1008 / 402
    ├── SensitiveContent             1026 / 400
    └── UpstreamError                1000 / 502
        ├── UpstreamRejected         (the upstream's code) / 502
        ├── UpstreamUnavailable      1000 / 503
        │   └── UpstreamUnreachable  1000 / 503
        └── UpstreamTimeout          1001 / 504

The MiniMax-compatible surface answers HTTP 200 with ``base_resp.status_code = code``;
the platform API answers ``http_status`` with ``{code, message, request_id}``.
"""

from __future__ import annotations


class ReelgateError(Exception):
    """Internal error; try again later."""

    code: int = 1000
    http_status: int = 500
    kind: str = "internal_error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or self.kind).strip()
        super().__init__(self.message)


class InvalidParams(ReelgateError):
    """Invalid parameters."""

    code = 2013
    http_status = 400
    kind = "invalid_request"


class ValidationFailed(InvalidParams):
    """The request is well-formed but its values are not allowed."""

    http_status = 422
    kind = "validation_failed"


class BodyTooLarge(InvalidParams):
    """The request body is larger than this route accepts."""

    http_status = 413
    kind = "payload_too_large"


class BodyTimeout(InvalidParams):
    """The request body stopped arriving."""

    http_status = 408
    kind = "request_timeout"


class Unauthorized(ReelgateError):
    """Missing or malformed Authorization header; send 'Authorization: Bearer <API key>'."""

    code = 1004
    http_status = 401
    kind = "unauthorized"


class InvalidApiKey(Unauthorized):
    """Invalid API key."""

    code = 2049


class Forbidden(ReelgateError):
    """This key may not do that."""

    code = 1004
    http_status = 403
    kind = "forbidden"


class NotFound(ReelgateError):
    """Not found."""

    code = 2013
    http_status = 404
    kind = "not_found"


class Conflict(ReelgateError):
    """The resource is not in a state that allows this."""

    code = 2013
    http_status = 409
    kind = "conflict"


class RateLimited(ReelgateError):
    """Rate limit exceeded; retry later."""

    code = 1002
    http_status = 429
    kind = "rate_limited"


class InsufficientBalance(ReelgateError):
    """Insufficient balance."""

    code = 1008
    http_status = 402
    kind = "insufficient_balance"


class SensitiveContent(ReelgateError):
    """The input was flagged as sensitive."""

    code = 1026
    http_status = 400
    kind = "sensitive_input"


class UpstreamError(ReelgateError):
    """The upstream failed."""

    code = 1000
    http_status = 502
    kind = "upstream_error"
    retryable: bool = True


class UpstreamRejected(UpstreamError):
    """The upstream refused the request."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        # Codes that say the request itself is wrong are passed back, not retried elsewhere.
        self.retryable = code in RETRYABLE_UPSTREAM_CODES


class UpstreamUnavailable(UpstreamError):
    """The upstream is unavailable; retry later."""

    http_status = 503


class UpstreamUnreachable(UpstreamUnavailable):
    """No connection to the upstream could be opened: nothing of the request was sent, so
    the fault is the channel's, whoever asked."""


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time."""

    code = 1001
    http_status = 504


RETRYABLE_UPSTREAM_CODES = frozenset({1000, 1001, 1002, 1013, 1024, 1033, 1039})
