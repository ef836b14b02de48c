"""The MiniMax-compatible surface end to end: a real server, real HTTP, real videos."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reelgate.sandbox.render import FPS, output_size
from tests.support import API_KEY, MiniMax, Server, count_tasks, data_url, image_bytes
from tests.video import probe

LANDSCAPE = data_url(image_bytes(640, 400, seed=1))
LAST = data_url(image_bytes(640, 400, seed=2))
PORTRAIT = data_url(image_bytes(420, 640, seed=3), "image/jpeg")
FACE = data_url(image_bytes(512, 512, seed=4))

SCENARIOS: dict[str, tuple[dict[str, Any], tuple[int, int], int]] = {
    "text to video": (
        {
            "model": "MiniMax-Hailuo-2.3",
            "prompt": "A lighthouse at dusk [Pan left]",
            "duration": 6,
            "resolution": "768P",
        },
        output_size("768P"),
        6,
    ),
    "first frame": (
        {
            "model": "MiniMax-Hailuo-02",
            "prompt": "[Push in]",
            "first_frame_image": PORTRAIT,
            "duration": 6,
            "resolution": "512P",
        },
        output_size("512P", (420, 640)),
        6,
    ),
    "first and last frame": (
        {
            "model": "MiniMax-Hailuo-02",
            "prompt": "A flower opens",
            "first_frame_image": LANDSCAPE,
            "last_frame_image": LAST,
            "resolution": "768P",
        },
        output_size("768P", (640, 400)),
        6,
    ),
    "subject reference": (
        {
            "model": "S2V-01",
            "prompt": "The person walks through a market",
            "subject_reference": [{"type": "character", "image": [FACE]}],
        },
        output_size("1080P"),
        6,
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_scenario_yields_the_asked_video(minimax: MiniMax, scenario: str) -> None:
    body, (width, height), duration = SCENARIOS[scenario]
    created = minimax.create(body)
    assert created["base_resp"] == {"status_code": 0, "status_msg": "success"}
    assert created["platform_id"].startswith("video_") and created["task_id"].isdigit()

    done = minimax.wait(created["task_id"])
    assert done["status"] == "Success", done
    assert (done["video_width"], done["video_height"]) == (width, height)

    file = minimax.retrieve(done["file_id"])["file"]
    assert file["purpose"] == "video_generation" and file["filename"].endswith(".mp4")
    # a plain GET with no auth header, as the official clients download
    plain = httpx.get(file["download_url"], timeout=30, trust_env=False)
    assert plain.status_code == 200 and plain.headers["content-type"] == "video/mp4"
    content = minimax.http.get("/v1/files/retrieve_content", params={"file_id": done["file_id"]})
    assert content.status_code == 200
    assert plain.content == content.content and len(plain.content) == file["bytes"]

    video = probe(plain.content)
    assert (video.codec, video.pix_fmt) == ("h264", "yuv420p")
    assert (video.width, video.height) == (width, height)
    assert video.fps == FPS and video.frames == duration * FPS
    assert video.faststart


def test_query_answers_the_same_for_either_id(minimax: MiniMax) -> None:
    created = minimax.create({"model": "T2V-01", "prompt": "rain on a window"})
    by_task, by_platform = minimax.query(created["task_id"]), minimax.query(created["platform_id"])
    assert by_task == by_platform
    assert by_task["status"] in ("Preparing", "Queueing", "Processing", "Success")
    done = minimax.wait(created["platform_id"])
    assert done == minimax.query(created["task_id"])
    assert done["task_id"] == created["task_id"]


def test_download_url_is_signed_and_expiring(minimax: MiniMax) -> None:
    created = minimax.create({"model": "T2V-01", "prompt": "a quiet street"})
    done = minimax.wait(created["task_id"])
    url = minimax.retrieve(done["file_id"])["file"]["download_url"]
    assert httpx.head(url, trust_env=False).status_code == 200
    ranged = httpx.get(url, headers={"Range": "bytes=0-99"}, trust_env=False)
    assert ranged.status_code == 206 and len(ranged.content) == 100
    tampered = url.replace("sig=", "sig=x")
    assert httpx.get(tampered, trust_env=False).status_code == 404
    expired = url.split("?")[0] + "?expires=1&" + url.split("&", 1)[1]
    assert httpx.get(expired, trust_env=False).status_code == 404


def _error(resp: httpx.Response) -> tuple[int, str]:
    assert resp.status_code == 200, resp.text  # MiniMax carries errors in base_resp
    assert resp.headers.get("trace-id")
    base = resp.json()["base_resp"]
    return base["status_code"], base["status_msg"]


BAD_CREATES: list[tuple[str, Any, int, str]] = [
    ("unknown model", {"model": "Sora-2", "prompt": "x"}, 2013, "unknown model"),
    (
        "duration not allowed",
        {"model": "MiniMax-Hailuo-2.3", "prompt": "x", "duration": 10, "resolution": "1080P"},
        2013,
        "allows duration 6",
    ),
    (
        "resolution not allowed",
        {"model": "MiniMax-Hailuo-2.3", "prompt": "x", "resolution": "720P"},
        2013,
        "allowed: 768P, 1080P",
    ),
    (
        "last frame on 2.3",
        {"model": "MiniMax-Hailuo-2.3", "first_frame_image": LANDSCAPE, "last_frame_image": LAST},
        2013,
        "does not accept last_frame_image",
    ),
    (
        "text only on 2.3-Fast",
        {"model": "MiniMax-Hailuo-2.3-Fast", "prompt": "x"},
        2013,
        "does not support text to video",
    ),
    (
        "no first frame on I2V-01",
        {"model": "I2V-01", "prompt": "x"},
        2013,
        "send first_frame_image",
    ),
    (
        "prompt too long",
        {"model": "MiniMax-Hailuo-2.3", "prompt": "x" * 2001},
        2013,
        "the limit is 2000",
    ),
    (
        "not an image",
        {"model": "I2V-01", "first_frame_image": data_url(b"GIF89a nope")},
        2013,
        "not a decodable image",
    ),
    (
        "too small",
        {"model": "I2V-01", "first_frame_image": data_url(image_bytes(250, 400))},
        2013,
        "short side must be over 300 px",
    ),
    (
        "bad aspect",
        {"model": "I2V-01", "first_frame_image": data_url(image_bytes(1600, 310))},
        2013,
        "aspect ratio",
    ),
    (
        "bad base64",
        {"model": "I2V-01", "first_frame_image": "data:image/png;base64,@@@"},
        2013,
        "not valid base64",
    ),
]


@pytest.mark.parametrize(
    ("name", "body", "code", "fragment"), BAD_CREATES, ids=[b[0] for b in BAD_CREATES]
)
def test_bad_creates_are_refused_and_leave_nothing(
    server: Server, minimax: MiniMax, name: str, body: Any, code: int, fragment: str
) -> None:
    before = count_tasks(server.database_url)
    resp = minimax.http.post("/v1/video_generation", json=body)
    assert _error(resp)[0] == code
    assert fragment in _error(resp)[1]
    assert count_tasks(server.database_url) == before


def test_malformed_json(server: Server, minimax: MiniMax) -> None:
    before = count_tasks(server.database_url)
    resp = minimax.http.post(
        "/v1/video_generation",
        content=b'{"model": "T2V-01", "prompt": ',
        headers={"Content-Type": "application/json"},
    )
    code, message = _error(resp)
    assert code == 2013 and "not valid JSON" in message
    assert count_tasks(server.database_url) == before


@pytest.mark.parametrize(
    ("headers", "code", "fragment"),
    [
        ({}, 1004, "Authorization: Bearer"),
        # 2049 on create only, as MiniMax (issue 14): query and files answer 1004
        ({"Authorization": "Bearer sk-wrong"}, 2049, "invalid api key"),
        ({"Authorization": "Basic abc"}, 1004, "Authorization: Bearer"),
    ],
)
def test_auth_is_required_everywhere(
    server: Server, headers: dict[str, str], code: int, fragment: str
) -> None:
    base = server.url + "/minimaxi/v1"
    for method, path in [
        ("POST", "/video_generation"),
        ("GET", "/query/video_generation?task_id=1"),
        ("GET", "/files/retrieve?file_id=1"),
        ("GET", "/files/retrieve_content?file_id=1"),
    ]:
        resp = httpx.request(method, base + path, headers=headers, json={}, trust_env=False)
        got_code, message = _error(resp)
        expected = 1004 if code == 2049 and method == "GET" else code
        assert got_code == expected and fragment in message, (path, message)


def test_unknown_ids(minimax: MiniMax) -> None:
    for path, params, fragment in [
        ("/v1/query/video_generation", {"task_id": "123456789"}, "task not found"),
        (
            "/v1/query/video_generation",
            {"task_id": "video_01JSGXXXXXXXXXXXXXXXXXXXXX"},
            "task not found",
        ),
        ("/v1/query/video_generation", {}, "task_id is required"),  # issue 13: not "not found"
        ("/v1/files/retrieve", {"file_id": "987654321"}, "file not found"),
        ("/v1/files/retrieve_content", {"file_id": "987654321"}, "file not found"),
    ]:
        code, message = _error(minimax.http.get(path, params=params))
        assert code == 2013 and fragment in message


def test_unknown_query_params_are_ignored(minimax: MiniMax) -> None:
    created = minimax.create({"model": "T2V-01", "prompt": "waves"})
    resp = minimax.http.get(
        "/v1/query/video_generation", params={"task_id": created["task_id"], "GroupId": "1"}
    )
    assert resp.json()["task_id"] == created["task_id"]


def test_openapi_documents_the_surface(server: Server) -> None:
    spec = httpx.get(server.url + "/openapi.json", trust_env=False).json()
    paths = spec["paths"]
    for path in (
        "/minimaxi/v1/video_generation",
        "/minimaxi/v1/query/video_generation",
        "/minimaxi/v1/files/retrieve",
        "/minimaxi/v1/files/retrieve_content",
    ):
        assert path in paths
    assert "CreateRequest" in spec["components"]["schemas"]
    assert httpx.get(server.url + "/docs", trust_env=False).status_code == 200


def test_a_second_key_holder_sees_nothing(server: Server, minimax: MiniMax) -> None:
    """The sandbox key is not a gateway key: it must not reach the gateway's tasks."""
    other = MiniMax(server.url + "/minimaxi", "sandbox-key")
    with other.http:
        resp = other.http.get("/v1/query/video_generation", params={"task_id": "1"})
    assert _error(resp) == (1004, "invalid api key")  # a query's code for an unknown key
    assert API_KEY != "sandbox-key"
