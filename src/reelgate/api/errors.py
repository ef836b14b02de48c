"""The one place where errors become HTTP responses.

Each surface says how its errors read (an :class:`ErrorShape`: the paths it owns and a
renderer); the composition root installs them in order, first match wins. MiniMax v1
(``surfaces/minimax_v1/errors.py``) answers HTTP 200 with a non-zero
``base_resp.status_code``, under ``/minimaxi/`` and for its endpoints at the root
(``/v1/video_generation``...: ``wire.V1_PATHS``), which sit under the platform's
``/v1/``; so it comes before the platform and admin APIs (:data:`PLATFORM`), which
answer a real HTTP status with ``{"error": {code, kind, message}, "request_id"}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from reelgate.errors import InvalidParams, NotFound, ReelgateError, ValidationFailed
from reelgate.wire import JSONResponse, minimax_error, trace_id_of

log = logging.getLogger(__name__)

_PLATFORM_PREFIXES = ("/v1/", "/admin/")


@dataclass(frozen=True, slots=True)
class ErrorShape:
    """How one surface writes an error, for the paths it owns. The composition root
    hands ``install`` each surface's shape, in the order they are asked."""

    owns: Callable[[str], bool]
    render: Callable[[ReelgateError, Request], Response]


def is_platform(path: str) -> bool:
    return path.startswith(_PLATFORM_PREFIXES)


def platform_error(exc: ReelgateError, request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "error": {"code": exc.code, "kind": exc.kind, "message": exc.message},
            "request_id": trace_id_of(request),
        },
        status_code=exc.http_status,
    )


PLATFORM = ErrorShape(is_platform, platform_error)


def owner(request: Request) -> ErrorShape | None:
    """The surface whose shape an error on this request takes, if any."""
    path = request.url.path
    shapes: tuple[ErrorShape, ...] = getattr(request.app.state, "error_shapes", ())
    return next((shape for shape in shapes if shape.owns(path)), None)


def error_response(exc: ReelgateError, request: Request) -> Response:
    """The error in its surface's shape; MiniMax's where no surface owns the path (the
    signed download links: what a MiniMax client fetching a file expects)."""
    shape = owner(request)
    return shape.render(exc, request) if shape is not None else minimax_error(exc)


def install(app: FastAPI, shapes: Sequence[ErrorShape]) -> None:
    app.state.error_shapes = tuple(shapes)

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
        if owner(request) is None:
            return JSONResponse({"detail": err.message}, status_code=exc.status_code)
        return error_response(err, request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(ReelgateError("internal error; try again later"), request)
