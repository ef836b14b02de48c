"""Idempotency keys on the configured store: leases, takeover at the boundary, the purge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.polling import PollSchedule
from reelgate.services.tracker import Tracker
from reelgate.store import database, tables
from reelgate.store.accounts import AccountStore
from reelgate.store.idempotency import DONE, IN_PROGRESS, IdempotencyStore
from reelgate.store.tasks import TaskStore
from tests.support import fresh_database

LEASE = timedelta(seconds=30)
TTL = timedelta(hours=24)
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)  # the stores keep microseconds: the smallest step past


@dataclass
class Keys:
    engine: AsyncEngine
    store: IdempotencyStore
    account: int

    async def claim(self, key: str, owner: str, now: datetime, fp: str = "fp") -> bool:
        """True if ``owner`` got the key (claimed or taken over)."""
        found = await self.store.begin(
            self.account, key, fp, now, now + TTL, owner=owner, lease=LEASE
        )
        return found is None

    async def row(self, key: str) -> tuple[str, str | None] | None:
        async with self.engine.connect() as conn:
            found = (
                await conn.execute(
                    select(tables.idempotency_keys.c.state, tables.idempotency_keys.c.owner).where(
                        tables.idempotency_keys.c.key == key
                    )
                )
            ).one_or_none()
        return (found.state, found.owner) if found else None


@pytest.fixture
async def keys(tmp_path: Path) -> AsyncIterator[Keys]:
    with fresh_database(tmp_path) as url:
        engine = database.create_engine(url)
        try:
            await database.upgrade(engine)
            account = await AccountStore(engine).create_account("a")
            yield Keys(engine, IdempotencyStore(engine), account.id)
        finally:
            await engine.dispose()


async def test_a_live_lease_keeps_the_key_until_the_moment_it_ends(keys: Keys) -> None:
    assert await keys.claim("k", "first", T0)
    for now in (T0, T0 + LEASE - TICK, T0 + LEASE):  # not yet passed: still in progress
        found = await keys.store.begin(
            keys.account, "k", "fp", now, now + TTL, owner="retry", lease=LEASE
        )
        assert found is not None and found.state == IN_PROGRESS
        assert found.lease_until == T0 + LEASE
    assert await keys.row("k") == (IN_PROGRESS, "first")


async def test_a_retry_just_after_the_lease_takes_the_key_over(keys: Keys) -> None:
    assert await keys.claim("k", "dead", T0)
    assert await keys.claim("k", "retry", T0 + LEASE + TICK)
    assert await keys.row("k") == (IN_PROGRESS, "retry")
    # the first owner, should it come back, can no longer renew, abandon or finish it
    assert not await keys.store.renew(keys.account, "k", "dead", T0 + 2 * LEASE)
    await keys.store.abandon(keys.account, "k", "dead")
    assert not await keys.store.finish(keys.account, "k", "dead", 200, {"who": "dead"})
    assert await keys.store.finish(keys.account, "k", "retry", 200, {"who": "retry"})
    later = T0 + 3 * LEASE
    found = await keys.store.begin(
        keys.account, "k", "fp", later, later + TTL, owner="x", lease=LEASE
    )
    assert found is not None and found.state == DONE and found.response == {"who": "retry"}


async def test_a_renewed_lease_is_not_taken_over(keys: Keys) -> None:
    assert await keys.claim("k", "alive", T0)
    assert await keys.store.renew(keys.account, "k", "alive", T0 + 2 * LEASE)
    assert not await keys.claim("k", "retry", T0 + LEASE + TICK)
    assert await keys.claim("k", "retry", T0 + 2 * LEASE + TICK)


async def test_another_request_never_takes_a_key_over(keys: Keys) -> None:
    assert await keys.claim("k", "dead", T0)
    assert not await keys.claim("k", "other", T0 + 2 * LEASE, fp="other request")
    assert await keys.row("k") == (IN_PROGRESS, "dead")


async def test_a_finished_key_is_never_taken_over(keys: Keys) -> None:
    assert await keys.claim("k", "first", T0)
    assert await keys.store.finish(keys.account, "k", "first", 200, {"ok": True})
    assert not await keys.claim("k", "retry", T0 + 2 * LEASE)
    assert await keys.row("k") == (DONE, "first")


async def test_two_concurrent_takeovers_one_wins(keys: Keys) -> None:
    for round_ in range(5):
        key = f"k{round_}"
        assert await keys.claim(key, "dead", T0)
        now = T0 + LEASE + TICK
        won = await asyncio.gather(*(keys.claim(key, f"retry{i}", now) for i in range(8)))
        assert sum(won) == 1, won
        winner = f"retry{won.index(True)}"
        assert await keys.row(key) == (IN_PROGRESS, winner)


async def test_a_key_claimed_before_leases_existed_is_taken_over_one_lease_after(
    keys: Keys,
) -> None:
    async with database.begin(keys.engine) as conn:  # a row as migration 0003 found it
        for key in ("old", "recent"):
            created = T0 if key == "old" else T0 + LEASE
            await conn.execute(
                insert(tables.idempotency_keys).values(
                    account_id=keys.account,
                    key=key,
                    fingerprint="fp",
                    state=IN_PROGRESS,
                    created_at=created,
                    expires_at=created + TTL,
                )
            )
    assert await keys.claim("old", "retry", T0 + LEASE + TICK)
    assert not await keys.claim("recent", "retry", T0 + LEASE + TICK)


async def _put(keys: Keys, key: str, expires_at: datetime, state: str = DONE) -> None:
    async with database.begin(keys.engine) as conn:
        await conn.execute(
            insert(tables.idempotency_keys).values(
                account_id=keys.account,
                key=key,
                fingerprint="fp",
                state=state,
                status_code=200 if state == DONE else None,
                response={} if state == DONE else None,
                created_at=expires_at - TTL,
                expires_at=expires_at,
            )
        )


async def test_purge_removes_expired_keys_and_keeps_live_ones(keys: Keys) -> None:
    now = datetime.now(UTC)
    await _put(keys, "expired", now - TICK)
    await _put(keys, "expired-in-progress", now - TTL, IN_PROGRESS)
    await _put(keys, "at-the-moment", now)  # expires_at == now: not yet expired
    await _put(keys, "live", now + TTL)
    await _put(keys, "live-in-progress", now + TTL, IN_PROGRESS)
    assert await keys.store.purge(now) == 2
    for key in ("expired", "expired-in-progress"):
        assert await keys.row(key) is None
    for key in ("at-the-moment", "live", "live-in-progress"):
        assert await keys.row(key) is not None


async def test_the_trackers_sweep_purges_expired_keys_once_a_minute(keys: Keys) -> None:
    schedule = PollSchedule(initial=1, maximum=30)
    tracker = Tracker(
        tasks=TaskStore(keys.engine),
        router=SimpleNamespace(),  # type: ignore[arg-type]  # a sweep without copies never calls it
        files=SimpleNamespace(copies=False),  # type: ignore[arg-type]
        schedule=schedule,
        pushed_schedule=schedule,
        batch=10,
        concurrency=1,
        lease=timedelta(seconds=60),
        purge=keys.store.purge,
    )
    now = datetime.now(UTC)
    await _put(keys, "expired", now - timedelta(seconds=1))
    await _put(keys, "live", now + TTL)
    await tracker.sweep()
    assert await keys.row("expired") is None
    assert await keys.row("live") is not None
    await _put(keys, "expired-later", now - timedelta(seconds=1))
    await tracker.sweep()  # within the minute: the purge waits, the rest of the sweep runs
    assert await keys.row("expired-later") is not None
