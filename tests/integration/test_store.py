"""The store on the configured database: migrations, compare-and-set, leases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, update
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.ids import new_platform_id
from reelgate.domain.tasks import TaskStatus, UpstreamStatus, VideoFile
from reelgate.store import database, tables
from reelgate.store.accounts import AccountStore
from reelgate.store.tables import metadata
from reelgate.store.tasks import NewTask, TaskStore
from tests.support import fresh_database


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[AccountStore, TaskStore]]:
    with fresh_database(tmp_path) as url:
        engine = database.create_engine(url)
        try:
            await database.upgrade(engine)
            assert await database.current_revision(engine) == database.HEAD_REVISION
            assert database.head_revision() == database.HEAD_REVISION  # kept in step
            yield AccountStore(engine), TaskStore(engine)
        finally:
            await engine.dispose()


async def _task(accounts: AccountStore, tasks: TaskStore, account_name: str = "a") -> int:
    account = await accounts.get_account_by_name(account_name) or await accounts.create_account(
        account_name
    )
    now = datetime.now(UTC)
    task = await tasks.insert(
        NewTask(
            platform_id=new_platform_id(),
            account_id=account.id,
            api_key_id=None,
            model="T2V-01",
            mode="t2v",
            channel="sandbox",
            request={"prompt": "x"},
            duration=6,
            resolution="720P",
            price=0,
            callback_url=None,
            deadline_at=now + timedelta(hours=2),
        ),
        now,
    )
    submitted = await tasks.mark_submitted(task.id, f"up-{task.id}", now, now)
    assert submitted is not None and submitted.status is TaskStatus.QUEUED
    return task.id


FILE = VideoFile(file_id="42", width=1280, height=720, bytes=10)


def _schema(conn: Connection) -> dict[str, Any]:
    """Every table as the database describes it: columns, keys, indexes, constraints."""
    found = inspect(conn)
    return {
        name: {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(name)
            ],
            "primary key": found.get_pk_constraint(name)["constrained_columns"],
            "foreign keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in found.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(name)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in found.get_unique_constraints(name)
            ),
        }
        for name in sorted(found.get_table_names())
    }


async def _migrate(engine: AsyncEngine, direction: str, revision: str) -> dict[str, Any]:
    """Run Alembic's ``upgrade`` or ``downgrade`` to ``revision``; the schema after it."""
    from alembic import command

    def _run(conn: Connection) -> dict[str, Any]:
        cfg = database.alembic_config()
        cfg.attributes["connection"] = conn
        getattr(command, direction)(cfg, revision)
        return _schema(conn)

    async with engine.begin() as conn:
        return await conn.run_sync(_run)


def _revisions() -> list[str]:
    """The migrations' revisions, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(database.alembic_config())
    return [r.revision for r in reversed(list(scripts.walk_revisions()))]


async def test_migrations_are_idempotent(stores: tuple[AccountStore, TaskStore]) -> None:
    """A second upgrade on a current store changes nothing: the same revision, the schema
    of tables.py, and the data left as it was."""
    accounts, _ = stores
    engine = accounts._engine
    kept = await accounts.create_account("kept")
    async with engine.connect() as conn:
        before = await conn.run_sync(_schema)
    await database.upgrade(engine)
    assert await database.current_revision(engine) == database.HEAD_REVISION
    async with engine.connect() as conn:
        assert await conn.run_sync(_schema) == before
        diff = await conn.run_sync(
            lambda c: list(compare_metadata(MigrationContext.configure(c), metadata))
        )
    assert diff == []
    assert await accounts.get_account(kept.id) == kept
    assert set(before) == set(metadata.tables) | {"alembic_version"}


async def test_each_downgrade_undoes_its_upgrade(
    stores: tuple[AccountStore, TaskStore], tmp_path: Path
) -> None:
    """Downgrading a current store to each earlier revision gives exactly the schema that
    upgrading a new store to that revision gives; down to nothing, and up again to the
    schema of tables.py."""
    accounts, _ = stores
    engine = accounts._engine
    revisions = _revisions()
    assert revisions[-1] == database.HEAD_REVISION and len(revisions) >= 2
    with fresh_database(tmp_path / "reference") as url:
        reference = database.create_engine(url)
        try:  # a new store, upgraded one revision at a time
            upgraded = {r: await _migrate(reference, "upgrade", r) for r in revisions[:-1]}
        finally:
            await reference.dispose()
    for revision in reversed(revisions[:-1]):
        assert await _migrate(engine, "downgrade", revision) == upgraded[revision], revision
        assert await database.current_revision(engine) == revision
    assert set(await _migrate(engine, "downgrade", "base")) <= {"alembic_version"}
    assert await database.current_revision(engine) is None
    await database.upgrade(engine)
    assert await database.current_revision(engine) == database.HEAD_REVISION
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: list(compare_metadata(MigrationContext.configure(c), metadata))
        )
    assert diff == []


async def test_migrations_build_exactly_the_tables(
    stores: tuple[AccountStore, TaskStore],
) -> None:
    """Each schema change comes with its migration: a migrated store equals tables.py."""
    accounts, _ = stores

    def _diff(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    async with accounts._engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_terminal_transition_happens_once(stores: tuple[AccountStore, TaskStore]) -> None:
    accounts, tasks = stores
    task_id = await _task(accounts, tasks)
    now = datetime.now(UTC)
    results = await asyncio.gather(
        tasks.record_success(task_id, FILE, now),
        tasks.record_failure(task_id, 1000, "boom", now, reason="upstream_failed"),
        tasks.record_success(task_id, FILE, now),
    )
    assert sum(r is not None for r in results) == 1
    # a later poll result is ignored once the task is finished
    task = await tasks.get_by_id(task_id)
    assert task is not None
    late = await tasks.record_progress(task, "x", UpstreamStatus.PROCESSING, now, now)
    assert late is None


async def test_claims_never_overlap(stores: tuple[AccountStore, TaskStore]) -> None:
    accounts, tasks = stores
    ids = {await _task(accounts, tasks) for _ in range(30)}
    now = datetime.now(UTC) + timedelta(seconds=1)
    claims = await asyncio.gather(
        *(tasks.claim_due(f"w{i}", now, 10, timedelta(seconds=30)) for i in range(5))
    )
    claimed = [t.id for batch in claims for t in batch]
    assert len(claimed) == len(set(claimed)) == 30
    assert set(claimed) == ids
    # leased: nothing more to claim until the lease runs out
    assert await tasks.claim_due("late", now, 100, timedelta(seconds=30)) == []
    expired = now + timedelta(seconds=31)
    assert len(await tasks.claim_due("next", expired, 100, timedelta(seconds=30))) == 30


async def test_lookup_by_either_id_is_per_account(stores: tuple[AccountStore, TaskStore]) -> None:
    accounts, tasks = stores
    task_id = await _task(accounts, tasks, "owner")
    other = await accounts.create_account("other")
    task = await tasks.get_by_id(task_id)
    assert task is not None and task.upstream_task_id is not None
    assert await tasks.get(task.account_id, task.platform_id) == task
    assert await tasks.get(task.account_id, task.upstream_task_id) == task
    assert await tasks.get(other.id, task.platform_id) is None
    assert await tasks.get(other.id, task.upstream_task_id) is None


async def test_an_upstream_id_shaped_like_ours_is_still_found(
    stores: tuple[AccountStore, TaskStore],
) -> None:
    accounts, tasks = stores
    task_id = await _task(accounts, tasks)
    await tasks.note_upstream_id(task_id, "x", "sandbox")  # already set: unchanged
    task = await tasks.get_by_id(task_id)
    assert task is not None
    async with tasks._engine.begin() as conn:
        await conn.execute(
            update(tables.tasks)
            .where(tables.tasks.c.id == task_id)
            .values(upstream_task_id="video_upstream-1")
        )
    assert await tasks.get(task.account_id, "video_upstream-1") is not None
    assert await tasks.get(task.account_id, "video_nothing") is None


@pytest.mark.sqlite_only  # PostgreSQL plans by statistics: the plan checked is SQLite's
async def test_lookup_by_upstream_id_uses_the_account_index(
    stores: tuple[AccountStore, TaskStore],
) -> None:
    """An OR of the two ids made SQLite walk all of an account's tasks (docs/benchmarks.md)."""
    accounts, _ = stores
    assert accounts._engine.dialect.name == "sqlite"
    query = (
        "EXPLAIN QUERY PLAN SELECT * FROM tasks "
        "WHERE account_id = 1 AND upstream_task_id = 'up-1' LIMIT 1"
    )
    async with accounts._engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in await conn.exec_driver_sql(query))
    assert "ix_tasks_account_upstream (account_id=? AND upstream_task_id=?)" in plan
