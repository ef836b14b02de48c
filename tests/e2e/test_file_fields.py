"""The upstream file object's other fields over real HTTP (issue 14, item 2).

MiniMax's ``files/retrieve`` also answers ``backup_download_url`` (reference 2.2), and so
does the sandbox. Through the gateway it is there too: a link to the gateway's own copy
where it has one (never the upstream's), the upstream's link where it has none, and
either way it downloads the same bytes as ``download_url``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.s3 import gateways
from tests.support import SANDBOX_KEY, MiniMax, Server, sandbox_requests

T2V = {"model": "T2V-01", "prompt": "a kite over a beach [Pan left]"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    envs = {"copy": {}, "never": {"REELGATE_COPY_VIDEOS": "never"}}
    with gateways(tmp_path_factory.mktemp("file-fields"), envs) as started:
        yield started


def finished_file(server: Server) -> tuple[dict[str, object], float]:
    """A finished task's file object through the gateway, and when it was asked for."""
    with MiniMax(server.url + "/minimaxi") as minimax:
        done = minimax.wait(minimax.create(T2V)["task_id"])
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


def test_backup_download_url_is_the_gateways_copy(servers: dict[str, Server]) -> None:
    server = servers["copy"]
    file, asked = finished_file(server)
    backup = file["backup_download_url"]
    assert isinstance(backup, str)
    assert backup.startswith(server.url + "/files/"), backup  # the gateway's signed link
    assert "/sandbox" not in backup
    assert fetch(backup) == fetch(file["download_url"])
    # answered from the store: the upstream was not asked for the file object again
    calls = sandbox_requests(server.url + "/sandbox", asked)
    assert not [c for c in calls if c["endpoint"] == "retrieve"], calls


def test_backup_download_url_is_the_upstreams_without_a_copy(servers: dict[str, Server]) -> None:
    server = servers["never"]
    file, _ = finished_file(server)
    backup = file["backup_download_url"]
    assert isinstance(backup, str)
    assert backup.startswith(server.url + "/sandbox/v1/files/download/"), backup
    assert backup != file["download_url"]
    assert fetch(backup) == fetch(file["download_url"])
