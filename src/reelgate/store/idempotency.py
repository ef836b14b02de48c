"""Idempotency keys: the first answer per (account, key) is kept and replayed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
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


class IdempotencyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def begin(
        self, account_id: int, key: str, fingerprint: str, now: datetime, expires_at: datetime
    ) -> Stored | None:
        """Claim the key (None) or return what an earlier request with it left."""
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
                        )
                    )
                return None
            except IntegrityError:
                pass
            async with begin(self._engine) as conn:
                # an expired key starts afresh
                await conn.execute(
                    delete(keys).where(
                        keys.c.account_id == account_id, keys.c.key == key, keys.c.expires_at < now
                    )
                )
                row = (
                    await conn.execute(
                        select(keys).where(keys.c.account_id == account_id, keys.c.key == key)
                    )
                ).one_or_none()
            if row is not None:
                return Stored(row.fingerprint, row.state, row.status_code, row.response)
        raise RuntimeError("idempotency key could be neither claimed nor read")

    async def finish(self, account_id: int, key: str, status_code: int, response: Any) -> None:
        async with begin(self._engine) as conn:
            await conn.execute(
                update(keys)
                .where(keys.c.account_id == account_id, keys.c.key == key)
                .values(state=DONE, status_code=status_code, response=response)
            )

    async def abandon(self, account_id: int, key: str) -> None:
        """Forget an attempt that ended in a retryable error, so a retry runs again."""
        async with begin(self._engine) as conn:
            await conn.execute(
                delete(keys).where(
                    keys.c.account_id == account_id, keys.c.key == key, keys.c.state == IN_PROGRESS
                )
            )

    async def purge(self, now: datetime) -> int:
        async with begin(self._engine) as conn:
            done = await conn.execute(delete(keys).where(keys.c.expires_at < now))
        return int(done.rowcount or 0)
