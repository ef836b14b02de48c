"""Copies of the videos in the local folder and the file object's links, end to end: a
failed copy is retried, copies can be off, and the upstream file object's other fields
come through (issue 14, item 2).

MiniMax's ``files/retrieve`` also answers ``backup_download_url`` (reference 2.2), and so
does the sandbox. Through the gateway it is there too: a link to the gateway's own copy
where it has one (never the upstream's), the upstream's link where it has none, and
either way it downloads the same bytes as ``download_url``. (Moved here from
``test_file_fields.py``: the two modules started the same gateways.)
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.s3 import gateways
from tests.support import API_KEY, SANDBOX_KEY, STUB_VIDEOS, MiniMax, Server, sandbox_requests

T2V = {"model": "T2V-01", "prompt": "rain on a window [Push in]"}
KITE = {"model": "T2V-01", "prompt": "a kite over a beach [Pan left]"}
CONTENT = "/v1/files/retrieve_content"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    envs = {
        # the first download of every video answers 404: the tracker's copy fails
        "retry": {
            "REELGATE_SANDBOX_FAULTS": "download_404=1",
            "REELGATE_SWEEP_INTERVAL_S": "1",
            **STUB_VIDEOS,
        },
        "never": {"REELGATE_COPY_VIDEOS": "never", **STUB_VIDEOS},
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


# -- the file object's other fields (issue 14, item 2) ----------------------------------


def finished_file(server: Server) -> tuple[dict[str, object], float]:
    """A finished task's file object through the gateway, and when it was asked for."""
    with MiniMax(server.url + "/minimaxi") as minimax:
        done = minimax.wait(minimax.create(KITE)["task_id"])
        assert done["status"] == "Success", done
        asked = time.time()
        answer = minimax.retrieve(done["file_id"])
    assert answer["base_resp"]["status_code"] == 0, answer
    return answer["file"], asked


def fetch(url: object) -> bytes:
    assert isinstance(url, str)
    resp = httpx.get(url, timeout=30, trust_env=False)
    assert resp.status_code == 200 and resp.headers["content-type"] == "video/mp4", resp.text
    return resp.content


def test_the_sandbox_answers_a_backup_link_like_minimax(servers: dict[str, Server]) -> None:
    server = servers["never"]
    gateway_file, _ = finished_file(server)
    with MiniMax(server.url + "/sandbox", SANDBOX_KEY) as sandbox:  # the gateway's upstream
        file = sandbox.retrieve(str(gateway_file["file_id"]))["file"]
    assert file["backup_download_url"] != file["download_url"]
    assert fetch(file["backup_download_url"]) == fetch(file["download_url"])


def test_backup_download_url_is_the_gateways_copy(server: Server) -> None:
    """On a gateway with the default settings (it copies every video): the shared one."""
    file, asked = finished_file(server)
    backup = file["backup_download_url"]
    assert isinstance(backup, str)
    assert backup.startswith(server.url + "/files/"), backup  # the gateway's signed link
    assert "/sandbox" not in backup
    assert fetch(backup) == fetch(file["download_url"])
    # answered from the store: the upstream was not asked for the file object again
    calls = sandbox_requests(server.url + "/sandbox", asked)
    retrieved = [c for c in calls if c["endpoint"] == "retrieve"]
    assert not [c for c in retrieved if str(c.get("file_id")) == str(file["file_id"])], calls


def test_backup_download_url_is_the_upstreams_without_a_copy(servers: dict[str, Server]) -> None:
    server = servers["never"]
    file, _ = finished_file(server)
    backup = file["backup_download_url"]
    assert isinstance(backup, str)
    assert backup.startswith(server.url + "/sandbox/v1/files/download/"), backup
    assert backup != file["download_url"]
    assert fetch(backup) == fetch(file["download_url"])
