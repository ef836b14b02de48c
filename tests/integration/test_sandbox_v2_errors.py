"""What the sandbox's v2 API refuses, always in v2's envelope with its real HTTP status:
keys, request limits, bodies that break a content rule (a handful: the parse's every rule
is tests/unit/test_v2_requests.py), media that cannot be fetched or read, ``mm_file://``
ids, and the injected faults. A refused create leaves no task behind.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from reelgate.domain import upstream_codes
from reelgate.errors import InvalidApiKey, NotFound, RateLimited, ReelgateError, Unauthorized
from reelgate.surfaces.minimax_v2.wire import LOGIN_FAIL, error_body
from tests.integration.test_sandbox_v2 import (
    GREEN,
    KEY,
    Clock,
    audio,
    body,
    finish,
    image,
    mp4,
    png,
    refused,
    running,
    uri,
    video,
)

H3_MAX = {"model": "MiniMax-H3-Max", "resolution": "480P", "duration": 5}


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (NotFound("invalid task_id"), 400, "bad_request_error"),
        (Unauthorized(LOGIN_FAIL), 401, "authorized_error"),
        (InvalidApiKey("invalid api key"), 401, "authorized_error"),
        (RateLimited("rate limit"), 429, "rate_limit_error"),
        (ReelgateError("internal error"), 500, "server_error"),
    ],
)
def test_the_envelope_takes_its_status_from_the_code_table(
    exc: ReelgateError, status: int, kind: str
) -> None:
    assert upstream_codes.row(exc.code).v2_status == status
    answer = error_body(exc, "abc123")
    assert answer == (
        status,
        {
            "type": "error",
            "error": {
                "type": kind,
                "message": f"{exc.message} ({exc.code})",
                "http_code": str(status),
            },
            "request_id": "abc123",
        },
    )


def test_a_code_missing_from_the_table_is_a_500() -> None:
    exc = ReelgateError("odd")
    exc.code = 4242
    assert error_body(exc, "1")[0] == 500
    assert error_body(exc, "1")[1]["error"]["message"] == "odd (4242)"


async def test_a_missing_or_unknown_key_is_a_login_failure(tmp_path: Path) -> None:
    async with running(tmp_path, render_mode="stub") as (sandbox, http):
        calls = [
            ("POST", "/v2/video_generation"),
            ("GET", "/v2/query/video_generation/123456789012345"),
            ("GET", "/v2/query/video_generation"),
            ("DELETE", "/v2/video_generation/123456789012345"),
        ]
        for method, path in calls:
            for auth in ({"Authorization": ""}, {"Authorization": "Bearer not-a-key"}):
                resp = await http.request(method, path, json=body(), headers=auth)
                assert refused(resp, 401, 1004) == LOGIN_FAIL, (method, path, auth)
        assert sandbox.state.all() == []
        # v1 answers the same key as before: HTTP 200 and its own codes
        v1 = await http.post(
            "/v1/video_generation",
            json={"model": "T2V-01", "prompt": "x"},
            headers={"Authorization": "Bearer not-a-key"},
        )
        assert v1.status_code == 200 and v1.json()["base_resp"]["status_code"] == 2049


async def test_the_request_limit_answers_429_one_past_it(tmp_path: Path) -> None:
    async with running(tmp_path, render_mode="stub", rpm=2) as (_, http):
        for _ in range(2):
            assert (await http.get("/v2/query/video_generation")).status_code == 200
        refused(await http.get("/v2/query/video_generation"), 429, 1002)


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({**body(), "model": "Sora-9"}, "unknown model"),
        (body(ratio="adaptive"), "ratio other than adaptive"),
        ({**body(), "content": [{"type": "image_url", "image_url": {"url": "x"}}]}, "text"),
        (
            body(image(uri("image/png", png(300, 300)), "first_frame"), video("https://a.b/v.mp4")),
            "cannot be mixed",
        ),
        (body(audio("https://example.com/a.mp3")), "reference audio needs"),
        (body(image("https://example.com/a.png", "reference_image"), **H3_MAX), "reference"),
        (body(duration=16), "duration"),
    ],
)
async def test_a_body_breaking_a_content_rule_is_a_400_and_no_task(
    tmp_path: Path, payload: dict[str, Any], says: str
) -> None:
    async with running(tmp_path, render_mode="stub") as (sandbox, http):
        resp = await http.post("/v2/video_generation", json=payload)
        assert says in refused(resp, 400, 2013)
        assert sandbox.state.all() == []
        entry = sandbox.requests.since(0)[-1]
        assert (entry.endpoint, entry.http_status, entry.code) == ("v2_create", 400, 2013)


async def test_a_body_that_is_not_json_is_a_400(tmp_path: Path) -> None:
    async with running(tmp_path, render_mode="stub") as (sandbox, http):
        resp = await http.post("/v2/video_generation", content=b"{not json")
        assert "not valid JSON" in refused(resp, 400, 2013)
        assert sandbox.state.all() == []


# -- media by URL and by mm_file:// id ------------------------------------------------------


@contextmanager
def media_server(files: dict[str, bytes]) -> Iterator[str]:
    """Serves ``files`` by name on 127.0.0.1; anything else is a 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = files.get(self.path.lstrip("/"))
            self.send_response(200 if data is not None else 404)
            self.send_header("Content-Length", str(len(data or b"")))
            self.end_headers()
            self.wfile.write(data or b"")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_media_by_url_are_fetched_and_measured(tmp_path: Path) -> None:
    files = {"tall.png": png(300, 400, GREEN), "a.mp4": mp4(7.5), "b.mp4": mp4(8)}
    clock = Clock()
    with media_server(files) as site:
        async with running(tmp_path, clock=clock, render_mode="stub") as (sandbox, http):
            # the fetched first frame's size decides the ratio (adaptive: 300 x 400 is 3:4)
            resp = await http.post("/v2/video_generation", json=body(image(f"{site}/tall.png")))
            first = resp.json()["task_id"]
            # fetched reference videos count towards the 15 s: 7.5 + 7.5 is allowed...
            both = body(video(f"{site}/a.mp4"), video(f"{site}/a.mp4"))
            resp = await http.post("/v2/video_generation", json=both)
            clips = resp.json()["task_id"]
            # ...7.5 + 8 is not
            over = body(video(f"{site}/a.mp4"), video(f"{site}/b.mp4"))
            assert "together" in refused(
                await http.post("/v2/video_generation", json=over), 400, 2013
            )
            assert (await finish(sandbox, http, clock, first))["ratio"] == "3:4"
            usage = (await finish(sandbox, http, clock, clips))["usage"]
            assert len(sandbox.state.all()) == 2
    assert usage == {
        "total_seconds": 19,
        "input_seconds": 15,
        "output_seconds": 4,
        "input_image_count": 0,
    }


async def test_media_that_cannot_be_fetched_or_read_are_refused(tmp_path: Path) -> None:
    with media_server({"not-an-image.png": b"hello", "clip.mp4": mp4(3)}) as site:
        async with running(tmp_path, render_mode="stub") as (sandbox, http):
            for payload, says in [
                (body(image(f"{site}/missing.png")), "answered HTTP 404"),
                (body(image(f"{site}/not-an-image.png")), "content[1].image_url.url"),
                # a video where audio is expected: no audio stream in it
                (body(video(f"{site}/clip.mp4"), audio(f"{site}/clip.mp4")), "no audio"),
            ]:
                resp = await http.post("/v2/video_generation", json=payload)
                assert says in refused(resp, 400, 2013), payload
            assert sandbox.state.all() == []
        async with running(tmp_path / "strict", allow_private_urls=False) as (sandbox, http):
            resp = await http.post("/v2/video_generation", json=body(video(f"{site}/clip.mp4")))
            assert "127.0.0.1" in refused(resp, 400, 2013)
            assert sandbox.state.all() == []


async def test_mm_file_ids_name_the_callers_earlier_outputs(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock) as (sandbox, http):
        resp = await http.post("/v2/video_generation", json=body(ratio="1:1", **H3_MAX))
        earlier = await finish(sandbox, http, clock, resp.json()["task_id"])
        file_id = earlier["content"]["url"].split("/download/")[1].split(".mp4")[0]
        mine = f"mm_file://{file_id}"
        for payload, key, says in [
            (body(image(mine, "reference_image")), KEY, "is a video, not an image"),
            (body(video("mm_file://123456")), KEY, "file 123456 not found"),
            (body(video(mine)), "second-key", f"file {file_id} not found"),
        ]:
            headers = {"Authorization": f"Bearer {key}"}
            resp = await http.post("/v2/video_generation", json=payload, headers=headers)
            assert says in refused(resp, 400, 2013)
        # the earlier clip (5 s asked, 124 frames: 5.17 s) as reference video and audio
        resp = await http.post("/v2/video_generation", json=body(video(mine), audio(mine)))
        assert resp.status_code == 200, resp.text
        done = await finish(sandbox, http, clock, resp.json()["task_id"])
    assert done["status"] == "succeeded"
    assert done["usage"] == {
        "total_seconds": 10,
        "input_seconds": 6,
        "output_seconds": 4,
        "input_image_count": 0,
        "input_audio_seconds": 5,
    }


# -- injected faults ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "code", "message"),
    [
        ("refuse_1026", 422, 1026, "video description contains sensitive content"),
        ("refuse_1002", 429, 1002, "rate limit exceeded(RPM)"),
        ("refuse_1000", 500, 1000, "internal error"),
    ],
)
async def test_refusals_speak_v2(
    tmp_path: Path, fault: str, status: int, code: int, message: str
) -> None:
    async with running(tmp_path, render_mode="stub", faults=f"{fault}=1") as (sandbox, http):
        resp = await http.post("/v2/video_generation", json=body())
        assert refused(resp, status, code) == message
        assert sandbox.state.all() == []
        entry = sandbox.requests.since(0)[-1]
        assert (entry.endpoint, entry.faults, entry.code) == ("v2_create", [fault], code)


async def test_a_5xx_fault_from_the_application_is_a_v2_500(tmp_path: Path) -> None:
    async with running(tmp_path, render_mode="stub", faults="http_5xx=1") as (sandbox, http):
        answers = [await http.get("/v2/query/video_generation") for _ in range(12)]
        assert sandbox.state.all() == []
    assert {r.status_code for r in answers} == {500, 502, 503}
    for resp in answers:
        if resp.status_code == 500:
            assert refused(resp, 500, 1000) == "internal error"
        else:
            assert resp.headers["content-type"].startswith(("text/html", "text/plain"))


async def test_a_forgotten_task_becomes_an_invalid_id(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, render_mode="stub", faults="forget=1") as (
        sandbox,
        http,
    ):
        task_id = (await http.post("/v2/video_generation", json=body())).json()["task_id"]
        clock.now += sandbox.timeline.processing_at_s - 0.001
        queued = await http.get(f"/v2/query/video_generation/{task_id}")
        assert queued.json()["task"]["status"] == "queued"
        clock.now += 0.001
        resp = await http.get(f"/v2/query/video_generation/{task_id}")
        assert refused(resp, 400, 2013) == "invalid task_id"
        assert sandbox.requests.since(0)[-1].faults == ["forget"]
        assert (await http.get("/v2/query/video_generation")).json()["total"] == 0


async def test_a_first_download_can_miss(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, render_mode="stub", faults="download_404=1") as (
        sandbox,
        http,
    ):
        task_id = (await http.post("/v2/video_generation", json=body())).json()["task_id"]
        url = (await finish(sandbox, http, clock, task_id))["content"]["url"]
        assert (await http.get(url)).status_code == 404
        assert (await http.get(url)).status_code == 200


async def test_the_request_log_names_v2_calls(tmp_path: Path) -> None:
    async with running(tmp_path, render_mode="stub") as (sandbox, http):
        task_id = (await http.post("/v2/video_generation", json=body())).json()["task_id"]
        await http.get(f"/v2/query/video_generation/{task_id}")
        await http.get("/v2/query/video_generation")
        await http.delete(f"/v2/video_generation/{task_id}")
        log = sandbox.requests.since(0)
    assert [(e.endpoint, e.http_status, e.code, e.task_status) for e in log] == [
        ("v2_create", 200, 0, "queued"),
        ("v2_query", 200, 0, "queued"),
        ("v2_list", 200, 0, None),
        ("v2_delete", 200, 0, "cancelled"),
    ]
    assert {e.task_id for e in log} == {task_id, None}
    assert log[0].body_fields == ["content", "duration", "model", "ratio", "resolution"]
