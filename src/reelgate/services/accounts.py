"""Operator use cases: accounts, keys, top-ups, suspension, usage and the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from reelgate.domain.catalog import MODELS
from reelgate.errors import InvalidParams, NotFound
from reelgate.services.auth import Authenticator
from reelgate.services.keys import IssuedKey, issue_key
from reelgate.store.accounts import Account, AccountStore, ApiKey
from reelgate.store.reports import LedgerEntry, Reports, UsageRow


class AccountService:
    def __init__(self, *, accounts: AccountStore, reports: Reports, auth: Authenticator) -> None:
        self._accounts = accounts
        self._reports = reports
        self._auth = auth

    async def create(
        self,
        name: str,
        initial_credit: int = 0,
        *,
        rpm_limit: int | None = None,
        max_in_flight: int | None = None,
    ) -> Account:
        if not name.strip():
            raise InvalidParams("an account needs a name")
        _check_limits({"rpm_limit": rpm_limit, "max_in_flight": max_in_flight})
        account = await self._accounts.create_account(
            name.strip(), rpm_limit=rpm_limit, max_in_flight=max_in_flight
        )
        if initial_credit:
            await self._accounts.top_up(account.id, initial_credit, "initial credit")
            account = await self.get(account.id)
        return account

    async def get(self, account_id: int) -> Account:
        account = await self._accounts.get_account(account_id)
        if account is None:
            raise NotFound(f"no account {account_id}")
        return account

    async def list_all(self) -> list[Account]:
        return await self._accounts.list_accounts()

    async def top_up(self, account_id: int, amount: int, note: str | None) -> Account:
        await self.get(account_id)
        await self._accounts.top_up(account_id, amount, note)
        return await self.get(account_id)

    async def set_status(self, account_id: int, status: str) -> Account:
        account = await self._accounts.set_status(account_id, status)
        if account is None:
            raise NotFound(f"no account {account_id}")
        self._auth.forget()  # its keys answer differently now
        return account

    async def set_limits(self, account_id: int, changes: Mapping[str, int | None]) -> Account:
        """Change the account-wide limits named in ``changes``; None clears one."""
        _check_limits(changes)
        account = await self._accounts.set_limits(account_id, changes)
        if account is None:
            raise NotFound(f"no account {account_id}")
        self._auth.forget()  # its keys carry the account's limits: read them afresh
        return account

    async def create_key(
        self,
        account_id: int,
        *,
        name: str,
        models: list[str] | None = None,
        rpm_limit: int | None = None,
        max_in_flight: int | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, IssuedKey]:
        await self.get(account_id)
        unknown = [m for m in models or [] if m not in MODELS]
        if unknown:
            raise InvalidParams(f"unknown models: {', '.join(unknown)}")
        _check_limits({"rpm_limit": rpm_limit, "max_in_flight": max_in_flight})
        expires_at = _utc(expires_at)
        issued = issue_key()
        key = await self._accounts.create_key(
            account_id=account_id,
            name=name,
            prefix=issued.prefix,
            key_hash=issued.hash,
            models=models,
            rpm_limit=rpm_limit,
            max_in_flight=max_in_flight,
            expires_at=expires_at,
        )
        return key, issued

    async def list_keys(self, account_id: int) -> list[ApiKey]:
        await self.get(account_id)
        return await self._accounts.list_keys(account_id)

    async def revoke_key(self, key_id: int) -> ApiKey:
        key = await self._accounts.revoke_key(key_id)
        if key is None:
            raise NotFound(f"no key {key_id}")
        self._auth.forget(await self._accounts.key_hash(key_id))
        return key

    async def ledger(self, account_id: int, before_id: int | None, limit: int) -> list[LedgerEntry]:
        await self.get(account_id)
        return await self._reports.ledger(account_id, before_id, limit)

    async def usage(
        self,
        *,
        account_id: int | None,
        api_key_id: int | None,
        model: str | None,
        created_from: datetime | None,
        created_to: datetime | None,
    ) -> list[UsageRow]:
        return await self._reports.usage(
            account_id=account_id,
            api_key_id=api_key_id,
            model=model,
            created_from=_utc(created_from),
            created_to=_utc(created_to),
        )


def _check_limits(limits: Mapping[str, int | None]) -> None:
    for label, limit in limits.items():
        if limit is not None and limit < 1:
            raise InvalidParams(f"{label} must be at least 1 (leave it out for no limit)")


def _utc(value: datetime | None) -> datetime | None:
    """A time without a zone means UTC here; the store would otherwise read it as the
    server's local time."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
