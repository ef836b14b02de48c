"""A task's live events as a service (``services/task_streams.py``), on the in-process
gateway's own task service and event bus: the recorded events after a point, keep-alives
while idle, each new event as the task moves, the end at the terminal one, the stream's
subscription ended with it, and the cap on a key's open streams.

(``GET /v1/tasks/{id}/events`` writes these as SSE; over real HTTP, where a stream stays
open while the task moves on, it is tested in ``tests/integration/test_event_streams.py``.)
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import pytest

from reelgate.domain.tasks import Task, TaskEvent, TaskStatus
from reelgate.errors import RateLimited
from reelgate.services.events import StreamSlots
from reelgate.services.task_streams import KEEPALIVE, TaskStreams
from tests.inprocess.harness import InProcess

pytestmark = pytest.mark.asyncio(loop_scope="module")

ACCOUNT = 1  # the bootstrap key's
CAP = 2


def streams_of(gateway: InProcess, keepalive_s: float = 0.01) -> TaskStreams:
    gw = gateway.gw
    return TaskStreams(
        tasks=gw.task_service, bus=gw.events, slots=StreamSlots(CAP), keepalive_s=keepalive_s
    )


async def created(gateway: InProcess) -> Task:
    async with gateway.client(path="/minimaxi") as mm:
        body = {"model": "T2V-01", "prompt": "a paper boat on a pond"}
        data = (await mm.post("/v1/video_generation", json=body)).json()
    assert data["base_resp"]["status_code"] == 0, data
    return await gateway.gw.task_service.get(ACCOUNT, data["platform_id"])


def statuses(items: list[Any]) -> list[str | None]:
    return [i.status.value if isinstance(i, TaskEvent) else i for i in items]


async def test_a_finished_task_streams_its_events_after_the_point_and_ends(
    gateway: InProcess,
) -> None:
    task = await created(gateway)
    await gateway.finish(task.upstream_task_id or "")
    task = await gateway.gw.task_service.get(ACCOUNT, task.platform_id)  # as a handler reads it
    streams = streams_of(gateway)
    everything = [e async for e in streams.follow(task, 0)]
    assert statuses(everything) == ["queued", "succeeded"]
    assert [e.seq for e in everything if e is not None] == [1, 2]
    last = everything[-1]
    assert last is not None and last.status is TaskStatus.SUCCEEDED
    # one before the last: exactly the last; from the last: nothing, and it still ends
    assert [e async for e in streams.follow(task, last.seq - 1)] == [last]
    assert [e async for e in streams.follow(task, last.seq)] == []
    assert gateway.gw.events.waiting() == 0


async def test_an_unfinished_task_keeps_alive_then_streams_each_change_until_the_end(
    gateway: InProcess,
) -> None:
    task = await created(gateway)
    streams = streams_of(gateway)
    events = streams.follow(task, 0)
    first = await anext(events)
    assert first is not None and first.status is TaskStatus.QUEUED
    assert await anext(events) is KEEPALIVE  # nothing happened for a keep-alive's time
    assert gateway.gw.events.waiting() == 1  # subscribed while it waits
    await gateway.finish(task.upstream_task_id or "")
    rest = [e async for e in events if e is not KEEPALIVE]
    assert statuses(rest) == ["succeeded"]
    assert gateway.gw.events.waiting() == 0


async def test_a_stream_closed_early_ends_its_subscription(gateway: InProcess) -> None:
    task = await created(gateway)
    async with aclosing(streams_of(gateway).follow(task, 0)) as events:
        assert await anext(events) is not None
        assert await anext(events) is KEEPALIVE
        assert gateway.gw.events.waiting() == 1
    assert gateway.gw.events.waiting() == 0


async def test_a_key_holds_at_most_its_cap_of_streams(gateway: InProcess) -> None:
    streams = streams_of(gateway)
    held = [streams.hold(7) for _ in range(CAP)]  # the cap itself: every one is given
    with pytest.raises(RateLimited):
        streams.hold(7)  # one past it
    other = streams.hold(8)  # another key's streams are its own
    held.pop()()  # a release frees one slot, and only one
    held.append(streams.hold(7))
    with pytest.raises(RateLimited):
        streams.hold(7)
    for release in (*held, other):
        release()
