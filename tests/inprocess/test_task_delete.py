"""Deleting a finished task's record (``TaskService.delete``: what v2's and OpenAI's
DELETE do to a finished task): gone from every view of its account, its video copy
removed, its signed link dead, its ledger kept; only its own account may, only once,
and never while it runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reelgate.errors import Conflict, NotFound
from tests.inprocess.harness import InProcess
from tests.inprocess.operator import T2V, Operator
from tests.inprocess.test_isolation import Tenant, finished_task
from tests.support import API_KEY

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def account_of(gateway: InProcess, key: str) -> int:
    return (await gateway.gw.auth.api_key(key)).account_id


async def balance(gateway: InProcess, account_id: int) -> int:
    async with gateway.admin() as admin:
        return int((await admin.get(f"/accounts/{account_id}")).json()["balance"])


async def views(gateway: InProcess, tenant: Tenant) -> dict[str, Any]:
    """What the account sees of the task through each API."""
    async with tenant.http(gateway) as c:
        platform = await c.get(f"/v1/tasks/{tenant.platform_id}")
        listed = (await c.get("/v1/tasks", params={"limit": 200})).json()["data"]
        query = await c.get(
            "/minimaxi/v1/query/video_generation", params={"task_id": tenant.task_id}
        )
        retrieve = await c.get("/minimaxi/v1/files/retrieve", params={"file_id": tenant.file_id})
        link = await c.get(tenant.download_url)
    return {
        "platform": platform.status_code,
        "listed": tenant.platform_id in {t["platform_id"] for t in listed},
        "query": query.json()["base_resp"]["status_code"],
        "retrieve": retrieve.json()["base_resp"]["status_code"],
        "link": link.status_code,
    }


async def test_a_deleted_task_is_gone_from_every_view_and_its_video_removed(
    gateway: InProcess,
) -> None:
    async with Operator(gateway) as op:
        key = (await op.client())[1]["key"]
    tenant = await finished_task(gateway, key)
    account = await account_of(gateway, key)
    assert await views(gateway, tenant) == {
        "platform": 200,
        "listed": True,
        "query": 0,
        "retrieve": 0,
        "link": 200,
    }
    task = await gateway.gw.task_service.get(account, tenant.platform_id)
    assert task.file is not None and task.file.storage_key is not None
    copy = gateway.gw.settings.videos_dir / task.file.storage_key
    assert copy.is_file()
    before = await balance(gateway, account)

    deleted = await gateway.gw.task_service.delete(account, tenant.task_id)

    assert deleted.platform_id == tenant.platform_id
    assert await views(gateway, tenant) == {
        "platform": 404,
        "listed": False,
        "query": 2013,
        "retrieve": 2013,
        "link": 404,  # as for a link to a task that never was
    }
    assert not copy.exists()
    assert await balance(gateway, account) == before  # the charge stands
    with pytest.raises(NotFound):  # once only
        await gateway.gw.task_service.delete(account, tenant.platform_id)


async def test_only_the_tasks_own_account_may_delete_it(gateway: InProcess) -> None:
    async with Operator(gateway) as op:
        keys = [(await op.client())[1]["key"] for _ in range(2)]
    owner = await finished_task(gateway, keys[0])
    other = await account_of(gateway, keys[1])
    with pytest.raises(NotFound):
        await gateway.gw.task_service.delete(other, owner.platform_id)
    assert (await views(gateway, owner))["platform"] == 200


async def test_an_unfinished_task_cannot_be_deleted(gateway: InProcess) -> None:
    async with gateway.client(path="/minimaxi/v1") as mm:
        made = (await mm.post("/video_generation", json=T2V)).json()
    account = await account_of(gateway, API_KEY)
    with pytest.raises(Conflict, match="cannot be deleted until it finishes"):
        await gateway.gw.task_service.delete(account, made["platform_id"])
    async with gateway.client() as api:
        resp: httpx.Response = await api.get(f"/v1/tasks/{made['platform_id']}")
    assert resp.status_code == 200 and resp.json()["status"] == "queued"
