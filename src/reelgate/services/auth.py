"""Who is calling: API keys for clients, the admin token for operators."""

from __future__ import annotations

import hmac
import time
from datetime import UTC, datetime

from reelgate.errors import Forbidden, InvalidApiKey, RateLimited, Unauthorized
from reelgate.services.keys import hash_secret
from reelgate.services.limits import RateLimiter
from reelgate.store.accounts import AccountStore, ApiKey

ADMIN_HASH_META = "admin_token_sha256"


class Authenticator:
    """Resolves bearer tokens; keys are cached briefly so a query costs no extra round trip."""

    def __init__(self, accounts: AccountStore, limiter: RateLimiter, cache_s: float = 2.0) -> None:
        self._accounts = accounts
        self._limiter = limiter
        self._cache_s = cache_s
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        # (read at, hash): re-read after cache_s like the keys, so that a token replaced in
        # the store (`reelgate recover admin-token`) takes over in a running gateway
        self._admin: tuple[float, str | None] | None = None

    async def api_key(self, token: str | None) -> ApiKey:
        if token is None:
            raise Unauthorized(
                "authorization header is missing or malformed; "
                "send 'Authorization: Bearer <API key>'"
            )
        return await self.api_key_by_hash(hash_secret(token))

    async def api_key_by_hash(self, digest: str) -> ApiKey:
        """As ``api_key``, from the key's hash (the console keeps only that per session)."""
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < self._cache_s:
            key = hit[1]
        else:
            key = await self._accounts.find_key(digest)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now, key)
        if key is None:
            raise InvalidApiKey("invalid api key")
        if key.revoked_at is not None:
            raise InvalidApiKey("invalid api key: this key was revoked")
        if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
            raise InvalidApiKey("invalid api key: this key has expired")
        if key.account_status != "active":
            raise Forbidden(f"the account is {key.account_status}")
        if key.rpm_limit is not None and not await self._limiter.allow(
            f"rpm:{key.id}", key.rpm_limit, 60.0
        ):
            raise RateLimited(
                f"rate limit exceeded: this key allows {key.rpm_limit} requests per minute "
                "(rpm_limit); retry later"
            )
        # The account's window over all of its keys, as MiniMax counts its limits: after
        # the key's, so that a key over its own limit spends none of its siblings' budget.
        limit = key.account_rpm_limit
        if limit is not None and not await self._limiter.allow(
            f"rpm:account:{key.account_id}", limit, 60.0
        ):
            raise RateLimited(
                f"rate limit exceeded: this account allows {limit} requests per minute "
                "over all of its keys (the account's rpm_limit); retry later"
            )
        return key

    def forget(self, key_hash: str | None = None) -> None:
        """Drop cached keys (after a revocation in this process)."""
        if key_hash is None:
            self._cache.clear()
        else:
            self._cache.pop(key_hash, None)

    async def admin(self, token: str | None) -> None:
        if token is None:
            raise Unauthorized("send 'Authorization: Bearer <admin token>'")
        await self.admin_by_hash(hash_secret(token))

    async def admin_by_hash(self, digest: str) -> None:
        """As ``admin``, from the token's hash (the console keeps only that per session)."""
        now = time.monotonic()
        if self._admin is None or now - self._admin[0] >= self._cache_s:
            self._admin = (now, await self._accounts.get_meta(ADMIN_HASH_META))
        stored = self._admin[1]
        if stored is None or not hmac.compare_digest(stored, digest):
            raise Unauthorized("invalid admin token")
