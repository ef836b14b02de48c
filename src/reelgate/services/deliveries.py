"""What a client and an operator may do with callbacks: read a task's deliveries, send
one again, and issue or read the webhook secrets that sign them.

The dispatcher (services/callbacks.py) sends them; this is the side the HTTP surfaces
call, so that no handler holds the outbox's store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from reelgate.domain.deliveries import Delivery
from reelgate.domain.tasks import Task
from reelgate.domain.webhooks import new_secret
from reelgate.errors import NotFound
from reelgate.store.deliveries import DeliveryStore

ROTATION_GRACE = timedelta(hours=24)  # how long the secrets a rotation replaces still sign
DELIVERY_NOT_FOUND = "no such delivery for this task"


def utc_now() -> datetime:
    return datetime.now(UTC)


class DeliveryService:
    def __init__(
        self,
        store: DeliveryStore,
        *,
        wake: Callable[[], None],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._wake = wake  # the dispatcher's, so that a redelivery goes out now
        self._clock = clock

    async def for_task(self, task: Task) -> list[Delivery]:
        """The task's callbacks in the order of its changes, with their histories. The
        caller has found ``task`` in its own account (TaskService.get)."""
        return await self._store.for_task(task.id)

    async def redeliver(self, task: Task, delivery_id: int) -> Delivery:
        """Send one of the task's callbacks again, with the same webhook-id; a delivery
        of another task reads as a missing one."""
        delivery = await self._store.redeliver(task.id, delivery_id, self._clock())
        if delivery is None:
            raise NotFound(DELIVERY_NOT_FOUND)
        self._wake()
        return delivery

    async def rotate_secret(self, account_id: int) -> str:
        """A new ``whsec_`` secret that signs from now on; the account's earlier ones keep
        signing for ``ROTATION_GRACE``, so receivers can switch without missing one."""
        secret = new_secret()
        await self._store.rotate_secret(account_id, secret, self._clock(), ROTATION_GRACE)
        return secret

    async def secrets(self, account_id: int) -> list[str]:
        """The secrets that sign the account's callbacks now, newest first."""
        return await self._store.active_secrets(account_id, self._clock())
