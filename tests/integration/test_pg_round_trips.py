"""PostgreSQL round trips beside the statements (issue 19): a lookup is its one
``SELECT`` (autocommit: no ``BEGIN`` and ``ROLLBACK`` around it), a pooled connection in
steady use is not pinged (asyncpg's ping is ``BEGIN``, ``;``, ``ROLLBACK``), one idle for
a while is, and a connection the server closed while it was pooled costs no lookup its
answer. PostgreSQL only: SQLite's lookups never leave the process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from reelgate.domain.tasks import TaskStatus, UpstreamStatus, Usage, VideoFile
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.tasks import TaskStore
from tests.support import migrated_database, new_task

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.postgres_only  # left out of the SQLite pass (tests/conftest.py)


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database(tmp_path_factory.mktemp("pg-round-trips")) as url:
        yield url


def log_simple_queries(engine: AsyncEngine) -> list[str]:
    """What asyncpg runs through its own API, not SQLAlchemy's prepared statements
    (``BEGIN``, ``COMMIT``, ``ROLLBACK``, the ping's ``;``, and the lookups of
    ``store/lookup_pg.py``), on every connection the engine opens from now."""
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "connect")
    def _log(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.driver_connection.add_query_logger(lambda record: seen.append(record.query))

    return seen


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = database.create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def backend_of(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(database_url: str, pid: int) -> None:
    """Close a connection from the server's side, as a restart of the server would."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


async def test_a_lookup_is_one_round_trip(engine: AsyncEngine) -> None:
    sent = log_simple_queries(engine)
    tasks = TaskStore(engine)
    for _ in range(3):  # the same pooled connection, checked out again and again
        assert await tasks.get(1, "video_missing") is None
    # each its two SELECTs on the asyncpg connection (by our id, then by the upstream's:
    # store/lookup_pg.py), neither BEGIN/ROLLBACK around them nor a ping before them
    assert len(sent) == 6 and all(query.startswith("SELECT") for query in sent)


async def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(database_url: str) -> None:
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0)
    database.ping_when_idle(engine, idle_s=0.0)  # every checkout counts as after idle
    try:
        sent = log_simple_queries(engine)
        first = await backend_of(engine)
        assert ";" not in sent  # a new connection is not pinged
        second = await backend_of(engine)
        assert second == first and sent.count(";") == 1  # pinged, alive, reused
        await terminate(database_url, first)
        assert await backend_of(engine) != first  # the ping found it dead: a new one
    finally:
        await engine.dispose()


async def test_a_lookup_outlives_a_connection_the_server_closed(
    engine: AsyncEngine, database_url: str
) -> None:
    tasks = TaskStore(engine)
    pid = await backend_of(engine)  # pooled, used just now: not pinged at its next use
    await terminate(database_url, pid)
    assert await tasks.get(1, "video_missing") is None  # tried once more, on a new one
    assert await backend_of(engine) != pid


def log_statements(engine: AsyncEngine) -> list[str]:
    """Every statement SQLAlchemy hands the driver (each a round trip on asyncpg)."""
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _log(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    return seen


async def test_the_move_to_queued_is_one_round_trip(engine: AsyncEngine) -> None:
    """The accept writes the task and its event in one statement: no BEGIN and COMMIT
    around an UPDATE and an INSERT (four round trips before)."""
    sent, statements = log_simple_queries(engine), log_statements(engine)
    account = await AccountStore(engine).create_account("round-trips-accept", balance=1000)
    tasks = TaskStore(engine)
    task = await tasks.insert(new_task(account.id, price=10), T0)
    sent.clear(), statements.clear()
    queued = await tasks.mark_submitted(task.id, "up-accept", T0, T0, channel="sandbox")
    assert queued is not None and queued.status is TaskStatus.QUEUED
    assert (sent, len(statements)) == ([], 1)
    assert await events_of(engine, task.id) == [1]  # the event, written with it
    assert await tasks.mark_submitted(task.id, "up-other", T0, T0) is None  # stale: no win
    assert await events_of(engine, task.id) == [1]


async def test_a_progress_without_news_is_one_round_trip(engine: AsyncEngine) -> None:
    sent, statements = log_simple_queries(engine), log_statements(engine)
    account = await AccountStore(engine).create_account("round-trips-progress", balance=1000)
    tasks = TaskStore(engine)
    task = await tasks.insert(new_task(account.id, price=10), T0)
    queued = await tasks.mark_submitted(task.id, "up-progress", T0, T0)
    assert queued is not None
    sent.clear(), statements.clear()
    moved = await tasks.record_progress(queued, None, UpstreamStatus.PREPARING, T0, T0)
    assert moved is not None and moved.poll_attempts == queued.poll_attempts + 1
    assert (sent, len(statements)) == ([], 1)
    assert await events_of(engine, task.id) == [1]  # no news, no event


async def events_of(engine: AsyncEngine, task_id: int) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT seq FROM task_events WHERE task_id = :t ORDER BY seq"), {"t": task_id}
        )
        return [r.seq for r in rows]


async def test_the_lookup_reads_the_task_as_sqlalchemy_does(engine: AsyncEngine) -> None:
    """The lookup on the asyncpg connection reads every column as SQLAlchemy's types do
    (times in UTC, JSON decoded): a finished task with a file, usage and a request."""
    account = await AccountStore(engine).create_account("round-trips-read", balance=1000)
    tasks = TaskStore(engine)
    new = replace(new_task(account.id, price=10), request={"prompt": "a cat", "n": [1, 2]})
    task = await tasks.insert(new, T0)
    assert await tasks.mark_submitted(task.id, "up-read", T0, T0) is not None
    file = VideoFile(file_id="7", width=1280, height=720, bytes=3)
    usage = Usage.from_dict({"output_seconds": 6, "input_image_count": 1})
    done = await tasks.record_success(task.id, file, T0, usage=usage, ratio="16:9")
    assert done is not None and done.usage is not None and done.file is not None
    by_sqlalchemy = await tasks.get_by_id(task.id)
    assert await tasks.get(account.id, task.platform_id) == by_sqlalchemy == done
    assert await tasks.get(account.id, "up-read") == by_sqlalchemy  # the upstream's id
    assert await tasks.get(account.id + 1, task.platform_id) is None  # not another's
