"""A task's callbacks on /v1 (history, redelivery) and the webhook secrets on /admin/v1,
in process: the outbox is the gateway's own store, and a dispatcher over it sends to the
fake receivers (``providers/fake_webhooks.py``). No socket, no sleep.

(``tests/e2e/test_callbacks.py`` runs the same through a real receiver and a worker.)
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from reelgate.domain.tasks import Task
from reelgate.domain.webhooks import RetrySchedule
from reelgate.errors import NotFound
from reelgate.providers.fake import FakeClock
from reelgate.providers.fake_webhooks import FakeWebhooks
from reelgate.services.callbacks import Dispatcher
from reelgate.services.deliveries import DeliveryService
from tests.inprocess.harness import InProcess
from tests.inprocess.operator import Operator
from tests.support import new_task

pytestmark = pytest.mark.asyncio(loop_scope="module")

ACCOUNT = 1  # the bootstrap key's
URL = "https://hooks.example/cb"
GRACE = timedelta(hours=24)  # what the admin API's docs promise a replaced secret


@pytest_asyncio.fixture(loop_scope="module")
async def api(gateway: InProcess) -> Any:
    async with gateway.client() as c:
        yield c


async def queued(gateway: InProcess, account_id: int = ACCOUNT) -> Task:
    """A task with a callback URL that the upstream took: its first callback is queued
    (in the transaction that recorded the change, as every one is)."""
    store, now = gateway.gw.tasks, datetime.now(UTC)
    task = await store.insert(replace(new_task(account_id), callback_url=URL), now)
    taken = await store.mark_submitted(task.id, f"up-{task.id}", now + timedelta(hours=1), now)
    assert taken is not None
    return taken


def dispatcher(gateway: InProcess, hooks: FakeWebhooks) -> Dispatcher:
    schedule = RetrySchedule(first_s=5.0, window_s=3600.0, jitter=0.0)
    return Dispatcher(store=gateway.gw.deliveries, sender=hooks, schedule=schedule)


async def history(api: httpx.AsyncClient, task_id: str) -> list[dict[str, Any]]:
    resp = await api.get(f"/v1/tasks/{task_id}/deliveries")
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


async def test_a_callback_is_listed_delivered_and_redelivered_with_its_webhook_id(
    gateway: InProcess, api: httpx.AsyncClient
) -> None:
    task = await queued(gateway)
    (first,) = await history(api, task.platform_id)
    assert (first["seq"], first["url"], first["state"], first["attempts"]) == (1, URL, "pending", 0)
    assert first["webhook_id"].startswith("msg_") and first["next_attempt_at"]
    assert await history(api, task.upstream_task_id or "") == [first]  # either id

    hooks = FakeWebhooks()
    assert await dispatcher(gateway, hooks).deliver_due() == 1
    (sent,) = await history(api, task.platform_id)
    assert (sent["state"], sent["attempts"], sent["last_status"]) == ("delivered", 1, 200)
    assert sent["next_attempt_at"] is None and sent["delivered_at"]

    resp = await api.post(f"/v1/tasks/{task.platform_id}/deliveries/{first['id']}/redeliver")
    assert resp.status_code == 200, resp.text
    again = resp.json()
    assert (again["id"], again["webhook_id"], again["state"]) == (
        first["id"],
        first["webhook_id"],
        "pending",
    )
    assert again["next_attempt_at"]  # due now
    assert await dispatcher(gateway, hooks).deliver_due() == 1
    assert [p.headers["webhook-id"] for p in hooks.posted] == [first["webhook_id"]] * 2
    assert hooks.posted[0].body == hooks.posted[1].body


async def test_a_delivery_is_redelivered_only_through_its_own_task(
    gateway: InProcess, api: httpx.AsyncClient
) -> None:
    mine, other = await queued(gateway), await queued(gateway)
    (delivery,) = await history(api, mine.platform_id)
    resp = await api.post(f"/v1/tasks/{other.platform_id}/deliveries/{delivery['id']}/redeliver")
    assert resp.status_code == 404
    assert resp.json()["error"]["message"] == "no such delivery for this task"
    assert await history(api, mine.platform_id) == [delivery]  # left as it was


async def test_another_accounts_task_and_its_callbacks_read_as_missing(
    gateway: InProcess, api: httpx.AsyncClient
) -> None:
    async with Operator(gateway) as op:
        stranger = (await op.account())["id"]
    theirs = await queued(gateway, stranger)
    async with gateway.client() as mine:
        (delivery,) = await gateway.gw.delivery_service.for_task(theirs)
        for resp in (
            await mine.get(f"/v1/tasks/{theirs.platform_id}/deliveries"),
            await mine.post(f"/v1/tasks/{theirs.platform_id}/deliveries/{delivery.id}/redeliver"),
        ):
            assert resp.status_code == 404, resp.text
            assert resp.json()["error"]["message"] == "invalid params, task not found"


async def test_webhook_secrets_are_issued_rotated_and_listed_newest_first(
    gateway: InProcess,
) -> None:
    async with Operator(gateway) as op:
        account = (await op.account())["id"]
        path = f"/accounts/{account}/webhook-secret"
        assert await op.call("GET", path) == {"account_id": account, "secrets": []}
        first = (await op.call("POST", path, 201))["secret"]
        second = await op.call("POST", path, 201)
        assert second["account_id"] == account and second["secret"].startswith("whsec_")
        listed = await op.call("GET", path)
        assert listed["secrets"] == [second["secret"], first]  # the old one signs a while
        for method in ("GET", "POST"):
            missing = await op.call(method, "/accounts/999999/webhook-secret", 404)
            assert missing["error"]["message"] == "no account 999999"


async def test_a_rotated_secret_signs_until_its_grace_ends_and_not_a_moment_longer(
    gateway: InProcess,
) -> None:
    clock = FakeClock()
    service = DeliveryService(gateway.gw.deliveries, wake=lambda: None, clock=clock.now)
    async with Operator(gateway) as op:
        account = (await op.account())["id"]
    old = await service.rotate_secret(account)
    new = await service.rotate_secret(account)
    clock.advance(GRACE.total_seconds() - 0.001)
    assert await service.secrets(account) == [new, old]  # just inside the grace
    clock.advance(0.001)
    assert await service.secrets(account) == [new]  # at its end: the new one alone


async def test_a_redelivery_wakes_the_dispatcher_and_a_missing_one_does_not(
    gateway: InProcess,
) -> None:
    woken: list[None] = []
    service = DeliveryService(gateway.gw.deliveries, wake=lambda: woken.append(None))
    task = await queued(gateway)
    (delivery,) = await service.for_task(task)
    with pytest.raises(NotFound):
        await service.redeliver(task, delivery.id + 1_000_000)
    assert woken == []
    again = await service.redeliver(task, delivery.id)
    assert (again.id, again.msg_id, again.state) == (delivery.id, delivery.msg_id, "pending")
    assert len(woken) == 1
