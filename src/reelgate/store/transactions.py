"""A whole transaction as one synchronous function: one thread hand-off per transaction.

aiosqlite hands every statement (and its cursor, fetch, commit and close) to its
connection's thread and back through the event loop: about 25 hand-offs for a create,
each a queue put, a thread wake-up and a self-pipe write. Here a store passes a plain
function of a ``sqlalchemy.Connection`` instead (issue 19):

- ``write`` on SQLite runs it in one writer thread of its own, on a synchronous engine
  over the same file, under the process's write lock (``database.begin``): one hand-off.
- ``read`` on SQLite runs it in the event loop's thread: an indexed point lookup takes
  tens of microseconds, and WAL lets readers run beside the writer. Its connection waits
  at most ``READ_BUSY_S`` for a lock (a checkpoint, another process's recovery) before
  the read goes the asynchronous way instead, so the loop never stalls.
- On PostgreSQL both run the same function through ``run_sync`` on the async engine
  (asyncpg: each statement is a round trip there whatever runs it); ``read`` in
  autocommit, so that a lookup is one round trip, not ``BEGIN``, it and ``ROLLBACK``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.store.database import begin, sqlite_pragmas, write_lock

T = TypeVar("T")
READ_BUSY_S = 0.05


@dataclass
class _SyncSide:
    writer: Engine
    reader: Engine
    thread: ThreadPoolExecutor


_sides: weakref.WeakKeyDictionary[Engine, _SyncSide | None] = weakref.WeakKeyDictionary()


async def write(engine: AsyncEngine, fn: Callable[[Connection], T], *, atomic: bool = False) -> T:
    """Run ``fn`` in one write transaction; what it returns, or what it raised.

    ``atomic``: ``fn`` writes with one statement (atomic on its own), so on PostgreSQL
    it runs in autocommit: no ``BEGIN`` and ``COMMIT`` round trips around it."""
    side = _side(engine)
    if side is None and atomic and engine.dialect.name == "postgresql":
        async with engine.connect() as aconn:
            await aconn.execution_options(isolation_level="AUTOCOMMIT")
            return await aconn.run_sync(fn)
    if side is None:
        async with begin(engine) as conn:
            return await conn.run_sync(fn)
    loop = asyncio.get_running_loop()
    async with write_lock(engine):
        job = loop.run_in_executor(side.thread, _in_transaction, side.writer, fn)
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            # the thread goes on to commit or roll back: keep the lock until it has
            await asyncio.wait([job])
            raise


async def read(engine: AsyncEngine, fn: Callable[[Connection], T]) -> T:
    """Run ``fn`` on a connection outside any write transaction (a point lookup)."""
    side = _side(engine)
    if side is not None:
        try:
            with side.reader.connect() as conn:
                return fn(conn)
        except OperationalError:  # locked beyond READ_BUSY_S: the patient way
            pass
    try:
        return await _read_async(engine, fn)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        # a connection that went stale while pooled (the server restarted): the pool has
        # dropped it and those opened before it; a lookup may safely run once more
        return await _read_async(engine, fn)


async def _read_async(engine: AsyncEngine, fn: Callable[[Connection], T]) -> T:
    async with engine.connect() as aconn:
        if aconn.dialect.name == "postgresql":
            # no BEGIN and ROLLBACK around a lookup: two round trips of the three
            await aconn.execution_options(isolation_level="AUTOCOMMIT")
        return await aconn.run_sync(fn)


def _in_transaction(writer: Engine, fn: Callable[[Connection], T]) -> T:
    with writer.begin() as conn:
        return fn(conn)


def _side(engine: AsyncEngine) -> _SyncSide | None:
    key = engine.sync_engine
    if key in _sides:
        return _sides[key]
    side = _open(engine) if engine.dialect.name == "sqlite" else None
    _sides[key] = side
    return side


def _open(engine: AsyncEngine) -> _SyncSide | None:
    database = engine.url.database
    if not database or database == ":memory:" or engine.url.query.get("mode") == "memory":
        return None  # another connection would see another database
    url = engine.url.set(drivername="sqlite")

    def make(timeout: float, size: int) -> Engine:
        sync = create_engine(
            url,
            connect_args={"timeout": timeout, "check_same_thread": False},
            pool_size=size,
            max_overflow=0,
        )
        event.listen(sync, "connect", sqlite_pragmas(busy_ms=int(timeout * 1000)))
        return sync

    side = _SyncSide(
        writer=make(30.0, 1),
        reader=make(READ_BUSY_S, 1),
        thread=ThreadPoolExecutor(1, thread_name_prefix="reelgate-sqlite-writer"),
    )

    @event.listens_for(engine.sync_engine, "engine_disposed")
    def _close(_engine: Any) -> None:
        _sides.pop(engine.sync_engine, None)
        side.thread.shutdown(wait=True)
        side.writer.dispose()
        side.reader.dispose()

    return side
