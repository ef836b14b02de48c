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
the platform API answers ``http_status`` with ``{code, message, request_id}``. The codes,
and which of them are worth a retry, come from the one table of MiniMax's codes
(``domain/upstream_codes.py``).
"""

from __future__ import annotations

from reelgate.domain import upstream_codes as codes


class ReelgateError(Exception):
    """Internal error; try again later."""

    code: int = codes.UNKNOWN
    http_status: int = 500
    kind: str = "internal_error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or self.kind).strip()
        super().__init__(self.message)


class InvalidParams(ReelgateError):
    """Invalid parameters."""

    code = codes.INVALID_PARAMS
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

    code = codes.UNAUTHORIZED
    http_status = 401
    kind = "unauthorized"


class InvalidApiKey(Unauthorized):
    """Invalid API key."""

    code = codes.INVALID_API_KEY


class Forbidden(ReelgateError):
    """This key may not do that."""

    code = codes.UNAUTHORIZED
    http_status = 403
    kind = "forbidden"


class NotFound(ReelgateError):
    """Not found."""

    code = codes.INVALID_PARAMS
    http_status = 404
    kind = "not_found"


class Conflict(ReelgateError):
    """The resource is not in a state that allows this."""

    code = codes.INVALID_PARAMS
    http_status = 409
    kind = "conflict"


class RateLimited(ReelgateError):
    """Rate limit exceeded; retry later."""

    code = codes.RATE_LIMITED
    http_status = 429
    kind = "rate_limited"


class InsufficientBalance(ReelgateError):
    """Insufficient balance."""

    code = codes.INSUFFICIENT_BALANCE
    http_status = 402
    kind = "insufficient_balance"


class SensitiveContent(ReelgateError):
    """The input was flagged as sensitive."""

    code = codes.INPUT_SENSITIVE
    http_status = 400
    kind = "sensitive_input"


class UpstreamError(ReelgateError):
    """The upstream failed."""

    code = codes.UNKNOWN
    http_status = 502
    kind = "upstream_error"
    retryable: bool = True


class UpstreamRejected(UpstreamError):
    """The upstream refused the request."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        # Only a transient refusal is worth a retry of the same request (upstream_codes).
        self.retryable = code in RETRYABLE_UPSTREAM_CODES


class UpstreamUnavailable(UpstreamError):
    """The upstream is unavailable; retry later."""

    http_status = 503


class UpstreamUnreachable(UpstreamUnavailable):
    """No connection to the upstream could be opened: nothing of the request was sent, so
    the fault is the channel's, whoever asked."""


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time."""

    code = codes.TIMEOUT
    http_status = 504


RETRYABLE_UPSTREAM_CODES = codes.TRANSIENT
