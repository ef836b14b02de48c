"""MiniMax's wire shapes, shared by the gateway's compatible surface and the sandbox."""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelgate.errors import InvalidApiKey, InvalidParams, ReelgateError, Unauthorized

SUCCESS = {"status_code": 0, "status_msg": "success"}

# MiniMax's v1 endpoints, as paths below a base URL (https://api.minimax.io, the gateway's
# /minimaxi, or the gateway's root: README "Base URLs for MiniMax clients").
CREATE_PATH = "/v1/video_generation"
V1_PATHS = frozenset(
    {CREATE_PATH, "/v1/query/video_generation", "/v1/files/retrieve", "/v1/files/retrieve_content"}
)


class JSONResponse(Response):
    """A fast JSON response (orjson)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def ok(payload: dict[str, Any]) -> JSONResponse:
    payload.setdefault("base_resp", SUCCESS)
    return JSONResponse(payload)


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"base_resp": {"status_code": code, "status_msg": message}}


def minimax_error(exc: ReelgateError) -> JSONResponse:
    """MiniMax answers errors with HTTP 200 and a non-zero ``base_resp.status_code``."""
    return JSONResponse(error_body(exc.code, exc.message))


def key_refusal(exc: InvalidApiKey, *, create: bool) -> Unauthorized:
    """What MiniMax answers a key it does not know, per endpoint: ``2049`` on create (the
    only endpoint that documents it), ``1004`` on query and the files endpoints, whose
    schemas list only ``1004`` (reference section 4.1; the official MCP client matches
    ``1004`` to tell the user to check the key and the host). The message is the same."""
    return exc if create else Unauthorized(exc.message)


# Work on a body larger than this (parsing, hashing) runs in a thread, not on the event loop
# that every other request shares.
OFF_LOOP_BYTES = 1 << 20

_TRACE_PREFIX = os.urandom(6).hex()
_trace_counter = itertools.count()


def new_trace_id() -> str:
    """Unique per request: a random per-process prefix and a counter (no syscall each)."""
    return f"{_TRACE_PREFIX}{next(_trace_counter):012x}"


async def json_body(request: Request) -> Any:
    """Parse the request body as JSON or raise InvalidParams with a message that says why."""
    raw = await request.body()
    if not raw:
        raise InvalidParams("invalid params, the request body is empty; send a JSON object")
    try:
        if len(raw) > OFF_LOOP_BYTES:  # tens of ms for a create with inline images
            return await asyncio.to_thread(orjson.loads, raw)
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidParams(f"invalid params, the request body is not valid JSON: {exc}") from None


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class TraceIdMiddleware:
    """Give every response a ``Trace-Id`` header (pure ASGI: no per-request task overhead)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        if "trace_id" in state:  # an outer app already did it (the mounted sandbox)
            await self.app(scope, receive, send)
            return
        trace_id = state["trace_id"] = new_trace_id()
        header = (b"trace-id", trace_id.encode())

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"trace-id" for k, _ in headers):
                    headers.append(header)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_trace)


def trace_id_of(request: Request) -> str | None:
    return getattr(request.state, "trace_id", None)
