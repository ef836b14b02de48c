"""Signed links and tokens compared as bytes: a non-ASCII signature is a bad link (404),
never a crash, on a live gateway and its mounted sandbox (issue 13, item 7)."""

from __future__ import annotations

import httpx
import pytest

from tests.support import SANDBOX_KEY, MiniMax, Server

# What a client may put after sig=: percent-encoded UTF-8, a lone surrogate's bytes, plain
# garbage. The first one answered 200 with a JSON 1000 body and a reset connection.
BAD_SIGS = ["%C3%A9", "%ED%A0%80", "%E2%82%AC" * 9, "%01", "x"]


@pytest.fixture(scope="module")
def video(server: Server) -> tuple[str, str]:
    """A finished task of the gateway: (its platform id, its signed download URL)."""
    with MiniMax(server.url + "/minimaxi") as client:
        created = client.create({"model": "T2V-01", "prompt": "a signed link"})
        done = client.wait(created["platform_id"])
        url: str = client.retrieve(done["file_id"])["file"]["download_url"]
    return created["platform_id"], url


@pytest.mark.parametrize("sig", BAD_SIGS)
def test_gateway_download_link_with_a_bad_signature_is_a_404(
    server: Server, video: tuple[str, str], sig: str
) -> None:
    platform_id, url = video
    assert httpx.get(url, trust_env=False).status_code == 200  # the real link works
    for method in ("GET", "HEAD"):
        resp = httpx.request(
            method,
            f"{server.url}/files/{platform_id}.mp4?expires=9999999999&sig={sig}",
            trust_env=False,
        )
        assert resp.status_code == 404, resp.text
        assert resp.headers["content-type"].startswith("text/plain")


@pytest.fixture(scope="module")
def sandbox_video(server: Server) -> str:
    """A finished task of the mounted sandbox, called directly: its signed download URL."""
    with MiniMax(server.url + "/sandbox", SANDBOX_KEY) as sandbox:
        created = sandbox.create({"model": "T2V-01", "prompt": "a sandbox link"})
        done = sandbox.wait(created["task_id"])
        url: str = sandbox.retrieve(done["file_id"])["file"]["download_url"]
    return url


@pytest.mark.parametrize("sig", BAD_SIGS)
def test_sandbox_download_link_with_a_bad_signature_is_a_404(sandbox_video: str, sig: str) -> None:
    assert httpx.get(sandbox_video, trust_env=False).status_code == 200
    base = sandbox_video.split("?")[0]
    resp = httpx.get(f"{base}?expires=9999999999&sig={sig}", trust_env=False)
    assert resp.status_code == 404, resp.text


@pytest.mark.parametrize("sig", BAD_SIGS)
def test_upstream_callback_token_with_a_bad_signature_is_a_404(
    server: Server, video: tuple[str, str], sig: str
) -> None:
    platform_id, _ = video
    resp = httpx.post(
        f"{server.url}/upstream/callbacks/{platform_id}.{sig}",
        json={"challenge": "x"},
        trust_env=False,
    )
    assert resp.status_code == 404, resp.text
