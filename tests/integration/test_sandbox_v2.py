"""The sandbox's MiniMax v2 API, every mode end to end over HTTP: created, polled to
``succeeded``, the MP4 at ``content.url`` downloaded and read back by PyAV (the size for
the ratio and resolution, 24 fps, MiniMax's frame count, a stereo AAC track as long as
the picture and audible, the given images where the clip promises them).

The seven clips render once, together, in one sandbox (the module's fixture); the tests
read the results. The helpers here serve the other ``test_sandbox_v2_*`` modules too.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from reelgate.sandbox.app import create_sandbox_app
from reelgate.sandbox.faults import FaultPlan
from reelgate.sandbox.pool import RenderPool
from reelgate.sandbox.render.sizes import FPS, v2_frame_count
from reelgate.sandbox.service import Sandbox
from reelgate.sandbox.state import SandboxState
from reelgate.sandbox.timeline import timeline_for

KEY, OTHER = "sandbox-key", "second-key"
BASE = "http://sandbox.test"
RED, GREEN, BLUE = (220, 30, 30), (30, 200, 60), (40, 60, 220)


class Clock:
    """The sandbox's clock, moved by the test: a task's status follows it exactly."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def running(
    directory: Path,
    *,
    clock: Clock | None = None,
    render_mode: str = "full",
    workers: int = 1,
    faults: str = "",
    **kwargs: Any,
) -> AsyncIterator[tuple[Sandbox, httpx.AsyncClient]]:
    """A sandbox on ``directory`` and an HTTP client that speaks to it with ``KEY``."""
    outbound = httpx.AsyncClient(trust_env=False)
    sandbox = Sandbox(
        state=SandboxState(directory),
        timeline=timeline_for("fast"),
        api_keys=[KEY, OTHER],
        client=outbound,
        pool=RenderPool(workers),
        faults=FaultPlan.parse(faults),
        render_mode=render_mode,
        clock=clock or time.time,
        **{"allow_private_urls": True, **kwargs},
    )
    app = create_sandbox_app(sandbox)
    await sandbox.start()
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=BASE,
        headers={"Authorization": f"Bearer {KEY}"},
    )
    try:
        yield sandbox, http
    finally:
        await http.aclose()
        await sandbox.close()
        await outbound.aclose()


# -- bodies and media -----------------------------------------------------------------------


def text(prompt: str = "a red kite over a windy beach") -> dict[str, Any]:
    return {"type": "text", "text": prompt}


def image(url: str, role: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if role is not None:
        item["role"] = role
    return item


def video(url: str) -> dict[str, Any]:
    return {"type": "video_url", "video_url": {"url": url}, "role": "reference_video"}


def audio(url: str) -> dict[str, Any]:
    return {"type": "audio_url", "audio_url": {"url": url}, "role": "reference_audio"}


def body(*items: dict[str, Any], model: str = "MiniMax-H3", **fields: Any) -> dict[str, Any]:
    """A v2 create body: the prompt first, then ``items``; text alone gets a ratio."""
    out: dict[str, Any] = {"model": model, "duration": 4, "resolution": "768P"}
    out["content"] = [text(), *items]
    if not items:
        out["ratio"] = "16:9"
    out.update(fields)
    return out


def uri(kind: str, data: bytes) -> str:
    return f"data:{kind};base64,{base64.b64encode(data).decode()}"


def png(width: int, height: int, colour: tuple[int, int, int] = RED) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "PNG")
    return buf.getvalue()


def wav(seconds: float, hz: float = 440.0, rate: int = 16_000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        t = np.arange(round(seconds * rate)) / rate
        out.writeframes((np.sin(2 * np.pi * hz * t) * 12_000).astype("<i2").tobytes())
    return buf.getvalue()


def mp4(seconds: float, size: int = 256) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, FPS)
        stream.options = {"preset": "ultrafast"}
        for i in range(round(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(
                np.full((size, size, 3), (i * 5) % 255, dtype=np.uint8), format="rgb24"
            )
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


# -- the task's life ------------------------------------------------------------------------


async def finish(
    sandbox: Sandbox, http: httpx.AsyncClient, clock: Clock, task_id: str, within_s: float = 60
) -> dict[str, Any]:
    """Move the clock past the timeline, wait for the render, answer the final query."""
    clock.now += sandbox.timeline.total_s + 1
    deadline = time.monotonic() + within_s
    while True:
        resp = await http.get(f"/v2/query/video_generation/{task_id}")
        assert resp.status_code == 200, resp.text
        task: dict[str, Any] = resp.json()["task"]
        if task["status"] != "running":
            return task
        assert time.monotonic() < deadline, f"task {task_id} still running"
        await asyncio.sleep(0.05)


def refused(resp: httpx.Response, status: int, code: int) -> str:
    """Check MiniMax v2's error envelope; answer its message (the code stripped)."""
    assert resp.status_code == status, resp.text
    out = resp.json()
    assert set(out) == {"type", "error", "request_id"} and out["type"] == "error"
    assert set(out["error"]) == {"type", "message", "http_code"}
    assert out["error"]["http_code"] == str(status)
    assert out["request_id"] == resp.headers["trace-id"]
    int(out["request_id"], 16)  # hex
    message: str = out["error"]["message"]
    assert message.endswith(f" ({code})"), message
    return message.removesuffix(f" ({code})")


# -- every mode -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    body: dict[str, Any]
    size: tuple[int, int]
    ratio: str
    usage: dict[str, int]


def _modes() -> dict[str, Mode]:
    red, blue = uri("image/png", png(800, 600, RED)), uri("image/png", png(400, 400, BLUE))
    max480 = {"model": "MiniMax-H3-Max", "resolution": "480P", "duration": 5}
    out5 = {"total_seconds": 5, "input_seconds": 0, "output_seconds": 5}
    out4 = {"total_seconds": 4, "input_seconds": 0, "output_seconds": 4}
    return {
        "text": Mode(
            body(ratio="9:16", **max480), (480, 848), "9:16", out5 | {"input_image_count": 0}
        ),
        # a lone image without a role is the first frame; frames ignore the ratio asked
        "first_frame": Mode(
            body(image(uri("image/png", png(300, 400, RED))), ratio="16:9", **max480),
            (480, 640),
            "3:4",
            out5 | {"input_image_count": 1},
        ),
        "last_frame": Mode(
            body(image(uri("image/png", png(400, 400, GREEN)), "last_frame"), **max480),
            (480, 480),
            "1:1",
            out5 | {"input_image_count": 1},
        ),
        # adaptive follows the first frame (4:3), not the last (1:1)
        "first_and_last": Mode(
            body(image(red, "first_frame"), image(blue, "last_frame"), **max480),
            (640, 480),
            "4:3",
            out5 | {"input_image_count": 2},
        ),
        "reference_images": Mode(
            body(image(red, "reference_image"), image(blue, "reference_image"), ratio="21:9"),
            (1536, 672),
            "21:9",
            out4 | {"input_image_count": 2},
        ),
        # 2.5 s of reference video is billed as 3 (rounded up); no image: adaptive is 16:9
        "reference_video": Mode(
            body(video(uri("video/mp4", mp4(2.5)))),
            (1344, 768),
            "16:9",
            {"total_seconds": 7, "input_seconds": 3, "output_seconds": 4, "input_image_count": 0},
        ),
        # adaptive follows the reference image (256 x 600: nearest 9:16); 2.4 s of audio
        # is reported rounded, as 2
        "reference_audio": Mode(
            body(
                image(uri("image/png", png(256, 600, GREEN)), "reference_image"),
                audio(uri("audio/wav", wav(2.4))),
            ),
            (768, 1344),
            "9:16",
            out4 | {"input_image_count": 1, "input_audio_seconds": 2},
        ),
    }


MODES = _modes()


@dataclass(frozen=True)
class Result:
    task: dict[str, Any]
    mp4: bytes
    ranged: httpx.Response  # the first 100 bytes asked with Range


async def _render_all(directory: Path) -> dict[str, Result]:
    clock = Clock()
    async with running(directory, clock=clock, workers=2) as (sandbox, http):
        ids = {}
        for name, mode in MODES.items():
            resp = await http.post("/v2/video_generation", json=mode.body)
            assert resp.status_code == 200, (name, resp.text)
            assert set(resp.json()) == {"task_id"}
            ids[name] = resp.json()["task_id"]
        out = {}
        for name, task_id in ids.items():
            task = await finish(sandbox, http, clock, task_id)
            assert task["status"] == "succeeded", task
            data = await http.get(task["content"]["url"])
            ranged = await http.get(task["content"]["url"], headers={"Range": "bytes=0-99"})
            out[name] = Result(task, data.content, ranged)
        return out


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    return asyncio.run(_render_all(tmp_path_factory.mktemp("sandbox-v2")))


@dataclass(frozen=True)
class Clip:
    size: tuple[int, int]
    rate: Fraction
    frames: list[NDArray[np.uint8]]
    audio_codec: str
    channels: int
    sample_rate: int
    audio_s: float
    audio_rms: float


def decode(data: bytes) -> Clip:
    with av.open(io.BytesIO(data)) as container:
        picture, sound = container.streams.video[0], container.streams.audio[0]
        frames = [
            f.to_ndarray(format="rgb24", width=96, height=64) for f in container.decode(picture)
        ]
        container.seek(0)
        samples = np.concatenate([f.to_ndarray() for f in container.decode(sound)], axis=1)
        return Clip(
            (picture.codec_context.width, picture.codec_context.height),
            Fraction(picture.average_rate),
            frames,
            sound.codec_context.name,
            sound.codec_context.channels,
            sound.codec_context.sample_rate,
            samples.shape[1] / sound.codec_context.sample_rate,
            float(np.sqrt(np.mean(np.square(samples)))),
        )


def centre(frame: NDArray[np.uint8]) -> NDArray[np.float64]:
    h, w, _ = frame.shape
    return np.asarray(frame[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3].mean(axis=(0, 1)))


def near(colour: NDArray[np.float64], expected: tuple[int, int, int]) -> bool:
    return bool(np.abs(colour - np.array(expected)).max() < 40)


@pytest.mark.parametrize("name", list(MODES))
def test_each_mode_renders_its_clip(results: dict[str, Result], name: str) -> None:
    mode, result = MODES[name], results[name]
    task = result.task
    assert len(task["id"]) == 15 and task["id"].isdigit()
    assert (task["ratio"], task["resolution"]) == (mode.ratio, mode.body["resolution"])
    assert task["duration"] == mode.body["duration"] and task["usage"] == mode.usage
    assert (task["task_type"], task["modality"], task["model"]) == (
        "generation",
        "video",
        mode.body["model"],
    )
    clip = decode(result.mp4)
    assert clip.size == mode.size
    assert clip.rate == FPS
    assert len(clip.frames) == v2_frame_count(mode.body["duration"])
    picture_s = len(clip.frames) / FPS
    assert (clip.audio_codec, clip.channels, clip.sample_rate) == ("aac", 2, 32_000)
    assert abs(clip.audio_s - picture_s) < 0.05, (clip.audio_s, picture_s)
    assert clip.audio_rms > 0.01  # a real, audible sound, not silence


def test_the_frames_show_the_images_given(results: dict[str, Result]) -> None:
    first = decode(results["first_frame"].mp4).frames
    assert near(centre(first[0]), RED)
    last = decode(results["last_frame"].mp4).frames
    assert near(centre(last[-1]), GREEN) and not near(centre(last[0]), GREEN)
    both = decode(results["first_and_last"].mp4).frames
    assert near(centre(both[0]), RED) and near(centre(both[-1]), BLUE)


def test_the_video_url_serves_ranges(results: dict[str, Result]) -> None:
    result = results["text"]
    assert result.ranged.status_code == 206
    assert result.ranged.content == result.mp4[:100]
    assert result.ranged.headers["content-range"] == f"bytes 0-99/{len(result.mp4)}"
