"""The platform's task API: get, list, cancel, deadlines. In process, on the fake upstream:
tasks finish when the test cues them, and time passes when the test moves the clock.
(Live events, which need a stream open while the worker moves the task on, stay in
``tests/e2e/test_tasks_api.py``.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.inprocess.harness import InProcess

pytestmark = pytest.mark.asyncio(loop_scope="module")

T2V = {"model": "T2V-01", "prompt": "a paper boat on a pond [Pan right]"}
PRICE = 43  # T2V-01, 720P, 6 s in the shipped price table


@pytest_asyncio.fixture(loop_scope="module")
async def api(gateway: InProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway.client() as c:
        yield c


@pytest_asyncio.fixture(loop_scope="module")
async def admin(gateway: InProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway.admin() as c:
        yield c


async def create(gateway: InProcess, body: dict[str, Any] = T2V, **headers: str) -> Any:
    async with gateway.client(path="/minimaxi") as mm:
        resp = await mm.post("/v1/video_generation", json=body, headers=headers)
    data = resp.json()
    assert data["base_resp"]["status_code"] == 0, data
    return data


async def balance(admin: httpx.AsyncClient) -> int:
    return int((await admin.get("/accounts/1")).json()["balance"])


async def test_get_by_either_id(gateway: InProcess, api: httpx.AsyncClient) -> None:
    created = await create(gateway)
    by_platform = await api.get(f"/v1/tasks/{created['platform_id']}")
    by_upstream = await api.get(f"/v1/tasks/{created['task_id']}")
    assert by_platform.status_code == by_upstream.status_code == 200
    task = by_platform.json()
    assert task == by_upstream.json()
    assert task["platform_id"] == created["platform_id"]
    assert task["task_id"] == created["task_id"]
    assert (task["model"], task["mode"], task["resolution"], task["duration"]) == (
        "T2V-01",
        "t2v",
        "720P",
        6,
    )
    assert task["status"] in ("queued", "running")
    assert task["minimax_status"] in ("Preparing", "Queueing", "Processing")
    assert (task["price"], task["charged"], task["video"], task["error"]) == (PRICE, 0, None, None)

    await gateway.finish(created["task_id"])
    done = (await api.get(f"/v1/tasks/{created['platform_id']}")).json()
    assert done["status"] == "succeeded"
    assert done["charged"] == PRICE and done["minimax_status"] == "Success"
    assert done["finished_at"] >= done["created_at"]
    video = done["video"]
    assert (video["width"], video["height"], video["duration"]) == (1280, 720, 6)
    async with gateway.client(None) as plain:
        download = await plain.get(video["download_url"])
    assert download.status_code == 200 and len(download.content) == video["bytes"]


async def test_errors_use_real_status_codes(gateway: InProcess, api: httpx.AsyncClient) -> None:
    missing = await api.get("/v1/tasks/video_01JSGXXXXXXXXXXXXXXXXXXXXX")
    assert missing.status_code == 404
    body = missing.json()
    assert set(body) == {"error", "request_id"} and body["error"]["kind"] == "not_found"
    assert body["request_id"] == missing.headers["trace-id"]
    async with gateway.client(None) as no_key:
        resp = await no_key.get("/v1/tasks")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == 1004
    async with gateway.client("sk-no") as wrong:
        resp = await wrong.get("/v1/tasks")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == 2049
    assert (await api.get("/v1/tasks", params={"status": "done"})).status_code == 422
    assert (await api.get("/v1/tasks", params={"limit": 0})).status_code == 422
    assert (await api.get("/v1/tasks", params={"cursor": "garbage"})).status_code == 400


async def test_list_is_newest_first_with_filters_and_cursor(
    gateway: InProcess, api: httpx.AsyncClient
) -> None:
    started = (await api.get("/v1/tasks", params={"limit": 1})).json()["data"]
    since = started[0]["created_at"] if started else "2000-01-01T00:00:00Z"
    made = [await create(gateway) for _ in range(3)]
    ids = [m["platform_id"] for m in made]
    page = (await api.get("/v1/tasks", params={"limit": 2, "created_after": since})).json()
    assert [t["platform_id"] for t in page["data"]] == ids[::-1][:2]
    assert page["has_more"] and page["next_cursor"]
    rest = (
        await api.get(
            "/v1/tasks", params={"limit": 2, "cursor": page["next_cursor"], "created_after": since}
        )
    ).json()
    assert rest["data"][0]["platform_id"] == ids[0]

    assert (await api.get("/v1/tasks", params={"model": "S2V-01"})).json()["data"] == []
    only_t2v = (await api.get("/v1/tasks", params={"model": "T2V-01", "limit": 200})).json()
    assert {t["platform_id"] for t in only_t2v["data"]} >= set(ids)
    future = (await api.get("/v1/tasks", params={"created_after": "2999-01-01T00:00:00Z"})).json()
    assert future["data"] == [] and future["next_cursor"] is None
    await gateway.finish(*(m["task_id"] for m in made))
    done = (await api.get("/v1/tasks", params={"status": "succeeded", "limit": 200})).json()
    assert {t["platform_id"] for t in done["data"]} >= set(ids)
    assert all(t["status"] == "succeeded" for t in done["data"])


async def test_cancel_refunds_and_ignores_the_late_result(
    gateway: InProcess, api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    before = await balance(admin)
    created = await create(gateway)
    assert await balance(admin) == before - PRICE
    resp = await api.post(f"/v1/tasks/{created['task_id']}/cancel")
    assert resp.status_code == 200, resp.text
    task = resp.json()
    assert task["status"] == "cancelled" and task["charged"] == 0
    assert task["error"]["reason"] == "cancelled"
    assert await balance(admin) == before

    async with gateway.client(path="/minimaxi") as mm:
        query = (
            await mm.get("/v1/query/video_generation", params={"task_id": created["platform_id"]})
        ).json()
    assert query["status"] == "Fail" and "cancelled" in query["error_message"]
    assert query["base_resp"]["status_code"] == 0

    again = await api.post(f"/v1/tasks/{created['platform_id']}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["error"]["message"]
    # the upstream finishes the task meanwhile; the gateway must not care
    await gateway.finish(created["task_id"])
    late = (await api.get(f"/v1/tasks/{created['platform_id']}")).json()
    assert late["status"] == "cancelled" and late["video"] is None
    assert await balance(admin) == before
    ledger = (await admin.get("/accounts/1/ledger", params={"limit": 5})).json()["data"]
    kinds = [e["kind"] for e in ledger if e["task_id"] is not None][:2]
    assert kinds == ["refund", "reserve"]


async def test_a_finished_task_cannot_be_cancelled(
    gateway: InProcess, api: httpx.AsyncClient
) -> None:
    created = await create(gateway)
    await gateway.finish(created["task_id"])
    resp = await api.post(f"/v1/tasks/{created['platform_id']}/cancel")
    assert resp.status_code == 409
    assert "already succeeded" in resp.json()["error"]["message"]


async def test_deadline_fails_and_refunds(
    gateway: InProcess, api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    before = await balance(admin)
    created = await create(gateway, T2V, **{"X-Reelgate-Deadline": "1"})
    await gateway.track()  # the clock moves past the deadline before the upstream finishes
    task = (await api.get(f"/v1/tasks/{created['platform_id']}")).json()
    assert task["status"] == "failed"
    assert task["error"]["reason"] == "deadline_exceeded"
    assert "deadline" in task["error"]["message"]
    assert task["charged"] == 0 and await balance(admin) == before
    async with gateway.client(path="/minimaxi") as mm:
        query = {"task_id": created["task_id"]}
        assert (await mm.get("/v1/query/video_generation", params=query)).json()["status"] == "Fail"
        bad = (
            await mm.post("/v1/video_generation", json=T2V, headers={"X-Reelgate-Deadline": "soon"})
        ).json()
    assert bad["base_resp"]["status_code"] == 2013


async def test_openapi_documents_the_task_api(gateway: InProcess) -> None:
    async with gateway.client(None) as plain:
        spec = (await plain.get("/openapi.json")).json()
    for path in (
        "/v1/tasks",
        "/v1/tasks/{task_id}",
        "/v1/tasks/{task_id}/cancel",
        "/v1/tasks/{task_id}/events",
    ):
        assert path in spec["paths"]
    schemas = spec["components"]["schemas"]
    assert {"TaskObject", "TaskList", "ErrorBody"} <= set(schemas)
    responses = spec["paths"]["/v1/tasks/{task_id}"]["get"]["responses"]
    assert {"401", "404", "429"} <= set(responses)
