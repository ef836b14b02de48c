"""A task's status changes as Server-Sent Events for the console's pages: the same events
as ``GET /v1/tasks/{id}/events``, with the session in place of the bearer header (which
a browser's EventSource cannot send)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from reelgate.api.views import event_data
from reelgate.domain.tasks import Task

if TYPE_CHECKING:
    from reelgate.gateway import Gateway

_MAX_SEQ = 2**31 - 1


def resume_after(last_event_id: str | None) -> int:
    """Where a reconnecting EventSource (Last-Event-ID) picks up; anything else: start."""
    if last_event_id and last_event_id.isascii() and last_event_id.isdigit():
        return min(int(last_event_id), _MAX_SEQ)
    return 0


async def status_events(gw: Gateway, account_id: int, task: Task, after: int) -> AsyncIterator[str]:
    """Each event after ``after``, then each new one as it is recorded, until the terminal
    one. Idle, it sleeps on the event bus, with a keep-alive comment now and then."""
    keepalive_s = gw.settings.event_stream_keepalive_s
    with gw.events.subscribe(task.id) as changes:
        current = task
        while True:
            events = await gw.task_service.events(task, after)
            for event in events:
                after = event.seq
                data = json.dumps(event_data(task, event))
                yield f"id: {event.seq}\nevent: status\ndata: {data}\n\n"
                if event.status.terminal:
                    return
            if not events and current.status.terminal:
                return
            while not await changes.wait(keepalive_s):
                yield ": keep-alive\n\n"
                if not gw.events.complete:
                    break  # a change made in another process may go unheard: re-read
            if not events:
                current = await gw.task_service.get(account_id, task.platform_id)


class HeldStream(StreamingResponse):
    """A stream that gives its slot (``gw.streams``) back however it ends."""

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
