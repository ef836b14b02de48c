"""Engines and migrations: SQLite (WAL) by default, PostgreSQL through asyncpg.

Start-up rule (docs/scale.md): the single-process gateway migrates the schema itself; API
replicas and workers only check it and refuse to start on one that is not current, so a
deployment migrates once, on purpose (``reelgate migrate``), never N processes at a time.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, event, inspect, text
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration's revision. A test holds it equal to Alembic's head, so that a start
# on a current schema reads one row and never imports Alembic (48 MiB and 0.2 s).
HEAD_REVISION = "0005"
# A PostgreSQL connection idle this long is pinged before use (``ping_when_idle``).
IDLE_PING_S = 5.0
# PostgreSQL connections a process keeps, and opens beyond them at most (``create_engine``)
POOL_SIZE, POOL_OVERFLOW = 30, 10


class StartupError(Exception):
    """The store cannot be used as it is; the message says what to do."""


class StoreUnavailable(StartupError):
    pass


class SchemaNotCurrent(StartupError):
    pass


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A fixed pool: aiosqlite runs a thread per connection, and overflow connections
        # opened and closed under load would start and stop a thread each time.
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": 30}, pool_size=20, max_overflow=0
        )

        event.listen(engine.sync_engine, "connect", sqlite_pragmas())
        return engine
    # LIFO: the connections in use stay in use (no ping); the others idle, pinged when
    # a burst needs them again. Kept, not closed: an overflow connection is closed when
    # it comes back, so a load just above the pool's size opened and closed one per
    # request, each a TCP and TLS handshake, a login, SQLAlchemy's codec set-up and its
    # statements prepared again (about 6% of a lookup's samples at 10 clients, pool
    # of 10, issue 19). POOL_SIZE covers 50 clients' lookups on one process.
    engine = create_async_engine(
        url, echo=echo, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, pool_use_lifo=True
    )
    ping_when_idle(engine, IDLE_PING_S)
    return engine


def ping_when_idle(engine: AsyncEngine, idle_s: float) -> None:
    """Ping a pooled connection at checkout only if it sat idle ``idle_s`` or longer.

    ``pool_pre_ping`` pings at every checkout, and asyncpg's ping is three round trips
    (``BEGIN``, ``;``, ``ROLLBACK``): more than the point lookup it guards (issue 19). A
    connection in steady use was just used; one that went stale meanwhile (the server
    restarted) raises at its first statement, SQLAlchemy sees the disconnect and
    recycles every connection the pool held before it, and ``transactions.read`` tries
    a lookup once more on a fresh one.
    """
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle_s:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception:  # whatever the driver raises for a dead connection
            alive = False
        if not alive:
            raise DisconnectionError("the pooled connection did not answer a ping")


def sqlite_pragmas(busy_ms: int = 30000) -> Callable[[Any, Any], None]:
    """The ``connect`` hook of every SQLite connection: WAL, a busy timeout, foreign keys."""

    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it safe
        cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return _pragmas


_write_locks: weakref.WeakKeyDictionary[Engine, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def begin(engine: AsyncEngine) -> AbstractAsyncContextManager[AsyncConnection]:
    """A write transaction (``engine.begin()``); on SQLite, one at a time in the process.

    SQLite has one writer. Left to itself, a second writer's first statement gets
    SQLITE_BUSY and sleeps in SQLite's busy handler (up to 100 ms a try) while the first,
    whose statements each make a round trip through the event loop, still holds the lock:
    queueing in the event loop instead cut the create's p99 from 491 to 51 ms
    (docs/benchmarks.md). Other processes on the same file still meet the busy handler.
    """
    if engine.dialect.name != "sqlite":
        return engine.begin()
    return _serialised(engine, write_lock(engine))


def write_lock(engine: AsyncEngine) -> asyncio.Lock:
    # asyncio.Lock belongs to one event loop; tests open engines on several
    loop = asyncio.get_running_loop()
    held = _write_locks.get(engine.sync_engine)
    if held is None or held[0] is not loop:
        held = (loop, asyncio.Lock())
        _write_locks[engine.sync_engine] = held
    return held[1]


@asynccontextmanager
async def _serialised(engine: AsyncEngine, lock: asyncio.Lock) -> AsyncIterator[AsyncConnection]:
    async with lock, engine.begin() as conn:
        yield conn


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def head_revision() -> str | None:
    """Alembic's head, read from the migration scripts (``HEAD_REVISION`` is its copy)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the store's schema is at (Alembic's version table), None for none."""

    def _current(conn: Connection) -> str | None:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema up to date (Alembic ``upgrade head``) on the given engine."""
    from alembic import command

    def _upgrade(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


def _known(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


async def schema_problem(engine: AsyncEngine) -> str | None:
    """What is wrong with the store's schema for this version of reelgate, or None."""
    return _problem(await current_revision(engine))


def _problem(current: str | None) -> str | None:
    head = HEAD_REVISION
    if current == head:
        return None
    if current is None:
        return (
            f"the database has no reelgate schema yet (expected revision {head}): "
            "run `reelgate migrate`"
        )
    if not _known(current):
        return (
            f"the database's schema is at revision {current}, which this version does not "
            f"know (it expects {head}): a newer reelgate migrated it; run that version"
        )
    return f"the database's schema is at revision {current}, behind {head}: run `reelgate migrate`"


async def prepare(engine: AsyncEngine, *, migrate: bool) -> None:
    """Migrate the schema, or only check it; raise a StartupError that says what to do."""
    try:
        current = await current_revision(engine)
        if migrate and current != HEAD_REVISION:
            await upgrade(engine)
            return
        problem = _problem(current)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreUnavailable(f"cannot use the store: {exc.__class__.__name__}: {exc}") from exc
    if problem is not None:
        raise SchemaNotCurrent(problem)
