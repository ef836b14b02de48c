"""The callback outbox and the webhook secrets it signs with."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased
from ulid import ULID

from reelgate.domain.deliveries import Delivery as Delivery  # re-exported: it lived here
from reelgate.store.database import begin
from reelgate.store.tables import deliveries, webhook_secrets

PENDING, DELIVERED, FAILED, GONE = "pending", "delivered", "failed", "gone"


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        msg_id=row.msg_id,
        task_id=row.task_id,
        account_id=row.account_id,
        seq=row.seq,
        url=row.url,
        body=row.body,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


_GONE_BEFORE = (
    select(deliveries.c.id)
    .where(deliveries.c.task_id == bindparam("d_task"), deliveries.c.state == GONE)
    .limit(1)
)
_ENQUEUE = insert(deliveries)


def enqueue(
    conn: Connection,
    *,
    task_id: int,
    account_id: int,
    seq: int,
    url: str,
    body: dict[str, Any],
    now: datetime,
) -> None:
    """Queue a callback in the transaction of the state change it reports. Once the
    receiver answered 410 for this task, later changes are not sent there any more."""
    gone = conn.execute(_GONE_BEFORE, {"d_task": task_id}).first()
    conn.execute(
        _ENQUEUE,
        {
            "msg_id": f"msg_{ULID()}",
            "task_id": task_id,
            "account_id": account_id,
            "seq": seq,
            "url": url,
            "body": body,
            "state": GONE if gone else PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
    )


class DeliveryStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
        """Lease due deliveries; a task's later callbacks wait for its earlier ones."""
        earlier = aliased(deliveries)
        blocked = exists().where(
            earlier.c.task_id == deliveries.c.task_id,
            earlier.c.seq < deliveries.c.seq,
            earlier.c.state == PENDING,
        )
        due = (
            select(deliveries.c.id)
            .where(
                deliveries.c.state == PENDING,
                deliveries.c.next_attempt_at <= now,
                or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
                ~blocked,
            )
            .order_by(deliveries.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(deliveries)
            .where(deliveries.c.id.in_(due))
            .values(lease_until=now + lease)
            .returning(*deliveries.c)
        )
        async with begin(self._engine) as conn:
            rows = (await conn.execute(stmt)).all()
        return [_delivery(r) for r in rows]

    async def delivered(self, delivery_id: int, status: int, now: datetime) -> None:
        await self._set(
            delivery_id,
            state=DELIVERED,
            attempts=deliveries.c.attempts + 1,
            last_status=status,
            last_error=None,
            delivered_at=now,
            lease_until=None,
        )

    async def retry(
        self, delivery_id: int, at: datetime, status: int | None, error: str | None
    ) -> None:
        await self._set(
            delivery_id,
            attempts=deliveries.c.attempts + 1,
            next_attempt_at=at,
            last_status=status,
            last_error=error,
            lease_until=None,
        )

    async def give_up(self, delivery_id: int, status: int | None, error: str | None) -> None:
        await self._set(
            delivery_id,
            state=FAILED,
            attempts=deliveries.c.attempts + 1,
            last_status=status,
            last_error=error,
            lease_until=None,
        )

    async def gone(self, delivery: Delivery, status: int) -> None:
        """410: stop delivering to that URL, this task's later callbacks included."""
        async with begin(self._engine) as conn:
            await conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.url == delivery.url,
                    deliveries.c.account_id == delivery.account_id,
                    deliveries.c.state == PENDING,
                )
                .values(state=GONE, last_status=status, lease_until=None)
            )
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery.id)
                .values(attempts=deliveries.c.attempts + 1, last_error="receiver answered 410")
            )

    async def for_task(self, task_id: int) -> list[Delivery]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(deliveries)
                    .where(deliveries.c.task_id == task_id)
                    .order_by(deliveries.c.seq)
                )
            ).all()
        return [_delivery(r) for r in rows]

    async def redeliver(self, task_id: int, delivery_id: int, now: datetime) -> Delivery | None:
        """Send a callback again, with the same webhook-id."""
        async with begin(self._engine) as conn:
            row = (
                await conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id == delivery_id, deliveries.c.task_id == task_id)
                    .values(state=PENDING, next_attempt_at=now, lease_until=None)
                    .returning(*deliveries.c)
                )
            ).one_or_none()
        return _delivery(row) if row else None

    async def _set(self, delivery_id: int, **values: Any) -> None:
        async with begin(self._engine) as conn:
            await conn.execute(
                update(deliveries).where(deliveries.c.id == delivery_id).values(**values)
            )

    # -- secrets ----------------------------------------------------------------------

    async def active_secrets(self, account_id: int, now: datetime) -> list[str]:
        query = (
            select(webhook_secrets.c.secret)
            .where(
                webhook_secrets.c.account_id == account_id,
                or_(webhook_secrets.c.expires_at.is_(None), webhook_secrets.c.expires_at > now),
            )
            .order_by(webhook_secrets.c.id.desc())
        )
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def rotate_secret(
        self, account_id: int, secret: str, now: datetime, grace: timedelta
    ) -> None:
        """Add a new secret; the current ones keep signing for ``grace``."""
        async with begin(self._engine) as conn:
            await conn.execute(
                update(webhook_secrets)
                .where(
                    webhook_secrets.c.account_id == account_id,
                    and_(
                        or_(
                            webhook_secrets.c.expires_at.is_(None),
                            webhook_secrets.c.expires_at > now + grace,
                        )
                    ),
                )
                .values(expires_at=now + grace)
            )
            await conn.execute(
                insert(webhook_secrets).values(
                    account_id=account_id, secret=secret, created_at=now, expires_at=None
                )
            )
