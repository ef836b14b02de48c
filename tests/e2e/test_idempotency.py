"""Idempotency-Key on create and on cancel."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import httpx

from tests.support import API_KEY, MiniMax, Server, count_tasks

T2V = {"model": "T2V-01", "prompt": "a windmill at noon"}


def post(server: Server, path: str, body: Any, key: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": key}
    return httpx.post(server.url + path, json=body, headers=headers, trust_env=False, timeout=30)


def test_a_retried_create_replays_the_first_answer(server: Server) -> None:
    key = str(uuid.uuid4())
    before = count_tasks(server.database_url)
    first = post(server, "/minimaxi/v1/video_generation", T2V, key)
    again = post(server, "/minimaxi/v1/video_generation", T2V, key)
    assert first.json()["base_resp"]["status_code"] == 0
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert count_tasks(server.database_url) == before + 1


def test_the_same_key_with_another_body_is_refused(server: Server) -> None:
    key = str(uuid.uuid4())
    assert (
        post(server, "/minimaxi/v1/video_generation", T2V, key).json()["base_resp"]["status_code"]
        == 0
    )
    other = post(server, "/minimaxi/v1/video_generation", {**T2V, "prompt": "else"}, key).json()
    assert other["base_resp"]["status_code"] == 2013
    assert "different request" in other["base_resp"]["status_msg"]


def test_concurrent_duplicates_make_one_task(server: Server) -> None:
    key = str(uuid.uuid4())
    before = count_tasks(server.database_url)
    answers: list[dict[str, Any]] = []

    def send() -> None:
        answers.append(post(server, "/minimaxi/v1/video_generation", T2V, key).json())

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count_tasks(server.database_url) == before + 1
    winners = [a for a in answers if a["base_resp"]["status_code"] == 0]
    conflicts = [a for a in answers if a["base_resp"]["status_code"] != 0]
    assert winners and len({a["platform_id"] for a in winners}) == 1
    for a in conflicts:
        assert a["base_resp"]["status_code"] == 2013
        assert "in progress" in a["base_resp"]["status_msg"]


def test_a_refused_create_is_replayed_too(server: Server) -> None:
    key = str(uuid.uuid4())
    bad = {"model": "T2V-01", "prompt": "x", "duration": 10}
    first = post(server, "/minimaxi/v1/video_generation", bad, key).json()
    assert first["base_resp"]["status_code"] == 2013
    assert post(server, "/minimaxi/v1/video_generation", bad, key).json() == first


def test_a_retried_cancel_replays_the_first_answer(server: Server) -> None:
    with MiniMax(server.url + "/minimaxi", API_KEY) as client:
        task = client.create(T2V)["platform_id"]
    key = str(uuid.uuid4())
    first = post(server, f"/v1/tasks/{task}/cancel", None, key)
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    again = post(server, f"/v1/tasks/{task}/cancel", None, key)
    assert again.status_code == 200 and again.json() == first.json()
    plain = post(server, f"/v1/tasks/{task}/cancel", None, str(uuid.uuid4()))
    assert plain.status_code == 409
