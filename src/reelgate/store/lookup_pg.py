"""A point lookup on PostgreSQL straight on the asyncpg connection (issue 19).

Through SQLAlchemy a lookup by id costs about 1 CPU ms in the gateway, twice what the
driver needs for it: the ``run_sync`` greenlet, the execution context, the parameter
and result processing around one prepared statement. Here the statement is compiled
once (SQLAlchemy's own SQL, with its numbered parameters) and run with ``fetchrow`` on
the pooled connection's asyncpg connection, prepared once per connection by asyncpg's
statement cache; the pool, its checkout events (``database.ping_when_idle``) and the
connection's codecs stay SQLAlchemy's. The record is read by column name like a
``Row``'s mapping (``task_rows.to_task``): asyncpg decodes ``timestamptz`` as UTC and
JSON with the codecs SQLAlchemy set on the connection, so the task read is the same.

Outside a transaction: asyncpg runs it in autocommit, one round trip. A connection the
server closed while it was pooled is dropped from the pool and the lookup goes the
SQLAlchemy way (``transactions.read``), which recycles the pool and tries once more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True, slots=True)
class RawRow:
    """An asyncpg record as ``to_task`` reads a row: by name, on ``_mapping``."""

    _mapping: Mapping[str, Any]


@dataclass(frozen=True)
class Compiled:
    """A statement's SQL for asyncpg and the order of its parameters."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]  # the statement's own values (its LIMIT)

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        given = {**self.fixed, **params}
        return [given[name] for name in self.names]


def compile_for(statement: Select[Any], dialect: Dialect) -> Compiled:
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    fixed = {name: bind.effective_value for name, bind in compiled.binds.items()}
    return Compiled(compiled.string, names, fixed)


async def first_of(
    engine: AsyncEngine,
    statements: Sequence[Compiled],
    params: Mapping[str, Any],
    fallback: Callable[[], Awaitable[Any]],
) -> Any:
    """The first row of the first statement that finds one (a ``RawRow``), or None;
    what ``fallback`` answers if the connection was dead."""
    async with engine.connect() as aconn:
        driver = (await aconn.get_raw_connection()).driver_connection
        assert driver is not None
        try:
            for statement in statements:
                record = await driver.fetchrow(statement.sql, *statement.args(params))
                if record is not None:
                    return RawRow(record)
            return None
        except Exception:
            if not driver.is_closed():
                raise
            await aconn.invalidate()  # dead: not back into the pool
    return await fallback()  # SQLAlchemy sees the disconnect and recycles the pool
