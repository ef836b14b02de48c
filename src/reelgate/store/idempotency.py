"""Idempotency keys: the first answer per (account, key) is kept and replayed.

A claimed key is ``in_progress`` under a lease: it names its owner (one request) and
until when it holds the key. The owner renews the lease while it runs and then finishes
(or abandons) the key; a retry that finds the lease passed takes the key over with one
compare-and-set, so that of two such retries exactly one runs, and a key whose process
died is free again after one lease rather than after its whole lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.store.database import begin
from reelgate.store.tables import idempotency_keys as keys

IN_PROGRESS, DONE = "in_progress", "done"


@dataclass(frozen=True, slots=True)
class Stored:
    fingerprint: str
    state: str
    status_code: int | None
    response: Any
    lease_until: datetime | None = None


class IdempotencyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def begin(
        self,
        account_id: int,
        key: str,
        fingerprint: str,
        now: datetime,
        expires_at: datetime,
        *,
        owner: str,
        lease: timedelta,
    ) -> Stored | None:
        """Claim the key for ``owner`` until ``now + lease`` (None), or return what an
        earlier request with it left. A key in progress whose lease has passed, asked for
        with the same request, is taken over: claimed (None)."""
        for _ in range(2):
            try:
                async with begin(self._engine) as conn:
                    await conn.execute(
                        insert(keys).values(
                            account_id=account_id,
                            key=key,
                            fingerprint=fingerprint,
                            state=IN_PROGRESS,
                            created_at=now,
                            expires_at=expires_at,
                            owner=owner,
                            lease_until=now + lease,
                        )
                    )
                return None
            except IntegrityError:
                pass
            this = and_(keys.c.account_id == account_id, keys.c.key == key)
            async with begin(self._engine) as conn:
                # an expired key starts afresh
                await conn.execute(delete(keys).where(this, keys.c.expires_at < now))
                # Compare-and-set: the condition is re-checked on the row as it is when the
                # update runs (PostgreSQL re-reads a row it waited for; SQLite has one
                # writer), so of two retries that both saw the lease passed, one wins.
                taken = await conn.execute(
                    update(keys)
                    .where(
                        this,
                        keys.c.state == IN_PROGRESS,
                        keys.c.fingerprint == fingerprint,
                        _lease_passed(now, lease),
                    )
                    .values(owner=owner, lease_until=now + lease)
                )
                if taken.rowcount == 1:
                    return None
                row = (await conn.execute(select(keys).where(this))).one_or_none()
            if row is not None:
                return Stored(
                    row.fingerprint, row.state, row.status_code, row.response, row.lease_until
                )
        raise RuntimeError("idempotency key could be neither claimed nor read")

    async def renew(self, account_id: int, key: str, owner: str, lease_until: datetime) -> bool:
        """Extend ``owner``'s lease; False if the key is no longer its own (taken over)."""
        async with begin(self._engine) as conn:
            done = await conn.execute(
                update(keys)
                .where(*self._owned(account_id, key, owner))
                .values(lease_until=lease_until)
            )
        return done.rowcount == 1

    async def finish(
        self, account_id: int, key: str, owner: str, status_code: int, response: Any
    ) -> bool:
        """Keep the answer; False (nothing kept) if another request took the key over."""
        async with begin(self._engine) as conn:
            done = await conn.execute(
                update(keys)
                .where(*self._owned(account_id, key, owner))
                .values(state=DONE, status_code=status_code, response=response, lease_until=None)
            )
        return done.rowcount == 1

    async def abandon(self, account_id: int, key: str, owner: str) -> None:
        """Forget an attempt that ended in a retryable error, so a retry runs again."""
        async with begin(self._engine) as conn:
            await conn.execute(delete(keys).where(*self._owned(account_id, key, owner)))

    async def purge(self, now: datetime) -> int:
        """Delete the keys that have expired; how many."""
        async with begin(self._engine) as conn:
            done = await conn.execute(delete(keys).where(keys.c.expires_at < now))
        return int(done.rowcount or 0)

    @staticmethod
    def _owned(account_id: int, key: str, owner: str) -> tuple[ColumnElement[bool], ...]:
        return (
            keys.c.account_id == account_id,
            keys.c.key == key,
            keys.c.state == IN_PROGRESS,
            keys.c.owner == owner,
        )


def _lease_passed(now: datetime, lease: timedelta) -> ColumnElement[bool]:
    # rows claimed before leases existed (migration 0003) have none: their claim time
    # plus one lease stands in for it
    return or_(
        keys.c.lease_until < now,
        and_(keys.c.lease_until.is_(None), keys.c.created_at < now - lease),
    )
