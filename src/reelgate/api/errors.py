"""The one place where errors become HTTP responses.

The MiniMax surface (and anything that is not the platform or admin API) answers like
MiniMax: HTTP 200 with a non-zero ``base_resp.status_code``. The platform and admin APIs
answer a real HTTP status with ``{"error": {code, kind, message}, "request_id"}``. The
MiniMax endpoints served at the root (``/v1/video_generation``...: ``wire.V1_PATHS``) are
MiniMax's, although they sit under the platform's ``/v1/``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from reelgate.errors import InvalidParams, NotFound, ReelgateError, ValidationFailed
from reelgate.wire import V1_PATHS, JSONResponse, minimax_error, trace_id_of

log = logging.getLogger(__name__)

_PLATFORM_PREFIXES = ("/v1/", "/admin/")


def is_platform(request: Request) -> bool:
    path = request.url.path
    return path.startswith(_PLATFORM_PREFIXES) and path not in V1_PATHS


def is_minimax(request: Request) -> bool:
    """One of the MiniMax endpoints, under /minimaxi or at the root."""
    path = request.url.path
    return path.startswith("/minimaxi/") or path in V1_PATHS


def platform_error(exc: ReelgateError, request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "error": {"code": exc.code, "kind": exc.kind, "message": exc.message},
            "request_id": trace_id_of(request),
        },
        status_code=exc.http_status,
    )


def error_response(exc: ReelgateError, request: Request) -> Response:
    return platform_error(exc, request) if is_platform(request) else minimax_error(exc)


def install(app: FastAPI) -> None:
    @app.exception_handler(ReelgateError)
    async def _gateway_error(request: Request, exc: ReelgateError) -> Response:
        return error_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}")
        return error_response(ValidationFailed("invalid params, " + "; ".join(parts)), request)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            err: ReelgateError = NotFound(f"no such endpoint: {request.method} {request.url.path}")
        else:
            err = InvalidParams(str(exc.detail))
            err.http_status = exc.status_code
        if not is_platform(request) and not is_minimax(request):
            return JSONResponse({"detail": err.message}, status_code=exc.status_code)
        return error_response(err, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(ReelgateError("internal error; try again later"), request)
