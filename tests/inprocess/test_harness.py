"""The in-process tier itself: the app runs on the fake upstream, and tasks move only when
the test says so (a cue, a tracker round), with no process and no sleep."""

from __future__ import annotations

import time

import pytest

from tests.inprocess.harness import InProcess

pytestmark = pytest.mark.asyncio(loop_scope="module")

T2V = {"model": "T2V-01", "prompt": "a paper boat on a pond"}


async def test_a_task_runs_on_the_fake_upstream(gateway: InProcess) -> None:
    started = time.monotonic()
    async with gateway.client(path="/minimaxi") as mm:
        made = (await mm.post("/v1/video_generation", json=T2V)).json()
        assert made["base_resp"]["status_code"] == 0, made
        task_id = made["task_id"]
        assert gateway.upstream.tasks[task_id].request.model == "T2V-01"

        async def query() -> dict[str, object]:
            resp = await mm.get("/v1/query/video_generation", params={"task_id": task_id})
            return resp.json()  # type: ignore[no-any-return]

        assert (await query())["status"] == "Preparing"  # not polled yet
        await gateway.track()  # no cue: the upstream has it queued
        assert (await query())["status"] == "Queueing"
        gateway.upstream.start(task_id)
        await gateway.track()
        assert (await query())["status"] == "Processing"
        await gateway.finish(task_id)
        done = await query()
        assert done["status"] == "Success" and done["file_id"] == f"file-{task_id}"

        file = (await mm.get("/v1/files/retrieve", params={"file_id": done["file_id"]})).json()
        download = await mm.get(file["file"]["download_url"])
        assert download.status_code == 200
        assert download.content == gateway.upstream.video_bytes  # copied into the storage
    assert time.monotonic() - started < 5


async def test_a_failed_task_and_a_refused_create(gateway: InProcess) -> None:
    async with gateway.client(path="/minimaxi") as mm:
        made = (await mm.post("/v1/video_generation", json=T2V)).json()
        gateway.upstream.fail(made["task_id"], 1027, "output flagged")
        await gateway.track()
        done = (
            await mm.get("/v1/query/video_generation", params={"task_id": made["task_id"]})
        ).json()
        assert done["status"] == "Fail" and "flagged" in done["error_message"]

        before = await gateway.count_tasks()
        gateway.upstream.refuse_next("submit", 1026, "input flagged")
        refused = (await mm.post("/v1/video_generation", json=T2V)).json()
        assert refused["base_resp"]["status_code"] == 1026, refused
        # a refused create is recorded as failed (its reservation released), not lost
        assert await gateway.count_tasks() == before + 1
