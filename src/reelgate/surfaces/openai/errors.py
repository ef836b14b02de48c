"""How an error reads on ``/v1/videos``: OpenAI's envelope with a real HTTP status
(``wire.error_body``). Installed before the platform's shape, which owns the rest of
``/v1/``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from reelgate.api.errors import ErrorShape
from reelgate.errors import ReelgateError
from reelgate.surfaces.openai.wire import error_body
from reelgate.wire import JSONResponse, trace_id_of

PREFIX = "/v1/videos"


def owns(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def render(exc: ReelgateError, request: Request) -> Response:
    status, body, headers = error_body(exc, trace_id_of(request))
    return JSONResponse(body, status_code=status, headers=headers)


SHAPE = ErrorShape(owns, render)
