"""Per-key and per-account limits: requests per minute, tasks in flight, balance, expiry,
revocation, model allow-lists and suspension. In process, on the fake upstream: a task
stays in flight until the test finishes or cancels it.

MiniMax's surface answers HTTP 200 with the code in ``base_resp``; the platform API
answers a real HTTP status. A refused create stores nothing and moves no money.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.inprocess.harness import InProcess
from tests.inprocess.operator import T2V, T2V_PRICE, Operator

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def operator(gateway: InProcess) -> AsyncIterator[Operator]:
    async with Operator(gateway) as op:
        yield op


def minimax(gateway: InProcess, key: dict[str, Any]) -> httpx.AsyncClient:
    return gateway.client(key["key"], "/minimaxi")


def platform(gateway: InProcess, key: dict[str, Any]) -> httpx.AsyncClient:
    return gateway.client(key["key"])


def base_resp(resp: httpx.Response) -> tuple[int, str]:
    assert resp.status_code == 200, resp.text
    base = resp.json()["base_resp"]
    return int(base["status_code"]), str(base["status_msg"])


async def refused_create(
    gateway: InProcess, key: dict[str, Any], body: Any = T2V
) -> tuple[int, str]:
    """Create, expecting a refusal that leaves nothing stored."""
    before = await gateway.count_tasks()
    async with minimax(gateway, key) as mm:
        code, message = base_resp(await mm.post("/v1/video_generation", json=body))
    assert code != 0, message
    assert await gateway.count_tasks() == before, "a refused create stored a task"
    return code, message


async def created(gateway: InProcess, key: dict[str, Any], body: Any = T2V) -> dict[str, Any]:
    async with minimax(gateway, key) as mm:
        resp = await mm.post("/v1/video_generation", json=body)
    assert resp.status_code == 200 and resp.headers.get("trace-id"), resp.text
    data: dict[str, Any] = resp.json()
    assert data["base_resp"]["status_code"] == 0, data
    return data


async def cancel(gateway: InProcess, key: dict[str, Any], platform_id: str) -> None:
    async with platform(gateway, key) as api:
        assert (await api.post(f"/v1/tasks/{platform_id}/cancel")).status_code == 200


QUERY = "/v1/query/video_generation?task_id=none"


async def test_requests_per_minute(gateway: InProcess, operator: Operator) -> None:
    _, key = await operator.client(rpm_limit=3)
    async with minimax(gateway, key) as mm, platform(gateway, key) as api:
        for _ in range(3):  # any authenticated request counts, whatever its answer
            assert base_resp(await mm.get(QUERY))[0] == 2013
        code, message = base_resp(await mm.get(QUERY))
        assert code == 1002 and "rpm_limit" in message and "3 requests per minute" in message
        listed = await api.get("/v1/tasks")
        assert listed.status_code == 429
        error = listed.json()["error"]
        assert error["kind"] == "rate_limited" and "rpm_limit" in error["message"]
    # the limit is the key's: another key of the same account is not affected
    other = await operator.key(key["account_id"])
    async with minimax(gateway, other) as mm:
        assert base_resp(await mm.get(QUERY))[0] == 2013


async def test_tasks_in_flight(gateway: InProcess, operator: Operator) -> None:
    account_id, key = await operator.client(credit=10 * T2V_PRICE, max_in_flight=1)
    first = await created(gateway, key)
    code, message = await refused_create(gateway, key)
    assert code == 1002 and "max_in_flight" in message
    assert await operator.balance(account_id) == 9 * T2V_PRICE  # only the first is reserved
    await cancel(gateway, key, first["platform_id"])  # a finished task frees its slot
    second = await created(gateway, key)
    await cancel(gateway, key, second["platform_id"])
    assert await operator.balance(account_id) == 10 * T2V_PRICE


async def test_balance(gateway: InProcess, operator: Operator) -> None:
    account_id, key = await operator.client(credit=0)
    code, message = await refused_create(gateway, key)
    assert code == 1008 and "insufficient balance" in message
    assert await operator.ledger(account_id) == []
    await operator.top_up(account_id, T2V_PRICE)
    task = await created(gateway, key)
    assert await operator.balance(account_id) == 0  # dropped by exactly the price
    assert (await refused_create(gateway, key))[0] == 1008  # nothing is left for a second
    await cancel(gateway, key, task["platform_id"])
    assert await operator.balance(account_id) == T2V_PRICE
    kinds = [(e["kind"], e["amount"]) for e in reversed(await operator.ledger(account_id))]
    assert kinds == [("topup", T2V_PRICE), ("reserve", -T2V_PRICE), ("refund", T2V_PRICE)]


async def test_expired_key(gateway: InProcess, operator: Operator) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    _, key = await operator.client(expires_at=past)
    async with minimax(gateway, key) as mm, platform(gateway, key) as api:
        code, message = base_resp(await mm.get("/v1/query/video_generation?task_id=x"))
        assert code == 1004 and "expired" in message  # 2049 on create only, as MiniMax
        resp = await api.get("/v1/tasks")
        assert resp.status_code == 401 and "expired" in resp.json()["error"]["message"]
    assert (await refused_create(gateway, key))[0] == 2049
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    _, fresh = await operator.client(expires_at=future)
    async with minimax(gateway, fresh) as mm:
        assert base_resp(await mm.get("/v1/query/video_generation?task_id=x"))[0] == 2013


async def test_revoked_key_stops_at_once(gateway: InProcess, operator: Operator) -> None:
    _, key = await operator.client()
    async with minimax(gateway, key) as mm:
        # used (and so cached by the server) just before it is revoked
        assert base_resp(await mm.get("/v1/query/video_generation?task_id=x"))[0] == 2013
        revoked = await operator.call("POST", f"/keys/{key['id']}/revoke")
        assert revoked["revoked_at"] is not None
        code, message = base_resp(await mm.get("/v1/query/video_generation?task_id=x"))
        assert code == 1004 and "revoked" in message  # 2049 on create only, as MiniMax
    assert (await refused_create(gateway, key))[0] == 2049
    # revoking twice keeps the first time
    again = await operator.call("POST", f"/keys/{key['id']}/revoke")
    assert again["revoked_at"] == revoked["revoked_at"]


async def test_model_not_allowed(gateway: InProcess, operator: Operator) -> None:
    account_id, key = await operator.client(models=["MiniMax-Hailuo-2.3"])
    code, message = await refused_create(gateway, key)
    assert code == 1004 and "T2V-01" in message and "MiniMax-Hailuo-2.3" in message
    assert await operator.balance(account_id) == 1000
    # an unknown model cannot be put on a key
    resp = await operator.http.post(
        f"/accounts/{account_id}/keys", json={"name": "x", "models": ["Sora-2"]}
    )
    assert resp.status_code == 400 and "Sora-2" in resp.json()["error"]["message"]


async def test_suspended_account(gateway: InProcess, operator: Operator) -> None:
    account_id, key = await operator.client()
    second = await operator.key(account_id)
    await operator.call("POST", f"/accounts/{account_id}/suspend")
    for each in (key, second):  # every key of the account
        async with minimax(gateway, each) as mm, platform(gateway, each) as api:
            code, message = base_resp(await mm.get("/v1/query/video_generation?task_id=x"))
            assert code == 1004 and "suspended" in message
            assert (await api.get("/v1/tasks")).status_code == 403
    assert (await refused_create(gateway, key))[0] == 1004
    resumed = await operator.call("POST", f"/accounts/{account_id}/resume")
    assert resumed["status"] == "active"
    async with platform(gateway, key) as api:
        assert (await api.get("/v1/tasks")).status_code == 200
