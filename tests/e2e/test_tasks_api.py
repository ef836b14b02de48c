"""The platform's task API over real HTTP: get, list, cancel, events, deadlines."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import ADMIN_TOKEN, API_KEY, MiniMax, Server, fresh_database

T2V = {"model": "T2V-01", "prompt": "a paper boat on a pond [Pan right]"}
PRICE = 43  # T2V-01, 720P, 6 s in the shipped price table


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Slow enough that a task can be watched and cancelled while it runs.
    data_dir = tmp_path_factory.mktemp("tasks")
    with fresh_database(data_dir) as url:
        env = {"REELGATE_SANDBOX_TIMINGS": "0.6,1.2,2.5", "REELGATE_SWEEP_INTERVAL_S": "0.5"}
        srv = Server(data_dir, url, env=env).start()
        yield srv
        srv.stop()


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30, trust_env=False) as c:
        yield c


@pytest.fixture
def admin(server: Server) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30, trust_env=False) as c:
        yield c


def create(server: Server, body: dict[str, Any] = T2V, **headers: str) -> dict[str, Any]:
    with MiniMax(server.url + "/minimaxi") as mm:
        resp = mm.http.post("/v1/video_generation", json=body, headers=headers)
    data: dict[str, Any] = resp.json()
    assert data["base_resp"]["status_code"] == 0, data
    return data


def wait_status(api: httpx.Client, task_id: str, statuses: set[str], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = api.get(f"/v1/tasks/{task_id}").json()
        if task["status"] in statuses:
            return task
        time.sleep(0.2)
    raise AssertionError(f"{task_id} never reached {statuses}: {task}")


def balance(admin: httpx.Client) -> int:
    return int(admin.get("/admin/v1/accounts/1").json()["balance"])


def test_get_by_either_id(server: Server, api: httpx.Client) -> None:
    created = create(server)
    by_platform = api.get(f"/v1/tasks/{created['platform_id']}")
    by_upstream = api.get(f"/v1/tasks/{created['task_id']}")
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

    done = wait_status(api, created["platform_id"], {"succeeded"})
    assert done["charged"] == PRICE and done["minimax_status"] == "Success"
    assert done["finished_at"] >= done["created_at"]
    video = done["video"]
    assert (video["width"], video["height"], video["duration"]) == (1280, 720, 6)
    download = httpx.get(video["download_url"], trust_env=False)
    assert download.status_code == 200 and len(download.content) == video["bytes"]


def test_errors_use_real_status_codes(api: httpx.Client, server: Server) -> None:
    missing = api.get("/v1/tasks/video_01JSGXXXXXXXXXXXXXXXXXXXXX")
    assert missing.status_code == 404
    body = missing.json()
    assert set(body) == {"error", "request_id"} and body["error"]["kind"] == "not_found"
    assert body["request_id"] == missing.headers["trace-id"]
    no_key = httpx.get(server.url + "/v1/tasks", trust_env=False)
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == 1004
    wrong = httpx.get(server.url + "/v1/tasks", headers={"Authorization": "Bearer sk-no"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == 2049
    assert api.get("/v1/tasks", params={"status": "done"}).status_code == 422
    assert api.get("/v1/tasks", params={"limit": 0}).status_code == 422
    assert api.get("/v1/tasks", params={"cursor": "garbage"}).status_code == 400


def test_list_is_newest_first_with_filters_and_cursor(server: Server, api: httpx.Client) -> None:
    started = api.get("/v1/tasks", params={"limit": 1}).json()["data"]
    since = started[0]["created_at"] if started else "2000-01-01T00:00:00Z"
    ids = [create(server)["platform_id"] for _ in range(3)]
    page = api.get("/v1/tasks", params={"limit": 2, "created_after": since}).json()
    assert [t["platform_id"] for t in page["data"]] == ids[::-1][:2]
    assert page["has_more"] and page["next_cursor"]
    rest = api.get(
        "/v1/tasks", params={"limit": 2, "cursor": page["next_cursor"], "created_after": since}
    ).json()
    assert rest["data"][0]["platform_id"] == ids[0]

    assert api.get("/v1/tasks", params={"model": "S2V-01"}).json()["data"] == []
    only_t2v = api.get("/v1/tasks", params={"model": "T2V-01", "limit": 200}).json()["data"]
    assert {t["platform_id"] for t in only_t2v} >= set(ids)
    future = api.get("/v1/tasks", params={"created_after": "2999-01-01T00:00:00Z"}).json()
    assert future["data"] == [] and future["next_cursor"] is None
    for task_id in ids:
        wait_status(api, task_id, {"succeeded"})
    done = api.get("/v1/tasks", params={"status": "succeeded", "limit": 200}).json()["data"]
    assert {t["platform_id"] for t in done} >= set(ids)
    assert all(t["status"] == "succeeded" for t in done)


def test_cancel_refunds_and_ignores_the_late_result(
    server: Server, api: httpx.Client, admin: httpx.Client
) -> None:
    before = balance(admin)
    created = create(server)
    assert balance(admin) == before - PRICE
    resp = api.post(f"/v1/tasks/{created['task_id']}/cancel")
    assert resp.status_code == 200, resp.text
    task = resp.json()
    assert task["status"] == "cancelled" and task["charged"] == 0
    assert task["error"]["reason"] == "cancelled"
    assert balance(admin) == before

    with MiniMax(server.url + "/minimaxi") as mm:
        query = mm.query(created["platform_id"])
    assert query["status"] == "Fail" and "cancelled" in query["error_message"]
    assert query["base_resp"]["status_code"] == 0

    again = api.post(f"/v1/tasks/{created['platform_id']}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["error"]["message"]
    time.sleep(5)  # the upstream finishes the task meanwhile; the gateway must not care
    late = api.get(f"/v1/tasks/{created['platform_id']}").json()
    assert late["status"] == "cancelled" and late["video"] is None
    assert balance(admin) == before
    ledger = admin.get("/admin/v1/accounts/1/ledger", params={"limit": 5}).json()["data"]
    kinds = [e["kind"] for e in ledger if e["task_id"] is not None][:2]
    assert kinds == ["refund", "reserve"]


def test_a_finished_task_cannot_be_cancelled(server: Server, api: httpx.Client) -> None:
    created = create(server)
    wait_status(api, created["platform_id"], {"succeeded"})
    resp = api.post(f"/v1/tasks/{created['platform_id']}/cancel")
    assert resp.status_code == 409
    assert "already succeeded" in resp.json()["error"]["message"]


def read_events(
    client: httpx.Client, task_id: str, last_event_id: str | None = None, stop_after: int = 0
) -> list[tuple[int, dict[str, Any]]]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[tuple[int, dict[str, Any]]] = []
    with client.stream("GET", f"/v1/tasks/{task_id}/events", headers=headers) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        event_id, data = None, None
        for line in resp.iter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and event_id is not None and data is not None:
                events.append((event_id, data))
                event_id, data = None, None
                if stop_after and len(events) == stop_after:
                    break
    return events


def test_events_arrive_in_order_once_and_resume(server: Server, api: httpx.Client) -> None:
    created = create(server)
    events = read_events(api, created["platform_id"])
    seqs = [seq for seq, _ in events]
    assert seqs == list(range(1, len(seqs) + 1))
    statuses = [data["status"] for _, data in events]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded"
    assert "running" in statuses
    steps = [(d["status"], d["minimax_status"]) for _, d in events]
    assert len(steps) == len(set(steps)), "a transition arrived twice"

    # A client that drops after two events and reconnects misses nothing.
    second = create(server)
    first_part = read_events(api, second["task_id"], stop_after=2)
    assert [seq for seq, _ in first_part] == [1, 2]
    rest = read_events(api, second["task_id"], last_event_id="2")
    assert [seq for seq, _ in first_part + rest] == list(range(1, len(rest) + 3))
    assert rest[-1][1]["status"] == "succeeded"
    # resuming after the end returns at once with nothing
    assert read_events(api, second["task_id"], last_event_id=str(len(rest) + 2)) == []


def test_deadline_fails_and_refunds(server: Server, api: httpx.Client, admin: httpx.Client) -> None:
    before = balance(admin)
    created = create(server, T2V, **{"X-Reelgate-Deadline": "1"})
    task = wait_status(api, created["platform_id"], {"failed", "succeeded"}, timeout=10)
    assert task["status"] == "failed"
    assert task["error"]["reason"] == "deadline_exceeded"
    assert "deadline" in task["error"]["message"]
    assert task["charged"] == 0 and balance(admin) == before
    with MiniMax(server.url + "/minimaxi") as mm:
        assert mm.query(created["task_id"])["status"] == "Fail"
        bad = mm.http.post(
            "/v1/video_generation", json=T2V, headers={"X-Reelgate-Deadline": "soon"}
        ).json()
    assert bad["base_resp"]["status_code"] == 2013


def test_openapi_documents_the_task_api(server: Server) -> None:
    spec = httpx.get(server.url + "/openapi.json", trust_env=False).json()
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
