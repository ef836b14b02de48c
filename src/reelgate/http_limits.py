"""Request size and slow clients: what one connection may cost the server.

- :class:`BodyLimit` (pure ASGI) refuses a body larger than its route accepts: up front
  on ``Content-Length``, and counted while it is read for a chunked one, so no more than
  the limit is ever buffered. A body that stops arriving is cut after a read timeout.
  Both answer in the route's error shape and close the connection.
- :class:`GuardedHttpProtocol` (uvicorn's httptools protocol) closes a connection whose
  request head is not complete within a deadline (uvicorn has none: one header line
  every few seconds kept a connection forever), or whose head is larger than 64 KiB.

:func:`http_options` gives ``uvicorn.run`` the protocol; :func:`limit_bodies` wraps an
app in :class:`BodyLimit`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from reelgate.api.errors import error_response
from reelgate.errors import BodyTimeout, BodyTooLarge, ReelgateError
from reelgate.settings import Settings
from reelgate.wire import minimax_error

# Every route but a create takes small JSON (accounts, keys, channels, callbacks).
CREATE_PATHS = ("/video_generation", "/v1/videos")  # MiniMax's; OpenAI's (and the sandbox's)
OTHER_BODY_BYTES = 1024 * 1024
# The request line and headers; uvicorn's h11 protocol allows 16 KiB, nginx 8 to 32 KiB.
MAX_HEAD_BYTES = 64 * 1024

Render = Callable[[ReelgateError, Scope], Response]


def minimax_errors(exc: ReelgateError, scope: Scope) -> Response:
    """The sandbox's shape: every route is MiniMax's."""
    return minimax_error(exc)


def gateway_errors(exc: ReelgateError, scope: Scope) -> Response:
    """The gateway's shapes: the platform's JSON error on /v1 and /admin (but MiniMax's
    root routes), MiniMax's else (``api.errors.error_response``)."""
    return error_response(exc, Request(scope))


def body_limit(scope: Scope, max_body: int) -> int:
    """What a route may receive: a create takes up to two inline images, others little."""
    if scope["method"] == "POST" and scope["path"].endswith(CREATE_PATHS):
        return max_body
    return min(max_body, OTHER_BODY_BYTES)


class _Refused(Exception):
    """Raised into the app from ``receive`` once the middleware has answered for it."""


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        body_timeout_s: float,
        render: Render = minimax_errors,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.body_timeout_s = body_timeout_s
        self.render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope, self.max_body)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            # answered before a byte of the body is read (no "100 Continue" either)
            await self.answer(scope, send, _too_large(limit))
            return
        exchange = _Exchange(self, scope, receive, send, limit)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except _Refused:
            if not exchange.refused:
                raise

    async def answer(self, scope: Scope, send: Send, exc: ReelgateError) -> None:
        """Answer for the app with ``exc`` in the route's shape, and close the connection."""
        response = self.render(exc, scope)
        # the rest of the body is never read: the connection cannot carry another request
        response.headers["connection"] = "close"

        async def no_body() -> Message:  # pragma: no cover - a plain Response never asks
            return {"type": "http.disconnect"}

        await response(scope, no_body, send)


class _Exchange:
    """One request under a :class:`BodyLimit`: its body counted as the app reads it, cut
    when too large or too slow, and the app's own answer dropped once the middleware has
    answered for it."""

    def __init__(
        self, guard: BodyLimit, scope: Scope, receive: Receive, send: Send, limit: int
    ) -> None:
        self._guard = guard
        self._scope = scope
        self._receive = receive
        self._send = send
        self._limit = limit
        self._received = 0
        self._complete = False
        self.refused = False
        self._started = False

    async def receive(self) -> Message:
        if self._complete:  # the body is in; what is left to hear is a disconnect
            return await self._receive()
        if self.refused:
            raise _Refused
        timeout_s = self._guard.body_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                message = await self._receive()
        except TimeoutError:
            await self._refuse(
                BodyTimeout(f"invalid params, the request body sent nothing for {timeout_s:g} s")
            )
            raise _Refused from None
        if message["type"] != "http.request":
            self._complete = True
            return message
        self._received += len(message.get("body", b""))
        if self._received > self._limit:
            await self._refuse(_too_large(self._limit))
            raise _Refused
        self._complete = not message.get("more_body", False)
        return message

    async def _refuse(self, exc: ReelgateError) -> None:
        self.refused = True
        if not self._started:
            await self._guard.answer(self._scope, self._send, exc)

    async def send(self, message: Message) -> None:
        if self.refused:  # we answered already; whatever the app makes of it is dropped
            return
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"invalid params, the request body is larger than {limit:,} bytes, the most this "
        "route accepts"
    )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size limit on request heads.

    The deadline runs from the connection's start, and again from the end of each
    answer, until the next head is complete; whatever arrives meanwhile (one header line
    every few seconds) does not extend it. Bodies are :class:`BodyLimit`'s business.
    """

    head_timeout_s: float = 10.0
    max_head_bytes: int = MAX_HEAD_BYTES

    _head_timer: asyncio.TimerHandle | None = None
    _in_head = False  # the bytes that arrive now belong to a request head
    _head_bytes = 0
    _heads_done = 0
    _head_refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._begin_head()
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_refused:
            return
        in_head, heads = self._in_head, self._heads_done
        super().data_received(data)
        # A read that began and ended inside one head was all head (counting httptools'
        # callbacks instead would miss one endless header line: it buffers the line until
        # it ends). A read that began or ended a head is not counted: the head's part in it
        # is at most one read (256 KiB).
        if (
            in_head
            and self._in_head
            and heads == self._heads_done
            and not self.transport.is_closing()
        ):
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse_head(431, "request head too large")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._heads_done += 1
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._begin_head()  # what follows is the next request's head

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # the next head may start now, unless a pipelined request is already being served
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._arm_head_timer()

    def _begin_head(self) -> None:
        self._in_head = True
        self._head_bytes = 0

    def _arm_head_timer(self) -> None:
        self._stop_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered: its head was complete
        if self._in_head and self._head_bytes:  # a head had begun: say why it ends
            self._refuse_head(408, "request head not complete in time")
        else:  # an idle connection, or one still sending an unread body: just close it
            self.transport.close()

    def _refuse_head(self, status: int, message: str) -> None:
        self._head_refused = True
        self._stop_head_timer()
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        body = message.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, reason, len(body), body)
        )
        self.transport.close()


def http_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``: the guarded HTTP protocol."""
    protocol = type(
        "GuardedHttpProtocol",
        (GuardedHttpProtocol,),
        {"head_timeout_s": settings.http_head_timeout_s},
    )
    return {"http": protocol}


def limit_bodies(app: ASGIApp, settings: Settings, render: Render = minimax_errors) -> BodyLimit:
    """``app`` behind :class:`BodyLimit`, sized by the settings."""
    return BodyLimit(
        app,
        max_body=settings.max_body_bytes,
        body_timeout_s=settings.http_body_timeout_s,
        render=render,
    )
