"""Alembic environment: runs on a connection handed over by reelgate.store.database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from reelgate.store.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # plain `alembic` command line: a sync URL in sqlalchemy.url
    url = context.config.get_main_option("sqlalchemy.url") or ""
    with create_engine(url).connect() as conn:
        _run(conn)
