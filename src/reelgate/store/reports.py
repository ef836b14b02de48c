"""Read-only reports for operators: the ledger and usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Date, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from reelgate.domain.tasks import TaskStatus
from reelgate.store.tables import accounts, ledger, tasks


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: int
    account_id: int
    task_id: int | None
    kind: str
    amount: int
    balance_after: int
    note: str | None
    created_at: datetime
    platform_id: str | None = None  # of the task the entry belongs to, for people to read


@dataclass(frozen=True, slots=True)
class UsageRow:
    account_id: int
    api_key_id: int | None
    model: str
    day: str
    tasks: int
    succeeded: int
    seconds: int  # of video delivered
    spend: int  # minor units charged


class Reports:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def ledger(
        self, account_id: int, before_id: int | None = None, limit: int = 100
    ) -> list[LedgerEntry]:
        where = [ledger.c.account_id == account_id]
        if before_id is not None:
            where.append(ledger.c.id < before_id)
        query = (
            select(ledger, tasks.c.platform_id)
            .outerjoin(tasks, tasks.c.id == ledger.c.task_id)
            .where(*where)
            .order_by(ledger.c.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            LedgerEntry(
                r.id,
                r.account_id,
                r.task_id,
                r.kind,
                r.amount,
                r.balance_after,
                r.note,
                r.created_at,
                r.platform_id,
            )
            for r in rows
        ]

    async def balance_and_ledger_sum(self, account_id: int) -> tuple[int, int]:
        """The account's balance and the sum of its ledger: always equal."""
        total = select(func.coalesce(func.sum(ledger.c.amount), 0)).where(
            ledger.c.account_id == account_id
        )
        async with self._engine.connect() as conn:
            balance = (
                await conn.execute(select(accounts.c.balance).where(accounts.c.id == account_id))
            ).scalar_one()
            summed = (await conn.execute(total)).scalar_one()
        return int(balance), int(summed)

    async def usage(
        self,
        *,
        account_id: int | None = None,
        api_key_id: int | None = None,
        model: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
    ) -> list[UsageRow]:
        """Tasks, seconds of video and spend per account, key, model and UTC day."""
        succeeded = tasks.c.status == TaskStatus.SUCCEEDED.value
        if self._engine.dialect.name == "postgresql":
            day: Any = cast(func.timezone("UTC", tasks.c.created_at), Date)
        else:  # SQLite keeps UTC text; date() takes its day
            day = func.date(tasks.c.created_at)
        where: list[Any] = []
        if account_id is not None:
            where.append(tasks.c.account_id == account_id)
        if api_key_id is not None:
            where.append(tasks.c.api_key_id == api_key_id)
        if model is not None:
            where.append(tasks.c.model == model)
        if created_from is not None:
            where.append(tasks.c.created_at >= created_from)
        if created_to is not None:
            where.append(tasks.c.created_at < created_to)
        query = (
            select(
                tasks.c.account_id,
                tasks.c.api_key_id,
                tasks.c.model,
                day.label("day"),
                func.count().label("tasks"),
                func.sum(case((succeeded, 1), else_=0)).label("succeeded"),
                func.sum(case((succeeded, tasks.c.duration), else_=0)).label("seconds"),
                func.sum(case((succeeded, tasks.c.price), else_=0)).label("spend"),
            )
            .where(*where)
            .group_by(tasks.c.account_id, tasks.c.api_key_id, tasks.c.model, day)
            .order_by(day, tasks.c.account_id, tasks.c.api_key_id, tasks.c.model)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            UsageRow(
                r.account_id,
                r.api_key_id,
                r.model,
                str(r.day),
                int(r.tasks),
                int(r.succeeded),
                int(r.seconds),
                int(r.spend),
            )
            for r in rows
        ]
