"""How many database round trips a create and a lookup cost (issue 19): each statement
is a hand-off to the driver (aiosqlite's thread, or a PostgreSQL round trip), the
largest cost of a create after the upstream call. Counted with SQLAlchemy's
``before_cursor_execute``, on the pass's database."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine, event

from tests.inprocess.harness import InProcess
from tests.support import on_postgres

pytestmark = pytest.mark.asyncio(loop_scope="module")

BODY = {"model": "T2V-01", "prompt": "a lighthouse at dusk"}


@pytest_asyncio.fixture(loop_scope="module")
async def minimax(gateway: InProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway.client(path="/minimaxi") as c:
        yield c


@contextmanager
def statements(gateway: InProcess) -> Iterator[list[tuple[str, int, bool]]]:
    """Each statement's verb, the thread that ran it and whether it went through the
    async engine (whose driver hands it to a thread of its own)."""
    seen: list[tuple[str, int, bool]] = []
    through_async = gateway.gw.engine.sync_engine

    def count(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        verb = statement.split(None, 1)[0].upper()
        seen.append((verb, threading.get_ident(), conn.engine is through_async))

    # every engine: the gateway's, and on SQLite the synchronous ones beside it
    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


@contextmanager
def simple_queries(gateway: InProcess) -> Iterator[list[str]]:
    """On PostgreSQL, the round trips asyncpg makes through its own API, not
    SQLAlchemy's prepared statements (``BEGIN``, ``COMMIT``, ``ROLLBACK``, the lookups
    of ``store/lookup_pg.py``), on the connections checked out meanwhile."""
    seen: list[str] = []
    pool = gateway.gw.engine.sync_engine.pool

    def log(record: Any) -> None:
        seen.append(record.query.split(None, 1)[0].rstrip(";").upper())

    def attach(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        dbapi_conn.driver_connection.add_query_logger(log)

    def detach(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.driver_connection.remove_query_logger(log)

    if not on_postgres():
        yield seen
        return
    event.listen(pool, "checkout", attach)
    event.listen(pool, "checkin", detach)
    try:
        yield seen
    finally:
        event.remove(pool, "checkout", attach)
        event.remove(pool, "checkin", detach)


async def test_a_create_and_a_lookup(gateway: InProcess, minimax: httpx.AsyncClient) -> None:
    # warm: the key and the channel list are cached after the first request
    await minimax.post("/v1/video_generation", json=BODY)
    with statements(gateway) as writes, simple_queries(gateway) as sent:
        created = (await minimax.post("/v1/video_generation", json=BODY)).json()
    assert created["base_resp"]["status_code"] == 0, created
    if on_postgres():
        # reserve + insert + ledger entry as one statement (CTEs, store/create_pg.py),
        # then the move to queued + its event as one (store/moves.py), both in autocommit
        assert [verb for verb, *_ in writes] == ["WITH", "WITH"]
        assert sent == []  # no BEGIN and COMMIT
    else:
        # reserve + insert + ledger entry; the move to queued + its event
        assert [verb for verb, *_ in writes] == ["UPDATE", "INSERT", "INSERT", "UPDATE", "INSERT"]

    # the upstream's id: the cache holds the task under the id it was asked by
    with statements(gateway) as reads, simple_queries(gateway) as sent:
        resp = await minimax.get(
            "/v1/query/video_generation", params={"task_id": created["task_id"]}
        )
    assert resp.json()["task_id"] == created["task_id"], resp.text
    if on_postgres():
        # one SELECT on the asyncpg connection itself (store/lookup_pg.py), outside
        # SQLAlchemy's execution; no BEGIN and ROLLBACK around it
        assert (reads, sent) == ([], ["SELECT"])
    else:
        assert ([verb for verb, *_ in reads], sent) == (["SELECT"], [])

    if gateway.gw.engine.dialect.name == "sqlite":
        # writes in one thread beside the loop, each transaction one hand-off; an
        # indexed lookup in the loop's own thread, no hand-off at all
        loop_thread = threading.get_ident()
        assert len({thread for _, thread, _ in writes} - {loop_thread}) == 1
        assert not any(through_async for *_, through_async in writes + reads)
        assert {thread for _, thread, _ in reads} == {loop_thread}
