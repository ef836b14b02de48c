"""Copies in an S3-compatible bucket, end to end: a real gateway and a real moto server."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.s3 import MotoServer, gateways, moto_server
from tests.support import API_KEY, MiniMax, Server

T2V = {"model": "T2V-01", "prompt": "a lighthouse at dusk [Pan left]"}
PREFIX = "gw/videos/"
STUB = {"sandbox_render": "stub"}  # copies of any MP4 will do: no render per task
CONTENT = "/v1/files/retrieve_content"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, moto: MotoServer
) -> Iterator[dict[str, Server]]:
    """A gateway per configuration; the bucket of "redirect" does not exist at first."""
    make_bucket(moto, "rg-proxy")
    make_bucket(moto, "rg-never")
    envs = {
        "proxy": moto.env("rg-proxy", storage_s3_prefix=PREFIX, storage_s3_serve="proxy", **STUB),
        "redirect": moto.env(
            "rg-redirect", storage_s3_serve="redirect", sweep_interval_s="0.5", **STUB
        ),
        "never": moto.env("rg-never", copy_videos="never", **STUB),
    }
    with gateways(tmp_path_factory.mktemp("gateways"), envs) as started:
        yield started


def make_bucket(moto: MotoServer, bucket: str) -> None:
    s3 = moto.client()
    try:
        s3.create_bucket(Bucket=bucket)
    finally:
        s3.close()


def objects(moto: MotoServer, bucket: str) -> dict[str, bytes]:
    s3 = moto.client()
    try:
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}
    finally:
        s3.close()


def get(url: str, **kw: Any) -> httpx.Response:
    return httpx.get(url, timeout=30, trust_env=False, **kw)


def finish(minimax: MiniMax) -> dict[str, Any]:
    created = minimax.create(T2V)
    done = minimax.wait(created["task_id"])
    assert done["status"] == "Success", done
    return done


def task_object(server: Server, platform_id: str) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    resp = get(f"{server.url}/v1/tasks/{platform_id}", headers=auth)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def assert_ranges_and_head(
    url: str, whole: bytes, client: httpx.Client | None = None, *, by_gateway: bool = True
) -> None:
    """HEAD and ranges on ``url``; ``by_gateway=False``: the bytes come from the bucket."""
    http = client or httpx.Client(trust_env=False, timeout=30)
    try:
        size = len(whole)
        head = http.head(url)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == size
        part = http.get(url, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == whole[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{size}"
        tail = http.get(url, headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == whole[-10:]
        beyond = http.get(url, headers={"Range": f"bytes={size}-"})
        assert beyond.status_code == 416
        if by_gateway:  # S3 itself answers 416 without a Content-Range
            assert beyond.headers["content-range"] == f"bytes */{size}"
    finally:
        if client is None:
            http.close()


def test_proxy_mode_serves_the_bucket_copy(servers: dict[str, Server], moto: MotoServer) -> None:
    server = servers["proxy"]
    with MiniMax(server.url + "/minimaxi") as minimax:
        done = finish(minimax)
        file = minimax.retrieve(done["file_id"])["file"]
        url = file["download_url"]
        assert url.startswith(server.url + "/files/")

        plain = get(url)  # a plain GET, no auth, no redirect
        assert plain.status_code == 200 and plain.headers["content-type"] == "video/mp4"
        assert len(plain.content) == file["bytes"]
        assert plain.headers["etag"] == f'"{hashlib.sha256(plain.content).hexdigest()}"'
        assert_ranges_and_head(url, plain.content)

        content_url = f"{server.url}/minimaxi/v1/files/retrieve_content?file_id={done['file_id']}"
        assert minimax.http.get(content_url).content == plain.content
        assert_ranges_and_head(content_url, plain.content, minimax.http)

        video = task_object(server, done["platform_id"])["video"]
        assert video["sha256"] == hashlib.sha256(plain.content).hexdigest()
        stored = objects(moto, "rg-proxy")
        (key,) = stored
        assert key.startswith(PREFIX) and key.endswith(f"/{done['platform_id']}.mp4")
        assert hashlib.sha256(stored[key]).hexdigest() == video["sha256"]
        assert not any((server.data_dir / "videos").rglob("*.mp4"))  # nothing kept locally


def test_a_failed_copy_is_retried_and_then_served_by_redirect(
    servers: dict[str, Server], moto: MotoServer
) -> None:
    server = servers["redirect"]  # its bucket does not exist yet: every copy fails
    with MiniMax(server.url + "/minimaxi") as minimax:
        done = finish(minimax)
        url = minimax.retrieve(done["file_id"])["file"]["download_url"]
        assert url.startswith(server.url + "/sandbox/")  # the upstream's own URL meanwhile
        upstream = get(url)
        assert upstream.status_code == 200 and upstream.content
        assert task_object(server, done["platform_id"])["video"]["sha256"] is None

        make_bucket(moto, "rg-redirect")  # the storage is back: the sweep copies
        deadline = time.monotonic() + 30
        while not url.startswith(server.url + "/files/"):
            assert time.monotonic() < deadline, "the copy never took over"
            time.sleep(0.2)
            url = minimax.retrieve(done["file_id"])["file"]["download_url"]

        moved = get(url)
        assert moved.status_code == 302 and moved.headers["location"].startswith(moto.url)
        assert "X-Amz-Expires=" in moved.headers["location"]
        followed = get(url, follow_redirects=True)
        assert followed.status_code == 200 and followed.content == upstream.content
        with httpx.Client(trust_env=False, timeout=30, follow_redirects=True) as http:
            assert_ranges_and_head(url, upstream.content, http, by_gateway=False)
        content = minimax.http.get(CONTENT, params={"file_id": done["file_id"]})
        assert content.status_code == 200 and content.content == upstream.content  # proxied

        video = task_object(server, done["platform_id"])["video"]
        assert video["sha256"] == hashlib.sha256(upstream.content).hexdigest()
        (body,) = objects(moto, "rg-redirect").values()
        assert hashlib.sha256(body).hexdigest() == video["sha256"]


def test_copy_never_passes_the_upstream_url_and_stores_nothing(
    servers: dict[str, Server], moto: MotoServer
) -> None:
    server = servers["never"]
    with MiniMax(server.url + "/minimaxi") as minimax:
        done = finish(minimax)
        url = minimax.retrieve(done["file_id"])["file"]["download_url"]
        assert url.startswith(server.url + "/sandbox/")
        plain = get(url)
        assert plain.status_code == 200 and plain.content
        content = minimax.http.get(CONTENT, params={"file_id": done["file_id"]})
        assert content.status_code == 200 and content.content == plain.content
        head = minimax.http.head(CONTENT, params={"file_id": done["file_id"]})
        assert head.status_code == 200 and head.content == b""
        assert task_object(server, done["platform_id"])["video"]["sha256"] is None
        assert objects(moto, "rg-never") == {}
