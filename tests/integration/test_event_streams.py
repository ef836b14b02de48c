"""Live event streams (/v1/tasks/{id}/events) cost nothing while idle and are capped per
API key. The real app runs under uvicorn in this process, over real HTTP, so that the
statements it sends to the store can be counted (SQLAlchemy's cursor events)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import event

from reelgate.app import Gateway, create_app
from reelgate.domain.tasks import FailureReason, Task, TaskStatus
from reelgate.http_limits import http_options
from reelgate.settings import Settings
from reelgate.store.tasks import TaskStore
from tests.support import (
    ADMIN_TOKEN,
    API_KEY,
    free_port,
    fresh_database,
    new_task,
    on_postgres,
    redis_test_url,
)

CAP = 3
KEEPALIVE_S = 0.4


@dataclass
class Live:
    gw: Gateway
    url: str
    task_event_reads: list[str] = field(default_factory=list)


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    with fresh_database(tmp_path) as url:
        port = free_port()
        # where other processes may write (PostgreSQL), Redis carries their changes
        redis = {"redis_url": redis_test_url(), "redis_prefix": f"rgtest:{port}:"}
        settings = Settings(
            **(redis if on_postgres() else {}),
            data_dir=tmp_path,
            database_url=url,
            port=port,
            admin_token=ADMIN_TOKEN,
            bootstrap_api_key=API_KEY,
            max_event_streams_per_key=CAP,
            event_stream_keepalive_s=KEEPALIVE_S,
            sandbox_render="stub",
        )
        app = create_app(settings, announce=None)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", **http_options(settings)
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        while not server.started:
            assert not serving.done(), serving.exception()
            await asyncio.sleep(0.02)
        gw: Gateway = app.state.gateway
        assert gw.events.complete  # every change reaches the bus: the case of most installs
        state = Live(gw, f"http://127.0.0.1:{port}")

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if "task_events" in statement and statement.lstrip().upper().startswith("SELECT"):
                state.task_event_reads.append(statement)

        event.listen(gw.engine.sync_engine, "before_cursor_execute", count)
        try:
            yield state
        finally:
            server.should_exit = True
            await serving


async def new_live_task(live: Live) -> Task:
    key = await live.gw.auth.api_key(API_KEY)
    return await live.gw.tasks.insert(new_task(key.account_id, key_id=key.id), datetime.now(UTC))


@dataclass
class Stream:
    """One client's stream: what it received, and the task reading it."""

    lines: list[str] = field(default_factory=list)
    status: int = 0
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    job: asyncio.Task[None] | None = None

    @property
    def keepalives(self) -> int:
        return sum(1 for line in self.lines if line.startswith(": keep-alive"))

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line[6:]) for line in self.lines if line.startswith("data: ")]


def open_stream(http: httpx.AsyncClient, task_id: str) -> Stream:
    stream = Stream()

    async def read() -> None:
        async with http.stream("GET", f"/v1/tasks/{task_id}/events") as resp:
            stream.status = resp.status_code
            stream.opened.set()
            if resp.status_code != 200:
                return
            async for line in resp.aiter_lines():
                if line:
                    stream.lines.append(line)

    stream.job = asyncio.create_task(read())
    return stream


async def until(check: Any, within_s: float = 5.0) -> None:
    """Wait for a state of the server that no event announces (a slot given back)."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_idle_streams_read_nothing_and_the_cap_holds(live: Live) -> None:
    task = await new_live_task(live)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=live.url, headers=headers, timeout=10) as http:
        live.task_event_reads.clear()
        streams = [open_stream(http, task.platform_id) for _ in range(CAP)]
        for s in streams:
            await s.opened.wait()
            assert s.status == 200
        # each subscribed and read once, now asleep (a stream subscribes before its first
        # read, and its answer starts before it: wait for the reads themselves)
        await until(lambda: live.gw.events.waiting() == CAP and len(live.task_event_reads) >= CAP)

        # one past the cap: 429 in the platform's shape
        refused = await http.get(f"/v1/tasks/{task.platform_id}/events")
        assert refused.status_code == 429
        assert refused.json()["error"]["kind"] == "rate_limited"
        assert "event streams open" in refused.json()["error"]["message"]

        # idle: keep-alives only, not one read of the store
        live.task_event_reads.clear()
        await asyncio.sleep(5 * KEEPALIVE_S)  # the quiet being measured
        assert live.task_event_reads == []
        assert all(s.keepalives >= 3 for s in streams), [s.keepalives for s in streams]

        # a client that leaves frees its slot
        first = streams.pop(0)
        assert first.job is not None
        first.job.cancel()
        key = await live.gw.auth.api_key(API_KEY)
        await until(lambda: live.gw.streams.open(key.id) == CAP - 1)
        streams.append(open_stream(http, task.platform_id))
        await streams[-1].opened.wait()
        assert streams[-1].status == 200

        # a change wakes every stream, which gets its event and ends after the terminal one
        cancelled = await http.post(f"/v1/tasks/{task.platform_id}/cancel")
        assert cancelled.status_code == 200
        await asyncio.wait_for(asyncio.gather(*(s.job for s in streams if s.job)), 5)
        for s in streams:
            assert [e["status"] for e in s.events] == ["cancelled"]
        await until(lambda: live.gw.streams.open(key.id) == 0)


async def test_where_changes_may_go_unheard_streams_reread_at_each_keepalive(
    live: Live,
) -> None:
    live.gw.events.complete = False  # as in an API replica without Redis
    task = await new_live_task(live)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=live.url, headers=headers, timeout=10) as http:
        live.task_event_reads.clear()
        stream = open_stream(http, task.platform_id)
        await until(lambda: live.gw.events.waiting() == 1 and len(live.task_event_reads) >= 1)
        live.task_event_reads.clear()
        await asyncio.sleep(5 * KEEPALIVE_S)
        # one re-read per keep-alive, not one a second per stream
        assert 3 <= len(live.task_event_reads) <= 6, len(live.task_event_reads)
        # a change another process made (its store tells no bus here) is still found
        elsewhere = TaskStore(live.gw.engine)
        await elsewhere.record_failure(
            task.id,
            None,
            "cancelled elsewhere",
            datetime.now(UTC),
            reason=FailureReason.CANCELLED,
            status=TaskStatus.CANCELLED,
        )
        assert stream.job is not None
        await asyncio.wait_for(stream.job, 5 * KEEPALIVE_S)
        assert [e["status"] for e in stream.events] == ["cancelled"]
