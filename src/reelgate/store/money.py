"""Moving money: every movement is a ledger entry and a balance update in one transaction.

Callers pass the open connection of the transaction that changed the task's state, so the
state change and its money movement commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.domain.lifecycle import Money
from reelgate.store.tables import accounts, ledger


async def move(
    conn: AsyncConnection,
    *,
    account_id: int,
    kind: str,
    amount: int,
    now: datetime,
    task_id: int | None = None,
    note: str | None = None,
) -> int:
    """Add ``amount`` (signed, minor units) to the balance and record it; return the balance."""
    balance = (
        await conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(balance=accounts.c.balance + amount)
            .returning(accounts.c.balance)
        )
    ).scalar_one()
    await conn.execute(
        insert(ledger).values(
            account_id=account_id,
            task_id=task_id,
            kind=kind,
            amount=amount,
            balance_after=balance,
            note=note,
            created_at=now,
        )
    )
    return int(balance)


async def reservation(conn: AsyncConnection, task_id: int) -> int:
    """What the task reserved at create, as its ``reserve`` entry says (0: none, a free
    task): the one amount a settlement gives back from."""
    amount = (
        await conn.execute(
            select(ledger.c.amount).where(
                ledger.c.task_id == task_id, ledger.c.kind == Money.RESERVE.value
            )
        )
    ).scalar_one_or_none()
    return -int(amount) if amount is not None else 0
