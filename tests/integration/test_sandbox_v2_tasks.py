"""The sandbox's v2 tasks over HTTP: ids, the list (paging, filters, accounts, the 7-day
window), DELETE in each status, callback pushes in v2's shape, and v1 and v2 kept apart.

The clock is the test's (``Clock``), so each status is reached exactly when asked;
renders are the sandbox's shared stub clip where the video itself is not the point.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from reelgate.sandbox.faults import FaultPlan
from reelgate.sandbox.state import SandboxState, SandboxTask
from reelgate.sandbox.v2 import WINDOW_S
from tests.integration.test_sandbox_callbacks import receiver
from tests.integration.test_sandbox_v2 import (
    OTHER,
    Clock,
    body,
    finish,
    refused,
    running,
)

H3_MAX = {"model": "MiniMax-H3-Max", "resolution": "480P", "duration": 5}
TASK_FIELDS = {
    "id",
    "model",
    "status",
    "created_at",
    "updated_at",
    "resolution",
    "duration",
    "usage",
    "ratio",
    "task_type",
    "modality",
}
INVALID_TASK_ID = "invalid task_id"


async def create(http: httpx.AsyncClient, payload: dict[str, Any], key: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    resp = await http.post("/v2/video_generation", json=payload, headers=headers)
    assert resp.status_code == 200, resp.text
    task_id: str = resp.json()["task_id"]
    return task_id


async def query(http: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    resp = await http.get(f"/v2/query/video_generation/{task_id}")
    assert resp.status_code == 200, resp.text
    task: dict[str, Any] = resp.json()["task"]
    return task


async def listed(http: httpx.AsyncClient, params: Any = None, key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    resp = await http.get("/v2/query/video_generation", params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def ids_of(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


async def test_create_answers_a_15_digit_id_and_nothing_else(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, render_mode="stub") as (_, http):
        resp = await http.post("/v2/video_generation", json=body())
        assert resp.status_code == 200 and list(resp.json()) == ["task_id"]
        task_id = resp.json()["task_id"]
        assert isinstance(task_id, str) and len(task_id) == 15 and task_id.isdigit()
        task = await query(http, task_id)
    assert set(task) == TASK_FIELDS  # queued: no error, no content
    assert (task["status"], task["usage"], task["ratio"]) == ("queued", {}, "16:9")
    assert task["created_at"] == task["updated_at"] == int(clock.now)


async def test_the_list_pages_newest_first_over_the_callers_tasks(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, render_mode="stub") as (_, http):
        ids = []
        for i in range(5):
            ids.append(await create(http, body(**H3_MAX) if i % 2 else body()))
            clock.now += 1
        theirs = await create(http, body(), key=OTHER)
        newest = ids[::-1]
        pages = [await listed(http, {"page_num": n, "page_size": 2}) for n in (1, 2, 3, 4)]
        assert [ids_of(p) for p in pages] == [newest[:2], newest[2:4], newest[4:], []]
        assert {p["total"] for p in pages} == {5}
        assert ids_of(await listed(http)) == newest  # page 1 of 20 by default
        assert ids_of(await listed(http, key=OTHER)) == [theirs]
        model = await listed(http, {"filter.model": "MiniMax-H3-Max"})
        assert ids_of(model) == [ids[3], ids[1]] and model["total"] == 2
        chosen = await listed(http, [("filter.task_ids", ids[0]), ("filter.task_ids", ids[2])])
        assert ids_of(chosen) == [ids[2], ids[0]] and chosen["total"] == 2
        assert (await listed(http, {"filter.task_ids": theirs}))["total"] == 0
        assert (await listed(http, {"filter.task_type": "generation"}))["total"] == 5
        assert (await listed(http, {"filter.task_type": "regeneration"}))["total"] == 0


async def test_the_list_filters_by_status(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, render_mode="stub") as (sandbox, http):
        first, second, third = [await create(http, body()) for _ in range(3)]
        assert (await http.delete(f"/v2/video_generation/{third}")).status_code == 200
        clock.now += sandbox.timeline.processing_at_s
        by_status = {
            s: ids_of(await listed(http, {"filter.status": s}))
            for s in ("queued", "running", "succeeded", "failed", "cancelled")
        }
        assert by_status == {
            "queued": [],
            "running": [second, first],
            "succeeded": [],
            "failed": [],
            "cancelled": [third],
        }
        await finish(sandbox, http, clock, first)
        await finish(sandbox, http, clock, second)
        assert ids_of(await listed(http, {"filter.status": "succeeded"})) == [second, first]


async def test_list_parameters_at_their_limits(tmp_path: Path) -> None:
    async with running(tmp_path, render_mode="stub") as (_, http):
        await create(http, body())
        assert (await listed(http, {"page_size": 100, "page_num": 1}))["total"] == 1
        for params, named in [
            ({"page_size": 101}, "page_size"),
            ({"page_size": 0}, "page_size"),
            ({"page_num": 0}, "page_num"),
            ({"page_num": "two"}, "page_num"),
            ({"filter.status": "expired"}, "filter.status"),
            ({"filter.task_type": "remix"}, "filter.task_type"),
        ]:
            resp = await http.get("/v2/query/video_generation", params=params)
            assert named in refused(resp, 400, 2013), params


async def test_a_task_is_visible_for_7_days_and_not_a_second_more(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, render_mode="stub") as (sandbox, http):
        task_id = await create(http, body())
        await finish(sandbox, http, clock, task_id)
        clock.now = sandbox.state.get(task_id).created_at + WINDOW_S  # type: ignore[union-attr]
        assert (await query(http, task_id))["status"] == "succeeded"
        assert ids_of(await listed(http)) == [task_id]
        clock.now += 1
        resp = await http.get(f"/v2/query/video_generation/{task_id}")
        assert refused(resp, 400, 2013) == INVALID_TASK_ID
        assert await listed(http) == {"items": [], "total": 0}
        resp = await http.delete(f"/v2/video_generation/{task_id}")
        assert refused(resp, 400, 2013) == INVALID_TASK_ID


async def test_delete_cancels_a_queued_task_up_to_the_moment_it_runs(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, render_mode="stub") as (sandbox, http):
        early, late = await create(http, body()), await create(http, body())
        start = clock.now
        clock.now = cancel_at = start + sandbox.timeline.processing_at_s - 0.001  # queued
        resp = await http.delete(f"/v2/video_generation/{early}")
        assert resp.status_code == 200
        assert resp.json() == {"task_id": early, "action": "cancelled", "status": "cancelled"}
        clock.now = start + sandbox.timeline.processing_at_s  # running from this instant
        resp = await http.delete(f"/v2/video_generation/{late}")
        assert "running" in refused(resp, 400, 2013)
        clock.now += 3600
        cancelled = await query(http, early)
        assert cancelled["status"] == "cancelled" and set(cancelled) == TASK_FIELDS
        assert cancelled["usage"] == {} and cancelled["updated_at"] == int(cancel_at)
        # cancelled stays cancelled, and cannot be cancelled or deleted again
        resp = await http.delete(f"/v2/video_generation/{early}")
        assert "cancelled" in refused(resp, 400, 2013)
        assert (await query(http, early))["status"] == "cancelled"
        # the refused DELETE left the running task alone
        assert (await finish(sandbox, http, clock, late))["status"] == "succeeded"


async def test_delete_removes_a_finished_task(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, render_mode="stub", faults="") as (sandbox, http):
        task_id = await create(http, body())
        done = await finish(sandbox, http, clock, task_id)
        assert (await http.get(done["content"]["url"])).status_code == 200
        resp = await http.delete(f"/v2/video_generation/{task_id}")
        assert resp.json() == {"task_id": task_id, "action": "deleted", "status": "deleted"}
        resp = await http.get(f"/v2/query/video_generation/{task_id}")
        assert refused(resp, 400, 2013) == INVALID_TASK_ID
        assert await listed(http) == {"items": [], "total": 0}
        assert (await http.get(done["content"]["url"])).status_code == 404
        resp = await http.delete(f"/v2/video_generation/{task_id}")
        assert refused(resp, 400, 2013) == INVALID_TASK_ID
        record = sandbox.state.tasks_dir / f"{task_id}.json"
        await _until(lambda: not record.exists())


async def test_delete_removes_a_failed_task(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, faults="fail_midway=1") as (sandbox, http):
        task_id = await create(http, body())
        failed = await finish(sandbox, http, clock, task_id)
        assert failed["status"] == "failed" and failed["usage"] == {}
        assert failed["error"] == {"code": "1027", "message": "output new_sensitive"}
        assert "content" not in failed
        resp = await http.delete(f"/v2/video_generation/{task_id}")
        assert resp.json()["action"] == "deleted"
        resp = await http.get(f"/v2/query/video_generation/{task_id}")
        assert refused(resp, 400, 2013) == INVALID_TASK_ID


async def test_another_accounts_task_is_an_unknown_id(tmp_path: Path) -> None:
    async with running(tmp_path, render_mode="stub") as (_, http):
        theirs = await create(http, body(), key=OTHER)
        for resp in (
            await http.get(f"/v2/query/video_generation/{theirs}"),
            await http.delete(f"/v2/video_generation/{theirs}"),
            await http.get("/v2/query/video_generation/123456789012345"),
        ):
            assert refused(resp, 400, 2013) == INVALID_TASK_ID
        headers = {"Authorization": f"Bearer {OTHER}"}
        mine = await http.get(f"/v2/query/video_generation/{theirs}", headers=headers)
        assert mine.json()["task"]["status"] == "queued"


async def test_v1_and_v2_each_see_only_their_own_tasks(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, render_mode="stub") as (sandbox, http):
        v2_id = await create(http, body())
        v1 = await http.post("/v1/video_generation", json={"model": "T2V-01", "prompt": "a kite"})
        v1_id = v1.json()["task_id"]
        v2_file = (await finish(sandbox, http, clock, v2_id))["content"]["url"]
        v2_file_id = v2_file.split("/download/")[1].split(".mp4")[0]
        seen = await http.get("/v1/query/video_generation", params={"task_id": v2_id})
        assert seen.status_code == 200 and seen.json()["base_resp"]["status_code"] == 2013
        retrieved = await http.get("/v1/files/retrieve", params={"file_id": v2_file_id})
        assert retrieved.json()["base_resp"]["status_code"] == 2013
        resp = await http.get(f"/v2/query/video_generation/{v1_id}")
        assert refused(resp, 400, 2013) == INVALID_TASK_ID
        assert ids_of(await listed(http)) == [v2_id]


async def _until(check: Any, within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


def pushed(pushes: list[dict[str, Any]]) -> list[str]:
    return [p["task"]["status"] for p in pushes]


async def test_callbacks_push_the_querys_body_at_each_status(tmp_path: Path) -> None:
    with receiver("echo") as rec:
        async with running(tmp_path, render_mode="stub") as (_, http):
            task_id = await create(http, body(callback_url=rec.url))
            assert len(rec.challenges) == 1
            await _until(lambda: "succeeded" in pushed(rec.pushes))
            now = await query(http, task_id)
            video = await http.get(rec.pushes[-1]["task"]["content"]["url"])
    assert pushed(rec.pushes) == ["queued", "running", "succeeded"]
    assert all(set(p) == {"task"} and p["task"]["id"] == task_id for p in rec.pushes)
    queued, running_, succeeded = (p["task"] for p in rec.pushes)
    assert set(queued) == set(running_) == TASK_FIELDS and queued["usage"] == {}
    assert running_["updated_at"] >= queued["updated_at"]
    assert set(succeeded) == TASK_FIELDS | {"content"} and video.status_code == 200
    assert {**succeeded, "content": None} == {**now, "content": None}


async def test_callbacks_push_cancelled_and_failed(tmp_path: Path) -> None:
    with receiver("echo") as rec:
        async with running(tmp_path, render_mode="stub") as (sandbox, http):
            cancelled = await create(http, body(callback_url=rec.url))
            assert (await http.delete(f"/v2/video_generation/{cancelled}")).status_code == 200
            await _until(lambda: "cancelled" in pushed(rec.pushes))
            await asyncio.sleep(sandbox.timeline.total_s + 0.3)  # nothing more comes
            sandbox.faults.configure(FaultPlan.parse("fail_midway=1"))
            failed = await create(http, body(callback_url=rec.url))
            await _until(lambda: "failed" in pushed(rec.pushes))
    mine = {
        task_id: [p["task"] for p in rec.pushes if p["task"]["id"] == task_id]
        for task_id in (cancelled, failed)
    }
    assert [t["status"] for t in mine[cancelled]] == ["queued", "cancelled"]
    assert [t["status"] for t in mine[failed]] == ["queued", "running", "failed"]
    assert mine[failed][-1]["error"] == {"code": "1027", "message": "output new_sensitive"}


def test_a_deleted_record_stays_deleted(tmp_path: Path) -> None:
    """A push or a download that saves a task after its DELETE must not bring it back."""
    state = SandboxState(tmp_path)
    task = SandboxTask(
        "179600000000001",
        "acct",
        "MiniMax-H3",
        "t2v",
        "p",
        4,
        "768P",
        1344,
        768,
        1.0,
        "1796000000000011",
        api="v2",
    )
    state.save(task, new=True)
    state.delete(task)
    task.pushed.append("success")
    state.save(task)
    assert state.get(task.task_id) is None and state.by_file(task.file_id) is None
    state.close()
    assert list(state.tasks_dir.iterdir()) == []
    assert SandboxState(tmp_path).all() == []


async def test_v2_tasks_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, render_mode="stub") as (_, http):
        task_id = await create(http, body(ratio="21:9"))
        before = await query(http, task_id)
    async with running(tmp_path, clock=clock, render_mode="stub") as (sandbox, http):
        assert await query(http, task_id) == before
        done = await finish(sandbox, http, clock, task_id)
    assert (done["status"], done["ratio"]) == ("succeeded", "21:9")
