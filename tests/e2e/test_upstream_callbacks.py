"""Upstream callbacks: with a public URL the gateway hears changes pushed, not polled."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support import (
    API_KEY,
    STUB_VIDEOS,
    MiniMax,
    Server,
    free_port,
    migrated_database,
    sandbox_requests,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("pushed")
    port = free_port()
    with migrated_database(data_dir) as url:
        srv = Server(
            data_dir,
            url,
            port=port,
            env={
                "REELGATE_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                "REELGATE_PUSHED_POLL_S": "30",  # the safety net is slow: pushes must do it
                "REELGATE_SANDBOX_TIMINGS": "0.3,0.3,1",
                **STUB_VIDEOS,
            },
        ).start()
        yield srv
        srv.stop()


def test_pushed_changes_are_recorded_without_polling(server: Server) -> None:
    t0 = time.time()
    with MiniMax(server.url + "/minimaxi", API_KEY) as client:
        created = [client.create({"model": "T2V-01", "prompt": f"pushed {i}"}) for i in range(3)]
        started = time.monotonic()
        done = [client.wait(c["platform_id"], timeout=20) for c in created]
        elapsed = time.monotonic() - started
    assert {d["status"] for d in done} == {"Success"}
    assert elapsed < 15, "finished only through the slow safety-net polling"
    log = sandbox_requests(server.url + "/sandbox", t0)
    for c in created:
        mine = [e for e in log if e.get("task_id") == c["task_id"]]
        queries = [e for e in mine if e["endpoint"] == "query"]
        # maybe one early poll; a pushed success needs no confirming query
        assert len(queries) <= 1, queries
        pushes = [e for e in mine if e["endpoint"].startswith("callback")]
        assert pushes, "the sandbox never called the gateway back"


def test_a_pushed_success_is_recorded_without_a_query(server: Server) -> None:
    t0 = time.time()
    with MiniMax(server.url + "/minimaxi", API_KEY) as client:
        created = client.create({"model": "T2V-01", "prompt": "pushed success"})
        done = client.wait(created["platform_id"], timeout=20)
    assert done["status"] == "Success" and done["video_width"] and done["video_height"]
    log = sandbox_requests(server.url + "/sandbox", t0)
    mine = [e for e in log if e.get("task_id") == created["task_id"]]
    pushed = [e for e in mine if e["endpoint"] == "callback_push" and e["task_status"] == "success"]
    assert len(pushed) == 1, mine
    # recorded from the push itself: the one retrieve every success needs, no query
    assert not [e for e in mine if e["endpoint"] == "query" and e["t"] >= pushed[0]["t"]]
    assert [e for e in log if e["endpoint"] == "retrieve" and e["file_id"] == done["file_id"]]


def test_a_forged_callback_is_refused(server: Server) -> None:
    resp = httpx.post(
        server.url + "/upstream/callbacks/video_01JSGXXXXXXXXXXXXXXXXXXXXX.deadbeef",
        json={"challenge": "x"},
        trust_env=False,
    )
    assert resp.status_code == 404
