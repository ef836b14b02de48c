"""Accounts and their API keys, as the services and the surfaces see them (the store
reads and writes them: store/accounts.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    status: str
    balance: int
    created_at: datetime
    rpm_limit: int | None = None  # over all of its keys together; None: no limit
    max_in_flight: int | None = None


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    account_id: int
    name: str
    prefix: str
    models: list[str] | None
    rpm_limit: int | None
    max_in_flight: int | None
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    account_status: str = "active"
    # the account's own limits, read with the key (one query): they bind all its keys
    account_rpm_limit: int | None = None
    account_max_in_flight: int | None = None
