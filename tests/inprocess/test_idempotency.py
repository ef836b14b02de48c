"""Idempotency-Key on create and on cancel. In process, on the fake upstream (moved from
``tests/e2e/test_idempotency.py``; the takeover after a SIGKILL stays in
``tests/e2e/test_idempotency_takeover.py``)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.inprocess.harness import InProcess

pytestmark = pytest.mark.asyncio(loop_scope="module")

T2V = {"model": "T2V-01", "prompt": "a windmill at noon"}


async def post(gateway: InProcess, path: str, body: Any, key: str) -> httpx.Response:
    async with gateway.client() as http:
        return await http.post(path, json=body, headers={"Idempotency-Key": key})


async def test_a_retried_create_replays_the_first_answer(gateway: InProcess) -> None:
    key = str(uuid.uuid4())
    before = await gateway.count_tasks()
    first = await post(gateway, "/minimaxi/v1/video_generation", T2V, key)
    again = await post(gateway, "/minimaxi/v1/video_generation", T2V, key)
    assert first.json()["base_resp"]["status_code"] == 0
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert await gateway.count_tasks() == before + 1


async def test_the_same_key_with_another_body_is_refused(gateway: InProcess) -> None:
    key = str(uuid.uuid4())
    first = await post(gateway, "/minimaxi/v1/video_generation", T2V, key)
    assert first.json()["base_resp"]["status_code"] == 0
    other = (
        await post(gateway, "/minimaxi/v1/video_generation", {**T2V, "prompt": "else"}, key)
    ).json()
    assert other["base_resp"]["status_code"] == 2013
    assert "different request" in other["base_resp"]["status_msg"]


async def test_concurrent_duplicates_make_one_task(gateway: InProcess) -> None:
    key = str(uuid.uuid4())
    before = await gateway.count_tasks()
    sends = (post(gateway, "/minimaxi/v1/video_generation", T2V, key) for _ in range(6))
    answers: list[dict[str, Any]] = [r.json() for r in await asyncio.gather(*sends)]
    assert await gateway.count_tasks() == before + 1
    winners = [a for a in answers if a["base_resp"]["status_code"] == 0]
    conflicts = [a for a in answers if a["base_resp"]["status_code"] != 0]
    assert winners and len({a["platform_id"] for a in winners}) == 1
    for a in conflicts:
        assert a["base_resp"]["status_code"] == 2013
        assert "in progress" in a["base_resp"]["status_msg"]


async def test_a_refused_create_is_replayed_too(gateway: InProcess) -> None:
    key = str(uuid.uuid4())
    bad = {"model": "T2V-01", "prompt": "x", "duration": 10}
    first = (await post(gateway, "/minimaxi/v1/video_generation", bad, key)).json()
    assert first["base_resp"]["status_code"] == 2013
    assert (await post(gateway, "/minimaxi/v1/video_generation", bad, key)).json() == first


async def test_a_retried_cancel_replays_the_first_answer(gateway: InProcess) -> None:
    async with gateway.client(path="/minimaxi") as mm:
        task = (await mm.post("/v1/video_generation", json=T2V)).json()["platform_id"]
    key = str(uuid.uuid4())
    first = await post(gateway, f"/v1/tasks/{task}/cancel", None, key)
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    again = await post(gateway, f"/v1/tasks/{task}/cancel", None, key)
    assert again.status_code == 200 and again.json() == first.json()
    plain = await post(gateway, f"/v1/tasks/{task}/cancel", None, str(uuid.uuid4()))
    assert plain.status_code == 409
