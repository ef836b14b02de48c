"""The MiniMax-compatible surface end to end: a real server, real HTTP, real videos. (Its
answers that need none of these are tested in process: ``tests/inprocess/test_minimax_api.py``.)"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from reelgate.sandbox.render import FPS, output_size
from tests.support import API_KEY, MiniMax, Server, data_url, image_bytes
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


def test_a_second_key_holder_sees_nothing(server: Server, minimax: MiniMax) -> None:
    """The sandbox key is not a gateway key: it must not reach the gateway's tasks."""
    other = MiniMax(server.url + "/minimaxi", "sandbox-key")
    with other.http:
        resp = other.http.get("/v1/query/video_generation", params={"task_id": "1"})
    assert _error(resp) == (1004, "invalid api key")  # a query's code for an unknown key
    assert API_KEY != "sandbox-key"
