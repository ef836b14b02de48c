"""Live task events over real HTTP, while the worker moves the task on: in order, once,
resumable. The rest of the task API (get, list, cancel, deadlines) is tested in process:
``tests/inprocess/test_tasks_api.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import API_KEY, STUB_VIDEOS, MiniMax, Server, migrated_database

T2V = {"model": "T2V-01", "prompt": "a paper boat on a pond [Pan right]"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Slow enough that a task can be watched while it runs.
    data_dir = tmp_path_factory.mktemp("tasks")
    with migrated_database(data_dir) as url:
        env = {
            "REELGATE_SANDBOX_TIMINGS": "0.6,1.2,2.5",
            "REELGATE_SWEEP_INTERVAL_S": "0.5",
            **STUB_VIDEOS,
        }
        srv = Server(data_dir, url, env=env).start()
        yield srv
        srv.stop()


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30, trust_env=False) as c:
        yield c


def create(server: Server, body: dict[str, Any] = T2V, **headers: str) -> dict[str, Any]:
    with MiniMax(server.url + "/minimaxi") as mm:
        resp = mm.http.post("/v1/video_generation", json=body, headers=headers)
    data: dict[str, Any] = resp.json()
    assert data["base_resp"]["status_code"] == 0, data
    return data


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
