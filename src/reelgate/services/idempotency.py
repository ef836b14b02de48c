"""The use cases of an ``Idempotency-Key`` (api/idempotency.py holds the HTTP side): claim
the key for one request, renew its lease while it runs, keep its answer or let it go.

The times come from here, not from the caller: a key lives ``ttl`` and its first request
holds it for one ``lease`` at a time (store/idempotency.py has the compare-and-set).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reelgate.store.idempotency import IN_PROGRESS, IdempotencyStore, Stored

__all__ = ["IN_PROGRESS", "IdempotencyService", "Stored"]


class IdempotencyService:
    def __init__(self, store: IdempotencyStore, *, ttl_s: float, lease_s: float) -> None:
        self._store = store
        self._ttl = timedelta(seconds=ttl_s)
        self.lease = timedelta(seconds=lease_s)

    async def begin(self, account_id: int, key: str, fingerprint: str, owner: str) -> Stored | None:
        """Claim the key for ``owner`` (None), or what an earlier request with it left."""
        now = datetime.now(UTC)
        return await self._store.begin(
            account_id, key, fingerprint, now, now + self._ttl, owner=owner, lease=self.lease
        )

    async def renew(self, account_id: int, key: str, owner: str) -> bool:
        """Extend ``owner``'s lease by one from now; False if the key was taken over."""
        return await self._store.renew(account_id, key, owner, datetime.now(UTC) + self.lease)

    async def finish(
        self, account_id: int, key: str, owner: str, status_code: int, response: Any
    ) -> bool:
        """Keep the answer; False (nothing kept) if another request took the key over."""
        return await self._store.finish(account_id, key, owner, status_code, response)

    async def abandon(self, account_id: int, key: str, owner: str) -> None:
        """Forget an attempt that ended in a retryable error, so a retry runs again."""
        await self._store.abandon(account_id, key, owner)
