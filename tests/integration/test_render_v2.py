"""MiniMax v2 (H3) renders end to end: real MP4s with a soundtrack, decoded by PyAV.

Each clip is 4 s (MiniMax's shortest, 107 frames) and rendered once per module; the
checks read it back as a player would: size, 24 fps, the 17n + 5 frame count, a stereo
32 kHz AAC track as long as the picture, audible and following the prompt, and the
given images where the clip promises them.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from reelgate.sandbox.render import RenderRequest, render_video
from reelgate.sandbox.render.audio import AUDIO_RATE, soundtrack
from reelgate.sandbox.render.cards import CARD_Y
from reelgate.sandbox.render.sizes import v2_frame_count, v2_output_size

RGB = NDArray[np.uint8]
PROMPT = "A red kite climbs over a windy beach at sunset, gulls calling [Pan left]"
THUMB = 192  # decoded frames are checked at this width
SILENCE_RMS = 0.01  # a quiet room; the soundtrack is about ten times louder


@dataclass(frozen=True)
class Clip:
    data: bytes
    width: int
    height: int
    fps: Fraction
    frames: list[RGB]
    video_s: float
    audio_codec: str
    channels: int
    rate: int
    audio: NDArray[np.float32]  # (channels, samples) decoded
    audio_s: float


def small(frame: av.VideoFrame) -> RGB:
    height = 2 * round(THUMB * frame.height / frame.width / 2)
    return np.asarray(frame.to_ndarray(format="rgb24", width=THUMB, height=height))


def decode(data: bytes) -> Clip:
    with av.open(io.BytesIO(data)) as container:
        video, sound = container.streams.video[0], container.streams.audio[0]
        # Kept small (THUMB wide): a 2K clip in full would hold a gigabyte of frames.
        frames = [small(f) for f in container.decode(video)]
        container.seek(0)
        samples = np.concatenate([f.to_ndarray() for f in container.decode(sound)], axis=1)
        return Clip(
            data=data,
            width=video.codec_context.width,
            height=video.codec_context.height,
            fps=Fraction(video.average_rate),
            frames=frames,
            video_s=float(video.duration * video.time_base),
            audio_codec=sound.codec_context.name,
            channels=sound.codec_context.channels,
            rate=sound.codec_context.sample_rate,
            audio=samples,
            audio_s=float(sound.duration * sound.time_base),
        )


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (640, 400)) -> bytes:
    """A flat colour with a thin dark grid, so a JPEG-free PNG is still 'a picture'."""
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 80):
        draw.line((x, 0, x, size[1]), fill=(20, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def tone_wav(hz: float, seconds: float = 2.0, rate: int = 44_100) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (np.sin(2 * np.pi * hz * t) * 0.5 * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def mean_colour(frame: RGB, x0: float = 0.25, x1: float = 0.75, y0: float = 0.25,
                y1: float = 0.75) -> NDArray[np.float64]:  # fmt: skip
    h, w = frame.shape[:2]
    return frame[int(y0 * h) : int(y1 * h), int(x0 * w) : int(x1 * w)].reshape(-1, 3).mean(0)


def near(colour: NDArray[np.float64], expected: tuple[int, int, int], tolerance: float) -> bool:
    return float(np.abs(colour - np.asarray(expected)).max()) < tolerance


def rms(samples: NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


def tone_share(samples: NDArray[np.float32], hz: float, start_s: float, span_s: float) -> float:
    """Share of the spectrum (left channel, one span) within 2 Hz bins of `hz`."""
    first = int(start_s * AUDIO_RATE)
    segment = samples[0, first : first + int(span_s * AUDIO_RATE)].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(segment))
    freqs = np.fft.rfftfreq(segment.size, 1 / AUDIO_RATE)
    k = int(np.argmin(np.abs(freqs - hz)))
    return float(spectrum[k - 2 : k + 3].sum() / spectrum.sum())


RED, BLUE, GREEN, MAGENTA = (220, 30, 30), (30, 40, 220), (20, 200, 40), (210, 20, 210)


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Clip]:
    folder = tmp_path_factory.mktemp("v2")
    cache: dict[RenderRequest, Clip] = {}

    def _render(mode: str, prompt: str = PROMPT, resolution: str = "480P", ratio: str = "16:9",
                duration: int = 4, **fields: object) -> Clip:  # fmt: skip
        width, height = v2_output_size(resolution, ratio)
        req = RenderRequest(mode, prompt, width, height, duration, api="v2", **fields)  # type: ignore[arg-type]
        if req not in cache:
            out = folder / f"clip-{len(cache)}.mp4"
            render_video(req, out)
            cache[req] = decode(out.read_bytes())
        return cache[req]

    return _render


def check_v2_stream(clip: Clip, size: tuple[int, int], duration: int) -> None:
    assert (clip.width, clip.height) == size
    assert clip.fps == 24
    assert len(clip.frames) == v2_frame_count(duration)
    assert abs(clip.video_s - len(clip.frames) / 24) < 1e-6
    assert (clip.audio_codec, clip.channels, clip.rate) == ("aac", 2, 32_000)
    assert abs(clip.audio_s - clip.video_s) < 0.1
    # Decoded samples include the encoder's priming: still within one AAC frame or two.
    assert abs(clip.audio.shape[1] / clip.rate - clip.video_s) < 0.1
    assert rms(clip.audio) > 5 * SILENCE_RMS


@pytest.mark.parametrize("ratio", ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9"])
def test_768p_every_ratio(render: Callable[..., Clip], ratio: str) -> None:
    clip = render("t2v", resolution="768P", ratio=ratio)
    check_v2_stream(clip, v2_output_size("768P", ratio), 4)


def test_2k_16_9(render: Callable[..., Clip]) -> None:
    check_v2_stream(render("t2v", resolution="2K", ratio="16:9"), (2560, 1440), 4)


@pytest.mark.parametrize(("ratio", "duration"), [("16:9", 5), ("9:16", 4)])
def test_480p(render: Callable[..., Clip], ratio: str, duration: int) -> None:
    clip = render("t2v", ratio=ratio, duration=duration)
    check_v2_stream(clip, v2_output_size("480P", ratio), duration)


def test_same_request_same_bytes(tmp_path: Path) -> None:
    width, height = v2_output_size("480P", "1:1")
    req = RenderRequest("t2v", PROMPT, width, height, 4, api="v2")
    render_video(req, tmp_path / "a.mp4")
    render_video(req, tmp_path / "b.mp4")
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_soundtrack_follows_the_prompt(render: Callable[..., Clip]) -> None:
    kite = render("t2v")
    owl = render("t2v", prompt="An owl in a moonlit forest, wind in the pines")
    assert rms(owl.audio) > 5 * SILENCE_RMS
    # Not the same tune: the waveforms differ throughout, not by a rounding error.
    count = min(kite.audio.shape[1], owl.audio.shape[1])
    assert rms(kite.audio[:, :count] - owl.audio[:, :count]) > 5 * SILENCE_RMS
    assert abs(rms(kite.audio) - rms(owl.audio)) > 1e-4


def test_soundtrack_is_not_noise() -> None:
    # A tune has a few strong partials; white noise spreads evenly over the spectrum.
    samples = soundtrack(PROMPT, seed=7, frames=107).samples
    spectrum = np.abs(np.fft.rfft(samples[0].astype(np.float64)))
    strongest = np.sort(spectrum)[::-1]
    assert strongest[:200].sum() > 0.3 * spectrum.sum()


def test_first_frame_opens_the_clip(render: Callable[..., Clip]) -> None:
    clip = render("i2v", first_frame=solid(RED), prompt="[Static shot]")
    check_v2_stream(clip, v2_output_size("480P", "16:9"), 4)
    assert near(mean_colour(clip.frames[0]), RED, 25)


def test_first_and_last_frames(render: Callable[..., Clip]) -> None:
    clip = render("fl2v", first_frame=solid(RED), last_frame=solid(BLUE), prompt="")
    assert near(mean_colour(clip.frames[0]), RED, 25)
    assert near(mean_colour(clip.frames[-1]), BLUE, 25)
    middle = mean_colour(clip.frames[len(clip.frames) // 2])
    assert not near(middle, RED, 40) and not near(middle, BLUE, 40)


def test_last_frame_alone_ends_the_clip(render: Callable[..., Clip]) -> None:
    clip = render("l2v", last_frame=solid(BLUE), prompt="A quiet meadow at noon")
    check_v2_stream(clip, v2_output_size("480P", "16:9"), 4)
    assert near(mean_colour(clip.frames[-1]), BLUE, 25)
    assert not near(mean_colour(clip.frames[0]), BLUE, 60)  # it starts elsewhere


def card_colour(clip: Clip, index: int) -> NDArray[np.float64]:
    """Mean colour where a card sits halfway through its share of the clip."""
    return mean_colour(clip.frames[index], 0.45, 0.55, CARD_Y - 0.05, CARD_Y + 0.05)


def test_reference_images_each_visible(render: Callable[..., Clip]) -> None:
    colours = (GREEN, MAGENTA, RED)
    clip = render("r2v", references=tuple(solid(c, (500, 500)) for c in colours))
    count = len(clip.frames)
    for number, colour in enumerate(colours):
        middle = round((number + 0.5) / len(colours) * (count - 1))
        assert near(card_colour(clip, middle), colour, 30), number
    # Cards are not a wallpaper: each one is gone again by the end of its share.
    assert not near(card_colour(clip, count - 1), GREEN, 60)


def test_nine_reference_images_fit(render: Callable[..., Clip]) -> None:
    colours = [(20 + 25 * n, 200 - 20 * n, 40 + 20 * n) for n in range(9)]
    clip = render("r2v", references=tuple(solid(c, (500, 400)) for c in colours))
    count = len(clip.frames)
    for number, colour in enumerate(colours):
        middle = round((number + 0.5) / 9 * (count - 1))
        assert near(card_colour(clip, middle), colour, 30), number


def test_reference_video_shows_its_frames(render: Callable[..., Clip], tmp_path: Path) -> None:
    # A red-to-blue v1 clip: its cards show red, then the blend, then nearly blue.
    source = RenderRequest(
        "fl2v", "", 320, 200, 3, first_frame=solid(RED), last_frame=solid(BLUE), label=""
    )
    render_video(source, tmp_path / "ref.mp4")
    clip = render("r2v", reference_videos=((tmp_path / "ref.mp4").read_bytes(),))
    count = len(clip.frames)
    first = card_colour(clip, round(0.5 / 3 * (count - 1)))
    third = card_colour(clip, round(2.5 / 3 * (count - 1)))
    assert near(first, RED, 30)
    assert third[2] > third[0]  # two thirds into the red-to-blue clip: more blue than red


def test_unreadable_reference_video_still_renders(render: Callable[..., Clip]) -> None:
    clip = render("r2v", references=(solid(GREEN, (500, 500)),), reference_videos=(b"not mp4",))
    count = len(clip.frames)
    assert near(card_colour(clip, round(0.25 * (count - 1))), GREEN, 30)
    # The second half holds a grey placeholder card, not the landscape.
    grey = card_colour(clip, round(0.75 * (count - 1)))
    assert float(grey.max() - grey.min()) < 20


def test_reference_audio_is_heard_first(render: Callable[..., Clip]) -> None:
    refs = (solid(GREEN, (500, 500)),)
    plain = render("r2v", references=refs)
    voiced = render("r2v", references=refs, reference_audio=(tone_wav(1000.0, 2.0),))
    check_v2_stream(voiced, v2_output_size("480P", "16:9"), 4)
    assert tone_share(voiced.audio, 1000.0, 0.2, 1.0) > 0.2
    assert tone_share(plain.audio, 1000.0, 0.2, 1.0) < 0.05
    # After the 2 s clip the tune plays on alone.
    assert tone_share(voiced.audio, 1000.0, 2.5, 1.0) < 0.05
    assert rms(voiced.audio[:, int(2.5 * AUDIO_RATE) :]) > 5 * SILENCE_RMS


def test_unreadable_reference_audio_falls_back_to_the_tune() -> None:
    tune = soundtrack(PROMPT, seed=11, frames=107)
    fallback = soundtrack(PROMPT, seed=11, frames=107, references=(b"RIFF but not audio",))
    assert np.array_equal(tune.samples, fallback.samples)
    assert rms(fallback.samples) > 5 * SILENCE_RMS


def test_v1_render_stays_silent(tmp_path: Path) -> None:
    render_video(RenderRequest("t2v", PROMPT, 320, 180, 1), tmp_path / "v1.mp4")
    with av.open(str(tmp_path / "v1.mp4")) as container:
        assert len(container.streams.audio) == 0
        assert sum(1 for _ in container.decode(video=0)) == 24
