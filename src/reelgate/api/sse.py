"""A task's status changes as Server-Sent Events: the one response behind the API's
``GET /v1/tasks/{id}/events`` and the console's task page (which authenticates by its
session, as a browser's EventSource cannot send a bearer header)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from reelgate.api.views import event_data
from reelgate.domain.tasks import Task
from reelgate.services.task_streams import TaskStreams

_MAX_SEQ = 2**31 - 1  # task_events.seq is a 32-bit column on PostgreSQL


def resume_after(last_event_id: str | None) -> int:
    """The sequence number a reconnecting client (``Last-Event-ID``) resumes after;
    anything that is not one starts over."""
    if last_event_id and last_event_id.isascii() and last_event_id.isdigit():
        return min(int(last_event_id), _MAX_SEQ)
    return 0


def task_event_stream(
    streams: TaskStreams, key_id: int, task: Task, after: int
) -> StreamingResponse:
    """Each event of ``task`` after ``after`` (``id`` = its sequence number), then each new
    one, until the terminal event; a keep-alive comment when idle. Holds one of the key's
    stream slots while open (RateLimited, 429, when the key holds all of them)."""

    async def stream() -> AsyncIterator[str]:
        # closed with the response, so that the task's subscription ends with it
        async with aclosing(streams.follow(task, after)) as events:
            async for event in events:
                if event is None:  # idle for a while: a comment keeps proxies patient
                    yield ": keep-alive\n\n"
                    continue
                data = json.dumps(event_data(task, event))
                yield f"id: {event.seq}\nevent: status\ndata: {data}\n\n"

    release = streams.hold(key_id)
    return _HeldStream(
        stream(),
        release,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class _HeldStream(StreamingResponse):
    """A stream that gives its slot back when it ends, however it ends (the terminal
    event, the client leaving, the server stopping)."""

    def __init__(
        self, content: AsyncIterator[str], release: Callable[[], None], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
