"""How an error reads on MiniMax v2: the real HTTP status and ``{"type": "error",
"error": {type, message "... (code)", http_code}, "request_id"}`` (``wire.error_body``,
shared with the sandbox), for every path under ``/minimaxi/v2/``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from reelgate.api.errors import ErrorShape
from reelgate.errors import ReelgateError
from reelgate.surfaces.minimax_v2.wire import error_body
from reelgate.wire import JSONResponse, trace_id_of

PREFIX = "/minimaxi/v2"


def owns(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def render(exc: ReelgateError, request: Request) -> Response:
    status, body = error_body(exc, trace_id_of(request) or "")
    return JSONResponse(body, status_code=status)


SHAPE = ErrorShape(owns, render)
