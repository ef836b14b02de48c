"""What the tracker writes: nothing for a poll that finds nothing new (the task stays
leased, its schedule in memory), a change at once, its schedule when it hands the lease
back; a push recorded by another process reaches the holder at once; and a dead
tracker's tasks are taken over once its lease runs out, while it, if it comes back, no
longer polls them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine, event, select

from reelgate.domain.polling import PollSchedule
from reelgate.services.tracker import Tracker
from reelgate.store.tables import task_events, tasks
from tests.inprocess.harness import InProcess, in_process
from tests.support import fresh_database

pytestmark = pytest.mark.asyncio(loop_scope="module")
LEASE_S = 60.0
WRITES = ("INSERT", "UPDATE", "DELETE")
_WRITING_CTE = re.compile(r"^WITH .*\bAS \((INSERT|UPDATE|DELETE)\b")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[InProcess]:
    data_dir = tmp_path_factory.mktemp("tracker-writes")
    with fresh_database(data_dir) as url:
        async with in_process(data_dir, url, lease_s=LEASE_S) as gw:
            yield gw


@contextmanager
def statements(gateway: InProcess) -> Iterator[list[str]]:
    """The SQL statements the gateway runs meanwhile."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    # every engine: the gateway's, and on SQLite the synchronous ones beside it that run
    # whole transactions (store/transactions.py)
    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def is_write(statement: str) -> bool:
    """A write, or a statement whose CTEs write (a move as one statement on PostgreSQL,
    store/moves.py)."""
    return statement.startswith(WRITES) or bool(_WRITING_CTE.search(statement))


def claim(statement: str) -> bool:
    """The claim of due tasks: the one write a round makes even when it finds none."""
    return statement.startswith("UPDATE tasks SET lease_owner=")


async def row(gateway: InProcess, upstream_id: str) -> Any:
    async with gateway.gw.engine.connect() as conn:
        return (
            await conn.execute(select(tasks).where(tasks.c.upstream_task_id == upstream_id))
        ).one()


async def event_count(gateway: InProcess, task_id: int) -> int:
    async with gateway.gw.engine.connect() as conn:
        rows = await conn.execute(select(task_events).where(task_events.c.task_id == task_id))
        return len(rows.all())


async def new_task(gateway: InProcess) -> str:
    async with gateway.client() as http:
        created = (await http.post("/v1/videos", json={"prompt": "a kite"})).json()
    task = await gateway.gw.tasks.get_by_platform_id(created["id"])
    assert task is not None and task.upstream_task_id is not None
    return task.upstream_task_id


async def test_a_poll_that_finds_nothing_new_writes_nothing(gateway: InProcess) -> None:
    upstream_id = await new_task(gateway)
    assert await gateway.track() >= 1  # preparing -> queueing: a change, written
    queued = await row(gateway, upstream_id)
    assert queued.upstream_status == "Queueing" and queued.lease_owner == gateway.gw.tracker.owner
    events = await event_count(gateway, queued.id)
    queries = len(gateway.upstream.called("query"))

    with statements(gateway) as seen:
        assert await gateway.track() >= 1  # queueing again: no news
    assert len(gateway.upstream.called("query")) > queries  # it was polled
    writes = [s for s in seen if is_write(s) and not claim(s)]
    assert writes == []
    assert await row(gateway, upstream_id) == queued  # not a column touched
    assert await event_count(gateway, queued.id) == events

    gateway.upstream.start(upstream_id)
    with statements(gateway) as seen:
        assert await gateway.track() >= 1
    running = await row(gateway, upstream_id)
    assert running.upstream_status == "Processing" and running.status == "running"
    assert running.poll_attempts == queued.poll_attempts + 2  # the quiet poll counted too
    assert await event_count(gateway, queued.id) == events + 1
    assert any(is_write(s) and not claim(s) for s in seen)


async def test_the_schedule_is_written_when_the_lease_is_handed_back(gateway: InProcess) -> None:
    upstream_id = await new_task(gateway)
    await gateway.track()
    await gateway.track()  # no news: in memory only
    before = await row(gateway, upstream_id)
    tracker = gateway.gw.tracker
    tracker.stop()
    await tracker.run()  # stopped at once: it hands everything back
    after = await row(gateway, upstream_id)
    assert (after.lease_owner, after.lease_until) == (None, None)
    assert after.poll_attempts == before.poll_attempts + 1
    assert after.next_poll_at > gateway.upstream.clock.now()
    tracker._stop.clear()  # the module's other tests go on with it


async def test_leases_are_renewed_with_one_write_a_task(gateway: InProcess) -> None:
    """Once the oldest lease is half spent, one statement extends every lease held, and
    the task's next poll with it (the latest another worker would poll it)."""
    upstream_id = await new_task(gateway)
    await gateway.track()
    claimed = await row(gateway, upstream_id)
    assert claimed.next_poll_at == claimed.lease_until  # the claim's lease end
    gateway.upstream.clock.advance(LEASE_S * 0.6)
    with statements(gateway) as seen:
        await gateway.gw.tracker.poll_due()
    renewed = await row(gateway, upstream_id)
    assert renewed.lease_until > claimed.lease_until
    assert renewed.next_poll_at == renewed.lease_until
    writes = [s for s in seen if is_write(s) and not claim(s)]
    assert len(writes) == 1 and writes[0].startswith("UPDATE tasks SET next_poll_at=CASE")


def asked_since(gateway: InProcess, queries: int) -> list[str]:
    return [c.argument for c in gateway.upstream.called("query")[queries:]]


async def test_a_push_recorded_by_another_process_reaches_the_holder_at_once(
    gateway: InProcess,
) -> None:
    """An API process that is not the worker records a push without the file as
    ``poll_now`` in the store alone: the tracker that holds the task polls it in its
    next round, not when it next renews its leases (half a lease later)."""
    upstream_id = await new_task(gateway)
    await gateway.track()
    tracker = gateway.gw.tracker
    held = await row(gateway, upstream_id)
    assert held.lease_owner == tracker.owner
    queries = len(gateway.upstream.called("query"))
    await tracker.poll_due()  # the same time: its next poll is seconds away
    await tracker.poll_due()
    assert upstream_id not in asked_since(gateway, queries)

    await gateway.gw.tasks.poll_now(held.id, gateway.upstream.clock.now())
    await tracker.poll_due()  # the clock has not moved: only the push made it due
    assert asked_since(gateway, queries) == [upstream_id]
    await tracker.poll_due()
    assert asked_since(gateway, queries) == [upstream_id]  # and once only


async def test_a_dead_trackers_tasks_are_taken_over_after_its_lease(gateway: InProcess) -> None:
    upstream_id = await new_task(gateway)
    await gateway.track()
    dead = gateway.gw.tracker
    assert (await row(gateway, upstream_id)).lease_owner == dead.owner
    settings = gateway.gw.settings
    schedule = PollSchedule(initial=settings.poll_initial_s, maximum=settings.poll_max_s)
    heir = Tracker(
        tasks=gateway.gw.tasks,
        router=gateway.gw.router,
        files=gateway.gw.file_service,
        schedule=schedule,
        pushed_schedule=schedule,
        batch=64,
        concurrency=4,
        lease=timedelta(seconds=LEASE_S),
        clock=gateway.upstream.clock.now,
    )
    clock = gateway.upstream.clock
    clock.advance(LEASE_S / 2)
    assert await heir.poll_due() == 0  # leased, due or not: not the heir's
    clock.advance(LEASE_S)  # the dead tracker's lease has run out
    queries = len(gateway.upstream.called("query"))
    assert await heir.poll_due() >= 1
    assert (await row(gateway, upstream_id)).lease_owner == heir.owner
    assert upstream_id in [c.argument for c in gateway.upstream.called("query")[queries:]]

    # the dead tracker comes back: it checks its leases before it polls and drops the task
    queries = len(gateway.upstream.called("query"))
    await dead.poll_due()
    asked = [c.argument for c in gateway.upstream.called("query")[queries:]]
    assert upstream_id not in asked
    assert (await row(gateway, upstream_id)).lease_owner == heir.owner
