"""How an error reads on MiniMax v1: HTTP 200 and a non-zero ``base_resp.status_code``
(``wire.minimax_error``), under ``/minimaxi/`` and for the v1 endpoints at the server's
root (``wire.V1_PATHS``: a client whose base URL is the bare host)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from reelgate.api.errors import ErrorShape
from reelgate.errors import ReelgateError
from reelgate.wire import V1_PATHS, minimax_error


def owns(path: str) -> bool:
    return path.startswith("/minimaxi/") or path in V1_PATHS


def render(exc: ReelgateError, request: Request) -> Response:
    return minimax_error(exc)


SHAPE = ErrorShape(owns, render)
