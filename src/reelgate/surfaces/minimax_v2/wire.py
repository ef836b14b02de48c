"""MiniMax v2's error envelope, shared by the sandbox and the gateway's v2 surface.

v2 answers an error with a real HTTP status and (reference section 9)::

    {"type": "error",
     "error": {"type": "bad_request_error", "message": "invalid params, ... (2013)",
               "http_code": "400"},
     "request_id": "<hex>"}

``http_code`` is a string, and MiniMax's internal code rides at the end of the message in
parentheses. The status and ``error.type`` come from the one table of MiniMax's codes
(``domain/upstream_codes.py``), so every surface that writes this shape agrees on them.
Pure: no web framework, so both callers build their own response from the tuple.
"""

from __future__ import annotations

from typing import Any

from reelgate.domain import upstream_codes
from reelgate.errors import ReelgateError

# What MiniMax answers a request without a valid key (reference section 9, HTTP 401).
LOGIN_FAIL = (
    "login fail: Please carry the API secret key in the 'Authorization' field of the request header"
)
# What it answers an id it does not know, has deleted, or no longer shows (over 7 days).
INVALID_TASK_ID = "invalid task_id"


def error_body(exc: ReelgateError, request_id: str) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the v2 body for ``exc``."""
    row = upstream_codes.row(exc.code)
    return row.v2_status, {
        "type": "error",
        "error": {
            "type": row.v2_type,
            "message": f"{exc.message} ({exc.code})",
            "http_code": str(row.v2_status),
        },
        "request_id": request_id,
    }
