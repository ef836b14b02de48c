"""Copies in the local folder, end to end: a failed copy is retried, and copies can be off."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.s3 import gateways
from tests.support import API_KEY, MiniMax, Server

T2V = {"model": "T2V-01", "prompt": "rain on a window [Push in]"}
CONTENT = "/v1/files/retrieve_content"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    envs = {
        # the first download of every video answers 404: the tracker's copy fails
        "retry": {"REELGATE_SANDBOX_FAULTS": "download_404=1", "REELGATE_SWEEP_INTERVAL_S": "1"},
        "never": {"REELGATE_COPY_VIDEOS": "never"},
    }
    with gateways(tmp_path_factory.mktemp("gateways"), envs) as started:
        yield started


def sha256_of(server: Server, platform_id: str) -> str | None:
    resp = httpx.get(
        f"{server.url}/v1/tasks/{platform_id}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        trust_env=False,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["video"]["sha256"]  # type: ignore[no-any-return]


def test_a_copy_that_failed_is_retried_and_takes_over(servers: dict[str, Server]) -> None:
    server = servers["retry"]
    with MiniMax(server.url + "/minimaxi") as minimax:
        created = minimax.create(T2V)
        done = minimax.wait(created["task_id"])
        assert done["status"] == "Success", done
        assert f"copy of {created['platform_id']} failed" in server.log()

        # Until the sweep's copy lands, the upstream's URL is handed out; it works throughout.
        seen = set()
        deadline = time.monotonic() + 30
        while True:
            url = minimax.retrieve(done["file_id"])["file"]["download_url"]
            ours = url.startswith(server.url + "/files/")
            seen.add("gateway" if ours else "upstream")
            video = httpx.get(url, timeout=30, trust_env=False)
            assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
            if ours:
                break
            assert url.startswith(server.url + "/sandbox/")
            assert time.monotonic() < deadline, "the copy never took over"
            time.sleep(0.2)

        digest = hashlib.sha256(video.content).hexdigest()
        assert sha256_of(server, created["platform_id"]) == digest
        (copy,) = (server.data_dir / "videos").rglob(f"{created['platform_id']}.mp4")
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == digest

        params = {"file_id": done["file_id"]}
        head = minimax.http.head(CONTENT, params=params)
        assert head.status_code == 200 and int(head.headers["content-length"]) == len(video.content)
        part = minimax.http.get(CONTENT, params=params, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == video.content[10:20]


def test_copy_never_stores_nothing_locally(servers: dict[str, Server]) -> None:
    server = servers["never"]
    with MiniMax(server.url + "/minimaxi") as minimax:
        created = minimax.create(T2V)
        done = minimax.wait(created["task_id"])
        url = minimax.retrieve(done["file_id"])["file"]["download_url"]
        assert url.startswith(server.url + "/sandbox/")
        plain = httpx.get(url, timeout=30, trust_env=False)
        content = minimax.http.get(CONTENT, params={"file_id": done["file_id"]})
        assert plain.status_code == content.status_code == 200
        assert plain.content == content.content and plain.content
        assert sha256_of(server, created["platform_id"]) is None
        assert not any((server.data_dir / "videos").rglob("*.mp4"))
