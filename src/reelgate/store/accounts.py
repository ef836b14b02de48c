"""Accounts, API keys and the small key/value ``meta`` table."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.accounts import Account as Account  # re-exported: they lived here
from reelgate.domain.accounts import ApiKey as ApiKey
from reelgate.domain.bounds import MAX_BALANCE
from reelgate.errors import Conflict, InvalidParams, NotFound
from reelgate.store.database import begin
from reelgate.store.money import move
from reelgate.store.tables import accounts, api_keys, meta

# The account-wide limits an operator can change (PATCH /admin/v1/accounts/{id}).
ACCOUNT_LIMITS = ("rpm_limit", "max_in_flight")


def _account(row: Any) -> Account:
    return Account(
        row.id,
        row.name,
        row.status,
        row.balance,
        row.created_at,
        rpm_limit=row.rpm_limit,
        max_in_flight=row.max_in_flight,
    )


# The account's columns a key is read with.
_KEY_ACCOUNT = (
    accounts.c.status.label("account_status"),
    accounts.c.rpm_limit.label("account_rpm_limit"),
    accounts.c.max_in_flight.label("account_max_in_flight"),
)


class AccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create_account(
        self,
        name: str,
        balance: int = 0,
        *,
        rpm_limit: int | None = None,
        max_in_flight: int | None = None,
    ) -> Account:
        now = datetime.now(UTC)
        try:
            async with begin(self._engine) as conn:
                row = (
                    await conn.execute(
                        insert(accounts)
                        .values(
                            name=name,
                            status="active",
                            balance=balance,
                            created_at=now,
                            rpm_limit=rpm_limit,
                            max_in_flight=max_in_flight,
                        )
                        .returning(*accounts.c)
                    )
                ).one()
        except IntegrityError:
            raise Conflict(f"an account named {name!r} exists already") from None
        return _account(row)

    async def get_account(self, account_id: int) -> Account | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(accounts).where(accounts.c.id == account_id))
            ).one_or_none()
        return _account(row) if row else None

    async def top_up(self, account_id: int, amount: int, note: str | None = None) -> int:
        """Add credit; returns the new balance."""
        if amount <= 0:
            raise InvalidParams("a top-up must be a positive whole number of minor units")
        async with begin(self._engine) as conn:
            # the no-op update locks the row, so the balance read is the one added to
            balance = (
                await conn.execute(
                    update(accounts)
                    .where(accounts.c.id == account_id)
                    .values(id=accounts.c.id)
                    .returning(accounts.c.balance)
                )
            ).scalar_one_or_none()
            if balance is None:
                raise NotFound("no such account")
            if balance + amount > MAX_BALANCE:  # a BIGINT would overflow further on
                raise InvalidParams(
                    f"the balance would exceed {MAX_BALANCE} minor units; it is {balance}"
                )
            return await move(
                conn,
                account_id=account_id,
                kind="topup",
                amount=amount,
                now=datetime.now(UTC),
                note=note,
            )

    async def list_accounts(self) -> list[Account]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(accounts).order_by(accounts.c.id))).all()
        return [_account(r) for r in rows]

    async def set_status(self, account_id: int, status: str) -> Account | None:
        async with begin(self._engine) as conn:
            row = (
                await conn.execute(
                    update(accounts)
                    .where(accounts.c.id == account_id)
                    .values(status=status)
                    .returning(*accounts.c)
                )
            ).one_or_none()
        return _account(row) if row else None

    async def set_limits(
        self, account_id: int, changes: Mapping[str, int | None]
    ) -> Account | None:
        """Change the account-wide limits named in ``changes`` (None clears one)."""
        unknown = set(changes) - set(ACCOUNT_LIMITS)
        if unknown:
            raise ValueError(f"not an account limit: {', '.join(sorted(unknown))}")
        async with begin(self._engine) as conn:
            row = (
                await conn.execute(
                    update(accounts)
                    .where(accounts.c.id == account_id)
                    .values(id=accounts.c.id, **changes)  # no changes: still the row
                    .returning(*accounts.c)
                )
            ).one_or_none()
        return _account(row) if row else None

    async def list_keys(self, account_id: int) -> list[ApiKey]:
        query = (
            select(api_keys, *_KEY_ACCOUNT)
            .join(accounts, accounts.c.id == api_keys.c.account_id)
            .where(api_keys.c.account_id == account_id)
            .order_by(api_keys.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_key(r) for r in rows]

    async def revoke_key(self, key_id: int) -> ApiKey | None:
        now = datetime.now(UTC)
        async with begin(self._engine) as conn:
            row = (
                await conn.execute(
                    update(api_keys)
                    .where(api_keys.c.id == key_id)
                    .values(revoked_at=func.coalesce(api_keys.c.revoked_at, now))
                    .returning(*api_keys.c)
                )
            ).one_or_none()
        return _key(row) if row else None

    async def key_hash(self, key_id: int) -> str | None:
        async with self._engine.connect() as conn:
            return (
                await conn.execute(select(api_keys.c.hash).where(api_keys.c.id == key_id))
            ).scalar_one_or_none()

    async def get_account_by_name(self, name: str) -> Account | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(accounts).where(accounts.c.name == name))
            ).one_or_none()
        return _account(row) if row else None

    async def count_accounts(self) -> int:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(accounts.c.id).limit(1))).all()
        return len(rows)

    async def create_key(
        self,
        *,
        account_id: int,
        name: str,
        prefix: str,
        key_hash: str,
        models: list[str] | None = None,
        rpm_limit: int | None = None,
        max_in_flight: int | None = None,
        expires_at: datetime | None = None,
    ) -> ApiKey:
        now = datetime.now(UTC)
        try:
            async with begin(self._engine) as conn:
                row = (
                    await conn.execute(
                        insert(api_keys)
                        .values(
                            account_id=account_id,
                            name=name,
                            prefix=prefix,
                            hash=key_hash,
                            models=models,
                            rpm_limit=rpm_limit,
                            max_in_flight=max_in_flight,
                            expires_at=expires_at,
                            created_at=now,
                        )
                        .returning(*api_keys.c)
                    )
                ).one()
        except IntegrityError:
            raise Conflict("a key with this secret exists already") from None
        return _key(row)

    async def find_key(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, with its account's status and limits, or None."""
        query = (
            select(api_keys, *_KEY_ACCOUNT)
            .join(accounts, accounts.c.id == api_keys.c.account_id)
            .where(api_keys.c.hash == key_hash)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).one_or_none()
        return _key(row) if row else None

    async def get_meta(self, key: str) -> str | None:
        async with self._engine.connect() as conn:
            return (
                await conn.execute(select(meta.c.value).where(meta.c.key == key))
            ).scalar_one_or_none()

    async def set_meta(self, key: str, value: str) -> None:
        for _ in range(2):
            async with begin(self._engine) as conn:
                done = await conn.execute(update(meta).where(meta.c.key == key).values(value=value))
            if done.rowcount:
                return
            try:
                async with begin(self._engine) as conn:
                    await conn.execute(insert(meta).values(key=key, value=value))
                return
            except IntegrityError:  # another process inserted it meanwhile: update that
                continue
        raise RuntimeError(f"meta {key!r} could be neither inserted nor updated")

    async def claim_meta(self, key: str, value: str) -> tuple[str, bool]:
        """Store ``value`` under ``key`` unless one is there: (the stored value, whether ours)."""
        try:
            async with begin(self._engine) as conn:
                await conn.execute(insert(meta).values(key=key, value=value))
            return value, True
        except IntegrityError:  # another process got there first
            stored = await self.get_meta(key)
            assert stored is not None
            return stored, False


def _key(row: Any) -> ApiKey:
    """A key from its row; the account's status and limits where the row was read with
    them (``_KEY_ACCOUNT``), else an active account's defaults."""
    fields = row._mapping
    return ApiKey(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        prefix=row.prefix,
        models=row.models,
        rpm_limit=row.rpm_limit,
        max_in_flight=row.max_in_flight,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        created_at=row.created_at,
        account_status=fields.get("account_status", "active"),
        account_rpm_limit=fields.get("account_rpm_limit"),
        account_max_in_flight=fields.get("account_max_in_flight"),
    )
