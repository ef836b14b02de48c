"""The store's side of issue 14 on the configured database (SQLite and PostgreSQL): an
account's own limits, carried on its keys and checked under its lock, and the upstream
file object's other fields kept with the task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reelgate.domain.tasks import TaskStatus, VideoFile
from reelgate.errors import RateLimited
from reelgate.store import database
from reelgate.store.accounts import AccountStore
from reelgate.store.tasks import NewTask, TaskStore
from tests.support import fresh_database, new_task


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[AccountStore, TaskStore]]:
    with fresh_database(tmp_path) as url:
        engine = database.create_engine(url)
        try:
            await database.upgrade(engine)
            yield AccountStore(engine), TaskStore(engine)
        finally:
            await engine.dispose()


async def _key(accounts: AccountStore, account_id: int, name: str) -> int:
    key = await accounts.create_key(
        account_id=account_id, name=name, prefix=name, key_hash=f"hash-{account_id}-{name}"
    )
    return key.id


async def test_limits_are_kept_changed_and_cleared(
    stores: tuple[AccountStore, TaskStore],
) -> None:
    accounts, _ = stores
    account = await accounts.create_account("limited", rpm_limit=5, max_in_flight=2)
    assert (account.rpm_limit, account.max_in_flight) == (5, 2)
    await _key(accounts, account.id, "a")
    found = await accounts.find_key(f"hash-{account.id}-a")
    assert found is not None
    assert (found.account_rpm_limit, found.account_max_in_flight) == (5, 2)
    assert found.rpm_limit is None and found.max_in_flight is None  # the key's own: none

    changed = await accounts.set_limits(account.id, {"rpm_limit": 7})
    assert changed is not None and (changed.rpm_limit, changed.max_in_flight) == (7, 2)
    cleared = await accounts.set_limits(account.id, {"max_in_flight": None})
    assert cleared is not None and (cleared.rpm_limit, cleared.max_in_flight) == (7, None)
    unchanged = await accounts.set_limits(account.id, {})
    assert unchanged == cleared
    (listed,) = await accounts.list_keys(account.id)
    assert (listed.account_rpm_limit, listed.account_max_in_flight) == (7, None)
    assert await accounts.set_limits(10**9, {"rpm_limit": 1}) is None
    with pytest.raises(ValueError):
        await accounts.set_limits(account.id, {"balance": 10**9})


async def test_account_in_flight_is_exact_across_keys(
    stores: tuple[AccountStore, TaskStore],
) -> None:
    accounts, tasks = stores
    account = await accounts.create_account("busy", balance=0, max_in_flight=3)
    other = await accounts.create_account("other")
    keys = [await _key(accounts, account.id, name) for name in ("a", "b")]
    now = datetime.now(UTC)

    # ten creates race over two keys: exactly the limit gets in
    results = await asyncio.gather(
        *(tasks.insert(_limited(account.id, keys[i % 2], 3), now) for i in range(10)),
        return_exceptions=True,
    )
    stored = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(stored) == 3 and len(refused) == 7
    assert all(isinstance(r, RateLimited) for r in refused)
    assert "account" in str(refused[0]) and "max_in_flight" in str(refused[0])
    # another account is not affected
    assert (await tasks.insert(_limited(other.id, None, 1), now)).status is TaskStatus.SUBMITTING
    # a finished task frees a slot for any key of the account
    first = stored[0]
    assert await tasks.mark_refused(first.id, 1000, "refused", now) is not None
    assert (await tasks.insert(_limited(account.id, keys[1], 3), now)).account_id == account.id
    with pytest.raises(RateLimited):
        await tasks.insert(_limited(account.id, keys[0], 3), now)


def _limited(account_id: int, key_id: int | None, limit: int) -> NewTask:
    """A new task whose account allows ``limit`` in flight (its key: no limit)."""
    return replace(new_task(account_id, key_id=key_id), account_max_in_flight=limit)


async def test_file_extra_is_kept_with_the_task(stores: tuple[AccountStore, TaskStore]) -> None:
    accounts, tasks = stores
    account = await accounts.create_account("files")
    now = datetime.now(UTC)
    task = await tasks.insert(new_task(account.id), now)
    await tasks.mark_submitted(task.id, "up-1", now, now)
    extra = {"backup_download_url": "https://mirror.example/v.mp4?sig=1", "n": 3, "ok": True}
    file = VideoFile(file_id="77", width=1280, height=720, bytes=5, extra=extra)
    assert await tasks.record_success(task.id, file, now) is not None
    got = await tasks.get_by_id(task.id)
    assert got is not None and got.file is not None and dict(got.file.extra) == extra
    # a task recorded without any keeps none (NULL), and reads as empty
    plain = await tasks.insert(new_task(account.id), now)
    await tasks.mark_submitted(plain.id, "up-2", now, now)
    await tasks.record_success(plain.id, VideoFile(file_id="78", width=1, height=1), now)
    got = await tasks.get_by_id(plain.id)
    assert got is not None and got.file is not None and dict(got.file.extra) == {}
