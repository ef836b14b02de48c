"""Engines and migrations: SQLite (WAL) by default, PostgreSQL through asyncpg.

Start-up rule (docs/scale.md): the single-process gateway migrates the schema itself; API
replicas and workers only check it and refuse to start on one that is not current, so a
deployment migrates once, on purpose (``reelgate migrate``), never N processes at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


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

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; WAL keeps it safe
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_async_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    def _current(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema up to date (Alembic ``upgrade head``) on the given engine."""

    def _upgrade(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


async def schema_problem(engine: AsyncEngine) -> str | None:
    """What is wrong with the store's schema for this version of reelgate, or None."""
    current, head = await current_revision(engine), head_revision()
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
        if migrate:
            await upgrade(engine)
            return
        problem = await schema_problem(engine)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreUnavailable(f"cannot use the store: {exc.__class__.__name__}: {exc}") from exc
    if problem is not None:
        raise SchemaNotCurrent(problem)
