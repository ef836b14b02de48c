"""Moving money: every movement is a ledger entry and a balance update in one transaction.

Callers pass the open connection of the transaction that changed the task's state, so the
state change and its money movement commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from reelgate.domain.lifecycle import Money
from reelgate.store.tables import accounts, ledger

# built once: a statement built per call is hashed for the compiled cache at every call
_ADD = (
    update(accounts)
    .where(accounts.c.id == bindparam("m_account"))
    .values(balance=accounts.c.balance + bindparam("m_amount"))
    .returning(accounts.c.balance)
)
ADD_ENTRY = insert(ledger)
_RESERVED = select(ledger.c.amount).where(
    ledger.c.task_id == bindparam("m_task"), ledger.c.kind == Money.RESERVE.value
)


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
    return await conn.run_sync(
        partial(
            move_sync,
            account_id=account_id,
            kind=kind,
            amount=amount,
            now=now,
            task_id=task_id,
            note=note,
        )
    )


def move_sync(
    conn: Connection,
    *,
    account_id: int,
    kind: str,
    amount: int,
    now: datetime,
    task_id: int | None = None,
    note: str | None = None,
) -> int:
    """``move`` inside a synchronous transaction (``store/transactions.py``)."""
    balance = conn.execute(_ADD, {"m_account": account_id, "m_amount": amount}).scalar_one()
    conn.execute(
        ADD_ENTRY,
        {
            "account_id": account_id,
            "task_id": task_id,
            "kind": kind,
            "amount": amount,
            "balance_after": balance,
            "note": note,
            "created_at": now,
        },
    )
    return int(balance)


def reservation(conn: Connection, task_id: int) -> int:
    """What the task reserved at create, as its ``reserve`` entry says (0: none, a free
    task): the one amount a settlement gives back from."""
    amount = conn.execute(_RESERVED, {"m_task": task_id}).scalar_one_or_none()
    return -int(amount) if amount is not None else 0
