"""The official ``openai`` SDK against a live ``reelgate serve`` on its sandbox (fast
timeline): ``create_and_poll`` then ``download_content`` for text and for an image, on a
v1 model and on MiniMax-H3, each MP4 read back by PyAV; ``list`` paging to the end and
``delete``; the errors a client meets, each as its SDK class; and the sandbox's own
``/v1/videos``, for offline development. The wire's every case is tested in process
(``tests/inprocess/test_openai_*.py``); this keeps to what needs the real server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from PIL import Image

from reelgate.sandbox.render import FPS, output_size, v2_frame_count, v2_output_size
from tests.e2e.operator import Operator
from tests.support import SANDBOX_KEY, Server, image_bytes
from tests.video import probe

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")

FRAME = image_bytes(640, 400, seed=5)
UPLOAD = ("frame.png", FRAME, "image/png")
SCENARIOS: dict[str, tuple[dict[str, Any], tuple[int, int], int]] = {
    "v1 text": (
        {"model": "T2V-01", "prompt": "a lighthouse at dusk", "size": "1280x720"},
        output_size("720P"),
        6 * FPS,
    ),
    "v1 image": (
        {"model": "MiniMax-Hailuo-02", "prompt": "[Push in]", "size": "912x512",
         "input_reference": UPLOAD},
        output_size("512P", (640, 400)),  # the frame follows the image
        6 * FPS,
    ),
    "H3 text": (
        {"model": "MiniMax-H3", "prompt": "waves on black sand", "seconds": "4",
         "size": "768x1344"},
        v2_output_size("768P", "9:16"),
        v2_frame_count(4),
    ),
    "H3 image": (
        {"model": "MiniMax-H3", "prompt": "the tide comes in", "seconds": "4",
         "input_reference": UPLOAD},
        v2_output_size("768P", "adaptive", (640, 400)),
        v2_frame_count(4),
    ),
}  # fmt: skip
MADE: list[str] = []  # this module's account's videos, oldest first


def sdk(base_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=key,
        base_url=base_url,
        http_client=httpx2.Client(trust_env=False, timeout=60),
        max_retries=0,
    )


@pytest.fixture(scope="module")
def key(server: Server) -> str:
    """A fresh account's key: its list holds this module's videos only."""
    with Operator(server) as op:
        return str(op.client(credit=100_000)[1]["key"])


@pytest.fixture
def client(server: Server, key: str) -> Iterator[openai.OpenAI]:
    with sdk(server.url + "/v1", key) as c:
        yield c


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_create_and_poll_then_download(client: openai.OpenAI, scenario: str) -> None:
    fields, (width, height), frames = SCENARIOS[scenario]
    video = client.videos.create_and_poll(**fields)
    MADE.append(video.id)
    assert video.status == "completed", video
    assert (video.model, video.progress, video.size) == (fields["model"], 100, f"{width}x{height}")
    mp4 = client.videos.download_content(video.id).content
    clip = probe(mp4)
    assert (clip.codec, clip.pix_fmt, clip.width, clip.height) == ("h264", "yuv420p", width, height)
    assert clip.frames == frames and clip.faststart
    sheet = client.videos.download_content(video.id, variant="spritesheet").content
    assert Image.open(io.BytesIO(sheet)).width == 5 * 160


def test_list_pages_to_the_end_then_every_video_is_deleted(client: openai.OpenAI) -> None:
    assert [v.id for v in client.videos.list(limit=1)] == MADE[::-1]
    assert [v.id for v in client.videos.list(limit=3, order="asc")] == MADE
    for video in client.videos.list(limit=1):  # each deleted before the next page is asked
        assert client.videos.delete(video.id).deleted
    assert list(client.videos.list()) == []
    for video_id in MADE:
        with pytest.raises(openai.NotFoundError):
            client.videos.retrieve(video_id)


def test_errors_raise_their_sdk_classes(server: Server, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.videos.create(prompt="x", model="T2V-01", size="720x1280")
    assert (bad.value.param, bad.value.code) == ("size", "invalid_value")
    with pytest.raises(openai.BadRequestError) as remix:
        client.videos.remix("video_x", prompt="again")
    assert remix.value.code == "unsupported"
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve("video_nope")
    with sdk(server.url + "/v1", "sk-nope") as stranger, pytest.raises(openai.AuthenticationError):
        stranger.videos.list()
    with Operator(server) as op:
        broke = op.client(credit=0)[1]["key"]
        narrow = op.client(models=["T2V-01"])[1]["key"]
    with sdk(server.url + "/v1", broke) as poor, pytest.raises(openai.RateLimitError) as quota:
        poor.videos.create(prompt="x", model="T2V-01")
    assert quota.value.code == "insufficient_quota"
    with sdk(server.url + "/v1", narrow) as c, pytest.raises(openai.PermissionDeniedError):
        c.videos.create(prompt="x", model="MiniMax-H3")


def test_the_sandbox_answers_v1_videos_for_offline_work(server: Server) -> None:
    with sdk(server.url + "/sandbox/v1", SANDBOX_KEY) as offline:
        video = offline.videos.create_and_poll(prompt="a quiet street", model="T2V-01")
        assert video.id.startswith("video_") and video.status == "completed", video
        clip = probe(offline.videos.download_content(video.id).content)
        assert (clip.width, clip.height, clip.frames) == (*output_size("720P"), 6 * FPS)
        thumb = offline.videos.download_content(video.id, variant="thumbnail").content
        assert Image.open(io.BytesIO(thumb)).format == "JPEG"
        assert video.id in [v.id for v in offline.videos.list()]
        with pytest.raises(openai.BadRequestError) as bad:
            offline.videos.create(prompt="x", model="T2V-01", seconds="10")
        assert bad.value.param == "seconds"
        assert offline.videos.delete(video.id).deleted
        with pytest.raises(openai.NotFoundError):
            offline.videos.retrieve(video.id)
    stranger = sdk(server.url + "/sandbox/v1", "not-a-sandbox-key")
    with stranger, pytest.raises(openai.AuthenticationError):
        stranger.videos.list()
