"""Per-key and per-account limits over real HTTP: requests per minute, tasks in flight,
balance, expiry, revocation, model allow-lists and suspension.

MiniMax's surface answers HTTP 200 with the code in ``base_resp``; the platform API
answers a real HTTP status. A refused create stores nothing and moves no money.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.operator import T2V, T2V_PRICE, Operator
from tests.support import MiniMax, Server, count_tasks, fresh_database


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Slow tasks (7 s at least): one stays in flight while the next create arrives.
    data_dir = tmp_path_factory.mktemp("limits")
    with fresh_database(data_dir) as url:
        srv = Server(data_dir, url, env={"REELGATE_SANDBOX_TIMINGS": "1,1,5"}).start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture
def operator(server: Server) -> Iterator[Operator]:
    with Operator(server) as op:
        yield op


def minimax(server: Server, key: dict[str, Any]) -> MiniMax:
    return MiniMax(server.url + "/minimaxi", key["key"])


def platform(server: Server, key: dict[str, Any]) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key['key']}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30, trust_env=False)


def base_resp(resp: httpx.Response) -> tuple[int, str]:
    assert resp.status_code == 200, resp.text
    base = resp.json()["base_resp"]
    return int(base["status_code"]), str(base["status_msg"])


def refused_create(server: Server, key: dict[str, Any], body: Any = T2V) -> tuple[int, str]:
    """Create, expecting a refusal that leaves nothing stored."""
    before = count_tasks(server.database_url)
    with minimax(server, key) as mm:
        code, message = base_resp(mm.http.post("/v1/video_generation", json=body))
    assert code != 0, message
    assert count_tasks(server.database_url) == before, "a refused create stored a task"
    return code, message


def created(server: Server, key: dict[str, Any], body: Any = T2V) -> dict[str, Any]:
    with minimax(server, key) as mm:
        data = mm.create(body)
    assert data["base_resp"]["status_code"] == 0, data
    return data


def cancel(server: Server, key: dict[str, Any], platform_id: str) -> None:
    with platform(server, key) as api:
        assert api.post(f"/v1/tasks/{platform_id}/cancel").status_code == 200


def test_requests_per_minute(server: Server, operator: Operator) -> None:
    _, key = operator.client(rpm_limit=3)
    with minimax(server, key) as mm, platform(server, key) as api:
        for _ in range(3):  # any authenticated request counts, whatever its answer
            assert base_resp(mm.http.get("/v1/query/video_generation?task_id=none"))[0] == 2013
        code, message = base_resp(mm.http.get("/v1/query/video_generation?task_id=none"))
        assert code == 1002 and "rpm_limit" in message and "3 requests per minute" in message
        listed = api.get("/v1/tasks")
        assert listed.status_code == 429
        error = listed.json()["error"]
        assert error["kind"] == "rate_limited" and "rpm_limit" in error["message"]
    # the limit is the key's: another key of the same account is not affected
    other = operator.key(key["account_id"])
    with minimax(server, other) as mm:
        assert base_resp(mm.http.get("/v1/query/video_generation?task_id=none"))[0] == 2013


def test_tasks_in_flight(server: Server, operator: Operator) -> None:
    account_id, key = operator.client(credit=10 * T2V_PRICE, max_in_flight=1)
    first = created(server, key)
    code, message = refused_create(server, key)
    assert code == 1002 and "max_in_flight" in message
    assert operator.balance(account_id) == 9 * T2V_PRICE  # only the first is reserved
    cancel(server, key, first["platform_id"])  # a finished task frees its slot
    second = created(server, key)
    cancel(server, key, second["platform_id"])
    assert operator.balance(account_id) == 10 * T2V_PRICE


def test_balance(server: Server, operator: Operator) -> None:
    account_id, key = operator.client(credit=0)
    code, message = refused_create(server, key)
    assert code == 1008 and "insufficient balance" in message
    assert operator.ledger(account_id) == []
    operator.top_up(account_id, T2V_PRICE)
    task = created(server, key)
    assert operator.balance(account_id) == 0  # dropped by exactly the price
    assert refused_create(server, key)[0] == 1008  # and nothing is left for a second one
    cancel(server, key, task["platform_id"])
    assert operator.balance(account_id) == T2V_PRICE
    kinds = [(e["kind"], e["amount"]) for e in reversed(operator.ledger(account_id))]
    assert kinds == [("topup", T2V_PRICE), ("reserve", -T2V_PRICE), ("refund", T2V_PRICE)]


def test_expired_key(server: Server, operator: Operator) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    _, key = operator.client(expires_at=past)
    with minimax(server, key) as mm, platform(server, key) as api:
        code, message = base_resp(mm.http.get("/v1/query/video_generation?task_id=x"))
        assert code == 1004 and "expired" in message  # 2049 on create only, as MiniMax
        resp = api.get("/v1/tasks")
        assert resp.status_code == 401 and "expired" in resp.json()["error"]["message"]
    assert refused_create(server, key)[0] == 2049
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    _, fresh = operator.client(expires_at=future)
    with minimax(server, fresh) as mm:
        assert base_resp(mm.http.get("/v1/query/video_generation?task_id=x"))[0] == 2013


def test_revoked_key_stops_at_once(server: Server, operator: Operator) -> None:
    _, key = operator.client()
    with minimax(server, key) as mm:
        # used (and so cached by the server) just before it is revoked
        assert base_resp(mm.http.get("/v1/query/video_generation?task_id=x"))[0] == 2013
        revoked = operator.call("POST", f"/keys/{key['id']}/revoke")
        assert revoked["revoked_at"] is not None
        code, message = base_resp(mm.http.get("/v1/query/video_generation?task_id=x"))
        assert code == 1004 and "revoked" in message  # 2049 on create only, as MiniMax
    assert refused_create(server, key)[0] == 2049
    # revoking twice keeps the first time
    again = operator.call("POST", f"/keys/{key['id']}/revoke")
    assert again["revoked_at"] == revoked["revoked_at"]


def test_model_not_allowed(server: Server, operator: Operator) -> None:
    account_id, key = operator.client(models=["MiniMax-Hailuo-2.3"])
    code, message = refused_create(server, key)
    assert code == 1004 and "T2V-01" in message and "MiniMax-Hailuo-2.3" in message
    assert operator.balance(account_id) == 1000
    # an unknown model cannot be put on a key
    resp = operator.http.post(
        f"/accounts/{account_id}/keys", json={"name": "x", "models": ["Sora-2"]}
    )
    assert resp.status_code == 400 and "Sora-2" in resp.json()["error"]["message"]


def test_suspended_account(server: Server, operator: Operator) -> None:
    account_id, key = operator.client()
    second = operator.key(account_id)
    operator.call("POST", f"/accounts/{account_id}/suspend")
    for each in (key, second):  # every key of the account
        with minimax(server, each) as mm, platform(server, each) as api:
            code, message = base_resp(mm.http.get("/v1/query/video_generation?task_id=x"))
            assert code == 1004 and "suspended" in message
            assert api.get("/v1/tasks").status_code == 403
    assert refused_create(server, key)[0] == 1004
    resumed = operator.call("POST", f"/accounts/{account_id}/resume")
    assert resumed["status"] == "active"
    with platform(server, key) as api:
        assert api.get("/v1/tasks").status_code == 200
