"""Limits per account (issue 14, item 6): MiniMax counts its limits per account, so an
account's ``rpm_limit`` and ``max_in_flight`` bind all of its keys together, next to each
key's own. Set at creation, changed by PATCH, cleared by null; refused with the key
limits' codes (1002 on MiniMax's surface, 429 on the platform's) and a message that names
the account's limit. In process, on the fake upstream (tasks stay in flight until
cancelled); the operator's CLI for them is tested against a real server in
``tests/e2e/test_account_limits.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.inprocess.harness import InProcess
from tests.inprocess.operator import T2V, T2V_PRICE, Operator

pytestmark = pytest.mark.asyncio(loop_scope="module")

QUERY = "/v1/query/video_generation?task_id=none"  # any authenticated request counts


@pytest_asyncio.fixture(loop_scope="module")
async def operator(gateway: InProcess) -> AsyncIterator[Operator]:
    async with Operator(gateway) as op:
        yield op


async def limited_account(operator: Operator, **limits: Any) -> dict[str, Any]:
    body = {"name": f"acct-{uuid.uuid4().hex[:8]}", "initial_credit": 20 * T2V_PRICE, **limits}
    return await operator.call("POST", "/accounts", 201, json=body)  # type: ignore[no-any-return]


async def query_code(gateway: InProcess, key: dict[str, Any]) -> tuple[int, str]:
    async with gateway.client(key["key"], "/minimaxi") as mm:
        resp = await mm.get(QUERY)
    assert resp.status_code == 200, resp.text
    base = resp.json()["base_resp"]
    return int(base["status_code"]), str(base["status_msg"])


async def create(gateway: InProcess, key: dict[str, Any]) -> tuple[int, str, str | None]:
    """(code, message, platform_id) of a create."""
    async with gateway.client(key["key"], "/minimaxi") as mm:
        resp = await mm.post("/v1/video_generation", json=T2V)
    assert resp.status_code == 200 and resp.headers.get("trace-id"), resp.text
    data = resp.json()
    return (
        data["base_resp"]["status_code"],
        data["base_resp"]["status_msg"],
        data.get("platform_id"),
    )


async def cancel(gateway: InProcess, key: dict[str, Any], platform_id: str | None) -> None:
    async with gateway.client(key["key"]) as api:
        resp = await api.post(f"/v1/tasks/{platform_id}/cancel")
    assert resp.status_code == 200, resp.text


async def test_rpm_limit_counts_all_of_the_accounts_keys(
    gateway: InProcess, operator: Operator
) -> None:
    account = await limited_account(operator, rpm_limit=4)
    assert account["rpm_limit"] == 4 and account["max_in_flight"] is None
    first, second = await operator.key(account["id"]), await operator.key(account["id"])
    for key in (first, second, first, second):  # N requests across both keys pass
        assert (await query_code(gateway, key))[0] == 2013  # (an unknown task: authenticated)
    for key in (first, second):  # the N+1th is refused, whichever key sends it
        code, message = await query_code(gateway, key)
        assert code == 1002, message
        assert "account" in message and "rpm_limit" in message and "4 requests" in message
    async with gateway.client(second["key"]) as api:
        listed = await api.get("/v1/tasks")
    assert listed.status_code == 429
    error = listed.json()["error"]
    assert error["kind"] == "rate_limited" and "account" in error["message"]
    # another account, with the same limit, is not affected
    other = await limited_account(operator, rpm_limit=4)
    assert (await query_code(gateway, await operator.key(other["id"])))[0] == 2013


async def test_a_keys_own_limit_still_holds_under_the_accounts(
    gateway: InProcess, operator: Operator
) -> None:
    account = await limited_account(operator, rpm_limit=10)
    key = await operator.key(account["id"], rpm_limit=1)
    assert (await query_code(gateway, key))[0] == 2013
    code, message = await query_code(gateway, key)
    assert code == 1002 and "this key allows 1" in message
    # the key's refusal spent none of the account's budget: its sibling has 9 left
    sibling = await operator.key(account["id"])
    for _ in range(9):
        assert (await query_code(gateway, sibling))[0] == 2013
    code, message = await query_code(gateway, sibling)
    assert code == 1002 and "account" in message


async def test_max_in_flight_counts_all_of_the_accounts_keys(
    gateway: InProcess, operator: Operator
) -> None:
    account = await limited_account(operator, max_in_flight=2)
    first, second = await operator.key(account["id"]), await operator.key(account["id"])
    code, _, one = await create(gateway, first)
    assert code == 0
    code, _, two = await create(gateway, second)  # at the boundary: both in flight
    assert code == 0 and one and two
    before = await gateway.count_tasks()
    for key in (first, second):  # one past it, whichever key
        code, message, _ = await create(gateway, key)
        assert code == 1002, message
        assert "account" in message and "max_in_flight" in message and "2 tasks" in message
    assert await gateway.count_tasks() == before  # refused: nothing stored
    assert await operator.balance(account["id"]) == 18 * T2V_PRICE  # nor reserved
    other = await limited_account(operator, max_in_flight=2)  # another account: unaffected
    other_key = await operator.key(other["id"])
    code, _, theirs = await create(gateway, other_key)
    assert code == 0 and theirs
    await cancel(gateway, first, one)  # a finished task frees a slot for any of the keys
    code, _, three = await create(gateway, second)
    assert code == 0 and three
    for key, task in ((second, two), (second, three), (other_key, theirs)):
        await cancel(gateway, key, task)


async def test_limits_change_by_patch_and_null_clears(
    gateway: InProcess, operator: Operator
) -> None:
    account = await limited_account(operator)
    path = f"/accounts/{account['id']}"
    key = await operator.key(account["id"])
    code, _, one = await create(gateway, key)
    assert code == 0 and one

    changed = await operator.call("PATCH", path, json={"max_in_flight": 1, "rpm_limit": 3})
    assert (changed["rpm_limit"], changed["max_in_flight"]) == (3, 1)
    assert await operator.call("GET", path) == changed
    code, message, _ = await create(gateway, key)  # takes effect at once: 1 in flight already
    assert code == 1002 and "account" in message and "max_in_flight" in message
    for _ in range(2):  # the refused create above was the first request of three
        assert (await query_code(gateway, key))[0] == 2013
    assert (await query_code(gateway, key))[0] == 1002

    # only the fields sent change; null clears a limit
    cleared = await operator.call("PATCH", path, json={"rpm_limit": None})
    assert (cleared["rpm_limit"], cleared["max_in_flight"]) == (None, 1)
    assert (await query_code(gateway, key))[0] == 2013
    cleared = await operator.call("PATCH", path, json={"max_in_flight": None})
    assert (cleared["rpm_limit"], cleared["max_in_flight"]) == (None, None)
    code, _, two = await create(gateway, key)
    assert code == 0 and two
    for task in (one, two):
        await cancel(gateway, key, task)

    # bounded as the keys' limits are, and a misspelt field is refused, not ignored
    for body in ({"rpm_limit": 0}, {"max_in_flight": -1}, {"rpm": 5}, {"rpm_limit": 10**7}):
        await operator.call("PATCH", path, 422, json=body)
    await operator.call("POST", "/accounts", 422, json={"name": "bad-limit", "rpm_limit": 0})
    assert await operator.call("PATCH", "/accounts/999999", 404, json={"rpm_limit": 1})
    assert (await operator.call("GET", path))["rpm_limit"] is None  # refusals changed nothing
