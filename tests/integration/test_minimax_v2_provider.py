"""The MiniMax v2 adapter against the sandbox's v2 API (in process, over HTTP through
``httpx.ASGITransport``): create, query, the video at content.url, cancel, errors, pushes;
and a channel sending each model to its wire."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import av
import httpx
import pytest

from reelgate.domain.catalog import Mode
from reelgate.domain.tasks import UpstreamStatus
from reelgate.domain.video import Media, MediaKind, Role, VideoRequest
from reelgate.errors import UpstreamRejected
from reelgate.providers.minimax import MiniMaxProvider
from reelgate.providers.minimax_channel import MiniMaxChannel
from reelgate.providers.minimax_v2 import MiniMaxV2Provider, v2_body
from reelgate.surfaces.minimax_v2.requests import parse_v2_request
from tests.integration.test_sandbox_v2 import KEY, Clock, running

BASE = "http://test"  # the host the sandbox's app answers as (its signed URLs name it)
H3 = parse_v2_request(
    {
        "model": "MiniMax-H3",
        "duration": 4,
        "resolution": "768P",
        "ratio": "16:9",
        "content": [{"type": "text", "text": "a red kite over a beach"}],
    }
)


def provider_on(http: httpx.AsyncClient, key: str = KEY) -> MiniMaxV2Provider:
    return MiniMaxV2Provider("sandbox", BASE, key, http, allow_private_downloads=True)


async def test_a_task_from_create_to_its_video(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock) as (sandbox, http):
        provider = provider_on(http)
        task_id = await provider.submit(H3)
        assert len(task_id) == 15 and task_id.isdigit()
        queued = await provider.query(task_id, "MiniMax-H3")
        assert queued.status is UpstreamStatus.PREPARING and queued.ratio == "16:9"
        clock.now += sandbox.timeline.total_s + 1
        for _ in range(600):  # the render runs in the pool
            done = await provider.query(task_id)
            if done.status is UpstreamStatus.SUCCESS:
                break
            await asyncio.sleep(0.05)
        assert done.status is UpstreamStatus.SUCCESS
        assert done.file_id == task_id  # v2 has no file ids: the task's video is its file
        assert done.usage is not None and done.usage.output_seconds == 4
        info = await provider.retrieve_file(task_id)
        video = b"".join([chunk async for chunk in provider.download(info.download_url)])
    with av.open(io.BytesIO(video)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (
            1344,
            768,
        )
        assert container.streams.audio, "an H3 clip has a soundtrack"


async def test_cancel_while_queued_then_errors(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock, render_mode="stub") as (sandbox, http):
        provider = provider_on(http)
        task_id = await provider.submit(H3)
        assert await provider.cancel(task_id) is True
        cancelled = await provider.query(task_id)
        assert cancelled.status is UpstreamStatus.FAIL
        running_id = await provider.submit(H3)
        clock.now += sandbox.timeline.preparing_s + sandbox.timeline.queueing_s + 0.01
        with pytest.raises(UpstreamRejected) as refused:  # a running task: MiniMax's 400
            await provider.cancel(running_id)
        assert refused.value.code == 2013
        with pytest.raises(UpstreamRejected) as unknown:
            await provider.query("999999999999999")
        assert unknown.value.code == 2013
        with pytest.raises(UpstreamRejected) as bad_key:
            await provider_on(http, "not-a-key").submit(H3)
        assert bad_key.value.code == 1004


async def test_a_channel_sends_each_model_to_its_wire(tmp_path: Path) -> None:
    async with running(tmp_path, render_mode="stub") as (_, http):
        args = ("sandbox", BASE, KEY, http)
        channel = MiniMaxChannel(MiniMaxProvider(*args), MiniMaxV2Provider(*args))
        v2_id = await channel.submit(H3)
        v1 = VideoRequest("T2V-01", Mode.T2V, "a boat", 6, "720P", explicit=frozenset({"prompt"}))
        v1_id = await channel.submit(v1)
        assert (await channel.query(v2_id, "MiniMax-H3")).status is UpstreamStatus.PREPARING
        assert (await channel.query(v1_id, "T2V-01")).status in (
            UpstreamStatus.PREPARING,
            UpstreamStatus.QUEUEING,
        )
        with pytest.raises(UpstreamRejected):  # each wire sees only its own tasks
            await channel.query(v1_id, "MiniMax-H3")


def test_the_v2_body_of_a_canonical_request() -> None:
    image = Media(MediaKind.IMAGE, Role.REFERENCE, "https://example.com/a.png")
    voice = Media(MediaKind.AUDIO, Role.REFERENCE, "https://example.com/a.mp3")
    first = Media(MediaKind.IMAGE, Role.FIRST_FRAME, "mm_file://1")
    request = VideoRequest(
        "MiniMax-H3",
        Mode.R2V,
        "p",
        8,
        "2K",
        ratio="adaptive",
        media=(image, voice),
        options={"aigc_watermark": True},
        explicit=frozenset({"prompt", "duration"}),
    )
    assert v2_body(request, "https://gw.example.com/cb") == {
        "model": "MiniMax-H3",
        "content": [
            {"type": "text", "text": "p"},
            {"type": "image_url", "image_url": {"url": image.source}, "role": "reference_image"},
            {"type": "audio_url", "audio_url": {"url": voice.source}, "role": "reference_audio"},
        ],
        "resolution": "2K",
        "duration": 8,
        "aigc_watermark": True,
        "callback_url": "https://gw.example.com/cb",
    }  # the ratio left out: the client did not set it
    framed = VideoRequest(
        "MiniMax-H3",
        Mode.I2V,
        "p",
        6,
        "768P",
        ratio="9:16",
        media=(first,),
        explicit=frozenset({"ratio"}),
    )
    body = v2_body(framed)
    assert body["ratio"] == "9:16" and body["content"][1]["role"] == "first_frame"


def test_a_v2_push_reads_as_its_task() -> None:
    provider = MiniMaxV2Provider("c", BASE, KEY, httpx.AsyncClient())
    pushed = provider.read_push(
        {"task": {"id": "7", "status": "failed", "error": {"code": "1026", "message": "no"}}}
    )
    assert pushed is not None and pushed.task_id == "7"
    assert (pushed.result.status, pushed.result.error_code) == (UpstreamStatus.FAIL, 1026)
    assert provider.read_push({"task_id": "7", "status": "Success"}) is None  # v1's shape
    assert provider.read_push({"task": {"id": "7", "status": "weird"}}) is None
